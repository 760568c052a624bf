/* The server's fault policies at the cluster's API, with the statuses they return: a worker
 * that misses the deadline under on_missing = stop is TQ_ETIMEOUT (not a bug: TQ_EINTERNAL),
 * exit code 1; under continue it is dropped and the step goes on; a step with every worker
 * missing is TQ_ETIMEOUT, one with every gradient unusable (NaN) TQ_EINPUT. */
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "test_support.h"

static tq_dataset data;
static tq_model net;

static void make_data(void) {
  if (data.n) return;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_model_load(TQ_SOURCE_DIR "/tests/models/tiny_cnn.cfg", &net, &e), &e);
  size_t n = 64, per = tq_shape_size(net.input);
  data.n = (uint32_t)n;
  data.c = net.input.c;
  data.h = net.input.h;
  data.w = net.input.w;
  data.classes = 10;
  data.pixels = malloc(n * per);
  data.labels = malloc(n);
  tq_test_rng r = {11};
  for (size_t i = 0; i < n * per; i++) data.pixels[i] = (uint8_t)(tq_test_uniform(&r) * 256);
  for (size_t i = 0; i < n; i++) data.labels[i] = (uint8_t)(i % 10);
}

/* workers x batch 4, the deadline short; faults as given (crash/nan worker -1: none). */
static tq_cluster *make(int workers, tq_fault_policy missing, tq_fault_policy invalid,
                        int crash_worker, int nan_worker) {
  tq_cluster_cfg cfg = {0};
  cfg.model = &net;
  cfg.workers = workers;
  cfg.batch = 4;
  cfg.eval_batch = 16;
  cfg.devices = getenv("TQ_TEST_DEVICE") ? getenv("TQ_TEST_DEVICE") : "auto";
  tq_compress_cfg_default(&cfg.compress);
  cfg.compress.method = TQ_METHOD_NONE;
  cfg.compress.bits = 32;
  cfg.seed = 5;
  cfg.msg_timeout_s = 1.0;
  cfg.on_missing = missing;
  cfg.on_invalid = invalid;
  cfg.faults = (tq_fault_plan){.active = true, .crash_worker = crash_worker, .crash_iteration = 2,
                               .stall_worker = -1, .corrupt_worker = -1, .nan_worker = nan_worker,
                               .nan_iteration = 2};
  tq_cluster *c = NULL;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_cluster_create(&cfg, &c, &e), &e);
  return c;
}

static tq_status step(tq_cluster *c, int workers, uint32_t it, tq_step_out *out, tq_err *e) {
  static uint32_t idx[16];
  tq_worker_batch b[4];
  for (int w = 0; w < workers; w++) {
    for (int k = 0; k < 4; k++) idx[w * 4 + k] = (uint32_t)(w * 4 + k);
    b[w] = (tq_worker_batch){idx + w * 4, 4};
  }
  tq_step_in in = {.data = &data, .norm = {.mean = 0.5, .std = 0.25}, .batches = b, .iteration = it,
                   .lr = 0.05f, .momentum = 0.9f, .compress = true};
  return tq_cluster_step(c, &in, out, e);
}

static void test_missing_stop(void) {
  make_data();
  tq_cluster *c = make(2, TQ_FAULT_STOP, TQ_FAULT_STOP, 1, -1);
  tq_step_out out;
  tq_err e = {0};
  TQ_ASSERT_OK(step(c, 2, 1, &out, &e), &e);
  tq_status s = step(c, 2, 2, &out, &e);
  CU_ASSERT_EQUAL(s, TQ_ETIMEOUT);
  CU_ASSERT(strstr(e.msg, "worker 1 missed the deadline") != NULL);
  CU_ASSERT_EQUAL(tq_exit_code(s), 1); /* as when it was TQ_EINTERNAL */
  CU_ASSERT_STRING_EQUAL(tq_status_name(s), "deadline missed");
  tq_cluster_free(c);
}

static void test_missing_continue(void) {
  make_data();
  tq_cluster *c = make(2, TQ_FAULT_CONTINUE, TQ_FAULT_STOP, 1, -1);
  tq_step_out out;
  tq_err e = {0};
  TQ_ASSERT_OK(step(c, 2, 1, &out, &e), &e);
  TQ_ASSERT_OK(step(c, 2, 2, &out, &e), &e);
  CU_ASSERT_EQUAL(out.missing, 1);
  CU_ASSERT_EQUAL(out.workers_used, 1);
  TQ_ASSERT_OK(step(c, 2, 3, &out, &e), &e); /* dropped: no second wait for it */
  CU_ASSERT_EQUAL(out.missing, 0);
  CU_ASSERT_EQUAL(out.workers_used, 1);
  tq_cluster_free(c);
}

static void test_nobody_left(void) {
  make_data();
  tq_cluster *c = make(1, TQ_FAULT_CONTINUE, TQ_FAULT_CONTINUE, 0, -1);
  tq_step_out out;
  tq_err e = {0};
  TQ_ASSERT_OK(step(c, 1, 1, &out, &e), &e);
  CU_ASSERT_EQUAL(step(c, 1, 2, &out, &e), TQ_ETIMEOUT);
  CU_ASSERT(strstr(e.msg, "no worker delivered a usable gradient") != NULL);
  tq_cluster_free(c);
  c = make(1, TQ_FAULT_CONTINUE, TQ_FAULT_CONTINUE, -1, 0);
  tq_err e2 = {0};
  TQ_ASSERT_OK(step(c, 1, 1, &out, &e2), &e2);
  CU_ASSERT_EQUAL(step(c, 1, 2, &out, &e2), TQ_EINPUT);
  CU_ASSERT(strstr(e2.msg, "NaN/Inf") != NULL);
  tq_cluster_free(c);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"missed deadline, stop: TQ_ETIMEOUT, exit 1", test_missing_stop},
      {"missed deadline, continue: dropped", test_missing_continue},
      {"no worker left: TQ_ETIMEOUT if missing, TQ_EINPUT if unusable", test_nobody_left},
      {NULL, NULL}};
  tq_test_add_suite("cluster faults", cases);
  int rc = tq_test_run();
  free(data.pixels);
  free(data.labels);
  return rc;
}
