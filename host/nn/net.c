#include "nn/net.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl_profile.h"

/* Which GEMMs go to our kernels (kernels/nn_gemm.cl), from measurements on the 2-core POCL
 * machine (docs/performance.md): skinny or small ones, which CLBlast's direct kernel ran at
 * 1-3 GFLOP/s (LeNet-5's, AlexNet-small's first convolution); large ones with a transposed
 * operand; large plain ones unless CLBlast was tuned for the device. */
static bool use_rows8(bool ta, bool tb, bool tuned, size_t M, size_t N, size_t K) {
  if (tb || N < 64) return false;
  if (M <= 32 || K <= 32 || M * N * K <= (size_t)1 << 23) return true;
  /* Large: ours beat tuned CLBlast 1.3-2.9x with A transposed (AlexNet-small's dcol), and
   * untuned CLBlast everywhere; tuned CLBlast was ~13 % faster on the large NN forward GEMMs. */
  return ta || !tuned;
}

static bool use_nt4x4(bool ta, bool tb, size_t M, size_t N, size_t K) {
  /* The weight gradients: ours 1.3-1.9x tuned CLBlast at AlexNet-small's sizes. */
  return !ta && tb && K >= 64 && (M * N <= 16384 || K >= 1024);
}

/* TAILQUANT_GEMM=clblast sends every GEMM to CLBlast; TAILQUANT_GEMM=own every GEMM our
 * kernels can do to them, on any profile (both for measurements). Otherwise the device
 * profile decides (cl_devprofile.h: the gpu profile leaves every GEMM to CLBlast). */
static bool own_gemms(const tq_devprofile *p) {
  const char *v = getenv("TAILQUANT_GEMM");
  if (v && !strcmp(v, "clblast")) return false;
  if (v && !strcmp(v, "own")) return true;
  return !p || p->own_gemms;
}

static bool all_own(void) {
  const char *v = getenv("TAILQUANT_GEMM");
  return v && !strcmp(v, "own");
}

bool tq_net_gemm_uses_clblast(const tq_devprofile *p, bool ta, bool tb, bool tuned, size_t M,
                              size_t N, size_t K) {
  return !own_gemms(p) || !(use_rows8(ta, tb, tuned, M, N, K) || use_nt4x4(ta, tb, M, N, K));
}

