/* Layers without parameters: maxpool, relu, dropout (flatten is a view and has no pass).
 *   maxpool: x [B][C][H][W] -> y [B][C][OH][OW], argmax [B][C][OH][OW] (flat input index)
 *   relu, dropout: x [B][S] -> y [B][S] */
#include "nn/net.h"

tq_status tq_maxpool_forward(tq_net *n, int li, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  cl_uint BC = (cl_uint)(n->batch * l->in.c), H = (cl_uint)l->in.h, W = (cl_uint)l->in.w,
          OH = (cl_uint)l->out.h, OW = (cl_uint)l->out.w, size = (cl_uint)l->size,
          stride = (cl_uint)l->stride;
  cl_mem x = tq_net_layer_input(n, li);
  tq_karg a[] = {TQ_ARG(x), TQ_ARG(n->act[li]), TQ_ARG(n->aux[li]), TQ_ARG(BC), TQ_ARG(H),
                 TQ_ARG(W), TQ_ARG(OH), TQ_ARG(OW), TQ_ARG(size), TQ_ARG(stride)};
  /* 2x2 stride 2 has a variant with fixed loops, which vectorises (kernels/nn_elementwise.cl). */
  bool two = size == 2 && stride == 2;
  cl_kernel k = two ? n->k.maxpool_fwd_2x2 : n->k.maxpool_fwd;
  size_t g[2] = {(size_t)OH * OW, BC}, lo[3];
  tq_cl_local2(&n->cl, k, g[0], g[1], lo);
  return tq_cl_runnd(&n->cl, k, 2, g, lo, a, TQ_NARGS(a),
                     two ? "nn_maxpool_fwd_2x2" : "nn_maxpool_fwd", e);
}

tq_status tq_maxpool_backward(tq_net *n, int li, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  cl_uint BC = (cl_uint)(n->batch * l->in.c), H = (cl_uint)l->in.h, W = (cl_uint)l->in.w,
          OH = (cl_uint)l->out.h, OW = (cl_uint)l->out.w, size = (cl_uint)l->size,
          stride = (cl_uint)l->stride;
  cl_mem dx = tq_net_layer_dinput(n, li);
  tq_karg a[] = {TQ_ARG(n->dact[li]), TQ_ARG(n->aux[li]), TQ_ARG(dx), TQ_ARG(BC), TQ_ARG(H),
                 TQ_ARG(W), TQ_ARG(OH), TQ_ARG(OW), TQ_ARG(size), TQ_ARG(stride)};
  bool two = size == 2 && stride == 2;
  cl_kernel k = two ? n->k.maxpool_bwd_2x2 : n->k.maxpool_bwd;
  size_t g[2] = {(size_t)H * W, BC}, lo[3];
  tq_cl_local2(&n->cl, k, g[0], g[1], lo);
  return tq_cl_runnd(&n->cl, k, 2, g, lo, a, TQ_NARGS(a),
                     two ? "nn_maxpool_bwd_2x2" : "nn_maxpool_bwd", e);
}

tq_status tq_relu_forward(tq_net *n, int li, tq_err *e) {
  cl_uint cnt = (cl_uint)(n->batch * tq_shape_size(n->model->layers[li].out));
  cl_mem x = tq_net_layer_input(n, li);
  tq_karg a[] = {TQ_ARG(x), TQ_ARG(n->act[li]), TQ_ARG(cnt)};
  return tq_cl_run1d(&n->cl, n->k.relu_fwd, cnt, tq_cl_group1d(&n->cl, n->k.relu_fwd, 64), a,
                     TQ_NARGS(a), "nn_relu_fwd", e);
}

tq_status tq_relu_backward(tq_net *n, int li, tq_err *e) {
  cl_uint cnt = (cl_uint)(n->batch * tq_shape_size(n->model->layers[li].out));
  cl_mem dx = tq_net_layer_dinput(n, li);
  tq_karg a[] = {TQ_ARG(n->act[li]), TQ_ARG(n->dact[li]), TQ_ARG(dx), TQ_ARG(cnt)};
  return tq_cl_run1d(&n->cl, n->k.relu_bwd, cnt, tq_cl_group1d(&n->cl, n->k.relu_bwd, 64), a,
                     TQ_NARGS(a), "nn_relu_bwd", e);
}

tq_status tq_dropout_forward(tq_net *n, int li, bool train, uint32_t iteration, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  cl_uint cnt = (cl_uint)(n->batch * tq_shape_size(l->out)), layer = (cl_uint)li;
  cl_mem x = tq_net_layer_input(n, li);
  float p = train ? l->drop_p : 0.0f; /* evaluation: identity */
  tq_karg a[] = {TQ_ARG(x), TQ_ARG(n->act[li]), TQ_ARG(cnt), TQ_ARG(p), TQ_ARG(n->seed),
                 TQ_ARG(n->worker), TQ_ARG(iteration), TQ_ARG(layer)};
  return tq_cl_run1d(&n->cl, n->k.dropout_fwd, cnt, tq_cl_group1d(&n->cl, n->k.dropout_fwd, 64), a,
                     TQ_NARGS(a), "nn_dropout_fwd", e);
}

tq_status tq_dropout_backward(tq_net *n, int li, uint32_t iteration, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  cl_uint cnt = (cl_uint)(n->batch * tq_shape_size(l->out)), layer = (cl_uint)li;
  cl_mem dx = tq_net_layer_dinput(n, li);
  float p = l->drop_p;
  tq_karg a[] = {TQ_ARG(n->dact[li]), TQ_ARG(dx), TQ_ARG(cnt), TQ_ARG(p), TQ_ARG(n->seed),
                 TQ_ARG(n->worker), TQ_ARG(iteration), TQ_ARG(layer)};
  return tq_cl_run1d(&n->cl, n->k.dropout_bwd, cnt, tq_cl_group1d(&n->cl, n->k.dropout_bwd, 64), a,
                     TQ_NARGS(a), "nn_dropout_bwd", e);
}
