#include "compress/quant_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress/baselines.h"
#include "compress/design_tp.h"
#include "util/philox.h"

/* Largest k in [0, nlev-2] with lv[k] <= x (0 if x < lv[0]). */
static inline int search(const float *lv, int nlev, float x) {
  int k = 0;
  int step = 1;
  while (step * 2 <= nlev - 2) step *= 2;
  for (; step >= 1; step >>= 1)
    if (k + step <= nlev - 2 && lv[k + step] <= x) k += step;
  return k;
}

/* Packs codes LSB-first; zeroes the words first so pad bits are 0. */
static inline void put_code(uint32_t *words, size_t i, int bits, uint32_t code) {
  size_t p = i * (size_t)bits;
  unsigned off = (unsigned)(p & 31u);
  words[p >> 5] |= code << off;
  if (off + (unsigned)bits > 32u) words[(p >> 5) + 1] |= code >> (32u - off);
}

static inline float draw(tq_rng_key k, size_t i) {
  return tq_u01(tq_rng_draw(k.seed, k.worker, k.iteration, k.tensor, TQ_RNG_QUANTIZE, (uint32_t)i));
}

void tq_ref_encode_table(const float *x, size_t n, const float *lv, int nlev, int bits,
                         tq_rng_key key, uint32_t *words, float *decoded) {
  memset(words, 0, 4 * tq_packed_words(n, bits));
  const float lo = lv[0], hi = lv[nlev - 1];
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    float t = v < lo ? lo : (v > hi ? hi : v);
    int k = search(lv, nlev, t);
    float d = lv[k + 1] - lv[k], r = t - lv[k];
    float u = draw(key, i);
    float ud = u * d;
    uint32_t code = (uint32_t)k + (ud < r ? 1u : 0u);
    put_code(words, i, bits, code);
    if (decoded) decoded[i] = lv[code];
  }
}

void tq_ref_encode_bucketed(const float *x, size_t n, const float *mag, int nlev, int bits,
                            uint32_t bucket, const float *scales, tq_rng_key key,
                            uint32_t *words, float *decoded) {
  memset(words, 0, 4 * tq_packed_words(n, bits));
  for (size_t i = 0; i < n; i++) {
    float v = x[i], nr = scales[i / bucket];
    /* times the reciprocal, as the device (q_norm_fin makes it once per bucket) */
    float iv = nr > 0.0f ? 1.0f / nr : 0.0f;
    float r = fabsf(v) * iv;
    if (r > 1.0f) r = 1.0f;
    int k = search(mag, nlev, r);
    /* mag[k + 1] exists unless the table has one entry (efsign): then d = 0, no rounding up,
     * as the device's padded table gives */
    float d = mag[k + 1 < nlev ? k + 1 : nlev - 1] - mag[k], rr = r - mag[k];
    float u = draw(key, i);
    float ud = u * d;
    uint32_t m = (uint32_t)k + (ud < rr ? 1u : 0u);
    uint32_t neg = v < 0.0f ? 1u : 0u;
    put_code(words, i, bits, m | neg << (bits - 1));
    if (decoded) {
      float q = nr * mag[m];
      decoded[i] = neg ? -q : q;
    }
  }
}

/* The overflow guard's scale (kernels/quant_stats.cl Q_NORM_DOWN/UP). */
#define TQ_NORM_DOWN 0x1p-96f
#define TQ_NORM_UP 0x1p96f

/* 32 when the bucket is a multiple of 32 (the device's loop-free q_norm_part32), else the
 * bucket up to 4096 elements (q_norm_part). */
uint32_t tq_norm_sub(uint32_t bucket) {
  if (bucket % 32u == 0) return 32u;
  return bucket < 4096u ? bucket : 4096u;
}

/* One part's sum of squares (or max). A sum that overflows float (finite values beyond about
 * 1.8e19) is redone on values scaled by 2^-96 and returned negated, to mark it scaled. Exact
 * mirror of kernels/quant_stats.cl q_norm_part. */
static float norm_part(const float *x, size_t c0, size_t c1, bool maxnorm) {
  float part = 0.0f;
  for (size_t i = c0; i < c1; i++) {
    float a = fabsf(x[i]);
    if (maxnorm) part = a > part ? a : part;
    else {
      float sq = a * a;
      part = part + sq;
    }
  }
  if (!maxnorm && isinf(part)) {
    part = 0.0f;
    for (size_t i = c0; i < c1; i++) {
      float a = fabsf(x[i]) * TQ_NORM_DOWN;
      float sq = a * a;
      part = part + sq;
    }
    part = -part;
  }
  return part;
}

