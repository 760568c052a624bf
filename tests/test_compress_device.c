/* The device pipeline against the plain-C reference: statistics and histogram, bit-identical
 * codes for every method at b = 2, 3, 4, 8 on odd sizes, decode-accumulate, error feedback,
 * the refit interval, fp32 small tensors and refusals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/compressor.h"
#include "compress/quant_ref.h"
#include "test_support.h"

#define SMALL 300     /* below min_elems: travels as fp32 */
/* BIG is odd: not a multiple of 32 nor of the bucket; under TQ_TEST_SMALL (the conformance run
 * on Oclgrind, which interprets kernels) it is smaller but still spans several encode groups
 * (8192 elements each) and buckets. */
static size_t g_big = 100003;
#define BIG ((int)g_big)
#define OFF_BIG 301   /* tensors are not aligned in the flat buffer */
#define TOTAL (OFF_BIG + BIG + 5)

static float *g_host;
static tq_tensor_desc g_tensors[2] = {{0, SMALL}, {OFF_BIG, 0}}; /* count set in main */

static void make_grad(float *g, size_t n, uint64_t seed) {
  tq_test_rng r = {seed};
  for (size_t i = 0; i < n; i++) {
    double u = tq_test_uniform(&r), v;
    if (tq_test_uniform(&r) < 0.05) v = 0.02 * pow(1 - u, -1 / 2.5); /* power-law tail */
    else v = -0.01 * log(1 - u);                                    /* Laplace body */
    if (i % 5 == 0) v = 0;                                          /* exact zeros */
    if (i % 997 == 1) v = 1e-12;                                    /* below the histogram */
    g[i] = (float)(tq_test_uniform(&r) < 0.5 ? v : -v);
  }
}

static cl_mem upload(const float *x, size_t n) {
  tq_cl *cl = tq_test_cl();
  tq_err e = {0};
  cl_mem m = NULL;
  tq_status s = tq_cl_alloc(cl, n * 4, &m, &e);
  if (s == TQ_OK) s = tq_cl_write(cl, m, 0, n * 4, x, &e);
  if (s != TQ_OK) fprintf(stderr, "%s\n", e.msg);
  CU_ASSERT_FATAL(s == TQ_OK);
  return m;
}

static tq_compressor *make(tq_method m, int bits, bool zl, bool ef, uint32_t bucket) {
  tq_compress_cfg c;
  tq_compress_cfg_default(&c);
  c.method = m;
  c.bits = bits;
  c.zero_level = zl;
  c.error_feedback = ef;
  c.bucket = bucket;
  c.seed = 1234;
  tq_compressor *cp = NULL;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_compressor_create(tq_test_cl(), &c, 6, g_tensors, 2, &cp, &e), &e);
  return cp;
}

/* Reference codes for the design and scales the device sent. */
static int check_codes(const tq_wire_msg *m, const float *x, uint32_t seed, uint32_t iter,
                       uint32_t tensor) {
  size_t n = m->h.count, nw = m->payload_words;
  uint32_t *w = malloc(4 * nw);
  float lv[TQ_MAX_LEVELS];
  memcpy(lv, m->levels, 4 * (size_t)m->h.nlev);
  tq_rng_key key = {seed, m->h.worker, iter, tensor};
  if (tq_method_is_bucketed(m->h.method)) {
    float *sc = malloc(4 * (size_t)m->nbuckets);
    memcpy(sc, m->scales, 4 * (size_t)m->nbuckets);
    tq_ref_encode_bucketed(x, n, lv, m->h.nlev, m->h.bits, m->h.bucket, sc, key, w, NULL);
    free(sc);
  } else {
    tq_ref_encode_table(x, n, lv, m->h.nlev, m->h.bits, key, w, NULL);
  }
  int bad = 0;
  for (size_t i = 0; i < nw; i++) {
    uint32_t got;
    memcpy(&got, m->payload + 4 * i, 4);
    if (got != w[i] && bad++ < 3)
      fprintf(stderr, "\n    %s b=%d word %zu: device %08x reference %08x",
              tq_method_name(m->h.method), m->h.bits, i, got, w[i]);
  }
  free(w);
  return bad;
}

