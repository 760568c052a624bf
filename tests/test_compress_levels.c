/* Level design and tail fit of the gradient compressors (host only): the deterministic
 * reference values of docs/math.md §12.1-§12.3 (copied here; nothing outside the repository is
 * read), the options (true-variance rule, zero level, Laplace fallback), the Pareto tail fit,
 * and the method-name parser. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/levels.h"
#include "compress/method.h"
#include "compress/tailfit.h"
#include "test_support.h"

#define REL 1e-3

static int close_rel(double got, double want, double tol) {
  int ok = fabs(got - want) <= tol * fabs(want);
  if (!ok) fprintf(stderr, "\n    got %.6f want %.6f (rel %.2e)", got, want, fabs(got / want - 1));
  return ok;
}

static tq_tail_fit two_part_fit(void) {
  tq_tail_fit f = {0};
  f.ok = true;
  f.gamma = 3.5;
  f.g_min = 2.0;
  f.rho = 0.05;
  f.beta = 1.0;
  return f;
}

/* Checks the positive half of a symmetric table and its symmetry. */
static void check_positive_half(const tq_design *d, const double *want, int nwant) {
  CU_ASSERT_EQUAL_FATAL(d->nlev, 2 * nwant);
  for (int k = 0; k < nwant; k++) {
    CU_ASSERT(close_rel(d->levels[nwant + k], want[k], REL));
    CU_ASSERT_EQUAL(d->levels[nwant - 1 - k], -d->levels[nwant + k]);
  }
}

/* docs/math.md §12.1: Laplace scale 1, P2 design (TNQSGD with the Laplace model). */
static void test_laplace_p2_levels(void) {
  static const double alpha[3] = {1.7907, 3.1995, 4.8774};
  static const double lv2[] = {0.4870, 1.7907}, lv3[] = {0.2951, 0.9899, 1.8957, 3.1995},
                      lv4[] = {0.1651, 0.5254, 0.9349, 1.4093, 1.9730, 2.6678, 3.5736, 4.8774};
  const double *lv[3] = {lv2, lv3, lv4};
  for (int b = 2; b <= 4; b++) {
    tq_compress_cfg c;
    tq_compress_cfg_default(&c);
    c.method = TQ_METHOD_TNQSGD;
    c.tail = TQ_TAIL_LAPLACE;
    c.bits = b;
    tq_tail_fit f = {0};
    f.beta = 1.0;
    tq_design d;
    tq_err e = {0};
    TQ_ASSERT_OK(tq_design_levels(&c, &f, 1000000, &d, &e), &e);
    CU_ASSERT(d.laplace);
    CU_ASSERT(close_rel(d.alpha, alpha[b - 2], REL));
    check_positive_half(&d, lv[b - 2], 1 << (b - 1));
    /* P2's bound 27/(s + 3 sqrt6/2)^2 is the model value of this design. */
    double s = (1 << b) - 1;
    CU_ASSERT(close_rel(d.model_mse, 27 / pow(s + 1.5 * sqrt(6.0), 2), 1e-9));
  }
}

/* docs/math.md §12.1: TQ-Lap alpha = W0(s^2): 1.6790, 2.8459, 4.0239, uniform levels. */
static void test_laplace_uniform_alpha(void) {
  static const double alpha[3] = {1.6790, 2.8459, 4.0239};
  for (int b = 2; b <= 4; b++) {
    tq_compress_cfg c;
    tq_compress_cfg_default(&c);
    c.method = TQ_METHOD_TQSGD;
    c.tail = TQ_TAIL_LAPLACE;
    c.bits = b;
    tq_tail_fit f = {0};
    f.beta = 1.0;
    tq_design d;
    tq_err e = {0};
    TQ_ASSERT_OK(tq_design_levels(&c, &f, 1000000, &d, &e), &e);
    CU_ASSERT(close_rel(d.alpha, alpha[b - 2], REL));
    int s = (1 << b) - 1;
    for (int k = 0; k <= s; k++)
      CU_ASSERT(fabs(d.levels[k] - (-d.alpha + 2 * d.alpha * k / s)) < 1e-5);
  }
  CU_ASSERT(close_rel(tq_lambert_w0(9), 1.6790, 1e-4));
  CU_ASSERT(close_rel(tq_lambert_w0(49), 2.8459, 1e-4));
  CU_ASSERT(close_rel(tq_lambert_w0(225), 4.0239, 1e-4));
}

