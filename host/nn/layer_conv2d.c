/* conv2d: x [B][C][H][W] -> y [B][K][OH][OW], weights [K][C][kh][kw], bias [K].
 *   forward:  col = im2col(x) [CKK][B*P];  Y = W col [K][B*P];  y = nchw(Y) + bias
 *   backward: dY = knp(dy) [K][B*P];  dW = dY col^T;  db = rowsum(dY);
 *             dcol = W^T dY [CKK][B*P];  dx = col2im(dcol)
 * One GEMM over the whole batch (N = B*OH*OW) runs about 2x faster on POCL than per-image
 * batched GEMMs (docs/performance.md, Platform facts). A ReLU right after the layer is fused:
 * its forward into the bias scatter, its backward into the gather of dY (tq_net_relu_fused).
 * Buffers: col[i] [CKK][B*P] (kept from forward for dW, then reused for dcol); the replica's
 * scratch [K][B*P] for Y and dY. */
#include <stddef.h>
#include <stdio.h>

#include "cl/kernel_constants.h"
#include "nn/layer.h"

static const char *const conv_keys[] = {"type", "name",   "input", "filters", "size",
                                        "stride", "pad", "bias", NULL};

static tq_status conv_parse(const config_setting_t *s, tq_layer *l, const char *file, tq_err *e) {
  TQ_TRY(tq_cfg_int(s, "filters", true, 0, 1, 65536, &l->units, file, e));
  TQ_TRY(tq_cfg_int(s, "size", true, 0, 1, 64, &l->size, file, e));
  TQ_TRY(tq_cfg_int(s, "stride", false, 1, 1, 64, &l->stride, file, e));
  TQ_TRY(tq_cfg_int(s, "pad", false, 0, 0, 64, &l->pad, file, e));
  TQ_TRY(tq_cfg_bool(s, "bias", false, true, &l->no_bias, file, e));
  l->no_bias = !l->no_bias;
  return TQ_OK;
}

static tq_status conv_shape(tq_model *m, int i, tq_err *e) {
  tq_layer *l = &m->layers[i];
  tq_shape cur = l->in;
  if (cur.w == 1 && cur.h == 1 && l->src >= 0 &&
      (m->layers[l->src].kind == TQ_LAYER_FLATTEN || m->layers[l->src].kind == TQ_LAYER_DENSE))
    return tq_model_shape_error(m, i, "a convolution needs an image, but its input is flat", e);
  int oh = (cur.h + 2 * l->pad - l->size) / l->stride + 1;
  int ow = (cur.w + 2 * l->pad - l->size) / l->stride + 1;
  if (cur.h + 2 * l->pad < l->size || cur.w + 2 * l->pad < l->size)
    return tq_model_shape_error(m, i, "the kernel is larger than the padded input", e);
  int nconv = tq_model_kind_index(m, i);
  int wd[4] = {l->units, cur.c, l->size, l->size}, bd[1] = {l->units};
  char name[48];
  snprintf(name, sizeof name, "conv%d.weight", nconv);
  l->w_tensor = tq_model_add_tensor(m, name, wd, 4, cur.c * l->size * l->size);
  if (!l->no_bias) {
    snprintf(name, sizeof name, "conv%d.bias", nconv);
    l->b_tensor = tq_model_add_tensor(m, name, bd, 1, 0);
  }
  l->out = (tq_shape){l->units, oh, ow};
  return TQ_OK;
}

static void conv_buffers(const tq_model *m, int i, size_t B, tq_layer_buffer *own,
                         size_t *scratch) {
  const tq_layer *l = &m->layers[i];
  size_t ckk = (size_t)l->in.c * l->size * l->size, npix = B * l->out.h * l->out.w;
  *own = (tq_layer_buffer){"im2col columns", ckk * npix, sizeof(float), offsetof(tq_net, col)};
  *scratch = (size_t)l->units * npix;
}

/* [0] Y[K][NP] = W[K][CKK] col[CKK][NP]; [1] dW[K][CKK] = dY[K][NP] col^T;
 * [2] dcol[CKK][NP] = W^T dY (when the input gradient is needed). */
static int conv_gemms(const tq_model *m, int i, size_t B, tq_gemm_shape *out) {
  const tq_layer *l = &m->layers[i];
  size_t K = (size_t)l->units, CKK = (size_t)l->in.c * l->size * l->size,
         NP = B * l->out.h * l->out.w;
  char name[24];
  snprintf(name, sizeof name, "conv%d", tq_model_kind_index(m, i));
  tq_gemm_shape_set(&out[0], name, i, TQ_GEMM_FORWARD, false, false, K, NP, CKK);
  tq_gemm_shape_set(&out[1], name, i, TQ_GEMM_WEIGHT_GRAD, false, true, K, CKK, NP);
  if (l->src < 0) return 2;
  tq_gemm_shape_set(&out[2], name, i, TQ_GEMM_INPUT_GRAD, true, false, CKK, NP, K);
  return 3;
}

