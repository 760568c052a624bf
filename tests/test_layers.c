/* Every layer kind on the device against the plain-C double reference (nn_ref.c), forward
 * and backward, plus a finite-difference gradient check of the whole network.
 *
 * Tolerances: the device computes in float32 and the reference in double. A value that is a
 * sum of n terms carries an error of about n * 6e-8 times the terms' size, and with
 * cancellation a small output can be relatively far off while the tensor as a whole is right.
 * So tensors are compared normwise: max |device - reference| <= 1e-4 * max |reference| over
 * the tensor (the sums here have at most ~1000 terms, so float32 lands near 1e-5). The
 * finite-difference check allows 2e-3 relative (floor 1e-2): central differences in double
 * with eps = 1e-6 are exact to ~1e-8, so the slack is the device's float32. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/net.h"
#include "nn_ref.h"
#include "test_support.h"

/* A network holding every layer kind, with strides, padding and overlapping pools:
 * 2x9x9 -conv3 s2 p1-> 3x5x5 -relu- -maxpool 3/1-> 3x3x3 -conv 2x2-> 4x2x2 -relu- -flatten-> 16
 * -dropout 0.3- -dense-> 7 -relu- -dense-> 5 */
static void all_kinds_model(tq_model *m) {
  memset(m, 0, sizeof *m);
  snprintf(m->name, sizeof m->name, "all_kinds");
  snprintf(m->path, sizeof m->path, "(test)");
  m->input = (tq_shape){2, 9, 9};
  m->classes = 5;
  tq_layer L[] = {
      {.kind = TQ_LAYER_CONV2D, .units = 3, .size = 3, .stride = 2, .pad = 1},
      {.kind = TQ_LAYER_RELU},
      {.kind = TQ_LAYER_MAXPOOL, .size = 3, .stride = 1},
      {.kind = TQ_LAYER_CONV2D, .units = 4, .size = 2, .stride = 1, .pad = 0},
      {.kind = TQ_LAYER_RELU},
      {.kind = TQ_LAYER_FLATTEN},
      {.kind = TQ_LAYER_DROPOUT, .drop_p = 0.3f},
      {.kind = TQ_LAYER_DENSE, .units = 7},
      {.kind = TQ_LAYER_RELU},
      {.kind = TQ_LAYER_DENSE, .units = 5},
  };
  m->nlayers = (int)(sizeof L / sizeof L[0]);
  memcpy(m->layers, L, sizeof L);
  tq_err e = {0};
  CU_ASSERT_EQUAL_FATAL(tq_model_finish(m, &e), TQ_OK);
}

/* A small residual network holding every layer kind of a ResNet: batchnorm, a 1x1 stride-2
 * projection shortcut (a layer reading an earlier one than the previous), a strided 3x3
 * convolution, convolutions without bias, an identity shortcut whose add is the first reader
 * of its block input in the backward pass, and global average pooling:
 * 3x6x6 -conv3 p1 (no bias)- -bn- -relu [b_in]-> 4x6x6
 *   main: -conv3 s2 p1- -bn- -relu- -conv3 p1 (no bias)- -bn [main]-> 8x3x3
 *   shortcut: b_in -conv1 s2- -bn- -add main- -relu [b2_in]-> 8x3x3
 * -conv3 p1- -bn- -add b2_in- -relu- -avgpool-> 8x1x1 -dense-> 5 */
