/* The buffer plan of a replica, from the layer kinds' ops (layer.h): net.c allocates it, the
 * cluster checks it against the devices before anything is allocated. */
#include "nn/memory.h"

#include <string.h>

static size_t at_least_1(size_t v) { return v ? v : 1; }

void tq_net_plan_make(const tq_model *m, int batch, tq_net_plan *p) {
  memset(p, 0, sizeof *p);
  size_t B = (size_t)batch;
  p->nparams = m->nparams;
  p->input = B * tq_shape_size(m->input);
  p->batch = B;
  p->state = at_least_1(m->nstate);
  for (int i = 0; i < m->nlayers; i++) p->first_use[i] = -1;
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer *l = &m->layers[i];
    if (l->src >= 0) p->first_use[l->src] = i;
    if (tq_layer_ops_of(l->kind)->reads_from && l->from >= 0) p->first_use[l->from] = i;
  }
  size_t dtmp = 1, scratch = 1;
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer *l = &m->layers[i];
    const tq_layer_ops *ops = tq_layer_ops_of(l->kind);
    /* A layer that is not its input's first reader writes its input gradient to dtmp (add
     * adds into its inputs' gradients itself). */
    if (!ops->reads_from && l->src >= 0 && p->first_use[l->src] != i &&
        B * tq_shape_size(l->in) > dtmp)
      dtmp = B * tq_shape_size(l->in);
    p->out[i] = B * tq_shape_size(l->out);
    p->shared[i] = ops->shares_input && ops->shares_input(m, i);
    if (p->shared[i] || !ops->buffers) continue;
    size_t s = 0;
    ops->buffers(m, i, B, &p->own[i], &s);
    if (s > scratch) scratch = s;
  }
  p->dtmp = dtmp;
  p->scratch = scratch;
}

bool tq_net_plan_own_dact(const tq_model *m, const tq_net_plan *p, int i) {
  return !p->shared[i] || m->layers[i].src < 0;
}

size_t tq_net_device_bytes(const tq_model *m, int batch) {
  tq_net_plan p;
  tq_net_plan_make(m, batch, &p);
  size_t f = sizeof(float), ci = sizeof(int), total = 0;
  total += 3 * p.nparams * f;                   /* params, grads, momentum */
  total += p.input * f + p.batch * (ci + f + ci); /* input, labels, loss, correct */
  total += (p.dtmp + p.state + p.scratch) * f;
  for (int i = 0; i < m->nlayers; i++) {
    if (!p.shared[i]) total += p.out[i] * f;                   /* activations */
    if (tq_net_plan_own_dact(m, &p, i)) total += p.out[i] * f; /* their gradients */
    total += p.own[i].count * p.own[i].elem;
  }
  return total;
}

size_t tq_net_largest_buffer(const tq_model *m, int batch) {
  tq_net_plan p;
  tq_net_plan_make(m, batch, &p);
  size_t f = sizeof(float), big = p.nparams * f;
  size_t flat[] = {p.input, p.dtmp, p.state, p.scratch};
  for (size_t i = 0; i < sizeof flat / sizeof flat[0]; i++)
    if (flat[i] * f > big) big = flat[i] * f;
  for (int i = 0; i < m->nlayers; i++) {
    if (p.out[i] * f > big) big = p.out[i] * f;
    if (p.own[i].count * p.own[i].elem > big) big = p.own[i].count * p.own[i].elem;
  }
  return big;
}
