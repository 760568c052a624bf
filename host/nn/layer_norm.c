/* batchnorm, global average pooling and the residual add (kernels/nn_norm.cl).
 *   batchnorm: x [B][C][H][W] -> y, per channel; parameters gamma (bnK.weight), beta (bnK.bias);
 *              aux[i] = stat [4C]: mean, 1/std, then the backward's two channel sums;
 *              running statistics in n->state at layer->state_off (mean [C], variance [C])
 *   avgpool:   x [B][C][H][W] -> y [B][C][1][1]
 *   add:       y = input + output of layer `from` */
#include "nn/net.h"

#define BN_L 128 /* NN_BN_L: the reductions' fixed work-group size */

typedef struct bn_dims {
  cl_uint C, HW, count, BC, g_off, b_off, s_off;
} bn_dims;

static bn_dims bn_dims_of(const tq_net *n, const tq_layer *l) {
  bn_dims d;
  d.C = (cl_uint)l->in.c;
  d.HW = (cl_uint)(l->in.h * l->in.w);
  d.count = (cl_uint)n->count;
  d.BC = (cl_uint)n->batch * d.C;
  d.g_off = (cl_uint)n->model->tensors[l->w_tensor].offset;
  d.b_off = (cl_uint)n->model->tensors[l->b_tensor].offset;
  d.s_off = (cl_uint)l->state_off;
  return d;
}

tq_status tq_batchnorm_forward(tq_net *n, int li, bool train, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  bn_dims d = bn_dims_of(n, l);
  cl_mem x = tq_net_layer_input(n, li), stat = n->aux[li];
  float eps = l->bn_eps, mom = l->bn_momentum;
  if (train) {
    tq_karg a1[] = {TQ_ARG(x), TQ_ARG(d.C), TQ_ARG(d.HW), TQ_ARG(d.count), TQ_ARG(stat)};
    TQ_TRY(tq_cl_run1d(&n->cl, n->k.bn_mean, (size_t)d.C * BN_L, BN_L, a1, TQ_NARGS(a1),
                       "nn_bn_mean", e));
    cl_uint update = 1;
    tq_karg a2[] = {TQ_ARG(x),   TQ_ARG(d.C),    TQ_ARG(d.HW), TQ_ARG(d.count),
                    TQ_ARG(stat), TQ_ARG(eps),   TQ_ARG(update), TQ_ARG(mom),
                    TQ_ARG(n->state), TQ_ARG(d.s_off)};
    TQ_TRY(tq_cl_run1d(&n->cl, n->k.bn_var, (size_t)d.C * BN_L, BN_L, a2, TQ_NARGS(a2),
                       "nn_bn_var", e));
  } else {
    tq_karg a1[] = {TQ_ARG(n->state), TQ_ARG(d.s_off), TQ_ARG(d.C), TQ_ARG(eps), TQ_ARG(stat)};
    TQ_TRY(tq_cl_run1d(&n->cl, n->k.bn_eval_stat, d.C, tq_cl_group1d(&n->cl, n->k.bn_eval_stat, 64),
                       a1, TQ_NARGS(a1), "nn_bn_eval_stat", e));
  }
  tq_karg a3[] = {TQ_ARG(x),     TQ_ARG(n->act[li]), TQ_ARG(stat), TQ_ARG(n->params),
                  TQ_ARG(d.g_off), TQ_ARG(d.b_off),  TQ_ARG(d.C),  TQ_ARG(d.HW)};
  size_t g[2] = {d.HW, d.BC}, lo[3];
  tq_cl_local2(&n->cl, n->k.bn_apply, g[0], g[1], lo);
  return tq_cl_runnd(&n->cl, n->k.bn_apply, 2, g, lo, a3, TQ_NARGS(a3), "nn_bn_apply", e);
}

