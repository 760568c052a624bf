/* conv2d: x [B][C][H][W] -> y [B][K][OH][OW], weights [K][C][kh][kw], bias [K].
 *   forward:  col = im2col(x) [CKK][B*P];  Y = W col [K][B*P];  y = nchw(Y) + bias
 *   backward: dY = knp(dy) [K][B*P];  dW = dY col^T;  db = rowsum(dY);
 *             dcol = W^T dY [CKK][B*P];  dx = col2im(dcol)
 * One GEMM over the whole batch (N = B*OH*OW) runs about 2x faster on POCL than per-image
 * batched GEMMs (docs/performance.md, Platform facts). A ReLU right after the layer is fused:
 * its forward into the bias scatter, its backward into the gather of dY (tq_net_relu_fused). */
#include "nn/net.h"

typedef struct conv_dims {
  cl_uint B, C, H, W, K, KH, KW, S, P, OH, OW, CKK, NP;
} conv_dims;

static conv_dims dims_of(const tq_net *n, const tq_layer *l) {
  conv_dims d;
  d.B = (cl_uint)n->batch;
  d.C = (cl_uint)l->in.c;
  d.H = (cl_uint)l->in.h;
  d.W = (cl_uint)l->in.w;
  d.K = (cl_uint)l->units;
  d.KH = d.KW = (cl_uint)l->size;
  d.S = (cl_uint)l->stride;
  d.P = (cl_uint)l->pad;
  d.OH = (cl_uint)l->out.h;
  d.OW = (cl_uint)l->out.w;
  d.CKK = d.C * d.KH * d.KW;
  d.NP = d.B * d.OH * d.OW;
  return d;
}

tq_status tq_conv2d_forward(tq_net *n, int li, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  conv_dims d = dims_of(n, l);
  const tq_tensor *w = &n->model->tensors[l->w_tensor];
  cl_mem x = tq_net_layer_input(n, li), col = n->aux[li];
  cl_uint zero = 0, P = d.OH * d.OW,
          b_off = l->b_tensor >= 0 ? (cl_uint)n->model->tensors[l->b_tensor].offset : 0u,
          has_bias = l->b_tensor >= 0 ? 1u : 0u, relu = tq_net_relu_fused(n, li) ? 1u : 0u;
  tq_karg a1[] = {TQ_ARG(x), TQ_ARG(zero), TQ_ARG(col), TQ_ARG(d.B), TQ_ARG(d.C),
                  TQ_ARG(d.H), TQ_ARG(d.W), TQ_ARG(d.KH), TQ_ARG(d.KW), TQ_ARG(d.S),
                  TQ_ARG(d.P), TQ_ARG(d.OH), TQ_ARG(d.OW)};
  if (d.S == 1) { /* the fast layout (kernels/nn_conv.cl) */
    size_t g1[3] = {d.OW, d.OH, (size_t)d.CKK * d.B}, l1[3];
    tq_cl_local_image(&n->cl, n->k.im2col_s1, g1[0], g1[1], g1[2], l1);
    TQ_TRY(tq_cl_runnd(&n->cl, n->k.im2col_s1, 3, g1, l1, a1, TQ_NARGS(a1), "nn_im2col_s1", e));
  } else {
    size_t g1[3] = {P, d.B, d.CKK}, l1[3];
    tq_cl_local2(&n->cl, n->k.im2col, g1[0], g1[1], l1);
    TQ_TRY(tq_cl_runnd(&n->cl, n->k.im2col, 3, g1, l1, a1, TQ_NARGS(a1), "nn_im2col", e));
  }
  TQ_TRY(tq_net_sgemm(n, false, false, d.K, d.NP, d.CKK, n->params, w->offset, d.CKK, col, 0,
                      d.NP, n->scratch, 0, d.NP, e));
  tq_karg a2[] = {TQ_ARG(n->scratch), TQ_ARG(n->params), TQ_ARG(b_off), TQ_ARG(n->act[li]),
                  TQ_ARG(d.B), TQ_ARG(d.K), TQ_ARG(P), TQ_ARG(relu), TQ_ARG(has_bias)};
  size_t g2[2] = {P, (size_t)d.B * d.K}, l2[3];
  tq_cl_local2(&n->cl, n->k.knp_to_nchw_bias, g2[0], g2[1], l2);
  return tq_cl_runnd(&n->cl, n->k.knp_to_nchw_bias, 2, g2, l2, a2, TQ_NARGS(a2),
                     relu ? "nn_knp_to_nchw_bias (+relu)" : "nn_knp_to_nchw_bias", e);
}

