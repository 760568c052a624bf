/* The server's half of a step: filing what the workers send (every message validated: invalid,
 * stale and duplicate ones counted and dropped), the deadline for this process's workers, the
 * fault policies, then decode-average in a fixed order, SGD, and the step's figures. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_internal.h"
#include "util/fileio.h"

tq_verdict tq_cluster_file_message(tq_cluster *c, uint32_t worker, int t, uint8_t *data,
                                   size_t len, uint32_t iteration, long *rejected) {
  tq_wire_msg parsed;
  tq_err why = {0};
  bool known = worker < (uint32_t)c->cfg.workers;
  bool valid = data && known && t >= 0 && t < c->ntensors &&
               tq_wire_parse(data, len, (uint32_t)t, (uint32_t)c->tensors[t].count, &parsed,
                             &why) == TQ_OK &&
               parsed.h.worker == worker;
  tq_msg *slot = valid ? &c->slots[worker * (uint32_t)c->ntensors + (uint32_t)t] : NULL;
  tq_verdict v;
  if (!valid) {
    c->rejects.invalid++;
    v = TQ_INVALID;
    /* The worker's gradient is unusable this step: a part of it is lost. */
    if (known && !c->invalid[worker]) {
      c->invalid[worker] = true;
      snprintf(c->why[worker], sizeof c->why[worker], "invalid message for %s: %s",
               t >= 0 && t < c->ntensors ? c->m->tensors[t].name : "an unknown tensor",
               why.msg[0] ? why.msg : "malformed");
    }
  } else if (parsed.h.iteration != iteration) {
    c->rejects.stale++;
    v = TQ_STALE;
  } else if (slot->data) {
    c->rejects.duplicate++;
    v = TQ_DUPLICATE;
  } else {
    slot->kind = TQ_MSG_GRADIENT;
    slot->data = data;
    slot->len = len;
    slot->worker = worker;
    slot->tensor = t;
    slot->iteration = iteration;
    return TQ_FILED;
  }
  (*rejected)++;
  free(data);
  return v;
}

tq_status tq_cluster_file_report(tq_cluster *c, const tq_worker_report *r, tq_err *e) {
  if (r->worker >= (uint32_t)c->cfg.workers)
    return tq_fail(e, TQ_EINPUT, "a report names worker %u of %d", r->worker, c->cfg.workers);
  c->reports[r->worker] = *r;
  c->have_report[r->worker] = true;
  return TQ_OK;
}

/* Pops this process's workers' messages for the step, until every expected worker delivered
 * (all its tensors, valid or not) or the deadline passed. A worker's failure (TQ_MSG_FAILED)
 * stops the step at once; a non-finite notice counts as delivery of an unusable gradient;
 * stale messages (from a worker that stalled past an earlier deadline) and duplicates are
 * dropped. */
static tq_status collect(tq_cluster *c, uint32_t iteration, double *t_queue, long *rejected,
                         tq_err *e) {
  int pending = 0;
  for (int w = 0; w < c->cfg.workers; w++) pending += tq_cluster_is_local(c, w) && !c->dropped[w];
  double deadline = tq_now_seconds() + c->cfg.msg_timeout_s, queued = 0;
  int popped = 0;
  while (pending > 0) {
    double left = deadline - tq_now_seconds();
    tq_msg m;
    int r = left > 0 ? tq_queue_pop(&c->q, &m, left) : 0;
    if (r <= 0) break; /* the deadline: who is missing is sorted out by the update */
    uint32_t w = m.worker;
    if (m.kind == TQ_MSG_FAILED) {
      const worker_state *k = &c->w[w < (uint32_t)c->cfg.workers ? w : 0];
      return tq_fail(e, k->err.code ? k->err.code : TQ_EINTERNAL, "worker %u failed: %s", w,
                     k->err.msg);
    }
    bool current = m.iteration == iteration && w < (uint32_t)c->cfg.workers && !c->done[w];
    if (m.kind == TQ_MSG_NONFINITE) { /* nothing else comes from it this step */
      if (current) {
        c->done[w] = true;
        pending--;
      }
      continue;
    }
    queued += tq_now_seconds() - m.t_push;
    popped++;
    tq_verdict v = tq_cluster_file_message(c, w, m.tensor, m.data, m.len, iteration, rejected);
    if (current && (v == TQ_FILED || v == TQ_INVALID) && ++c->arrived[w] == c->ntensors) {
      c->done[w] = true;
      pending--;
    }
  }
  *t_queue = popped ? queued / popped : 0;
  return TQ_OK;
}