tq_status tq_batchnorm_backward(tq_net *n, int li, bool need_dx, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  bn_dims d = bn_dims_of(n, l);
  cl_mem x = tq_net_layer_input(n, li), stat = n->aux[li], dy = n->dact[li];
  for (cl_uint which = 0; which < 2; which++) {
    tq_karg a[] = {TQ_ARG(x),        TQ_ARG(dy),      TQ_ARG(d.C),     TQ_ARG(d.HW),
                   TQ_ARG(d.count),  TQ_ARG(stat),    TQ_ARG(n->grads), TQ_ARG(d.g_off),
                   TQ_ARG(d.b_off),  TQ_ARG(which)};
    TQ_TRY(tq_cl_run1d(&n->cl, n->k.bn_bwd_reduce, (size_t)d.C * BN_L, BN_L, a, TQ_NARGS(a),
                       which ? "nn_bn_bwd_reduce (dgamma)" : "nn_bn_bwd_reduce (dbeta)", e));
  }
  if (!need_dx) return TQ_OK;
  cl_mem dx = tq_net_layer_dinput(n, li);
  tq_karg a[] = {TQ_ARG(x),     TQ_ARG(dy),  TQ_ARG(dx),  TQ_ARG(stat),   TQ_ARG(n->params),
                 TQ_ARG(d.g_off), TQ_ARG(d.C), TQ_ARG(d.HW), TQ_ARG(d.count)};
  size_t g[2] = {d.HW, d.BC}, lo[3];
  tq_cl_local2(&n->cl, n->k.bn_bwd_dx, g[0], g[1], lo);
  return tq_cl_runnd(&n->cl, n->k.bn_bwd_dx, 2, g, lo, a, TQ_NARGS(a), "nn_bn_bwd_dx", e);
}

tq_status tq_avgpool_forward(tq_net *n, int li, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  cl_uint BC = (cl_uint)(n->batch * l->in.c), HW = (cl_uint)(l->in.h * l->in.w);
  cl_mem x = tq_net_layer_input(n, li);
  tq_karg a[] = {TQ_ARG(x), TQ_ARG(n->act[li]), TQ_ARG(BC), TQ_ARG(HW)};
  return tq_cl_run1d(&n->cl, n->k.avgpool_fwd, BC, tq_cl_group1d(&n->cl, n->k.avgpool_fwd, 64), a,
                     TQ_NARGS(a), "nn_avgpool_fwd", e);
}

tq_status tq_avgpool_backward(tq_net *n, int li, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  cl_uint BC = (cl_uint)(n->batch * l->in.c), HW = (cl_uint)(l->in.h * l->in.w);
  cl_mem dx = tq_net_layer_dinput(n, li);
  tq_karg a[] = {TQ_ARG(n->dact[li]), TQ_ARG(dx), TQ_ARG(HW)};
  size_t g[2] = {HW, BC}, lo[3];
  tq_cl_local2(&n->cl, n->k.avgpool_bwd, g[0], g[1], lo);
  return tq_cl_runnd(&n->cl, n->k.avgpool_bwd, 2, g, lo, a, TQ_NARGS(a), "nn_avgpool_bwd", e);
}

tq_status tq_add_forward(tq_net *n, int li, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  cl_uint cnt = (cl_uint)(n->batch * tq_shape_size(l->out));
  cl_mem a0 = tq_net_layer_input(n, li), b0 = l->from < 0 ? n->input : n->act[l->from];
  tq_karg a[] = {TQ_ARG(a0), TQ_ARG(b0), TQ_ARG(n->act[li]), TQ_ARG(cnt)};
  return tq_cl_run1d(&n->cl, n->k.add_fwd, cnt, tq_cl_group1d(&n->cl, n->k.add_fwd, 64), a,
                     TQ_NARGS(a), "nn_add_fwd", e);
}

tq_status tq_net_grad_acc(tq_net *n, cl_mem dst, cl_mem src, size_t count, bool acc, tq_err *e) {
  cl_uint cnt = (cl_uint)count, a_ = acc ? 1u : 0u;
  tq_karg a[] = {TQ_ARG(dst), TQ_ARG(src), TQ_ARG(cnt), TQ_ARG(a_)};
  return tq_cl_run1d(&n->cl, n->k.grad_acc, cnt, tq_cl_group1d(&n->cl, n->k.grad_acc, 64), a,
                     TQ_NARGS(a), acc ? "nn_grad_acc (+=)" : "nn_grad_acc (=)", e);
}

/* d(input) = d(from) = dy: each written (the first reader of that layer in the backward
 * pass) or added to. */
tq_status tq_add_backward(tq_net *n, int li, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  size_t cnt = (size_t)n->batch * tq_shape_size(l->out);
  if (l->src >= 0)
    TQ_TRY(tq_net_grad_acc(n, n->dact[l->src], n->dact[li], cnt, n->first_use[l->src] != li, e));
  if (l->from >= 0)
    TQ_TRY(tq_net_grad_acc(n, n->dact[l->from], n->dact[li], cnt, n->first_use[l->from] != li, e));
  return TQ_OK;
}
