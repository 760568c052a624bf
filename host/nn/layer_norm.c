/* batchnorm, global average pooling and the residual add (kernels/nn_norm.cl).
 *   batchnorm: x [B][C][H][W] -> y, per channel; parameters gamma (bnK.weight), beta (bnK.bias);
 *              bn_stat[i] [4C] floats: mean, 1/std, then the backward's two channel sums;
 *              running statistics in n->state at layer->state_off (mean [C], variance [C])
 *   avgpool:   x [B][C][H][W] -> y [B][C][1][1]
 *   add:       y = input + output of layer `from` */
#include <stddef.h>
#include <stdio.h>

#include "cl/kernel_constants.h"
#include "nn/layer.h"

static const char *const bn_keys[] = {"type", "name", "input", "momentum", "eps", NULL};
static const char *const add_keys[] = {"type", "name", "input", "from", NULL};
static const char *const type_only[] = {"type", "name", "input", NULL};

#define BN_L TQ_NN_BN_L /* the reductions' fixed work-group size (kernels/nn_norm.cl) */

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

/* ---- batchnorm ---- */

static tq_status bn_parse(const config_setting_t *s, tq_layer *l, const char *file, tq_err *e) {
  double mom, eps;
  TQ_TRY(tq_cfg_float(s, "momentum", false, 0.1, 1e-6, 1.0, &mom, file, e));
  TQ_TRY(tq_cfg_float(s, "eps", false, 1e-5, 1e-12, 1.0, &eps, file, e));
  l->bn_momentum = (float)mom;
  l->bn_eps = (float)eps;
  return TQ_OK;
}

static tq_status bn_shape(tq_model *m, int i, tq_err *e) {
  tq_layer *l = &m->layers[i];
  int nbn = tq_model_kind_index(m, i), c = l->in.c;
  /* A layer built by hand (tests) may leave them 0: PyTorch's defaults. */
  if (!(l->bn_momentum > 0)) l->bn_momentum = 0.1f;
  if (!(l->bn_eps > 0)) l->bn_eps = 1e-5f;
  int d[1] = {c};
  char name[48];
  snprintf(name, sizeof name, "bn%d.weight", nbn);
  l->w_tensor = tq_model_add_tensor(m, name, d, 1, -1);
  snprintf(name, sizeof name, "bn%d.bias", nbn);
  l->b_tensor = tq_model_add_tensor(m, name, d, 1, 0);
  l->state_off = (int)m->nstate;
  snprintf(name, sizeof name, "bn%d.running_mean", nbn);
  tq_model_add_state(m, name, c, 0);
  snprintf(name, sizeof name, "bn%d.running_var", nbn);
  tq_model_add_state(m, name, c, -1);
  return TQ_OK;
}

static void bn_buffers(const tq_model *m, int i, size_t B, tq_layer_buffer *own,
                       size_t *scratch) {
  *own = (tq_layer_buffer){"batchnorm statistics", 4 * (size_t)m->layers[i].in.c, sizeof(float),
                           offsetof(tq_net, bn_stat)};
  *scratch = 0;
}