static void residual_model(tq_model *m) {
  memset(m, 0, sizeof *m);
  snprintf(m->name, sizeof m->name, "residual");
  snprintf(m->path, sizeof m->path, "(test)");
  m->input = (tq_shape){3, 6, 6};
  m->classes = 5;
  tq_layer L[] = {
      {.kind = TQ_LAYER_CONV2D, .units = 4, .size = 3, .stride = 1, .pad = 1, .no_bias = true},
      {.kind = TQ_LAYER_BATCHNORM},
      {.kind = TQ_LAYER_RELU, .name = "b_in"},
      {.kind = TQ_LAYER_CONV2D, .units = 8, .size = 3, .stride = 2, .pad = 1},
      {.kind = TQ_LAYER_BATCHNORM},
      {.kind = TQ_LAYER_RELU},
      {.kind = TQ_LAYER_CONV2D, .units = 8, .size = 3, .stride = 1, .pad = 1, .no_bias = true},
      {.kind = TQ_LAYER_BATCHNORM, .name = "main"},
      {.kind = TQ_LAYER_CONV2D, .units = 8, .size = 1, .stride = 2, .pad = 0, .in_ref = 3},
      {.kind = TQ_LAYER_BATCHNORM, .bn_momentum = 0.25f},
      {.kind = TQ_LAYER_ADD, .from_ref = 8},
      {.kind = TQ_LAYER_RELU, .name = "b2_in"},
      {.kind = TQ_LAYER_CONV2D, .units = 8, .size = 3, .stride = 1, .pad = 1},
      {.kind = TQ_LAYER_BATCHNORM},
      {.kind = TQ_LAYER_ADD, .from_ref = 12},
      {.kind = TQ_LAYER_RELU},
      {.kind = TQ_LAYER_AVGPOOL},
      {.kind = TQ_LAYER_DENSE, .units = 5},
  };
  m->nlayers = (int)(sizeof L / sizeof L[0]);
  memcpy(m->layers, L, sizeof L);
  tq_err e = {0};
  TQ_ASSERT_OK(tq_model_finish(m, &e), &e);
}

typedef struct fixture {
  tq_model m;
  tq_net net;
  int batch, count;
  float *xf;
  double *xd, *pd;
  int *labels;
} fixture;

static void setup(fixture *f, const tq_model *m, int batch, int count, uint64_t seed) {
  tq_err e = {0};
  f->m = *m;
  f->batch = batch;
  f->count = count;
  TQ_ASSERT_OK(tq_net_create(&f->net, &f->m, tq_test_cl(), batch, 7, 2, &e), &e);
  size_t nx = (size_t)batch * tq_shape_size(m->input);
  f->xf = malloc(nx * sizeof *f->xf);
  f->xd = calloc(nx, sizeof *f->xd);
  f->labels = calloc((size_t)batch, sizeof *f->labels);
  tq_test_rng r = {seed};
  for (size_t i = 0; i < (size_t)count * tq_shape_size(m->input); i++) {
    f->xf[i] = (float)tq_test_normal(&r);
    f->xd[i] = f->xf[i];
  }
  for (int b = 0; b < batch; b++) f->labels[b] = (int)(tq_test_uniform(&r) * m->classes);
  TQ_ASSERT_OK(tq_net_set_batch(&f->net, f->xf, f->labels, count, &e), &e);
  /* The reference starts from exactly the device's float parameters. */
  float *pf = malloc(m->nparams * sizeof *pf);
  f->pd = malloc(m->nparams * sizeof *f->pd);
  TQ_ASSERT_OK(tq_cl_read(&f->net.cl, f->net.params, 0, m->nparams * sizeof *pf, pf, &e), &e);
  for (size_t i = 0; i < m->nparams; i++) f->pd[i] = pf[i];
  free(pf);
}

static void teardown(fixture *f) {
  tq_net_destroy(&f->net);
  free(f->xf);
  free(f->xd);
  free(f->pd);
  free(f->labels);
}

static void run_device(fixture *f, uint32_t iteration) {
  tq_err e = {0};
  TQ_ASSERT_OK(tq_net_forward(&f->net, true, iteration, &e), &e);
  TQ_ASSERT_OK(tq_softmax_xent(&f->net, f->count, &e), &e);
  TQ_ASSERT_OK(tq_net_backward(&f->net, iteration, &e), &e);
}

/* Normwise error of a device tensor (n floats at element offset off) against the reference. */
static double compare_buffer(fixture *f, cl_mem buf, size_t off, const double *want, size_t n,
                             const char *what) {
  tq_err e = {0};
  float *got = malloc(n * sizeof *got), *wf = malloc(n * sizeof *wf);
  CU_ASSERT_EQUAL_FATAL(tq_cl_read(&f->net.cl, buf, off * sizeof *got, n * sizeof *got, got, &e),
                        TQ_OK);
  double big = 0;
  for (size_t i = 0; i < n; i++) {
    wf[i] = (float)want[i];
    if (fabs(want[i]) > big) big = fabs(want[i]);
  }
  size_t at = 0;
  double d = tq_test_max_rel_diff(got, wf, n, big > 0 ? big : 1.0, &at);
  if (d > 1e-4)
    fprintf(stderr, "\n  %s: normwise error %.3g at %zu (%g vs %g, max %g)\n", what, d, at,
            got[at], wf[at], big);
  free(got);
  free(wf);
  return d;
}