tq_status tq_cluster_run_local(tq_cluster *c, const tq_step_in *in, double *t_queue, long *rejected,
                               tq_err *e) {
  memset(c->have_report, 0, sizeof c->have_report);
  memset(c->arrived, 0, sizeof c->arrived);
  memset(c->invalid, 0, sizeof c->invalid);
  memset(c->done, 0, sizeof c->done);
  pthread_mutex_lock(&c->mu);
  c->in = in;
  c->generation++;
  pthread_cond_broadcast(&c->go);
  pthread_mutex_unlock(&c->mu);
  TQ_TRY(collect(c, in->iteration, t_queue, rejected, e));
  const size_t np = c->m->nparams;
  if (c->raw_sum) memset(c->raw_sum, 0, np * sizeof *c->raw_sum);
  for (int w = 0; w < c->cfg.workers; w++) {
    if (!tq_cluster_is_local(c, w) || c->dropped[w] || !c->done[w]) continue;
    tq_worker_report rep = c->w[w].rep;
    if (c->invalid[w] && rep.usable) {
      rep.usable = 0;
      snprintf(rep.reason, sizeof rep.reason, "%s", c->why[w]);
    }
    TQ_TRY(tq_cluster_file_report(c, &rep, e));
    if (c->raw_sum && rep.usable)
      for (size_t i = 0; i < np; i++) c->raw_sum[i] += c->w[w].raw[i];
  }
  /* Under MPI a rank other than 0 drops its own silent workers as rank 0 will (same policy). */
  if (c->cfg.nranks > 1 && c->cfg.rank != 0 && c->cfg.on_missing == TQ_FAULT_CONTINUE)
    for (int w = 0; w < c->cfg.workers; w++)
      if (tq_cluster_is_local(c, w) && !c->done[w]) c->dropped[w] = true;
  return TQ_OK;
}

static void add_event(char *buf, size_t cap, const char *fmt, int w, const char *what) {
  size_t used = strlen(buf);
  if (used + 8 < cap)
    snprintf(buf + used, cap - used, fmt, used ? "; " : "", w, what);
}

static bool reported(const tq_cluster *c, int w, uint32_t iteration) {
  return c->have_report[w] && c->reports[w].iteration == iteration;
}

/* Which workers' gradients this step averages (use[w]); the others are missing (no report or
 * not every tensor) or unusable (a NaN/Inf or an invalid message), each named in out->events.
 * Returns how many are used. */
static int sort_workers(const tq_cluster *c, uint32_t iteration, bool *use, tq_step_out *out) {
  int used = 0;
  out->events[0] = '\0';
  for (int w = 0; w < c->cfg.workers; w++) {
    if (c->dropped[w]) continue;
    bool complete = reported(c, w, iteration);
    for (int t = 0; complete && t < c->ntensors; t++)
      complete = c->slots[w * c->ntensors + t].data != NULL || !c->reports[w].usable || c->invalid[w];
    if (!complete) {
      out->missing++;
      add_event(out->events, sizeof out->events, "%sworker %d %s", w,
                c->cfg.on_missing == TQ_FAULT_CONTINUE ? "missed the deadline and is dropped"
                                                       : "missed the deadline");
    } else if (!c->reports[w].usable || c->invalid[w]) {
      out->unusable++;
      add_event(out->events, sizeof out->events, "%sworker %d: %s", w,
                c->invalid[w] ? c->why[w] : c->reports[w].reason);
    } else {
      use[w] = true;
      used++;
    }
  }
  return used;
}

/* workers.on_missing and workers.on_invalid: stop the run, or go on without those workers (one
 * that missed the deadline is dropped for the rest of the run). */
static tq_status apply_policies(tq_cluster *c, uint32_t iteration, const bool *use, int used,
                                const tq_step_out *out, tq_err *e) {
  if (out->missing && c->cfg.on_missing == TQ_FAULT_STOP)
    return tq_fail(e, TQ_ETIMEOUT,
                   "iteration %u: %s (workers.timeout_s = %g s, workers.on_missing = stop)",
                   iteration, out->events, c->cfg.msg_timeout_s);
  if (out->unusable && c->cfg.on_invalid == TQ_FAULT_STOP)
    return tq_fail(e, TQ_EINPUT, "iteration %u: %s (workers.on_invalid = stop)", iteration,
                   out->events);
  /* Every worker out: missing ones make it a deadline; otherwise every gradient was unusable
   * (NaN/Inf or invalid messages), which the stop policy reports as bad input too. */
  if (used == 0)
    return tq_fail(e, out->missing ? TQ_ETIMEOUT : TQ_EINPUT,
                   "iteration %u: no worker delivered a usable gradient: %s", iteration,
                   out->events);
  for (int w = 0; w < c->cfg.workers; w++)
    if (!c->dropped[w] && !use[w] && !reported(c, w, iteration)) c->dropped[w] = true;
  return TQ_OK;
}

/* Decode-accumulate the used workers' messages, weight 1/used, into the server's gradient.
 * Fixed order, whatever order the messages came in: the sum is the same on every run. Every
 * message is queued (uploads not waited for) and the server waits once; the uploads read the
 * messages, so they are freed only after that wait, also after an error. */
