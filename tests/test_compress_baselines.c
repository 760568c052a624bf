/* The baselines efsign (EF-signSGD) and topk (top-k with error feedback), docs/math.md §16: the
 * device compressor against tq_ref_compress, byte for byte (messages, residuals, decode-
 * accumulate) at several sizes, buckets and widths, including n not a multiple of 32, tensors
 * at min_elems, all zeros, ties in |x| and values near FLT_MAX; K against the bit budget; the
 * exact MSE; and the wire parser's rejection of each malformed field of a sparse message. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/compressor.h"
#include "compress/quant_ref.h"
#include "test_support.h"

#define MIN_ELEMS 64u
#define OFF 3 /* the tensor is not aligned in the flat buffer */

enum { G_RANDOM, G_ZERO, G_TIES, G_HUGE };

static void make_grad(float *g, size_t n, uint64_t seed, int kind) {
  tq_test_rng r = {seed};
  for (size_t i = 0; i < n; i++) {
    double u = tq_test_uniform(&r), v;
    if (kind == G_ZERO) v = 0;
    else if (kind == G_TIES) v = (double)((i * 7 + seed) % 4) * 0.25; /* four magnitudes */
    else if (tq_test_uniform(&r) < 0.05) v = 0.02 * pow(1 - u, -1 / 2.5);
    else v = -0.01 * log(1 - u);
    if (kind == G_RANDOM && i % 5 == 0) v = 0;
    if (kind == G_RANDOM && i % 997 == 1) v = 1e-12;
    /* sums of |x| overflow float; three iterations of g + r do not */
    if (kind == G_HUGE && i % 3 == 0) v = 1e38;
    g[i] = (float)(tq_test_uniform(&r) < 0.5 ? v : -v);
  }
}

static tq_compress_cfg base_cfg(tq_method m, int bits, uint32_t bucket) {
  tq_compress_cfg c;
  tq_compress_cfg_default(&c);
  c.method = m;
  c.bits = bits;
  c.bucket = bucket;
  c.error_feedback = true;
  c.min_elems = MIN_ELEMS;
  c.seed = 77;
  return c;
}

/* Three iterations of one tensor of n elements: device message == reference message, device
 * residual == reference residual, device decode-accumulate == reference. Returns mismatches. */
static int run_pair(tq_method m, int bits, uint32_t bucket, size_t n, int kind) {
  tq_cl *cl = tq_test_cl();
  tq_err e = {0};
  tq_compress_cfg cfg = base_cfg(m, bits, bucket);
  tq_tensor_desc t = {OFF, n};
  tq_compressor *c = NULL;
  tq_decoder *d = NULL;
  TQ_ASSERT_OK(tq_compressor_create(cl, &cfg, 5, &t, 1, &c, &e), &e);
  TQ_ASSERT_OK(tq_decoder_create(cl, &t, 1, &d, &e), &e);
  size_t total = n + OFF + 2;
  float *g = calloc(total, 4), *res = calloc(n, 4), *dres = malloc(4 * n);
  float *out = malloc(4 * total), *ref_out = malloc(4 * total);
  cl_mem gb = NULL, ob = NULL;
  TQ_ASSERT_OK(tq_cl_alloc(cl, 4 * total, &gb, &e), &e);
  TQ_ASSERT_OK(tq_cl_alloc(cl, 4 * total, &ob, &e), &e);
  for (size_t i = 0; i < total; i++) ref_out[i] = (float)i * 1e-3f;
  TQ_ASSERT_OK(tq_cl_write(cl, ob, 0, 4 * total, ref_out, &e), &e);
  tq_buf dm = {0}, rm = {0};
  int bad = 0;
  for (uint32_t it = 0; it < 3; it++) {
    make_grad(g + OFF, n, 1000u * (uint32_t)n + it, kind);
    TQ_ASSERT_OK(tq_cl_write(cl, gb, 0, 4 * total, g, &e), &e);
    TQ_ASSERT_OK(tq_compressor_encode(c, gb, it, 0, &dm, NULL, &e), &e);
    TQ_ASSERT_OK(tq_ref_compress(&cfg, g + OFF, n, res, 5, it, 0, &rm, NULL, &e), &e);
    bad += dm.len != rm.len || memcmp(dm.data, rm.data, rm.len) != 0;
    TQ_ASSERT_OK(tq_compressor_residual(c, 0, dres, &e), &e);
    if (n >= MIN_ELEMS) bad += memcmp(dres, res, 4 * n) != 0;
    tq_wire_msg msg;
    TQ_ASSERT_OK(tq_wire_parse(rm.data, rm.len, 0, (uint32_t)n, &msg, &e), &e);
    tq_ref_decode_accumulate(&msg, 0.5f, ref_out + OFF);
    TQ_ASSERT_OK(tq_decoder_accumulate(d, dm.data, dm.len, 0, 0.5f, ob, NULL, &e), &e);
  }
  TQ_ASSERT_OK(tq_cl_read(cl, ob, 0, 4 * total, out, &e), &e);
  bad += memcmp(out, ref_out, 4 * total) != 0;
  if (bad)
    fprintf(stderr, "%s b%d bucket %u n %zu kind %d: %d mismatches\n", tq_method_name(m), bits,
            bucket, n, kind, bad);
  tq_buf_free(&dm);
  tq_buf_free(&rm);
  tq_cl_release(&gb);
  tq_cl_release(&ob);
  tq_decoder_free(d);
  tq_compressor_free(c);
  free(g), free(res), free(dres), free(out), free(ref_out);
  return bad;
}