static void test_codes_bit_identical(void) {
  cl_mem g = upload(g_host, TOTAL);
  const float *x = g_host + OFF_BIG;
  tq_method ms[] = {TQ_METHOD_QSGD,  TQ_METHOD_QSGDINF, TQ_METHOD_NUQSGD,
                    TQ_METHOD_TQSGD, TQ_METHOD_TNQSGD,  TQ_METHOD_TBQSGD};
  const int bits[] = {2, 3, 4, 8};
  tq_buf msg = {0};
  for (int mi = 0; mi < 6; mi++)
    for (int bi = 0; bi < 4; bi++)
      for (int variant = 0; variant < 2; variant++) {
        bool zl = variant == 1 && tq_method_is_truncated(ms[mi]);
        uint32_t bucket = variant == 1 ? 0 : 512; /* bucketed: whole-tensor mode */
        if (variant == 1 && !zl && !tq_method_is_bucketed(ms[mi])) continue;
        tq_compressor *c = make(ms[mi], bits[bi], zl, false, bucket);
        tq_err e = {0};
        tq_encode_info info;
        TQ_ASSERT_OK(tq_compressor_encode(c, g, 11, 1, &msg, &info, &e), &e);
        tq_wire_msg m;
        TQ_ASSERT_OK(tq_wire_parse(msg.data, msg.len, 1, BIG, &m, &e), &e);
        CU_ASSERT_EQUAL(m.h.method, ms[mi]);
        CU_ASSERT_EQUAL(m.h.worker, 6);
        CU_ASSERT_EQUAL(m.h.iteration, 11);
        CU_ASSERT_EQUAL(check_codes(&m, x, 1234, 11, 1), 0);
        if (tq_method_is_bucketed(ms[mi])) {
          /* Norms: same summation order as the reference, so equal bit for bit. */
          CU_ASSERT_EQUAL(m.h.bucket, bucket ? bucket : (uint32_t)BIG);
          float *sc = malloc(4 * (size_t)m.nbuckets);
          tq_ref_bucket_norms(x, BIG, m.h.bucket, ms[mi] == TQ_METHOD_QSGDINF, sc);
          CU_ASSERT(memcmp(sc, m.scales, 4 * (size_t)m.nbuckets) == 0);
          free(sc);
        } else {
          /* The design from device statistics is the reference design up to the float sum. */
          tq_compress_cfg cfg = *tq_compressor_config(c);
          tq_buf rmsg = {0};
          tq_ref_result rr;
          TQ_ASSERT_OK(tq_ref_compress(&cfg, x, BIG, NULL, 6, 11, 1, &rmsg, &rr, &e), &e);
          CU_ASSERT(fabs(rr.design.alpha / info.design.alpha - 1) < 1e-4);
          CU_ASSERT_EQUAL(rr.fit.bin, info.fit.bin);
          CU_ASSERT_EQUAL(rr.design.laplace, info.design.laplace);
          tq_buf_free(&rmsg);
        }
        tq_compressor_free(c);
      }
  /* 1-bit TQSGD: levels +-alpha. */
  tq_compressor *c = make(TQ_METHOD_TQSGD, 1, false, false, 512);
  tq_err e = {0};
  TQ_ASSERT_OK(tq_compressor_encode(c, g, 2, 1, &msg, NULL, &e), &e);
  tq_wire_msg m;
  TQ_ASSERT_OK(tq_wire_parse(msg.data, msg.len, 1, BIG, &m, &e), &e);
  CU_ASSERT_EQUAL(m.h.nlev, 2);
  CU_ASSERT_EQUAL(check_codes(&m, x, 1234, 2, 1), 0);
  tq_compressor_free(c);
  tq_buf_free(&msg);
  tq_cl_release(&g);
}

/* Histogram counts equal the reference exactly; max|g| exactly; sum|g| is a float sum of
 * per-chunk float partials against the reference's double sum: within 1e-5 relative. */