tq_status tq_conv2d_backward(tq_net *n, int li, bool need_dx, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  conv_dims d = dims_of(n, l);
  const tq_tensor *w = &n->model->tensors[l->w_tensor];
  cl_mem col = n->aux[li], dyk = n->scratch;
  cl_uint P = d.OH * d.OW,
          b_off = l->b_tensor >= 0 ? (cl_uint)n->model->tensors[l->b_tensor].offset : 0u,
          relu = tq_net_relu_fused(n, li) ? 1u : 0u;
  /* With a fused ReLU, dact[li] and act[li] are the ReLU's own buffers (shared, see net.c): its
   * output gradient and its output, whose sign masks the gradient here. */
  tq_karg a1[] = {TQ_ARG(n->dact[li]), TQ_ARG(n->act[li]), TQ_ARG(dyk), TQ_ARG(d.B),
                  TQ_ARG(d.K), TQ_ARG(P), TQ_ARG(relu)};
  size_t g1[2] = {P, (size_t)d.B * d.K}, l1[3];
  tq_cl_local2(&n->cl, n->k.nchw_to_knp, g1[0], g1[1], l1);
  TQ_TRY(tq_cl_runnd(&n->cl, n->k.nchw_to_knp, 2, g1, l1, a1, TQ_NARGS(a1),
                     relu ? "nn_nchw_to_knp (+relu')" : "nn_nchw_to_knp", e));
  /* dW[K][CKK] = dY[K][NP] col[CKK][NP]^T */
  TQ_TRY(tq_net_sgemm(n, false, true, d.K, d.CKK, d.NP, dyk, 0, d.NP, col, 0, d.NP, n->grads,
                      w->offset, d.CKK, e));
  /* db = row sums of dY: one work-group per output channel (nn_row_sums' NN_SUM_L). */
  const size_t sum_l = 128;
  tq_karg a2[] = {TQ_ARG(dyk), TQ_ARG(d.K), TQ_ARG(d.NP), TQ_ARG(n->grads), TQ_ARG(b_off)};
  if (l->b_tensor >= 0)
    TQ_TRY(tq_cl_run1d(&n->cl, n->k.row_sums, (size_t)d.K * sum_l, sum_l, a2, TQ_NARGS(a2), "nn_row_sums", e));
  if (!need_dx) return TQ_OK;
  /* dcol[CKK][NP] = W[K][CKK]^T dY[K][NP]; col is dead after dW, so it holds dcol. */
  TQ_TRY(tq_net_sgemm(n, true, false, d.CKK, d.NP, d.K, n->params, w->offset, d.CKK, dyk, 0,
                      d.NP, col, 0, d.NP, e));
  cl_mem dx = tq_net_layer_dinput(n, li);
  cl_uint zero = 0;
  tq_karg a3[] = {TQ_ARG(col), TQ_ARG(dx), TQ_ARG(zero), TQ_ARG(d.B), TQ_ARG(d.C),
                  TQ_ARG(d.H), TQ_ARG(d.W), TQ_ARG(d.KH), TQ_ARG(d.KW), TQ_ARG(d.S),
                  TQ_ARG(d.P), TQ_ARG(d.OH), TQ_ARG(d.OW)};
  /* Fixed tap counts (and stride 1) let the kernel vectorise (kernels/nn_conv.cl). */
  bool k3 = d.KH == 3 && d.KW == 3 && d.S == 1, k5 = d.KH == 5 && d.KW == 5 && d.S == 1;
  cl_kernel k = k3 ? n->k.col2im_k3s1 : k5 ? n->k.col2im_k5s1 : n->k.col2im;
  size_t g3[3] = {d.W, d.H, (size_t)d.B * d.C}, l3[3];
  tq_cl_local_image(&n->cl, k, g3[0], g3[1], g3[2], l3);
  return tq_cl_runnd(&n->cl, k, 3, g3, l3, a3, TQ_NARGS(a3),
                     k3 ? "nn_col2im_k3s1" : k5 ? "nn_col2im_k5s1" : "nn_col2im", e);
}
