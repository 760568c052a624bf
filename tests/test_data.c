/* The data module: IDX reading (plain and gzipped) with one test per kind of bad input,
 * normalisation statistics, batch filling, the per-epoch shuffle, sharding, and (when the
 * Debian package is installed) the real Fashion-MNIST files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/dataset.h"
#include "data/idx.h"
#include "data/shard.h"
#include "data/shuffle.h"
#include "test_support.h"
#include "util/philox.h"

/* ---- temporary files ------------------------------------------------------------------- */

static char g_dir[] = "/tmp/tq_test_data_XXXXXX";
static char g_files[64][512];
static int g_nfiles;

static void cleanup_files(void) {
  for (int i = 0; i < g_nfiles; i++) remove(g_files[i]);
  rmdir(g_dir);
}

/* Writes bytes to DIR/name, gzipped when gz; returns the path (static storage). */
static const char *write_file(const char *name, const void *data, size_t len, int gz) {
  CU_ASSERT_FATAL(g_nfiles < 64);
  char *path = g_files[g_nfiles++];
  snprintf(path, sizeof g_files[0], "%s/%s", g_dir, name);
  if (gz) {
    gzFile f = gzopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    if (len) CU_ASSERT_FATAL(gzwrite(f, data, (unsigned)len) == (int)len);
    CU_ASSERT_FATAL(gzclose(f) == Z_OK);
  } else {
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    if (len) CU_ASSERT_FATAL(fwrite(data, 1, len, f) == len);
    CU_ASSERT_FATAL(fclose(f) == 0);
  }
  return path;
}

/* An IDX file image in memory: magic bytes {0, 0, type, ndims}, big-endian dims, then data. */
typedef struct idx_buf {
  unsigned char b[4096];
  size_t len;
} idx_buf;

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

static idx_buf make_idx(unsigned char b0, unsigned char b1, unsigned char type, int ndims,
                        const uint32_t *dims, const uint8_t *data, size_t len) {
  idx_buf x = {{0}, 0};
  x.b[0] = b0;
  x.b[1] = b1;
  x.b[2] = type;
  x.b[3] = (unsigned char)ndims;
  x.len = 4;
  for (int i = 0; i < ndims; i++, x.len += 4) put_be32(x.b + x.len, dims[i]);
  CU_ASSERT_FATAL(x.len + len <= sizeof x.b);
  if (len) memcpy(x.b + x.len, data, len);
  x.len += len;
  return x;
}

/* 3 images of 2x4 with distinct pixels, and their labels. */
static uint8_t g_px[24];
static const uint8_t g_lb[3] = {2, 0, 9};
static const uint32_t g_imdims[3] = {3, 2, 4}, g_lbdims[1] = {3};

static idx_buf images_ok(void) { return make_idx(0, 0, 8, 3, g_imdims, g_px, sizeof g_px); }
static idx_buf labels_ok(void) { return make_idx(0, 0, 8, 1, g_lbdims, g_lb, sizeof g_lb); }

/* Asserts that reading images (or labels) from the bytes fails with TQ_EINPUT and a message
 * holding the path and every one of the given phrases. */
static void expect_bad(const char *name, const idx_buf *x, int gz, int labels, const char *p1,
                       const char *p2) {
  const char *path = write_file(name, x->b, x->len, gz);
  tq_idx got = {0};
  tq_err e = {0};
  tq_status s = labels ? tq_idx_read_labels(path, &got, &e) : tq_idx_read_images(path, &got, &e);
  CU_ASSERT_EQUAL(s, TQ_EINPUT);
  CU_ASSERT(strstr(e.msg, path) == e.msg); /* the message starts with the file */
  CU_ASSERT(strstr(e.msg, p1) != NULL);
  CU_ASSERT(!p2 || strstr(e.msg, p2) != NULL);
  CU_ASSERT(got.data == NULL);
  if (s != TQ_EINPUT || !strstr(e.msg, p1) || (p2 && !strstr(e.msg, p2)))
    fprintf(stderr, "\n  %s: got status %d, message: %s\n", name, s, e.msg);
  tq_idx_free(&got);
}

/* ---- reading good files ------------------------------------------------------------------ */

