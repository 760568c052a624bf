/* dense: x [B][I] -> y [B][O] = x W^T + b, weights [O][I] (PyTorch's layout), bias [O].
 *   backward: dW = dy^T x [O][I];  db = colsum(dy) [O];  dx = dy W [B][I] */
#include "nn/net.h"

tq_status tq_dense_forward(tq_net *n, int li, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  const tq_tensor *w = &n->model->tensors[l->w_tensor], *b = &n->model->tensors[l->b_tensor];
  cl_uint B = (cl_uint)n->batch, I = (cl_uint)l->in.c, O = (cl_uint)l->units, zero = 0,
          b_off = (cl_uint)b->offset;
  cl_mem x = tq_net_layer_input(n, li), y = n->act[li];
  TQ_TRY(tq_net_sgemm(n, false, true, B, O, I, x, 0, I, n->params, w->offset, I, y, 0, O, e));
  /* A ReLU that follows is applied here; its backward stays a separate (in-place) kernel,
   * because both GEMMs of the backward pass read the masked gradient. */
  cl_uint relu = tq_net_relu_fused(n, li) ? 1u : 0u;
  tq_karg a[] = {TQ_ARG(y),    TQ_ARG(zero), TQ_ARG(n->params), TQ_ARG(b_off),
                 TQ_ARG(B),    TQ_ARG(O),    TQ_ARG(relu)};
  size_t g[2] = {O, B}, lo[3];
  tq_cl_local2(&n->cl, n->k.add_bias_cols, g[0], g[1], lo);
  return tq_cl_runnd(&n->cl, n->k.add_bias_cols, 2, g, lo, a, TQ_NARGS(a),
                     relu ? "nn_add_bias_cols (+relu)" : "nn_add_bias_cols", e);
}

tq_status tq_dense_backward(tq_net *n, int li, bool need_dx, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  const tq_tensor *w = &n->model->tensors[l->w_tensor], *b = &n->model->tensors[l->b_tensor];
  cl_uint B = (cl_uint)n->batch, I = (cl_uint)l->in.c, O = (cl_uint)l->units, zero = 0,
          b_off = (cl_uint)b->offset;
  cl_mem x = tq_net_layer_input(n, li), dy = n->dact[li];
  TQ_TRY(tq_net_sgemm(n, true, false, O, I, B, dy, 0, O, x, 0, I, n->grads, w->offset, I, e));
  tq_karg a[] = {TQ_ARG(dy), TQ_ARG(zero), TQ_ARG(B), TQ_ARG(O), TQ_ARG(n->grads), TQ_ARG(b_off)};
  TQ_TRY(tq_cl_run1d(&n->cl, n->k.col_sums, O, 0, a, TQ_NARGS(a), "nn_col_sums", e));
  if (!need_dx) return TQ_OK;
  return tq_net_sgemm(n, false, false, B, I, O, dy, 0, O, n->params, w->offset, I,
                      tq_net_layer_dinput(n, li), 0, I, e);
}
