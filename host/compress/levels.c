#include "compress/levels.h"

#include <math.h>
#include <string.h>

#include "compress/design_tp.h"

/* ---- two-part model (docs/math.md §5, §6) ---------------------------------------- */

void tq_pl_init(tq_pl_model *m, double gamma, double gmin, double rho, double beta, double c) {
  m->gamma = gamma;
  m->gmin = gmin;
  m->rho = rho;
  m->beta = beta;
  m->c = c;
  m->Cb = (1 - 2 * rho) / (2 * beta * (1 - exp(-gmin / beta)));
  m->K = cbrt(rho * (gamma - 1)) * pow(gmin, (gamma - 1) / 3);
  m->kap = 1 - gamma / 3;
  m->Ab = 0;
  m->Ab = tq_pl_Z(m, gmin);
}

double tq_pl_Z(const tq_pl_model *m, double a) {
  if (a <= m->gmin) return cbrt(m->Cb) * 3 * m->beta * (1 - exp(-a / (3 * m->beta)));
  if (fabs(m->kap) < 1e-9) return m->Ab + m->K * log(a / m->gmin);
  return m->Ab + m->K / m->kap * (pow(a, m->kap) - pow(m->gmin, m->kap));
}

double tq_pl_QU(const tq_pl_model *m, double a) {
  if (a <= m->gmin)
    return (1 - 2 * m->rho) * (1 - exp(-a / m->beta)) / (1 - exp(-m->gmin / m->beta));
  return 1 - 2 * m->rho * pow(m->gmin / a, m->gamma - 1);
}

double tq_pl_bias(const tq_pl_model *m, double a) {
  double g = m->gamma, gm = m->gmin, r = m->rho, be = m->beta;
  if (a >= gm) return 4 * r * pow(gm, g - 1) * pow(a, 3 - g) / ((g - 2) * (g - 3));
  double L = (gm - a) / be;
  double body = m->Cb * exp(-a / be) * be * be * be * (2 - exp(-L) * (L * L + 2 * L + 2));
  double t = r * (g - 1) * pow(gm, g - 1) *
             (pow(gm, 3 - g) / (g - 3) - 2 * a * pow(gm, 2 - g) / (g - 2) +
              a * a * pow(gm, 1 - g) / (g - 1));
  return 2 * (body + t);
}

/* Rounding variance c * Delta^2 with Delta = 2a/s, weighted by P(|g| <= a). */
double tq_pl_E_uniform(const tq_pl_model *m, double a, int s) {
  return tq_pl_QU(m, a) * 4 * m->c * a * a / ((double)s * s) + tq_pl_bias(m, a);
}

double tq_pl_E_nonuniform(const tq_pl_model *m, double a, int s) {
  double I = 2 * tq_pl_Z(m, a);
  return m->c * I * I * I / ((double)s * s) + tq_pl_bias(m, a);
}

typedef double (*objective)(const tq_pl_model *m, double a, int s, const void *extra);

/* Golden section on ln alpha over [0.05 g_min, 1e4 g_min], 120 steps (docs/math.md §6.4). */
static double golden(const tq_pl_model *m, objective f, int s, const void *extra) {
  double lo = log(0.05 * m->gmin), hi = log(1e4 * m->gmin);
  const double gr = (sqrt(5.0) - 1) / 2;
  double c = hi - gr * (hi - lo), d = lo + gr * (hi - lo);
  for (int i = 0; i < 120; i++) {
    if (f(m, exp(c), s, extra) < f(m, exp(d), s, extra)) hi = d;
    else lo = c;
    c = hi - gr * (hi - lo);
    d = lo + gr * (hi - lo);
  }
  return exp(0.5 * (lo + hi));
}

static double obj_uniform(const tq_pl_model *m, double a, int s, const void *x) {
  (void)x;
  return tq_pl_E_uniform(m, a, s);
}
static double obj_nonuniform(const tq_pl_model *m, double a, int s, const void *x) {
  (void)x;
  return tq_pl_E_nonuniform(m, a, s);
}

