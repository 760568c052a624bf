#include "cluster/grad_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* About 256 chunks: enough parallel work for a CPU or GPU device, little to read back. */
enum { TARGET_GROUPS = 256, MIN_CHUNK = 1024 };

tq_status tq_grad_check_init(tq_grad_check *g, const tq_cl *cl, size_t n, tq_err *e) {
  memset(g, 0, sizeof *g);
  g->chunk = (n + TARGET_GROUPS - 1) / TARGET_GROUPS;
  if (g->chunk < MIN_CHUNK) g->chunk = MIN_CHUNK;
  g->groups = (n + g->chunk - 1) / g->chunk;
  if (g->groups == 0) g->groups = 1;
  TQ_TRY(tq_cl_kernel(cl, "dist_count_nonfinite", &g->k, e));
  TQ_TRY(tq_cl_alloc(cl, g->groups * sizeof(cl_uint), &g->counts, e));
  g->host = malloc(g->groups * sizeof *g->host);
  if (!g->host) return tq_fail(e, TQ_ENOMEM, "out of host memory");
  return TQ_OK;
}

void tq_grad_check_free(tq_grad_check *g) {
  if (g->k) clReleaseKernel(g->k);
  tq_cl_release(&g->counts);
  free(g->host);
  memset(g, 0, sizeof *g);
}

/* Queues the count of x[off, off + n) into g->counts; *groups: how many counts it writes. */
static tq_status launch(tq_grad_check *g, const tq_cl *cl, cl_mem x, size_t off, size_t n,
                        size_t *groups, tq_err *e) {
  *groups = (n + g->chunk - 1) / g->chunk;
  if (*groups > g->groups)
    return tq_fail(e, TQ_EINTERNAL, "gradient check sized for %zu chunks, asked for %zu",
                   g->groups, *groups);
  cl_uint o = (cl_uint)off, cnt = (cl_uint)n, ch = (cl_uint)g->chunk;
  tq_karg a[] = {TQ_ARG(x), TQ_ARG(o), TQ_ARG(cnt), TQ_ARG(ch), TQ_ARG(g->counts)};
  return tq_cl_run1d(cl, g->k, *groups, 0, a, "dist_count_nonfinite", e);
}

tq_status tq_grad_check_run(tq_grad_check *g, const tq_cl *cl, cl_mem x, size_t off, size_t n,
                            uint64_t *bad, tq_err *e) {
  size_t groups = 0;
  TQ_TRY(launch(g, cl, x, off, n, &groups, e));
  TQ_TRY(tq_cl_read(cl, g->counts, 0, groups * sizeof(cl_uint), g->host, e));
  uint64_t total = 0;
  for (size_t i = 0; i < groups; i++) total += g->host[i];
  *bad = total;
  return TQ_OK;
}

tq_status tq_grad_check_queue(tq_grad_check *g, const tq_cl *cl, cl_mem x, size_t off, size_t n,
                              tq_err *e) {
  size_t groups = 0;
  TQ_TRY(launch(g, cl, x, off, n, &groups, e));
  g->queued = groups;
  return TQ_CL(clEnqueueReadBuffer(cl->queue, g->counts, CL_FALSE, 0, groups * sizeof(cl_uint),
                                   g->host, 0, NULL, NULL), e);
}

uint64_t tq_grad_check_total(const tq_grad_check *g) {
  uint64_t total = 0;
  for (size_t i = 0; i < g->queued; i++) total += g->host[i];
  return total;
}

uint64_t tq_count_nonfinite(const float *x, size_t n) {
  uint64_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += !isfinite(x[i]);
  return bad;
}