/* Two levels, as on the device (q_norm_part, q_norm_fin): parts of `sub` elements, then the
 * bucket. Norms whose sums stay finite are computed exactly as before the overflow guard; when
 * a part or the total overflows, every part is summed at the 2^-96 scale and the root scaled
 * back (exact: powers of two), so a finite norm up to FLT_MAX is found, not inf. */
void tq_ref_bucket_norms(const float *x, size_t n, uint32_t bucket, bool maxnorm, float *scales) {
  uint32_t sub = tq_norm_sub(bucket);
  size_t nb = (n + bucket - 1) / bucket;
  for (size_t b = 0; b < nb; b++) {
    size_t b0 = b * bucket, b1 = b0 + bucket < n ? b0 + bucket : n;
    float acc = 0.0f;
    bool scaled = false;
    for (size_t c0 = b0; c0 < b1; c0 += sub) {
      size_t c1 = c0 + sub < b1 ? c0 + sub : b1;
      float part = norm_part(x, c0, c1, maxnorm);
      if (maxnorm) acc = part > acc ? part : acc;
      else {
        scaled |= part < 0.0f;
        acc = acc + part;
      }
    }
    if (!maxnorm && (scaled || isinf(acc))) {
      acc = 0.0f;
      for (size_t c0 = b0; c0 < b1; c0 += sub) {
        size_t c1 = c0 + sub < b1 ? c0 + sub : b1;
        float part = norm_part(x, c0, c1, maxnorm);
        float w = part < 0.0f ? -part : (part * TQ_NORM_DOWN) * TQ_NORM_DOWN;
        acc = acc + w;
      }
      scales[b] = sqrtf(acc) * TQ_NORM_UP;
    } else
      scales[b] = maxnorm ? acc : sqrtf(acc);
  }
}

/* efsign's scales: one part's sum of |x| (sequential, float); an overflowing sum is redone at
 * 2^-96 and returned negated. Exact mirror of kernels/quant_stats.cl q_norm_l1part. */
static float l1_part(const float *x, size_t c0, size_t c1) {
  float part = 0.0f;
  for (size_t i = c0; i < c1; i++) part = part + fabsf(x[i]);
  if (isinf(part)) {
    part = 0.0f;
    for (size_t i = c0; i < c1; i++) {
      float a = fabsf(x[i]) * TQ_NORM_DOWN;
      part = part + a;
    }
    part = -part;
  }
  return part;
}

void tq_ref_bucket_means(const float *x, size_t n, uint32_t bucket, float *scales) {
  uint32_t sub = tq_norm_sub(bucket);
  size_t nb = (n + bucket - 1) / bucket;
  for (size_t b = 0; b < nb; b++) {
    size_t b0 = b * bucket, b1 = b0 + bucket < n ? b0 + bucket : n;
    float acc = 0.0f, cnt = (float)(b1 - b0);
    bool scaled = false;
    for (size_t c0 = b0; c0 < b1; c0 += sub) {
      float part = l1_part(x, c0, c0 + sub < b1 ? c0 + sub : b1);
      scaled |= part < 0.0f;
      acc = acc + part;
    }
    if (scaled || isinf(acc)) {
      acc = 0.0f;
      for (size_t c0 = b0; c0 < b1; c0 += sub) {
        float part = l1_part(x, c0, c0 + sub < b1 ? c0 + sub : b1);
        float w = part < 0.0f ? -part : part * TQ_NORM_DOWN;
        acc = acc + w;
      }
      scales[b] = (acc / cnt) * TQ_NORM_UP;
    } else
      scales[b] = acc / cnt;
  }
}

/* The scales a bucketed method sends for x (norms, means, TPQSGD's cap). */
static void ref_scales(const tq_compress_cfg *cfg, const float *x, size_t n, uint32_t bucket,
                       const tq_design *d, float *sc) {
  tq_bucket_norm norm = tq_method_info_of(cfg->method)->norm;
  if (norm == TQ_NORM_L1MEAN) {
    tq_ref_bucket_means(x, n, bucket, sc);
    return;
  }
  tq_ref_bucket_norms(x, n, bucket, tq_method_maxnorm(cfg->method), sc);
  if (norm == TQ_NORM_MAX_CAPPED) tq_tp_cap_scales(sc, (n + bucket - 1) / bucket, (float)d->alpha);
}