static void test_histogram_matches_reference(void) {
  const size_t n = tq_test_small() ? 40009 : 1000003;
  float *x = malloc(n * 4);
  make_grad(x, n, 31337);
  x[777] = 0.5f; /* one large value sets M */
  tq_tensor_desc t = {0, n};
  cl_mem g = upload(x, n);
  for (int hist = 1; hist >= 0; hist--) {
    tq_compress_cfg c;
    tq_compress_cfg_default(&c);
    c.tail = hist ? TQ_TAIL_POWERLAW : TQ_TAIL_LAPLACE;
    tq_compressor *cp = NULL;
    tq_err e = {0};
    TQ_ASSERT_OK(tq_compressor_create(tq_test_cl(), &c, 0, &t, 1, &cp, &e), &e);
    tq_buf msg = {0};
    tq_encode_info info;
    TQ_ASSERT_OK(tq_compressor_encode(cp, g, 0, 0, &msg, &info, &e), &e);
    tq_tail_stats ref;
    tq_tail_stats_ref(x, n, hist, &ref);
    CU_ASSERT(info.refit);
    CU_ASSERT_EQUAL(info.stats.n, ref.n);
    CU_ASSERT_EQUAL(info.stats.nonzero, ref.nonzero);
    CU_ASSERT_EQUAL(info.stats.max_abs, ref.max_abs);
    CU_ASSERT(fabs(info.stats.sum_abs / ref.sum_abs - 1) < 1e-5);
    int bad = 0;
    uint64_t tot = 0;
    for (int j = 0; j < TQ_HIST_BINS; j++) {
      bad += info.stats.hist[j] != ref.hist[j];
      tot += ref.hist[j];
    }
    CU_ASSERT_EQUAL(bad, 0);
    if (hist) CU_ASSERT(tot > n / 2 && tot < ref.nonzero); /* 1e-12 values fall below */
    tq_buf_free(&msg);
    tq_compressor_free(cp);
  }
  tq_cl_release(&g);
  free(x);
}

/* Values exactly on the bin edges M*R[j] and one ulp either side land in the reference's bins;
 * also for a tensor of tiny values (max|g| <= 1e-30: the exact-search histogram path). */
static void test_histogram_edges(void) {
  const size_t n = tq_test_small() ? 20011 : 70001;
  float *x = malloc(n * 4);
  const float *R = tq_hist_ratios();
  for (int pass = 0; pass < 2; pass++) {
    make_grad(x, n, 4242 + pass);
    float M = 0.75f;
    x[5] = -M;
    for (int j = 0; j <= TQ_HIST_BINS; j++) {
      float e = M * R[j];
      x[100 + 3 * j] = e;
      x[101 + 3 * j] = -nextafterf(e, 0.0f);
      x[102 + 3 * j] = nextafterf(e, 1.0f);
    }
    x[101 + 3 * TQ_HIST_BINS] = 0.0f; /* keep M the max */
    x[102 + 3 * TQ_HIST_BINS] = 0.0f;
    if (pass == 1)
      for (size_t i = 0; i < n; i++) x[i] = ldexpf(x[i], -110); /* max|g| ~ 6e-34 */
    for (size_t i = 0; i < n; i++)
      if (fabsf(x[i]) > fabsf(x[5])) x[i] = x[5] * 0.5f;
    cl_mem g = upload(x, n);
    tq_tensor_desc t = {0, n};
    tq_compress_cfg c;
    tq_compress_cfg_default(&c);
    tq_compressor *cp = NULL;
    tq_err e = {0};
    TQ_ASSERT_OK(tq_compressor_create(tq_test_cl(), &c, 0, &t, 1, &cp, &e), &e);
    tq_buf msg = {0};
    tq_encode_info info;
    TQ_ASSERT_OK(tq_compressor_encode(cp, g, 0, 0, &msg, &info, &e), &e);
    tq_tail_stats ref;
    tq_tail_stats_ref(x, n, true, &ref);
    CU_ASSERT_EQUAL(info.stats.max_abs, ref.max_abs);
    int bad = 0;
    for (int j = 0; j < TQ_HIST_BINS; j++) bad += info.stats.hist[j] != ref.hist[j];
    if (bad) fprintf(stderr, "\n    pass %d: %d bins differ", pass, bad);
    CU_ASSERT_EQUAL(bad, 0);
    tq_buf_free(&msg);
    tq_compressor_free(cp);
    tq_cl_release(&g);
  }
  free(x);
}