double tq_pl_alpha_uniform(const tq_pl_model *m, int s) {
  /* d/da [4c a^2/s^2 + bias] = 0 with Q_U = 1: a^(gamma-1) = rho g_min^(gamma-1) s^2/(2c(gamma-2)). */
  double a = m->gmin * pow(m->rho * (double)s * s / (2 * m->c * (m->gamma - 2)), 1 / (m->gamma - 1));
  return a >= m->gmin ? a : golden(m, obj_uniform, s, NULL);
}

double tq_pl_alpha_nonuniform(const tq_pl_model *m, int s) {
  return golden(m, obj_nonuniform, s, NULL);
}

void tq_pl_nonuniform_levels(const tq_pl_model *m, double a, int s, double *lv) {
  double Z = tq_pl_Z(m, a);
  for (int k = 0; k <= s; k++) {
    double u = 2.0 * k / s - 1.0, t = fabs(u) * Z, v;
    if (t <= m->Ab || a <= m->gmin) v = -3 * m->beta * log(1 - t / (3 * m->beta * cbrt(m->Cb)));
    else if (fabs(m->kap) < 1e-9) v = m->gmin * exp((t - m->Ab) / m->K);
    else v = pow(pow(m->gmin, m->kap) + m->kap * (t - m->Ab) / m->K, 1 / m->kap);
    lv[k] = u == 0 ? 0.0 : copysign(v, u);
  }
  lv[0] = -a;
  lv[s] = a;
}

/* ---- Laplace closed forms (docs/math.md §7) ------------------------------------------ */

double tq_lambert_w0(double z) {
  double w = log(1 + z);
  for (int i = 0; i < 60; i++) { /* Halley (docs/math.md §7.3) */
    double ew = exp(w), f = w * ew - z;
    double step = f / (ew * (w + 1) - (w + 2) * f / (2 * w + 2));
    w -= step;
    if (fabs(step) < 1e-15 * (1 + fabs(w))) break;
  }
  return w;
}

double tq_laplace_levels(double beta, int s, double c, double *lv) {
  /* E = 108 c beta^2 (1-t)^3 / s^2 + 2 beta^2 t^3 is minimal at t = r/(r + s), r = sqrt(54 c):
   * c = 1/4 gives P2's t* = 9/(9 + sqrt6 s), c = 1/6 the remark's t = 3/(s+3). */
  double r = sqrt(54 * c), t = r / (r + s);
  for (int k = 0; k <= s; k++) {
    double u = 2.0 * k / s - 1.0;
    double v = -3 * beta * log(1 - fabs(u) * (1 - t));
    lv[k] = u == 0 ? 0.0 : copysign(v, u);
  }
  double a = -3 * beta * log(t);
  lv[0] = -a;
  lv[s] = a;
  return a;
}

double tq_laplace_alpha_uniform(double beta, int s, double c) {
  return beta * tq_lambert_w0((double)s * s / (4 * c));
}

/* ---- designs --------------------------------------------------------------------------- */

static void uniform_levels(double a, int s, double *lv) {
  for (int k = 0; k <= s; k++) lv[k] = -a + 2 * a * k / s;
  /* u = 0 exactly when s is even (zero-level option): make it an exact 0. */
  if (s % 2 == 0) lv[s / 2] = 0.0;
  lv[0] = -a;
  lv[s] = a;
}

typedef struct tb_extra {
  int si, so;
} tb_extra;

static double obj_biscaled(const tq_pl_model *m, double a, int s, const void *x) {
  (void)s;
  const tb_extra *t = x;
  double b = m->gmin;
  if (a <= b) return 1e300;
  double pout = 2 * m->rho * (1 - pow(b / a, m->gamma - 1));
  double in = 2 * b / t->si, out = (a - b) / t->so;
  return m->c * ((1 - 2 * m->rho) * in * in + pout * out * out) + tq_pl_bias(m, a);
}