static void check_read_pair(int gz) {
  idx_buf im = images_ok(), lb = labels_ok();
  const char *ip = write_file(gz ? "ok-images.gz" : "ok-images", im.b, im.len, gz);
  const char *lp = write_file(gz ? "ok-labels.gz" : "ok-labels", lb.b, lb.len, gz);
  tq_err e = {0};
  tq_idx x = {0};
  TQ_ASSERT_OK(tq_idx_read_images(ip, &x, &e), &e);
  CU_ASSERT_EQUAL(x.ndims, 3);
  CU_ASSERT_EQUAL(x.dims[0], 3);
  CU_ASSERT_EQUAL(x.dims[1], 2);
  CU_ASSERT_EQUAL(x.dims[2], 4);
  CU_ASSERT_EQUAL(x.bytes, 24);
  CU_ASSERT(memcmp(x.data, g_px, 24) == 0);
  tq_idx_free(&x);
  TQ_ASSERT_OK(tq_idx_read_labels(lp, &x, &e), &e);
  CU_ASSERT_EQUAL(x.ndims, 1);
  CU_ASSERT_EQUAL(x.dims[0], 3);
  CU_ASSERT(memcmp(x.data, g_lb, 3) == 0);
  tq_idx_free(&x);
  tq_idx_free(&x); /* twice is harmless */

  tq_dataset ds;
  TQ_ASSERT_OK(tq_dataset_load(ip, lp, 10, &ds, &e), &e);
  CU_ASSERT_EQUAL(ds.n, 3);
  CU_ASSERT_EQUAL(ds.c, 1);
  CU_ASSERT_EQUAL(ds.h, 2);
  CU_ASSERT_EQUAL(ds.w, 4);
  CU_ASSERT_EQUAL(ds.classes, 10);
  CU_ASSERT_EQUAL(tq_dataset_image_size(&ds), 8);
  CU_ASSERT(memcmp(ds.pixels, g_px, 24) == 0);
  CU_ASSERT(memcmp(ds.labels, g_lb, 3) == 0);
  tq_dataset_free(&ds);
  CU_ASSERT(ds.pixels == NULL && ds.n == 0);
}

static void test_read_plain(void) { check_read_pair(0); }
static void test_read_gzip(void) { check_read_pair(1); }

/* ---- one test per kind of bad input ------------------------------------------------------ */

static void test_bad_magic(void) {
  idx_buf x = images_ok();
  x.b[0] = 0x12;
  x.b[1] = 0x34;
  expect_bad("badmagic", &x, 0, 0, "bad magic number 0x12340803", "not an IDX file");
  expect_bad("badmagic.gz", &x, 1, 0, "bad magic number", NULL);
  /* A gzip file gzipped again: the inner gzip header shows through; the message says so. */
  unsigned char gz2[] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0};
  idx_buf y = {{0}, 0};
  memcpy(y.b, gz2, sizeof gz2);
  y.len = sizeof gz2;
  expect_bad("double.gz", &y, 1, 0, "bad magic number 0x1F8B0800", "decompress once");
}

static void test_wrong_type(void) {
  idx_buf x = make_idx(0, 0, 0x0D, 3, g_imdims, g_px, sizeof g_px);
  expect_bad("float-images", &x, 0, 0, "type byte 0x0D (float32)", "only type 0x08");
  idx_buf y = make_idx(0, 0, 0x0C, 1, g_lbdims, g_lb, sizeof g_lb);
  expect_bad("int-labels.gz", &y, 1, 1, "type byte 0x0C (int32)", NULL);
}

static void test_wrong_dims(void) {
  uint32_t d2[2] = {3, 8};
  idx_buf x = make_idx(0, 0, 8, 2, d2, g_px, sizeof g_px);
  expect_bad("two-dims", &x, 0, 0, "says 2 dimensions", "need 3");
  /* A labels file given where images are expected, and the other way round. */
  idx_buf lb = labels_ok(), im = images_ok();
  expect_bad("labels-as-images.gz", &lb, 1, 0, "magic number 0x00000801 says 1 dimension",
             "expected magic 0x00000803");
  expect_bad("images-as-labels", &im, 0, 1, "says 3 dimensions", "expected magic 0x00000801");
}

static void test_zero_dims(void) {
  const uint32_t rows0[3] = {3, 0, 4}, n0[3] = {0, 2, 4}, l0[1] = {0};
  idx_buf x = make_idx(0, 0, 8, 3, rows0, NULL, 0);
  expect_bad("zero-rows", &x, 0, 0, "dimension 1 (row count) is zero", NULL);
  x = make_idx(0, 0, 8, 3, n0, NULL, 0);
  expect_bad("zero-count.gz", &x, 1, 0, "dimension 0 (item count) is zero", NULL);
  x = make_idx(0, 0, 8, 1, l0, NULL, 0);
  expect_bad("zero-labels", &x, 0, 1, "dimension 0 (item count) is zero", NULL);
}

static void test_truncated_header(void) {
  idx_buf x = images_ok();
  x.len = 3; /* not even the magic number */
  expect_bad("hdr3", &x, 0, 0, "truncated header", "holds 3 bytes");
  x.len = 0; /* empty file */
  expect_bad("empty.gz", &x, 1, 0, "truncated header", "holds 0 bytes");
  x.len = 10; /* magic, one dimension and a half */
  expect_bad("hdr10", &x, 0, 0, "truncated header: 16 bytes expected", "ends after 10");
  idx_buf l = labels_ok();
  l.len = 6;
  expect_bad("lhdr6.gz", &l, 1, 1, "truncated header: 8 bytes expected", "ends after 6");
}

