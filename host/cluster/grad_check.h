/* Counting non-finite gradient values on the device, before they are compressed and sent. */
#ifndef TQ_CLUSTER_GRAD_CHECK_H
#define TQ_CLUSTER_GRAD_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "cl/cl_runtime.h"

typedef struct tq_grad_check {
  cl_kernel k;
  cl_mem counts;
  uint32_t *host;
  size_t groups, chunk;
  size_t queued; /* chunks of the last tq_grad_check_queue */
} tq_grad_check;

/* Sized for buffers of up to n floats. */
tq_status tq_grad_check_init(tq_grad_check *g, const tq_cl *cl, size_t n, tq_err *e);
void tq_grad_check_free(tq_grad_check *g);

/* Non-finite values among x[off, off + n) (n up to the size given at init). Synchronises. */
tq_status tq_grad_check_run(tq_grad_check *g, const tq_cl *cl, cl_mem x, size_t off, size_t n,
                            uint64_t *bad, tq_err *e);

/* The same in two halves, so that the count's read shares a wait with other work: _queue
 * launches the count and a non-blocking read; after the caller has waited on cl's queue
 * (clFinish or a blocking read queued later), _total sums it. */
tq_status tq_grad_check_queue(tq_grad_check *g, const tq_cl *cl, cl_mem x, size_t off, size_t n,
                              tq_err *e);
uint64_t tq_grad_check_total(const tq_grad_check *g);

/* The plain-C reference. */
uint64_t tq_count_nonfinite(const float *x, size_t n);

#endif
