/* Device memory a replica of a model needs at a batch size (the buffers of tq_net). */
#ifndef TQ_NN_MEMORY_H
#define TQ_NN_MEMORY_H

#include <stddef.h>

#include "nn/model.h"

size_t tq_net_device_bytes(const tq_model *m, int batch);
/* The largest single buffer, to compare with the device's largest allocation. */
size_t tq_net_largest_buffer(const tq_model *m, int batch);

#endif
