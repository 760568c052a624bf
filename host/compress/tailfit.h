/* Tail estimation (docs/math.md §9): per-tensor statistics (max|g|, sum|g|, counts and a
 * log-spaced histogram of |g|) and the binned power-law fit the level design uses.
 *
 * Bins: B = 16 per decade x 7 decades = 112. Bin j holds e_j < |g| <= e_{j+1} with
 * e_j = M * R[j], M = max|g| and R[j] = (float)10^((j - B)/16), R[B] = 1. Edges are float
 * products M*R[j], which IEEE rounds identically on the host and on any OpenCL device, so the
 * device histogram equals this file's reference histogram count for count. |g| <= e_0 (more
 * than 7 decades below the max) and g = 0 are not binned. */
#ifndef TQ_COMPRESS_TAILFIT_H
#define TQ_COMPRESS_TAILFIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cl/kernel_constants.h" /* TQ_HIST_BPD, TQ_HIST_DECADES, TQ_HIST_BINS */

typedef struct tq_tail_stats {
  uint64_t n;         /* elements */
  uint64_t nonzero;   /* elements with g != 0 */
  uint64_t nonfinite; /* NaN or +-Inf elements (the compressor refuses them) */
  double max_abs;     /* M */
  double sum_abs;     /* S1 */
  uint32_t hist[TQ_HIST_BINS];
} tq_tail_stats;

typedef struct tq_tail_fit {
  bool ok;        /* false: no admissible x_min (the design falls back to the Laplace rule) */
  double gamma;   /* tail exponent of p(g) ~ |g|^-gamma */
  double g_min;   /* tail start e_j */
  double rho;     /* tail mass per side: n_j / (2 n) */
  double beta;    /* Laplace body scale: S1 / n */
  double ks;      /* binned KS distance of the chosen x_min */
  uint64_t ntail; /* n_j */
  int bin;        /* j */
} tq_tail_fit;

/* Candidate x_min limits (docs/math.md §9.4). */
typedef struct tq_fit_opts {
  double n_min;    /* 50 */
  double min_frac; /* 0.01 */
  double max_frac; /* 0.5 */
} tq_fit_opts;
void tq_fit_opts_default(tq_fit_opts *o);

/* The float ratio table R[0..B] (B+1 entries), computed once. */
const float *tq_hist_ratios(void);

/* ln r = ln(10)/16, the bin width in log space. */
double tq_hist_lnr(void);

/* Bin of a > 0 given the edges M*R[j] (M > 0, lnM = logf(M)); -1 if a <= e_0. The float
 * log only guesses; the edge comparisons decide, exactly as in kernels/quant_stats.cl. */
int tq_hist_bin(float a, float M, float lnM, const float *R);

/* Plain-C reference of the device statistics pass. hist may be skipped (with_hist false:
 * the Laplace model needs only M and S1). */
void tq_tail_stats_ref(const float *g, size_t n, bool with_hist, tq_tail_stats *out);

/* The binned MLE + KS choice of x_min. n counts every element (zeros included), matching the
 * per-element model: rho is the tail mass per side among all elements and beta = S1 / n. */
void tq_tail_fit_hist(const tq_tail_stats *st, const tq_fit_opts *opts, tq_tail_fit *out);

#endif
