/* Level design (docs/math.md §4-§8): alpha and the level table for every method, on the
 * host, deterministically (closed forms, golden section on ln alpha, fixed iteration counts). */
#ifndef TQ_COMPRESS_LEVELS_H
#define TQ_COMPRESS_LEVELS_H

#include <stdbool.h>
#include <stdint.h>

#include "compress/method.h"
#include "compress/tailfit.h"

/* The two-part model of docs/math.md §5: Laplace body of scale beta on |g| <= g_min with mass
 * 1 - 2 rho, power-law tail rho (gamma-1) g_min^(gamma-1) |g|^-gamma per side. c is the
 * per-interval variance constant (1/4 bound, 1/6 true-variance rule). */
typedef struct tq_pl_model {
  double gamma, gmin, rho, beta, c;
  double Cb, K, kap, Ab; /* derived: body constant, tail p^(1/3) constant, 1 - gamma/3, Z(gmin) */
} tq_pl_model;

void tq_pl_init(tq_pl_model *m, double gamma, double gmin, double rho, double beta, double c);
double tq_pl_Z(const tq_pl_model *m, double a);    /* int_0^a p^(1/3) */
double tq_pl_QU(const tq_pl_model *m, double a);   /* P(|g| <= a) */
double tq_pl_bias(const tq_pl_model *m, double a); /* E (T_a(g) - g)^2 */
double tq_pl_E_uniform(const tq_pl_model *m, double a, int s);
double tq_pl_E_nonuniform(const tq_pl_model *m, double a, int s);
/* Closed-form alpha*_U (Q_U = 1); golden section on E_uniform when it falls below g_min. */
double tq_pl_alpha_uniform(const tq_pl_model *m, int s);
/* argmin of E_nonuniform over [0.05 g_min, 1e4 g_min] (golden section on ln alpha). */
double tq_pl_alpha_nonuniform(const tq_pl_model *m, int s);
/* l_k = Lambda^-1(k/s), k = 0..s, with l_0 = -a and l_s = a exactly. */
void tq_pl_nonuniform_levels(const tq_pl_model *m, double a, int s, double *lv);

/* Lambert W0 for z >= 0. */
double tq_lambert_w0(double z);
/* P2 design, Laplace scale beta: alpha* and levels (s+1 entries). c = 1/4 gives
 * t* = 9/(9 + sqrt6 s), c = 1/6 gives t = 3/(s+3). Returns alpha. */
double tq_laplace_levels(double beta, int s, double c, double *lv);
/* TQSGD-Lap: alpha = beta W0(s^2 / (4c)). */
double tq_laplace_alpha_uniform(double beta, int s, double c);

typedef struct tq_design {
  tq_method method;
  int bits;
  int nlev;                       /* entries of levels[] */
  float levels[TQ_MAX_LEVELS];    /* truncated: signed table; bucketed: magnitudes in [0, 1] */
  double alpha;                   /* truncation threshold (truncated family), else 0 */
  bool laplace;                   /* the Laplace rule made this design */
  const char *why;                /* why the Laplace rule was used ("" if it was not) */
  double model_mse;               /* the model's per-element error at this design (truncated) */
  int s_out;                      /* TBQSGD: outer intervals per side; 0 = plain uniform */
  int tp_k;                       /* TPQSGD: magnitude exponent p = tp_k / 4 */
} tq_design;

/* Designs alpha and the levels for cfg from a fit (truncated family; fit may be NULL for the
 * bucketed methods) for a tensor of d elements: checks cfg, clears out, then runs the method's
 * design function (tq_method_info_of(cfg->method)->design). The truncated family falls back to
 * the Laplace rule (docs/math.md §10) when cfg->tail is laplace, d < 1000, the fit failed or
 * gamma <= 3.05. A tensor with beta = 0 (all zeros) gets a design of scale 1e-30, so its levels
 * stay distinct and its values ~0. */
tq_status tq_design_levels(const tq_compress_cfg *cfg, const tq_tail_fit *fit, uint64_t d,
                           tq_design *out, tq_err *e);
/* The same with the tensor's statistics (NULL where none were measured): what the compressor
 * and the reference codec call; TPQSGD designs from them. */
tq_status tq_design_tensor(const tq_compress_cfg *cfg, const tq_tail_stats *st,
                           const tq_tail_fit *fit, uint64_t d, tq_design *out, tq_err *e);

/* The design functions of the table (tq_design_fn; called by tq_design_levels with out cleared
 * and its method and bits set). Bucketed: magnitude tables in [0, 1] (docs/math.md §4). */
#define TQ_DESIGN_ARGS                                                                            \
  const tq_compress_cfg *cfg, const tq_tail_stats *st, const tq_tail_fit *fit, uint64_t d,        \
      tq_design *out, tq_err *e
tq_status tq_design_qsgd(TQ_DESIGN_ARGS);   /* {j/s}, s = 2^(b-1) - 1: qsgd, qsgdinf */
tq_status tq_design_nuqsgd(TQ_DESIGN_ARGS); /* {0, 2^-s, .., 1}, s = 2^(b-1) - 2 */
/* Truncated: signed tables on [-alpha, alpha] (docs/math.md §6-§8), Laplace rule as above. */
tq_status tq_design_tqsgd(TQ_DESIGN_ARGS);  /* uniform */
tq_status tq_design_tnqsgd(TQ_DESIGN_ARGS); /* density ~ p^(1/3) */
tq_status tq_design_tbqsgd(TQ_DESIGN_ARGS); /* two uniform grids */
/* TPQSGD (docs/math.md §15): magnitudes (j/s)^p and alpha from the histogram in st; without
 * statistics, QSGDinf's grid and no cap. */
tq_status tq_design_tpqsgd(TQ_DESIGN_ARGS);

#endif
