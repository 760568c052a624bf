#include "compress/tailfit.h"

#include <math.h>
#include <string.h>

void tq_fit_opts_default(tq_fit_opts *o) {
  o->n_min = 50;
  o->min_frac = 0.01;
  o->max_frac = 0.5;
}

double tq_hist_lnr(void) { return log(10.0) / TQ_HIST_BPD; }

const float *tq_hist_ratios(void) {
  /* Deterministic on a given host (pow of exact arguments); the device receives these very
   * floats, so host and device edges agree however pow rounds. Benign race: every thread
   * writes identical values. */
  static float R[TQ_HIST_BINS + 1];
  static volatile int ready = 0;
  if (!ready) {
    for (int j = 0; j < TQ_HIST_BINS; j++)
      R[j] = (float)pow(10.0, (double)(j - TQ_HIST_BINS) / TQ_HIST_BPD);
    R[TQ_HIST_BINS] = 1.0f;
    ready = 1;
  }
  return R;
}

int tq_hist_bin(float a, float M, float lnM, const float *R) {
  const float inv_lnr = (float)(TQ_HIST_BPD / 2.302585092994046);
  float q = (lnM - logf(a)) * inv_lnr;
  int j;
  if (!(q < (float)TQ_HIST_BINS)) j = 0; /* far below the range (or q NaN): start at the bottom */
  else {
    j = TQ_HIST_BINS - 1 - (int)floorf(q < 0.0f ? 0.0f : q);
    if (j < 0) j = 0;
  }
  while (j < TQ_HIST_BINS - 1 && a > M * R[j + 1]) j++;
  while (j >= 0 && a <= M * R[j]) j--;
  return j;
}

void tq_tail_stats_ref(const float *g, size_t n, bool with_hist, tq_tail_stats *out) {
  memset(out, 0, sizeof *out);
  out->n = n;
  float M = 0.0f;
  double s1 = 0.0;
  for (size_t i = 0; i < n; i++) {
    float a = fabsf(g[i]);
    if (!isfinite(a)) {
      out->nonfinite++;
      continue;
    }
    if (a > 0.0f) out->nonzero++;
    if (a > M) M = a;
    s1 += a;
  }
  out->max_abs = M;
  out->sum_abs = s1;
  if (!with_hist || M <= 0.0f) return;
  const float *R = tq_hist_ratios();
  float lnM = logf(M);
  for (size_t i = 0; i < n; i++) {
    float a = fabsf(g[i]);
    if (!(a > 0.0f) || !isfinite(a)) continue;
    int j = tq_hist_bin(a, M, lnM, R);
    if (j >= 0) out->hist[j]++;
  }
}

void tq_tail_fit_hist(const tq_tail_stats *st, const tq_fit_opts *opts, tq_tail_fit *out) {
  tq_fit_opts def;
  if (!opts) {
    tq_fit_opts_default(&def);
    opts = &def;
  }
  memset(out, 0, sizeof *out);
  const int B = TQ_HIST_BINS;
  const double n = (double)st->n, lnr = tq_hist_lnr();
  out->beta = n > 0 ? st->sum_abs / n : 0.0;
  if (st->n == 0 || !(st->max_abs > 0)) return;
  double suf[TQ_HIST_BINS + 1], wsum[TQ_HIST_BINS + 1];
  suf[B] = wsum[B] = 0.0;
  for (int j = B - 1; j >= 0; j--) {
    suf[j] = suf[j + 1] + st->hist[j];
    wsum[j] = wsum[j + 1] + (double)j * st->hist[j];
  }
  double lo = fmax(opts->n_min, opts->min_frac * n), hi = opts->max_frac * n;
  double bestD = INFINITY;
  for (int j = 0; j < B; j++) {
    double nj = suf[j];
    if (nj < lo || nj > hi) continue;
    double kbar = (wsum[j] - j * nj) / nj;
    if (kbar <= 0) continue;
    double q = kbar / (1.0 + kbar), qp = 1.0, D = 0.0;
    for (int k = j; k < B; k++) {
      D = fmax(D, fabs(suf[k] / nj - qp));
      qp *= q;
    }
    if (D < bestD) {
      bestD = D;
      out->ok = true;
      out->bin = j;
      out->ks = D;
      out->ntail = (uint64_t)nj;
      out->gamma = 1.0 + log(1.0 + 1.0 / kbar) / lnr;
      out->g_min = st->max_abs * exp((j - B) * lnr);
      out->rho = nj / (2.0 * n);
    }
  }
}
