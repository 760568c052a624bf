/* The performance plumbing: the per-kernel profiler (cl/cl_profile.h) and the CLBlast tuning
 * cache (cl/cl_tuning.h). No timings are checked: speed is a benchmark's business. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl/cl_profile.h"
#include "cl/cl_tuning.h"
#include "nn/net.h"
#include "test_support.h"
#include "tmpfile.h"

/* A profiled replica step registers every kernel and every GEMM under its name. */
static void test_profile_counts_kernels(void) {
  tq_err e = {0};
  tq_cl *base = tq_test_cl();
  tq_cl cl = *base;
  cl.profiling = true;
  TQ_ASSERT_OK(tq_cl_new_queue(&cl, &cl.queue, &e), &e);
  tq_model m;
  TQ_ASSERT_OK(tq_model_load(TQ_SOURCE_DIR "/models/lenet5.cfg", &m, &e), &e);
  tq_net net;
  TQ_ASSERT_OK(tq_net_create(&net, &m, &cl, 4, 1, 0, &e), &e);
  float *x = calloc(4 * 28 * 28, sizeof *x);
  int y[4] = {0, 1, 2, 3};
  tq_profile_reset();
  const int steps = 3;
  for (int it = 0; it < steps; it++) {
    double l;
    int c;
    TQ_ASSERT_OK(tq_net_set_batch(&net, x, y, 4, &e), &e);
    TQ_ASSERT_OK(tq_net_forward(&net, true, (uint32_t)it, &e), &e);
    TQ_ASSERT_OK(tq_softmax_xent(&net, 4, &e), &e);
    TQ_ASSERT_OK(tq_net_backward(&net, (uint32_t)it, &e), &e);
    TQ_ASSERT_OK(tq_net_sgd(&net, 0.01f, 0.9f, 0, &e), &e);
    TQ_ASSERT_OK(tq_net_read_loss(&net, 4, &l, &c, &e), &e);
  }
  tq_profile_host("a host phase", 0.25);
  TQ_ASSERT_OK(tq_profile_collect(&e), &e);
  long calls = 0;
  double sec = -1;
  CU_ASSERT(tq_profile_lookup("nn_im2col_s1", &calls, &sec));
  CU_ASSERT_EQUAL(calls, 2 * steps); /* two convolutions */
  CU_ASSERT(sec >= 0);
  CU_ASSERT(tq_profile_lookup("nn_sgd", &calls, NULL));
  CU_ASSERT_EQUAL(calls, steps);
  /* conv1 forward GEMM, K x B*OH*OW x CKK: a skinny one, on the project's kernel */
  CU_ASSERT(tq_profile_lookup("nn_gemm_8x32 NN 6x3136x25", &calls, &sec));
  CU_ASSERT_EQUAL(calls, steps);
  /* With TAILQUANT_GEMM=clblast the same GEMM runs in CLBlast, timed as a whole routine (from a
   * marker to the routine's last event). */
  setenv("TAILQUANT_GEMM", "clblast", 1);
  TQ_ASSERT_OK(tq_net_forward(&net, true, 0, &e), &e);
  unsetenv("TAILQUANT_GEMM");
  TQ_ASSERT_OK(tq_profile_collect(&e), &e);
  CU_ASSERT(tq_profile_lookup("sgemm NN 6x3136x25", &calls, &sec));
  CU_ASSERT_EQUAL(calls, 1);
  CU_ASSERT(sec > 0);
  /* ReLUs after conv layers are fused, so no separate ReLU forward runs */
  CU_ASSERT(!tq_profile_lookup("nn_relu_fwd", NULL, NULL));
  CU_ASSERT(tq_profile_lookup("nn_knp_to_nchw_bias (+relu)", &calls, NULL));
  CU_ASSERT(tq_profile_lookup("a host phase", &calls, &sec));
  CU_ASSERT_EQUAL(calls, 1);
  CU_ASSERT(tq_profile_count_names() >= 10);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  tq_profile_report(f, "test");
  fclose(f);
  CU_ASSERT(strstr(buf, "nn_im2col") != NULL);
  CU_ASSERT(strstr(buf, "a host phase") != NULL);
  free(buf);
  /* A queue without profiling registers nothing. */
  tq_profile_reset();
  net.cl.profiling = false;
  net.cl.queue = base->queue;
  TQ_ASSERT_OK(tq_net_forward(&net, true, 0, &e), &e);
  TQ_ASSERT_OK(tq_profile_collect(&e), &e);
  CU_ASSERT_EQUAL(tq_profile_count_names(), 0);
  clFinish(base->queue);
  net.cl.queue = cl.queue;
  tq_net_destroy(&net);
  clReleaseCommandQueue(cl.queue);
  free(x);
}

