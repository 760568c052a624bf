/* TPQSGD's pieces (host/compress/design_tp.h, docs/math.md §15): the level table every machine
 * designs alike, the design's choice against QSGDinf on heavy-tailed data at equal bits, and the
 * device's scale kernel against the C reference. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/compressor.h"
#include "compress/design_tp.h"
#include "compress/quant_ref.h"
#include "test_support.h"

static uint32_t bits_of(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  return u;
}

/* The table is a fixed function of (b, k): pinned bit patterns catch a change of arithmetic
 * (runs must stay bit-identical across machines). */
static void test_levels_fixed(void) {
  float mag[TQ_MAX_LEVELS];
  tq_tp_levels(3, 6, mag); /* p = 1.5 on {0, 1/3, 2/3, 1} */
  CU_ASSERT_EQUAL(mag[0], 0.0f);
  CU_ASSERT_EQUAL(mag[3], 1.0f);
  CU_ASSERT_EQUAL(bits_of(mag[1]), bits_of((float)0.19245008972987526));
  CU_ASSERT_EQUAL(bits_of(mag[2]), bits_of((float)0.5443310539518174));
  tq_tp_levels(2, 9, mag);
  CU_ASSERT(mag[0] == 0.0f && mag[1] == 1.0f);
  for (int b = 2; b <= 8; b++)
    for (int k = TQ_TP_K_MIN; k <= TQ_TP_K_MAX; k++) {
      tq_tp_levels(b, k, mag);
      int nlev = 1 << (b - 1);
      bool rising = true, close = true;
      for (int j = 1; j < nlev; j++) {
        rising &= mag[j] > mag[j - 1];
        double want = pow((double)j / (nlev - 1), k / 4.0);
        close &= fabs(mag[j] - want) <= 2e-7 * (want > 1e-3 ? want : 1e-3);
      }
      CU_ASSERT(rising);
      CU_ASSERT(close);
      if (k == 4) /* p = 1: QSGDinf's uniform grid, exactly */
        for (int j = 0; j < nlev; j++) CU_ASSERT_EQUAL(mag[j], (float)((double)j / (nlev - 1)));
    }
}

/* Heavy-tailed data with exact zeros, as real gradients: Student-t(3) body, 60 % zeros, a
 * different spread per bucket. */
static float *heavy_tailed(size_t n, uint64_t seed) {
  float *x = malloc(n * sizeof *x);
  tq_test_rng r = {seed};
  for (size_t i = 0; i < n; i++) {
    double z = tq_test_normal(&r), c = 0;
    for (int j = 0; j < 3; j++) {
      double w = tq_test_normal(&r);
      c += w * w;
    }
    double spread = 1.0 + 3.0 * (double)((i / 512) % 5);
    x[i] = tq_test_uniform(&r) < 0.6 ? 0.0f : (float)(1e-3 * spread * z / sqrt(c / 3.0));
  }
  return x;
}

/* The acceptance claim of the design on data we control: lower exact MSE than QSGDinf at
 * b = 2, 3, 4 (the messages are the same size). */
static void test_beats_qsgdinf(void) {
  const size_t n = 1u << 16;
  const uint32_t bucket = 512;
  size_t nb = n / bucket;
  float *x = heavy_tailed(n, 3), *sq = malloc(nb * 4), *st = malloc(nb * 4);
  tq_tail_stats stats;
  tq_tail_stats_ref(x, n, true, &stats);
  tq_ref_bucket_norms(x, n, bucket, true, sq);
  for (int b = 2; b <= 4; b++) {
    int nlev = 1 << (b - 1);
    float uni[TQ_MAX_LEVELS], mag[TQ_MAX_LEVELS];
    tq_tp_levels(b, 4, uni);
    double q = tq_exact_mse_bucketed(x, n, uni, nlev, bucket, sq);
    tq_tp_design d = tq_tp_design_levels(&stats, b, 1);
    CU_ASSERT(d.k >= TQ_TP_K_MIN && d.k <= TQ_TP_K_MAX && d.a >= TQ_TP_A_MIN &&
              d.a <= TQ_HIST_BINS);
    tq_tp_levels(b, d.k, mag);
    memcpy(st, sq, nb * 4);
    tq_tp_cap_scales(st, nb, d.alpha);
    double m = tq_exact_mse_bucketed(x, n, mag, nlev, bucket, st);
    CU_ASSERT(m < 0.9 * q);
    fprintf(stderr, "\n  b=%d: QSGDinf %.4e, TPQSGD %.4e (k=%d, alpha=%.3g of max)", b, q, m,
            d.k, d.alpha / stats.max_abs);
  }
  free(x);
  free(sq);
  free(st);
}

/* The expected error of the mean of navg workers' messages of the same x (exact, per element
 * from §15.1): the truncation bias does not average, the rounding variance divides by navg. */
