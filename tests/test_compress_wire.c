/* The wire format: sizes, round trips through the plain-C reference, one test per class of
 * rejected message (each with its own reason), and random corruption that must never crash
 * (run this suite under -DTQ_SANITIZE=ON too). Host only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/quant_ref.h"
#include "compress/wire.h"
#include "test_support.h"

#define N 2003 /* odd: not a multiple of 32 nor of the bucket */

static float g_data[N];

static void make_data(void) {
  tq_test_rng r = {99};
  for (int i = 0; i < N; i++) {
    double u = tq_test_uniform(&r), v = -log(1 - u);
    if (tq_test_uniform(&r) < 0.05) v *= 10;
    g_data[i] = (float)(tq_test_uniform(&r) < 0.5 ? v : -v);
    if (i % 7 == 0) g_data[i] = 0.0f; /* exact zeros, as real gradients have */
  }
}

static void encode(tq_method m, int bits, bool zero, uint32_t bucket, tq_buf *msg) {
  tq_compress_cfg c;
  tq_compress_cfg_default(&c);
  c.method = m;
  c.bits = bits;
  c.zero_level = zero;
  c.bucket = bucket;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_ref_compress(&c, g_data, N, NULL, 5, 77, 3, msg, NULL, &e), &e);
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void reseal(tq_buf *b) { tq_wire_seal(b); }

/* Expects rejection with a message containing `why`. */
static void expect_reject(const uint8_t *p, size_t len, uint32_t tensor, uint32_t count,
                          const char *why) {
  tq_wire_msg m;
  tq_err e = {0};
  tq_status s = tq_wire_parse(p, len, tensor, count, &m, &e);
  CU_ASSERT_EQUAL(s, TQ_EINPUT);
  if (!strstr(e.msg, why)) fprintf(stderr, "\n    want '%s' in '%s'", why, e.msg);
  CU_ASSERT(strstr(e.msg, why) != NULL);
  CU_ASSERT(strstr(e.msg, "rejected message") != NULL);
}

static void test_sizes_and_roundtrip(void) {
  tq_method ms[] = {TQ_METHOD_NONE,  TQ_METHOD_QSGD,   TQ_METHOD_QSGDINF, TQ_METHOD_NUQSGD,
                    TQ_METHOD_TQSGD, TQ_METHOD_TNQSGD, TQ_METHOD_TBQSGD};
  for (int mi = 0; mi < 7; mi++)
    for (int b = 2; b <= 8; b++) {
      tq_buf msg = {0};
      tq_compress_cfg c;
      tq_compress_cfg_default(&c);
      c.method = ms[mi];
      c.bits = b;
      tq_err e = {0};
      float *res = calloc(N, sizeof *res);
      tq_ref_result rr;
      TQ_ASSERT_OK(tq_ref_compress(&c, g_data, N, NULL, 1, 2, 3, &msg, &rr, &e), &e);
      tq_wire_msg m;
      TQ_ASSERT_OK(tq_wire_parse(msg.data, msg.len, 3, N, &m, &e), &e);
      CU_ASSERT_EQUAL(m.h.worker, 1);
      CU_ASSERT_EQUAL(m.h.iteration, 2);
      CU_ASSERT_EQUAL(m.h.tensor, 3);
      CU_ASSERT_EQUAL(m.size.total_bytes, msg.len);
      CU_ASSERT_EQUAL(rr.bits.total_bytes, msg.len);
      CU_ASSERT_EQUAL(m.size.header_bits + m.size.payload_bits + m.size.pad_bits, 8 * msg.len);
      int bsent = ms[mi] == TQ_METHOD_NONE ? 32 : b;
      CU_ASSERT_EQUAL(m.size.payload_bits, (uint64_t)N * bsent);
      CU_ASSERT(m.size.pad_bits < 32);
      size_t meta = 36 + 4 + 4 * (size_t)m.h.nlev + 4 * (size_t)m.nbuckets;
      CU_ASSERT_EQUAL(m.size.header_bits, 8 * meta);
      if (tq_method_is_bucketed(ms[mi])) CU_ASSERT_EQUAL(m.nbuckets, (N + 511) / 512);
      /* Decoding through the message equals the reference's own decoded values. */
      memset(res, 0, N * sizeof *res);
      tq_ref_decode_accumulate(&m, 1.0f, res);
      if (ms[mi] == TQ_METHOD_NONE) {
        CU_ASSERT(memcmp(res, g_data, sizeof g_data) == 0);
      } else {
        float *dec = malloc(N * sizeof *dec);
        uint32_t *w = malloc(4 * tq_packed_words(N, b));
        tq_rng_key key = {c.seed, 1, 2, 3};
        float lv[TQ_MAX_LEVELS];
        memcpy(lv, m.levels, 4 * (size_t)m.h.nlev);
        if (tq_method_is_bucketed(ms[mi])) {
          float *sc = malloc(4 * m.nbuckets);
          memcpy(sc, m.scales, 4 * m.nbuckets);
          tq_ref_encode_bucketed(g_data, N, lv, m.h.nlev, b, m.h.bucket, sc, key, w, dec);
          free(sc);
        } else {
          tq_ref_encode_table(g_data, N, lv, m.h.nlev, b, key, w, dec);
        }
        CU_ASSERT(memcmp(w, m.payload, 4 * m.payload_words) == 0);
        int bad = 0; /* by value: 0 + (-0.0) is +0.0 */
        for (int i = 0; i < N; i++) bad += res[i] != dec[i];
        CU_ASSERT_EQUAL(bad, 0);
        free(dec);
        free(w);
      }
      free(res);
      tq_buf_free(&msg);
    }
}