static void test_truncated_data(void) {
  const uint32_t dims[3] = {5, 3, 3};
  uint8_t data[20] = {0};
  idx_buf x = make_idx(0, 0, 8, 3, dims, data, sizeof data);
  expect_bad("short", &x, 0, 0,
             "truncated: header promises 5 images of 3x3 (45 bytes) but only 20 were read", NULL);
  expect_bad("short.gz", &x, 1, 0, "but only 20 were read", NULL);
  idx_buf l = labels_ok();
  l.len -= 1;
  expect_bad("lshort", &l, 0, 1,
             "truncated: header promises 3 labels (3 bytes) but only 2 were read", NULL);

  /* A gzip file cut short (the compressed stream itself ends early). */
  idx_buf im = images_ok();
  const char *full = write_file("cut-src.gz", im.b, im.len, 1);
  FILE *f = fopen(full, "rb");
  CU_ASSERT_FATAL(f != NULL);
  unsigned char raw[4096];
  size_t n = fread(raw, 1, sizeof raw, f);
  fclose(f);
  CU_ASSERT_FATAL(n > 30);
  idx_buf cut = {{0}, 0};
  memcpy(cut.b, raw, n - 12); /* drop the 8-byte trailer and some deflate data */
  cut.len = n - 12;
  expect_bad("cut.gz", &cut, 0, 0, "truncated", "the gzip stream ends early");
}

static void test_trailing_data(void) {
  idx_buf x = images_ok();
  x.b[x.len++] = 0xAB;
  x.b[x.len++] = 0xCD;
  expect_bad("trailing", &x, 0, 0, "trailing data: 2 bytes follow the 3 images of 2x4 (24 bytes)",
             NULL);
  idx_buf l = labels_ok();
  l.b[l.len++] = 1;
  expect_bad("ltrailing.gz", &l, 1, 1, "trailing data: 1 bytes follow the 3 labels", NULL);
}

static void test_corrupt_gzip(void) {
  idx_buf x = {{0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff}, 15};
  expect_bad("corrupt.gz", &x, 0, 0, "corrupt gzip data", NULL);
}

