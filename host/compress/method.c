#include "compress/method.h"

#include <stdio.h>
#include <string.h>

#include "compress/baselines.h"
#include "compress/levels.h"

/* The families. Kernel names: kernels/quant_codec.cl. */
static const tq_family_info tq_families[TQ_FAMILY_COUNT] = {
    [TQ_FAMILY_NONE] = {.family = TQ_FAMILY_NONE, .name = "fp32", .decode_kernel = "q_decode_f32"},
    [TQ_FAMILY_BUCKETED] = {.family = TQ_FAMILY_BUCKETED,
                            .name = "bucketed-norm",
                            .sign_bit = true,
                            .wire_scales = true,
                            .encode_kernel = "q_encode_bucket",
                            .decode_kernel = "q_decode_bucket",
                            .uniform_kernel_bits = 6,
                            .small_bucket_kernel = true},
    [TQ_FAMILY_TRUNCATED] = {.family = TQ_FAMILY_TRUNCATED,
                             .name = "truncated",
                             .zero_level = true,
                             .fits_tail = true,
                             .wire_alpha = true,
                             .encode_kernel = "q_encode_table",
                             .decode_kernel = "q_decode_table",
                             .uniform_kernel_bits = 5},
    [TQ_FAMILY_SPARSE] = {.family = TQ_FAMILY_SPARSE,
                          .name = "sparse",
                          .wire_sparse = true,
                          .encode_kernel = "q_topk_gather",
                          .decode_kernel = "q_decode_sparse"},
};

/* The methods, in the order of their codes (and of every list made from this table). */
static const tq_method_info tq_methods[TQ_METHOD_COUNT] = {
    /* method, name, family, norm, bits min, max, design function, summary */
    {TQ_METHOD_NONE, "none", TQ_FAMILY_NONE, TQ_NORM_NONE, 32, 32, NULL,
     "fp32, no compression"},
    {TQ_METHOD_QSGD, "qsgd", TQ_FAMILY_BUCKETED, TQ_NORM_L2, 2, 8, tq_design_qsgd,
     "L2 norm per bucket, sign + (b-1)-bit uniform magnitude"},
    {TQ_METHOD_QSGDINF, "qsgdinf", TQ_FAMILY_BUCKETED, TQ_NORM_MAX, 2, 8, tq_design_qsgd,
     "max-norm per bucket, sign + (b-1)-bit uniform magnitude"},
    {TQ_METHOD_NUQSGD, "nuqsgd", TQ_FAMILY_BUCKETED, TQ_NORM_L2, 2, 8, tq_design_nuqsgd,
     "L2 norm per bucket, sign + exponential magnitudes {0, 2^-s, .., 1}"},
    {TQ_METHOD_TQSGD, "tqsgd", TQ_FAMILY_TRUNCATED, TQ_NORM_NONE, 1, 8, tq_design_tqsgd,
     "truncation at alpha + uniform levels on [-alpha, alpha]"},
    {TQ_METHOD_TNQSGD, "tnqsgd", TQ_FAMILY_TRUNCATED, TQ_NORM_NONE, 1, 8, tq_design_tnqsgd,
     "truncation + levels with density ~ p^(1/3) of the fitted model"},
    {TQ_METHOD_TBQSGD, "tbqsgd", TQ_FAMILY_TRUNCATED, TQ_NORM_NONE, 1, 8, tq_design_tbqsgd,
     "truncation + two uniform grids (body, tails)"},
    {TQ_METHOD_TPQSGD, "tpqsgd", TQ_FAMILY_BUCKETED, TQ_NORM_MAX_CAPPED, 2, 8, tq_design_tpqsgd,
     "max-norm per bucket capped at alpha + power magnitudes, (alpha, p) from the histogram"},
    {TQ_METHOD_EFSIGN, "efsign", TQ_FAMILY_BUCKETED, TQ_NORM_L1MEAN, 1, 1, tq_design_efsign,
     "EF-signSGD: sign per element, mean |x| per bucket, error feedback"},
    {TQ_METHOD_TOPK, "topk", TQ_FAMILY_SPARSE, TQ_NORM_NONE, 1, 8, tq_design_topk,
     "top-k: the K = floor((b*n-32)/64) largest |x| as (u32 index, f32 value), error feedback"},
};

const tq_method_info *tq_method_info_of(tq_method m) {
  return &tq_methods[(m >= 0 && m < TQ_METHOD_COUNT) ? m : TQ_METHOD_NONE];
}

const tq_family_info *tq_family_info_of(tq_family f) {
  return &tq_families[(f >= 0 && f < TQ_FAMILY_COUNT) ? f : TQ_FAMILY_NONE];
}

const tq_method_info *tq_method_info_by_name(const char *name) {
  for (int i = 0; name && i < TQ_METHOD_COUNT; i++)
    if (!strcmp(name, tq_methods[i].name)) return &tq_methods[i];
  return NULL;
}

