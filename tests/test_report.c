/* tailquant report over a run folder the test writes: the grouping (dataset included), the
 * means and standard deviations over seeds ("n/a" for one run), the iterations, the three
 * formats (md, csv, json), the curve files (CSV a pandas-style reader takes as it is), and the
 * errors for bad folders, summaries and formats. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "experiment/report.h"
#include "test_support.h"
#include "tmpfile.h"

#define BIN TQ_BINARY_DIR "/tailquant"

static char dir[64], out[1 << 16];

static void write_run(const char *variant, const char *method, int seed, double final, double t2t,
                      double acc_at_2) {
  char path[512], cmd[600];
  snprintf(path, sizeof path, "%s/exp/%s", dir, variant);
  snprintf(cmd, sizeof cmd, "mkdir -p %s", path);
  CU_ASSERT_FATAL(system(cmd) == 0);
  snprintf(cmd, sizeof cmd, "%s/summary.json", path);
  FILE *f = fopen(cmd, "w");
  CU_ASSERT_FATAL(f != NULL);
  fprintf(f,
          "{\n  \"status\": \"complete\",\n  \"experiment\": \"exp\",\n  \"variant\": \"%s\",\n"
          "  \"model\": \"lenet5\",\n  \"dataset\": \"fashion-mnist\",\n  \"seed\": %d,\n  \"workers\": 8,\n  \"method\": \"%s\",\n"
          "  \"bits\": 3,\n  \"iterations\": 2,\n  \"final_test_accuracy\": %g,\n"
          "  \"best_test_accuracy\": %g,\n  \"uplink_bits_total\": 1000,\n"
          "  \"compression_ratio\": 10,\n  \"mean_quant_mse\": 0.5,\n  \"target_accuracy\": 0.8,\n"
          "  \"sim_time_to_target_s\": %s,\n  \"seconds\": 3\n}\n",
          variant, seed, method, final, final, isfinite(t2t) ? "12.5" : "null");
  fclose(f);
  snprintf(cmd, sizeof cmd, "%s/metrics.csv", path);
  f = fopen(cmd, "w");
  fprintf(f, "iteration,epoch,loss,train_accuracy,test_loss,test_accuracy,lr,bits,bits_total\n");
  fprintf(f, "1,1,%g,0.5,,,0.01,500,500\n", 2.0 + seed);
  fprintf(f, "2,1,%g,0.6,0.4,%g,0.01,500,1000\n", 1.0 + seed, acc_at_2);
  fclose(f);
  (void)t2t;
}

static void test_table_and_curves(void) {
  /* qsgd: 3 seeds with final accuracy 0.80, 0.82, 0.84: mean 82.00, sample sd 2.00 */
  write_run("method-qsgd_seed-1", "qsgd", 1, 0.80, 12.5, 0.80);
  write_run("method-qsgd_seed-2", "qsgd", 2, 0.82, 12.5, 0.82);
  write_run("method-qsgd_seed-3", "qsgd", 3, 0.84, NAN, 0.84);
  write_run("method-tnqsgd_seed-1", "tnqsgd", 1, 0.90, 12.5, 0.90);
  /* an unfinished run is ignored */
  char path[512];
  snprintf(path, sizeof path, "%s/exp/broken", dir);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/exp/broken/summary.json", dir);
  FILE *f = fopen(path, "w");
  fputs("{\n  \"status\": \"running\"\n}\n", f);
  fclose(f);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, BIN " report %s --curves %s/plots", dir, dir);
  int rc = tq_test_run_cmd(cmd, out, sizeof out);
  if (rc) fprintf(stderr, "\n  %s\n", out);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT(strstr(out, "| exp | fashion-mnist | lenet5 | qsgd | 3 | 3 | 2 | 82.00 ± 2.00 | 82.00 ± 2.00 | 1e+03 | 10.0x | 0.5 | 2 of 3 reached 80 % |") != NULL);
  CU_ASSERT(strstr(out, "| exp | fashion-mnist | lenet5 | tnqsgd | 3 | 1 | 2 | 90.00 ± n/a | 90.00 ± n/a |") != NULL);
  CU_ASSERT(strstr(out, "12.5 s to 80 %") != NULL);
  CU_ASSERT(strstr(out, "2 of 3 reached 80 % | 2.0 ± 0.0 |") != NULL); /* iterations: deterministic */
  CU_ASSERT(strstr(out, "12.5 s to 80 % | 2 ± n/a |") != NULL);
  /* qsgd before tnqsgd: the methods' fixed order */
  CU_ASSERT(strstr(out, "| qsgd |") < strstr(out, "| tnqsgd |"));
  snprintf(path, sizeof path, "%s/plots/curves_exp_fashion-mnist_lenet5_b3_qsgd.csv", dir);
  f = fopen(path, "r");
  CU_ASSERT_FATAL(f != NULL);
  char text[2048];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  /* a plain header row first (no comment line); iteration 1: losses 3, 4, 5 (mean 4); not
   * evaluated: empty fields. iteration 2: losses 2, 3, 4; accuracy 80, 82, 84 %; 1000 bits */
  CU_ASSERT(strncmp(text, "iteration,loss_mean,loss_min,loss_max,acc_mean,acc_min,acc_max,"
                          "uplink_mbit_mean,runs,experiment,dataset,model,method,bits\n", 99) == 0);
  CU_ASSERT(strstr(text, "\n1,4,3,5,,,,0.0005,3,exp,fashion-mnist,lenet5,qsgd,3\n") != NULL);
  CU_ASSERT(strstr(text, "\n2,3,2,4,82,80,84,0.001,3,exp,fashion-mnist,lenet5,qsgd,3\n") != NULL);
  CU_ASSERT(strchr(text, '?') == NULL && strchr(text, '#') == NULL);
  snprintf(path, sizeof path, "%s/plots/mse.csv", dir);
  f = fopen(path, "r");
  CU_ASSERT_FATAL(f != NULL);
  n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  CU_ASSERT(strncmp(text, "experiment,dataset,model,method,bits,mean_quant_mse\nexp,fashion-mnist,lenet5,qsgd,3,0.5\n", 80) == 0);
  /* the same rows as CSV and JSON: empty / null where n = 1 */
  snprintf(cmd, sizeof cmd, BIN " report %s --format csv", dir);
  CU_ASSERT_EQUAL_FATAL(tq_test_run_cmd(cmd, out, sizeof out), 0);
  CU_ASSERT(strncmp(out, "experiment,dataset,model,method,bits,runs,iterations_min,iterations_max,", 72) == 0);
  /* the last two fields: iterations to the target (from metrics.csv: every run reaches 0.8 at
   * iteration 2), mean and sd */
  CU_ASSERT(strstr(out, "\nexp,fashion-mnist,lenet5,qsgd,3,3,2,2,82,2,82,2,1000,10,0.5,0.8,,2,2,0\n") != NULL);
  CU_ASSERT(strstr(out, "\nexp,fashion-mnist,lenet5,tnqsgd,3,1,2,2,90,,90,,1000,10,0.5,0.8,12.5,1,2,\n") != NULL);
  snprintf(cmd, sizeof cmd, BIN " report %s --format json", dir);
  CU_ASSERT_EQUAL_FATAL(tq_test_run_cmd(cmd, out, sizeof out), 0);
  CU_ASSERT(out[0] == '[');
  CU_ASSERT(strstr(out, "\"method\": \"tnqsgd\", \"bits\": 3, \"runs\": 1, \"iterations_min\": 2, "
                        "\"iterations_max\": 2, \"final_test_accuracy_mean\": 90, "
                        "\"final_test_accuracy_sd\": null,") != NULL);
  CU_ASSERT(strstr(out, "\"dataset\": \"fashion-mnist\"") != NULL);
}

