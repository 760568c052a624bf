/* Gradient compression: the methods, their options, and the small facts every part of the
 * subsystem shares (bit ranges, level counts, code layout). See docs/compression.md. */
#ifndef TQ_COMPRESS_METHOD_H
#define TQ_COMPRESS_METHOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cl/kernel_constants.h"
#include "util/err.h"

/* The codes of the methods (on the wire too); what each is: tq_methods[] in method.c. */
typedef enum tq_method {
  TQ_METHOD_NONE = 0,
  TQ_METHOD_QSGD = 1,
  TQ_METHOD_QSGDINF = 2,
  TQ_METHOD_NUQSGD = 3,
  TQ_METHOD_TQSGD = 4,
  TQ_METHOD_TNQSGD = 5,
  TQ_METHOD_TBQSGD = 6,
  TQ_METHOD_TPQSGD = 7,
  TQ_METHOD_EFSIGN = 8,
  TQ_METHOD_TOPK = 9,
  TQ_METHOD_COUNT
} tq_method;

/* The density the truncated family designs its alpha and levels for. */
typedef enum tq_tail_model {
  TQ_TAIL_POWERLAW = 0, /* docs/math.md §5: Laplace body + power-law tail, fitted per tensor
                         * (default) */
  TQ_TAIL_LAPLACE = 1,  /* docs/math.md §7: Laplace, scale = mean|g| (arXiv 2402.01160) */
} tq_tail_model;

/* Which per-interval rounding-variance constant the design minimises. */
typedef enum tq_alpha_rule {
  TQ_ALPHA_BOUND = 0,   /* the papers' Delta^2/4 bound (default, faithful) */
  TQ_ALPHA_TRUEVAR = 1, /* docs/math.md §6.1: the flat-bin variance Delta^2/6 */
} tq_alpha_rule;

typedef struct tq_compress_cfg {
  tq_method method;
  int bits;                 /* bits per element on the wire, 1..8 (see tq_bits_valid) */
  uint32_t bucket;          /* QSGD family: elements per norm; 0 = the whole tensor */
  tq_tail_model tail;       /* truncated family: model the design is fitted to */
  tq_alpha_rule alpha_rule; /* truncated family: variance constant 1/4 or 1/6 */
  bool zero_level;          /* truncated family: 2^b-1 symmetric levels with one at 0 */
  bool error_feedback;      /* keep r = (g + r) - decoded per tensor and add it next time */
  uint32_t min_elems;       /* tensors with fewer elements travel as fp32 */
  uint32_t refit_every;     /* refit tail + redesign levels every K iterations (>= 1) */
  uint32_t seed;            /* key of the stochastic-rounding stream */
  /* TPQSGD: the number of workers whose decoded messages the server averages, when the design
   * is to minimise the error of that average (truncation bias^2 + rounding variance / N:
   * docs/math.md §15); 1 = one worker's own error (the default). */
  uint32_t design_average;
} tq_compress_cfg;

#define TQ_DEFAULT_BUCKET 512u
#define TQ_DEFAULT_MIN_ELEMS 1024u
/* TQ_MAX_LEVELS (2^8: the largest level table any method sends) is in cl/kernel_constants.h,
 * which the kernels' build options come from. */

/* Defaults: tnqsgd, 3 bits, bucket 512, power-law tail, bound rule, no zero level, no error
 * feedback, min 1024 elements, refit every iteration, seed 1. */
void tq_compress_cfg_default(tq_compress_cfg *c);

/* Checks bits against the method, bucket and refit interval; the message names the value. */
tq_status tq_compress_cfg_check(const tq_compress_cfg *c, tq_err *e);

/* ---- the table of methods ------------------------------------------------------------------
 * Every fact about a method lives in one row of tq_methods[] (method.c), every fact its family
 * shares in one row of the family table: names, bit ranges, level counts, the design function,
 * the kernels, what the wire carries. Everything else (parsing, validation, the wire parser,
 * the compressor, the reference codec, `quantize --method all`, the report's order, the test
 * that checks docs/compression.md) reads them. docs/compression.md, "Adding a quantizer". */