/* tq_compressor_set_residual: the inverse of tq_compressor_residual, and the next encode
 * sends g + r for the residual that was set. */
static void test_set_residual(void) {
  cl_mem g = upload(g_host, TOTAL);
  tq_compressor *c = make(TQ_METHOD_TNQSGD, 3, false, true, 512);
  float *r = malloc(4 * BIG), *back = malloc(4 * BIG), *x = malloc(4 * BIG);
  for (int i = 0; i < BIG; i++) r[i] = 0.001f * (float)((i * 7) % 13) - 0.006f;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_compressor_set_residual(c, 1, r, &e), &e);
  TQ_ASSERT_OK(tq_compressor_residual(c, 1, back, &e), &e);
  CU_ASSERT(memcmp(r, back, 4 * BIG) == 0);
  tq_buf msg = {0};
  TQ_ASSERT_OK(tq_compressor_encode(c, g, 4, 1, &msg, NULL, &e), &e);
  for (int i = 0; i < BIG; i++) x[i] = g_host[OFF_BIG + i] + r[i];
  tq_wire_msg m;
  TQ_ASSERT_OK(tq_wire_parse(msg.data, msg.len, 1, BIG, &m, &e), &e);
  CU_ASSERT_EQUAL(check_codes(&m, x, 1234, 4, 1), 0);
  /* The fp32 tensor keeps no residual: zeros are accepted, anything else refused. */
  float z[SMALL] = {0};
  TQ_ASSERT_OK(tq_compressor_set_residual(c, 0, z, &e), &e);
  z[3] = 1.0f;
  tq_err e2 = {0};
  CU_ASSERT_EQUAL(tq_compressor_set_residual(c, 0, z, &e2), TQ_EINPUT);
  tq_err e3 = {0};
  CU_ASSERT_EQUAL(tq_compressor_set_residual(c, 2, z, &e3), TQ_EINPUT);
  r[77] = NAN;
  tq_err e4 = {0};
  CU_ASSERT_EQUAL(tq_compressor_set_residual(c, 1, r, &e4), TQ_EINPUT);
  tq_compressor_free(c);
  tq_buf_free(&msg);
  tq_cl_release(&g);
  free(r);
  free(back);
  free(x);
}

/* Decode-accumulate on the device = the reference, value for value, into a pre-filled
 * buffer at the tensor's offset; other elements untouched. */