static const char *good =
    "tailquant-tuning 1\n"
    "# comment\n"
    "device dev|plat|1.0\n"
    "\n"
    "kernel Copy 32 COPY_DIMX=16 COPY_DIMY=8 COPY_VW=8 COPY_WPT=2 # 109 GB/s\n"
    "kernel Xgemm 32 GEMMK=0 MWG=64\n";

static void test_tuning_parse(void) {
  tq_tuning t;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_tuning_parse(good, "good", &t, &e), &e);
  CU_ASSERT_STRING_EQUAL(t.device_key, "dev|plat|1.0");
  CU_ASSERT_EQUAL(t.nkernels, 2);
  CU_ASSERT_STRING_EQUAL(t.k[0].kernel, "Copy");
  CU_ASSERT_EQUAL(t.k[0].precision, 32);
  CU_ASSERT_EQUAL(t.k[0].nparams, 4);
  CU_ASSERT_STRING_EQUAL(t.k[0].names[2], "COPY_VW");
  CU_ASSERT_EQUAL(t.k[0].values[2], 8);
  CU_ASSERT_STRING_EQUAL(t.k[0].note, "109 GB/s");
  /* save and load round trip */
  const char *path = tq_test_write_tmp("rt.txt", "");
  TQ_ASSERT_OK(tq_tuning_save(path, &t, &e), &e);
  tq_tuning u;
  TQ_ASSERT_OK(tq_tuning_load(path, &u, &e), &e);
  CU_ASSERT_EQUAL(u.nkernels, 2);
  CU_ASSERT_EQUAL(u.k[1].values[1], 64);
  CU_ASSERT_STRING_EQUAL(u.device_key, t.device_key);

  static const struct {
    const char *text, *needle;
  } bad[] = {
      {"", "empty"},
      {"hello\n", "not a tailquant tuning file"},
      {"tailquant-tuning 1\nkernel Copy 32 A=1\n", "no 'device' line"},
      {"tailquant-tuning 1\ndevice d\nkernel Copy 31 A=1\n", "precision '31'"},
      {"tailquant-tuning 1\ndevice d\nkernel Copy 32 A=-1\n", "not an integer"},
      {"tailquant-tuning 1\ndevice d\nkernel Copy 32 A=1x\n", "not an integer"},
      {"tailquant-tuning 1\ndevice d\nkernel Copy 32 A\n", "is not NAME=VALUE"},
      {"tailquant-tuning 1\ndevice d\nkernel Copy 32 A=1 A=2\n", "given twice"},
      {"tailquant-tuning 1\ndevice d\nkernel Copy 32\n", "no parameters"},
      {"tailquant-tuning 1\ndevice d\nkernel C$py 32 A=1\n", "kernel name"},
      {"tailquant-tuning 1\ndevice d\nbogus\n", "unknown line"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tq_err e2 = {0};
    CU_ASSERT_EQUAL(tq_tuning_parse(bad[i].text, "bad.txt", &t, &e2), TQ_EINPUT);
    if (!strstr(e2.msg, bad[i].needle) || !strstr(e2.msg, "bad.txt"))
      fprintf(stderr, "\n  case %zu: message '%s' lacks '%s'\n", i, e2.msg, bad[i].needle);
    CU_ASSERT(strstr(e2.msg, bad[i].needle) != NULL);
  }
}

/* A tuner's result row, with its colour codes, and lines that are not results. */
static void test_tuning_parse_row(void) {
  size_t v[24];
  int n = 0;
  double perf = 0;
  const char *row = "|   34 | 289000 |    0   64   64   32   32    8   32    8    2    2    2    0"
                    "    0    1    1    1 |      32       8 |      32       8 |   \x1b[32mOK\x1b[0m"
                    "    129 ms |      0.04 ms |   12.8 |     \x1b[32mresults match\x1b[0m |";
  CU_ASSERT(tq_tuning_parse_row(row, v, &n, 24, &perf));
  CU_ASSERT_EQUAL(n, 16);
  CU_ASSERT_EQUAL(v[1], 64);
  CU_ASSERT_EQUAL(v[15], 1);
  CU_ASSERT_DOUBLE_EQUAL(perf, 12.8, 1e-9);
  CU_ASSERT(!tq_tuning_parse_row("|  ref |     - |   - |  8 8 | 64 64 | OK | 0.34 ms | - | "
                                 "reference OK |", v, &n, 24, &perf));
  CU_ASSERT(!tq_tuning_parse_row("|    3 |   10 |  1 2 |  8 8 | 64 64 | OK | 0.3 ms | 1.0 | "
                                 "results differ |", v, &n, 24, &perf));
  CU_ASSERT(!tq_tuning_parse_row("* Found best result 0.08 ms: 109.3 GB/s", v, &n, 24, &perf));
  CU_ASSERT(!tq_tuning_parse_row("|    3 |   10 |  1 2 3 |  8 8 | 64 64 | OK | 0.3 ms | 1.0 | "
                                 "results match |", v, &n, 2, &perf)); /* over capacity */
}