/* docs/math.md §12.2: two-part model (3.5, 2, 0.05, 1): alpha_U, alpha_N, TNQ-PL levels. */
static void test_two_part_model(void) {
  static const double aU[3] = {1.6287, 3.2112, 5.9084}, aN[3] = {1.7193, 5.8776, 40.0376};
  static const double lv2[] = {0.4714, 1.7193}, lv3[] = {0.3695, 1.2814, 2.6701, 5.8776},
                      lv4[] = {0.2637, 0.8730, 1.6384, 2.7547, 4.8499, 9.0571, 18.1883, 40.0376};
  static const double eU[3] = {1.4287, 1.0458, 0.7747}, eN[3] = {1.4097, 0.9283, 0.4897};
  const double *lv[3] = {lv2, lv3, lv4};
  tq_tail_fit f = two_part_fit();
  for (int b = 2; b <= 4; b++) {
    tq_compress_cfg c;
    tq_compress_cfg_default(&c);
    c.bits = b;
    tq_design d;
    tq_err e = {0};
    c.method = TQ_METHOD_TQSGD;
    TQ_ASSERT_OK(tq_design_levels(&c, &f, 1000000, &d, &e), &e);
    CU_ASSERT(!d.laplace);
    CU_ASSERT(close_rel(d.alpha, aU[b - 2], REL));
    CU_ASSERT(close_rel(d.model_mse, eU[b - 2], REL));
    c.method = TQ_METHOD_TNQSGD;
    TQ_ASSERT_OK(tq_design_levels(&c, &f, 1000000, &d, &e), &e);
    CU_ASSERT(close_rel(d.alpha, aN[b - 2], REL));
    CU_ASSERT(close_rel(d.model_mse, eN[b - 2], REL));
    check_positive_half(&d, lv[b - 2], 1 << (b - 1));
  }
  /* The closed form of docs/math.md §6.2 at s = 7 and s = 15. */
  tq_pl_model m;
  tq_pl_init(&m, 3.5, 2, 0.05, 1, 0.25);
  CU_ASSERT(close_rel(tq_pl_alpha_uniform(&m, 7), 3.2112, REL));
  CU_ASSERT(close_rel(tq_pl_alpha_uniform(&m, 15), 5.9084, REL));
}

/* TBQSGD (docs/math.md §8): collapses to TQSGD at b = 2; at b >= 3 a symmetric table whose
 * inner grid is uniform on [-g_min, g_min] and whose model error is no worse than TQSGD's. */
static void test_biscaled(void) {
  tq_tail_fit f = two_part_fit();
  for (int b = 2; b <= 8; b++) {
    tq_compress_cfg c;
    tq_compress_cfg_default(&c);
    c.bits = b;
    tq_design dt, du;
    tq_err e = {0};
    c.method = TQ_METHOD_TBQSGD;
    TQ_ASSERT_OK(tq_design_levels(&c, &f, 1000000, &dt, &e), &e);
    c.method = TQ_METHOD_TQSGD;
    TQ_ASSERT_OK(tq_design_levels(&c, &f, 1000000, &du, &e), &e);
    CU_ASSERT(dt.model_mse <= du.model_mse * (1 + 1e-12));
    CU_ASSERT_EQUAL(dt.nlev, 1 << b);
    for (int k = 0; k < dt.nlev; k++) CU_ASSERT(dt.levels[k] == -dt.levels[dt.nlev - 1 - k]);
    if (b == 2) {
      CU_ASSERT_EQUAL(dt.s_out, 0);
      CU_ASSERT(close_rel(dt.alpha, du.alpha, 1e-12));
    } else if (dt.s_out > 0) {
      CU_ASSERT(fabs(dt.levels[dt.s_out] + 2.0) < 1e-6); /* inner grid starts at -g_min */
    }
  }
  /* b = 3: the design uses a second scale on this model (E_B below E_U). */
  tq_compress_cfg c;
  tq_compress_cfg_default(&c);
  c.method = TQ_METHOD_TBQSGD;
  tq_design d;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_design_levels(&c, &f, 1000000, &d, &e), &e);
  CU_ASSERT(d.s_out >= 1);
}