static void test_decode_accumulate(void) {
  tq_cl *cl = tq_test_cl();
  cl_mem g = upload(g_host, TOTAL);
  float *base = malloc(4 * TOTAL), *want = malloc(4 * TOTAL), *got = malloc(4 * TOTAL);
  for (int i = 0; i < TOTAL; i++) base[i] = 0.001f * (float)(i % 101) - 0.05f;
  tq_method ms[] = {TQ_METHOD_NONE,  TQ_METHOD_QSGD,   TQ_METHOD_QSGDINF, TQ_METHOD_NUQSGD,
                    TQ_METHOD_TQSGD, TQ_METHOD_TNQSGD, TQ_METHOD_TBQSGD};
  tq_decoder *d = NULL;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_decoder_create(cl, g_tensors, 2, &d, &e), &e);
  tq_buf msg = {0};
  for (int mi = 0; mi < 7; mi++)
    for (int bits = 2; bits <= 8; bits += 3) {
      tq_compressor *c = make(ms[mi], bits, bits == 5, false, 512);
      cl_mem out = upload(base, TOTAL);
      memcpy(want, base, 4 * TOTAL);
      for (int t = 0; t < 2; t++) {
        TQ_ASSERT_OK(tq_compressor_encode(c, g, 3, t, &msg, NULL, &e), &e);
        tq_wire_hdr h;
        TQ_ASSERT_OK(tq_decoder_accumulate(d, msg.data, msg.len, t, 0.37f, out, &h, &e), &e);
        CU_ASSERT_EQUAL(h.tensor, (uint32_t)t);
        tq_wire_msg m;
        TQ_ASSERT_OK(tq_wire_parse(msg.data, msg.len, t, g_tensors[t].count, &m, &e), &e);
        if (t == 0) CU_ASSERT_EQUAL(m.h.method, TQ_METHOD_NONE);
        tq_ref_decode_accumulate(&m, 0.37f, want + g_tensors[t].offset);
      }
      TQ_ASSERT_OK(tq_cl_read(cl, out, 0, 4 * TOTAL, got, &e), &e);
      int bad = 0;
      for (int i = 0; i < TOTAL; i++) bad += got[i] != want[i];
      if (bad) fprintf(stderr, "\n    %s b=%d: %d elements differ", tq_method_name(ms[mi]), bits, bad);
      CU_ASSERT_EQUAL(bad, 0);
      tq_cl_release(&out);
      tq_compressor_free(c);
    }
  /* A bad message is refused before any device work: the output stays as it was. */
  tq_compressor *c = make(TQ_METHOD_TNQSGD, 3, false, false, 512);
  cl_mem out = upload(base, TOTAL);
  TQ_ASSERT_OK(tq_compressor_encode(c, g, 3, 1, &msg, NULL, &e), &e);
  tq_err e2 = {0};
  CU_ASSERT_EQUAL(tq_decoder_accumulate(d, msg.data, msg.len, 0, 1.0f, out, NULL, &e2), TQ_EINPUT);
  CU_ASSERT(strstr(e2.msg, "tensor id 1, expected 0") != NULL);
  msg.data[60] ^= 4;
  tq_err e3 = {0};
  CU_ASSERT_EQUAL(tq_decoder_accumulate(d, msg.data, msg.len, 1, 1.0f, out, NULL, &e3), TQ_EINPUT);
  CU_ASSERT(strstr(e3.msg, "checksum") != NULL);
  TQ_ASSERT_OK(tq_cl_read(cl, out, 0, 4 * TOTAL, got, &e), &e);
  CU_ASSERT(memcmp(got, base, 4 * TOTAL) == 0);
  tq_cl_release(&out);
  tq_compressor_free(c);
  tq_decoder_free(d);
  tq_buf_free(&msg);
  tq_cl_release(&g);
  free(base);
  free(want);
  free(got);
}

/* Error feedback: the residual after each step is exactly (g + r) - decoded, and what is sent
 * encodes g + r. */