tq_status tq_net_sgemm(tq_net *n, bool ta, bool tb, size_t M, size_t N, size_t K, cl_mem A,
                       size_t a_off, size_t lda, cl_mem B, size_t b_off, size_t ldb, cl_mem C,
                       size_t c_off, size_t ldc, tq_err *e) {
  if (M > UINT32_MAX / 2 || N > UINT32_MAX / 2 || K > UINT32_MAX / 2 || lda > UINT32_MAX ||
      ldb > UINT32_MAX || ldc > UINT32_MAX)
    return tq_fail(e, TQ_EINPUT, "GEMM %zux%zux%zu too large for 32-bit indices", M, N, K);
  char what[64];
  cl_uint m = (cl_uint)M, nn = (cl_uint)N, k = (cl_uint)K, ao = (cl_uint)a_off,
          bo = (cl_uint)b_off, co = (cl_uint)c_off, ld_a = (cl_uint)lda, ld_b = (cl_uint)ldb,
          ld_c = (cl_uint)ldc, one = 1;
  if (own_gemms(n->cl.profile) && (use_rows8(ta, tb, n->cl.gemm_tuned, M, N, K) || (all_own() && !tb))) {
    /* A(m,k) through strides: row-major A[m][k] or, transposed, A[k][m]. */
    cl_uint a_sm = ta ? one : ld_a, a_sk = ta ? ld_a : one;
    tq_karg a[] = {TQ_ARG(A), TQ_ARG(ao), TQ_ARG(a_sm), TQ_ARG(a_sk), TQ_ARG(B), TQ_ARG(bo),
                   TQ_ARG(ld_b), TQ_ARG(C), TQ_ARG(co), TQ_ARG(ld_c), TQ_ARG(m), TQ_ARG(nn),
                   TQ_ARG(k)};
    /* 16 work-items (256 columns) per group: POCL pays per group. */
    size_t g[2] = {(N + 15) / 16, (M + 7) / 8}, l[2] = {16, 1};
    snprintf(what, sizeof what, "nn_gemm_rows8 %cN %zux%zux%zu", ta ? 'T' : 'N', M, N, K);
    return tq_cl_runnd(&n->cl, n->k.gemm_rows8, 2, g, l, a, TQ_NARGS(a), what, e);
  }
  if (own_gemms(n->cl.profile) && (use_nt4x4(ta, tb, M, N, K) || (all_own() && !ta && tb))) {
    tq_karg a[] = {TQ_ARG(A), TQ_ARG(ao), TQ_ARG(ld_a), TQ_ARG(B), TQ_ARG(bo), TQ_ARG(ld_b),
                   TQ_ARG(C), TQ_ARG(co), TQ_ARG(ld_c), TQ_ARG(m), TQ_ARG(nn), TQ_ARG(k)};
    /* Few, long work-items: one per group so both cores get some. */
    size_t g[2] = {(N + 3) / 4, (M + 3) / 4}, l[2] = {1, 1};
    snprintf(what, sizeof what, "nn_gemm_nt4x4 NT %zux%zux%zu", M, N, K);
    return tq_cl_runnd(&n->cl, n->k.gemm_nt4x4, 2, g, l, a, TQ_NARGS(a), what, e);
  }
  cl_event mark = tq_profile_blast_begin(&n->cl), ev = NULL;
  tq_status s = TQ_CLBLAST(
      CLBlastSgemm(CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                   tb ? CLBlastTransposeYes : CLBlastTransposeNo, M, N, K, 1.0f, A, a_off, lda, B,
                   b_off, ldb, 0.0f, C, c_off, ldc, &n->cl.queue, mark ? &ev : NULL),
      e);
  if (mark) {
    char name[64];
    snprintf(name, sizeof name, "sgemm %c%c %zux%zux%zu", ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K);
    tq_profile_blast_end(&n->cl, mark, s == TQ_OK ? ev : NULL, name);
  }
  return s;
}

cl_mem tq_net_layer_input(const tq_net *n, int layer) {
  int src = n->model->layers[layer].src;
  return src < 0 ? n->input : n->act[src];
}

/* Where layer `layer` writes its input gradient: its input's dact when it is that input's
 * first reader in the backward pass, else dtmp (added to the input's dact afterwards). */
cl_mem tq_net_layer_dinput(const tq_net *n, int layer) {
  int src = n->model->layers[layer].src;
  if (src < 0) return NULL;
  return n->first_use[src] == layer ? n->dact[src] : n->dtmp;
}

bool tq_net_relu_follows(const tq_net *n, int li) {
  const tq_model *m = n->model;
  return li >= 0 && li + 1 < m->nlayers && m->layers[li + 1].kind == TQ_LAYER_RELU &&
         m->layers[li + 1].src == li && m->layers[li].uses == 1 &&
         (m->layers[li].kind == TQ_LAYER_CONV2D || m->layers[li].kind == TQ_LAYER_DENSE);
}

bool tq_net_relu_fused(const tq_net *n, int li) {
  return n->fuse_relu && tq_net_relu_follows(n, li);
}