/* Top-k of x (tq_topk_order over all n elements, without the device path's histogram
 * threshold and gather): k indices in increasing order and their values. */
tq_status tq_ref_topk(const float *x, size_t n, uint32_t k, uint32_t *idx, float *val,
                      tq_err *e) {
  uint32_t *all = malloc(sizeof *all * (n ? n : 1));
  if (!all) return tq_fail(e, TQ_ENOMEM, "out of memory (%zu elements)", n);
  for (size_t i = 0; i < n; i++) all[i] = (uint32_t)i;
  tq_status s = tq_topk_pick(all, x, n, k, idx, val, e);
  free(all);
  return s;
}

/* The sparse payload (K indices, then K values) of x; exact (optional): the dropped elements'
 * mean square. */
static tq_status ref_sparse(const float *x, size_t n, uint32_t k, uint8_t *payload,
                            double *exact, tq_err *e) {
  uint32_t *idx = malloc(4u * (size_t)k + 4u);
  float *val = malloc(4u * (size_t)k + 4u);
  tq_status s = (idx && val) ? tq_ref_topk(x, n, k, idx, val, e)
                             : tq_fail(e, TQ_ENOMEM, "out of memory");
  if (s == TQ_OK) {
    memcpy(payload, idx, 4u * (size_t)k);
    memcpy(payload + 4u * (size_t)k, val, 4u * (size_t)k);
  }
  if (s == TQ_OK && exact) {
    /* the dropped squares, summed directly (a difference of sums would cancel) */
    double tot = 0.0;
    for (size_t i = 0, j = 0; i < n; i++) {
      if (j < k && idx[j] == i) {
        j++;
        continue;
      }
      tot += (double)x[i] * x[i];
    }
    *exact = n ? tot / (double)n : 0.0;
  }
  free(idx);
  free(val);
  return s;
}

/* The codes of a message as values: levels[code] (truncated family), or the bucket's scale
 * times the magnitude below the sign bit (bucketed family). */
static void decode_table(const tq_wire_msg *m, const uint32_t *w, const float *lv, float weight,
                         float *out) {
  for (uint32_t i = 0; i < m->h.count; i++) {
    float p = weight * lv[tq_unpack_code(w, i, m->h.bits)];
    out[i] = out[i] + p;
  }
}

static void decode_bucketed(const tq_wire_msg *m, const uint32_t *w, const float *lv,
                            float weight, float *out) {
  const tq_wire_hdr *h = &m->h;
  for (uint32_t i = 0; i < h->count; i++) {
    uint32_t c = tq_unpack_code(w, i, h->bits);
    uint32_t k = c & ((1u << (h->bits - 1)) - 1u);
    float q = tq_wire_f32(m->scales, i / h->bucket) * lv[k];
    float p = weight * ((c >> (h->bits - 1)) ? -q : q);
    out[i] = out[i] + p;
  }
}

/* Sparse: out[index_j] += weight * value_j. */
static void decode_sparse(const tq_wire_msg *m, float weight, float *out) {
  const uint32_t k = m->h.k;
  for (uint32_t j = 0; j < k; j++) {
    uint32_t i;
    memcpy(&i, m->payload + 4u * (size_t)j, 4);
    float p = weight * tq_wire_f32(m->payload + 4u * (size_t)k, j);
    out[i] = out[i] + p;
  }
}

void tq_ref_decode_accumulate(const tq_wire_msg *m, float weight, float *out) {
  const tq_wire_hdr *h = &m->h;
  if (tq_method_family(h->method) == TQ_FAMILY_SPARSE) {
    decode_sparse(m, weight, out);
    return;
  }
  if (h->method == TQ_METHOD_NONE) {
    for (uint32_t i = 0; i < h->count; i++) {
      float p = weight * tq_wire_f32(m->payload, i);
      out[i] = out[i] + p;
    }
    return;
  }
  float lv[TQ_MAX_LEVELS];
  memcpy(lv, m->levels, 4u * (size_t)h->nlev);
  uint32_t *w = malloc(4 * (m->payload_words + 1));
  if (!w) abort(); /* a few MB at most; no recovery path makes sense for a test reference */
  memcpy(w, m->payload, 4 * m->payload_words);
  w[m->payload_words] = 0;
  switch (tq_method_family(h->method)) {
  case TQ_FAMILY_BUCKETED: decode_bucketed(m, w, lv, weight, out); break;
  case TQ_FAMILY_TRUNCATED: decode_table(m, w, lv, weight, out); break;
  default: break;
  }
  free(w);
}

