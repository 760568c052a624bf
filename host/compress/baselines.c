#include "compress/baselines.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tq_status tq_design_efsign(TQ_DESIGN_ARGS) {
  (void)cfg, (void)st, (void)fit, (void)d, (void)e;
  out->nlev = 1;
  out->levels[0] = 1.0f;
  return TQ_OK;
}

tq_status tq_design_topk(TQ_DESIGN_ARGS) {
  (void)cfg, (void)st, (void)fit, (void)d, (void)e;
  out->nlev = 0;
  return TQ_OK;
}

void tq_topk_threshold(const tq_tail_stats *st, uint32_t k, float *thr, uint64_t *ncand) {
  const float *R = tq_hist_ratios();
  const float M = st->max_abs;
  uint64_t cum = 0;
  for (int j = TQ_HIST_BINS - 1; j >= 0 && M > 0; j--) {
    cum += st->hist[j];
    if (cum >= k) {
      *thr = M * R[j]; /* the very edge the histogram kernels compare with */
      *ncand = cum;
      return;
    }
  }
  if (st->nonzero >= k) {
    *thr = 0.0f;
    *ncand = st->nonzero;
  } else {
    *thr = -1.0f;
    *ncand = st->n;
  }
}

int tq_topk_order(uint32_t ia, float va, uint32_t ib, float vb) {
  float a = fabsf(va), b = fabsf(vb);
  if (a != b) return a > b ? -1 : 1;
  return ia < ib ? -1 : (ia > ib ? 1 : 0);
}

typedef struct pair {
  uint32_t i;
  float v;
} pair;

static int by_order(const void *pa, const void *pb) {
  const pair *a = pa, *b = pb;
  return tq_topk_order(a->i, a->v, b->i, b->v);
}

static int by_index(const void *pa, const void *pb) {
  const pair *a = pa, *b = pb;
  return a->i < b->i ? -1 : (a->i > b->i ? 1 : 0);
}

tq_status tq_topk_pick(const uint32_t *cidx, const float *cval, size_t nc, uint32_t k,
                       uint32_t *idx, float *val, tq_err *e) {
  if (k > nc) return tq_fail(e, TQ_EINTERNAL, "top-k: %u entries asked of %zu candidates", k, nc);
  pair *p = malloc(sizeof *p * (nc ? nc : 1));
  if (!p) return tq_fail(e, TQ_ENOMEM, "out of memory sorting %zu top-k candidates", nc);
  for (size_t j = 0; j < nc; j++) p[j] = (pair){cidx[j], cval[j]};
  qsort(p, nc, sizeof *p, by_order);
  qsort(p, k, sizeof *p, by_index);
  for (uint32_t j = 0; j < k; j++) {
    idx[j] = p[j].i;
    val[j] = p[j].v;
  }
  free(p);
  return TQ_OK;
}
