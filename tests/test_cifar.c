/* CIFAR-10 data and the ResNet run. CIFAR-10 itself is not shipped and CI has no network, so
 * every file here is written by the test: small batch files of random images in the real
 * format (1 label byte + 3072 pixel bytes per record, CHW).
 *   - the reader: a folder of data_batch_1..5.bin / test_batch.bin, one file, and each kind of
 *     bad input (a size that is not whole records, a label >= classes, a missing batch file)
 *     named with its file and offset;
 *   - per-channel normalisation, and augmentation (crop with 4-pixel padding, flip) that is a
 *     function of (seed, worker, iteration);
 *   - end to end through the binary: config/cifar10_resnet20.cfg trains on a generated folder
 *     with 8 workers and TNQSGD; a residual net with batchnorm stops, resumes and ends bit for
 *     bit where an uninterrupted run ends (parameters, momentum, running statistics, metrics). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/cifar.h"
#include "data/dataset.h"
#include "test_support.h"
#include "tmpfile.h"

#define BIN TQ_BINARY_DIR "/tailquant"
#define REC TQ_CIFAR_RECORD

static char g_dir[] = "/tmp/tq_cifar_XXXXXX";
static char out[65536];

/* Writes n records to path: labels (first + i) % 10, pixels from a seeded generator. */
static void write_batch(const char *path, int n, int first, uint64_t seed) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_FATAL(f != NULL);
  tq_test_rng r = {seed};
  unsigned char rec[REC];
  for (int i = 0; i < n; i++) {
    rec[0] = (unsigned char)((first + i) % 10);
    for (int k = 1; k < (int)REC; k++) rec[k] = (unsigned char)(tq_test_uniform(&r) * 256);
    fwrite(rec, 1, REC, f);
  }
  fclose(f);
}

/* A CIFAR-10 folder of 5 training batches of per_batch images and a test batch of ntest. */
static void make_folder(const char *dir, int per_batch, int ntest) {
  mkdir(dir, 0755);
  char p[600];
  for (int k = 1; k <= 5; k++) {
    snprintf(p, sizeof p, "%s/data_batch_%d.bin", dir, k);
    write_batch(p, per_batch, (k - 1) * per_batch, 100 + (uint64_t)k);
  }
  snprintf(p, sizeof p, "%s/test_batch.bin", dir);
  write_batch(p, ntest, 0, 200);
}

static void test_read_folder_and_file(void) {
  char dir[600], p[700];
  snprintf(dir, sizeof dir, "%s/ok", g_dir);
  make_folder(dir, 7, 5);
  tq_dataset tr, te;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_cifar10_load(dir, true, 10, &tr, &e), &e);
  CU_ASSERT_EQUAL(tr.n, 35);
  CU_ASSERT(tr.c == 3 && tr.h == 32 && tr.w == 32);
  for (uint32_t i = 0; i < tr.n; i++) CU_ASSERT_EQUAL(tr.labels[i], i % 10); /* batch order */
  TQ_ASSERT_OK(tq_cifar10_load(dir, false, 10, &te, &e), &e);
  CU_ASSERT_EQUAL(te.n, 5);
  /* pixels as stored: record 9 is the third of data_batch_2 */
  snprintf(p, sizeof p, "%s/data_batch_2.bin", dir);
  FILE *f = fopen(p, "rb");
  unsigned char rec[REC];
  fseek(f, 2 * REC, SEEK_SET);
  CU_ASSERT_EQUAL(fread(rec, 1, REC, f), REC);
  fclose(f);
  CU_ASSERT(memcmp(tr.pixels + 9 * (REC - 1), rec + 1, REC - 1) == 0);
  /* one file */
  tq_dataset one;
  TQ_ASSERT_OK(tq_cifar10_load(p, true, 10, &one, &e), &e);
  CU_ASSERT_EQUAL(one.n, 7);
  CU_ASSERT(memcmp(one.pixels + 2 * (REC - 1), rec + 1, REC - 1) == 0);
  tq_dataset_free(&one);
  tq_dataset_free(&tr);
  tq_dataset_free(&te);
}