static void test_reject_header(void) {
  tq_buf msg = {0};
  encode(TQ_METHOD_TNQSGD, 3, false, 512, &msg);
  uint8_t *cp = malloc(msg.len + 64);
  tq_buf b = {cp, msg.len, msg.len + 64};
#define FRESH() memcpy(cp, msg.data, msg.len), b.len = msg.len
  FRESH();
  expect_reject(cp, 20, 3, N, "shorter than");
  expect_reject(NULL, 0, 3, N, "shorter than");
  FRESH();
  cp[0] ^= 1;
  expect_reject(cp, b.len, 3, N, "bad magic");
  FRESH();
  cp[4] = 2;
  reseal(&b);
  expect_reject(cp, b.len, 3, N, "unsupported version");
  FRESH();
  cp[6] = 42;
  reseal(&b);
  expect_reject(cp, b.len, 3, N, "unknown method");
  FRESH();
  cp[7] = 9;
  reseal(&b);
  expect_reject(cp, b.len, 3, N, "bits 9 invalid");
  FRESH();
  cp[8] = 0x80;
  reseal(&b);
  expect_reject(cp, b.len, 3, N, "unknown flags");
  FRESH();
  cp[9] = 1;
  reseal(&b);
  expect_reject(cp, b.len, 3, N, "reserved");
  FRESH();
  expect_reject(cp, b.len, 4, N, "tensor id 3, expected 4");
  FRESH();
  expect_reject(cp, b.len, 3, N + 1, "element count");
  FRESH();
  put32(cp + 24, N - 1); /* the message itself announces another size */
  reseal(&b);
  expect_reject(cp, b.len, 3, N, "element count");
  FRESH();
  cp[10] = 7; /* 7 levels, but no zero-level flag */
  reseal(&b);
  expect_reject(cp, b.len, 3, N, "level-table entries");
  FRESH();
  put32(cp + 28, 512); /* a bucket on a truncated method */
  reseal(&b);
  expect_reject(cp, b.len, 3, N, "bucket size");
  FRESH();
  cp[8] = TQ_WIRE_F_ZERO_LEVEL; /* zero-level flag: the table would need 7 entries */
  reseal(&b);
  expect_reject(cp, b.len, 3, N, "level-table entries");
  free(cp);
  tq_buf_free(&msg);
#undef FRESH
}