static tq_status make_kernels(tq_net *n, tq_err *e) {
  struct {
    cl_kernel *k;
    const char *name;
  } list[] = {{&n->k.im2col, "nn_im2col"},
              {&n->k.im2col_s1, "nn_im2col_s1"},
              {&n->k.col2im, "nn_col2im"},
              {&n->k.col2im_k3s1, "nn_col2im_k3s1"},
              {&n->k.col2im_k5s1, "nn_col2im_k5s1"},
              {&n->k.maxpool_fwd_2x2, "nn_maxpool_fwd_2x2"},
              {&n->k.maxpool_bwd_2x2, "nn_maxpool_bwd_2x2"},
              {&n->k.knp_to_nchw_bias, "nn_knp_to_nchw_bias"},
              {&n->k.nchw_to_knp, "nn_nchw_to_knp"},
              {&n->k.row_sums, "nn_row_sums"},
              {&n->k.add_bias_cols, "nn_add_bias_cols"},
              {&n->k.col_sums, "nn_col_sums"},
              {&n->k.relu_fwd, "nn_relu_fwd"},
              {&n->k.relu_bwd, "nn_relu_bwd"},
              {&n->k.maxpool_fwd, "nn_maxpool_fwd"},
              {&n->k.maxpool_bwd, "nn_maxpool_bwd"},
              {&n->k.dropout_fwd, "nn_dropout_fwd"},
              {&n->k.dropout_bwd, "nn_dropout_bwd"},
              {&n->k.softmax_xent, "nn_softmax_xent"},
              {&n->k.sgd, "nn_sgd"},
              {&n->k.gemm_rows8, "nn_gemm_rows8"},
              {&n->k.gemm_nt4x4, "nn_gemm_nt4x4"},
              {&n->k.bn_mean, "nn_bn_mean"},
              {&n->k.bn_var, "nn_bn_var"},
              {&n->k.bn_eval_stat, "nn_bn_eval_stat"},
              {&n->k.bn_apply, "nn_bn_apply"},
              {&n->k.bn_bwd_reduce, "nn_bn_bwd_reduce"},
              {&n->k.bn_bwd_dx, "nn_bn_bwd_dx"},
              {&n->k.avgpool_fwd, "nn_avgpool_fwd"},
              {&n->k.avgpool_bwd, "nn_avgpool_bwd"},
              {&n->k.add_fwd, "nn_add_fwd"},
              {&n->k.grad_acc, "nn_grad_acc"}};
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
    TQ_TRY(tq_cl_kernel(&n->cl, list[i].name, list[i].k, e));
  return TQ_OK;
}

static cl_mem retained(cl_mem m) {
  clRetainMemObject(m);
  return m;
}

static tq_status alloc_floats(tq_net *n, size_t count, cl_mem *out, const char *what, tq_err *e) {
  tq_status s = tq_cl_alloc(&n->cl, count * sizeof(float), out, e);
  if (s != TQ_OK)
    tq_wrap(e, "allocating %s (%zu floats) for %s at batch %d", what, count, n->model->name,
            n->batch);
  return s;
}

