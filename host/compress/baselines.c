#include "compress/baselines.h"

#include <math.h>
#include <stdbool.h>
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

static bool before(pair a, pair b) { return tq_topk_order(a.i, a.v, b.i, b.v) < 0; }

static void swap(pair *p, size_t a, size_t b) {
  pair t = p[a];
  p[a] = p[b];
  p[b] = t;
}

/* Reorders p[0..n) so that p[0..k) are its k first elements in tq_topk_order (in some order):
 * quickselect, median-of-three pivots. The order is total (indices are distinct), so the set
 * is the same whatever the pivots and the input order: the gather's order does not matter. */
static void select_first(pair *p, size_t n, size_t k) {
  size_t lo = 0, hi = n;
  while (lo < k && k < hi) {
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    if (before(p[mid], p[lo])) swap(p, mid, lo);
    if (before(p[last], p[lo])) swap(p, last, lo);
    if (before(p[mid], p[last])) swap(p, mid, last); /* the median now at last */
    size_t r = lo;
    for (size_t t = lo; t < last; t++)
      if (before(p[t], p[last])) swap(p, t, r++);
    swap(p, r, last); /* the pivot at r, everything before it at [lo, r) */
    if (r < k) lo = r + 1;
    else hi = r;
  }
}

/* p[0..k) into idx/val by increasing index: two 16-bit counting passes through tmp. */
static void by_index(pair *p, pair *tmp, uint32_t k, uint32_t *idx, float *val) {
  static const int shifts[2] = {0, 16};
  pair *src = p, *dst = tmp;
  for (int pass = 0; pass < 2; pass++) {
    size_t *count = calloc(65537, sizeof *count);
    if (!count) abort(); /* 512 KiB; the callers checked far larger allocations */
    for (uint32_t j = 0; j < k; j++) count[((src[j].i >> shifts[pass]) & 0xffffu) + 1]++;
    for (int d = 0; d < 65536; d++) count[d + 1] += count[d];
    for (uint32_t j = 0; j < k; j++) dst[count[(src[j].i >> shifts[pass]) & 0xffffu]++] = src[j];
    free(count);
    pair *t = src;
    src = dst;
    dst = t;
  }
  for (uint32_t j = 0; j < k; j++) {
    idx[j] = src[j].i;
    val[j] = src[j].v;
  }
}

tq_status tq_topk_pick(const uint32_t *cidx, const float *cval, size_t nc, uint32_t k,
                       uint32_t *idx, float *val, tq_err *e) {
  if (k > nc) return tq_fail(e, TQ_EINTERNAL, "top-k: %u entries asked of %zu candidates", k, nc);
  pair *p = malloc(sizeof *p * (nc ? nc : 1)), *tmp = malloc(sizeof *tmp * (k ? k : 1));
  if (!p || !tmp) {
    free(p);
    free(tmp);
    return tq_fail(e, TQ_ENOMEM, "out of memory selecting among %zu top-k candidates", nc);
  }
  for (size_t j = 0; j < nc; j++) p[j] = (pair){cidx[j], cval[j]};
  select_first(p, nc, k);
  by_index(p, tmp, k, idx, val);
  free(p);
  free(tmp);
  return TQ_OK;
}
