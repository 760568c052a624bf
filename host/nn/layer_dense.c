/* dense: x [B][I] -> y [B][O] = x W^T + b, weights [O][I] (PyTorch's layout), bias [O].
 *   backward: dW = dy^T x [O][I];  db = colsum(dy) [O];  dx = dy W [B][I] */
#include <stdio.h>

#include "nn/layer.h"

static const char *const dense_keys[] = {"type", "name", "input", "units", NULL};

static tq_status dense_parse(const config_setting_t *s, tq_layer *l, const char *file,
                             tq_err *e) {
  return tq_cfg_int(s, "units", true, 0, 1, 1 << 20, &l->units, file, e);
}

static tq_status dense_shape(tq_model *m, int i, tq_err *e) {
  tq_layer *l = &m->layers[i];
  tq_shape cur = l->in;
  if (cur.h != 1 || cur.w != 1)
    return tq_model_shape_error(
        m, i, "a dense layer needs a flat input: put { type = \"flatten\"; } before it", e);
  int ndense = tq_model_kind_index(m, i);
  int wd[2] = {l->units, cur.c}, bd[1] = {l->units};
  char name[48];
  snprintf(name, sizeof name, "fc%d.weight", ndense);
  l->w_tensor = tq_model_add_tensor(m, name, wd, 2, cur.c);
  snprintf(name, sizeof name, "fc%d.bias", ndense);
  l->b_tensor = tq_model_add_tensor(m, name, bd, 1, 0);
  l->out = (tq_shape){l->units, 1, 1};
  return TQ_OK;
}

/* [0] y[B][O] = x[B][I] W[O][I]^T; [1] dW[O][I] = dy[B][O]^T x; [2] dx[B][I] = dy W (when the
 * input gradient is needed). */
static int dense_gemms(const tq_model *m, int i, size_t B, tq_gemm_shape *out) {
  const tq_layer *l = &m->layers[i];
  size_t I = (size_t)l->in.c, O = (size_t)l->units;
  char name[24];
  snprintf(name, sizeof name, "fc%d", tq_model_kind_index(m, i));
  tq_gemm_shape_set(&out[0], name, i, TQ_GEMM_FORWARD, false, true, B, O, I);
  tq_gemm_shape_set(&out[1], name, i, TQ_GEMM_WEIGHT_GRAD, true, false, O, I, B);
  if (l->src < 0) return 2;
  tq_gemm_shape_set(&out[2], name, i, TQ_GEMM_INPUT_GRAD, false, false, B, I, O);
  return 3;
}

static double dense_flops(const tq_layer *l) { return 2.0 * (double)l->in.c * l->units; }

static tq_status dense_forward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  const tq_tensor *w = &n->model->tensors[l->w_tensor], *b = &n->model->tensors[l->b_tensor];
  cl_uint B = (cl_uint)n->batch, I = (cl_uint)l->in.c, O = (cl_uint)l->units, zero = 0,
          b_off = (cl_uint)b->offset;
  cl_mem x = tq_net_layer_input(n, li), y = n->act[li];
  tq_gemm_shape g[TQ_LAYER_MAX_GEMMS];
  dense_gemms(n->model, li, (size_t)n->batch, g);
  TQ_TRY(tq_net_gemm(n, &g[0], x, 0, I, n->params, w->offset, I, y, 0, O, e));
  /* A ReLU that follows is applied here; its backward stays a separate (in-place) kernel,
   * because both GEMMs of the backward pass read the masked gradient. */
  cl_uint relu = tq_net_relu_fused(n, li) ? 1u : 0u;
  tq_karg a[] = {TQ_ARG(y),    TQ_ARG(zero), TQ_ARG(n->params), TQ_ARG(b_off),
                 TQ_ARG(B),    TQ_ARG(O),    TQ_ARG(relu)};
  size_t gl[2] = {O, B}, lo[3];
  tq_cl_local2(&n->cl, n->k.add_bias_cols, gl[0], gl[1], lo);
  return tq_cl_runnd(&n->cl, n->k.add_bias_cols, 2, gl, lo, a, relu ? "nn_add_bias_cols (+relu)" : "nn_add_bias_cols", e);
}

static tq_status dense_backward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  const tq_tensor *w = &n->model->tensors[l->w_tensor], *b = &n->model->tensors[l->b_tensor];
  cl_uint B = (cl_uint)n->batch, I = (cl_uint)l->in.c, O = (cl_uint)l->units, zero = 0,
          b_off = (cl_uint)b->offset;
  cl_mem x = tq_net_layer_input(n, li), dy = n->dact[li];
  tq_gemm_shape g[TQ_LAYER_MAX_GEMMS];
  dense_gemms(n->model, li, (size_t)n->batch, g);
  TQ_TRY(tq_net_gemm(n, &g[1], dy, 0, O, x, 0, I, n->grads, w->offset, I, e));
  tq_karg a[] = {TQ_ARG(dy), TQ_ARG(zero), TQ_ARG(B), TQ_ARG(O), TQ_ARG(n->grads), TQ_ARG(b_off)};
  TQ_TRY(tq_cl_run1d(&n->cl, n->k.col_sums, O, 0, a, "nn_col_sums", e));
  if (!p->need_dx) return TQ_OK;
  TQ_TRY(tq_net_gemm(n, &g[2], dy, 0, O, n->params, w->offset, I, tq_net_layer_dinput(n, li), 0,
                     I, e));
  return tq_net_add_dinput(n, li, e);
}

const tq_layer_ops tq_dense_ops = {
    .name = "dense",
    .keys = dense_keys,
    .parse = dense_parse,
    .shape = dense_shape,
    .fuses_relu = true,
    .buffers = NULL,
    .forward = dense_forward,
    .backward = dense_backward,
    .gemms = dense_gemms,
    .flops = dense_flops,
};
