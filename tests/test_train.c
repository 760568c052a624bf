/* The train command end to end, through the real binary: bad experiment files and arguments
 * fail with exit code 2 and a message naming file, line and key before any training; a short
 * real run on Fashion-MNIST learns (test accuracy well above chance) and writes its files; two
 * runs with the same seed are identical. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exp/config.h"
#include "test_support.h"
#include "tmpfile.h"

#define BIN TQ_BINARY_DIR "/tailquant"
#define DEFAULT_CFG TQ_SOURCE_DIR "/config/default.cfg"

static char out[65536];

static int run(const char *args) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "%s %s", BIN, args);
  return tq_test_run_cmd(cmd, out, sizeof out);
}

static void expect_bad(const char *args, const char *const *needles) {
  int rc = run(args);
  if (rc != 2) fprintf(stderr, "\n  exit %d for '%s': %s\n", rc, args, out);
  CU_ASSERT_EQUAL(rc, 2);
  for (int i = 0; needles[i]; i++) {
    if (!strstr(out, needles[i])) fprintf(stderr, "\n  '%s' missing from: %s\n", needles[i], out);
    CU_ASSERT(strstr(out, needles[i]) != NULL);
  }
  CU_ASSERT(strstr(out, "iter ") == NULL); /* nothing trained */
}

static void test_bad_experiments(void) {
  char args[2048];
  const char *p = tq_test_write_tmp("typo.cfg", "experiment = { name = \"x\"; };\ntrain = {\n  lr = 0.1;\n  bach_size = 3;\n};\n");
  snprintf(args, sizeof args, "train %s", p);
  expect_bad(args, (const char *const[]){p, ":4", "train.bach_size", "batch_size", NULL});

  p = tq_test_write_tmp("type.cfg", "train = { batch_size = 6.5; };\n");
  snprintf(args, sizeof args, "train %s", p);
  expect_bad(args, (const char *const[]){":1", "train.batch_size", "integer", NULL});

  p = tq_test_write_tmp("range.cfg", "train = { lr = -1.0; };\n");
  snprintf(args, sizeof args, "train %s", p);
  expect_bad(args, (const char *const[]){"train.lr", "out of range", NULL});

  p = tq_test_write_tmp("group.cfg", "trian = { lr = 1.0; };\n");
  snprintf(args, sizeof args, "train %s", p);
  expect_bad(args, (const char *const[]){"trian", "allowed here", NULL});

  p = tq_test_write_tmp("choice.cfg", "data = { normalize = \"maybe\"; };\n");
  snprintf(args, sizeof args, "train %s", p);
  expect_bad(args, (const char *const[]){"data.normalize", "auto|given", NULL});

  p = tq_test_write_tmp("syntax.cfg", "train = { lr = ; };\n");
  snprintf(args, sizeof args, "train %s", p);
  expect_bad(args, (const char *const[]){p, ":1", NULL});

  /* a missing data file is named */
  p = tq_test_write_tmp("nodata.cfg", "data = { train_images = \"/nonexistent/imgs.gz\"; };\n"
                                      "model = { file = \"" TQ_SOURCE_DIR "/models/lenet5.cfg\"; };\n");
  snprintf(args, sizeof args, "train %s", p);
  expect_bad(args, (const char *const[]){"/nonexistent/imgs.gz", NULL});

  /* a model whose input does not fit the images */
  tq_test_write_tmp("wide.cfg",
                    "name = \"wide\";\ninput = { channels = 1; height = 32; width = 32; };\n"
                    "classes = 10;\nlayers = ( { type = \"flatten\"; }, { type = \"dense\"; units = 10; } );\n");
  p = tq_test_write_tmp("fit.cfg", "model = { file = \"wide.cfg\"; };\n");
  snprintf(args, sizeof args, "train %s", p);
  expect_bad(args, (const char *const[]){"wide.cfg", "32", "28", "train-images", NULL});

  /* command line */
  expect_bad("train " DEFAULT_CFG " --set train.nope=1", (const char *const[]){"train.nope", NULL});
  expect_bad("train " DEFAULT_CFG " --set train.lr=fast", (const char *const[]){"fast", "number", NULL});
  expect_bad("train " DEFAULT_CFG " --set train.lr", (const char *const[]){"key=value", NULL});
  expect_bad("train " DEFAULT_CFG " --frobnicate", (const char *const[]){"--frobnicate", NULL});
  expect_bad("train /nonexistent.cfg", (const char *const[]){"/nonexistent.cfg", NULL});
  expect_bad("train " DEFAULT_CFG " --device no-such-device-xyz",
             (const char *const[]){"no-such-device-xyz", "devices present", NULL});
}