char *tq_method_names_join(const char *sep, char *out, size_t cap) {
  size_t used = 0;
  if (cap) out[0] = '\0';
  for (int i = 0; i < TQ_METHOD_COUNT && used < cap; i++) {
    int n = snprintf(out + used, cap - used, "%s%s", i ? sep : "", tq_methods[i].name);
    if (n < 0) break;
    used += (size_t)n;
  }
  return out;
}

void tq_compress_cfg_default(tq_compress_cfg *c) {
  memset(c, 0, sizeof *c);
  c->method = TQ_METHOD_TNQSGD;
  c->bits = 3;
  c->bucket = TQ_DEFAULT_BUCKET;
  c->tail = TQ_TAIL_POWERLAW;
  c->alpha_rule = TQ_ALPHA_BOUND;
  c->zero_level = false;
  c->error_feedback = false;
  c->min_elems = TQ_DEFAULT_MIN_ELEMS;
  c->refit_every = 1;
  c->seed = 1;
  c->design_average = 1;
}

const char *tq_method_name(tq_method m) {
  return (m >= 0 && m < TQ_METHOD_COUNT) ? tq_methods[m].name : "?";
}

const char *tq_bucket_norm_name(tq_bucket_norm n) {
  if (n == TQ_NORM_L1MEAN) return "mean |x|";
  return n == TQ_NORM_MAX ? "max" : n == TQ_NORM_MAX_CAPPED ? "max, capped at alpha," : "L2";
}

tq_status tq_method_from_name(const char *name, tq_method *out, tq_err *e) {
  const tq_method_info *mi = tq_method_info_by_name(name);
  if (mi) {
    *out = mi->method;
    return TQ_OK;
  }
  char valid[256];
  return tq_fail(e, TQ_EINPUT, "unknown compression method '%s' (valid: %s)",
                 name ? name : "(null)", tq_method_names_join(", ", valid, sizeof valid));
}

const char *tq_tail_model_name(tq_tail_model t) {
  return t == TQ_TAIL_LAPLACE ? "laplace" : "powerlaw";
}

tq_status tq_tail_model_from_name(const char *name, tq_tail_model *out, tq_err *e) {
  if (name && !strcmp(name, "powerlaw")) *out = TQ_TAIL_POWERLAW;
  else if (name && !strcmp(name, "laplace")) *out = TQ_TAIL_LAPLACE;
  else
    return tq_fail(e, TQ_EINPUT, "unknown tail model '%s' (valid: powerlaw, laplace)",
                   name ? name : "(null)");
  return TQ_OK;
}

const char *tq_alpha_rule_name(tq_alpha_rule r) {
  return r == TQ_ALPHA_TRUEVAR ? "truevar" : "bound";
}

tq_status tq_alpha_rule_from_name(const char *name, tq_alpha_rule *out, tq_err *e) {
  if (name && !strcmp(name, "bound")) *out = TQ_ALPHA_BOUND;
  else if (name && !strcmp(name, "truevar")) *out = TQ_ALPHA_TRUEVAR;
  else
    return tq_fail(e, TQ_EINPUT, "unknown alpha rule '%s' (valid: bound, truevar)",
                   name ? name : "(null)");
  return TQ_OK;
}

int tq_bits_min(tq_method m, bool zero_level) {
  return tq_method_info_of(m)->bits_min + (tq_method_zero_level(m, zero_level) ? 1 : 0);
}

int tq_bits_max(tq_method m) { return tq_method_info_of(m)->bits_max; }

int tq_levels_count(tq_method m, int bits, bool zero_level) {
  if (tq_method_family(m) == TQ_FAMILY_NONE || tq_method_family_info(m)->wire_sparse) return 0;
  int codes = 1 << (bits - (tq_method_family_info(m)->sign_bit ? 1 : 0));
  return codes - (tq_method_zero_level(m, zero_level) ? 1 : 0);
}

tq_status tq_compress_cfg_check(const tq_compress_cfg *c, tq_err *e) {
  if (c->method < 0 || c->method >= TQ_METHOD_COUNT)
    return tq_fail(e, TQ_EINPUT, "compression method %d out of range", (int)c->method);
  if (c->method != TQ_METHOD_NONE) {
    int lo = tq_bits_min(c->method, c->zero_level), hi = tq_bits_max(c->method);
    if (c->bits < lo || c->bits > hi)
      return tq_fail(e, TQ_EINPUT, "bits %d out of range for %s%s (valid: %d..%d)", c->bits,
                     tq_method_name(c->method),
                     tq_method_zero_level(c->method, c->zero_level) ? " with zero level" : "",
                     lo, hi);
  }
  if (c->refit_every < 1)
    return tq_fail(e, TQ_EINPUT, "refit interval %u must be at least 1", c->refit_every);
  if (c->tail != TQ_TAIL_POWERLAW && c->tail != TQ_TAIL_LAPLACE)
    return tq_fail(e, TQ_EINPUT, "tail model %d out of range", (int)c->tail);
  if (c->alpha_rule != TQ_ALPHA_BOUND && c->alpha_rule != TQ_ALPHA_TRUEVAR)
    return tq_fail(e, TQ_EINPUT, "alpha rule %d out of range", (int)c->alpha_rule);
  return TQ_OK;
}
