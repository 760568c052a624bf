/* TPQSGD: truncation at alpha, a scale per bucket, and power levels designed per tensor
 * (docs/math.md §15). The truncated family's idea (clip at alpha, design the levels from the
 * measured distribution of |g|) on the structure that makes QSGDinf strong on real gradients
 * (a max-norm scale per bucket, and 0 as a level, so that exact zeros cost nothing):
 *
 *   s_b  = min(max_{i in b} |g_i|, alpha)             one scale per bucket
 *   r_i  = min(|g_i| / s_b, 1)                        truncation where |g_i| > alpha
 *   m_j  = (j / (2^(b-1) - 1))^(k/4),  j = 0..2^(b-1)-1   magnitude levels, k in [4, 12]
 *   code = sign bit + stochastic rounding of r_i on m   (the bucketed codec, unchanged)
 *
 * alpha = M * R[a] is one of the histogram's own edges (M = max|g|), and (a, k) minimise the
 * expected squared error modelled on the tensor's histogram of |g|, the same statistics the
 * truncated family fits its tail to. k = 4 and a = 112 (alpha = M) is QSGDinf exactly, so the
 * choice can always fall back to it. The message is a QSGD-family message (level table and
 * per-bucket scales; docs/wire-format.md): exactly QSGDinf's size for the same tensor, bucket
 * and b. */
#ifndef TQ_COMPRESS_DESIGN_TP_H
#define TQ_COMPRESS_DESIGN_TP_H

#include <stddef.h>
#include <stdint.h>

#include "compress/tailfit.h"

#define TQ_TP_K_MIN 4  /* exponent p = k / 4: 1 (uniform) .. 3 */
#define TQ_TP_K_MAX 12
#define TQ_TP_A_MIN (TQ_HIST_BINS - 32) /* alpha no lower than two decades below max|g| */

typedef struct tq_tp_design {
  int k;       /* level exponent p = k / 4 */
  int a;       /* alpha = M * R[a], a in [TQ_TP_A_MIN, TQ_HIST_BINS] */
  float alpha; /* the truncation threshold, as a float product M * R[a] */
  double cost; /* modelled expected squared error per element (design objective) */
} tq_tp_design;

/* The magnitude levels for b bits and exponent k: 2^(b-1) floats, mag[0] = 0, mag[last] = 1.
 * Computed with IEEE double multiplies and square roots only (t^(k/4) from t, sqrt t and
 * sqrt sqrt t), so every machine designs the same table from the same statistics. */
void tq_tp_levels(int bits, int k, float *mag);

/* (a, k) from the statistics of one tensor (max|g| and the histogram; tailfit.h), minimising
 * bias^2 + variance / navg per element (navg: workers averaged; 1 = one message's own error).
 * All-zero tensors get QSGDinf's choice. */
tq_tp_design tq_tp_design_levels(const tq_tail_stats *st, int bits, uint32_t navg);

/* scales[b] = min(maxnorm[b], alpha) for nb buckets, in place (as kernel q_norm_cap). */
void tq_tp_cap_scales(float *scales, size_t nb, float alpha);

#endif
