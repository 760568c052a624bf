#include "nn/nn_ref.h"

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

double ref_net(const tq_model *m, const double *params, const double *x, const int *labels,
               int batch, int count, uint32_t seed, uint32_t worker, uint32_t iteration,
               double *grads, double **acts, double **dacts) {
  int L = m->nlayers;
  double **a = calloc((size_t)L, sizeof *a), **d = calloc((size_t)L, sizeof *d);
  int **arg = calloc((size_t)L, sizeof *arg);
  for (int i = 0; i < L; i++) {
    size_t n = (size_t)batch * tq_shape_size(m->layers[i].out);
    a[i] = calloc(n, sizeof(double));
    d[i] = calloc(n, sizeof(double));
    arg[i] = calloc(n, sizeof(int));
  }
  long nmax = 1;
  for (int i = 0; i < L; i++)
    if ((long)batch * (long)tq_shape_size(m->layers[i].in) > nmax)
      nmax = (long)batch * (long)tq_shape_size(m->layers[i].in);
  /* A convolution without a bias reads zeros here and writes its (unused) bias gradient to
   * bias_sink; filters are at most 65536 (model.c). */
  double *zero_bias = calloc(65536, sizeof(double)), *bias_sink = calloc(65536, sizeof(double));
  double *tmp = calloc((size_t)nmax, sizeof(double));
  for (int i = 0; i < L; i++) {
    const tq_layer *l = &m->layers[i];
    const double *in = l->src >= 0 ? a[l->src] : x;
    long nout = (long)batch * (long)tq_shape_size(l->out);
    switch (l->kind) {
    case TQ_LAYER_CONV2D:
      ref_conv2d_fwd(in, params + m->tensors[l->w_tensor].offset,
                     l->b_tensor >= 0 ? params + m->tensors[l->b_tensor].offset : zero_bias, batch, l->in.c, l->in.h, l->in.w,
                     l->units, l->size, l->stride, l->pad, l->out.h, l->out.w, a[i]);
      break;
    case TQ_LAYER_DENSE:
      ref_dense_fwd(in, params + m->tensors[l->w_tensor].offset,
                    params + m->tensors[l->b_tensor].offset, batch, l->in.c, l->units, a[i]);
      break;
    case TQ_LAYER_MAXPOOL:
      ref_maxpool_fwd(in, batch * l->in.c, l->in.h, l->in.w, l->size, l->stride, l->out.h,
                      l->out.w, a[i], arg[i]);
      break;
    case TQ_LAYER_RELU:
      for (long k = 0; k < nout; k++) a[i][k] = in[k] > 0 ? in[k] : 0;
      break;
    case TQ_LAYER_DROPOUT:
      ref_dropout(in, nout, l->drop_p, seed, worker, iteration, (uint32_t)i, a[i]);
      break;
    case TQ_LAYER_FLATTEN: memcpy(a[i], in, (size_t)nout * sizeof(double)); break;
    case TQ_LAYER_BATCHNORM:
      ref_batchnorm_fwd(in, params + m->tensors[l->w_tensor].offset,
                        params + m->tensors[l->b_tensor].offset, batch, l->in.c,
                        l->in.h * l->in.w, count, l->bn_eps, NULL, NULL, a[i]);
      break;
    case TQ_LAYER_AVGPOOL: {
      int HW = l->in.h * l->in.w;
      for (long k = 0; k < nout; k++) {
        double acc = 0;
        for (int p = 0; p < HW; p++) acc += in[k * HW + p];
        a[i][k] = acc / HW;
      }
      break;
    }
    case TQ_LAYER_ADD: {
      const double *f = l->from >= 0 ? a[l->from] : x;
      for (long k = 0; k < nout; k++) a[i][k] = in[k] + f[k];
      break;
    }
    }
  }
  double loss = ref_softmax_xent(a[L - 1], labels, batch, m->classes, count, d[L - 1], NULL);
  if (grads) {
    /* Every layer writes its input gradient to tmp, then adds it into d[src]: a layer read by
     * several later ones gets the sum (d[] starts at zero). */
    for (int i = L - 1; i >= 0; i--) {
      const tq_layer *l = &m->layers[i];
      const double *in = l->src >= 0 ? a[l->src] : x;
      double *din = l->src >= 0 ? tmp : NULL;
      long nout = (long)batch * (long)tq_shape_size(l->out);
      long nin = (long)batch * (long)tq_shape_size(l->in);
      if (din) memset(din, 0, (size_t)nin * sizeof(double));
      switch (l->kind) {
      case TQ_LAYER_CONV2D:
        ref_conv2d_bwd(in, params + m->tensors[l->w_tensor].offset, d[i], batch, l->in.c, l->in.h,
                       l->in.w, l->units, l->size, l->stride, l->pad, l->out.h, l->out.w, din,
                       grads + m->tensors[l->w_tensor].offset,
                       l->b_tensor >= 0 ? grads + m->tensors[l->b_tensor].offset : bias_sink);
        break;
      case TQ_LAYER_DENSE:
        ref_dense_bwd(in, params + m->tensors[l->w_tensor].offset, d[i], batch, l->in.c, l->units,
                      din, grads + m->tensors[l->w_tensor].offset,
                      grads + m->tensors[l->b_tensor].offset);
        break;
      case TQ_LAYER_MAXPOOL:
        if (din)
          ref_maxpool_bwd(d[i], arg[i], batch * l->in.c, l->in.h, l->in.w, l->out.h, l->out.w,
                          din);
        break;
      case TQ_LAYER_RELU:
        if (din)
          for (long k = 0; k < nout; k++) din[k] = a[i][k] > 0 ? d[i][k] : 0;
        break;
      case TQ_LAYER_DROPOUT:
        if (din) ref_dropout(d[i], nout, l->drop_p, seed, worker, iteration, (uint32_t)i, din);
        break;
      case TQ_LAYER_FLATTEN:
        if (din) memcpy(din, d[i], (size_t)nout * sizeof(double));
        break;
      case TQ_LAYER_BATCHNORM:
        ref_batchnorm_bwd(in, params + m->tensors[l->w_tensor].offset, d[i], batch, l->in.c,
                          l->in.h * l->in.w, count, l->bn_eps, din,
                          grads + m->tensors[l->w_tensor].offset,
                          grads + m->tensors[l->b_tensor].offset);
        break;
      case TQ_LAYER_AVGPOOL: {
        int HW = l->in.h * l->in.w;
        if (din)
          for (long k = 0; k < nin; k++) din[k] = d[i][k / HW] / HW;
        break;
      }
      case TQ_LAYER_ADD:
        if (din) memcpy(din, d[i], (size_t)nout * sizeof(double));
        if (l->from >= 0)
          for (long k = 0; k < nout; k++) d[l->from][k] += d[i][k];
        break;
      }
      if (din)
        for (long k = 0; k < nin; k++) d[l->src][k] += din[k];
    }
  }
  for (int i = 0; i < L; i++) {
    size_t n = (size_t)batch * tq_shape_size(m->layers[i].out);
    if (acts && acts[i]) memcpy(acts[i], a[i], n * sizeof(double));
    if (dacts && dacts[i]) memcpy(dacts[i], d[i], n * sizeof(double));
    free(a[i]);
    free(d[i]);
    free(arg[i]);
  }
  free(a);
  free(d);
  free(arg);
  free(tmp);
  free(zero_bias);
  free(bias_sink);
  return loss;
}
