/* Gradient compression: the methods, their options, and the small facts every part of the
 * subsystem shares (bit ranges, level counts, code layout). See docs/compression.md. */
#ifndef TQ_COMPRESS_METHOD_H
#define TQ_COMPRESS_METHOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cl/kernel_constants.h"
#include "util/err.h"

typedef enum tq_method {
  TQ_METHOD_NONE = 0,    /* fp32, no compression */
  TQ_METHOD_QSGD = 1,    /* L2 norm per bucket, sign + (b-1)-bit uniform magnitude */
  TQ_METHOD_QSGDINF = 2, /* the same with the max-norm */
  TQ_METHOD_NUQSGD = 3,  /* L2 norm, sign + exponential magnitude levels {0, 2^-s, .., 1} */
  TQ_METHOD_TQSGD = 4,   /* truncation at alpha + uniform levels on [-alpha, alpha] */
  TQ_METHOD_TNQSGD = 5,  /* truncation + levels with density ~ p^(1/3) of the fitted model */
  TQ_METHOD_TBQSGD = 6,  /* truncation + two uniform grids (body, tails) */
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

/* "none", "qsgd", "qsgdinf", "nuqsgd", "tqsgd", "tnqsgd", "tbqsgd". Unknown names are TQ_EINPUT
 * with a message listing the valid ones. */
tq_status tq_method_from_name(const char *name, tq_method *out, tq_err *e);
const char *tq_method_name(tq_method m);
tq_status tq_tail_model_from_name(const char *name, tq_tail_model *out, tq_err *e);
const char *tq_tail_model_name(tq_tail_model t);
tq_status tq_alpha_rule_from_name(const char *name, tq_alpha_rule *out, tq_err *e);
const char *tq_alpha_rule_name(tq_alpha_rule r);

static inline bool tq_method_is_bucketed(tq_method m) {
  return m == TQ_METHOD_QSGD || m == TQ_METHOD_QSGDINF || m == TQ_METHOD_NUQSGD;
}
static inline bool tq_method_is_truncated(tq_method m) {
  return m == TQ_METHOD_TQSGD || m == TQ_METHOD_TNQSGD || m == TQ_METHOD_TBQSGD;
}

/* Smallest and largest b for a method: truncated family 1..8 (2..8 with the zero level),
 * QSGD family 2..8 (one sign bit plus at least one magnitude bit), none: 32 only. */
int tq_bits_min(tq_method m, bool zero_level);
int tq_bits_max(tq_method m);

/* Entries of the level table a method sends at b bits: truncated 2^b (2^b - 1 with the zero
 * level); QSGD 2^(b-1) magnitudes; NUQSGD 2^(b-1) magnitudes {0, 2^-s..1}, s = 2^(b-1) - 2. */
int tq_levels_count(tq_method m, int bits, bool zero_level);

/* Number of 32-bit payload words for n elements of b bits packed LSB-first. */
static inline size_t tq_packed_words(size_t n, int bits) {
  return (n * (size_t)bits + 31u) / 32u;
}

#endif
