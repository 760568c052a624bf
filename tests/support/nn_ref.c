#include "nn_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/philox.h"

void ref_conv2d_fwd(const double *x, const double *w, const double *b, int B, int C, int H, int W,
                    int K, int ks, int S, int P, int OH, int OW, double *y) {
  for (int n = 0; n < B; n++)
    for (int k = 0; k < K; k++)
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
          double acc = b[k];
          for (int c = 0; c < C; c++)
            for (int i = 0; i < ks; i++)
              for (int j = 0; j < ks; j++) {
                int yy = oh * S - P + i, xx = ow * S - P + j;
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                acc += w[((k * C + c) * ks + i) * ks + j] * x[((n * C + c) * H + yy) * W + xx];
              }
          y[((n * K + k) * OH + oh) * OW + ow] = acc;
        }
}

void ref_conv2d_bwd(const double *x, const double *w, const double *dy, int B, int C, int H,
                    int W, int K, int ks, int S, int P, int OH, int OW, double *dx, double *dw,
                    double *db) {
  memset(dw, 0, sizeof(double) * (size_t)K * C * ks * ks);
  memset(db, 0, sizeof(double) * (size_t)K);
  if (dx) memset(dx, 0, sizeof(double) * (size_t)B * C * H * W);
  for (int n = 0; n < B; n++)
    for (int k = 0; k < K; k++)
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
          double g = dy[((n * K + k) * OH + oh) * OW + ow];
          db[k] += g;
          for (int c = 0; c < C; c++)
            for (int i = 0; i < ks; i++)
              for (int j = 0; j < ks; j++) {
                int yy = oh * S - P + i, xx = ow * S - P + j;
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                size_t xi = ((size_t)(n * C + c) * H + yy) * W + xx;
                size_t wi = ((size_t)(k * C + c) * ks + i) * ks + j;
                dw[wi] += g * x[xi];
                if (dx) dx[xi] += g * w[wi];
              }
        }
}

void ref_dense_fwd(const double *x, const double *w, const double *b, int B, int I, int O,
                   double *y) {
  for (int n = 0; n < B; n++)
    for (int o = 0; o < O; o++) {
      double acc = b[o];
      for (int i = 0; i < I; i++) acc += x[(size_t)n * I + i] * w[(size_t)o * I + i];
      y[(size_t)n * O + o] = acc;
    }
}

void ref_dense_bwd(const double *x, const double *w, const double *dy, int B, int I, int O,
                   double *dx, double *dw, double *db) {
  memset(dw, 0, sizeof(double) * (size_t)O * I);
  memset(db, 0, sizeof(double) * (size_t)O);
  if (dx) memset(dx, 0, sizeof(double) * (size_t)B * I);
  for (int n = 0; n < B; n++)
    for (int o = 0; o < O; o++) {
      double g = dy[(size_t)n * O + o];
      db[o] += g;
      for (int i = 0; i < I; i++) {
        dw[(size_t)o * I + i] += g * x[(size_t)n * I + i];
        if (dx) dx[(size_t)n * I + i] += g * w[(size_t)o * I + i];
      }
    }
}

void ref_maxpool_fwd(const double *x, int BC, int H, int W, int size, int stride, int OH, int OW,
                     double *y, int *arg) {
  for (int bc = 0; bc < BC; bc++)
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++) {
        int best = (bc * H + oh * stride) * W + ow * stride;
        for (int i = 0; i < size; i++)
          for (int j = 0; j < size; j++) {
            int idx = (bc * H + oh * stride + i) * W + ow * stride + j;
            if (x[idx] > x[best]) best = idx;
          }
        int o = (bc * OH + oh) * OW + ow;
        y[o] = x[best];
        arg[o] = best;
      }
}

void ref_maxpool_bwd(const double *dy, const int *arg, int BC, int H, int W, int OH, int OW,
                     double *dx) {
  memset(dx, 0, sizeof(double) * (size_t)BC * H * W);
  for (int o = 0; o < BC * OH * OW; o++) dx[arg[o]] += dy[o];
}

