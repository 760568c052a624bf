/* The two baselines of the method table (docs/math.md §16): EF-signSGD (`efsign`, a method of
 * the bucketed family: one sign bit per element, mean |x| per bucket) and top-k sparsification
 * (`topk`, the sparse family: the K = tq_sparse_k(n, b) largest |x| as index/value pairs). Both
 * run with error feedback. What the device path and the reference share lives here: the
 * design functions, and the top-k selection order and threshold. */
#ifndef TQ_COMPRESS_BASELINES_H
#define TQ_COMPRESS_BASELINES_H

#include <stddef.h>
#include <stdint.h>

#include "compress/levels.h"
#include "compress/tailfit.h"

/* efsign: the one-entry magnitude table {1}: a code is the sign bit, the value sign * scale. */
tq_status tq_design_efsign(TQ_DESIGN_ARGS);
/* topk: no table (nlev 0); K comes from n and b (tq_sparse_k). */
tq_status tq_design_topk(TQ_DESIGN_ARGS);

/* The candidates of the device's gather for the K largest |x| of a tensor with statistics st
 * (max|x|, the non-zero count and the 112-bin histogram of |x|): every element with |x| > *thr
 * (*ncand of them, exactly, since the histogram counts them): the lower edge M*R[j] of the
 * highest bin j whose bins j..111 hold >= K elements; 0 when only all the non-zero elements
 * reach K; -1 (every element) when even they do not. */
void tq_topk_threshold(const tq_tail_stats *st, uint32_t k, float *thr, uint64_t *ncand);

/* The selection order: |x| descending, then index ascending (so ties go to the lower index and
 * the choice is one and the same wherever it is made). */
int tq_topk_order(uint32_t ia, float va, uint32_t ib, float vb);

/* From nc candidates (index, value: any order, every element above the threshold), the k <= nc
 * first in tq_topk_order (quickselect: the order is total, so the set is unique), written in
 * increasing index order (radix sort) to idx/val. TQ_ENOMEM. */
tq_status tq_topk_pick(const uint32_t *cidx, const float *cval, size_t nc, uint32_t k,
                       uint32_t *idx, float *val, tq_err *e);

#endif