static double conv_flops(const tq_layer *l) {
  return 2.0 * (double)tq_shape_size(l->out) * l->in.c * l->size * l->size;
}

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

static tq_status im2col(tq_net *n, int li, const conv_dims *dp, tq_err *e) {
  conv_dims d = *dp;
  cl_mem x = tq_net_layer_input(n, li), col = n->col[li];
  cl_uint zero = 0;
  if (d.S == 1) { /* the fast layout (kernels/nn_conv.cl) */
    tq_karg a[] = {TQ_ARG(x),   TQ_ARG(zero), TQ_ARG(col), TQ_ARG(d.B),  TQ_ARG(d.C),
                   TQ_ARG(d.H), TQ_ARG(d.W),  TQ_ARG(d.KH), TQ_ARG(d.KW), TQ_ARG(d.P),
                   TQ_ARG(d.OH), TQ_ARG(d.OW)};
    size_t g[3] = {d.OW, d.OH, (size_t)d.CKK * d.B}, l[3];
    tq_cl_local_image(&n->cl, n->k.im2col_s1, g[0], g[1], g[2], l);
    return tq_cl_runnd(&n->cl, n->k.im2col_s1, 3, g, l, a, "nn_im2col_s1", e);
  }
  tq_karg a[] = {TQ_ARG(x),   TQ_ARG(zero), TQ_ARG(col),  TQ_ARG(d.B),  TQ_ARG(d.C),
                 TQ_ARG(d.H), TQ_ARG(d.W),  TQ_ARG(d.KH), TQ_ARG(d.KW), TQ_ARG(d.S),
                 TQ_ARG(d.P), TQ_ARG(d.OH), TQ_ARG(d.OW)};
  size_t g[3] = {(size_t)d.OH * d.OW, d.B, d.CKK}, l[3];
  tq_cl_local2(&n->cl, n->k.im2col, g[0], g[1], l);
  return tq_cl_runnd(&n->cl, n->k.im2col, 3, g, l, a, "nn_im2col", e);
}

static tq_status conv_forward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  conv_dims d = dims_of(n, l);
  const tq_tensor *w = &n->model->tensors[l->w_tensor];
  tq_gemm_shape g[TQ_LAYER_MAX_GEMMS];
  conv_gemms(n->model, li, (size_t)n->batch, g);
  cl_uint P = d.OH * d.OW,
          b_off = l->b_tensor >= 0 ? (cl_uint)n->model->tensors[l->b_tensor].offset : 0u,
          has_bias = l->b_tensor >= 0 ? 1u : 0u, relu = tq_net_relu_fused(n, li) ? 1u : 0u;
  TQ_TRY(im2col(n, li, &d, e));
  TQ_TRY(tq_net_gemm(n, &g[0], n->params, w->offset, d.CKK, n->col[li], 0, d.NP, n->scratch, 0,
                     d.NP, e));
  tq_karg a2[] = {TQ_ARG(n->scratch), TQ_ARG(n->params), TQ_ARG(b_off), TQ_ARG(n->act[li]),
                  TQ_ARG(d.B), TQ_ARG(d.K), TQ_ARG(P), TQ_ARG(relu), TQ_ARG(has_bias)};
  size_t g2[2] = {P, (size_t)d.B * d.K}, l2[3];
  tq_cl_local2(&n->cl, n->k.knp_to_nchw_bias, g2[0], g2[1], l2);
  return tq_cl_runnd(&n->cl, n->k.knp_to_nchw_bias, 2, g2, l2, a2, relu ? "nn_knp_to_nchw_bias (+relu)" : "nn_knp_to_nchw_bias", e);
}

/* dx = col2im(dcol): fixed tap counts (and stride 1) let the kernel vectorise
 * (kernels/nn_conv.cl), so 3x3 and 5x5 stride-1 kernels have their own. */
