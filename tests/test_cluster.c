/* The simulated cluster: N workers with fp32 messages make the same update as one worker with
 * an N-times batch; the same seed gives bit-identical parameters whatever the thread schedule;
 * compression sends the bits it should; quantization MSE is 0 for fp32 and positive otherwise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress/wire.h"
#include "cluster/cluster.h"
#include "cluster/grad_check.h"
#include "test_support.h"

static tq_dataset data; /* synthetic: random images of the model's input shape, 10 classes */
static tq_model lenet;

static void make_data(void) {
  if (data.n) return;
  tq_err e = {0};
  /* TQ_TEST_SMALL (the conformance run on Oclgrind): a small net on 12 x 12 images, with the
   * same layer kinds, and fewer images. */
  const char *model = tq_test_small() ? TQ_SOURCE_DIR "/tests/models/tiny_cnn.cfg"
                                      : TQ_SOURCE_DIR "/models/lenet5.cfg";
  TQ_ASSERT_OK(tq_model_load(model, &lenet, &e), &e);
  size_t n = tq_test_small() ? 64 : 256, per = tq_shape_size(lenet.input);
  data.n = (uint32_t)n;
  data.c = lenet.input.c;
  data.h = lenet.input.h;
  data.w = lenet.input.w;
  data.classes = 10;
  data.pixels = malloc(n * per);
  data.labels = malloc(n);
  tq_test_rng r = {77};
  for (size_t i = 0; i < n * per; i++) data.pixels[i] = (uint8_t)(tq_test_uniform(&r) * 256);
  for (size_t i = 0; i < n; i++) data.labels[i] = (uint8_t)(i % 10);
}

static tq_cluster *make(int workers, int batch, tq_method method, int bits, bool mse) {
  tq_cluster_cfg cfg = {0};
  cfg.model = &lenet;
  cfg.workers = workers;
  cfg.batch = batch;
  cfg.eval_batch = 64;
  cfg.devices = getenv("TQ_TEST_DEVICE") ? getenv("TQ_TEST_DEVICE") : "auto";
  tq_compress_cfg_default(&cfg.compress);
  cfg.compress.method = method;
  cfg.compress.bits = bits;
  cfg.seed = 3;
  cfg.msg_timeout_s = 120;
  cfg.measure_mse = mse;
  tq_cluster *c = NULL;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_cluster_create(&cfg, &c, &e), &e);
  return c;
}

/* Worker w takes samples [w*B + k*N*B, ...) of a step; the big single worker takes them all. */
static void run_steps(tq_cluster *c, int workers, int batch, int steps, tq_step_out *last) {
  uint32_t *idx = malloc((size_t)workers * batch * sizeof *idx);
  tq_worker_batch b[TQ_MAX_WORKERS];
  for (int s = 0; s < steps; s++) {
    for (int w = 0; w < workers; w++) {
      for (int k = 0; k < batch; k++)
        idx[w * batch + k] = (uint32_t)((s * workers * batch + w * batch + k) % data.n);
      b[w] = (tq_worker_batch){idx + w * batch, batch};
    }
    tq_step_in in = {.data = &data, .norm = {.mean = 0.5, .std = 0.25}, .batches = b, .iteration = (uint32_t)s + 1,
                     .lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f, .compress = true};
    tq_err e = {0};
    TQ_ASSERT_OK(tq_cluster_step(c, &in, last, &e), &e);
  }
  free(idx);
}

static float *params_of(tq_cluster *c) {
  float *p = malloc(lenet.nparams * sizeof *p), *m = malloc(lenet.nparams * sizeof *m);
  tq_err e = {0};
  CU_ASSERT_EQUAL(tq_cluster_get_state(c, p, m, &e), TQ_OK);
  free(m);
  return p;
}

/* Normwise: max |a - b| / max |b|. The two sum the same gradients in a different order (a mean
 * of four means of 8 against one mean of 32), so they differ by float rounding: ~1e-7 per step. */
static double normwise(const float *a, const float *b, size_t n) {
  double big = 0, worst = 0;
  for (size_t i = 0; i < n; i++) {
    if (fabs(b[i]) > big) big = fabs(b[i]);
    if (fabs(a[i] - b[i]) > worst) worst = fabs(a[i] - b[i]);
  }
  return worst / big;
}

/* Workers in the threaded cases: 4, or 2 under TQ_TEST_SMALL (Oclgrind runs them one at a
 * time, so more threads only cost time there). */
static int nworkers(void) { return tq_test_small() ? 2 : 4; }

