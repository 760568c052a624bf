/* Layers without parameters: maxpool, relu, dropout, flatten.
 *   maxpool: x [B][C][H][W] -> y [B][C][OH][OW], argmax[i] [B][C][OH][OW] ints (flat input
 *            index of each maximum)
 *   relu, dropout: x [B][S] -> y [B][S]
 *   flatten: x [B][C][H][W] -> y [B][C*H*W], a view: the same memory, so no pass runs */
#include <stddef.h>

#include "nn/layer.h"

static const char *const pool_keys[] = {"type", "name", "input", "size", "stride", NULL};
static const char *const drop_keys[] = {"type", "name", "input", "p", NULL};
static const char *const type_only[] = {"type", "name", "input", NULL};

/* ---- maxpool ---- */

static tq_status maxpool_parse(const config_setting_t *s, tq_layer *l, const char *file,
                               tq_err *e) {
  TQ_TRY(tq_cfg_int(s, "size", true, 0, 1, 64, &l->size, file, e));
  return tq_cfg_int(s, "stride", false, l->size, 1, 64, &l->stride, file, e);
}

static tq_status maxpool_shape(tq_model *m, int i, tq_err *e) {
  tq_layer *l = &m->layers[i];
  tq_shape cur = l->in;
  if (cur.h < l->size || cur.w < l->size)
    return tq_model_shape_error(m, i, "the pooling window is larger than the input", e);
  l->out = (tq_shape){cur.c, (cur.h - l->size) / l->stride + 1, (cur.w - l->size) / l->stride + 1};
  return TQ_OK;
}

static void maxpool_buffers(const tq_model *m, int i, size_t B, tq_layer_buffer *own,
                            size_t *scratch) {
  *own = (tq_layer_buffer){"maxpool argmax", B * tq_shape_size(m->layers[i].out), sizeof(cl_int),
                           offsetof(tq_net, argmax)};
  *scratch = 0;
}

static tq_status maxpool_forward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  cl_uint BC = (cl_uint)(n->batch * l->in.c), H = (cl_uint)l->in.h, W = (cl_uint)l->in.w,
          OH = (cl_uint)l->out.h, OW = (cl_uint)l->out.w, size = (cl_uint)l->size,
          stride = (cl_uint)l->stride;
  cl_mem x = tq_net_layer_input(n, li);
  tq_karg a[] = {TQ_ARG(x), TQ_ARG(n->act[li]), TQ_ARG(n->argmax[li]), TQ_ARG(BC), TQ_ARG(H),
                 TQ_ARG(W), TQ_ARG(OH), TQ_ARG(OW), TQ_ARG(size), TQ_ARG(stride)};
  /* 2x2 stride 2 has a variant with fixed loops, which vectorises (kernels/nn_elementwise.cl). */
  bool two = size == 2 && stride == 2;
  cl_kernel k = two ? n->k.maxpool_fwd_2x2 : n->k.maxpool_fwd;
  size_t g[2] = {(size_t)OH * OW, BC}, lo[3];
  tq_cl_local2(&n->cl, k, g[0], g[1], lo);
  return tq_cl_runnd(&n->cl, k, 2, g, lo, a, two ? "nn_maxpool_fwd_2x2" : "nn_maxpool_fwd", e);
}

static tq_status maxpool_backward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  if (!p->need_dx) return TQ_OK;
  const tq_layer *l = &n->model->layers[li];
  cl_uint BC = (cl_uint)(n->batch * l->in.c), H = (cl_uint)l->in.h, W = (cl_uint)l->in.w,
          OH = (cl_uint)l->out.h, OW = (cl_uint)l->out.w, size = (cl_uint)l->size,
          stride = (cl_uint)l->stride;
  cl_mem dx = tq_net_layer_dinput(n, li);
  tq_karg a[] = {TQ_ARG(n->dact[li]), TQ_ARG(n->argmax[li]), TQ_ARG(dx), TQ_ARG(BC), TQ_ARG(H),
                 TQ_ARG(W), TQ_ARG(OH), TQ_ARG(OW), TQ_ARG(size), TQ_ARG(stride)};
  bool two = size == 2 && stride == 2;
  cl_kernel k = two ? n->k.maxpool_bwd_2x2 : n->k.maxpool_bwd;
  size_t g[2] = {(size_t)H * W, BC}, lo[3];
  tq_cl_local2(&n->cl, k, g[0], g[1], lo);
  TQ_TRY(tq_cl_runnd(&n->cl, k, 2, g, lo, a, two ? "nn_maxpool_bwd_2x2" : "nn_maxpool_bwd", e));
  return tq_net_add_dinput(n, li, e);
}

const tq_layer_ops tq_maxpool_ops = {
    .name = "maxpool",
    .keys = pool_keys,
    .parse = maxpool_parse,
    .shape = maxpool_shape,
    .buffers = maxpool_buffers,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
};

/* ---- relu ---- */

/* Right after a layer that fuses it, a ReLU shares that layer's buffers (net.h). */
static bool relu_shares_input(const tq_model *m, int i) { return tq_model_relu_follows(m, i - 1); }