/* The last is 20011 under TQ_TEST_SMALL (an interpreting device such as Oclgrind). */
static size_t g_sizes[] = {MIN_ELEMS - 1, MIN_ELEMS, MIN_ELEMS + 1, 1000, 1031, 4099, 100003};
#define NSIZES (sizeof g_sizes / sizeof g_sizes[0])

static void test_efsign_device(void) {
  const uint32_t buckets[] = {512, 0, 7, 100};
  for (size_t s = 0; s < NSIZES; s++)
    for (int b = 0; b < 4; b++)
      CU_ASSERT_EQUAL(run_pair(TQ_METHOD_EFSIGN, 1, buckets[b], g_sizes[s], G_RANDOM), 0);
}

static void test_topk_device(void) {
  const int widths[] = {1, 3, 8};
  for (size_t s = 0; s < NSIZES; s++)
    for (int b = 0; b < 3; b++)
      CU_ASSERT_EQUAL(run_pair(TQ_METHOD_TOPK, widths[b], 0, g_sizes[s], G_RANDOM), 0);
}

/* All zeros, ties in |x|, and values whose sums overflow float. */
static void test_special_tensors(void) {
  const int kinds[] = {G_ZERO, G_TIES, G_HUGE};
  for (int k = 0; k < 3; k++) {
    CU_ASSERT_EQUAL(run_pair(TQ_METHOD_EFSIGN, 1, 512, 4099, kinds[k]), 0);
    CU_ASSERT_EQUAL(run_pair(TQ_METHOD_EFSIGN, 1, 0, 1031, kinds[k]), 0);
    CU_ASSERT_EQUAL(run_pair(TQ_METHOD_TOPK, 2, 0, 4099, kinds[k]), 0);
    CU_ASSERT_EQUAL(run_pair(TQ_METHOD_TOPK, 8, 0, 1031, kinds[k]), 0);
  }
}

static tq_wire_msg ref_msg(tq_method m, int bits, const float *x, size_t n, tq_buf *buf) {
  tq_err e = {0};
  tq_compress_cfg cfg = base_cfg(m, bits, 512);
  tq_wire_msg msg;
  TQ_ASSERT_OK(tq_ref_compress(&cfg, x, n, NULL, 0, 0, 0, buf, NULL, &e), &e);
  TQ_ASSERT_OK(tq_wire_parse(buf->data, buf->len, 0, (uint32_t)n, &msg, &e), &e);
  return msg;
}

/* The test's own definition of the order: a full qsort. */
typedef struct tpair {
  uint32_t i;
  float v;
} tpair;
static int by_definition(const void *pa, const void *pb) {
  const tpair *a = pa, *b = pb;
  float x = fabsf(a->v), y = fabsf(b->v);
  if (x != y) return x > y ? -1 : 1;
  return a->i < b->i ? -1 : 1;
}
static int by_idx(const void *pa, const void *pb) {
  const tpair *a = pa, *b = pb;
  return a->i < b->i ? -1 : (a->i > b->i);
}