static void expect_load_error(const char *path, bool train, uint32_t classes,
                              const char *const *needles) {
  tq_dataset d;
  tq_err e = {0};
  CU_ASSERT_EQUAL(tq_cifar10_load(path, train, classes, &d, &e), TQ_EINPUT);
  CU_ASSERT(d.pixels == NULL && d.n == 0);
  for (int i = 0; needles[i]; i++) {
    if (!strstr(e.msg, needles[i])) fprintf(stderr, "\n  '%s' not in: %s\n", needles[i], e.msg);
    CU_ASSERT(strstr(e.msg, needles[i]) != NULL);
  }
}

static void test_bad_input(void) {
  char dir[600], p[700];
  /* a size that is not a whole number of records: file, size and the offset of the rest */
  snprintf(dir, sizeof dir, "%s/cut", g_dir);
  make_folder(dir, 3, 2);
  snprintf(p, sizeof p, "%s/data_batch_4.bin", dir);
  CU_ASSERT_EQUAL(truncate(p, 2 * REC + 100), 0);
  expect_load_error(dir, true, 10,
                    (const char *const[]){"data_batch_4.bin", "6246 bytes", "3073-byte", "offset 6146", NULL});
  /* an empty file */
  CU_ASSERT_EQUAL(truncate(p, 0), 0);
  expect_load_error(p, true, 10, (const char *const[]){"data_batch_4.bin", "empty", NULL});
  /* a label >= classes: file, record and offset */
  snprintf(dir, sizeof dir, "%s/label", g_dir);
  make_folder(dir, 3, 2);
  snprintf(p, sizeof p, "%s/test_batch.bin", dir);
  FILE *f = fopen(p, "r+b");
  fseek(f, REC, SEEK_SET);
  fputc(10, f);
  fclose(f);
  expect_load_error(dir, false, 10,
                    (const char *const[]){"test_batch.bin", "record 1", "offset 3073", "label 10", NULL});
  /* labels 0..9 against 5 classes */
  expect_load_error(dir, true, 5, (const char *const[]){"data_batch_2.bin", "label 5", NULL});
  /* a missing batch file */
  snprintf(dir, sizeof dir, "%s/missing", g_dir);
  make_folder(dir, 3, 2);
  snprintf(p, sizeof p, "%s/data_batch_3.bin", dir);
  unlink(p);
  expect_load_error(dir, true, 10, (const char *const[]){"data_batch_3.bin", "missing", NULL});
  /* nothing there */
  expect_load_error("/nonexistent/cifar", true, 10, (const char *const[]){"/nonexistent/cifar", NULL});
}

