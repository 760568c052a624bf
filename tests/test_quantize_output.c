/* tailquant quantize explains what it prints: every figure of the one-method report and of the
 * --method all table is named in the legend that follows, and the design's objective is not
 * passed off as a prediction of the measured MSE. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/method.h"
#include "test_support.h"
#include "tmpfile.h"

#define BIN TQ_BINARY_DIR "/tailquant"

static char out[1 << 16];

static const char *gradient_file(void) {
  static char path[64];
  if (path[0]) return path;
  snprintf(path, sizeof path, "/tmp/tq_qout_XXXXXX");
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  FILE *f = fdopen(fd, "wb");
  tq_test_rng r = {5};
  for (int i = 0; i < 20000; i++) {
    float g = (float)(1e-3 * tq_test_normal(&r) / sqrt(0.05 + tq_test_uniform(&r)));
    fwrite(&g, 4, 1, f);
  }
  fclose(f);
  return path;
}

static void expect_all(const char *const *needles) {
  for (int i = 0; needles[i]; i++) {
    if (!strstr(out, needles[i])) fprintf(stderr, "\n  '%s' missing from:\n%s\n", needles[i], out);
    CU_ASSERT(strstr(out, needles[i]) != NULL);
  }
}

static void test_one_method(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, BIN " quantize --method tnqsgd --bits 3 %s", gradient_file());
  CU_ASSERT_EQUAL_FATAL(tq_test_run_cmd(cmd, out, sizeof out), 0);
  const char *want[] = {"design objective ", "per-element MSE: measured ", "exact conditional",
                        "The figures:", "  tail fit  ", "  data  ", "  design  ",
                        "  design objective  what alpha", "not a prediction", "  levels  ",
                        "  header bits  ", "  MSE measured ", "  MSE exact  ", "  ref  ", NULL};
  expect_all(want);
  CU_ASSERT(strstr(out, "model MSE") == NULL);
}

static void test_all_methods(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, BIN " quantize --method all --bits 3 %s", gradient_file());
  CU_ASSERT_EQUAL_FATAL(tq_test_run_cmd(cmd, out, sizeof out), 0);
  /* the table's columns, then each in the legend */
  const char *want[] = {"alpha", "header bits", "payload", "bits/elem", "MSE measured", "MSE exact",
                        "The figures:", "  alpha  ", "  header bits  ", "bits/elem = 8 x message bytes",
                        "  MSE measured ", "  MSE exact  ", "  ref  ", NULL};
  expect_all(want);
  remove(gradient_file());
}

/* --help lists every method of the method table with its one-line summary. */
static void test_help_lists_methods(void) {
  CU_ASSERT_EQUAL_FATAL(tq_test_run_cmd(BIN " quantize --help", out, sizeof out), 0);
  for (int i = 0; i < TQ_METHOD_COUNT; i++) {
    const tq_method_info *mi = tq_method_info_of((tq_method)i);
    char want[160];
    snprintf(want, sizeof want, "  %-8s %s", mi->name, mi->summary);
    const char *needles[] = {want, NULL};
    expect_all(needles);
  }
  const char *want[] = {
      "--method M      none|qsgd|qsgdinf|nuqsgd|tqsgd|tnqsgd|tbqsgd|tpqsgd|efsign|topk|all", NULL};
  expect_all(want);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {{"one method: every figure explained", test_one_method},
                                       {"--method all: every column explained", test_all_methods},
                                       {"--help lists the method table", test_help_lists_methods},
                                       {NULL, NULL}};
  tq_test_add_suite("quantize output", cases);
  return tq_test_run();
}
