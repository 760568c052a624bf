/* The workers: one thread each, with its own replica, queue, kernels and compressors. A step:
 * compute the gradient on the worker's batch, count NaN/Inf, encode every tensor, push the
 * messages to the server's queue. Injected faults act through fault_inject.c's hook. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_internal.h"
#include "util/fileio.h"

tq_status tq_worker_make(tq_cluster *c, int id, const tq_cl *dev, tq_err *e) {
  worker_state *w = &c->w[id];
  w->c = c;
  w->id = id;
  w->cl = *dev;
  w->cl.queue = NULL;
  TQ_TRY(tq_cl_new_queue(dev, &w->cl.queue, e));
  TQ_TRY(tq_net_create(&w->net, c->m, &w->cl, c->cfg.batch, c->cfg.seed, (uint32_t)id, e));
  w->net_made = true;
  TQ_TRY(tq_compressor_create(&w->cl, &c->cfg.compress, (uint32_t)id, c->tensors, c->ntensors,
                              &w->comp, e));
  tq_compress_cfg plain = c->cfg.compress;
  plain.method = TQ_METHOD_NONE;
  plain.error_feedback = false;
  plain.bits = 32;
  TQ_TRY(tq_compressor_create(&w->cl, &plain, (uint32_t)id, c->tensors, c->ntensors, &w->fp32, e));
  size_t per = tq_shape_size(c->m->input);
  w->x = malloc((size_t)c->cfg.batch * per * sizeof *w->x);
  w->y = malloc((size_t)c->cfg.batch * sizeof *w->y);
  w->pending = calloc((size_t)c->ntensors, sizeof *w->pending);
  w->bufs = calloc((size_t)c->ntensors, sizeof *w->bufs);
  if (c->cfg.measure_mse) w->raw = malloc(c->m->nparams * sizeof *w->raw);
  TQ_TRY(tq_grad_check_init(&w->check, &w->cl, c->m->nparams, e));
  w->rep.gamma = w->rep.g_min = w->rep.alpha = NAN;
  if (!w->x || !w->y || !w->pending || !w->bufs || (c->cfg.measure_mse && !w->raw))
    return tq_fail(e, TQ_ENOMEM, "out of host memory for worker %d", id);
  return TQ_OK;
}

void tq_worker_free(tq_cluster *c, worker_state *k) {
  if (k->net_made) tq_net_destroy(&k->net);
  tq_compressor_free(k->comp);
  tq_compressor_free(k->fp32);
  tq_buf_free(&k->msg);
  if (k->pending)
    for (int t = 0; t < c->ntensors; t++) free(k->pending[t].data);
  free(k->pending);
  if (k->bufs)
    for (int t = 0; t < c->ntensors; t++) tq_buf_free(&k->bufs[t]);
  free(k->bufs);
  free(k->x);
  free(k->y);
  free(k->raw);
  if (k->check.k) tq_grad_check_free(&k->check);
  if (k->cl.queue) clReleaseCommandQueue(k->cl.queue);
}

/* A message with no payload: TQ_MSG_FAILED or TQ_MSG_NONFINITE. */
static tq_status push_notice(worker_state *w, uint32_t iteration, tq_msg_kind kind, tq_err *e) {
  tq_msg m = {.kind = kind, .data = NULL, .worker = (uint32_t)w->id, .iteration = iteration,
              .tensor = -1};
  return tq_queue_push(&w->c->q, &m, e);
}

/* Forward and backward on the worker's batch with the step's parameters; the loss, correct
 * count and compute time go into its report. */
static tq_status compute(worker_state *w, const tq_step_in *in, tq_err *e) {
  tq_cluster *c = w->c;
  const tq_worker_batch *b = &in->batches[w->id];
  size_t np = c->m->nparams;
  double t0 = tq_now_seconds();
  TQ_TRY(tq_cl_write(&w->cl, w->net.params, 0, np * sizeof(float), c->params_host, e));
  if (w->state_pending) {
    TQ_TRY(tq_net_write_state(&w->net, c->state_load, e));
    w->state_pending = false;
  }
  tq_augment aug = {in->augment, c->cfg.seed, (uint32_t)w->id, in->iteration};
  TQ_TRY(tq_dataset_fill_batch_aug(in->data, b->idx, (size_t)b->count, in->norm, &aug, w->x, w->y, e));
  TQ_TRY(tq_net_set_batch(&w->net, w->x, w->y, b->count, e));
  TQ_TRY(tq_net_forward(&w->net, true, in->iteration, e));
  TQ_TRY(tq_softmax_xent(&w->net, b->count, e));
  TQ_TRY(tq_net_backward(&w->net, in->iteration, e));
  tq_worker_report *r = &w->rep;
  int correct = 0;
  TQ_TRY(tq_net_read_loss(&w->net, b->count, &r->loss_sum, &correct, e));
  if (w->id == 0 && c->state_host) TQ_TRY(tq_net_read_state(&w->net, c->state_host, e));
  r->worker = (uint32_t)w->id;
  r->iteration = in->iteration;
  r->correct = (uint32_t)correct;
  r->samples = (uint32_t)b->count;
  r->t_compute = tq_now_seconds() - t0;
  return TQ_OK;
}

/* A NaN or Inf must not reach the parameters, whatever the method: counted here, before any
 * quantizer could turn it into a valid-looking code. The count shares one wait with the
 * statistics of the tensors that refit (queued now, unused if the count is not zero; with
 * error feedback the compressor queues nothing here, as r = g + r must wait for it). The
 * report says whether the gradient is usable. */