/* TBQSGD (docs/math.md §8): s_out = 0 is plain TQSGD; otherwise golden section per s_out. */
static void biscaled(const tq_pl_model *m, int s, double *lv, double *alpha, double *emodel,
                     int *s_out) {
  double a0 = tq_pl_alpha_uniform(m, s);
  double best = tq_pl_E_uniform(m, a0, s), besta = a0;
  int bestso = 0;
  for (int so = 1; so <= s / 2 && s - 2 * so >= 1; so++) {
    tb_extra x = {s - 2 * so, so};
    double a = golden(m, obj_biscaled, s, &x);
    double v = obj_biscaled(m, a, s, &x);
    if (v < best) {
      best = v;
      besta = a;
      bestso = so;
    }
  }
  *alpha = besta;
  *emodel = best;
  *s_out = bestso;
  if (bestso == 0) {
    uniform_levels(besta, s, lv);
    return;
  }
  int si = s - 2 * bestso, n = 0;
  double b = m->gmin;
  for (int j = bestso; j >= 1; j--) lv[n++] = -(b + (besta - b) * j / bestso);
  for (int j = 0; j <= si; j++) lv[n++] = -b + 2 * b * j / si;
  for (int j = 1; j <= bestso; j++) lv[n++] = b + (besta - b) * j / bestso;
  if (si % 2 == 0) lv[bestso + si / 2] = 0.0;
}

static tq_status store_levels(tq_design *out, const double *lv, int nlev, tq_err *e) {
  out->nlev = nlev;
  for (int k = 0; k < nlev; k++) {
    out->levels[k] = (float)lv[k];
    if (!isfinite(out->levels[k]))
      return tq_fail(e, TQ_EINPUT,
                     "%s design: level %d = %g is outside the float range (tensor scale too "
                     "large)",
                     tq_method_name(out->method), k, lv[k]);
    if (k > 0 && !(out->levels[k] > out->levels[k - 1]))
      return tq_fail(e, TQ_EINPUT,
                     "%s design: levels %d and %d (%g, %g) are not distinct in float (alpha %g)",
                     tq_method_name(out->method), k - 1, k, lv[k - 1], lv[k], out->alpha);
  }
  return TQ_OK;
}

/* ---- the design function of each method (tq_methods[].design) ------------------------ */

tq_status tq_design_qsgd(TQ_DESIGN_ARGS) {
  (void)st, (void)fit, (void)d;
  double lv[TQ_MAX_LEVELS + 1];
  int s = (1 << (cfg->bits - 1)) - 1;
  for (int j = 0; j <= s; j++) lv[j] = (double)j / s;
  return store_levels(out, lv, s + 1, e);
}

tq_status tq_design_nuqsgd(TQ_DESIGN_ARGS) {
  (void)st, (void)fit, (void)d;
  double lv[TQ_MAX_LEVELS + 1];
  int s = (1 << (cfg->bits - 1)) - 2;
  lv[0] = 0.0;
  for (int j = 0; j <= s; j++) lv[j + 1] = ldexp(1.0, j - s);
  return store_levels(out, lv, s + 2, e);
}

/* What every truncated design shares: s intervals (the zero level makes s even so that u = 0
 * is a level), the variance constant c, the Laplace scale beta, and whether (and why) the
 * Laplace rule designs this tensor (docs/math.md §10). */
typedef struct trunc_setup {
  int s;
  double c, beta;
} trunc_setup;

static trunc_setup truncated_setup(const tq_compress_cfg *cfg, const tq_tail_fit *fit, uint64_t d,
                                   tq_design *out) {
  trunc_setup t;
  t.s = (1 << cfg->bits) - 1 - (cfg->zero_level ? 1 : 0);
  t.c = cfg->alpha_rule == TQ_ALPHA_TRUEVAR ? 1.0 / 6.0 : 0.25;
  t.beta = fit ? fit->beta : 0.0;
  if (!(t.beta > 0)) t.beta = 1e-30; /* all-zero tensor: any tiny table decodes to ~0 */
  const char *why = NULL;
  if (cfg->tail == TQ_TAIL_LAPLACE) why = "laplace tail model chosen";
  else if (d < 1000) why = "fewer than 1000 elements";
  else if (!fit || !fit->ok) why = "tail fit found no admissible x_min";
  else if (!(fit->gamma > 3.05)) why = "fitted gamma <= 3.05";
  if (why) {
    out->laplace = true;
    out->why = why;
  }
  return t;
}

/* The Laplace rule's uniform grid at alpha = beta W0(s^2 / (4c)): TQSGD's fallback, and
 * TBQSGD's, whose second scale needs the fitted g_min. */