static void test_reject_length_and_crc(void) {
  tq_buf msg = {0};
  encode(TQ_METHOD_TQSGD, 4, false, 512, &msg);
  uint8_t *cp = malloc(msg.len + 8);
  memcpy(cp, msg.data, msg.len);
  expect_reject(cp, msg.len - 1, 3, N, "truncated");
  expect_reject(cp, msg.len / 2, 3, N, "truncated");
  expect_reject(cp, 40, 3, N, "truncated");
  memset(cp + msg.len, 0, 8);
  expect_reject(cp, msg.len + 8, 3, N, "trailing bytes");
  cp[100] ^= 0x10; /* payload bit flipped, checksum left as it was */
  expect_reject(cp, msg.len, 3, N, "bad checksum");
  memcpy(cp, msg.data, msg.len);
  cp[msg.len - 1] ^= 0xff;
  expect_reject(cp, msg.len, 3, N, "bad checksum");
  /* Every shorter prefix is rejected without reading past it (ASan guards the claim). */
  for (size_t l = 0; l < msg.len; l++) {
    uint8_t *p = malloc(l ? l : 1);
    memcpy(p, msg.data, l);
    tq_wire_msg m;
    tq_err e = {0};
    CU_ASSERT_EQUAL(tq_wire_parse(p, l, 3, N, &m, &e), TQ_EINPUT);
    free(p);
  }
  free(cp);
  tq_buf_free(&msg);
}

static void set_f32(tq_buf *b, size_t off, float v) {
  memcpy(b->data + off, &v, 4);
  reseal(b);
}

static void test_reject_values(void) {
  tq_buf msg = {0};
  encode(TQ_METHOD_TNQSGD, 3, false, 512, &msg); /* 8 levels at offset 36 */
  tq_buf b = {malloc(msg.len), msg.len, msg.len};
  float top;
  memcpy(&top, msg.data + 36 + 4 * 7, 4);
#define FRESH() memcpy(b.data, msg.data, msg.len)
  FRESH();
  set_f32(&b, 32, NAN);
  expect_reject(b.data, b.len, 3, N, "alpha nan invalid");
  FRESH();
  set_f32(&b, 32, -1.0f);
  expect_reject(b.data, b.len, 3, N, "alpha -1 invalid");
  FRESH();
  set_f32(&b, 32, top * 2);
  expect_reject(b.data, b.len, 3, N, "disagrees with the top level");
  FRESH();
  set_f32(&b, 36 + 4 * 2, NAN);
  expect_reject(b.data, b.len, 3, N, "level 2 is not finite");
  FRESH();
  set_f32(&b, 36 + 4 * 5, INFINITY);
  expect_reject(b.data, b.len, 3, N, "level 5 is not finite");
  FRESH();
  set_f32(&b, 36 + 4 * 4, -100.0f);
  expect_reject(b.data, b.len, 3, N, "not increasing at entry 4");
  FRESH();
  {
    float l3;
    memcpy(&l3, msg.data + 36 + 12, 4);
    set_f32(&b, 36 + 16, l3); /* equal neighbours are not increasing either */
    expect_reject(b.data, b.len, 3, N, "not increasing at entry 4");
  }
  free(b.data);
  tq_buf_free(&msg);

  /* Bucketed: scales follow 4 magnitude levels (b = 3). */
  encode(TQ_METHOD_QSGD, 3, false, 512, &msg);
  b = (tq_buf){malloc(msg.len), msg.len, msg.len};
  size_t soff = 36 + 4 * 4;
  FRESH();
  set_f32(&b, soff + 4, NAN);
  expect_reject(b.data, b.len, 3, N, "scale of bucket 1");
  FRESH();
  set_f32(&b, soff, -0.5f);
  expect_reject(b.data, b.len, 3, N, "scale of bucket 0");
  FRESH();
  set_f32(&b, soff + 8, INFINITY);
  expect_reject(b.data, b.len, 3, N, "scale of bucket 2");
  FRESH();
  set_f32(&b, 32, 1.0f);
  expect_reject(b.data, b.len, 3, N, "alpha 1 invalid for method qsgd");
  FRESH();
  put32(b.data + 28, 0);
  reseal(&b);
  expect_reject(b.data, b.len, 3, N, "bucket size 0");
  FRESH();
  b.data[8] = TQ_WIRE_F_ZERO_LEVEL;
  reseal(&b);
  expect_reject(b.data, b.len, 3, N, "zero-level flag set on method qsgd");
  free(b.data);
  tq_buf_free(&msg);

  /* fp32 payload. */
  encode(TQ_METHOD_NONE, 3, false, 512, &msg);
  b = (tq_buf){malloc(msg.len), msg.len, msg.len};
  FRESH();
  set_f32(&b, 36 + 4 * 10, NAN);
  expect_reject(b.data, b.len, 3, N, "fp32 element 10 is not finite");
  FRESH();
  set_f32(&b, 36 + 4 * 11, -INFINITY);
  expect_reject(b.data, b.len, 3, N, "fp32 element 11 is not finite");
  FRESH();
  b.data[7] = 8;
  reseal(&b);
  expect_reject(b.data, b.len, 3, N, "bits 8 invalid for method none");
  free(b.data);
  tq_buf_free(&msg);
#undef FRESH
}