static void test_absurd_sizes(void) {
  /* Each would need > 2^31 bytes; the reader must refuse before allocating. */
  const uint32_t huge[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
  idx_buf x = make_idx(0, 0, 8, 3, huge, NULL, 0);
  expect_bad("huge-sides", &x, 0, 0, "row count 4294967295 exceeds the limit", NULL);
  const uint32_t many[3] = {0x80000000u, 28, 28};
  x = make_idx(0, 0, 8, 3, many, NULL, 0);
  expect_bad("huge-count.gz", &x, 1, 0, "promises 2147483648 images of 28x28",
             "limit of 2147483648 bytes");
  const uint32_t big[3] = {40000000, 16384, 16384}; /* overflows 64 bits if multiplied */
  x = make_idx(0, 0, 8, 3, big, NULL, 0);
  expect_bad("huge-product", &x, 0, 0, "limit of 2147483648 bytes", NULL);
  const uint32_t lhuge[1] = {0xFFFFFFFFu};
  x = make_idx(0, 0, 8, 1, lhuge, NULL, 0);
  expect_bad("huge-labels", &x, 0, 1, "promises 4294967295 labels", "limit");
}

static void test_missing_file(void) {
  char path[600];
  snprintf(path, sizeof path, "%s/no-such-file.gz", g_dir);
  tq_idx x = {0};
  tq_err e = {0};
  CU_ASSERT_EQUAL(tq_idx_read_images(path, &x, &e), TQ_EINPUT);
  CU_ASSERT(strstr(e.msg, path) == e.msg);
  CU_ASSERT(strstr(e.msg, "cannot open: No such file or directory") != NULL);
  /* Through the dataset loader, a missing labels file is named too. */
  idx_buf im = images_ok();
  const char *ip = write_file("lonely-images", im.b, im.len, 0);
  tq_dataset ds;
  tq_err e2 = {0};
  CU_ASSERT_EQUAL(tq_dataset_load(ip, path, 10, &ds, &e2), TQ_EINPUT);
  CU_ASSERT(strstr(e2.msg, path) == e2.msg);
  CU_ASSERT(ds.pixels == NULL);
}

static void test_count_mismatch(void) {
  idx_buf im = images_ok();
  const uint32_t two[1] = {2};
  idx_buf lb = make_idx(0, 0, 8, 1, two, g_lb, 2);
  const char *ip = write_file("mm-images.gz", im.b, im.len, 1);
  const char *lp = write_file("mm-labels.gz", lb.b, lb.len, 1);
  tq_dataset ds;
  tq_err e = {0};
  CU_ASSERT_EQUAL(tq_dataset_load(ip, lp, 10, &ds, &e), TQ_EINPUT);
  CU_ASSERT(strstr(e.msg, "count mismatch") != NULL);
  CU_ASSERT(strstr(e.msg, ip) != NULL);
  CU_ASSERT(strstr(e.msg, lp) != NULL);
  CU_ASSERT(strstr(e.msg, "3 images") != NULL);
  CU_ASSERT(strstr(e.msg, "2 labels") != NULL);
  CU_ASSERT(ds.pixels == NULL && ds.labels == NULL);
}

static void test_label_out_of_range(void) {
  idx_buf im = images_ok(), lb = labels_ok(); /* labels 2, 0, 9 */
  const char *ip = write_file("lr-images", im.b, im.len, 0);
  const char *lp = write_file("lr-labels", lb.b, lb.len, 0);
  tq_dataset ds;
  tq_err e = {0};
  CU_ASSERT_EQUAL(tq_dataset_load(ip, lp, 9, &ds, &e), TQ_EINPUT);
  CU_ASSERT(strstr(e.msg, lp) == e.msg);
  CU_ASSERT(strstr(e.msg, "label 9 at index 2 is not below the class count 9") != NULL);
  CU_ASSERT(ds.pixels == NULL);
  tq_err e2 = {0};
  CU_ASSERT_EQUAL(tq_dataset_load(ip, lp, 0, &ds, &e2), TQ_EINPUT);
  CU_ASSERT(strstr(e2.msg, "class count 0") != NULL);
  tq_err e3 = {0};
  TQ_ASSERT_OK(tq_dataset_load(ip, lp, 10, &ds, &e3), &e3);
  tq_dataset_free(&ds);
}

/* ---- statistics and batches -------------------------------------------------------------- */

/* A dataset owned by the test (freed with tq_dataset_free). */
static tq_dataset make_ds(uint32_t n, uint32_t h, uint32_t w, uint32_t classes, uint64_t seed) {
  tq_dataset d = {.n = n, .c = 1, .h = h, .w = w, .classes = classes};
  d.pixels = malloc((size_t)n * h * w);
  d.labels = malloc(n ? n : 1);
  CU_ASSERT_FATAL(d.pixels && d.labels);
  tq_test_rng r = {seed};
  for (size_t i = 0; i < (size_t)n * h * w; i++) d.pixels[i] = (uint8_t)(tq_test_uniform(&r) * 256);
  for (uint32_t i = 0; i < n; i++) d.labels[i] = (uint8_t)(tq_test_uniform(&r) * classes);
  return d;
}

static void test_pixel_stats(void) {
  /* Half 0, half 255: mean 0.5, std 0.5 exactly. */
  tq_dataset d = make_ds(2, 1, 2, 2, 1);
  const uint8_t v[4] = {0, 255, 255, 0};
  memcpy(d.pixels, v, 4);
  double m, s;
  tq_dataset_pixel_stats(&d, &m, &s);
  CU_ASSERT_DOUBLE_EQUAL(m, 0.5, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(s, 0.5, 1e-15);
  /* {0, 51, 102, 153}/255 = {0, .2, .4, .6}: mean .3, population std sqrt(.05). */
  const uint8_t q[4] = {0, 51, 102, 153};
  memcpy(d.pixels, q, 4);
  tq_dataset_pixel_stats(&d, &m, &s);
  CU_ASSERT_DOUBLE_EQUAL(m, 0.3, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL(s, sqrt(0.05), 1e-15);
  tq_dataset_free(&d);

  /* Random data against a two-pass reference. */
  d = make_ds(50, 7, 9, 3, 77);
  size_t t = 50 * 7 * 9;
  double mean = 0, var = 0;
  for (size_t i = 0; i < t; i++) mean += d.pixels[i] / 255.0;
  mean /= (double)t;
  for (size_t i = 0; i < t; i++) var += (d.pixels[i] / 255.0 - mean) * (d.pixels[i] / 255.0 - mean);
  tq_norm nm;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_norm_from_dataset(&d, "random", &nm, &e), &e);
  CU_ASSERT_DOUBLE_EQUAL(nm.mean, mean, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(nm.std, sqrt(var / (double)t), 1e-12);

  /* Constant images cannot be normalised; nonsense user values are refused. */
  memset(d.pixels, 7, t);
  tq_err e2 = {0};
  CU_ASSERT_EQUAL(tq_norm_from_dataset(&d, "flat.idx", &nm, &e2), TQ_EINPUT);
  CU_ASSERT(strstr(e2.msg, "flat.idx") != NULL && strstr(e2.msg, "zero") != NULL);
  tq_err e3 = {0};
  CU_ASSERT_EQUAL(tq_norm_check((tq_norm){.mean = 0.1, .std = 0.0}, "config data.std", &e3), TQ_EINPUT);
  CU_ASSERT(strstr(e3.msg, "config data.std") != NULL);
  tq_err e4 = {0};
  CU_ASSERT_EQUAL(tq_norm_check((tq_norm){.mean = NAN, .std = 1.0}, "config data.mean", &e4), TQ_EINPUT);
  TQ_ASSERT_OK(tq_norm_check((tq_norm){.mean = 0.2860, .std = 0.3530}, "fashion", &e), &e);
  tq_dataset_free(&d);
}

static void test_fill_batch(void) {
  tq_dataset d = make_ds(3, 2, 4, 10, 5);
  memcpy(d.pixels, g_px, 24);
  memcpy(d.labels, g_lb, 3);
  const uint32_t idx[4] = {2, 0, 2, 1};
  float x[4 * 8];
  int32_t y[4];
  tq_norm nm = {.mean = 0.25, .std = 0.5};
  tq_err e = {0};
  TQ_ASSERT_OK(tq_dataset_fill_batch(&d, idx, 4, nm, x, y, &e), &e);
  for (int b = 0; b < 4; b++) {
    CU_ASSERT_EQUAL(y[b], g_lb[idx[b]]);
    for (int i = 0; i < 8; i++) {
      /* By hand: the pixel scaled to [0,1], minus the mean, over the std. */
      double want = ((double)g_px[idx[b] * 8 + i] / 255.0 - 0.25) / 0.5;
      CU_ASSERT_DOUBLE_EQUAL(x[b * 8 + i], want, 1e-6);
    }
  }
  /* Two spot values written out: pixel 0 -> -0.5, pixel 255 -> 1.5. */
  d.pixels[8] = 0;
  d.pixels[9] = 255;
  const uint32_t one = 1;
  TQ_ASSERT_OK(tq_dataset_fill_batch(&d, &one, 1, nm, x, NULL, &e), &e);
  CU_ASSERT_EQUAL(x[0], -0.5f);
  CU_ASSERT_EQUAL(x[1], 1.5f);
  /* An index beyond the dataset is a caller bug, caught before writing. */
  const uint32_t bad[2] = {0, 3};
  x[0] = 123.0f;
  tq_err e2 = {0};
  CU_ASSERT_EQUAL(tq_dataset_fill_batch(&d, bad, 2, nm, x, y, &e2), TQ_EINTERNAL);
  CU_ASSERT(strstr(e2.msg, "batch index 1 is 3") != NULL);
  CU_ASSERT_EQUAL(x[0], 123.0f);
  tq_dataset_free(&d);
}

/* ---- shuffle ----------------------------------------------------------------------------- */

static int is_perm(const uint32_t *p, uint32_t n) {
  char *seen = calloc(n ? n : 1, 1);
  int ok = 1;
  for (uint32_t i = 0; i < n && ok; i++) {
    if (p[i] >= n || seen[p[i]]) ok = 0;
    else seen[p[i]] = 1;
  }
  free(seen);
  return ok;
}

static void test_shuffle(void) {
  enum { N = 10007 };
  uint32_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *c = malloc(N * sizeof *c);
  tq_shuffle_perm(a, N, 42, 3);
  tq_shuffle_perm(b, N, 42, 3);
  CU_ASSERT(is_perm(a, N));
  CU_ASSERT(memcmp(a, b, N * sizeof *a) == 0); /* deterministic */
  tq_shuffle_perm(c, N, 42, 4);
  CU_ASSERT(is_perm(c, N));
  CU_ASSERT(memcmp(a, c, N * sizeof *a) != 0); /* another epoch, another order */
  tq_shuffle_perm(c, N, 43, 3);
  CU_ASSERT(memcmp(a, c, N * sizeof *a) != 0); /* another seed, another order */
  int fixed = 0;
  for (uint32_t i = 0; i < N; i++) fixed += a[i] == i;
  CU_ASSERT(fixed < 10); /* a shuffle, not the identity (expected ~1 fixed point) */

  /* The documented stream: the first swap exchanges position N-1 with j drawn from
   * tq_rng_draw(seed, 0, epoch, 0, TQ_RNG_SHUFFLE, N-1) by multiply-shift. */
  uint32_t r = tq_rng_draw(42, 0, 3, 0, TQ_RNG_SHUFFLE, N - 1);
  uint64_t m = (uint64_t)r * N;
  if ((uint32_t)m >= (uint32_t)(-(uint32_t)N) % N)
    CU_ASSERT_EQUAL(tq_shuffle_bounded(42, 0, 3, N - 1, N), (uint32_t)(m >> 32));

  /* In place on an arbitrary list: still the same elements. */
  for (uint32_t i = 0; i < N; i++) b[i] = 3 * i + 1;
  tq_shuffle_in_place(b, N, 9, 2, 0);
  long long sum = 0;
  for (uint32_t i = 0; i < N; i++) sum += b[i];
  CU_ASSERT_EQUAL(sum, 3LL * N * (N - 1) / 2 + N);

  /* Edge sizes. */
  tq_shuffle_perm(a, 0, 1, 0);
  tq_shuffle_perm(a, 1, 1, 0);
  CU_ASSERT_EQUAL(a[0], 0);

  /* Every small permutation position is reachable and roughly uniform: the element that
   * lands in position 0 of a 5-shuffle, over 50000 epochs, has 5 near-equal counts. */
  int count[5] = {0};
  for (uint32_t ep = 0; ep < 50000; ep++) {
    tq_shuffle_perm(a, 5, 7, ep);
    count[a[0]]++;
  }
  double chi2 = 0;
  for (int k = 0; k < 5; k++) chi2 += (count[k] - 10000.0) * (count[k] - 10000.0) / 10000.0;
  CU_ASSERT(chi2 < 20.0); /* 4 degrees of freedom: p < 0.001 at 18.5 */

  /* Bounded draws with a bound near 2^32 stay in range (rejection path exercised). */
  for (uint32_t i = 0; i < 1000; i++) CU_ASSERT(tq_shuffle_bounded(1, 0, 0, i, 0xC0000000u) < 0xC0000000u);
  free(a);
  free(b);
  free(c);
}

/* ---- shards ------------------------------------------------------------------------------ */

/* Disjoint, covering, sorted; returns the largest minus the smallest shard size. */
static size_t check_partition(const tq_dataset *d, const tq_shards *s) {
  char *seen = calloc(d->n, 1);
  size_t total = 0, lo = (size_t)-1, hi = 0;
  int ok = 1;
  for (uint32_t w = 0; w < s->workers; w++) {
    size_t cnt;
    const uint32_t *l = tq_shard_list(s, w, &cnt);
    total += cnt;
    if (cnt < lo) lo = cnt;
    if (cnt > hi) hi = cnt;
    for (size_t i = 0; i < cnt; i++) {
      if (l[i] >= d->n || seen[l[i]]) ok = 0;
      else seen[l[i]] = 1;
      if (i > 0 && l[i] <= l[i - 1]) ok = 0;
    }
  }
  CU_ASSERT(ok);
  CU_ASSERT_EQUAL(total, d->n);
  free(seen);
  return hi - lo;
}

static void test_shard_iid(void) {
  tq_dataset d = make_ds(1003, 1, 1, 10, 11);
  tq_err e = {0};
  for (uint32_t w = 1; w <= 8; w++) {
    tq_shards s;
    TQ_ASSERT_OK(tq_shard(&d, TQ_PARTITION_IID, w, 0, 5, &s, &e), &e);
    CU_ASSERT_EQUAL(s.workers, w);
    CU_ASSERT(check_partition(&d, &s) <= 1);
    tq_shards t;
    TQ_ASSERT_OK(tq_shard(&d, TQ_PARTITION_IID, w, 0, 5, &t, &e), &e);
    CU_ASSERT(memcmp(s.index, t.index, d.n * sizeof *s.index) == 0); /* deterministic */
    tq_shards_free(&t);
    if (w == 4) { /* a shuffle: shard 0 is not simply the first quarter */
      size_t cnt;
      const uint32_t *l = tq_shard_list(&s, 0, &cnt);
      CU_ASSERT(l[cnt - 1] > d.n / 2);
    }
    tq_shards_free(&s);
  }
  tq_shards s;
  tq_err e2 = {0};
  CU_ASSERT_EQUAL(tq_shard(&d, TQ_PARTITION_IID, 1004, 0, 5, &s, &e2), TQ_EINPUT);
  CU_ASSERT(strstr(e2.msg, "1004 workers but only 1003 images") != NULL);
  tq_err e3 = {0};
  CU_ASSERT_EQUAL(tq_shard(&d, TQ_PARTITION_IID, 0, 0, 5, &s, &e3), TQ_EINPUT);
  CU_ASSERT(s.index == NULL);
  tq_dataset_free(&d);
}

static int classes_of(const tq_dataset *d, const uint32_t *l, size_t cnt) {
  int seen[256] = {0}, k = 0;
  for (size_t i = 0; i < cnt; i++)
    if (!seen[d->labels[l[i]]]++) k++;
  return k;
}

static void test_shard_label_skew(void) {
  tq_dataset d = make_ds(2000, 1, 1, 10, 13);
  tq_err e = {0};
  const uint32_t cases[][2] = {{5, 2}, {8, 2}, {2, 5}, {10, 1}, {3, 4}, {4, 10}, {1, 10}};
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
    uint32_t w = cases[t][0], k = cases[t][1];
    tq_shards s;
    TQ_ASSERT_OK(tq_shard(&d, TQ_PARTITION_LABEL_SKEW, w, k, 3, &s, &e), &e);
    check_partition(&d, &s);
    for (uint32_t i = 0; i < w; i++) {
      size_t cnt;
      const uint32_t *l = tq_shard_list(&s, i, &cnt);
      CU_ASSERT_EQUAL(classes_of(&d, l, cnt), (int)k);
      /* The documented rule: worker i holds classes (i*k + j) mod 10. */
      for (size_t x = 0; x < cnt; x++) {
        uint32_t off = (d.labels[l[x]] + 10 - (i * k) % 10) % 10;
        CU_ASSERT(off < k);
      }
    }
    tq_shards_free(&s);
  }
  /* 5 workers x 2: worker w gets exactly all images of classes 2w and 2w+1. */
  tq_shards s;
  TQ_ASSERT_OK(tq_shard(&d, TQ_PARTITION_LABEL_SKEW, 5, 2, 3, &s, &e), &e);
  size_t per_class[10] = {0};
  for (uint32_t i = 0; i < d.n; i++) per_class[d.labels[i]]++;
  for (uint32_t w = 0; w < 5; w++) {
    size_t cnt;
    tq_shard_list(&s, w, &cnt);
    CU_ASSERT_EQUAL(cnt, per_class[2 * w] + per_class[2 * w + 1]);
  }
  tq_shards_free(&s);

  /* Impossible requests, each named. */
  tq_err e1 = {0}, e2 = {0}, e3 = {0};
  CU_ASSERT_EQUAL(tq_shard(&d, TQ_PARTITION_LABEL_SKEW, 4, 2, 3, &s, &e1), TQ_EINPUT);
  CU_ASSERT(strstr(e1.msg, "4 workers x 2 classes each = 8 < 10") != NULL);
  CU_ASSERT_EQUAL(tq_shard(&d, TQ_PARTITION_LABEL_SKEW, 4, 11, 3, &s, &e2), TQ_EINPUT);
  CU_ASSERT(strstr(e2.msg, "11 classes per worker") != NULL);
  CU_ASSERT_EQUAL(tq_shard(&d, TQ_PARTITION_LABEL_SKEW, 4, 0, 3, &s, &e3), TQ_EINPUT);
  /* A class too small for its holders. */
  tq_dataset small = make_ds(12, 1, 1, 3, 1);
  const uint8_t lab[12] = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2};
  memcpy(small.labels, lab, 12);
  tq_err e4 = {0};
  CU_ASSERT_EQUAL(tq_shard(&small, TQ_PARTITION_LABEL_SKEW, 9, 1, 3, &s, &e4), TQ_EINPUT);
  CU_ASSERT(strstr(e4.msg, "class 2 has 2 images but 3 workers share it") != NULL);
  tq_dataset_free(&small);

  tq_partition p;
  TQ_ASSERT_OK(tq_partition_parse("label_skew", "cfg", &p, &e), &e);
  CU_ASSERT_EQUAL(p, TQ_PARTITION_LABEL_SKEW);
  TQ_ASSERT_OK(tq_partition_parse("iid", "cfg", &p, &e), &e);
  CU_ASSERT_EQUAL(p, TQ_PARTITION_IID);
  tq_err e5 = {0};
  CU_ASSERT_EQUAL(tq_partition_parse("dirichlet", "run.cfg data.partition", &p, &e5), TQ_EINPUT);
  CU_ASSERT(strstr(e5.msg, "run.cfg data.partition") && strstr(e5.msg, "\"dirichlet\""));
  tq_dataset_free(&d);
}

/* ---- the real data ----------------------------------------------------------------------- */

static void test_fashion_mnist(void) {
  if (access(TQ_FASHION_MNIST_TRAIN_IMAGES, R_OK) != 0 ||
      access(TQ_FASHION_MNIST_TRAIN_LABELS, R_OK) != 0 ||
      access(TQ_FASHION_MNIST_TEST_IMAGES, R_OK) != 0 ||
      access(TQ_FASHION_MNIST_TEST_LABELS, R_OK) != 0) {
    printf("\n  note: %s not installed (Debian package dataset-fashion-mnist): skipped ",
           TQ_FASHION_MNIST_DIR);
    return;
  }
  tq_dataset tr, te;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_dataset_load(TQ_FASHION_MNIST_TRAIN_IMAGES, TQ_FASHION_MNIST_TRAIN_LABELS,
                               TQ_FASHION_MNIST_CLASSES, &tr, &e), &e);
  TQ_ASSERT_OK(tq_dataset_load(TQ_FASHION_MNIST_TEST_IMAGES, TQ_FASHION_MNIST_TEST_LABELS,
                               TQ_FASHION_MNIST_CLASSES, &te, &e), &e);
  CU_ASSERT_EQUAL(tr.n, 60000);
  CU_ASSERT_EQUAL(te.n, 10000);
  CU_ASSERT(tr.c == 1 && tr.h == 28 && tr.w == 28);
  CU_ASSERT(te.c == 1 && te.h == 28 && te.w == 28);
  /* Fashion-MNIST is balanced: 6000 and 1000 images of each class. */
  size_t ctr[10] = {0}, cte[10] = {0};
  for (uint32_t i = 0; i < tr.n; i++) ctr[tr.labels[i]]++;
  for (uint32_t i = 0; i < te.n; i++) cte[te.labels[i]]++;
  for (int c = 0; c < 10; c++) {
    CU_ASSERT_EQUAL(ctr[c], 6000);
    CU_ASSERT_EQUAL(cte[c], 1000);
  }
  tq_norm nm;
  TQ_ASSERT_OK(tq_norm_from_dataset(&tr, TQ_FASHION_MNIST_TRAIN_IMAGES, &nm, &e), &e);
  printf("\n  fashion-mnist train: mean %.6f std %.6f ", nm.mean, nm.std);
  CU_ASSERT_DOUBLE_EQUAL(nm.mean, 0.2860, 1e-3);
  CU_ASSERT_DOUBLE_EQUAL(nm.std, 0.3530, 1e-3);
  /* A normalised batch has about zero mean and unit variance. */
  uint32_t idx[256];
  tq_shuffle_perm(idx, 256, 1, 0);
  float *x = malloc(256 * 784 * sizeof *x);
  int32_t y[256];
  TQ_ASSERT_OK(tq_dataset_fill_batch(&tr, idx, 256, nm, x, y, &e), &e);
  double s = 0, q = 0;
  for (int i = 0; i < 256 * 784; i++) {
    s += x[i];
    q += (double)x[i] * x[i];
  }
  s /= 256 * 784;
  CU_ASSERT(fabs(s) < 0.1);
  CU_ASSERT(fabs(q / (256 * 784) - s * s - 1.0) < 0.15);
  for (int i = 0; i < 256; i++) CU_ASSERT(y[i] >= 0 && y[i] < 10);
  free(x);
  /* Label skew on the real labels: 5 workers x 2 classes is 12000 images each. */
  tq_shards sh;
  TQ_ASSERT_OK(tq_shard(&tr, TQ_PARTITION_LABEL_SKEW, 5, 2, 1, &sh, &e), &e);
  for (uint32_t w = 0; w < 5; w++) {
    size_t cnt;
    tq_shard_list(&sh, w, &cnt);
    CU_ASSERT_EQUAL(cnt, 12000);
  }
  tq_shards_free(&sh);
  tq_dataset_free(&tr);
  tq_dataset_free(&te);
}