/* How a method scales and codes a tensor; every per-family branch switches on this. */
typedef enum tq_family {
  TQ_FAMILY_NONE = 0,      /* fp32 as it is */
  TQ_FAMILY_BUCKETED = 1,  /* a norm per bucket; codes: magnitude index + sign bit */
  TQ_FAMILY_TRUNCATED = 2, /* clip at alpha; codes: index into a signed level table */
  TQ_FAMILY_SPARSE = 3,    /* K (index, value) pairs; K from the bit budget (tq_sparse_k) */
  TQ_FAMILY_COUNT
} tq_family;

/* The scale a bucketed method sends per bucket. */
typedef enum tq_bucket_norm {
  TQ_NORM_NONE = 0, /* not bucketed */
  TQ_NORM_L2 = 1,
  TQ_NORM_MAX = 2,
  TQ_NORM_MAX_CAPPED = 3, /* the max-norm, capped at the design's alpha (TPQSGD) */
  TQ_NORM_L1MEAN = 4,     /* mean |x| of the bucket: L1 norm / its elements (EF-signSGD) */
} tq_bucket_norm;

/* What every method of a family shares. */
typedef struct tq_family_info {
  tq_family family;
  const char *name; /* "fp32", "bucketed-norm", "truncated" */
  /* Codes: a sign bit above the level index (so the table holds 2^(b-1) magnitudes in [0, 1])
   * or the bare index of a signed table of up to 2^b levels. */
  bool sign_bit;
  bool zero_level; /* the zero-level option applies: one level fewer, one more bit */
  bool fits_tail;  /* a refit measures statistics and fits the tail before designing */
  /* Wire rules (docs/wire-format.md): the header's bucket field and one scale per bucket, or
   * the header's alpha (= the top level) and the zero-level / Laplace flags. */
  bool wire_scales, wire_alpha;
  /* After the fixed header a u32 K, then K u32 indices and K f32 values (no level table, no
   * scales, no codes); one encode (gather) kernel and one decode kernel, named as they are. */
  bool wire_sparse;
  /* Kernels (kernels/quant_codec.cl): encode <encode_kernel>_[e][u|s]b<bits> (e: error
   * feedback; u: uniform grid, from uniform_kernel_bits; s: buckets under 32 elements, where
   * small_bucket_kernel); decode <decode_kernel>_b<bits>, and _pb<bits> for power-of-two
   * buckets where wire_scales. NULL encode: nothing to encode (fp32 is read as it is). */
  const char *encode_kernel, *decode_kernel;
  int uniform_kernel_bits;
  bool small_bucket_kernel;
} tq_family_info;

struct tq_tail_stats;
struct tq_tail_fit;
struct tq_design;
/* Designs the level table for cfg (method, bits, options) from the tensor's statistics and tail
 * fit (methods that measure them, tq_method_measures; NULL otherwise) of a tensor of d elements
 * (levels.h). */
typedef tq_status (*tq_design_fn)(const tq_compress_cfg *cfg, const struct tq_tail_stats *st,
                                  const struct tq_tail_fit *fit, uint64_t d,
                                  struct tq_design *out, tq_err *e);

typedef struct tq_method_info {
  tq_method method;       /* = its index in the table (and its code on the wire) */
  const char *name;       /* --method, compression.method, the report */
  tq_family family;
  tq_bucket_norm norm;    /* bucketed: the scale per bucket */
  int bits_min, bits_max; /* bits per element without the zero level (none: 32..32) */
  tq_design_fn design;    /* NULL for none */
  const char *summary;    /* one line for --help and the docs */
} tq_method_info;

/* The row of m (the row of none for a value outside the enum: check first where it matters). */
const tq_method_info *tq_method_info_of(tq_method m);
const tq_family_info *tq_family_info_of(tq_family f);
/* The row named name, or NULL. */
const tq_method_info *tq_method_info_by_name(const char *name);
/* Iteration: for (int i = 0; i < TQ_METHOD_COUNT; i++) tq_method_info_of((tq_method)i). */

/* The names in table order joined by sep ("none|qsgd|..."), cut to cap. Returns out. */
char *tq_method_names_join(const char *sep, char *out, size_t cap);

/* Unknown names are TQ_EINPUT with a message listing the valid ones. */
tq_status tq_method_from_name(const char *name, tq_method *out, tq_err *e);
const char *tq_method_name(tq_method m);
const char *tq_bucket_norm_name(tq_bucket_norm n); /* "L2", "max", "max, capped at alpha," */
tq_status tq_tail_model_from_name(const char *name, tq_tail_model *out, tq_err *e);
const char *tq_tail_model_name(tq_tail_model t);
tq_status tq_alpha_rule_from_name(const char *name, tq_alpha_rule *out, tq_err *e);
const char *tq_alpha_rule_name(tq_alpha_rule r);