static void test_channel_norm_and_augment(void) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s/aug", g_dir);
  make_folder(dir, 4, 2);
  tq_dataset d;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_cifar10_load(dir, true, 10, &d, &e), &e);
  /* make the channels differ: red bright, blue dark */
  size_t plane = 1024;
  for (uint32_t i = 0; i < d.n; i++) {
    for (size_t k = 0; k < plane; k++) d.pixels[i * 3 * plane + k] |= 0x80;
    for (size_t k = 0; k < plane; k++) d.pixels[i * 3 * plane + 2 * plane + k] &= 0x3f;
  }
  tq_norm nm;
  TQ_ASSERT_OK(tq_norm_from_dataset(&d, "test", &nm, &e), &e);
  CU_ASSERT_EQUAL(nm.channels, 3);
  CU_ASSERT(nm.ch_mean[0] > 0.6 && nm.ch_mean[2] < 0.2);
  double m0, s0;
  tq_dataset_channel_stats(&d, 0, &m0, &s0);
  CU_ASSERT_DOUBLE_EQUAL(nm.ch_mean[0], m0, 1e-12);
  /* a batch normalised per channel has mean ~0 and std ~1 in each channel */
  uint32_t idx[20];
  for (int i = 0; i < 20; i++) idx[i] = (uint32_t)i;
  float *x = malloc(20 * 3072 * sizeof *x), *xa = malloc(20 * 3072 * sizeof *xa),
        *xb = malloc(20 * 3072 * sizeof *xb);
  int32_t y[20];
  TQ_ASSERT_OK(tq_dataset_fill_batch(&d, idx, 20, nm, x, y, &e), &e);
  for (int c = 0; c < 3; c++) {
    double s = 0, q = 0;
    for (int b = 0; b < 20; b++)
      for (size_t k = 0; k < plane; k++) {
        double v = x[b * 3072 + c * plane + k];
        s += v;
        q += v * v;
      }
    double mean = s / (20.0 * plane), sd = sqrt(q / (20.0 * plane) - mean * mean);
    CU_ASSERT(fabs(mean) < 1e-3 && fabs(sd - 1) < 1e-3);
  }
  /* augmentation: a function of (seed, worker, iteration); off is the plain batch */
  tq_augment off = {false, 1, 0, 5}, a = {true, 1, 0, 5}, other = {true, 1, 0, 6};
  TQ_ASSERT_OK(tq_dataset_fill_batch_aug(&d, idx, 20, nm, &off, xa, y, &e), &e);
  CU_ASSERT(memcmp(x, xa, 20 * 3072 * sizeof *x) == 0);
  TQ_ASSERT_OK(tq_dataset_fill_batch_aug(&d, idx, 20, nm, &a, xa, y, &e), &e);
  TQ_ASSERT_OK(tq_dataset_fill_batch_aug(&d, idx, 20, nm, &a, xb, y, &e), &e);
  CU_ASSERT(memcmp(xa, xb, 20 * 3072 * sizeof *x) == 0);
  TQ_ASSERT_OK(tq_dataset_fill_batch_aug(&d, idx, 20, nm, &other, xb, y, &e), &e);
  CU_ASSERT(memcmp(xa, xb, 20 * 3072 * sizeof *x) != 0);
  /* each augmented image is exactly one crop (offsets -4..4, zero padding) of its image,
   * flipped or not; over 20 images both flips and several offsets occur */
  int flips = 0, shifted = 0;
  for (int b = 0; b < 20; b++) {
    int found = 0;
    for (int fl = 0; fl < 2; fl++)
      for (int oy = -4; oy <= 4; oy++)
        for (int ox = -4; ox <= 4; ox++) {
          bool same = true;
          for (int c = 0; c < 3 && same; c++)
            for (int r = 0; r < 32 && same; r++)
              for (int q = 0; q < 32 && same; q++) {
                int sr = r + oy, sq = (fl ? 31 - q : q) + ox;
                float want = (sr < 0 || sr > 31 || sq < 0 || sq > 31)
                                 ? (float)((0.0 - nm.ch_mean[c]) / nm.ch_std[c])
                                 : x[b * 3072 + c * plane + sr * 32 + sq];
                same = xa[b * 3072 + c * plane + r * 32 + q] == want;
              }
          if (same) {
            found++;
            flips += fl;
            shifted += ox != 0 || oy != 0;
          }
        }
    CU_ASSERT_EQUAL(found, 1);
  }
  CU_ASSERT(flips > 2 && flips < 18);
  CU_ASSERT(shifted > 10);
  free(x);
  free(xa);
  free(xb);
  tq_dataset_free(&d);
}

static int run(const char *args) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "%s %s", BIN, args);
  return tq_test_run_cmd(cmd, out, sizeof out);
}

/* The acceptance run: the shipped ResNet-20 experiment, 8 workers, TNQSGD 3 bits, on a folder
 * of generated batches (a few iterations at batch 2 per worker, so it fits a CI machine). */
static void test_resnet20_experiment_trains(void) {
  char dir[600], args[3000], path[800];
  snprintf(dir, sizeof dir, "%s/run20", g_dir);
  make_folder(dir, 8, 16);
  snprintf(args, sizeof args,
           "train %s/config/cifar10_resnet20.cfg --quiet --set data.train_images=%s "
           "--set data.test_images=%s --set train.iterations=3 --set train.batch_size=2 "
           "--set train.eval_every=3 --set output.dir=%s/runs --set checkpoint.every=3",
           TQ_SOURCE_DIR, dir, dir, g_dir);
  int rc = run(args);
  if (rc) fprintf(stderr, "\n  exit %d: %s\n", rc, out);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  snprintf(path, sizeof path, "%s/runs/cifar10_resnet20/summary.json", g_dir);
  char *text = NULL;
  size_t len = 0;
  FILE *f = fopen(path, "rb");
  CU_ASSERT_FATAL(f != NULL);
  static char buf[1 << 16];
  len = fread(buf, 1, sizeof buf - 1, f);
  buf[len] = '\0';
  fclose(f);
  text = buf;
  CU_ASSERT(strstr(text, "\"workers\": 8") != NULL || strstr(text, "workers") != NULL);
  CU_ASSERT(strstr(text, "tnqsgd") != NULL);
  CU_ASSERT(strstr(text, "data_train_images_crc32") != NULL);
  CU_ASSERT(strstr(text, "data_train_labels") == NULL); /* CIFAR-10 has no label files */
}

