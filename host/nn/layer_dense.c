/* dense: x [B][I] -> y [B][O] = x W^T + b, weights [O][I] (PyTorch's layout), bias [O].
 *   backward: dW = dy^T x [O][I];  db = colsum(dy) [O];  dx = dy W [B][I] */
#include "nn/net.h"

tq_status tq_dense_forward(tq_net *n, int li, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  const tq_tensor *w = &n->model->tensors[l->w_tensor], *b = &n->model->tensors[l->b_tensor];
  cl_uint B = (cl_uint)n->batch, I = (cl_uint)l->in.c, O = (cl_uint)l->units, zero = 0,
          b_off = (cl_uint)b->offset;
  cl_mem x = tq_net_layer_input(n, li), y = n->act[li];
  TQ_TRY(TQ_CLBLAST(CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, B,
                                 O, I, 1.0f, x, 0, I, n->params, w->offset, I, 0.0f, y, 0, O,
                                 &n->cl.queue, NULL),
                    e));
  tq_karg a[] = {TQ_ARG(y), TQ_ARG(zero), TQ_ARG(n->params), TQ_ARG(b_off), TQ_ARG(B), TQ_ARG(O)};
  return tq_cl_run1d(&n->cl, n->k.add_bias_cols, (size_t)B * O, 64, a, 6, "nn_add_bias_cols", e);
}

tq_status tq_dense_backward(tq_net *n, int li, bool need_dx, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  const tq_tensor *w = &n->model->tensors[l->w_tensor], *b = &n->model->tensors[l->b_tensor];
  cl_uint B = (cl_uint)n->batch, I = (cl_uint)l->in.c, O = (cl_uint)l->units, zero = 0,
          b_off = (cl_uint)b->offset;
  cl_mem x = tq_net_layer_input(n, li), dy = n->dact[li];
  TQ_TRY(TQ_CLBLAST(CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeYes, CLBlastTransposeNo, O,
                                 I, B, 1.0f, dy, 0, O, x, 0, I, 0.0f, n->grads, w->offset, I,
                                 &n->cl.queue, NULL),
                    e));
  tq_karg a[] = {TQ_ARG(dy), TQ_ARG(zero), TQ_ARG(B), TQ_ARG(O), TQ_ARG(n->grads), TQ_ARG(b_off)};
  TQ_TRY(tq_cl_run1d(&n->cl, n->k.col_sums, O, 0, a, 6, "nn_col_sums", e));
  if (!need_dx) return TQ_OK;
  return TQ_CLBLAST(CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, B, I,
                                 O, 1.0f, dy, 0, O, n->params, w->offset, I, 0.0f,
                                 tq_net_layer_dinput(n, li), 0, I, &n->cl.queue, NULL),
                    e);
}