/* tq_ref_topk (quickselect, then an index sort) against a full sort, on random data, ties and
 * zeros, for k from 0 to n. */
static void test_topk_against_sort(void) {
  enum { N = 4099 };
  static float x[N];
  static tpair p[N];
  static uint32_t idx[N];
  static float val[N];
  tq_err e = {0};
  const int kinds[] = {G_RANDOM, G_TIES, G_ZERO};
  const uint32_t ks[] = {0, 1, 2, 63, 500, 2048, N - 1, N};
  for (int kd = 0; kd < 3; kd++) {
    make_grad(x, N, 21 + (uint64_t)kd, kinds[kd]);
    for (int j = 0; j < 8; j++) {
      uint32_t k = ks[j];
      for (uint32_t i = 0; i < N; i++) p[i] = (tpair){i, x[i]};
      qsort(p, N, sizeof *p, by_definition);
      qsort(p, k, sizeof *p, by_idx);
      TQ_ASSERT_OK(tq_ref_topk(x, N, k, idx, val, &e), &e);
      int bad = 0;
      for (uint32_t t = 0; t < k; t++) bad += idx[t] != p[t].i || memcmp(&val[t], &p[t].v, 4);
      CU_ASSERT_EQUAL(bad, 0);
    }
  }
}

/* Ties go to the lower index; the K sent are the largest |x|; K = floor(b n / 64) and the bits
 * are counted honestly. */
static void test_topk_selection(void) {
  enum { N = 1000 };
  float x[N];
  for (int i = 0; i < N; i++) x[i] = (i % 2) ? -1.0f : 1.0f;
  x[700] = 2.0f;
  x[900] = -3.0f;
  tq_buf buf = {0};
  tq_wire_msg m = ref_msg(TQ_METHOD_TOPK, 1, x, N, &buf);
  CU_ASSERT_EQUAL(m.h.k, 15u); /* floor((1000 - 32) / 64) */
  CU_ASSERT_EQUAL(m.h.bucket, 0u);
  uint32_t idx[15];
  memcpy(idx, m.payload, sizeof idx);
  for (int j = 0; j < 13; j++) CU_ASSERT_EQUAL(idx[j], (uint32_t)j);
  CU_ASSERT_EQUAL(idx[13], 700u);
  CU_ASSERT_EQUAL(idx[14], 900u);
  CU_ASSERT_EQUAL(tq_wire_f32(m.payload + 60, 14), -3.0f);
  for (int b = 1; b <= 8; b++) {
    for (size_t n = 64; n < 5000; n = n * 3 + 1) {
      tq_wire_hdr h = {.method = TQ_METHOD_TOPK, .bits = b, .count = (uint32_t)n};
      h.k = tq_sparse_k(n, b);
      tq_wire_bits sz = tq_wire_size(&h);
      /* the K field and the entries within the b n bits, less than one entry to spare */
      const uint64_t used = 32 + sz.payload_bits, budget = (uint64_t)b * n;
      CU_ASSERT(used <= budget && used + 64 > budget);
      CU_ASSERT_EQUAL(sz.total_bytes, 44u + 8u * h.k);
      CU_ASSERT_EQUAL(sz.header_bits, 352u);
      CU_ASSERT_EQUAL(sz.pad_bits, 0u);
    }
  }
  tq_buf_free(&buf);
}

/* efsign: g = 0 decodes to +scale, the sign to -scale; scale = mean |x| of the bucket; exact
 * MSE = the actual squared error (deterministic), as for topk (the dropped squares). */