static tq_status decode_average(tq_cluster *c, const bool *use, int used, tq_err *e) {
  const int N = c->cfg.workers;
  TQ_TRY(tq_cl_fill_zero(&c->server_cl, c->server.grads, 0, c->m->nparams * sizeof(float), e));
  const float weight = 1.0f / (float)used;
  tq_status s = TQ_OK;
  for (int w = 0; w < N && s == TQ_OK; w++)
    for (int t = 0; t < c->ntensors && s == TQ_OK; t++) {
      tq_msg *m = &c->slots[w * c->ntensors + t];
      if (use[w]) {
        s = tq_decoder_queue(c->dec, m->data, m->len, t, weight, c->server.grads, NULL, e);
        if (s != TQ_OK) tq_wrap(e, "decoding worker %d's tensor %s", w, c->m->tensors[t].name);
      }
    }
  tq_err fe = {0};
  tq_status fs = tq_decoder_finish(c->dec, &fe);
  for (int i = 0; i < N * c->ntensors; i++) {
    free(c->slots[i].data);
    c->slots[i].data = NULL;
  }
  TQ_TRY(s);
  if (fs != TQ_OK) {
    *e = fe;
    return fs;
  }
  return TQ_CL(clFinish(c->server_cl.queue), e);
}

/* Per element, the decoded mean against the mean of the raw gradients (measure_mse). */
static tq_status quant_mse(tq_cluster *c, int used, double *mse, tq_err *e) {
  const size_t np = c->m->nparams;
  TQ_TRY(tq_cl_read(&c->server_cl, c->server.grads, 0, np * sizeof(float), c->decoded, e));
  double se = 0;
  for (size_t i = 0; i < np; i++) {
    double d = (double)c->decoded[i] - c->raw_sum[i] / used;
    se += d * d;
  }
  *mse = se / (double)np;
  return TQ_OK;
}

/* The step's figures from the used workers' reports; the fit of the first one averaged in. */
static void fold_reports(const tq_cluster *c, const bool *use, int used, tq_step_out *out) {
  out->gamma = out->g_min = out->alpha = NAN;
  for (int w = 0; w < c->cfg.workers; w++)
    if (use[w]) {
      out->gamma = c->reports[w].gamma;
      out->g_min = c->reports[w].g_min;
      out->alpha = c->reports[w].alpha;
      break;
    }
  for (int w = 0; w < c->cfg.workers; w++) {
    if (!use[w]) continue;
    const tq_worker_report *k = &c->reports[w];
    out->loss_sum += k->loss_sum;
    out->correct += k->correct;
    out->samples += k->samples;
    out->bits += k->bits;
    out->bits_fp32 += k->bits_fp32;
    if (k->bits > out->max_worker_bits) out->max_worker_bits = k->bits;
    out->t_compute += k->t_compute / used;
    out->t_encode += k->t_encode / used;
    if (k->t_compute + k->t_encode > out->t_worker_max) out->t_worker_max = k->t_compute + k->t_encode;
  }
}

tq_status tq_cluster_server_update(tq_cluster *c, const tq_step_in *in, tq_step_out *out,
                                   tq_err *e) {
  const size_t np = c->m->nparams;
  bool use[TQ_MAX_WORKERS] = {false};
  int used = sort_workers(c, in->iteration, use, out);
  TQ_TRY(apply_policies(c, in->iteration, use, used, out, e));
  out->workers_used = used;
  double t0 = tq_now_seconds();
  TQ_TRY(decode_average(c, use, used, e));
  double t1 = tq_now_seconds();
  out->t_decode = t1 - t0;
  out->quant_mse = NAN;
  if (c->cfg.measure_mse) TQ_TRY(quant_mse(c, used, &out->quant_mse, e));
  double t2 = tq_now_seconds();
  TQ_TRY(tq_net_sgd(&c->server, in->lr, in->momentum, in->weight_decay, e));
  if (c->state_host) TQ_TRY(tq_net_write_state(&c->server, c->state_host, e));
  TQ_TRY(tq_cl_read(&c->server_cl, c->server.params, 0, np * sizeof(float), c->params_host, e));
  out->t_update = tq_now_seconds() - t2;
  fold_reports(c, use, used, out);
  return TQ_OK;
}

tq_status tq_cluster_step(tq_cluster *c, const tq_step_in *in, tq_step_out *out, tq_err *e) {
  memset(out, 0, sizeof *out);
  TQ_TRY(tq_cluster_run_local(c, in, &out->t_queue, &out->rejected, e));
  return tq_cluster_server_update(c, in, out, e);
}

const tq_worker_report *tq_cluster_report(const tq_cluster *c, int worker) { return &c->reports[worker]; }

const uint8_t *tq_cluster_message(const tq_cluster *c, int worker, int tensor, size_t *len) {
  const tq_msg *m = &c->slots[worker * c->ntensors + tensor];
  *len = m->len;
  return m->data;
}

void tq_cluster_drop_messages(tq_cluster *c) {
  for (int i = 0; i < c->ntensors * c->cfg.workers; i++) {
    free(c->slots[i].data);
    c->slots[i].data = NULL;
  }
}
