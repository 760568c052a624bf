#include "nn/net.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layer.h"
#include "nn/memory.h"

tq_status tq_net_gemm(tq_net *n, const tq_gemm_shape *s, cl_mem A, size_t a_off, size_t lda,
                      cl_mem B, size_t b_off, size_t ldb, cl_mem C, size_t c_off, size_t ldc,
                      tq_err *e) {
  return tq_gemm_run(&n->gemm, &n->cl, s, A, a_off, lda, B, b_off, ldb, C, c_off, ldc, e);
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

bool tq_net_relu_follows(const tq_net *n, int li) { return tq_model_relu_follows(n->model, li); }

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
  return tq_gemm_init(&n->gemm, &n->cl, e);
}

static cl_mem retained(cl_mem m) {
  clRetainMemObject(m);
  return m;
}

static tq_net_alloc_hook alloc_hook;
static void *alloc_hook_ctx;

void tq_net_set_alloc_hook(tq_net_alloc_hook hook, void *ctx) {
  alloc_hook = hook;
  alloc_hook_ctx = ctx;
}

/* Every device buffer of a replica is allocated here. */
static tq_status alloc_buf(tq_net *n, size_t count, size_t elem, cl_mem *out, const char *what,
                           tq_err *e) {
  if (alloc_hook) alloc_hook(alloc_hook_ctx, what, count * elem);
  tq_status s = tq_cl_alloc(&n->cl, count * elem, out, e);
  if (s != TQ_OK)
    tq_wrap(e, "allocating %s (%zu %s) for %s at batch %d", what, count,
            elem == sizeof(float) ? "floats" : "elements", n->model->name, n->batch);
  return s;
}

static tq_status alloc_floats(tq_net *n, size_t count, cl_mem *out, const char *what, tq_err *e) {
  return alloc_buf(n, count, sizeof(float), out, what, e);
}

/* The layers' activations, gradients and own buffers, as planned (memory.h). */
static tq_status alloc_layers(tq_net *n, const tq_net_plan *p, tq_err *e) {
  const tq_model *m = n->model;
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer *l = &m->layers[i];
    if (p->shared[i]) {
      /* A view (flatten) or a ReLU fused into the layer before (net.h): the input's buffers. */
      n->act[i] = retained(tq_net_layer_input(n, i));
      if (l->src >= 0)
        n->dact[i] = retained(n->dact[l->src]);
      else
        TQ_TRY(alloc_floats(n, p->out[i], &n->dact[i], "layer gradient", e));
      continue;
    }
    TQ_TRY(alloc_floats(n, p->out[i], &n->act[i], "activations", e));
    TQ_TRY(alloc_floats(n, p->out[i], &n->dact[i], "activation gradients", e));
    const tq_layer_buffer *own = &p->own[i];
    if (own->count) {
      cl_mem *slot = (cl_mem *)((char *)n + own->field) + i;
      TQ_TRY(alloc_buf(n, own->count, own->elem, slot, own->what, e));
    }
  }
  return TQ_OK;
}

/* Parameters from the seed, running statistics at their start, the rest zero. */
static tq_status init_buffers(tq_net *n, tq_err *e) {
  const tq_model *m = n->model;
  size_t B = (size_t)n->batch, np = m->nparams;
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
  return tq_cl_fill_zero(&n->cl, n->labels, 0, B * sizeof(cl_int), e);
}