int main(void) {
  for (int i = 0; i < 24; i++) g_px[i] = (uint8_t)(i * 11 + 3);
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return 1;
  }
  atexit(cleanup_files);
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case idx_cases[] = {
      {"read plain idx3/idx1 exactly", test_read_plain},
      {"read gzipped idx3/idx1 exactly", test_read_gzip},
      {"bad magic", test_bad_magic},
      {"wrong type byte", test_wrong_type},
      {"wrong number of dimensions", test_wrong_dims},
      {"zero dimension", test_zero_dims},
      {"truncated header", test_truncated_header},
      {"truncated data", test_truncated_data},
      {"trailing data rejected", test_trailing_data},
      {"corrupt gzip stream", test_corrupt_gzip},
      {"absurd sizes refused before allocating", test_absurd_sizes},
      {"missing file", test_missing_file},
      {"image/label count mismatch", test_count_mismatch},
      {"label >= classes", test_label_out_of_range},
      {NULL, NULL}};
  static const tq_test_case ds_cases[] = {
      {"pixel mean/std", test_pixel_stats},
      {"batch fill", test_fill_batch},
      {"shuffle: permutation, deterministic, uniform", test_shuffle},
      {"iid shards", test_shard_iid},
      {"label_skew shards", test_shard_label_skew},
      {"real Fashion-MNIST (skipped if absent)", test_fashion_mnist},
      {NULL, NULL}};
  tq_test_add_suite("idx files", idx_cases);
  tq_test_add_suite("dataset", ds_cases);
  return tq_test_run();
}