void ref_dropout(const double *x, long n, float p, uint32_t seed, uint32_t worker,
                 uint32_t iteration, uint32_t layer, double *y) {
  /* The kernel scales in float; use the same float factor so the two agree to rounding. */
  double scale = (double)(1.0f / (1.0f - p));
  for (long i = 0; i < n; i++) {
    float u = tq_u01(tq_rng_draw(seed, worker, iteration, layer, TQ_RNG_DROPOUT, (uint32_t)i));
    y[i] = u >= p ? x[i] * scale : 0.0;
  }
}

double ref_softmax_xent(const double *z, const int *labels, int B, int C, int count, double *dz,
                        int *correct) {
  double total = 0;
  for (int b = 0; b < B; b++) {
    const double *r = z + (size_t)b * C;
    double *d = dz + (size_t)b * C;
    if (b >= count) {
      for (int c = 0; c < C; c++) d[c] = 0;
      if (correct) correct[b] = 0;
      continue;
    }
    int am = 0;
    for (int c = 1; c < C; c++)
      if (r[c] > r[am]) am = c;
    double m = r[am], s = 0;
    for (int c = 0; c < C; c++) s += exp(r[c] - m);
    for (int c = 0; c < C; c++) d[c] = (exp(r[c] - m) / s - (c == labels[b])) / count;
    total += log(s) + m - r[labels[b]];
    if (correct) correct[b] = am == labels[b];
  }
  return total;
}

static void bn_moments(const double *x, int C, int HW, int count, int c, double *mean,
                       double *var) {
  double s = 0, q = 0;
  long N = (long)count * HW;
  for (int b = 0; b < count; b++)
    for (int p = 0; p < HW; p++) s += x[((size_t)b * C + c) * HW + p];
  double m = s / (double)N;
  for (int b = 0; b < count; b++)
    for (int p = 0; p < HW; p++) {
      double d = x[((size_t)b * C + c) * HW + p] - m;
      q += d * d;
    }
  *mean = m;
  *var = q / (double)N;
}

void ref_batchnorm_fwd(const double *x, const double *gamma, const double *beta, int B, int C,
                       int HW, int count, double eps, const double *rm, const double *rv,
                       double *y) {
  for (int c = 0; c < C; c++) {
    double m, v;
    if (rm) {
      m = rm[c];
      v = rv[c];
    } else {
      bn_moments(x, C, HW, count, c, &m, &v);
    }
    double inv = 1.0 / sqrt(v + eps);
    for (int b = 0; b < B; b++)
      for (int p = 0; p < HW; p++) {
        size_t i = ((size_t)b * C + c) * HW + p;
        y[i] = (x[i] - m) * inv * gamma[c] + beta[c];
      }
  }
}

void ref_batchnorm_bwd(const double *x, const double *gamma, const double *dy, int B, int C,
                       int HW, int count, double eps, double *dx, double *dgamma, double *dbeta) {
  double N = (double)count * HW;
  for (int c = 0; c < C; c++) {
    double m, v;
    bn_moments(x, C, HW, count, c, &m, &v);
    double inv = 1.0 / sqrt(v + eps), sdy = 0, sdyx = 0;
    for (int b = 0; b < count; b++)
      for (int p = 0; p < HW; p++) {
        size_t i = ((size_t)b * C + c) * HW + p;
        sdy += dy[i];
        sdyx += dy[i] * (x[i] - m) * inv;
      }
    dgamma[c] = sdyx;
    dbeta[c] = sdy;
    if (!dx) continue;
    for (int b = 0; b < B; b++)
      for (int p = 0; p < HW; p++) {
        size_t i = ((size_t)b * C + c) * HW + p;
        dx[i] = b < count ? gamma[c] * inv / N * (N * dy[i] - sdy - (x[i] - m) * inv * sdyx) : 0.0;
      }
  }
}

void ref_batchnorm_stats(const double *x, int C, int HW, int count, double *mean,
                         double *var_unbiased) {
  long N = (long)count * HW;
  for (int c = 0; c < C; c++) {
    double v;
    bn_moments(x, C, HW, count, c, &mean[c], &v);
    var_unbiased[c] = N > 1 ? v * (double)N / (double)(N - 1) : v;
  }
}

