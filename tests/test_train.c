/* The train command end to end, through the real binary: bad experiment files and arguments
 * fail with exit code 2 and a message naming file, line and key before any training; a short
 * real run on Fashion-MNIST learns (test accuracy well above chance) and writes its files; two
 * runs with the same seed are identical. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiment/checkpoint.h"
#include "experiment/config.h"
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

  p = tq_test_write_tmp("refit.cfg", "compression = { refit_every = 3; };\ncheckpoint = { every = 10; };\n");
  snprintf(args, sizeof args, "train %s", p);
  expect_bad(args, (const char *const[]){"checkpoint.every", "refit_every", NULL});

  p = tq_test_write_tmp("method.cfg", "compression = { method = \"zip\"; };\n");
  snprintf(args, sizeof args, "train %s", p);
  expect_bad(args, (const char *const[]){":1", "compression.method", "tnqsgd", NULL});

  p = tq_test_write_tmp("bits.cfg", "compression = { method = \"qsgd\"; bits = 1; };\n"
                                    "model = { file = \"" TQ_SOURCE_DIR "/models/lenet5.cfg\"; };\n");
  snprintf(args, sizeof args, "train %s", p);
  expect_bad(args, (const char *const[]){"bits", NULL});

  /* command line */
  expect_bad("train --resume /nonexistent-run", (const char *const[]){"/nonexistent-run", NULL});
  expect_bad("train --resume /tmp --set train.lr=1", (const char *const[]){"--set", NULL});
  expect_bad("train " DEFAULT_CFG " --stop-after zero", (const char *const[]){"--stop-after", NULL});
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

/* One worker, fp32, plain SGD: the single-worker path of the foundation. */
#define ONE_WORKER                                                                                 \
  "--set workers.count=1 --set train.batch_size=64 --set compression.method=none "               \
  "--set train.momentum=0 --set train.weight_decay=0 --set checkpoint.every=0"

/* 150 steps of LeNet-5 on real Fashion-MNIST. Chance is 10 %; a working pipeline reaches
 * about 75 % by then (a broken gradient or data path stays near chance). */