static void test_error_feedback(void) {
  cl_mem g = upload(g_host, TOTAL);
  tq_method ms[] = {TQ_METHOD_TNQSGD, TQ_METHOD_QSGD};
  tq_buf msg = {0};
  for (int mi = 0; mi < 2; mi++) {
    tq_compressor *c = make(ms[mi], 3, false, true, 512);
    float *r = calloc(BIG, 4), *x = malloc(4 * BIG), *dec = malloc(4 * BIG), *rd = malloc(4 * BIG);
    tq_err e = {0};
    for (uint32_t it = 0; it < 3; it++) {
      for (int i = 0; i < BIG; i++) x[i] = g_host[OFF_BIG + i] + r[i];
      TQ_ASSERT_OK(tq_compressor_encode(c, g, it, 1, &msg, NULL, &e), &e);
      tq_wire_msg m;
      TQ_ASSERT_OK(tq_wire_parse(msg.data, msg.len, 1, BIG, &m, &e), &e);
      CU_ASSERT(m.h.flags & TQ_WIRE_F_EF);
      CU_ASSERT_EQUAL(check_codes(&m, x, 1234, it, 1), 0);
      memset(dec, 0, 4 * BIG);
      tq_ref_decode_accumulate(&m, 1.0f, dec);
      for (int i = 0; i < BIG; i++) r[i] = x[i] - dec[i];
      TQ_ASSERT_OK(tq_compressor_residual(c, 1, rd, &e), &e);
      int bad = 0;
      for (int i = 0; i < BIG; i++) bad += rd[i] != r[i];
      CU_ASSERT_EQUAL(bad, 0);
    }
    /* The fp32 tensor keeps no residual. */
    TQ_ASSERT_OK(tq_compressor_residual(c, 0, rd, &e), &e);
    CU_ASSERT_EQUAL(rd[0], 0.0f);
    TQ_ASSERT_OK(tq_compressor_reset(c, &e), &e);
    TQ_ASSERT_OK(tq_compressor_residual(c, 1, rd, &e), &e);
    CU_ASSERT_EQUAL(rd[12345], 0.0f);
    tq_compressor_free(c);
    free(r);
    free(x);
    free(dec);
    free(rd);
  }
  tq_buf_free(&msg);
  tq_cl_release(&g);
}

static void test_refit_interval(void) {
  cl_mem g = upload(g_host, TOTAL);
  tq_compress_cfg c;
  tq_compress_cfg_default(&c);
  c.refit_every = 3;
  tq_compressor *cp = NULL;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_compressor_create(tq_test_cl(), &c, 0, g_tensors, 2, &cp, &e), &e);
  tq_buf msg = {0};
  bool want[7] = {true, false, false, true, false, false, true};
  float alpha0 = 0;
  for (uint32_t it = 0; it < 7; it++) {
    tq_encode_info info;
    TQ_ASSERT_OK(tq_compressor_encode(cp, g, it, 1, &msg, &info, &e), &e);
    CU_ASSERT_EQUAL(info.refit, want[it]);
    if (it == 0) alpha0 = (float)info.design.alpha;
    CU_ASSERT_EQUAL((float)info.design.alpha, alpha0); /* same data: same design */
    tq_wire_msg m;
    TQ_ASSERT_OK(tq_wire_parse(msg.data, msg.len, 1, BIG, &m, &e), &e);
    CU_ASSERT_EQUAL(check_codes(&m, g_host + OFF_BIG, c.seed, it, 1), 0);
  }
  tq_buf_free(&msg);
  tq_compressor_free(cp);
  tq_cl_release(&g);
}

static void test_refusals(void) {
  float *bad = malloc(4 * TOTAL);
  memcpy(bad, g_host, 4 * TOTAL);
  bad[OFF_BIG + 500] = NAN;
  cl_mem g = upload(bad, TOTAL);
  tq_compressor *c = make(TQ_METHOD_TNQSGD, 3, false, false, 512);
  tq_buf msg = {0};
  tq_err e = {0};
  CU_ASSERT_EQUAL(tq_compressor_encode(c, g, 0, 1, &msg, NULL, &e), TQ_EINPUT);
  CU_ASSERT(strstr(e.msg, "non-finite") != NULL);
  tq_err e2 = {0};
  CU_ASSERT_EQUAL(tq_compressor_encode(c, g, 0, 2, &msg, NULL, &e2), TQ_EINPUT);
  /* A gradient buffer too small for the tensor table. */
  cl_mem small = upload(g_host, 1000);
  tq_err e3 = {0};
  CU_ASSERT_EQUAL(tq_compressor_encode(c, small, 0, 1, &msg, NULL, &e3), TQ_EINPUT);
  CU_ASSERT(strstr(e3.msg, "outside") != NULL);
  tq_compress_cfg cfg;
  tq_compress_cfg_default(&cfg);
  cfg.bits = 0;
  tq_compressor *c2 = NULL;
  tq_err e4 = {0};
  CU_ASSERT_EQUAL(tq_compressor_create(tq_test_cl(), &cfg, 0, g_tensors, 2, &c2, &e4), TQ_EINPUT);
  tq_compressor_free(c);
  tq_cl_release(&small);
  tq_cl_release(&g);
  tq_buf_free(&msg);
  free(bad);
}