static void test_decoded_values_and_mse(void) {
  enum { N = 1031 };
  static float x[N], dec[N];
  make_grad(x, N, 3, G_RANDOM);
  tq_buf buf = {0};
  tq_err e = {0};
  for (int mi = 0; mi < 2; mi++) {
    tq_method m = mi ? TQ_METHOD_TOPK : TQ_METHOD_EFSIGN;
    tq_wire_msg msg = ref_msg(m, mi ? 3 : 1, x, N, &buf);
    memset(dec, 0, sizeof dec);
    tq_ref_decode_accumulate(&msg, 1.0f, dec);
    double se = 0;
    for (int i = 0; i < N; i++) se += ((double)dec[i] - x[i]) * ((double)dec[i] - x[i]);
    uint32_t *w = malloc(4 * msg.payload_words + 4);
    double exact = -1;
    tq_rng_key key = {77, 0, 0, 0};
    TQ_ASSERT_OK(tq_ref_recode(&msg, x, key, w, &exact, &e), &e);
    CU_ASSERT(memcmp(w, msg.payload, 4 * msg.payload_words) == 0);
    CU_ASSERT(fabs(exact - se / N) <= 1e-9 * (se / N) + 1e-30);
    free(w);
    if (m != TQ_METHOD_EFSIGN) continue;
    double sum = 0;
    for (int i = 0; i < 512; i++) sum += fabs(x[i]);
    float s0 = tq_wire_f32(msg.scales, 0);
    CU_ASSERT(fabs(s0 - sum / 512) <= 1e-5 * s0);
    CU_ASSERT_EQUAL(dec[0], s0); /* x[0] = 0: +scale */
    for (int i = 0; i < 512; i++) CU_ASSERT_EQUAL(dec[i], x[i] < 0 ? -s0 : s0);
  }
  tq_buf_free(&buf);
}

static void reseal(uint8_t *p, size_t len) {
  uint32_t c = tq_crc32(p, len - 4);
  memcpy(p + len - 4, &c, 4);
}

/* A copy of msg with 4 bytes at off replaced by v (resealed unless crc is false); the parse
 * must fail with a message naming `want`. */
static void expect_reject(const tq_buf *msg, size_t len, size_t off, uint32_t v, bool crc,
                          const char *want) {
  uint8_t *p = malloc(msg->len + 8);
  memcpy(p, msg->data, msg->len);
  if (off + 4 <= msg->len) memcpy(p + off, &v, 4);
  if (crc && len >= 8) reseal(p, len);
  tq_wire_msg m;
  tq_err e = {0};
  tq_status s = tq_wire_parse(p, len, 0, 1000, &m, &e);
  CU_ASSERT_EQUAL(s, TQ_EINPUT);
  CU_ASSERT(strncmp(e.msg, "rejected message:", 17) == 0);
  if (!strstr(e.msg, want)) fprintf(stderr, "wanted '%s' in: %s\n", want, e.msg);
  CU_ASSERT(strstr(e.msg, want) != NULL);
  free(p);
}

static void test_sparse_wire_rejects(void) {
  enum { N = 1000 };
  float x[N];
  make_grad(x, N, 9, G_RANDOM);
  tq_buf buf = {0};
  tq_wire_msg m = ref_msg(TQ_METHOD_TOPK, 4, x, N, &buf);
  const uint32_t k = m.h.k; /* 62 */
  CU_ASSERT_EQUAL(k, 62u);
  const size_t L = buf.len, P = 40; /* payload offset: the fixed header, then K */
  uint32_t i0, i1;
  memcpy(&i0, buf.data + P, 4);
  memcpy(&i1, buf.data + P + 4, 4);
  uint32_t nan_bits = 0x7fc00000u, inf_bits = 0x7f800000u, bad_bits = 0x09000000u;
  uint32_t hdr6;
  memcpy(&hdr6, buf.data + 4, 4);
  expect_reject(&buf, L, 36, k + 1, true, "K 63");                  /* K off the budget */
  expect_reject(&buf, L, 36, 5000, true, "K 5000 exceeds");         /* K > n */
  expect_reject(&buf, L, 28, 512, true, "bucket size 512");         /* no buckets */
  expect_reject(&buf, 40, 40, 0, true, "header, K and checksum");   /* no room for K */
  expect_reject(&buf, L, P, N, true, "index 1000 of entry 0");      /* index >= n */
  expect_reject(&buf, L, P + 4, i0, true, "does not increase");     /* repeated index */
  expect_reject(&buf, L, P, i1, true, "does not increase");         /* decreasing */
  expect_reject(&buf, L, P + 4 * k, nan_bits, true, "value of entry 0 is not finite");
  expect_reject(&buf, L, P + 4 * k + 8, inf_bits, true, "value of entry 2 is not finite");
  expect_reject(&buf, L, 32, 0x3f800000u, true, "alpha 1");         /* alpha must be 0 */
  expect_reject(&buf, L, 8, 0x00010000u, true, "1 level-table entries"); /* nlev 1 */
  expect_reject(&buf, L, 8, 0x01u, true, "zero-level flag");
  expect_reject(&buf, L, 4, (hdr6 & 0x00ffffffu) | bad_bits, true, "bits 9"); /* byte 7 */
  expect_reject(&buf, L - 4, L, 0, true, "truncated");
  expect_reject(&buf, L, P, i0 ^ 1u, false, "bad checksum");
  /* trailing bytes */
  tq_buf big = {0};
  tq_err e = {0};
  TQ_ASSERT_OK(tq_buf_reserve(&big, L + 4, &e), &e);
  memcpy(big.data, buf.data, L);
  memset(big.data + L, 0, 4);
  big.len = L + 4;
  expect_reject(&big, L + 4, L + 8, 0, false, "trailing bytes");
  tq_buf_free(&big);
  tq_buf_free(&buf);
}