static tq_status col2im(tq_net *n, int li, const conv_dims *dp, tq_err *e) {
  conv_dims d = *dp;
  cl_mem dx = tq_net_layer_dinput(n, li), col = n->col[li];
  cl_uint zero = 0;
  bool k3 = d.KH == 3 && d.KW == 3 && d.S == 1, k5 = d.KH == 5 && d.KW == 5 && d.S == 1;
  size_t g[3] = {d.W, d.H, (size_t)d.B * d.C}, l[3];
  if (k3 || k5) {
    cl_kernel k = k3 ? n->k.col2im_k3s1 : n->k.col2im_k5s1;
    tq_karg a[] = {TQ_ARG(col), TQ_ARG(dx), TQ_ARG(zero), TQ_ARG(d.B),  TQ_ARG(d.C),
                   TQ_ARG(d.H), TQ_ARG(d.W), TQ_ARG(d.P),  TQ_ARG(d.OH), TQ_ARG(d.OW)};
    tq_cl_local_image(&n->cl, k, g[0], g[1], g[2], l);
    return tq_cl_runnd(&n->cl, k, 3, g, l, a, k3 ? "nn_col2im_k3s1" : "nn_col2im_k5s1", e);
  }
  tq_karg a[] = {TQ_ARG(col), TQ_ARG(dx),   TQ_ARG(zero), TQ_ARG(d.B),  TQ_ARG(d.C),
                 TQ_ARG(d.H), TQ_ARG(d.W),  TQ_ARG(d.KH), TQ_ARG(d.KW), TQ_ARG(d.S),
                 TQ_ARG(d.P), TQ_ARG(d.OH), TQ_ARG(d.OW)};
  tq_cl_local_image(&n->cl, n->k.col2im, g[0], g[1], g[2], l);
  return tq_cl_runnd(&n->cl, n->k.col2im, 3, g, l, a, "nn_col2im", e);
}

static tq_status conv_backward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  conv_dims d = dims_of(n, l);
  const tq_tensor *w = &n->model->tensors[l->w_tensor];
  tq_gemm_shape g[TQ_LAYER_MAX_GEMMS];
  conv_gemms(n->model, li, (size_t)n->batch, g);
  cl_mem col = n->col[li], dyk = n->scratch;
  cl_uint P = d.OH * d.OW,
          b_off = l->b_tensor >= 0 ? (cl_uint)n->model->tensors[l->b_tensor].offset : 0u,
          relu = tq_net_relu_fused(n, li) ? 1u : 0u;
  /* With a fused ReLU, dact[li] and act[li] are the ReLU's own buffers (shared, see net.c): its
   * output gradient and its output, whose sign masks the gradient here. */
  tq_karg a1[] = {TQ_ARG(n->dact[li]), TQ_ARG(n->act[li]), TQ_ARG(dyk), TQ_ARG(d.B),
                  TQ_ARG(d.K), TQ_ARG(P), TQ_ARG(relu)};
  size_t g1[2] = {P, (size_t)d.B * d.K}, l1[3];
  tq_cl_local2(&n->cl, n->k.nchw_to_knp, g1[0], g1[1], l1);
  TQ_TRY(tq_cl_runnd(&n->cl, n->k.nchw_to_knp, 2, g1, l1, a1, relu ? "nn_nchw_to_knp (+relu')" : "nn_nchw_to_knp", e));
  TQ_TRY(tq_net_gemm(n, &g[1], dyk, 0, d.NP, col, 0, d.NP, n->grads, w->offset, d.CKK, e));
  /* db = row sums of dY: one work-group of TQ_NN_SUM_L per output channel (nn_row_sums). */
  const size_t sum_l = TQ_NN_SUM_L;
  tq_karg a2[] = {TQ_ARG(dyk), TQ_ARG(d.K), TQ_ARG(d.NP), TQ_ARG(n->grads), TQ_ARG(b_off)};
  if (l->b_tensor >= 0)
    TQ_TRY(tq_cl_run1d(&n->cl, n->k.row_sums, (size_t)d.K * sum_l, sum_l, a2, "nn_row_sums", e));
  if (!p->need_dx) return TQ_OK;
  /* col is dead after dW, so it holds dcol. */
  TQ_TRY(tq_net_gemm(n, &g[2], n->params, w->offset, d.CKK, dyk, 0, d.NP, col, 0, d.NP, e));
  TQ_TRY(col2im(n, li, &d, e));
  return tq_net_add_dinput(n, li, e);
}

const tq_layer_ops tq_conv2d_ops = {
    .name = "conv2d",
    .keys = conv_keys,
    .parse = conv_parse,
    .shape = conv_shape,
    .fuses_relu = true,
    .fuses_relu_grad = true,
    .buffers = conv_buffers,
    .forward = conv_forward,
    .backward = conv_backward,
    .gemms = conv_gemms,
    .flops = conv_flops,
};