static double averaged_mse(const float *x, size_t n, const float *mag, int nlev, uint32_t bucket,
                           const float *scales, double navg) {
  double tot = 0.0;
  for (size_t i = 0; i < n; i++) {
    double s = scales[i / bucket], a = fabs((double)x[i]);
    if (!(s > 0)) {
      tot += a * a;
      continue;
    }
    double t = a < s ? a : s, r = t / s;
    int j = 0;
    while (j + 1 <= nlev - 2 && mag[j + 1] <= r) j++;
    tot += (a - t) * (a - t) + s * s * (r - mag[j]) * (mag[j + 1] - r) / navg;
  }
  return tot / (double)n;
}

/* compression.design_for_average: designed for the mean of 8 workers, the design truncates no
 * more than the one-message design and has the lower error of that mean (exact, not modelled),
 * below QSGDinf's on this heavy-tailed data, where the one-message design's is above it. */
static void test_design_for_average(void) {
  const size_t n = 1u << 16;
  const uint32_t bucket = 512, N = 8;
  size_t nb = n / bucket;
  float *x = heavy_tailed(n, 5), *sq = malloc(nb * 4), *st = malloc(nb * 4);
  tq_tail_stats stats;
  tq_tail_stats_ref(x, n, true, &stats);
  tq_ref_bucket_norms(x, n, bucket, true, sq);
  for (int b = 2; b <= 4; b++) {
    int nlev = 1 << (b - 1);
    double err[2];
    float alpha[2];
    for (int v = 0; v < 2; v++) {
      tq_tp_design d = tq_tp_design_levels(&stats, b, v ? N : 1);
      float mag[TQ_MAX_LEVELS];
      tq_tp_levels(b, d.k, mag);
      memcpy(st, sq, nb * 4);
      tq_tp_cap_scales(st, nb, d.alpha);
      err[v] = averaged_mse(x, n, mag, nlev, bucket, st, N);
      alpha[v] = d.alpha;
    }
    float uni[TQ_MAX_LEVELS];
    tq_tp_levels(b, 4, uni);
    double q = averaged_mse(x, n, uni, nlev, bucket, sq, N); /* QSGDinf: unbiased */
    CU_ASSERT(alpha[1] >= alpha[0]);
    CU_ASSERT(err[1] <= err[0]);
    CU_ASSERT(err[1] < q); /* and below QSGDinf's, which the one-message design was not */
    fprintf(stderr, "\n  b=%d, mean of %u: QSGDinf %.4e, TPQSGD for one %.4e (alpha %.3g of max), "
            "for the mean %.4e (alpha %.3g)", b, N, q, err[0], alpha[0] / stats.max_abs, err[1],
            alpha[1] / stats.max_abs);
  }
  free(x);
  free(sq);
  free(st);
}

static void test_all_zero_design(void) {
  tq_tail_stats st;
  float z[2048] = {0};
  tq_tail_stats_ref(z, 2048, true, &st);
  tq_tp_design d = tq_tp_design_levels(&st, 3, 1);
  CU_ASSERT_EQUAL(d.k, TQ_TP_K_MIN);
  CU_ASSERT_EQUAL(d.a, TQ_HIST_BINS);
}

/* q_norm_cap == tq_tp_cap_scales, bit for bit, edge values included. */
static void test_cap_kernel(void) {
  tq_cl *cl = tq_test_cl();
  tq_err e = {0};
  enum { NB = 1000 };
  float s[NB], want[NB], got[NB], inv[NB];
  tq_test_rng r = {11};
  for (int i = 0; i < NB; i++) s[i] = (float)(tq_test_uniform(&r) * pow(10.0, 8 * tq_test_uniform(&r) - 6));
  s[0] = 0.0f;
  s[1] = FLT_MAX;
  s[2] = 1e-42f; /* subnormal: its reciprocal overflows to inf, as on the host */
  s[3] = 1.0f;
  s[4] = 0.25f; /* alpha itself */
  float alpha = 0.25f;
  memcpy(want, s, sizeof s);
  tq_tp_cap_scales(want, NB, alpha);
  cl_mem ds = NULL, di = NULL;
  cl_kernel k = NULL;
  TQ_ASSERT_OK(tq_cl_kernel(cl, "q_norm_cap", &k, &e), &e);
  TQ_ASSERT_OK(tq_cl_alloc(cl, sizeof s, &ds, &e), &e);
  TQ_ASSERT_OK(tq_cl_alloc(cl, sizeof s, &di, &e), &e);
  TQ_ASSERT_OK(tq_cl_write(cl, ds, 0, sizeof s, s, &e), &e);
  cl_uint nb = NB;
  tq_karg a[] = {TQ_ARG(ds), TQ_ARG(di), TQ_ARG(nb), TQ_ARG(alpha)};
  TQ_ASSERT_OK(tq_cl_run1d(cl, k, NB, tq_cl_group1d(cl, k, 64), a, "q_norm_cap", &e),
               &e);
  TQ_ASSERT_OK(tq_cl_read(cl, ds, 0, sizeof got, got, &e), &e);
  TQ_ASSERT_OK(tq_cl_read(cl, di, 0, sizeof inv, inv, &e), &e);
  int bad = 0;
  for (int i = 0; i < NB; i++) {
    bad += bits_of(got[i]) != bits_of(want[i]);
    bad += bits_of(inv[i]) != bits_of(want[i] > 0.0f ? 1.0f / want[i] : 0.0f);
  }
  CU_ASSERT_EQUAL(bad, 0);
  tq_cl_release(&ds);
  tq_cl_release(&di);
  clReleaseKernel(k);
}