/* Which reference tensor a layer's buffer holds after a step. Layers can share buffers (net.h):
 * flatten is a view of its input, and a ReLU right after a conv2d or dense layer shares that
 * layer's buffers. The forward pass writes a shared output buffer from the lowest layer up,
 * so it ends holding the highest sharing layer's output. The backward pass writes a shared
 * gradient buffer from the top down, so it ends holding the lowest sharing layer's output
 * gradient, except when that layer is a convolution with a fused ReLU: its backward masks the
 * gradient without writing it back, so the buffer keeps the ReLU's output gradient. */
static int act_source(const tq_net *n, int i) {
  int j = i;
  while (j + 1 < n->model->nlayers && n->act[j + 1] == n->act[i]) j++;
  return j;
}

static int dact_source(const tq_net *n, int i) {
  int j = i;
  while (j > 0 && n->dact[j - 1] == n->dact[i]) j--;
  bool masked_in_conv = tq_net_relu_fused(n, j) && n->model->layers[j].kind == TQ_LAYER_CONV2D;
  return masked_in_conv ? j + 1 : j;
}

/* Every layer's output and output gradient, and all parameter gradients, against ref_net,
 * with the ReLUs fused into the layers before them or run as their own kernels. */
static void check_against_reference_fused(const tq_model *m, int batch, int count, uint64_t seed,
                                          bool fuse) {
  fixture f;
  setup(&f, m, batch, count, seed);
  f.net.fuse_relu = fuse;
  const uint32_t iteration = 11;
  run_device(&f, iteration);
  int L = m->nlayers;
  double **acts = calloc((size_t)L, sizeof *acts), **dacts = calloc((size_t)L, sizeof *dacts);
  for (int i = 0; i < L; i++) {
    size_t n = (size_t)batch * tq_shape_size(m->layers[i].out);
    acts[i] = calloc(n, sizeof(double));
    dacts[i] = calloc(n, sizeof(double));
  }
  double *grads = calloc(m->nparams, sizeof *grads);
  double loss_ref = ref_net(m, f.pd, f.xd, f.labels, batch, count, 7, 2, iteration, grads, acts,
                            dacts);
  for (int i = 0; i < L; i++) {
    char what[64];
    size_t n = (size_t)batch * tq_shape_size(m->layers[i].out);
    int as = act_source(&f.net, i), ds = dact_source(&f.net, i);
    snprintf(what, sizeof what, "layer %d (%s) output%s", i + 1,
             tq_layer_kind_name(m->layers[i].kind), fuse ? "" : " (unfused)");
    CU_ASSERT(compare_buffer(&f, f.net.act[i], 0, acts[as], n, what) <= 1e-4);
    if (i > 0) { /* the first layer's output gradient feeds only its own weight gradient */
      snprintf(what, sizeof what, "layer %d (%s) output gradient%s", i + 1,
               tq_layer_kind_name(m->layers[i].kind), fuse ? "" : " (unfused)");
      CU_ASSERT(compare_buffer(&f, f.net.dact[i], 0, dacts[ds], n, what) <= 1e-4);
    }
  }
  for (int t = 0; t < m->ntensors; t++) {
    const tq_tensor *tt = &m->tensors[t];
    char what[80];
    snprintf(what, sizeof what, "gradient of %s", tt->name);
    double big = 0;
    for (size_t k = 0; k < tt->count; k++) big = fmax(big, fabs(grads[tt->offset + k]));
    if (big < 1e-12) {
      /* Zero in exact arithmetic (a bias right before a batchnorm, which removes the mean):
       * the device's is float rounding of a cancelling sum. */
      float *got = malloc(tt->count * sizeof *got);
      tq_err e2 = {0};
      TQ_ASSERT_OK(tq_cl_read(&f.net.cl, f.net.grads, tt->offset * sizeof *got,
                              tt->count * sizeof *got, got, &e2), &e2);
      for (size_t k = 0; k < tt->count; k++) CU_ASSERT(fabs(got[k]) < 1e-6);
      free(got);
      continue;
    }
    CU_ASSERT(compare_buffer(&f, f.net.grads, tt->offset, grads + tt->offset, tt->count, what) <=
              1e-4);
  }
  double loss_dev = 0;
  int correct = 0;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_net_read_loss(&f.net, count, &loss_dev, &correct, &e), &e);
  CU_ASSERT(fabs(loss_dev - loss_ref) <= 1e-5 * fabs(loss_ref) + 1e-6);
  for (int i = 0; i < L; i++) {
    free(acts[i]);
    free(dacts[i]);
  }
  free(acts);
  free(dacts);
  free(grads);
  teardown(&f);
}