static void test_n_workers_equal_big_batch(void) {
  make_data();
  tq_step_out o4, o1;
  const int N = nworkers();
  tq_cluster *c4 = make(N, 8, TQ_METHOD_NONE, 32, true);
  tq_cluster *c1 = make(1, 8 * N, TQ_METHOD_NONE, 32, false);
  run_steps(c4, N, 8, 3, &o4);
  run_steps(c1, 1, 8 * N, 3, &o1);
  float *p4 = params_of(c4), *p1 = params_of(c1);
  double d = normwise(p4, p1, lenet.nparams);
  printf("\n  %dx8 vs 1x%d after 3 steps: normwise difference %.2e (tolerance 1e-5)\n", N, 8 * N, d);
  CU_ASSERT(d < 1e-5);
  CU_ASSERT(fabs(o4.loss_sum - o1.loss_sum) < 1e-4 * fabs(o1.loss_sum));
  CU_ASSERT_EQUAL(o4.samples, 8 * N);
  /* fp32 messages are exact; what is left is float rounding of the device's weighted sum
   * (~1e-7 relative on gradients of ~1e-2, squared) against the host's double mean */
  printf("  fp32 quantization MSE %.3g\n", o4.quant_mse);
  CU_ASSERT(o4.quant_mse >= 0 && o4.quant_mse < 1e-14);
  CU_ASSERT_EQUAL(o4.rejected, 0);
  free(p4);
  free(p1);
  tq_cluster_free(c4);
  tq_cluster_free(c1);
}

static void test_deterministic(void) {
  make_data();
  tq_step_out a, b;
  tq_cluster *c1 = make(nworkers(), 8, TQ_METHOD_TNQSGD, 3, true);
  run_steps(c1, nworkers(), 8, 3, &a);
  float *p1 = params_of(c1);
  tq_cluster_free(c1);
  tq_cluster *c2 = make(nworkers(), 8, TQ_METHOD_TNQSGD, 3, true);
  run_steps(c2, nworkers(), 8, 3, &b);
  float *p2 = params_of(c2);
  tq_cluster_free(c2);
  CU_ASSERT(memcmp(p1, p2, lenet.nparams * sizeof *p1) == 0);
  CU_ASSERT_EQUAL(a.loss_sum, b.loss_sum);
  CU_ASSERT_EQUAL(a.quant_mse, b.quant_mse);
  /* 3-bit codes: over 8x fewer bits than fp32 (small tensors go as fp32, headers add a little) */
  printf("\n  tnqsgd b=3: %.0f bits vs %.0f fp32 (ratio %.2f), quant MSE %.3g\n", a.bits, a.bits_fp32,
         a.bits_fp32 / a.bits, a.quant_mse);
  /* Tensors under min_elems (1024) travel as fp32, and every message has a header (under 1024
   * bits: docs/wire-format.md): the ratio lies between what the payloads alone and the payloads
   * with a 1024-bit header each allow (LeNet-5: 8.55-8.95; tiny_cnn under TQ_TEST_SMALL: 3.2-4.9). */
  double payload = 0, fp32 = 0;
  for (int t = 0; t < lenet.ntensors; t++) {
    double n = (double)lenet.tensors[t].count;
    payload += n >= 1024 ? 3.0 * n : 32.0 * n;
    fp32 += 32.0 * n;
  }
  CU_ASSERT(a.bits_fp32 / a.bits > fp32 / (payload + 1024.0 * lenet.ntensors));
  CU_ASSERT(a.bits_fp32 / a.bits < fp32 / payload);
  CU_ASSERT(a.quant_mse > 0);
  CU_ASSERT(isfinite(a.gamma) && a.alpha > 0);
  free(p1);
  free(p2);
}

static void test_evaluate(void) {
  make_data();
  tq_cluster *c = make(2, 16, TQ_METHOD_QSGD, 3, false);
  double loss, acc;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_cluster_evaluate(c, &data, (tq_norm){.mean = 0.5, .std = 0.25}, &loss, &acc, &e), &e);
  /* untrained: loss near ln(10), accuracy in [0, 1] */
  CU_ASSERT(loss > 1.0 && loss < 5.0);
  CU_ASSERT(acc >= 0 && acc <= 1);
  tq_cluster_free(c);
}

/* A valid fp32 message for tensor t of LeNet-5 from `worker` at `iteration`. */
static uint8_t *fp32_message(int t, uint32_t worker, uint32_t iteration, size_t *len) {
  tq_wire_hdr h = {0};
  h.method = TQ_METHOD_NONE;
  h.bits = 32;
  h.worker = worker;
  h.iteration = iteration;
  h.tensor = (uint32_t)t;
  h.count = (uint32_t)lenet.tensors[t].count;
  tq_buf b = {0};
  tq_wire_parts parts;
  tq_err e = {0};
  CU_ASSERT_FATAL(tq_wire_begin(&b, &h, &parts, &e) == TQ_OK);
  memset(parts.payload, 0, h.count * sizeof(float));
  tq_wire_seal(&b);
  *len = b.len;
  return b.data; /* the buffer's own allocation: the cluster frees it */
}