/* Codes beyond the table: the zero-level table has 2^b - 1 entries, so code 2^b - 1 is
 * unused and must be refused; so must non-zero pad bits. */
static void test_reject_codes(void) {
  for (int bits = 2; bits <= 8; bits++) {
    tq_buf msg = {0};
    encode(TQ_METHOD_TQSGD, bits, true, 512, &msg);
    tq_wire_msg m;
    tq_err e = {0};
    TQ_ASSERT_OK(tq_wire_parse(msg.data, msg.len, 3, N, &m, &e), &e);
    CU_ASSERT_EQUAL(m.h.nlev, (1 << bits) - 1);
    size_t poff = (size_t)(m.payload - msg.data);
    /* Element 1000 gets the all-ones code. */
    size_t bit = 1000 * (size_t)bits;
    for (int k = 0; k < bits; k++, bit++) msg.data[poff + bit / 8] |= (uint8_t)(1u << (bit % 8));
    reseal(&msg);
    char want[64];
    snprintf(want, sizeof want, "code %d of element 1000 is out of range", (1 << bits) - 1);
    expect_reject(msg.data, msg.len, 3, N, want);
    tq_buf_free(&msg);
  }
  tq_buf msg = {0};
  encode(TQ_METHOD_TNQSGD, 3, false, 512, &msg); /* 2003*3 bits: 27 pad bits */
  msg.data[msg.len - 5] |= 0x80;
  reseal(&msg);
  expect_reject(msg.data, msg.len, 3, N, "non-zero pad bits");
  tq_buf_free(&msg);
}

/* Random corruption: flips without resealing must all be caught (by the CRC or earlier);
 * flips with a fresh CRC exercise every later check and, when a message still passes,
 * decoding it must stay inside the buffers. */