static void check_against_reference(const tq_model *m, int batch, int count, uint64_t seed) {
  check_against_reference_fused(m, batch, count, seed, true);
}

static void test_all_kinds_vs_reference(void) {
  tq_model m;
  all_kinds_model(&m);
  check_against_reference(&m, 3, 3, 101);
}

static void test_all_kinds_unfused_vs_reference(void) {
  /* The ReLU kernels on their own (in place on the shared buffers) must agree too. */
  tq_model m;
  all_kinds_model(&m);
  check_against_reference_fused(&m, 3, 3, 102, false);
}

/* Batch 64 at LeNet-5's shapes: wide ranges (B*OH*OW = 50176 columns), the work-group sizes
 * of the benchmark, ragged last groups, and a short batch. */
static void test_lenet_batch64_vs_reference(void) {
  tq_model m;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_model_load(TQ_SOURCE_DIR "/models/lenet5.cfg", &m, &e), &e);
  check_against_reference(&m, 64, 61, 606);
}

/* Pooling with stride < size and odd sizes (windows overlap; a border row is in no window), a
 * 3x3 stride-1 convolution whose input gradient is needed (the fixed-tap col2im), a 2x2
 * stride-2 one (the general col2im) with no ReLU after it, and odd widths everywhere:
 * 3x11x13 -conv3 p2-> 5x13x15 -pool 3/2-> 5x6x7 -relu- -conv3 p1-> 6x6x7 -relu-
 * -conv2 s2-> 3x3x3 -flatten- -dense-> 4 */
static void test_odd_shapes_vs_reference(void) {
  tq_model m;
  memset(&m, 0, sizeof m);
  snprintf(m.name, sizeof m.name, "odd_shapes");
  snprintf(m.path, sizeof m.path, "(test)");
  m.input = (tq_shape){3, 11, 13};
  m.classes = 4;
  tq_layer L[] = {
      {.kind = TQ_LAYER_CONV2D, .units = 5, .size = 3, .stride = 1, .pad = 2},
      {.kind = TQ_LAYER_MAXPOOL, .size = 3, .stride = 2},
      {.kind = TQ_LAYER_RELU},
      {.kind = TQ_LAYER_CONV2D, .units = 6, .size = 3, .stride = 1, .pad = 1},
      {.kind = TQ_LAYER_RELU},
      {.kind = TQ_LAYER_CONV2D, .units = 3, .size = 2, .stride = 2, .pad = 0},
      {.kind = TQ_LAYER_FLATTEN},
      {.kind = TQ_LAYER_DENSE, .units = 4},
  };
  m.nlayers = (int)(sizeof L / sizeof L[0]);
  memcpy(m.layers, L, sizeof L);
  tq_err e = {0};
  TQ_ASSERT_OK(tq_model_finish(&m, &e), &e);
  check_against_reference_fused(&m, 5, 5, 707, true);
  check_against_reference_fused(&m, 5, 4, 708, false);
}

static void test_short_batch_ignores_padding(void) {
  /* count < batch: padded rows must not change the loss or the gradients. */
  tq_model m;
  all_kinds_model(&m);
  check_against_reference(&m, 4, 2, 202);
}

static void test_lenet_shapes_vs_reference(void) {
  tq_model m;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_model_load(TQ_SOURCE_DIR "/models/lenet5.cfg", &m, &e), &e);
  check_against_reference(&m, 4, 4, 303);
}

/* Central differences of the double reference loss against the device's float gradients, for
 * every parameter of net m (dropout masks are the same stream on both sides; batchnorm uses
 * the batch statistics on both). */
