#include "compress/design_tp.h"

#include <math.h>
#include <string.h>

void tq_tp_levels(int bits, int k, float *mag) {
  int nlev = 1 << (bits - 1);
  for (int j = 0; j < nlev; j++) {
    double t = nlev > 1 ? (double)j / (double)(nlev - 1) : 1.0;
    double r = 1.0;
    for (int q = 0; q < k / 4; q++) r *= t;
    if (k & 2) r *= sqrt(t);
    if (k & 1) r *= sqrt(sqrt(t));
    mag[j] = (float)r;
  }
  mag[nlev - 1] = 1.0f;
}

void tq_tp_cap_scales(float *scales, size_t nb, float alpha) {
  for (size_t b = 0; b < nb; b++) scales[b] = scales[b] < alpha ? scales[b] : alpha;
}

/* Largest j in [0, nlev-2] with mag[j] <= r. */
static int level_below(const double *mag, int nlev, double r) {
  int j = 0;
  while (j + 1 <= nlev - 2 && mag[j + 1] <= r) j++;
  return j;
}

/* The design objective for one (alpha, levels): every binned element sits at its bin's
 * geometric centre c and costs its truncation bias (c - T)^2 plus the rounding variance
 * alpha^2 (r - m_j)(m_{j+1} - r) of r = T / alpha, T = min(c, alpha), the variance divided by
 * navg when the error that matters is that of an average over navg workers (their rounding is
 * independent, their bias is not: it has the sign of the gradient on every worker). The model
 * uses alpha for every bucket; buckets whose maximum is below alpha get finer steps than it
 * assumes. */
static double model_cost(const double *centre, const uint32_t *hist, double alpha,
                         const double *mag, int nlev, double navg) {
  double tot = 0.0;
  for (int j = 0; j < TQ_HIST_BINS; j++) {
    if (!hist[j]) continue;
    double c = centre[j], t = c < alpha ? c : alpha, r = t / alpha;
    int l = level_below(mag, nlev, r);
    double bias = c - t;
    tot += (double)hist[j] * (bias * bias + alpha * alpha * (r - mag[l]) * (mag[l + 1] - r) / navg);
  }
  return tot;
}

tq_tp_design tq_tp_design_levels(const tq_tail_stats *st, int bits, uint32_t navg) {
  tq_tp_design best = {.k = TQ_TP_K_MIN, .a = TQ_HIST_BINS, .alpha = (float)st->max_abs,
                       .cost = 0.0};
  float M = (float)st->max_abs;
  if (!(M > 0.0f) || st->n == 0) return best;
  const float *R = tq_hist_ratios();
  double centre[TQ_HIST_BINS];
  for (int j = 0; j < TQ_HIST_BINS; j++) centre[j] = (double)M * sqrt((double)R[j] * R[j + 1]);
  int nlev = 1 << (bits - 1);
  double mag[TQ_MAX_LEVELS];
  float magf[TQ_MAX_LEVELS];
  best.cost = INFINITY;
  for (int k = TQ_TP_K_MIN; k <= TQ_TP_K_MAX; k++) {
    tq_tp_levels(bits, k, magf);
    for (int j = 0; j < nlev; j++) mag[j] = magf[j];
    for (int a = TQ_HIST_BINS; a >= TQ_TP_A_MIN; a--) {
      float alpha = M * R[a];
      double c = model_cost(centre, st->hist, alpha, mag, nlev, navg > 1 ? (double)navg : 1.0);
      if (c < best.cost) best = (tq_tp_design){.k = k, .a = a, .alpha = alpha, .cost = c};
    }
  }
  best.cost /= (double)st->n;
  return best;
}
