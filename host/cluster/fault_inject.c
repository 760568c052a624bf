/* Injected faults (cfg.faults, for tests and resilience studies) act where a real one would:
 * the crash before any work, the NaN in the gradient, the damage to a message after its
 * checksum, the stall before the send. The worker's step calls this hook at each of those
 * points; nothing here runs unless the plan is active. */
#include <math.h>
#include <time.h>

#include "cluster/cluster_internal.h"

static bool hits(const tq_fault_plan *f, int worker, int iteration, const worker_state *w,
                 const tq_step_in *in) {
  return f->active && worker == w->id && (uint32_t)iteration == in->iteration;
}

static void sleep_seconds(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

bool tq_fault_crashed(const worker_state *w, const tq_step_in *in) {
  const tq_fault_plan *f = &w->c->cfg.faults;
  return f->active && f->crash_worker == w->id && in->iteration >= (uint32_t)f->crash_iteration;
}

tq_status tq_fault_inject(worker_state *w, tq_fault_point at, const tq_step_in *in, tq_err *e) {
  const tq_cluster *c = w->c;
  const tq_fault_plan *f = &c->cfg.faults;
  switch (at) {
  case TQ_FAULT_AT_GRADIENT:
    if (hits(f, f->nan_worker, f->nan_iteration, w, in)) {
      const tq_tensor *big = &c->m->tensors[c->largest];
      float nan = NAN;
      return tq_cl_write(&w->cl, w->net.grads, (big->offset + big->count / 2) * sizeof(float),
                         sizeof nan, &nan, e);
    }
    return TQ_OK;
  case TQ_FAULT_AT_MESSAGE:
    if (hits(f, f->corrupt_worker, f->corrupt_iteration, w, in)) {
      tq_msg *m = &w->pending[0];
      if (f->corrupt == TQ_CORRUPT_TRUNCATE)
        m->len /= 2;
      else
        m->data[m->len / 2] ^= 0x40;
    }
    return TQ_OK;
  case TQ_FAULT_AT_SEND:
    if (hits(f, f->stall_worker, f->stall_iteration, w, in)) sleep_seconds(f->stall_seconds);
    return TQ_OK;
  }
  return TQ_OK;
}