static void finite_differences(const tq_model *mm, int batch, uint64_t seed, double tol) {
  tq_model m = *mm;
  fixture f;
  setup(&f, &m, batch, batch, seed);
  const uint32_t iteration = 5;
  run_device(&f, iteration);
  float *g = malloc(m.nparams * sizeof *g);
  tq_err e = {0};
  TQ_ASSERT_OK(tq_cl_read(&f.net.cl, f.net.grads, 0, m.nparams * sizeof *g, g, &e), &e);
  double *gref = calloc(m.nparams, sizeof *gref);
  ref_net(&m, f.pd, f.xd, f.labels, batch, batch, 7, 2, iteration, gref, NULL, NULL);
  const double eps = 1e-6;
  double worst_dev = 0, worst_ref = 0;
  size_t at = 0;
  for (size_t i = 0; i < m.nparams; i++) {
    double keep = f.pd[i];
    f.pd[i] = keep + eps;
    double lp = ref_net(&m, f.pd, f.xd, f.labels, batch, batch, 7, 2, iteration, NULL, NULL, NULL) / batch;
    f.pd[i] = keep - eps;
    double lm = ref_net(&m, f.pd, f.xd, f.labels, batch, batch, 7, 2, iteration, NULL, NULL, NULL) / batch;
    f.pd[i] = keep;
    double fd = (lp - lm) / (2 * eps), scale = fmax(fabs(fd), 1e-2);
    double dd = fabs(g[i] - fd) / scale, dr = fabs(gref[i] - fd) / scale;
    if (dd > worst_dev) {
      worst_dev = dd;
      at = i;
    }
    if (dr > worst_ref) worst_ref = dr;
  }
  printf("\n  finite differences over %zu parameters of %s: device max rel err %.2e (at %zu), "
         "reference %.2e\n", m.nparams, m.name, worst_dev, at, worst_ref);
  CU_ASSERT(worst_ref < 1e-6); /* the reference's analytic gradient is right */
  CU_ASSERT(worst_dev < tol);  /* and so is the device's */
  free(g);
  free(gref);
  teardown(&f);
}

static void test_finite_differences(void) {
  tq_model m;
  all_kinds_model(&m);
  finite_differences(&m, 3, 404, 2e-3);
}

/* Batchnorm's backward sums over the batch and divides by a standard deviation, so float32
 * rounding shows more than in the plain layers: 5e-3 relative. */
static void test_finite_differences_residual(void) {
  tq_model m;
  residual_model(&m);
  finite_differences(&m, 4, 405, 5e-3);
}

static void test_residual_vs_reference(void) {
  tq_model m;
  residual_model(&m);
  check_against_reference_fused(&m, 4, 4, 811, true);
  check_against_reference_fused(&m, 5, 3, 812, false); /* short batch: statistics of 3 */
}

/* The running statistics after two training forwards, and an evaluation forward that uses
 * them, against the reference. */
static void test_batchnorm_running_and_eval(void) {
  tq_model m;
  residual_model(&m);
  fixture f;
  setup(&f, &m, 4, 4, 909);
  tq_err e = {0};
  const tq_layer *bn = &m.layers[1]; /* batchnorm on the first convolution: input x -> conv */
  size_t nin = (size_t)4 * tq_shape_size(bn->in);
  double *xin = calloc(nin, sizeof *xin), *mean = calloc(4, sizeof *mean), *var = calloc(4, sizeof *var);
  double **acts = calloc((size_t)m.nlayers, sizeof *acts);
  acts[0] = xin;
  ref_net(&m, f.pd, f.xd, f.labels, 4, 4, 7, 2, 1, NULL, acts, NULL);
  ref_batchnorm_stats(xin, bn->in.c, bn->in.h * bn->in.w, 4, mean, var);
  double rm[4], rv[4];
  for (int c = 0; c < 4; c++) {
    rm[c] = 0.0, rv[c] = 1.0;
    for (int k = 0; k < 2; k++) { /* the same batch twice */
      rm[c] = 0.9 * rm[c] + 0.1 * mean[c];
      rv[c] = 0.9 * rv[c] + 0.1 * var[c];
    }
  }
  TQ_ASSERT_OK(tq_net_forward(&f.net, true, 1, &e), &e);
  TQ_ASSERT_OK(tq_net_forward(&f.net, true, 2, &e), &e);
  float *st = malloc(m.nstate * sizeof *st);
  TQ_ASSERT_OK(tq_net_read_state(&f.net, st, &e), &e);
  CU_ASSERT_EQUAL(m.nstates, 2 * 5);
  CU_ASSERT_STRING_EQUAL(m.states[0].name, "bn1.running_mean");
  CU_ASSERT_STRING_EQUAL(m.states[1].name, "bn1.running_var");
  for (int c = 0; c < 4; c++) {
    CU_ASSERT(fabs(st[bn->state_off + c] - rm[c]) <= 1e-5 * (1 + fabs(rm[c])));
    CU_ASSERT(fabs(st[bn->state_off + 4 + c] - rv[c]) <= 1e-5 * (1 + fabs(rv[c])));
  }
  /* Evaluation: the first batchnorm's output from the running statistics. */
  TQ_ASSERT_OK(tq_net_forward(&f.net, false, 3, &e), &e);
  double *want = calloc(nin, sizeof *want);
  ref_batchnorm_fwd(xin, f.pd + m.tensors[bn->w_tensor].offset, f.pd + m.tensors[bn->b_tensor].offset, 4,
                    bn->in.c, bn->in.h * bn->in.w, 4, bn->bn_eps, rm, rv, want);
  CU_ASSERT(compare_buffer(&f, f.net.act[1], 0, want, nin, "batchnorm evaluation output") <= 1e-4);
  /* An evaluation forward leaves the running statistics alone. */
  float *st2 = malloc(m.nstate * sizeof *st2);
  TQ_ASSERT_OK(tq_net_read_state(&f.net, st2, &e), &e);
  CU_ASSERT(memcmp(st, st2, m.nstate * sizeof *st) == 0);
  free(st);
  free(st2);
  free(want);
  free(acts);
  free(xin);
  free(mean);
  free(var);
  teardown(&f);
}

