/* Plain-C reference of the device encode/decode kernels (kernels/quant_codec.cl): the same
 * codes, bit for bit, for the same random stream. Used by the tests, by `tailquant quantize`
 * to cross-check the device, and as a host-only compressor.
 *
 * Code layout (b bits per element, packed LSB-first into u32 words: element i occupies bits
 * i*b .. i*b+b-1 of the stream; a code may straddle two words; pad bits are 0):
 *   truncated family: the index k of the level table, 0..nlev-1;
 *   bucketed family:  magnitude index in bits 0..b-2, sign (1 = negative) in bit b-1.
 * Random stream: u = tq_u01(tq_rng_draw(seed, worker, iteration, tensor, TQ_RNG_QUANTIZE, i));
 * the element rounds up from l_k to l_{k+1} iff u * (l_{k+1} - l_k) < x - l_k (float). */
#ifndef TQ_COMPRESS_QUANT_REF_H
#define TQ_COMPRESS_QUANT_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compress/levels.h"
#include "compress/method.h"
#include "compress/tailfit.h"
#include "compress/wire.h"

typedef struct tq_rng_key {
  uint32_t seed, worker, iteration, tensor;
} tq_rng_key;

/* Truncated family. words: tq_packed_words(n, bits) entries, fully written. decoded
 * (optional): the value each element decodes to. */
void tq_ref_encode_table(const float *x, size_t n, const float *lv, int nlev, int bits,
                         tq_rng_key key, uint32_t *words, float *decoded);

/* Bucketed family. scales[ceil(n/bucket)] are the per-bucket norms (bucket >= 1). */
void tq_ref_encode_bucketed(const float *x, size_t n, const float *mag, int nlev, int bits,
                            uint32_t bucket, const float *scales, tq_rng_key key,
                            uint32_t *words, float *decoded);

/* Per-bucket norms, in the device's summation order: buckets are cut into sub-chunks of
 * tq_norm_sub(bucket) elements, each summed (x^2, or max |x|) sequentially in float, then the
 * sub-chunk results of a bucket combined in order; L2 takes a float sqrt at the end. */
uint32_t tq_norm_sub(uint32_t bucket);
void tq_ref_bucket_norms(const float *x, size_t n, uint32_t bucket, bool maxnorm, float *scales);

/* efsign's scales: mean |x| per bucket, in the device's order (parts of tq_norm_sub(bucket)
 * elements summed sequentially in float, then the parts of a bucket in order, divided by the
 * bucket's element count; an overflowing sum is redone at 2^-96 and scaled back). */
void tq_ref_bucket_means(const float *x, size_t n, uint32_t bucket, float *scales);

/* The k largest |x| (ties: the lower index), selected among all n elements (tq_topk_pick, no
 * histogram threshold): idx ascending, val the values (docs/math.md §16). */
tq_status tq_ref_topk(const float *x, size_t n, uint32_t k, uint32_t *idx, float *val,
                      tq_err *e);

/* The b-bit code of element i of a packed stream. */
static inline uint32_t tq_unpack_code(const uint32_t *words, size_t i, int bits) {
  size_t p = i * (size_t)bits;
  uint64_t w = words[p >> 5];
  unsigned off = (unsigned)(p & 31u);
  if (off + (unsigned)bits > 32u) w |= (uint64_t)words[(p >> 5) + 1] << 32;
  return (uint32_t)(w >> off) & ((1u << bits) - 1u);
}

/* out[i] += weight * decoded value of element i, from a message already validated by
 * tq_wire_parse (it is trusted here). */
void tq_ref_decode_accumulate(const tq_wire_msg *m, float weight, float *out);

/* The whole host pipeline for one tensor: statistics, fit, design, encode and the wire
 * message (tensors below cfg->min_elems or method none travel as fp32). residual (optional,
 * n floats) is the error-feedback state, used and updated when cfg->error_feedback. */
typedef struct tq_ref_result {
  tq_tail_stats stats;
  tq_tail_fit fit;
  tq_design design;
  tq_wire_bits bits;
} tq_ref_result;
tq_status tq_ref_compress(const tq_compress_cfg *cfg, const float *g, size_t n, float *residual,
                          uint32_t worker, uint32_t iteration, uint32_t tensor, tq_buf *msg,
                          tq_ref_result *res, tq_err *e);

/* The reference's codes (words: m->payload_words entries) for x under the tables of a message
 * already validated by tq_wire_parse (its levels, and its scales where the family sends
 * them), e.g. to cross-check the device's payload; exact (optional): the exact conditional MSE
 * of x under those tables. TQ_EINPUT for method none (no codes). */
tq_status tq_ref_recode(const tq_wire_msg *m, const float *x, tq_rng_key key, uint32_t *words,
                        double *exact, tq_err *e);

/* Exact conditional MSE (docs/math.md §2.3) averaged over x: (T(x)-x)^2 + (T-l_k)(l_{k+1}-T)
 * for the truncated family, and sum over buckets of scale^2 (r - m_k)(m_{k+1} - r) for the
 * bucketed family, plus (|x| - scale)^2 where |x| exceeds its scale (§15.1); a one-entry table
 * (efsign, deterministic) gives (|x| - scale)^2 for every element (§16). Computed in double.
 * (Top-k's: tq_ref_recode, the dropped elements' squares.) */
double tq_exact_mse_table(const float *x, size_t n, const float *lv, int nlev);
double tq_exact_mse_bucketed(const float *x, size_t n, const float *mag, int nlev,
                             uint32_t bucket, const float *scales);

#endif