static void laplace_uniform(const trunc_setup *t, tq_design *out, double *lv) {
  double a = tq_laplace_alpha_uniform(t->beta, t->s, t->c);
  out->alpha = a;
  uniform_levels(a, t->s, lv);
  out->model_mse =
      4 * t->c * a * a / ((double)t->s * t->s) + 2 * t->beta * t->beta * exp(-a / t->beta);
}

static void pl_model_of(const trunc_setup *t, const tq_tail_fit *fit, tq_pl_model *m) {
  tq_pl_init(m, fit->gamma, fit->g_min, fit->rho, t->beta, t->c);
}

tq_status tq_design_tqsgd(TQ_DESIGN_ARGS) {
  double lv[TQ_MAX_LEVELS + 1];
  trunc_setup t = truncated_setup(cfg, fit, d, out);
  if (out->laplace) {
    laplace_uniform(&t, out, lv);
  } else {
    tq_pl_model m;
    pl_model_of(&t, fit, &m);
    out->alpha = tq_pl_alpha_uniform(&m, t.s);
    out->model_mse = tq_pl_E_uniform(&m, out->alpha, t.s);
    uniform_levels(out->alpha, t.s, lv);
  }
  return store_levels(out, lv, t.s + 1, e);
}

tq_status tq_design_tnqsgd(TQ_DESIGN_ARGS) {
  double lv[TQ_MAX_LEVELS + 1];
  trunc_setup t = truncated_setup(cfg, fit, d, out);
  if (out->laplace) {
    const double beta = t.beta, c = t.c;
    const int s = t.s;
    out->alpha = tq_laplace_levels(beta, s, c, lv);
    double u = exp(-out->alpha / (3 * beta));
    out->model_mse =
        108 * c * beta * beta * pow(1 - u, 3) / ((double)s * s) + 2 * beta * beta * u * u * u;
  } else {
    tq_pl_model m;
    pl_model_of(&t, fit, &m);
    out->alpha = tq_pl_alpha_nonuniform(&m, t.s);
    out->model_mse = tq_pl_E_nonuniform(&m, out->alpha, t.s);
    tq_pl_nonuniform_levels(&m, out->alpha, t.s, lv);
  }
  return store_levels(out, lv, t.s + 1, e);
}

tq_status tq_design_tbqsgd(TQ_DESIGN_ARGS) {
  double lv[TQ_MAX_LEVELS + 1];
  trunc_setup t = truncated_setup(cfg, fit, d, out);
  if (out->laplace) {
    laplace_uniform(&t, out, lv);
  } else {
    tq_pl_model m;
    pl_model_of(&t, fit, &m);
    biscaled(&m, t.s, lv, &out->alpha, &out->model_mse, &out->s_out);
  }
  return store_levels(out, lv, t.s + 1, e);
}

tq_status tq_design_tpqsgd(TQ_DESIGN_ARGS) {
  (void)fit, (void)d, (void)e;
  tq_tp_design t = {.k = TQ_TP_K_MIN, .alpha = INFINITY};
  if (st) t = tq_tp_design_levels(st, cfg->bits, cfg->design_average);
  out->nlev = 1 << (cfg->bits - 1);
  tq_tp_levels(cfg->bits, t.k, out->levels);
  out->alpha = t.alpha > 0.0f ? t.alpha : INFINITY; /* an all-zero tensor: no cap */
  out->tp_k = t.k;
  out->model_mse = t.cost;
  return TQ_OK;
}

tq_status tq_design_levels(const tq_compress_cfg *cfg, const tq_tail_fit *fit, uint64_t d,
                           tq_design *out, tq_err *e) {
  return tq_design_tensor(cfg, NULL, fit, d, out, e);
}

tq_status tq_design_tensor(const tq_compress_cfg *cfg, const tq_tail_stats *st,
                           const tq_tail_fit *fit, uint64_t d, tq_design *out, tq_err *e) {
  TQ_TRY(tq_compress_cfg_check(cfg, e));
  memset(out, 0, sizeof *out);
  out->method = cfg->method;
  out->bits = cfg->bits;
  out->why = "";
  tq_design_fn design = tq_method_info_of(cfg->method)->design;
  return design ? design(cfg, st, fit, d, out, e) : TQ_OK;
}
