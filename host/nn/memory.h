/* The device buffers of a replica (tq_net) of a model at a batch size, planned from the model
 * alone: tq_net_create allocates exactly this plan, and the cluster refuses, before anything is
 * allocated, a configuration whose replicas cannot fit (tq_net_device_bytes). */
#ifndef TQ_NN_MEMORY_H
#define TQ_NN_MEMORY_H

#include <stdbool.h>
#include <stddef.h>

#include "nn/layer.h"

typedef struct tq_net_plan {
  size_t nparams; /* floats of each of params, grads, momentum */
  size_t input;   /* floats of the input batch */
  size_t batch;   /* B: labels (ints), loss (floats), correct (ints) */
  size_t dtmp;    /* floats of the shared-input gradient (at least 1) */
  size_t state;   /* floats of the running statistics (at least 1) */
  size_t scratch; /* floats of the convolution scratch (at least 1) */
  /* The last layer reading layer i's output (its src or add's from): the first in the backward
   * pass, which writes dact[i]; -1 for the last layer. */
  int first_use[TQ_MAX_LAYERS];
  /* Per layer: whether act and dact are its input's buffers (shares_input; a layer reading the
   * network input still has a dact of its own), their floats otherwise, and its own buffer. */
  bool shared[TQ_MAX_LAYERS];
  size_t out[TQ_MAX_LAYERS];
  tq_layer_buffer own[TQ_MAX_LAYERS];
} tq_net_plan;

void tq_net_plan_make(const tq_model *m, int batch, tq_net_plan *p);

/* Whether layer i of the plan allocates its own dact (not shared, or shared but reading the
 * network input, whose gradient nobody keeps). */
bool tq_net_plan_own_dact(const tq_model *m, const tq_net_plan *p, int i);

/* Device bytes of every buffer tq_net_create allocates for m at this batch size. */
size_t tq_net_device_bytes(const tq_model *m, int batch);
/* The largest single buffer, to compare with the device's largest allocation. */
size_t tq_net_largest_buffer(const tq_model *m, int batch);

#endif