static tq_status create(tq_net *n, tq_err *e) {
  const tq_model *m = n->model;
  size_t B = (size_t)n->batch, np = m->nparams;
  TQ_TRY(make_kernels(n, e));
  TQ_TRY(alloc_floats(n, np, &n->params, "parameters", e));
  TQ_TRY(alloc_floats(n, np, &n->grads, "gradients", e));
  TQ_TRY(alloc_floats(n, np, &n->momentum, "momentum", e));
  TQ_TRY(alloc_floats(n, B * tq_shape_size(m->input), &n->input, "input batch", e));
  TQ_TRY(tq_cl_alloc(&n->cl, B * sizeof(cl_int), &n->labels, e));
  TQ_TRY(alloc_floats(n, B, &n->loss, "loss", e));
  TQ_TRY(tq_cl_alloc(&n->cl, B * sizeof(cl_int), &n->correct, e));
  size_t scratch = 1, dtmp = 1;
  for (int i = 0; i < m->nlayers; i++) n->first_use[i] = -1;
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer *l = &m->layers[i];
    if (l->src >= 0) n->first_use[l->src] = i;
    if (l->kind == TQ_LAYER_ADD && l->from >= 0) n->first_use[l->from] = i;
  }
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer *l = &m->layers[i];
    if (l->kind != TQ_LAYER_ADD && l->src >= 0 && n->first_use[l->src] != i &&
        B * tq_shape_size(l->in) > dtmp)
      dtmp = B * tq_shape_size(l->in);
  }
  TQ_TRY(alloc_floats(n, dtmp, &n->dtmp, "shared-input gradient", e));
  TQ_TRY(alloc_floats(n, m->nstate ? m->nstate : 1, &n->state, "running statistics", e));
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer *l = &m->layers[i];
    size_t out = B * tq_shape_size(l->out);
    if (l->kind == TQ_LAYER_RELU && tq_net_relu_follows(n, i - 1)) {
      /* Shares the previous layer's buffers: fused, or run in place (net.h). */
      n->act[i] = retained(n->act[i - 1]);
      n->dact[i] = retained(n->dact[i - 1]);
      continue;
    }
    if (l->kind == TQ_LAYER_FLATTEN) {
      /* A view: same memory, same layout, so forward and backward are no-ops. */
      n->act[i] = retained(tq_net_layer_input(n, i));
      if (l->src >= 0)
        n->dact[i] = retained(n->dact[l->src]);
      else
        TQ_TRY(alloc_floats(n, out, &n->dact[i], "layer gradient", e));
      continue;
    }
    TQ_TRY(alloc_floats(n, out, &n->act[i], "activations", e));
    TQ_TRY(alloc_floats(n, out, &n->dact[i], "activation gradients", e));
    if (l->kind == TQ_LAYER_CONV2D) {
      size_t ckk = (size_t)l->in.c * l->size * l->size, npix = B * l->out.h * l->out.w;
      TQ_TRY(alloc_floats(n, ckk * npix, &n->aux[i], "im2col columns", e));
      if ((size_t)l->units * npix > scratch) scratch = (size_t)l->units * npix;
    } else if (l->kind == TQ_LAYER_MAXPOOL) {
      TQ_TRY(tq_cl_alloc(&n->cl, out * sizeof(cl_int), &n->aux[i], e));
    } else if (l->kind == TQ_LAYER_BATCHNORM) {
      TQ_TRY(alloc_floats(n, 4 * (size_t)l->in.c, &n->aux[i], "batchnorm statistics", e));
    }
  }
  TQ_TRY(alloc_floats(n, scratch, &n->scratch, "convolution scratch", e));
  float *init = malloc(np * sizeof *init);
  n->host_loss = malloc(B * sizeof *n->host_loss);
  n->host_correct = malloc(B * sizeof *n->host_correct);
  if (!init || !n->host_loss || !n->host_correct) {
    free(init);
    return tq_fail(e, TQ_ENOMEM, "out of host memory creating a replica of %s", m->name);
  }
  tq_model_init_params(m, n->seed, init);
  tq_status s = tq_cl_write(&n->cl, n->params, 0, np * sizeof *init, init, e);
  if (s == TQ_OK && m->nstate) {
    tq_model_init_state(m, init); /* nstate <= nparams: two per batchnorm gamma */
    s = tq_cl_write(&n->cl, n->state, 0, m->nstate * sizeof *init, init, e);
  }
  free(init);
  TQ_TRY(s);
  TQ_TRY(tq_cl_fill_zero(&n->cl, n->momentum, 0, np * sizeof(float), e));
  TQ_TRY(tq_cl_fill_zero(&n->cl, n->grads, 0, np * sizeof(float), e));
  /* A forward pass before the first tq_net_set_batch (the cluster's warm-up step) reads the
   * input and labels: fresh device memory holds anything on a GPU, and a garbage label indexes
   * outside its logits row in nn_softmax_xent. */
  TQ_TRY(tq_cl_fill_zero(&n->cl, n->input, 0, B * tq_shape_size(m->input) * sizeof(float), e));
  TQ_TRY(tq_cl_fill_zero(&n->cl, n->labels, 0, B * sizeof(cl_int), e));
  TQ_TRY(tq_cl_fill_zero(&n->cl, n->input, 0, B * tq_shape_size(m->input) * sizeof(float), e));
  return tq_cl_fill_zero(&n->cl, n->labels, 0, B * sizeof(cl_int), e);
}

tq_status tq_net_create(tq_net *n, const tq_model *m, const tq_cl *cl, int batch, uint32_t seed,
                        uint32_t worker, tq_err *e) {
  memset(n, 0, sizeof *n);
  n->model = m;
  n->cl = *cl;
  n->batch = batch;
  n->seed = seed;
  n->worker = worker;
  n->count = batch;
  n->fuse_relu = true;
  if (batch < 1) return tq_fail(e, TQ_EINPUT, "batch size %d must be at least 1", batch);
  tq_status s = create(n, e);
  if (s != TQ_OK) tq_net_destroy(n);
  return s;
}