/* Finite values whose squares overflow float (issue 16: "scale of bucket 0 is inf" for inputs
 * near FLT_MAX): the norm is found at a 2^-96 scale, finite whenever it is below FLT_MAX, and
 * the device's scales equal the reference's bit for bit, per bucket and for the whole tensor. */
static void test_norms_near_flt_max(void) {
  float *h = malloc(4 * (size_t)TOTAL);
  CU_ASSERT_FATAL(h != NULL);
  make_grad(h, TOTAL, 77);
  float *x = h + OFF_BIG;
  for (size_t i = 0; i < (size_t)BIG; i++) {
    if (i < 4096) x[i] *= 1e22f;                /* bucket 0..7: squares overflow, norm finite */
    else if (i >= 60000 && i < 60512) x[i] = (i & 1) ? 1.5e37f : -1.5e37f; /* norm 3.4e38 */
  }
  x[70000] = 3.0e38f; /* one bucket with a value next to FLT_MAX and its neighbours small */
  cl_mem g = upload(h, TOTAL);
  tq_buf msg = {0};
  for (int variant = 0; variant < 2; variant++) {
    uint32_t bucket = variant ? 0 : 512;
    tq_compressor *c = make(TQ_METHOD_QSGD, 4, false, false, bucket);
    tq_err e = {0};
    tq_status s = tq_compressor_encode(c, g, 3, 1, &msg, NULL, &e);
    tq_wire_msg m;
    if (s == TQ_OK) s = tq_wire_parse(msg.data, msg.len, 1, BIG, &m, &e);
    if (s != TQ_OK && variant == 0) fprintf(stderr, "\n  bucket %u: %s\n", bucket, e.msg);
    if (variant == 1) {
      /* the whole tensor: its norm is beyond FLT_MAX, and the message says so */
      CU_ASSERT(s != TQ_OK && strstr(e.msg, "exceeds the float range") != NULL);
    } else {
      CU_ASSERT_EQUAL_FATAL(s, TQ_OK);
      float *sc = malloc(4 * (size_t)m.nbuckets);
      tq_ref_bucket_norms(x, BIG, m.h.bucket, false, sc);
      CU_ASSERT(memcmp(sc, m.scales, 4 * (size_t)m.nbuckets) == 0);
      for (uint32_t b = 0; b < m.nbuckets; b++) CU_ASSERT(isfinite(sc[b]) && sc[b] > 0);
      double want = 0;
      for (size_t i = 0; i < 512; i++) want += (double)x[i] * x[i];
      CU_ASSERT(fabs(sc[0] / sqrt(want) - 1) < 1e-5);
      CU_ASSERT_EQUAL(check_codes(&m, x, 1234, 3, 1), 0);
      free(sc);
    }
    tq_compressor_free(c);
  }
  tq_buf_free(&msg);
  tq_cl_release(&g);
  free(h);
}

int main(void) {
  if (tq_test_small()) g_big = 20011;
  g_tensors[1].count = BIG;
  g_host = malloc(4 * TOTAL);
  make_grad(g_host, TOTAL, 2024);
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"device codes == reference codes, all methods, b=2,3,4,8", test_codes_bit_identical},
      {"norms of values near FLT_MAX: finite, device == reference", test_norms_near_flt_max},
      {"device histogram == reference histogram", test_histogram_matches_reference},
      {"device histogram at bin edges and for tiny tensors", test_histogram_edges},
      {"set_residual restores the error-feedback state", test_set_residual},
      {"decode-accumulate == reference", test_decode_accumulate},
      {"error feedback residuals", test_error_feedback},
      {"refit interval", test_refit_interval},
      {"refuses NaN gradients and bad buffers", test_refusals},
      {NULL, NULL}};
  tq_test_add_suite("compress device", cases);
  int rc = tq_test_run();
  free(g_host);
  return rc;
}