/* ---- the whole network: one row per layer kind ----------------------------------------- */

/* What the per-kind passes of ref_net see. a[i], d[i]: layer i's output and output gradient
 * [batch][out]; arg[i]: maxpool's argmax. */
typedef struct ref_ctx {
  const tq_model *m;
  const double *params, *x;
  int batch, count;
  uint32_t seed, worker, iteration;
  double *grads;
  double **a, **d;
  int **arg;
  /* A convolution without a bias reads zeros here and writes its (unused) bias gradient to
   * bias_sink; filters are at most 65536 (layer_conv2d.c). */
  double *zero_bias, *bias_sink;
} ref_ctx;

static const double *param(const ref_ctx *c, int t) { return c->params + c->m->tensors[t].offset; }
static double *grad(const ref_ctx *c, int t) { return c->grads + c->m->tensors[t].offset; }
static long out_count(const ref_ctx *c, const tq_layer *l) {
  return (long)c->batch * (long)tq_shape_size(l->out);
}

/* fwd: layer i's output a[i] from its input `in`. bwd: its parameter gradients and, when din
 * is not NULL (the layer reads another layer), its input gradient into din (zeroed). */
typedef struct ref_layer {
  void (*fwd)(const ref_ctx *c, int i, const double *in);
  void (*bwd)(const ref_ctx *c, int i, const double *in, double *din);
} ref_layer;

static void conv_fwd(const ref_ctx *c, int i, const double *in) {
  const tq_layer *l = &c->m->layers[i];
  ref_conv2d_fwd(in, param(c, l->w_tensor), l->b_tensor >= 0 ? param(c, l->b_tensor) : c->zero_bias,
                 c->batch, l->in.c, l->in.h, l->in.w, l->units, l->size, l->stride, l->pad,
                 l->out.h, l->out.w, c->a[i]);
}

static void conv_bwd(const ref_ctx *c, int i, const double *in, double *din) {
  const tq_layer *l = &c->m->layers[i];
  ref_conv2d_bwd(in, param(c, l->w_tensor), c->d[i], c->batch, l->in.c, l->in.h, l->in.w,
                 l->units, l->size, l->stride, l->pad, l->out.h, l->out.w, din,
                 grad(c, l->w_tensor), l->b_tensor >= 0 ? grad(c, l->b_tensor) : c->bias_sink);
}

static void dense_fwd(const ref_ctx *c, int i, const double *in) {
  const tq_layer *l = &c->m->layers[i];
  ref_dense_fwd(in, param(c, l->w_tensor), param(c, l->b_tensor), c->batch, l->in.c, l->units,
                c->a[i]);
}

static void dense_bwd(const ref_ctx *c, int i, const double *in, double *din) {
  const tq_layer *l = &c->m->layers[i];
  ref_dense_bwd(in, param(c, l->w_tensor), c->d[i], c->batch, l->in.c, l->units, din,
                grad(c, l->w_tensor), grad(c, l->b_tensor));
}

static void maxpool_fwd(const ref_ctx *c, int i, const double *in) {
  const tq_layer *l = &c->m->layers[i];
  ref_maxpool_fwd(in, c->batch * l->in.c, l->in.h, l->in.w, l->size, l->stride, l->out.h,
                  l->out.w, c->a[i], c->arg[i]);
}

static void maxpool_bwd(const ref_ctx *c, int i, const double *in, double *din) {
  const tq_layer *l = &c->m->layers[i];
  if (din)
    ref_maxpool_bwd(c->d[i], c->arg[i], c->batch * l->in.c, l->in.h, l->in.w, l->out.h,
                    l->out.w, din);
}

static void relu_fwd(const ref_ctx *c, int i, const double *in) {
  long n = out_count(c, &c->m->layers[i]);
  for (long k = 0; k < n; k++) c->a[i][k] = in[k] > 0 ? in[k] : 0;
}