void tq_net_destroy(tq_net *n) {
  if (n->cl.queue) clFinish(n->cl.queue);
  cl_kernel *ks = (cl_kernel *)&n->k;
  for (size_t i = 0; i < sizeof n->k / sizeof(cl_kernel); i++)
    if (ks[i]) clReleaseKernel(ks[i]);
  for (int i = 0; i < TQ_MAX_LAYERS; i++) {
    tq_cl_release(&n->act[i]);
    tq_cl_release(&n->dact[i]);
    tq_cl_release(&n->aux[i]);
  }
  cl_mem *bufs[] = {&n->params, &n->grads, &n->momentum, &n->input, &n->labels,
                    &n->scratch, &n->loss, &n->correct, &n->state, &n->dtmp};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) tq_cl_release(bufs[i]);
  free(n->host_loss);
  free(n->host_correct);
  memset(n, 0, sizeof *n);
}

tq_status tq_net_set_batch(tq_net *n, const float *x, const int *y, int count, tq_err *e) {
  if (count < 1 || count > n->batch)
    return tq_fail(e, TQ_EINTERNAL, "batch of %d samples for a replica of batch %d", count,
                   n->batch);
  size_t per = tq_shape_size(n->model->input);
  /* Non-blocking writes would need the host arrays to outlive the step; these are small, and
   * a blocking write lets the caller refill its staging buffer at once. */
  TQ_TRY(tq_cl_write(&n->cl, n->input, 0, (size_t)count * per * sizeof(float), x, e));
  TQ_TRY(tq_cl_write(&n->cl, n->labels, 0, (size_t)count * sizeof(int), y, e));
  n->count = count;
  if (count < n->batch)
    TQ_TRY(tq_cl_fill_zero(&n->cl, n->input, (size_t)count * per * sizeof(float),
                           (size_t)(n->batch - count) * per * sizeof(float), e));
  return TQ_OK;
}

tq_status tq_net_forward(tq_net *n, bool train, uint32_t iteration, tq_err *e) {
  const tq_model *m = n->model;
  for (int i = 0; i < m->nlayers; i++) {
    switch (m->layers[i].kind) {
    case TQ_LAYER_CONV2D: TQ_TRY(tq_conv2d_forward(n, i, e)); break;
    case TQ_LAYER_DENSE: TQ_TRY(tq_dense_forward(n, i, e)); break;
    case TQ_LAYER_MAXPOOL: TQ_TRY(tq_maxpool_forward(n, i, e)); break;
    case TQ_LAYER_RELU:
      if (!tq_net_relu_fused(n, i - 1)) TQ_TRY(tq_relu_forward(n, i, e));
      break;
    case TQ_LAYER_DROPOUT: TQ_TRY(tq_dropout_forward(n, i, train, iteration, e)); break;
    case TQ_LAYER_FLATTEN: break;
    case TQ_LAYER_BATCHNORM: TQ_TRY(tq_batchnorm_forward(n, i, train, e)); break;
    case TQ_LAYER_AVGPOOL: TQ_TRY(tq_avgpool_forward(n, i, e)); break;
    case TQ_LAYER_ADD: TQ_TRY(tq_add_forward(n, i, e)); break;
    }
  }
  return TQ_OK;
}

tq_status tq_softmax_xent(tq_net *n, int count, tq_err *e) {
  const tq_model *m = n->model;
  int last = m->nlayers - 1;
  cl_uint B = (cl_uint)n->batch, C = (cl_uint)m->classes, cnt = (cl_uint)count;
  tq_karg a[] = {TQ_ARG(n->act[last]), TQ_ARG(n->labels), TQ_ARG(B), TQ_ARG(C), TQ_ARG(cnt),
                 TQ_ARG(n->loss), TQ_ARG(n->correct), TQ_ARG(n->dact[last])};
  return tq_cl_run1d(&n->cl, n->k.softmax_xent, B, 0, a, TQ_NARGS(a), "nn_softmax_xent", e);
}