/* A run from before the provenance fields (no "dataset"): a group of its own, dataset "-". */
static void test_old_summary(void) {
  char path[512], cmd[1024];
  snprintf(path, sizeof path, "%s/old/run", dir);
  snprintf(cmd, sizeof cmd, "mkdir -p %s", path);
  CU_ASSERT_FATAL(system(cmd) == 0);
  snprintf(path, sizeof path, "%s/old/run/summary.json", dir);
  FILE *f = fopen(path, "w");
  fputs("{\n  \"status\": \"complete\",\n  \"experiment\": \"old\",\n  \"variant\": \"\",\n"
        "  \"model\": \"mlp\",\n  \"seed\": 1,\n  \"workers\": 1,\n  \"method\": \"none\",\n"
        "  \"bits\": 32,\n  \"iterations\": 5,\n  \"final_test_accuracy\": 0.5,\n"
        "  \"best_test_accuracy\": 0.5,\n  \"uplink_bits_total\": 10,\n  \"compression_ratio\": 1,\n"
        "  \"mean_quant_mse\": null,\n  \"target_accuracy\": 0.8,\n  \"sim_time_to_target_s\": null,\n"
        "  \"seconds\": 1\n}\n", f);
  fclose(f);
  snprintf(cmd, sizeof cmd, BIN " report %s/old", dir);
  CU_ASSERT_EQUAL_FATAL(tq_test_run_cmd(cmd, out, sizeof out), 0);
  CU_ASSERT(strstr(out, "| old | - | mlp | none | 32 | 1 | 5 | 50.00 ± n/a |") != NULL);
  snprintf(cmd, sizeof cmd, BIN " report %s/old --format yaml", dir);
  CU_ASSERT_EQUAL(tq_test_run_cmd(cmd, out, sizeof out), 2);
  CU_ASSERT(strstr(out, "'yaml'") != NULL);
}

static void test_errors(void) {
  int rc = tq_test_run_cmd(BIN " report /nonexistent-runs", out, sizeof out);
  CU_ASSERT_EQUAL(rc, 2);
  CU_ASSERT(strstr(out, "/nonexistent-runs") != NULL);
  char cmd[512], path[512];
  snprintf(path, sizeof path, "%s/empty", dir);
  mkdir(path, 0755);
  snprintf(cmd, sizeof cmd, BIN " report %s", path);
  CU_ASSERT_EQUAL(tq_test_run_cmd(cmd, out, sizeof out), 2);
  CU_ASSERT(strstr(out, "no complete run") != NULL);
  /* a complete summary without a field: named */
  snprintf(path, sizeof path, "%s/bad", dir);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/bad/summary.json", dir);
  FILE *f = fopen(path, "w");
  fputs("{\n  \"status\": \"complete\",\n  \"model\": \"lenet5\"\n}\n", f);
  fclose(f);
  snprintf(cmd, sizeof cmd, BIN " report %s/bad", dir);
  CU_ASSERT_EQUAL(tq_test_run_cmd(cmd, out, sizeof out), 2);
  CU_ASSERT(strstr(out, path) != NULL);
  CU_ASSERT(strstr(out, "method") != NULL);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/tq_report_XXXXXX");
  if (!mkdtemp(dir)) return 1;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {{"table: means and sd over seeds; curve files", test_table_and_curves},
                                       {"a summary without a dataset; a bad --format", test_old_summary},
                                       {"missing folder, no runs, bad summary", test_errors},
                                       {NULL, NULL}};
  tq_test_add_suite("report", cases);
  int rc = tq_test_run();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return rc;
}