/* docs/math.md §7.4: the true-variance rule gives alpha = 3 ln((s+3)/3) (2.08, 3.61, 5.38). */
static void test_truevar_rule(void) {
  static const double want[3] = {2.0794, 3.6109, 5.3753};
  for (int b = 2; b <= 4; b++) {
    tq_compress_cfg c;
    tq_compress_cfg_default(&c);
    c.method = TQ_METHOD_TNQSGD;
    c.tail = TQ_TAIL_LAPLACE;
    c.alpha_rule = TQ_ALPHA_TRUEVAR;
    c.bits = b;
    tq_tail_fit f = {0};
    f.beta = 1.0;
    tq_design d;
    tq_err e = {0};
    TQ_ASSERT_OK(tq_design_levels(&c, &f, 1000000, &d, &e), &e);
    CU_ASSERT(close_rel(d.alpha, want[b - 2], REL));
    int s = (1 << b) - 1;
    CU_ASSERT(close_rel(d.alpha, 3 * log((s + 3) / 3.0), 1e-6));
  }
}

/* Zero level: 2^b - 1 levels, the middle one exactly 0, symmetric, for the whole family. */
static void test_zero_level(void) {
  tq_tail_fit f = two_part_fit();
  tq_method ms[3] = {TQ_METHOD_TQSGD, TQ_METHOD_TNQSGD, TQ_METHOD_TBQSGD};
  for (int mi = 0; mi < 3; mi++)
    for (int b = 2; b <= 8; b++)
      for (int lap = 0; lap < 2; lap++) {
        tq_compress_cfg c;
        tq_compress_cfg_default(&c);
        c.method = ms[mi];
        c.bits = b;
        c.zero_level = true;
        c.tail = lap ? TQ_TAIL_LAPLACE : TQ_TAIL_POWERLAW;
        tq_design d;
        tq_err e = {0};
        TQ_ASSERT_OK(tq_design_levels(&c, &f, 1000000, &d, &e), &e);
        CU_ASSERT_EQUAL(d.nlev, (1 << b) - 1);
        CU_ASSERT_EQUAL(d.levels[d.nlev / 2], 0.0f);
        for (int k = 0; k < d.nlev; k++) CU_ASSERT(d.levels[k] == -d.levels[d.nlev - 1 - k]);
      }
  tq_compress_cfg c;
  tq_compress_cfg_default(&c);
  c.zero_level = true;
  c.bits = 1;
  tq_err e = {0};
  CU_ASSERT_EQUAL(tq_compress_cfg_check(&c, &e), TQ_EINPUT);
}

/* docs/math.md §10 fallback: d < 1000, a failed fit, or gamma <= 3.05 use the Laplace rule. */
static void test_fallback(void) {
  tq_compress_cfg c;
  tq_compress_cfg_default(&c);
  tq_tail_fit f = two_part_fit();
  tq_design d;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_design_levels(&c, &f, 999, &d, &e), &e);
  CU_ASSERT(d.laplace);
  f.gamma = 3.05;
  TQ_ASSERT_OK(tq_design_levels(&c, &f, 1000000, &d, &e), &e);
  CU_ASSERT(d.laplace);
  CU_ASSERT(close_rel(d.alpha, 3.1995, REL)); /* the P2 alpha* for beta = 1 at b = 3 */
  f = two_part_fit();
  f.ok = false;
  TQ_ASSERT_OK(tq_design_levels(&c, &f, 1000000, &d, &e), &e);
  CU_ASSERT(d.laplace);
  f = two_part_fit();
  TQ_ASSERT_OK(tq_design_levels(&c, &f, 1000000, &d, &e), &e);
  CU_ASSERT(!d.laplace);
  /* An all-zero tensor still gets a valid (tiny, increasing) table. */
  f.ok = false;
  f.beta = 0;
  TQ_ASSERT_OK(tq_design_levels(&c, &f, 1000000, &d, &e), &e);
  for (int k = 1; k < d.nlev; k++) CU_ASSERT(d.levels[k] > d.levels[k - 1]);
  CU_ASSERT(d.alpha < 1e-28);
}