static void read_all(const char *path, char *buf, size_t cap) {
  buf[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return;
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

static char dir[64];

/* 150 steps of LeNet-5 on real Fashion-MNIST. Chance is 10 %; a working pipeline reaches
 * about 75 % by then (a broken gradient or data path stays near chance). */
static void test_short_run_learns(void) {
  char args[2048], path[512];
  snprintf(args, sizeof args,
           "train %s --quiet --set train.iterations=150 --set train.eval_every=75 "
           "--set output.dir=%s --set experiment.name=short",
           DEFAULT_CFG, dir);
  int rc = run(args);
  if (rc != 0) fprintf(stderr, "\n  %s\n", out);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  static char buf[1 << 16];
  snprintf(path, sizeof path, "%s/short/metrics.csv", dir);
  read_all(path, buf, sizeof buf);
  CU_ASSERT_EQUAL(count_lines(buf), 151); /* header + one row per step */
  CU_ASSERT(strncmp(buf, "iteration,epoch,loss", 20) == 0);
  snprintf(path, sizeof path, "%s/short/summary.json", dir);
  read_all(path, buf, sizeof buf);
  CU_ASSERT(strstr(buf, "\"status\": \"complete\"") != NULL);
  const char *acc = strstr(buf, "\"final_test_accuracy\": ");
  CU_ASSERT_FATAL(acc != NULL);
  double a = atof(acc + strlen("\"final_test_accuracy\": "));
  printf("\n  test accuracy after 150 steps: %.4f\n", a);
  CU_ASSERT(a >= 0.70);
  snprintf(path, sizeof path, "%s/short/config.cfg", dir);
  CU_ASSERT(access(path, R_OK) == 0);
  /* the resolved config is itself a valid experiment */
  tq_experiment x;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_experiment_load(path, NULL, 0, &x, &e), &e);
  CU_ASSERT_EQUAL(x.iterations, 150);
}

static void test_same_seed_same_run(void) {
  char args[2048], p1[512], p2[512];
  static char a[1 << 15], b[1 << 15];
  for (int i = 0; i < 2; i++) {
    snprintf(args, sizeof args,
             "train %s --quiet --set train.iterations=20 --set train.eval_every=0 "
             "--set output.dir=%s --set experiment.name=det%d",
             DEFAULT_CFG, dir, i);
    CU_ASSERT_EQUAL_FATAL(run(args), 0);
  }
  snprintf(p1, sizeof p1, "%s/det0/metrics.csv", dir);
  snprintf(p2, sizeof p2, "%s/det1/metrics.csv", dir);
  read_all(p1, a, sizeof a);
  read_all(p2, b, sizeof b);
  /* compare every row up to the timing columns (images_per_s, seconds vary) */
  char *sa = a, *sb = b;
  int rows = 0;
  while (*sa && *sb) {
    char *ea = strchr(sa, '\n'), *eb = strchr(sb, '\n');
    if (!ea || !eb) break;
    *ea = *eb = '\0';
    for (int k = 0; k < 2; k++) { /* drop the last two columns */
      char *ca = strrchr(sa, ','), *cb = strrchr(sb, ',');
      if (ca) *ca = '\0';
      if (cb) *cb = '\0';
    }
    CU_ASSERT_STRING_EQUAL(sa, sb);
    rows++;
    sa = ea + 1;
    sb = eb + 1;
  }
  CU_ASSERT_EQUAL(rows, 21);
}

static void test_docs_list_every_key(void) {
  static char doc[1 << 16];
  read_all(TQ_SOURCE_DIR "/docs/configuration.md", doc, sizeof doc);
  for (int i = 0; tq_experiment_key(i); i++) {
    char needle[160];
    snprintf(needle, sizeof needle, "`%s`", tq_experiment_key(i));
    if (!strstr(doc, needle)) fprintf(stderr, "\n  docs/configuration.md lacks %s\n", needle);
    CU_ASSERT(strstr(doc, needle) != NULL);
  }
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/tq_train_XXXXXX");
  if (!mkdtemp(dir)) return 1;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"bad experiments and arguments: exit 2 with file, line, key", test_bad_experiments},
      {"150 steps on Fashion-MNIST learn", test_short_run_learns},
      {"same seed, same device: identical metrics", test_same_seed_same_run},
      {"docs/configuration.md lists every key", test_docs_list_every_key},
      {NULL, NULL}};
  tq_test_add_suite("train command", cases);
  int rc = tq_test_run();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return rc;
}