tq_status tq_net_backward(tq_net *n, uint32_t iteration, tq_err *e) {
  const tq_model *m = n->model;
  for (int i = m->nlayers - 1; i >= 0; i--) {
    const tq_layer *l = &m->layers[i];
    bool need_dx = l->src >= 0;
    switch (l->kind) {
    case TQ_LAYER_CONV2D: TQ_TRY(tq_conv2d_backward(n, i, need_dx, e)); break;
    case TQ_LAYER_DENSE: TQ_TRY(tq_dense_backward(n, i, need_dx, e)); break;
    case TQ_LAYER_MAXPOOL:
      if (need_dx) TQ_TRY(tq_maxpool_backward(n, i, e));
      break;
    case TQ_LAYER_RELU:
      /* A fused ReLU after a convolution is differentiated inside the convolution's backward;
       * after a dense layer it runs here (in place), as both dense GEMMs need its result. */
      if (need_dx && !(tq_net_relu_fused(n, i - 1) && m->layers[i - 1].kind == TQ_LAYER_CONV2D))
        TQ_TRY(tq_relu_backward(n, i, e));
      break;
    case TQ_LAYER_DROPOUT:
      if (need_dx) TQ_TRY(tq_dropout_backward(n, i, iteration, e));
      break;
    case TQ_LAYER_FLATTEN: break;
    case TQ_LAYER_BATCHNORM: TQ_TRY(tq_batchnorm_backward(n, i, need_dx, e)); break;
    case TQ_LAYER_AVGPOOL:
      if (need_dx) TQ_TRY(tq_avgpool_backward(n, i, e));
      break;
    case TQ_LAYER_ADD: TQ_TRY(tq_add_backward(n, i, e)); continue; /* adds itself */
    }
    /* Not the first reader of its input in the backward pass: add what went to dtmp. A fused
     * ReLU after a convolution wrote nothing of its own (the convolution masks). */
    bool wrote = need_dx && l->kind != TQ_LAYER_FLATTEN &&
                 !(l->kind == TQ_LAYER_RELU && tq_net_relu_fused(n, i - 1) &&
                   m->layers[i - 1].kind == TQ_LAYER_CONV2D);
    if (wrote && n->first_use[l->src] != i)
      TQ_TRY(tq_net_grad_acc(n, n->dact[l->src], n->dtmp, (size_t)n->batch * tq_shape_size(l->in),
                             true, e));
  }
  return TQ_OK;
}

tq_status tq_net_read_state(tq_net *n, float *state, tq_err *e) {
  if (!n->model->nstate) return TQ_OK;
  return tq_cl_read(&n->cl, n->state, 0, n->model->nstate * sizeof(float), state, e);
}

tq_status tq_net_write_state(tq_net *n, const float *state, tq_err *e) {
  if (!n->model->nstate) return TQ_OK;
  return tq_cl_write(&n->cl, n->state, 0, n->model->nstate * sizeof(float), state, e);
}

tq_status tq_net_read_loss(tq_net *n, int count, double *loss_sum, int *correct, tq_err *e) {
  TQ_TRY(tq_cl_read(&n->cl, n->loss, 0, (size_t)count * sizeof(float), n->host_loss, e));
  TQ_TRY(tq_cl_read(&n->cl, n->correct, 0, (size_t)count * sizeof(int), n->host_correct, e));
  double l = 0;
  int c = 0;
  for (int i = 0; i < count; i++) {
    l += n->host_loss[i];
    c += n->host_correct[i];
  }
  *loss_sum = l;
  *correct = c;
  return TQ_OK;
}

tq_status tq_net_sgd(tq_net *n, float lr, float momentum, float weight_decay, tq_err *e) {
  cl_uint np = (cl_uint)n->model->nparams;
  tq_karg a[] = {TQ_ARG(n->params), TQ_ARG(n->grads), TQ_ARG(n->momentum), TQ_ARG(np),
                 TQ_ARG(lr), TQ_ARG(momentum), TQ_ARG(weight_decay)};
  return tq_cl_run1d(&n->cl, n->k.sgd, np, tq_cl_group1d(&n->cl, n->k.sgd, 64), a, TQ_NARGS(a),
                     "nn_sgd", e);
}