static void test_sgd_matches_formula(void) {
  tq_model m;
  all_kinds_model(&m);
  fixture f;
  setup(&f, &m, 2, 2, 505);
  tq_err e = {0};
  size_t n = m.nparams;
  float *theta = malloc(n * sizeof *theta), *grad = malloc(n * sizeof *grad),
        *got = malloc(n * sizeof *got), *mom = calloc(n, sizeof *mom);
  tq_test_rng r = {9};
  for (size_t i = 0; i < n; i++) grad[i] = (float)tq_test_normal(&r);
  TQ_ASSERT_OK(tq_cl_read(&f.net.cl, f.net.params, 0, n * sizeof *theta, theta, &e), &e);
  TQ_ASSERT_OK(tq_cl_write(&f.net.cl, f.net.grads, 0, n * sizeof *grad, grad, &e), &e);
  const float lr = 0.05f, mu = 0.9f, wd = 5e-4f;
  for (int step = 0; step < 3; step++) {
    TQ_ASSERT_OK(tq_net_sgd(&f.net, lr, mu, wd, &e), &e);
    for (size_t i = 0; i < n; i++) {
      float d = grad[i] + wd * theta[i];
      mom[i] = mu * mom[i] + d;
      theta[i] -= lr * mom[i];
    }
  }
  TQ_ASSERT_OK(tq_cl_read(&f.net.cl, f.net.params, 0, n * sizeof *got, got, &e), &e);
  CU_ASSERT(tq_test_max_rel_diff(got, theta, n, 1e-3, NULL) < 1e-5);
  free(theta);
  free(grad);
  free(got);
  free(mom);
  teardown(&f);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"every layer kind vs reference, forward and backward", test_all_kinds_vs_reference},
      {"every layer kind, relu unfused, vs reference", test_all_kinds_unfused_vs_reference},
      {"odd shapes (overlapping pools, strided col2im) vs reference", test_odd_shapes_vs_reference},
      {"lenet5 at batch 64 vs reference", test_lenet_batch64_vs_reference},
      {"short batch: padded rows ignored", test_short_batch_ignores_padding},
      {"lenet5 shapes vs reference", test_lenet_shapes_vs_reference},
      {"finite-difference gradient check", test_finite_differences},
      {"residual net (batchnorm, add, avgpool, 1x1 s2) vs reference", test_residual_vs_reference},
      {"finite differences of the residual net", test_finite_differences_residual},
      {"batchnorm running statistics and evaluation", test_batchnorm_running_and_eval},
      {"sgd with momentum and weight decay", test_sgd_matches_formula},
      {NULL, NULL}};
  tq_test_add_suite("layers", cases);
  return tq_test_run();
}