/* Bucketed magnitude tables (docs/math.md §4): QSGD {j/s}, NUQSGD {0, 2^-s, .., 1/2, 1}. */
static void test_bucketed_tables(void) {
  for (int b = 2; b <= 8; b++) {
    tq_compress_cfg c;
    tq_compress_cfg_default(&c);
    c.bits = b;
    tq_design d;
    tq_err e = {0};
    c.method = TQ_METHOD_QSGD;
    TQ_ASSERT_OK(tq_design_levels(&c, NULL, 100, &d, &e), &e);
    int s = (1 << (b - 1)) - 1;
    CU_ASSERT_EQUAL(d.nlev, s + 1);
    CU_ASSERT_EQUAL(d.levels[0], 0.0f);
    CU_ASSERT_EQUAL(d.levels[s], 1.0f);
    c.method = TQ_METHOD_NUQSGD;
    TQ_ASSERT_OK(tq_design_levels(&c, NULL, 100, &d, &e), &e);
    CU_ASSERT_EQUAL(d.nlev, 1 << (b - 1));
    CU_ASSERT_EQUAL(d.levels[0], 0.0f);
    CU_ASSERT_EQUAL(d.levels[d.nlev - 1], 1.0f);
    if (d.nlev > 2) CU_ASSERT_EQUAL(d.levels[d.nlev - 2], 0.5f);
    if (b == 3) CU_ASSERT_EQUAL(d.levels[1], 0.25f);
  }
}

static void sample_pareto(tq_test_rng *r, float *x, size_t n, double gamma, double gmin) {
  for (size_t i = 0; i < n; i++) {
    double v = gmin * pow(1.0 - tq_test_uniform(r), -1.0 / (gamma - 1.0));
    x[i] = (float)(tq_test_uniform(r) < 0.5 ? v : -v);
  }
}

/* docs/math.md §9, §12.4: the binned MLE recovers gamma within 0.05 on 10^5 Pareto samples. */
static void test_tail_fit_pareto(void) {
  const size_t n = 100000;
  float *x = malloc(n * sizeof *x);
  static const double gam[3] = {2.5, 3.5, 5.0};
  for (int t = 0; t < 3; t++) {
    for (int rep = 0; rep < 3; rep++) {
      tq_test_rng r = {0x5eed0000u + 17u * (uint64_t)t + (uint64_t)rep};
      sample_pareto(&r, x, n, gam[t], 1.0);
      tq_tail_stats st;
      tq_tail_stats_ref(x, n, true, &st);
      tq_tail_fit f;
      tq_tail_fit_hist(&st, NULL, &f);
      CU_ASSERT(f.ok);
      if (fabs(f.gamma - gam[t]) >= 0.05)
        fprintf(stderr, "\n    Pareto %.1f rep %d: gamma_hat %.4f", gam[t], rep, f.gamma);
      CU_ASSERT(fabs(f.gamma - gam[t]) < 0.05);
      CU_ASSERT(f.g_min >= 1.0 - 1e-6); /* no x_min below the true start of the power law */
      CU_ASSERT(f.rho > 0 && f.rho <= 0.25 + 1e-12);
    }
  }
  /* Laplace body + Pareto tail (docs/math.md §12.5): gamma 3.5, g_min 2, rho 0.05 recovered
   * roughly (§12.4: 3.517 +- 0.038, g_min 2.16, rho 0.0513). */
  tq_test_rng r = {777};
  for (size_t i = 0; i < n; i++) {
    double v;
    if (tq_test_uniform(&r) < 0.1) v = 2.0 * pow(1.0 - tq_test_uniform(&r), -1.0 / 2.5);
    else v = -log(1.0 - tq_test_uniform(&r) * (1.0 - exp(-2.0)));
    x[i] = (float)(tq_test_uniform(&r) < 0.5 ? v : -v);
  }
  tq_tail_stats st;
  tq_tail_stats_ref(x, n, true, &st);
  tq_tail_fit f;
  tq_tail_fit_hist(&st, NULL, &f);
  CU_ASSERT(f.ok);
  CU_ASSERT(fabs(f.gamma - 3.5) < 0.15);
  CU_ASSERT(f.g_min > 1.6 && f.g_min < 2.8);
  CU_ASSERT(fabs(f.rho - 0.05) < 0.02);
  free(x);
}

/* The histogram layout: bins are log-spaced by 10^(1/16) below M; M lands in the top bin,
 * values 7 decades below M are not binned, zeros are not binned. */
