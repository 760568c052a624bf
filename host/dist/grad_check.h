/* Counting non-finite gradient values on the device, before they are compressed and sent. */
#ifndef TQ_DIST_GRAD_CHECK_H
#define TQ_DIST_GRAD_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "cl/cl_runtime.h"

typedef struct tq_grad_check {
  cl_kernel k;
  cl_mem counts;
  uint32_t *host;
  size_t groups, chunk;
} tq_grad_check;

/* Sized for buffers of up to n floats. */
tq_status tq_grad_check_init(tq_grad_check *g, const tq_cl *cl, size_t n, tq_err *e);
void tq_grad_check_free(tq_grad_check *g);

/* Non-finite values among x[off, off + n) (n up to the size given at init). Synchronises. */
tq_status tq_grad_check_run(tq_grad_check *g, const tq_cl *cl, cl_mem x, size_t off, size_t n,
                            uint64_t *bad, tq_err *e);

/* The plain-C reference. */
uint64_t tq_count_nonfinite(const float *x, size_t n);

#endif