static tq_status create(tq_net *n, tq_err *e) {
  const tq_model *m = n->model;
  tq_net_plan p;
  tq_net_plan_make(m, n->batch, &p);
  TQ_TRY(make_kernels(n, e));
  TQ_TRY(alloc_floats(n, p.nparams, &n->params, "parameters", e));
  TQ_TRY(alloc_floats(n, p.nparams, &n->grads, "gradients", e));
  TQ_TRY(alloc_floats(n, p.nparams, &n->momentum, "momentum", e));
  TQ_TRY(alloc_floats(n, p.input, &n->input, "input batch", e));
  TQ_TRY(alloc_buf(n, p.batch, sizeof(cl_int), &n->labels, "labels", e));
  TQ_TRY(alloc_floats(n, p.batch, &n->loss, "loss", e));
  TQ_TRY(alloc_buf(n, p.batch, sizeof(cl_int), &n->correct, "correct predictions", e));
  memcpy(n->first_use, p.first_use, sizeof n->first_use);
  TQ_TRY(alloc_floats(n, p.dtmp, &n->dtmp, "shared-input gradient", e));
  TQ_TRY(alloc_floats(n, p.state, &n->state, "running statistics", e));
  TQ_TRY(alloc_layers(n, &p, e));
  TQ_TRY(alloc_floats(n, p.scratch, &n->scratch, "convolution scratch", e));
  return init_buffers(n, e);
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
  tq_gemm_release(&n->gemm);
  for (int i = 0; i < TQ_MAX_LAYERS; i++) {
    cl_mem *per_layer[] = {&n->act[i], &n->dact[i], &n->col[i], &n->argmax[i], &n->bn_stat[i]};
    for (size_t j = 0; j < sizeof per_layer / sizeof per_layer[0]; j++) tq_cl_release(per_layer[j]);
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
  tq_pass p = {.train = train, .iteration = iteration};
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer_ops *ops = tq_layer_ops_of(m->layers[i].kind);
    if (ops->forward) TQ_TRY(ops->forward(n, i, &p, e));
  }
  return TQ_OK;
}

tq_status tq_softmax_xent(tq_net *n, int count, tq_err *e) {
  const tq_model *m = n->model;
  int last = m->nlayers - 1;
  cl_uint B = (cl_uint)n->batch, C = (cl_uint)m->classes, cnt = (cl_uint)count;
  tq_karg a[] = {TQ_ARG(n->act[last]), TQ_ARG(n->labels), TQ_ARG(B), TQ_ARG(C), TQ_ARG(cnt),
                 TQ_ARG(n->loss), TQ_ARG(n->correct), TQ_ARG(n->dact[last])};
  return tq_cl_run1d(&n->cl, n->k.softmax_xent, B, 0, a, "nn_softmax_xent", e);
}

tq_status tq_net_backward(tq_net *n, uint32_t iteration, tq_err *e) {
  const tq_model *m = n->model;
  for (int i = m->nlayers - 1; i >= 0; i--) {
    const tq_layer_ops *ops = tq_layer_ops_of(m->layers[i].kind);
    tq_pass p = {.train = true, .need_dx = m->layers[i].src >= 0, .iteration = iteration};
    if (ops->backward) TQ_TRY(ops->backward(n, i, &p, e));
  }
  return TQ_OK;
}

/* Not the first reader of its input in the backward pass: add what went to dtmp. */
tq_status tq_net_add_dinput(tq_net *n, int layer, tq_err *e) {
  const tq_layer *l = &n->model->layers[layer];
  if (l->src < 0 || n->first_use[l->src] == layer) return TQ_OK;
  return tq_net_grad_acc(n, n->dact[l->src], n->dtmp, (size_t)n->batch * tq_shape_size(l->in),
                         true, e);
}

tq_status tq_net_grad_acc(tq_net *n, cl_mem dst, cl_mem src, size_t count, bool acc, tq_err *e) {
  cl_uint cnt = (cl_uint)count, a_ = acc ? 1u : 0u;
  tq_karg a[] = {TQ_ARG(dst), TQ_ARG(src), TQ_ARG(cnt), TQ_ARG(a_)};
  return tq_cl_run1d(&n->cl, n->k.grad_acc, cnt, tq_cl_group1d(&n->cl, n->k.grad_acc, 64), a, acc ? "nn_grad_acc (+=)" : "nn_grad_acc (=)", e);
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
  return tq_cl_run1d(&n->cl, n->k.sgd, np, tq_cl_group1d(&n->cl, n->k.sgd, 64), a, "nn_sgd", e);
}