static void relu_bwd(const ref_ctx *c, int i, const double *in, double *din) {
  long n = out_count(c, &c->m->layers[i]);
  if (din)
    for (long k = 0; k < n; k++) din[k] = c->a[i][k] > 0 ? c->d[i][k] : 0;
}

static void dropout_fwd(const ref_ctx *c, int i, const double *in) {
  const tq_layer *l = &c->m->layers[i];
  ref_dropout(in, out_count(c, l), l->drop_p, c->seed, c->worker, c->iteration, (uint32_t)i,
              c->a[i]);
}

static void dropout_bwd(const ref_ctx *c, int i, const double *in, double *din) {
  const tq_layer *l = &c->m->layers[i];
  if (din)
    ref_dropout(c->d[i], out_count(c, l), l->drop_p, c->seed, c->worker, c->iteration,
                (uint32_t)i, din);
}

static void copy_fwd(const ref_ctx *c, int i, const double *in) {
  memcpy(c->a[i], in, (size_t)out_count(c, &c->m->layers[i]) * sizeof(double));
}

static void copy_bwd(const ref_ctx *c, int i, const double *in, double *din) {
  if (din) memcpy(din, c->d[i], (size_t)out_count(c, &c->m->layers[i]) * sizeof(double));
}

static void bn_fwd(const ref_ctx *c, int i, const double *in) {
  const tq_layer *l = &c->m->layers[i];
  ref_batchnorm_fwd(in, param(c, l->w_tensor), param(c, l->b_tensor), c->batch, l->in.c,
                    l->in.h * l->in.w, c->count, l->bn_eps, NULL, NULL, c->a[i]);
}

static void bn_bwd(const ref_ctx *c, int i, const double *in, double *din) {
  const tq_layer *l = &c->m->layers[i];
  ref_batchnorm_bwd(in, param(c, l->w_tensor), c->d[i], c->batch, l->in.c, l->in.h * l->in.w,
                    c->count, l->bn_eps, din, grad(c, l->w_tensor), grad(c, l->b_tensor));
}

static void avgpool_fwd(const ref_ctx *c, int i, const double *in) {
  const tq_layer *l = &c->m->layers[i];
  int HW = l->in.h * l->in.w;
  long n = out_count(c, l);
  for (long k = 0; k < n; k++) {
    double acc = 0;
    for (int p = 0; p < HW; p++) acc += in[k * HW + p];
    c->a[i][k] = acc / HW;
  }
}

static void avgpool_bwd(const ref_ctx *c, int i, const double *in, double *din) {
  const tq_layer *l = &c->m->layers[i];
  int HW = l->in.h * l->in.w;
  long nin = (long)c->batch * (long)tq_shape_size(l->in);
  if (din)
    for (long k = 0; k < nin; k++) din[k] = c->d[i][k / HW] / HW;
}

static void add_fwd(const ref_ctx *c, int i, const double *in) {
  const tq_layer *l = &c->m->layers[i];
  const double *f = l->from >= 0 ? c->a[l->from] : c->x;
  long n = out_count(c, l);
  for (long k = 0; k < n; k++) c->a[i][k] = in[k] + f[k];
}

static void add_bwd(const ref_ctx *c, int i, const double *in, double *din) {
  const tq_layer *l = &c->m->layers[i];
  long n = out_count(c, l);
  copy_bwd(c, i, in, din);
  if (l->from >= 0)
    for (long k = 0; k < n; k++) c->d[l->from][k] += c->d[i][k];
}

/* The reference of each layer kind, beside the device's table (host/nn/layer.c). */
static const ref_layer ref_table[TQ_LAYER_KINDS] = {
    [TQ_LAYER_CONV2D] = {conv_fwd, conv_bwd},       [TQ_LAYER_MAXPOOL] = {maxpool_fwd, maxpool_bwd},
    [TQ_LAYER_RELU] = {relu_fwd, relu_bwd},         [TQ_LAYER_DENSE] = {dense_fwd, dense_bwd},
    [TQ_LAYER_DROPOUT] = {dropout_fwd, dropout_bwd}, [TQ_LAYER_FLATTEN] = {copy_fwd, copy_bwd},
    [TQ_LAYER_BATCHNORM] = {bn_fwd, bn_bwd},        [TQ_LAYER_ADD] = {add_fwd, add_bwd},
    [TQ_LAYER_AVGPOOL] = {avgpool_fwd, avgpool_bwd},
};