/* The device compressor's whole message equals the reference codec's, byte for byte (header,
 * level table, capped scales, codes, CRC): the design reads only max|g| and the histogram,
 * which the device measures exactly. Two iterations with error feedback also compare the
 * residuals. Sizes off the 32-element grid, whole-tensor, odd and small buckets. */
static void test_messages_equal_reference(void) {
  tq_cl *cl = tq_test_cl();
  const size_t sizes[] = {1024, 4099, tq_test_small() ? 20000 : 70001};
  const uint32_t buckets[] = {512, 0, 100, 7};
  int bad = 0, cases = 0;
  for (int si = 0; si < 3; si++) {
    size_t n = sizes[si];
    float *g = heavy_tailed(n, 20 + (uint64_t)si), *rres = calloc(n, 4), *dres = malloc(n * 4);
    tq_err e = {0};
    cl_mem dg = NULL;
    TQ_ASSERT_OK(tq_cl_alloc(cl, n * 4, &dg, &e), &e);
    TQ_ASSERT_OK(tq_cl_write(cl, dg, 0, n * 4, g, &e), &e);
    tq_tensor_desc t = {0, n};
    for (int b = 2; b <= 8; b++)
      for (int bi = 0; bi < 4; bi++)
        for (int ef = 0; ef < 2; ef++) {
          if ((b % 3 != 2 && bi > 1) || (ef && b > 4)) continue; /* keep the run short */
          if (tq_test_small() && (si == 2 || (b != 2 && b != 3 && b != 8))) continue;
          tq_compress_cfg cfg;
          tq_compress_cfg_default(&cfg);
          cfg.method = TQ_METHOD_TPQSGD;
          cfg.bits = b;
          cfg.bucket = buckets[bi];
          cfg.error_feedback = ef;
          cfg.seed = 77;
          tq_compressor *c = NULL;
          TQ_ASSERT_OK(tq_compressor_create(cl, &cfg, 3, &t, 1, &c, &e), &e);
          memset(rres, 0, n * 4);
          for (uint32_t it = 1; it <= (ef ? 2u : 1u); it++) {
            tq_buf dm = {0}, rm = {0};
            TQ_ASSERT_OK(tq_compressor_encode(c, dg, it, 0, &dm, NULL, &e), &e);
            TQ_ASSERT_OK(tq_ref_compress(&cfg, g, n, ef ? rres : NULL, 3, it, 0, &rm, NULL, &e),
                         &e);
            cases++;
            if (dm.len != rm.len || memcmp(dm.data, rm.data, dm.len)) {
              if (bad++ < 3)
                fprintf(stderr, "\n  n=%zu b=%d bucket=%u ef=%d it=%u: messages differ", n, b,
                        buckets[bi], ef, it);
            }
            tq_wire_msg m;
            TQ_ASSERT_OK(tq_wire_parse(dm.data, dm.len, 0, n, &m, &e), &e);
            CU_ASSERT_EQUAL(m.h.method, TQ_METHOD_TPQSGD);
            tq_buf_free(&dm);
            tq_buf_free(&rm);
          }
          if (ef) {
            TQ_ASSERT_OK(tq_compressor_residual(c, 0, dres, &e), &e);
            CU_ASSERT(memcmp(dres, rres, n * 4) == 0);
          }
          tq_compressor_free(c);
        }
    tq_cl_release(&dg);
    free(g);
    free(rres);
    free(dres);
  }
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT(cases > (tq_test_small() ? 10 : 40));
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"level table fixed and rising", test_levels_fixed},
      {"design beats QSGDinf at equal bits", test_beats_qsgdinf},
      {"all-zero tensor falls back", test_all_zero_design},
      {"design for the mean of N workers", test_design_for_average},
      {"device scale kernel == reference", test_cap_kernel},
      {"device messages == reference messages", test_messages_equal_reference},
      {NULL, NULL}};
  tq_test_add_suite("tpqsgd", cases);
  return tq_test_run();
}
