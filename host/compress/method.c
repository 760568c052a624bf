#include "compress/method.h"

#include <string.h>

static const char *const method_names[TQ_METHOD_COUNT] = {"none",   "qsgd",  "qsgdinf", "nuqsgd",
                                                          "tqsgd", "tnqsgd", "tbqsgd"};

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
}

const char *tq_method_name(tq_method m) {
  return (m >= 0 && m < TQ_METHOD_COUNT) ? method_names[m] : "?";
}

tq_status tq_method_from_name(const char *name, tq_method *out, tq_err *e) {
  for (int i = 0; i < TQ_METHOD_COUNT; i++)
    if (name && !strcmp(name, method_names[i])) {
      *out = (tq_method)i;
      return TQ_OK;
    }
  return tq_fail(e, TQ_EINPUT,
                 "unknown compression method '%s' (valid: none, qsgd, qsgdinf, nuqsgd, tqsgd, "
                 "tnqsgd, tbqsgd)",
                 name ? name : "(null)");
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
  if (m == TQ_METHOD_NONE) return 32;
  if (tq_method_is_truncated(m)) return zero_level ? 2 : 1;
  return 2;
}

int tq_bits_max(tq_method m) { return m == TQ_METHOD_NONE ? 32 : 8; }

int tq_levels_count(tq_method m, int bits, bool zero_level) {
  if (m == TQ_METHOD_NONE) return 0;
  if (tq_method_is_truncated(m)) return (1 << bits) - (zero_level ? 1 : 0);
  return 1 << (bits - 1);
}

tq_status tq_compress_cfg_check(const tq_compress_cfg *c, tq_err *e) {
  if (c->method < 0 || c->method >= TQ_METHOD_COUNT)
    return tq_fail(e, TQ_EINPUT, "compression method %d out of range", (int)c->method);
  if (c->method != TQ_METHOD_NONE) {
    int lo = tq_bits_min(c->method, c->zero_level), hi = tq_bits_max(c->method);
    if (c->bits < lo || c->bits > hi)
      return tq_fail(e, TQ_EINPUT, "bits %d out of range for %s%s (valid: %d..%d)", c->bits,
                     tq_method_name(c->method),
                     c->zero_level && tq_method_is_truncated(c->method) ? " with zero level" : "",
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