static inline tq_family tq_method_family(tq_method m) { return tq_method_info_of(m)->family; }
static inline const tq_family_info *tq_method_family_info(tq_method m) {
  return tq_family_info_of(tq_method_family(m));
}
static inline bool tq_method_is_bucketed(tq_method m) {
  return tq_method_family(m) == TQ_FAMILY_BUCKETED;
}
static inline bool tq_method_is_truncated(tq_method m) {
  return tq_method_family(m) == TQ_FAMILY_TRUNCATED;
}
/* The zero-level option applies to m (and zero_level asks for it). */
/* A refit of m measures max|g|, sum|g| and the histogram of |g| before designing: the families
 * that fit a tail, and the capped max-norm, whose alpha comes from the histogram. */
static inline bool tq_method_measures(tq_method m) {
  return tq_method_family_info(m)->fits_tail || tq_method_info_of(m)->norm == TQ_NORM_MAX_CAPPED ||
         tq_method_family_info(m)->wire_sparse;
}
/* The histogram is among those statistics (the truncated family skips it under tail = laplace). */
static inline bool tq_method_needs_hist(tq_method m, tq_tail_model tail) {
  return tq_method_info_of(m)->norm == TQ_NORM_MAX_CAPPED ||
         tq_method_family_info(m)->wire_sparse ||
         (tq_method_family_info(m)->fits_tail && tail == TQ_TAIL_POWERLAW);
}
/* The baselines, biased without their residual (EF-signSGD's mean-|x| scale, top-k's sparse
 * family), turn error feedback on by themselves: for them it is on whatever
 * cfg.error_feedback (compression.error_feedback) says (docs/compression.md). */
static inline bool tq_method_needs_ef(tq_method m) {
  return tq_method_info_of(m)->norm == TQ_NORM_L1MEAN || tq_method_family_info(m)->wire_sparse;
}
/* Whether a compressor of cfg keeps residuals: asked for, or implied by the method. */
static inline bool tq_compress_ef(const tq_compress_cfg *c) {
  return c->error_feedback || tq_method_needs_ef(c->method);
}
/* The bucket norm is a maximum (capped or not) rather than an L2 norm. */
static inline bool tq_method_maxnorm(tq_method m) {
  tq_bucket_norm n = tq_method_info_of(m)->norm;
  return n == TQ_NORM_MAX || n == TQ_NORM_MAX_CAPPED;
}

static inline bool tq_method_zero_level(tq_method m, bool zero_level) {
  return zero_level && tq_method_family_info(m)->zero_level;
}

/* Smallest and largest b for a method (the table's range; the zero level needs one more). */
int tq_bits_min(tq_method m, bool zero_level);
int tq_bits_max(tq_method m);

/* Entries of the level table a method sends at b bits: the code space 2^b (2^(b-1) behind a
 * sign bit), one fewer with the zero level; 0 for none. */
int tq_levels_count(tq_method m, int bits, bool zero_level);

/* Elements per scale of a bucketed method for a tensor of n elements (cfg->bucket, the whole
 * tensor for 0 or a bucket larger than it). */
static inline uint32_t tq_bucket_size(const tq_compress_cfg *cfg, size_t n) {
  return cfg->bucket == 0 || cfg->bucket > n ? (uint32_t)n : cfg->bucket;
}

/* Entries K a sparse message of n elements carries at b bits per element: each costs a u32
 * index and an f32 value, and K's own u32 field (after the fixed header) and the entries may
 * not exceed the b*n bits the other methods' payloads take, so K = floor((b*n - 32) / 64), 0
 * when b*n < 96 (docs/math.md §16; the fixed header and CRC count as for every method). K <
 * n/8 for b <= 8. */
static inline uint32_t tq_sparse_k(size_t n, int bits) {
  uint64_t budget = (uint64_t)n * (uint64_t)(bits > 0 ? bits : 0);
  return budget > 32u ? (uint32_t)((budget - 32u) / 64u) : 0u;
}

/* Number of 32-bit payload words for n elements of b bits packed LSB-first. */
static inline size_t tq_packed_words(size_t n, int bits) {
  return (n * (size_t)bits + 31u) / 32u;
}

#endif