static tq_status check_gradient(worker_state *w, const tq_step_in *in, tq_compressor *comp,
                                tq_err *e) {
  TQ_TRY(tq_grad_check_queue(&w->check, &w->cl, w->net.grads, 0, w->c->m->nparams, e));
  TQ_TRY(tq_compressor_queue_stats(comp, w->net.grads, in->iteration, e));
  TQ_TRY(TQ_CL(clFinish(w->cl.queue), e));
  tq_worker_report *r = &w->rep;
  uint64_t bad = tq_grad_check_total(&w->check);
  r->nonfinite = bad;
  r->usable = bad == 0;
  r->reason[0] = '\0';
  r->bits = r->bits_fp32 = r->t_encode = 0;
  if (bad)
    snprintf(r->reason, sizeof r->reason, "its gradient holds %llu NaN/Inf values",
             (unsigned long long)bad);
  return TQ_OK;
}

/* Every tensor at once (the statistics are in: one more wait for all payloads) into
 * w->pending, one TQ_MSG_GRADIENT each; bits and the largest tensor's fit into the report. */
static tq_status encode(worker_state *w, const tq_step_in *in, tq_compressor *comp, tq_err *e) {
  tq_cluster *c = w->c;
  tq_worker_report *r = &w->rep;
  r->bits = r->bits_fp32 = 0;
  tq_encode_info *infos = malloc(sizeof *infos * (size_t)c->ntensors);
  if (!infos) return tq_fail(e, TQ_ENOMEM, "worker %d: out of memory", w->id);
  tq_status es = tq_compressor_encode_all(comp, w->net.grads, in->iteration, w->bufs, infos, e);
  for (int t = 0; es == TQ_OK && t < c->ntensors; t++) {
    const tq_encode_info *info = &infos[t];
    double bits = (double)(info->size.header_bits + info->size.payload_bits + info->size.pad_bits);
    r->bits += bits;
    r->bits_fp32 += 32.0 * (double)c->tensors[t].count;
    if (t == c->largest && tq_method_is_truncated(info->method)) {
      r->gamma = info->fit.gamma;
      r->g_min = info->fit.g_min;
      r->alpha = info->design.alpha;
    }
    /* The message changes hands: the queue frees it; the next step's encode allocates. */
    tq_msg *m = &w->pending[t];
    m->kind = TQ_MSG_GRADIENT;
    m->data = w->bufs[t].data;
    m->len = w->bufs[t].len;
    w->bufs[t] = (tq_buf){0};
    m->worker = (uint32_t)w->id;
    m->iteration = in->iteration;
    m->tensor = t;
  }
  free(infos);
  return es;
}

/* All the step's messages to the server; on failure the ones not pushed are freed. */
static tq_status push_messages(worker_state *w, tq_err *e) {
  tq_cluster *c = w->c;
  for (int t = 0; t < c->ntensors; t++) {
    tq_status s = tq_queue_push(&c->q, &w->pending[t], e);
    if (s != TQ_OK) {
      for (int k = t; k < c->ntensors; k++) {
        free(w->pending[k].data);
        w->pending[k].data = NULL;
      }
      return s;
    }
  }
  return TQ_OK;
}

static tq_status worker_step(worker_state *w, const tq_step_in *in) {
  tq_cluster *c = w->c;
  tq_err *e = &w->err;
  if (tq_fault_crashed(w, in)) return TQ_OK;
  TQ_TRY(compute(w, in, e));
  double t1 = tq_now_seconds();
  TQ_TRY(tq_fault_inject(w, TQ_FAULT_AT_GRADIENT, in, e));
  tq_compressor *comp = in->compress ? w->comp : w->fp32;
  TQ_TRY(check_gradient(w, in, comp, e));
  if (!w->rep.usable) return push_notice(w, in->iteration, TQ_MSG_NONFINITE, e);
  if (c->cfg.measure_mse)
    TQ_TRY(tq_cl_read(&w->cl, w->net.grads, 0, c->m->nparams * sizeof(float), w->raw, e));
  TQ_TRY(encode(w, in, comp, e));
  w->rep.t_encode = tq_now_seconds() - t1;
  TQ_TRY(tq_fault_inject(w, TQ_FAULT_AT_MESSAGE, in, e));
  TQ_TRY(tq_fault_inject(w, TQ_FAULT_AT_SEND, in, e));
  return push_messages(w, e);
}

void *tq_worker_main(void *arg) {
  worker_state *w = arg;
  tq_cluster *c = w->c;
  uint64_t seen = 0;
  for (;;) {
    pthread_mutex_lock(&c->mu);
    while (c->generation == seen && !c->stopping) pthread_cond_wait(&c->go, &c->mu);
    if (c->stopping) {
      pthread_mutex_unlock(&c->mu);
      break;
    }
    seen = c->generation;
    const tq_step_in *in = c->in;
    bool dropped = c->dropped[w->id];
    pthread_mutex_unlock(&c->mu);
    if (dropped) continue;
    tq_err_clear(&w->err);
    bool serial = w->cl.quirks.one_thread_at_a_time;
    if (serial) pthread_mutex_lock(&c->serial);
    tq_status s = worker_step(w, in);
    if (serial) pthread_mutex_unlock(&c->serial);
    if (s != TQ_OK) {
      /* Tell the server at once rather than letting it wait for a deadline. */
      tq_err ignore = {0};
      push_notice(w, in->iteration, TQ_MSG_FAILED, &ignore);
    }
  }
  return NULL;
}