static void test_histogram_layout(void) {
  float x[6] = {8.0f, 8.0f * 0.99f, 8.0f / 1.2f, 8e-7f * 0.5f, 0.0f, -8.0f};
  tq_tail_stats st;
  tq_tail_stats_ref(x, 6, true, &st);
  CU_ASSERT_EQUAL(st.max_abs, 8.0);
  CU_ASSERT_EQUAL(st.nonzero, 5);
  CU_ASSERT_EQUAL(st.hist[TQ_HIST_BINS - 1], 3); /* 8, -8, 7.92 */
  CU_ASSERT_EQUAL(st.hist[TQ_HIST_BINS - 2], 1); /* 8/1.2 = 8 * 10^-0.079: one bin down */
  uint32_t tot = 0;
  for (int j = 0; j < TQ_HIST_BINS; j++) tot += st.hist[j];
  CU_ASSERT_EQUAL(tot, 4);
  const float *R = tq_hist_ratios();
  CU_ASSERT_EQUAL(R[TQ_HIST_BINS], 1.0f);
  CU_ASSERT(fabs(R[TQ_HIST_BINS - TQ_HIST_BPD] - 0.1) < 1e-7);
  /* Exact edges: a value equal to an edge belongs to the bin below it. */
  float M = 3.0f, e = M * R[50];
  CU_ASSERT_EQUAL(tq_hist_bin(e, M, logf(M), R), 49);
  CU_ASSERT_EQUAL(tq_hist_bin(nextafterf(e, 10.0f), M, logf(M), R), 50);
}

static void test_method_names(void) {
  tq_err e = {0};
  tq_method m;
  const char *names[] = {"none", "qsgd", "qsgdinf", "nuqsgd", "tqsgd", "tnqsgd", "tbqsgd"};
  for (int i = 0; i < 7; i++) {
    TQ_ASSERT_OK(tq_method_from_name(names[i], &m, &e), &e);
    CU_ASSERT_EQUAL((int)m, i);
    CU_ASSERT_STRING_EQUAL(tq_method_name(m), names[i]);
  }
  CU_ASSERT_EQUAL(tq_method_from_name("qsdg", &m, &e), TQ_EINPUT);
  CU_ASSERT(strstr(e.msg, "qsdg") != NULL);
  CU_ASSERT(strstr(e.msg, "tnqsgd") != NULL && strstr(e.msg, "nuqsgd") != NULL);
  tq_compress_cfg c;
  tq_compress_cfg_default(&c);
  c.method = TQ_METHOD_QSGD;
  c.bits = 1;
  tq_err e2 = {0};
  CU_ASSERT_EQUAL(tq_compress_cfg_check(&c, &e2), TQ_EINPUT);
  CU_ASSERT(strstr(e2.msg, "bits 1") != NULL);
  c.method = TQ_METHOD_TQSGD;
  TQ_ASSERT_OK(tq_compress_cfg_check(&c, &e), &e); /* 1 bit makes sense: levels +-alpha */
  c.bits = 9;
  CU_ASSERT_EQUAL(tq_compress_cfg_check(&c, &e2), TQ_EINPUT);
}

/* The method table: codes equal indices, names unique and parsed back, the "valid:" list names
 * every method, every design function gives the table's level count for every width the
 * table allows (with and without the zero level), and cfg_check accepts exactly that range. */
static void test_method_table(void) {
  tq_err e = {0};
  tq_method m;
  CU_ASSERT_EQUAL(tq_method_from_name("no-such-method", &m, &e), TQ_EINPUT);
  for (int i = 0; i < TQ_METHOD_COUNT; i++) {
    const tq_method_info *mi = tq_method_info_of((tq_method)i);
    CU_ASSERT_EQUAL((int)mi->method, i);
    CU_ASSERT_PTR_EQUAL(tq_method_info_by_name(mi->name), mi);
    CU_ASSERT(strstr(e.msg, mi->name) != NULL);
    CU_ASSERT(mi->summary && mi->summary[0]);
    CU_ASSERT((mi->design == NULL) == (mi->family == TQ_FAMILY_NONE));
    CU_ASSERT(mi->bits_min <= mi->bits_max);
    CU_ASSERT((mi->norm != TQ_NORM_NONE) == (mi->family == TQ_FAMILY_BUCKETED));
    const tq_family_info *f = tq_family_info_of(mi->family);
    CU_ASSERT_EQUAL(f->family, mi->family);
    CU_ASSERT((f->encode_kernel == NULL) == (mi->family == TQ_FAMILY_NONE));
    for (int j = 0; j < i; j++) CU_ASSERT(strcmp(tq_method_name((tq_method)j), mi->name) != 0);
    if (mi->family == TQ_FAMILY_NONE) continue;
    for (int zl = 0; zl < 2; zl++) {
      tq_compress_cfg c;
      tq_compress_cfg_default(&c);
      c.method = mi->method;
      c.zero_level = zl;
      for (int b = 0; b <= 9; b++) {
        c.bits = b;
        tq_err ce = {0};
        bool in = b >= tq_bits_min(c.method, c.zero_level) && b <= tq_bits_max(c.method);
        CU_ASSERT_EQUAL(tq_compress_cfg_check(&c, &ce) == TQ_OK, in);
        if (!in) continue;
        tq_design d;
        TQ_ASSERT_OK(tq_design_levels(&c, NULL, 5000, &d, &ce), &ce);
        int want = tq_levels_count(c.method, b, c.zero_level);
        if (d.nlev != want)
          fprintf(stderr, "\n    %s b=%d zl=%d: %d levels, table says %d", mi->name, b, zl, d.nlev,
                  want);
        CU_ASSERT_EQUAL(d.nlev, want);
        CU_ASSERT(want <= TQ_MAX_LEVELS);
      }
    }
  }
  char joined[256];
  CU_ASSERT_STRING_EQUAL(tq_method_names_join("|", joined, sizeof joined),
                         "none|qsgd|qsgdinf|nuqsgd|tqsgd|tnqsgd|tbqsgd|tpqsgd|efsign|topk");
}