double tq_exact_mse_table(const float *x, size_t n, const float *lv, int nlev) {
  double tot = 0.0, lo = lv[0], hi = lv[nlev - 1];
  for (size_t i = 0; i < n; i++) {
    double v = x[i];
    if (v >= hi) tot += (v - hi) * (v - hi);
    else if (v <= lo) tot += (v - lo) * (v - lo);
    else {
      int k = search(lv, nlev, (float)v);
      tot += (v - lv[k]) * ((double)lv[k + 1] - v);
    }
  }
  return n ? tot / (double)n : 0.0;
}

double tq_exact_mse_bucketed(const float *x, size_t n, const float *mag, int nlev,
                             uint32_t bucket, const float *scales) {
  double tot = 0.0;
  for (size_t i = 0; i < n; i++) {
    double nr = scales[i / bucket], a = fabs((double)x[i]);
    if (nr <= 0) continue;
    /* Truncation where |x| exceeds its scale (a capped max-norm, TPQSGD): the bias (|x| - s)^2,
     * and the rounding of r = 1. */
    double r = a / nr, bias = r > 1 ? (a - nr) * (a - nr) : 0.0;
    if (r > 1) r = 1;
    if (nlev == 1) { /* efsign: deterministic, the value is sign(x) * scale */
      tot += (a - nr * mag[0]) * (a - nr * mag[0]);
      continue;
    }
    int k = search(mag, nlev, (float)r);
    tot += bias + nr * nr * (r - mag[k]) * ((double)mag[k + 1] - r);
  }
  return n ? tot / (double)n : 0.0;
}

tq_status tq_ref_recode(const tq_wire_msg *m, const float *x, tq_rng_key key, uint32_t *words,
                        double *exact, tq_err *e) {
  const tq_wire_hdr *h = &m->h;
  float lv[TQ_MAX_LEVELS];
  memcpy(lv, m->levels, 4u * (size_t)h->nlev);
  switch (tq_method_family(h->method)) {
  case TQ_FAMILY_BUCKETED: {
    float *sc = malloc(4u * (size_t)m->nbuckets + 4u);
    if (!sc) return tq_fail(e, TQ_ENOMEM, "out of memory");
    memcpy(sc, m->scales, 4u * (size_t)m->nbuckets);
    tq_ref_encode_bucketed(x, h->count, lv, h->nlev, h->bits, h->bucket, sc, key, words, NULL);
    if (exact) *exact = tq_exact_mse_bucketed(x, h->count, lv, h->nlev, h->bucket, sc);
    free(sc);
    return TQ_OK;
  }
  case TQ_FAMILY_TRUNCATED:
    tq_ref_encode_table(x, h->count, lv, h->nlev, h->bits, key, words, NULL);
    if (exact) *exact = tq_exact_mse_table(x, h->count, lv, h->nlev);
    return TQ_OK;
  case TQ_FAMILY_SPARSE: return ref_sparse(x, h->count, h->k, (uint8_t *)words, exact, e);
  default:
    return tq_fail(e, TQ_EINPUT, "a %s message has no codes to recompute",
                   tq_method_name(h->method));
  }
}

/* Statistics, tail fit (families that fit one) and design of x, and the header fields the
 * design decides. */
static tq_status ref_design(const tq_compress_cfg *cfg, const float *x, size_t n, uint32_t tensor,
                            bool ef, tq_ref_result *res, tq_wire_hdr *h, tq_err *e) {
  const bool fits = tq_method_measures(cfg->method);
  tq_tail_stats_ref(x, n, tq_method_needs_hist(cfg->method, cfg->tail), &res->stats);
  if (res->stats.nonfinite)
    return tq_fail(e, TQ_EINPUT, "tensor %u holds %llu non-finite values", tensor,
                   (unsigned long long)res->stats.nonfinite);
  if (fits) tq_tail_fit_hist(&res->stats, NULL, &res->fit);
  TQ_TRY(tq_design_tensor(cfg, fits ? &res->stats : NULL, fits ? &res->fit : NULL, n,
                          &res->design, e));
  tq_wire_hdr_design(h, cfg, &res->design, tq_bucket_size(cfg, n), ef);
  return TQ_OK;
}