static tq_status bn_forward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  bn_dims d = bn_dims_of(n, l);
  cl_mem x = tq_net_layer_input(n, li), stat = n->bn_stat[li];
  float eps = l->bn_eps, mom = l->bn_momentum;
  if (p->train) {
    tq_karg a1[] = {TQ_ARG(x), TQ_ARG(d.C), TQ_ARG(d.HW), TQ_ARG(d.count), TQ_ARG(stat)};
    TQ_TRY(tq_cl_run1d(&n->cl, n->k.bn_mean, (size_t)d.C * BN_L, BN_L, a1, "nn_bn_mean", e));
    cl_uint update = 1;
    tq_karg a2[] = {TQ_ARG(x),   TQ_ARG(d.C),    TQ_ARG(d.HW), TQ_ARG(d.count),
                    TQ_ARG(stat), TQ_ARG(eps),   TQ_ARG(update), TQ_ARG(mom),
                    TQ_ARG(n->state), TQ_ARG(d.s_off)};
    TQ_TRY(tq_cl_run1d(&n->cl, n->k.bn_var, (size_t)d.C * BN_L, BN_L, a2, "nn_bn_var", e));
  } else {
    tq_karg a1[] = {TQ_ARG(n->state), TQ_ARG(d.s_off), TQ_ARG(d.C), TQ_ARG(eps), TQ_ARG(stat)};
    TQ_TRY(tq_cl_run1d(&n->cl, n->k.bn_eval_stat, d.C, tq_cl_group1d(&n->cl, n->k.bn_eval_stat, 64),
                       a1, "nn_bn_eval_stat", e));
  }
  tq_karg a3[] = {TQ_ARG(x),     TQ_ARG(n->act[li]), TQ_ARG(stat), TQ_ARG(n->params),
                  TQ_ARG(d.g_off), TQ_ARG(d.b_off),  TQ_ARG(d.C),  TQ_ARG(d.HW)};
  size_t g[2] = {d.HW, d.BC}, lo[3];
  tq_cl_local2(&n->cl, n->k.bn_apply, g[0], g[1], lo);
  return tq_cl_runnd(&n->cl, n->k.bn_apply, 2, g, lo, a3, "nn_bn_apply", e);
}

static tq_status bn_backward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  bn_dims d = bn_dims_of(n, l);
  cl_mem x = tq_net_layer_input(n, li), stat = n->bn_stat[li], dy = n->dact[li];
  for (cl_uint which = 0; which < 2; which++) {
    tq_karg a[] = {TQ_ARG(x),        TQ_ARG(dy),      TQ_ARG(d.C),     TQ_ARG(d.HW),
                   TQ_ARG(d.count),  TQ_ARG(stat),    TQ_ARG(n->grads), TQ_ARG(d.g_off),
                   TQ_ARG(d.b_off),  TQ_ARG(which)};
    TQ_TRY(tq_cl_run1d(&n->cl, n->k.bn_bwd_reduce, (size_t)d.C * BN_L, BN_L, a, which ? "nn_bn_bwd_reduce (dgamma)" : "nn_bn_bwd_reduce (dbeta)", e));
  }
  if (!p->need_dx) return TQ_OK;
  cl_mem dx = tq_net_layer_dinput(n, li);
  tq_karg a[] = {TQ_ARG(x),     TQ_ARG(dy),  TQ_ARG(dx),  TQ_ARG(stat),   TQ_ARG(n->params),
                 TQ_ARG(d.g_off), TQ_ARG(d.C), TQ_ARG(d.HW), TQ_ARG(d.count)};
  size_t g[2] = {d.HW, d.BC}, lo[3];
  tq_cl_local2(&n->cl, n->k.bn_bwd_dx, g[0], g[1], lo);
  TQ_TRY(tq_cl_runnd(&n->cl, n->k.bn_bwd_dx, 2, g, lo, a, "nn_bn_bwd_dx", e));
  return tq_net_add_dinput(n, li, e);
}

const tq_layer_ops tq_batchnorm_ops = {
    .name = "batchnorm",
    .keys = bn_keys,
    .parse = bn_parse,
    .shape = bn_shape,
    .buffers = bn_buffers,
    .forward = bn_forward,
    .backward = bn_backward,
};

/* ---- avgpool ---- */

static tq_status avgpool_shape(tq_model *m, int i, tq_err *e) {
  tq_layer *l = &m->layers[i];
  l->out = (tq_shape){l->in.c, 1, 1};
  return TQ_OK;
}

static tq_status avgpool_forward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  cl_uint BC = (cl_uint)(n->batch * l->in.c), HW = (cl_uint)(l->in.h * l->in.w);
  cl_mem x = tq_net_layer_input(n, li);
  tq_karg a[] = {TQ_ARG(x), TQ_ARG(n->act[li]), TQ_ARG(BC), TQ_ARG(HW)};
  return tq_cl_run1d(&n->cl, n->k.avgpool_fwd, BC, tq_cl_group1d(&n->cl, n->k.avgpool_fwd, 64), a, "nn_avgpool_fwd", e);
}