/* Both turn error feedback on by themselves (the compressor keeps residuals, the reference
 * uses one, the message says so); efsign takes 1 bit only. */
static void test_config(void) {
  tq_compress_cfg c = base_cfg(TQ_METHOD_EFSIGN, 1, 512);
  tq_err e = {0};
  c.error_feedback = false;
  CU_ASSERT_EQUAL(tq_compress_cfg_check(&c, &e), TQ_OK);
  CU_ASSERT(tq_compress_ef(&c));
  c.method = TQ_METHOD_TOPK;
  CU_ASSERT(tq_compress_ef(&c));
  c.method = TQ_METHOD_QSGD;
  CU_ASSERT(!tq_compress_ef(&c));
  c = base_cfg(TQ_METHOD_TOPK, 3, 512);
  c.error_feedback = false;
  tq_tensor_desc t = {0, 5000};
  tq_compressor *cp = NULL;
  TQ_ASSERT_OK(tq_compressor_create(tq_test_cl(), &c, 0, &t, 1, &cp, &e), &e);
  CU_ASSERT(tq_compressor_config(cp)->error_feedback);
  tq_compressor_free(cp);
  float x[5000], r[5000];
  make_grad(x, 5000, 4, G_RANDOM);
  memset(r, 0, sizeof r);
  tq_buf buf = {0};
  TQ_ASSERT_OK(tq_ref_compress(&c, x, 5000, r, 0, 0, 0, &buf, NULL, &e), &e);
  CU_ASSERT(buf.data[8] & TQ_WIRE_F_EF);
  int kept = 0;
  for (int i = 0; i < 5000; i++) kept += r[i] == x[i];
  CU_ASSERT_EQUAL(kept, 5000 - (int)tq_sparse_k(5000, 3)); /* residual = x less the K sent */
  tq_buf_free(&buf);
  c = base_cfg(TQ_METHOD_EFSIGN, 2, 512);
  CU_ASSERT_EQUAL(tq_compress_cfg_check(&c, &e), TQ_EINPUT);
  CU_ASSERT(strstr(e.msg, "1..1") != NULL);
  CU_ASSERT_EQUAL(tq_bits_min(TQ_METHOD_TOPK, false), 1);
  CU_ASSERT_EQUAL(tq_bits_max(TQ_METHOD_TOPK), 8);
}

int main(void) {
  if (tq_test_small()) g_sizes[NSIZES - 1] = 20011;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"efsign device == reference", test_efsign_device},
      {"topk device == reference", test_topk_device},
      {"zeros, ties, huge values", test_special_tensors},
      {"topk selection and K", test_topk_selection},
      {"topk selection == a full sort", test_topk_against_sort},
      {"decoded values and exact MSE", test_decoded_values_and_mse},
      {"sparse wire rejects", test_sparse_wire_rejects},
      {"config", test_config},
      {NULL, NULL}};
  tq_test_add_suite("baselines", cases);
  return tq_test_run();
}