/* Sparse: the payload words of x's top k, and decoded (x at the selected, 0 elsewhere). */
static tq_status ref_sparse_encode(const float *x, size_t n, uint32_t k, uint32_t *w,
                                   float *decoded, tq_err *e) {
  TQ_TRY(ref_sparse(x, n, k, (uint8_t *)w, NULL, e));
  if (!decoded) return TQ_OK;
  memset(decoded, 0, n * sizeof *decoded);
  for (uint32_t j = 0; j < k; j++) decoded[w[j]] = x[w[j]];
  return TQ_OK;
}

/* The level table, the scales (bucketed family) and the codes of x into the message parts;
 * residual (optional): set to x - decoded. */
static tq_status ref_encode(const tq_compress_cfg *cfg, const float *x, size_t n, tq_rng_key key,
                            const tq_design *d, const tq_wire_hdr *h, tq_wire_parts *parts,
                            float *residual, tq_err *e) {
  size_t words = tq_wire_payload_words(h), nb = tq_wire_nbuckets(h);
  uint32_t *w = malloc(4 * words + 4);
  float *dec = residual ? malloc(n * sizeof *dec + 4) : NULL;
  float *sc = malloc(4 * nb + 4);
  tq_status s = (!w || (residual && !dec) || !sc) ? tq_fail(e, TQ_ENOMEM, "out of memory") : TQ_OK;
  if (s == TQ_OK) {
    memcpy(parts->levels, d->levels, 4u * (size_t)h->nlev);
    switch (tq_method_family(cfg->method)) {
    case TQ_FAMILY_BUCKETED:
      ref_scales(cfg, x, n, h->bucket, d, sc);
      memcpy(parts->scales, sc, 4u * nb);
      tq_ref_encode_bucketed(x, n, d->levels, h->nlev, h->bits, h->bucket, sc, key, w, dec);
      break;
    case TQ_FAMILY_TRUNCATED:
      tq_ref_encode_table(x, n, d->levels, h->nlev, h->bits, key, w, dec);
      break;
    case TQ_FAMILY_SPARSE: s = ref_sparse_encode(x, n, h->k, w, dec, e); break;
    default: break;
    }
    memcpy(parts->payload, w, 4 * words);
    if (residual && s == TQ_OK)
      for (size_t i = 0; i < n; i++) residual[i] = x[i] - dec[i];
  }
  free(w);
  free(dec);
  free(sc);
  return s;
}

tq_status tq_ref_compress(const tq_compress_cfg *cfg, const float *g, size_t n, float *residual,
                          uint32_t worker, uint32_t iteration, uint32_t tensor, tq_buf *msg,
                          tq_ref_result *res, tq_err *e) {
  TQ_TRY(tq_compress_cfg_check(cfg, e));
  if (n > UINT32_MAX) return tq_fail(e, TQ_EINPUT, "tensor of %zu elements exceeds 2^32-1", n);
  tq_ref_result local;
  if (!res) res = &local;
  memset(res, 0, sizeof *res);
  bool fp32 = cfg->method == TQ_METHOD_NONE || n < cfg->min_elems;
  bool ef = tq_compress_ef(cfg) && !fp32 && residual; /* efsign, topk: implied */
  const float *x = g;
  float *xbuf = NULL;
  if (ef) {
    xbuf = malloc(n * sizeof *xbuf);
    if (!xbuf) return tq_fail(e, TQ_ENOMEM, "out of memory (%zu elements)", n);
    for (size_t i = 0; i < n; i++) xbuf[i] = g[i] + residual[i];
    x = xbuf;
  }
  tq_wire_hdr h = {0};
  h.method = fp32 ? TQ_METHOD_NONE : cfg->method;
  h.bits = fp32 ? 32 : cfg->bits;
  h.worker = worker;
  h.iteration = iteration;
  h.tensor = tensor;
  h.count = (uint32_t)n;
  tq_rng_key key = {cfg->seed, worker, iteration, tensor};
  tq_status s = fp32 ? TQ_OK : ref_design(cfg, x, n, tensor, ef, res, &h, e);
  tq_wire_parts parts;
  if (s == TQ_OK) s = tq_wire_begin(msg, &h, &parts, e);
  if (s == TQ_OK && fp32) memcpy(parts.payload, g, 4 * n);
  else if (s == TQ_OK)
    s = ref_encode(cfg, x, n, key, &res->design, &h, &parts, ef ? residual : NULL, e);
  free(xbuf);
  if (s != TQ_OK) return s;
  tq_wire_seal(msg);
  res->bits = tq_wire_size(&h);
  return TQ_OK;
}