/* docs/compression.md's table of methods lists exactly the table's names, in its order, with
 * its bit ranges, so the docs cannot drift from the code. */
static void test_docs_list_methods(void) {
  const char *path = TQ_SOURCE_DIR "/docs/compression.md";
  FILE *f = fopen(path, "r");
  CU_ASSERT_FATAL(f != NULL);
  char line[1024];
  bool in_section = false;
  int i = 0;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "## ", 3)) {
      in_section = !strcmp(line, "## Methods\n");
      continue;
    }
    if (!in_section || strncmp(line, "| `", 3)) continue;
    char name[32] = "";
    const char *end = strchr(line + 3, '`');
    CU_ASSERT_FATAL(end != NULL && end - (line + 3) < (long)sizeof name);
    snprintf(name, sizeof name, "%.*s", (int)(end - (line + 3)), line + 3);
    const char *last = strrchr(line, '|'), *bits = last - 1;
    while (bits > line && bits[-1] != '|') bits--;
    char got[32], want[32];
    snprintf(got, sizeof got, "%.*s", (int)(last - bits), bits);
    if (i >= TQ_METHOD_COUNT) {
      fprintf(stderr, "\n    %s lists '%s', which is not in the method table", path, name);
      CU_FAIL("docs list a method the table lacks");
      break;
    }
    const tq_method_info *mi = tq_method_info_of((tq_method)i);
    if (mi->bits_min == mi->bits_max) snprintf(want, sizeof want, " %d ", mi->bits_min);
    else snprintf(want, sizeof want, " %d..%d ", mi->bits_min, mi->bits_max);
    if (strcmp(name, mi->name) || strcmp(got, want))
      fprintf(stderr, "\n    %s row %d: '%s' bits '%s'; the table has '%s' bits '%s'", path, i + 1,
              name, got, mi->name, want);
    CU_ASSERT_STRING_EQUAL(name, mi->name);
    CU_ASSERT_STRING_EQUAL(got, want);
    i++;
  }
  fclose(f);
  CU_ASSERT_EQUAL(i, TQ_METHOD_COUNT);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"math.md 12.1 Laplace P2 alpha and levels", test_laplace_p2_levels},
      {"math.md 12.1 TQ-Lap alpha = W(s^2)", test_laplace_uniform_alpha},
      {"math.md 12.2 two-part model alpha_U, alpha_N, levels", test_two_part_model},
      {"TBQSGD design", test_biscaled},
      {"true-variance alpha rule", test_truevar_rule},
      {"zero-level option", test_zero_level},
      {"Laplace fallback rules", test_fallback},
      {"QSGD/NUQSGD magnitude tables", test_bucketed_tables},
      {"tail fit recovers gamma on Pareto samples", test_tail_fit_pareto},
      {"histogram layout and exact edges", test_histogram_layout},
      {"method names and bit ranges", test_method_names},
      {"method table: names, ranges, level counts, design functions", test_method_table},
      {"docs/compression.md lists the table's methods", test_docs_list_methods},
      {NULL, NULL}};
  tq_test_add_suite("compress levels", cases);
  return tq_test_run();
}