/* A cache in $XDG_CACHE_HOME is found for the device; a corrupt one gives a warning naming the
 * file and no override (the device still opens and computes); a valid one is applied. */
static void test_tuning_cache_on_open(void) {
  tq_cl *cl = tq_test_cl();
  char dir[] = "/tmp/tq-tune-test-XXXXXX";
  CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
  const char *old = getenv("XDG_CACHE_HOME");
  char *keep = old ? strdup(old) : NULL;
  setenv("XDG_CACHE_HOME", dir, 1);
  char path[2048], desc[64];
  tq_err e = {0};
  TQ_ASSERT_OK(tq_tuning_path(&cl->info, path, sizeof path, &e), &e);
  CU_ASSERT(strncmp(path, dir, strlen(dir)) == 0);
  tq_tuning_describe(&cl->info, desc, sizeof desc);
  CU_ASSERT_STRING_EQUAL(desc, "no");
  CU_ASSERT_EQUAL(tq_tuning_apply(&cl->info, stderr, NULL), 0);

  /* corrupt: warned about, ignored */
  tq_tuning t;
  memset(&t, 0, sizeof t);
  tq_tuning_device_key(&cl->info, t.device_key, sizeof t.device_key);
  TQ_ASSERT_OK(tq_tuning_save(path, &t, &e), &e); /* creates the folders */
  FILE *f = fopen(path, "w");
  fputs("tailquant-tuning 1\ndevice x\nkernel Copy 32 COPY_DIMX=banana\n", f);
  fclose(f);
  tq_tuning_describe(&cl->info, desc, sizeof desc);
  CU_ASSERT_STRING_EQUAL(desc, "corrupt");
  char *msg = NULL;
  size_t len = 0;
  FILE *w = open_memstream(&msg, &len);
  CU_ASSERT_EQUAL(tq_tuning_apply(&cl->info, w, NULL), 0);
  fclose(w);
  CU_ASSERT(strstr(msg, path) != NULL);
  free(msg);

  /* valid, but made for another device: not applied */
  memset(&t, 0, sizeof t);
  snprintf(t.device_key, sizeof t.device_key, "some other device|x|1");
  TQ_ASSERT_OK(tq_tuning_save(path, &t, &e), &e);
  CU_ASSERT_EQUAL(tq_tuning_apply(&cl->info, NULL, NULL), 0);

  /* valid for this device: CLBlast's Copy kernel with its four parameters is applied; an
   * entry with a wrong parameter set is refused by CLBlast and skipped */
  tq_tuning_device_key(&cl->info, t.device_key, sizeof t.device_key);
  tq_tuned_kernel k = {.kernel = "Copy", .precision = 32, .nparams = 4,
                       .names = {"COPY_DIMX", "COPY_DIMY", "COPY_VW", "COPY_WPT"},
                       .values = {8, 8, 1, 1}};
  TQ_ASSERT_OK(tq_tuning_set(&t, &k, &e), &e);
  tq_tuned_kernel bad = {.kernel = "Transpose", .precision = 32, .nparams = 1,
                         .names = {"TRA_DIM"}, .values = {8}};
  TQ_ASSERT_OK(tq_tuning_set(&t, &bad, &e), &e);
  TQ_ASSERT_OK(tq_tuning_save(path, &t, &e), &e);
  tq_tuning_describe(&cl->info, desc, sizeof desc);
  CU_ASSERT_STRING_EQUAL(desc, "yes (2 kernels)");
  int applied = 0;
  TQ_ASSERT_OK(tq_tuning_override(cl->info.device, &t, path, NULL, &applied, &e), &e);
  CU_ASSERT_EQUAL(applied, 1);
  bool xgemm = true;
  CU_ASSERT_EQUAL(tq_tuning_apply(&cl->info, NULL, &xgemm), 1); /* the cache, as opening does */
  CU_ASSERT(!xgemm);
  setenv("TAILQUANT_TUNING", "off", 1);
  CU_ASSERT_EQUAL(tq_tuning_apply(&cl->info, NULL, NULL), 0);
  unsetenv("TAILQUANT_TUNING");

  remove(path);
  if (keep) {
    setenv("XDG_CACHE_HOME", keep, 1);
    free(keep);
  } else {
    unsetenv("XDG_CACHE_HOME");
  }
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"profiler: kernels and GEMMs of a step, by name", test_profile_counts_kernels},
      {"tuning file: parse, save, load, bad input named", test_tuning_parse},
      {"tuner output rows", test_tuning_parse_row},
      {"tuning cache found, corrupt one ignored, valid one applied", test_tuning_cache_on_open},
      {NULL, NULL}};
  tq_test_add_suite("perf", cases);
  return tq_test_run();
}