static tq_status relu_forward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  if (tq_net_relu_fused(n, li - 1)) return TQ_OK; /* ran inside the layer before */
  cl_uint cnt = (cl_uint)(n->batch * tq_shape_size(n->model->layers[li].out));
  cl_mem x = tq_net_layer_input(n, li);
  tq_karg a[] = {TQ_ARG(x), TQ_ARG(n->act[li]), TQ_ARG(cnt)};
  return tq_cl_run1d(&n->cl, n->k.relu_fwd, cnt, tq_cl_group1d(&n->cl, n->k.relu_fwd, 64), a, "nn_relu_fwd", e);
}

static tq_status relu_backward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  if (!p->need_dx) return TQ_OK;
  /* A fused ReLU after a convolution is differentiated inside the convolution's backward;
   * after a dense layer it runs here (in place), as both dense GEMMs need its result. */
  if (tq_net_relu_fused(n, li - 1) &&
      tq_layer_ops_of(n->model->layers[li - 1].kind)->fuses_relu_grad)
    return TQ_OK;
  cl_uint cnt = (cl_uint)(n->batch * tq_shape_size(n->model->layers[li].out));
  cl_mem dx = tq_net_layer_dinput(n, li);
  tq_karg a[] = {TQ_ARG(n->act[li]), TQ_ARG(n->dact[li]), TQ_ARG(dx), TQ_ARG(cnt)};
  TQ_TRY(tq_cl_run1d(&n->cl, n->k.relu_bwd, cnt, tq_cl_group1d(&n->cl, n->k.relu_bwd, 64), a, "nn_relu_bwd", e));
  return tq_net_add_dinput(n, li, e);
}

const tq_layer_ops tq_relu_ops = {
    .name = "relu",
    .keys = type_only,
    .shares_input = relu_shares_input,
    .forward = relu_forward,
    .backward = relu_backward,
};

/* ---- dropout ---- */

static tq_status dropout_parse(const config_setting_t *s, tq_layer *l, const char *file,
                               tq_err *e) {
  double p;
  TQ_TRY(tq_cfg_float(s, "p", false, 0.5, 0.0, 0.95, &p, file, e));
  l->drop_p = (float)p;
  return TQ_OK;
}

static tq_status dropout_forward(tq_net *n, int li, const tq_pass *ps, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  cl_uint cnt = (cl_uint)(n->batch * tq_shape_size(l->out)), layer = (cl_uint)li;
  cl_mem x = tq_net_layer_input(n, li);
  float p = ps->train ? l->drop_p : 0.0f; /* evaluation: identity */
  uint32_t iteration = ps->iteration;
  tq_karg a[] = {TQ_ARG(x), TQ_ARG(n->act[li]), TQ_ARG(cnt), TQ_ARG(p), TQ_ARG(n->seed),
                 TQ_ARG(n->worker), TQ_ARG(iteration), TQ_ARG(layer)};
  return tq_cl_run1d(&n->cl, n->k.dropout_fwd, cnt, tq_cl_group1d(&n->cl, n->k.dropout_fwd, 64), a, "nn_dropout_fwd", e);
}

static tq_status dropout_backward(tq_net *n, int li, const tq_pass *ps, tq_err *e) {
  if (!ps->need_dx) return TQ_OK;
  const tq_layer *l = &n->model->layers[li];
  cl_uint cnt = (cl_uint)(n->batch * tq_shape_size(l->out)), layer = (cl_uint)li;
  cl_mem dx = tq_net_layer_dinput(n, li);
  float p = l->drop_p;
  uint32_t iteration = ps->iteration;
  tq_karg a[] = {TQ_ARG(n->dact[li]), TQ_ARG(dx), TQ_ARG(cnt), TQ_ARG(p), TQ_ARG(n->seed),
                 TQ_ARG(n->worker), TQ_ARG(iteration), TQ_ARG(layer)};
  TQ_TRY(tq_cl_run1d(&n->cl, n->k.dropout_bwd, cnt, tq_cl_group1d(&n->cl, n->k.dropout_bwd, 64),
                     a, "nn_dropout_bwd", e));
  return tq_net_add_dinput(n, li, e);
}

const tq_layer_ops tq_dropout_ops = {
    .name = "dropout",
    .keys = drop_keys,
    .parse = dropout_parse,
    .forward = dropout_forward,
    .backward = dropout_backward,
};

/* ---- flatten ---- */

static tq_status flatten_shape(tq_model *m, int i, tq_err *e) {
  tq_layer *l = &m->layers[i];
  l->out = (tq_shape){(int)tq_shape_size(l->in), 1, 1};
  return TQ_OK;
}

/* flatten is a view that shares its input's gradient buffer, so that input may feed nothing
 * else. */
static tq_status flatten_check(const tq_model *m, int i, tq_err *e) {
  const tq_layer *l = &m->layers[i];
  if (l->src >= 0 && m->layers[l->src].uses > 1)
    return tq_fail(e, TQ_EINPUT,
                   "%s:%d: layer %d (flatten) reads a layer that other layers read too; "
                   "flatten the branch after the add, or use avgpool",
                   m->path, l->line, i + 1);
  return TQ_OK;
}

static bool flatten_shares_input(const tq_model *m, int i) { return true; }

const tq_layer_ops tq_flatten_ops = {
    .name = "flatten",
    .keys = type_only,
    .shape = flatten_shape,
    .check = flatten_check,
    .shares_input = flatten_shares_input,
};
