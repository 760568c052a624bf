/* How much device memory a replica needs, from the model alone: the same buffers tq_net_create
 * allocates (net.c), so an impossible configuration is refused before anything is allocated. */
#include "nn/memory.h"

size_t tq_net_device_bytes(const tq_model *m, int batch) {
  size_t B = (size_t)batch, f = sizeof(float), total = 0, scratch = 1;
  total += 3 * m->nparams * f;                       /* params, grads, momentum */
  total += B * tq_shape_size(m->input) * f + 4 * B * 3; /* input, labels, loss, correct */
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer *l = &m->layers[i];
    size_t out = B * tq_shape_size(l->out);
    if (l->kind == TQ_LAYER_FLATTEN) continue;       /* a view of its input */
    total += 2 * out * f;                            /* activations and their gradients */
    if (l->kind == TQ_LAYER_CONV2D) {
      size_t npix = B * (size_t)l->out.h * (size_t)l->out.w;
      total += (size_t)l->in.c * l->size * l->size * npix * f; /* im2col columns */
      if ((size_t)l->units * npix > scratch) scratch = (size_t)l->units * npix;
    } else if (l->kind == TQ_LAYER_MAXPOOL) {
      total += out * sizeof(int);                    /* argmax */
    } else if (l->kind == TQ_LAYER_BATCHNORM) {
      total += 4 * (size_t)l->in.c * f;              /* batch statistics */
    }
  }
  /* running statistics; the shared-input gradient (at most the largest layer input) */
  size_t dtmp = 1;
  for (int i = 0; i < m->nlayers; i++)
    if (m->layers[i].uses > 1 && B * tq_shape_size(m->layers[i].out) > dtmp)
      dtmp = B * tq_shape_size(m->layers[i].out);
  total += (m->nstate ? m->nstate : 1) * f + dtmp * f;
  return total + scratch * f;
}

size_t tq_net_largest_buffer(const tq_model *m, int batch) {
  size_t B = (size_t)batch, f = sizeof(float), big = m->nparams * f;
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer *l = &m->layers[i];
    size_t out = B * tq_shape_size(l->out) * f;
    if (out > big) big = out;
    if (l->kind == TQ_LAYER_CONV2D) {
      size_t npix = B * (size_t)l->out.h * (size_t)l->out.w;
      size_t col = (size_t)l->in.c * l->size * l->size * npix * f;
      if (col > big) big = col;
    }
  }
  return big;
}