bool ref_has_kind(tq_layer_kind k) {
  return (unsigned)k < TQ_LAYER_KINDS && ref_table[k].fwd && ref_table[k].bwd;
}

static const double *input_of(const ref_ctx *c, int i) {
  int src = c->m->layers[i].src;
  return src >= 0 ? c->a[src] : c->x;
}

static void ref_alloc(ref_ctx *c) {
  int L = c->m->nlayers;
  c->a = calloc((size_t)L, sizeof *c->a);
  c->d = calloc((size_t)L, sizeof *c->d);
  c->arg = calloc((size_t)L, sizeof *c->arg);
  for (int i = 0; i < L; i++) {
    size_t n = (size_t)c->batch * tq_shape_size(c->m->layers[i].out);
    c->a[i] = calloc(n, sizeof(double));
    c->d[i] = calloc(n, sizeof(double));
    c->arg[i] = calloc(n, sizeof(int));
  }
  c->zero_bias = calloc(65536, sizeof(double));
  c->bias_sink = calloc(65536, sizeof(double));
}

/* Every layer writes its input gradient to tmp, then adds it into d[src]: a layer read by
 * several later ones gets the sum (d[] starts at zero). */
static void ref_backward(const ref_ctx *c) {
  const tq_model *m = c->m;
  long nmax = 1;
  for (int i = 0; i < m->nlayers; i++)
    if ((long)c->batch * (long)tq_shape_size(m->layers[i].in) > nmax)
      nmax = (long)c->batch * (long)tq_shape_size(m->layers[i].in);
  double *tmp = calloc((size_t)nmax, sizeof(double));
  for (int i = m->nlayers - 1; i >= 0; i--) {
    const tq_layer *l = &m->layers[i];
    double *din = l->src >= 0 ? tmp : NULL;
    long nin = (long)c->batch * (long)tq_shape_size(l->in);
    if (din) memset(din, 0, (size_t)nin * sizeof(double));
    ref_table[l->kind].bwd(c, i, input_of(c, i), din);
    if (din)
      for (long k = 0; k < nin; k++) c->d[l->src][k] += din[k];
  }
  free(tmp);
}

/* Copies out what the caller asked for and frees the context's buffers. */
static void ref_finish(ref_ctx *c, double **acts, double **dacts) {
  for (int i = 0; i < c->m->nlayers; i++) {
    size_t n = (size_t)c->batch * tq_shape_size(c->m->layers[i].out);
    if (acts && acts[i]) memcpy(acts[i], c->a[i], n * sizeof(double));
    if (dacts && dacts[i]) memcpy(dacts[i], c->d[i], n * sizeof(double));
    free(c->a[i]);
    free(c->d[i]);
    free(c->arg[i]);
  }
  free(c->a);
  free(c->d);
  free(c->arg);
  free(c->zero_bias);
  free(c->bias_sink);
}

double ref_net(const tq_model *m, const double *params, const double *x, const int *labels,
               int batch, int count, uint32_t seed, uint32_t worker, uint32_t iteration,
               double *grads, double **acts, double **dacts) {
  ref_ctx c = {.m = m, .params = params, .x = x, .batch = batch, .count = count, .seed = seed,
               .worker = worker, .iteration = iteration, .grads = grads};
  ref_alloc(&c);
  for (int i = 0; i < m->nlayers; i++) ref_table[m->layers[i].kind].fwd(&c, i, input_of(&c, i));
  int L = m->nlayers;
  double loss = ref_softmax_xent(c.a[L - 1], labels, batch, m->classes, count, c.d[L - 1], NULL);
  if (grads) ref_backward(&c);
  ref_finish(&c, acts, dacts);
  return loss;
}