static tq_status avgpool_backward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  if (!p->need_dx) return TQ_OK;
  const tq_layer *l = &n->model->layers[li];
  cl_uint BC = (cl_uint)(n->batch * l->in.c), HW = (cl_uint)(l->in.h * l->in.w);
  cl_mem dx = tq_net_layer_dinput(n, li);
  tq_karg a[] = {TQ_ARG(n->dact[li]), TQ_ARG(dx), TQ_ARG(HW)};
  size_t g[2] = {HW, BC}, lo[3];
  tq_cl_local2(&n->cl, n->k.avgpool_bwd, g[0], g[1], lo);
  TQ_TRY(tq_cl_runnd(&n->cl, n->k.avgpool_bwd, 2, g, lo, a, "nn_avgpool_bwd", e));
  return tq_net_add_dinput(n, li, e);
}

const tq_layer_ops tq_avgpool_ops = {
    .name = "avgpool",
    .keys = type_only,
    .shape = avgpool_shape,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
};

/* ---- add ---- */

static tq_status add_shape(tq_model *m, int i, tq_err *e) {
  tq_layer *l = &m->layers[i];
  tq_shape cur = l->in;
  if (l->from_ref == 0)
    return tq_model_shape_error(m, i, "an add layer needs from = \"NAME\" (an earlier layer)", e);
  l->from = l->from_ref - 1;
  char a[96], b[96];
  tq_model_layer_ref(m, l->from, a, sizeof a);
  if (l->from == l->src)
    return tq_fail(e, TQ_EINPUT, "%s:%d: layer %d (add): from names its own input, %s", m->path,
                   l->line, i + 1, a);
  tq_shape o = m->layers[l->from].out;
  if (o.c != cur.c || o.h != cur.h || o.w != cur.w) {
    tq_model_layer_ref(m, l->src, b, sizeof b);
    return tq_fail(e, TQ_EINPUT,
                   "%s:%d: layer %d (add): its input, %s, is %dx%dx%d but from = %s is "
                   "%dx%dx%d; the shapes must be equal (a strided or 1x1 convolution on the "
                   "shortcut changes them)",
                   m->path, l->line, i + 1, b, cur.c, cur.h, cur.w, a, o.c, o.h, o.w);
  }
  m->layers[l->from].uses++;
  return TQ_OK;
}

static tq_status add_forward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  cl_uint cnt = (cl_uint)(n->batch * tq_shape_size(l->out));
  cl_mem a0 = tq_net_layer_input(n, li), b0 = l->from < 0 ? n->input : n->act[l->from];
  tq_karg a[] = {TQ_ARG(a0), TQ_ARG(b0), TQ_ARG(n->act[li]), TQ_ARG(cnt)};
  return tq_cl_run1d(&n->cl, n->k.add_fwd, cnt, tq_cl_group1d(&n->cl, n->k.add_fwd, 64), a, "nn_add_fwd", e);
}

/* d(input) = d(from) = dy: each written (the first reader of that layer in the backward
 * pass) or added to. */
static tq_status add_backward(tq_net *n, int li, const tq_pass *p, tq_err *e) {
  const tq_layer *l = &n->model->layers[li];
  size_t cnt = (size_t)n->batch * tq_shape_size(l->out);
  if (l->src >= 0)
    TQ_TRY(tq_net_grad_acc(n, n->dact[l->src], n->dact[li], cnt, n->first_use[l->src] != li, e));
  if (l->from >= 0)
    TQ_TRY(tq_net_grad_acc(n, n->dact[l->from], n->dact[li], cnt, n->first_use[l->from] != li, e));
  return TQ_OK;
}

const tq_layer_ops tq_add_ops = {
    .name = "add",
    .keys = add_keys,
    .reads_from = true,
    .shape = add_shape,
    .forward = add_forward,
    .backward = add_backward,
};