/* The server's verdict on each message class, independent of any timing. */
static void test_message_verdicts(void) {
  make_data();
  tq_cluster *c = make(2, 4, TQ_METHOD_NONE, 32, false);
  long rejected = 0;
  size_t len;
  uint8_t *m = fp32_message(1, 1, 7, &len);
  CU_ASSERT_EQUAL(tq_cluster_file_message(c, 1, 1, m, len, 7, &rejected), TQ_FILED);
  m = fp32_message(1, 1, 7, &len);
  CU_ASSERT_EQUAL(tq_cluster_file_message(c, 1, 1, m, len, 7, &rejected), TQ_DUPLICATE);
  m = fp32_message(2, 1, 6, &len); /* last iteration's */
  CU_ASSERT_EQUAL(tq_cluster_file_message(c, 1, 2, m, len, 7, &rejected), TQ_STALE);
  m = fp32_message(2, 0, 7, &len); /* claims worker 0 but came as worker 1's */
  CU_ASSERT_EQUAL(tq_cluster_file_message(c, 1, 2, m, len, 7, &rejected), TQ_INVALID);
  m = fp32_message(3, 0, 7, &len);
  m[len / 2] ^= 1; /* checksum no longer matches */
  CU_ASSERT_EQUAL(tq_cluster_file_message(c, 0, 3, m, len, 7, &rejected), TQ_INVALID);
  m = fp32_message(3, 0, 7, &len);
  CU_ASSERT_EQUAL(tq_cluster_file_message(c, 0, 3, m, len - 4, 7, &rejected), TQ_INVALID);
  m = fp32_message(0, 0, 7, &len); /* sent as another tensor than it holds */
  CU_ASSERT_EQUAL(tq_cluster_file_message(c, 0, 4, m, len, 7, &rejected), TQ_INVALID);
  CU_ASSERT_EQUAL(rejected, 6);
  tq_reject_counts rc = tq_cluster_rejects(c);
  CU_ASSERT_EQUAL(rc.duplicate, 1);
  CU_ASSERT_EQUAL(rc.stale, 1);
  CU_ASSERT_EQUAL(rc.invalid, 4);
  tq_cluster_drop_messages(c);
  tq_cluster_free(c);
}

/* The worker's NaN/Inf count on the device against the plain-C reference, on an odd size with
 * values planted at chunk edges, and on an offset view. */
static void test_nonfinite_count(void) {
  tq_cl *cl = tq_test_cl();
  tq_err e = {0};
  const size_t n = 300007;
  float *x = malloc(n * sizeof *x);
  tq_test_rng r = {5};
  for (size_t i = 0; i < n; i++) x[i] = (float)tq_test_normal(&r);
  size_t plant[] = {0, 1023, 1024, 4095, 150000, n - 1};
  for (size_t k = 0; k < 6; k++) x[plant[k]] = k % 3 == 0 ? NAN : (k % 3 == 1 ? INFINITY : -INFINITY);
  x[77] = 3.4e38f; /* finite, huge: must not count */
  cl_mem buf;
  TQ_ASSERT_OK(tq_cl_alloc(cl, n * sizeof *x, &buf, &e), &e);
  TQ_ASSERT_OK(tq_cl_write(cl, buf, 0, n * sizeof *x, x, &e), &e);
  tq_grad_check g;
  TQ_ASSERT_OK(tq_grad_check_init(&g, cl, n, &e), &e);
  uint64_t bad = 0;
  TQ_ASSERT_OK(tq_grad_check_run(&g, cl, buf, 0, n, &bad, &e), &e);
  CU_ASSERT_EQUAL(bad, tq_count_nonfinite(x, n));
  CU_ASSERT_EQUAL(bad, 6);
  TQ_ASSERT_OK(tq_grad_check_run(&g, cl, buf, 1024, n - 1024, &bad, &e), &e);
  CU_ASSERT_EQUAL(bad, tq_count_nonfinite(x + 1024, n - 1024));
  CU_ASSERT_EQUAL(bad, 4);
  tq_grad_check_free(&g);
  tq_cl_release(&buf);
  free(x);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"N workers x 8 == 1 worker x 8N (fp32)", test_n_workers_equal_big_batch},
      {"same seed: bit-identical parameters under threads", test_deterministic},
      {"evaluation on the server", test_evaluate},
      {"message verdicts: filed, duplicate, stale, invalid", test_message_verdicts},
      {"device NaN/Inf count == C reference", test_nonfinite_count},
      {NULL, NULL}};
  tq_test_add_suite("cluster", cases);
  int rc = tq_test_run();
  free(data.pixels);
  free(data.labels);
  return rc;
}