/* Stop after 4 of 8 steps and resume: the same checkpoint state (parameters, momentum,
 * running statistics, data positions) and the same metrics as 8 steps straight, with
 * augmentation on. */
static void test_batchnorm_resume_is_bit_identical(void) {
  char dir[600], args[3000], path[800];
  snprintf(dir, sizeof dir, "%s/resume", g_dir);
  make_folder(dir, 12, 8);
  const char *common =
      "--quiet --set model.file=" TQ_SOURCE_DIR "/tests/models/tiny_resnet.cfg "
      "--set workers.count=2 --set train.batch_size=4 --set train.iterations=8 "
      "--set checkpoint.every=4 --set train.eval_every=4 --set compression.min_elems=64";
  snprintf(args, sizeof args,
           "train %s/config/cifar10_resnet20.cfg %s --set data.train_images=%s "
           "--set data.test_images=%s --set output.dir=%s/runs --set experiment.name=straight",
           TQ_SOURCE_DIR, common, dir, dir, g_dir);
  int rc = run(args);
  if (rc) fprintf(stderr, "\n  exit %d: %s\n", rc, out);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  snprintf(args, sizeof args,
           "train %s/config/cifar10_resnet20.cfg %s --set data.train_images=%s "
           "--set data.test_images=%s --set output.dir=%s/runs --set experiment.name=broken "
           "--stop-after 4",
           TQ_SOURCE_DIR, common, dir, dir, g_dir);
  CU_ASSERT_EQUAL_FATAL(run(args), 0);
  snprintf(args, sizeof args, "train --quiet --resume %s/runs/broken", g_dir);
  rc = run(args);
  if (rc) fprintf(stderr, "\n  exit %d: %s\n", rc, out);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  static char a[1 << 20], b[1 << 20];
  snprintf(path, sizeof path, "%s/runs/straight/checkpoint.bin", g_dir);
  size_t na = tq_test_checkpoint_state(path, a, sizeof a);
  snprintf(path, sizeof path, "%s/runs/broken/checkpoint.bin", g_dir);
  size_t nb = tq_test_checkpoint_state(path, b, sizeof b);
  CU_ASSERT(na > 0);
  CU_ASSERT_EQUAL(na, nb);
  CU_ASSERT(na == nb && memcmp(a, b, na) == 0);
  snprintf(path, sizeof path, "%s/runs/straight/metrics.csv", g_dir);
  FILE *f = fopen(path, "rb");
  CU_ASSERT_FATAL(f != NULL);
  size_t la = fread(a, 1, sizeof a - 1, f);
  fclose(f);
  a[la] = '\0';
  snprintf(path, sizeof path, "%s/runs/broken/metrics.csv", g_dir);
  f = fopen(path, "rb");
  CU_ASSERT_FATAL(f != NULL);
  size_t lb = fread(b, 1, sizeof b - 1, f);
  fclose(f);
  b[lb] = '\0';
  tq_test_keep_columns(a, TQ_TEST_DETERMINISTIC_COLUMNS);
  tq_test_keep_columns(b, TQ_TEST_DETERMINISTIC_COLUMNS);
  CU_ASSERT_STRING_EQUAL(a, b);
  /* the test accuracy (evaluated with the running statistics) is in the metrics */
  CU_ASSERT(strstr(a, "test_accuracy") != NULL);
}

static void cleanup(void) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
}

int main(void) {
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return 1;
  }
  atexit(cleanup);
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"CIFAR-10 folder and single file", test_read_folder_and_file},
      {"bad CIFAR-10 input names file and offset", test_bad_input},
      {"per-channel normalisation and seeded augmentation", test_channel_norm_and_augment},
      {"config/cifar10_resnet20.cfg trains: 8 workers, TNQSGD", test_resnet20_experiment_trains},
      {"batchnorm checkpoints resume bit for bit", test_batchnorm_resume_is_bit_identical},
      {NULL, NULL}};
  tq_test_add_suite("cifar10", cases);
  return tq_test_run();
}