static void test_short_run_learns(void) {
  char args[2048], path[512];
  snprintf(args, sizeof args,
           "train %s --quiet " ONE_WORKER " --set train.iterations=150 --set train.eval_every=75 "
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


#define SMALL_MULTI                                                                                \
  "--set workers.count=4 --set train.batch_size=16 --set compression.method=tnqsgd "             \
  "--set compression.error_feedback=true --set train.eval_every=0"

static void test_same_seed_same_run(void) {
  char args[2048], p1[512], p2[512];
  static char a[1 << 16], b[1 << 16];
  for (int i = 0; i < 2; i++) {
    snprintf(args, sizeof args,
             "train %s --quiet " SMALL_MULTI " --set train.iterations=10 --set output.dir=%s "
             "--set experiment.name=det%d",
             DEFAULT_CFG, dir, i);
    CU_ASSERT_EQUAL_FATAL(run(args), 0);
  }
  snprintf(p1, sizeof p1, "%s/det0/metrics.csv", dir);
  snprintf(p2, sizeof p2, "%s/det1/metrics.csv", dir);
  read_all(p1, a, sizeof a);
  read_all(p2, b, sizeof b);
  CU_ASSERT_EQUAL(count_lines(a), 11);
  tq_test_keep_columns(a, TQ_TEST_DETERMINISTIC_COLUMNS);
  tq_test_keep_columns(b, TQ_TEST_DETERMINISTIC_COLUMNS);
  CU_ASSERT_STRING_EQUAL(a, b);
}

/* 12 steps straight, against 8 steps, a stop, and a resume: the same final state, bit for bit
 * (with error feedback, so residuals must survive the checkpoint too), and the same metrics. */
static void test_resume_is_bit_identical(void) {
  char args[2048], path[512];
  snprintf(args, sizeof args,
           "train %s --quiet " SMALL_MULTI " --set train.iterations=12 --set checkpoint.every=4 "
           "--set output.dir=%s --set experiment.name=straight",
           DEFAULT_CFG, dir);
  CU_ASSERT_EQUAL_FATAL(run(args), 0);
  snprintf(args, sizeof args,
           "train %s --quiet " SMALL_MULTI " --set train.iterations=12 --set checkpoint.every=4 "
           "--set output.dir=%s --set experiment.name=broken --stop-after 6",
           DEFAULT_CFG, dir);
  CU_ASSERT_EQUAL_FATAL(run(args), 0);
  snprintf(path, sizeof path, "%s/broken/summary.json", dir);
  CU_ASSERT(access(path, F_OK) != 0); /* stopped: not complete */
  snprintf(path, sizeof path, "%s/broken/metrics.csv", dir);
  CU_ASSERT(access(path, F_OK) != 0);
  snprintf(args, sizeof args, "train --quiet --resume %s/broken", dir);
  int rc = run(args);
  if (rc) fprintf(stderr, "\n  %s\n", out);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  static char a[1 << 20], b[1 << 20];
  snprintf(path, sizeof path, "%s/straight/checkpoint.bin", dir);
  size_t na = tq_test_checkpoint_state(path, a, sizeof a);
  snprintf(path, sizeof path, "%s/broken/checkpoint.bin", dir);
  size_t nb = tq_test_checkpoint_state(path, b, sizeof b);
  CU_ASSERT(na > 61706 * 8);
  CU_ASSERT_EQUAL(na, nb);
  CU_ASSERT(na == nb && memcmp(a, b, na) == 0);
  snprintf(path, sizeof path, "%s/straight/metrics.csv", dir);
  read_all(path, a, sizeof a);
  snprintf(path, sizeof path, "%s/broken/metrics.csv", dir);
  read_all(path, b, sizeof b);
  CU_ASSERT_EQUAL(count_lines(b), 13);
  tq_test_keep_columns(a, TQ_TEST_DETERMINISTIC_COLUMNS);
  tq_test_keep_columns(b, TQ_TEST_DETERMINISTIC_COLUMNS);
  CU_ASSERT_STRING_EQUAL(a, b);
  /* a complete run cannot be resumed again */
  snprintf(args, sizeof args, "train --quiet --resume %s/broken", dir);
  CU_ASSERT_EQUAL(run(args), 2);
  CU_ASSERT(strstr(out, "complete") != NULL);
}

static void test_sweep(void) {
  tq_sweep sw;
  tq_err e = {0};
  const char *p = tq_test_write_tmp(
      "sweep.cfg",
      "sweep = ( { key = \"compression.method\"; values = [\"none\", \"qsgd\"]; },\n"
      "          { key = \"experiment.seed\"; values = [1, 2, 3]; } );\n");
  TQ_ASSERT_OK(tq_sweep_load(p, &sw, &e), &e);
  CU_ASSERT_EQUAL(sw.nvariants, 6);
  CU_ASSERT_EQUAL(sw.nkeys, 2);
  CU_ASSERT_STRING_EQUAL(sw.name[0], "method-none_seed-1");
  CU_ASSERT_STRING_EQUAL(sw.name[5], "method-qsgd_seed-3");
  CU_ASSERT_STRING_EQUAL(sw.settings[4][1], "experiment.seed=3");
  int seen[6] = {0};
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++) seen[j] += !strcmp(sw.name[i], sw.name[j]);
  for (int j = 0; j < 6; j++) CU_ASSERT_EQUAL(seen[j], 1); /* names are distinct */
  /* no sweep: one unnamed variant */
  TQ_ASSERT_OK(tq_sweep_load(DEFAULT_CFG, &sw, &e), &e);
  CU_ASSERT_EQUAL(sw.nvariants, 1);
  CU_ASSERT_STRING_EQUAL(sw.name[0], "");
  /* bad sweeps */
  p = tq_test_write_tmp("badsweep.cfg", "sweep = ( { key = \"train.speed\"; values = [1]; } );\n");
  tq_err e2 = {0};
  CU_ASSERT_EQUAL(tq_sweep_load(p, &sw, &e2), TQ_EINPUT);
  CU_ASSERT(strstr(e2.msg, "train.speed") != NULL && strstr(e2.msg, ":1") != NULL);
  p = tq_test_write_tmp("badsweep2.cfg", "sweep = ( { key = \"train.lr\"; values = []; } );\n");
  tq_err e3 = {0};
  CU_ASSERT_EQUAL(tq_sweep_load(p, &sw, &e3), TQ_EINPUT);
  /* a real two-variant sweep through the binary: two runs and a comparison table */
  char cfg[1024], args[2048];
  /* @include is relative to the including file (the temporary folder, two levels deep) */
  snprintf(cfg, sizeof cfg,
           "@include \"../..%s\"\nsweep = ( { key = \"compression.method\"; values = [\"qsgd\", \"tqsgd\"]; } );\n",
           DEFAULT_CFG);
  p = tq_test_write_tmp("runsweep.cfg", cfg);
  snprintf(args, sizeof args,
           "train %s --set workers.count=2 --set train.iterations=3 --set train.eval_every=0 "
           "--set checkpoint.every=0 --set model.file=%s/models/lenet5.cfg --set output.dir=%s "
           "--set experiment.name=sw",
           p, TQ_SOURCE_DIR, dir);
  int rc = run(args);
  if (rc) fprintf(stderr, "\n  %s\n", out);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT(strstr(out, "method-qsgd") != NULL && strstr(out, "method-tqsgd") != NULL);
  CU_ASSERT(strstr(out, "uplink bits") != NULL); /* the table */
  char path[512];
  snprintf(path, sizeof path, "%s/sw/method-tqsgd/summary.json", dir);
  CU_ASSERT(access(path, F_OK) == 0);
}

static void test_dump_gradients(void) {
  char args[2048], path[512];
  snprintf(args, sizeof args,
           "train %s --quiet --set workers.count=2 --set train.iterations=3 --set train.eval_every=0 "
           "--set checkpoint.every=0 --set output.dir=%s --set experiment.name=dump --dump-gradients 2",
           DEFAULT_CFG, dir);
  CU_ASSERT_EQUAL_FATAL(run(args), 0);
  static char buf[8192];
  snprintf(path, sizeof path, "%s/dump/gradients/iter_000002/index.tsv", dir);
  read_all(path, buf, sizeof buf);
  CU_ASSERT_EQUAL(count_lines(buf), 1 + 2 * 10); /* header + 2 workers x 10 tensors */
  CU_ASSERT(strstr(buf, "w01.fc1.weight.f32\t1\tfc1.weight\t120x400\t48000") != NULL);
  snprintf(path, sizeof path, "%s/dump/gradients/iter_000002/w01.fc1.weight.f32", dir);
  FILE *f = fopen(path, "rb");
  CU_ASSERT_FATAL(f != NULL);
  fseek(f, 0, SEEK_END);
  CU_ASSERT_EQUAL(ftell(f), 48000 * 4);
  fclose(f);
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
      {"same seed, 4 threaded workers: identical metrics", test_same_seed_same_run},
      {"stop and resume == uninterrupted, bit for bit", test_resume_is_bit_identical},
      {"sweep expansion and a sweep run", test_sweep},
      {"--dump-gradients writes every worker's tensors", test_dump_gradients},
      {"docs/configuration.md lists every key", test_docs_list_every_key},
      {NULL, NULL}};
  tq_test_add_suite("train command", cases);
  int rc = tq_test_run();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return rc;
}