static void test_random_flips(void) {
  tq_method ms[] = {TQ_METHOD_NONE,  TQ_METHOD_QSGD,   TQ_METHOD_QSGDINF, TQ_METHOD_NUQSGD,
                    TQ_METHOD_TQSGD, TQ_METHOD_TNQSGD, TQ_METHOD_TBQSGD};
  tq_test_rng r = {4242};
  float *out = malloc(N * sizeof *out);
  long caught = 0, passed_resealed = 0, trials = 0;
  for (int mi = 0; mi < 7; mi++)
    for (int zl = 0; zl < 2; zl++) {
      if (zl && !tq_method_is_truncated(ms[mi])) continue;
      tq_buf msg = {0};
      encode(ms[mi], 3, zl, 256, &msg);
      uint8_t *cp = malloc(msg.len);
      for (int t = 0; t < 3000; t++) {
        memcpy(cp, msg.data, msg.len);
        int nflip = 1 + (int)(tq_test_uniform(&r) * 4);
        for (int k = 0; k < nflip; k++) {
          /* Half the flips hit the header and tables, where the checks are. */
          size_t lim = tq_test_uniform(&r) < 0.5 ? (msg.len < 100 ? msg.len : 100) : msg.len;
          size_t at = (size_t)(tq_test_uniform(&r) * lim);
          cp[at] ^= (uint8_t)(1 + tq_test_uniform(&r) * 255);
        }
        bool reseal_it = t % 2 == 1;
        tq_buf b = {cp, msg.len, msg.len};
        if (reseal_it) reseal(&b);
        size_t len = msg.len;
        if (t % 10 == 3) len = (size_t)(tq_test_uniform(&r) * msg.len);
        tq_wire_msg m;
        tq_err e = {0};
        tq_status s = tq_wire_parse(cp, len, 3, N, &m, &e);
        trials++;
        if (!reseal_it && memcmp(cp, msg.data, msg.len) != 0) {
          CU_ASSERT_EQUAL(s, TQ_EINPUT);
        }
        if (s == TQ_OK) {
          passed_resealed++;
          memset(out, 0, N * sizeof *out);
          tq_ref_decode_accumulate(&m, 1.0f, out);
        } else {
          CU_ASSERT_EQUAL(s, TQ_EINPUT);
          caught++;
        }
      }
      free(cp);
      tq_buf_free(&msg);
    }
  CU_ASSERT(caught > trials / 2);
  printf("\n    %ld corrupted messages: %ld rejected, %ld resealed ones still valid ", trials,
         caught, passed_resealed);
  free(out);
}

static void test_crc_known_answer(void) {
  /* The standard CRC-32 check value of "123456789". */
  CU_ASSERT_EQUAL(tq_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
}

/* Every method of the table at every width it takes: the message carries what its family's wire
 * rules say (a bucket size and one scale per bucket, or alpha = the top level), and its level
 * count is the table's (none: 32..32, sent as fp32). */
static void test_family_wire_rules(void) {
  for (int i = 0; i < TQ_METHOD_COUNT; i++) {
    const tq_method m = (tq_method)i;
    const tq_family_info *f = tq_method_family_info(m);
    for (int b = tq_bits_min(m, false); b <= tq_bits_max(m); b++) {
      tq_buf msg = {0};
      encode(m, m == TQ_METHOD_NONE ? 3 : b, false, 512, &msg);
      tq_wire_msg w;
      tq_err e = {0};
      TQ_ASSERT_OK(tq_wire_parse(msg.data, msg.len, 3, N, &w, &e), &e);
      CU_ASSERT_EQUAL(w.h.method, m);
      CU_ASSERT_EQUAL(w.h.nlev, tq_levels_count(m, w.h.bits, false));
      CU_ASSERT_EQUAL(w.h.bucket != 0, f->wire_scales);
      CU_ASSERT_EQUAL(w.nbuckets != 0, f->wire_scales);
      CU_ASSERT_EQUAL(w.h.alpha != 0.0f, f->wire_alpha);
      if (f->wire_alpha) CU_ASSERT_EQUAL(w.h.alpha, tq_wire_f32(w.levels, (size_t)w.h.nlev - 1));
      if (f->sign_bit) CU_ASSERT_EQUAL(tq_wire_f32(w.levels, (size_t)w.h.nlev - 1), 1.0f);
      tq_buf_free(&msg);
    }
  }
}

int main(void) {
  make_data();
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"sizes in bits and reference round trip", test_sizes_and_roundtrip},
      {"rejects bad header fields", test_reject_header},
      {"rejects truncation, trailing bytes, bad CRC", test_reject_length_and_crc},
      {"rejects non-finite or disordered values", test_reject_values},
      {"rejects out-of-range codes and pad bits", test_reject_codes},
      {"random corruption never crashes", test_random_flips},
      {"CRC32 known answer", test_crc_known_answer},
      {"each family's wire rules, from the method table", test_family_wire_rules},
      {NULL, NULL}};
  tq_test_add_suite("compress wire", cases);
  return tq_test_run();
}
