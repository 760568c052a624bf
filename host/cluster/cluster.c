/* The cluster as a whole: creation (devices, the server's replica and decoder, the queue, the
 * workers, the warm-up, the threads) and teardown, evaluation with the server's parameters, and
 * the server's state for checkpoints. The workers are in worker.c, the server's step in
 * server.c, devices and memory admission in cluster_devices.c (cluster_internal.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_internal.h"

bool tq_cluster_is_local(const tq_cluster *c, int worker) {
  return c->cfg.nranks <= 1 || worker % c->cfg.nranks == c->cfg.rank;
}

/* One thread runs a whole worker step on each device before the threads start: CLBlast 1.5.3
 * can fail when several threads make the first call of a routine at once (upstream issue
 * #486), and the first step must not spend the server's deadline compiling kernels. The encode
 * goes through a throwaway compressor, so no design or residual of the real ones changes. */
static tq_status warm_up(tq_cluster *c, const int *worker_dev, tq_err *e) {
  for (int d = 0; d < c->ndev; d++) {
    for (int w = 0; w < c->cfg.workers; w++) {
      if (worker_dev[w] != d || !tq_cluster_is_local(c, w)) continue;
      worker_state *k = &c->w[w];
      tq_net *n = &k->net;
      TQ_TRY(tq_net_forward(n, true, 0, e));
      TQ_TRY(tq_softmax_xent(n, c->cfg.batch, e));
      TQ_TRY(tq_net_backward(n, 0, e));
      uint64_t bad;
      TQ_TRY(tq_grad_check_run(&k->check, &k->cl, n->grads, 0, c->m->nparams, &bad, e));
      tq_compressor *tmp = NULL;
      tq_status s = tq_compressor_create(&k->cl, &c->cfg.compress, (uint32_t)w, c->tensors,
                                         c->ntensors, &tmp, e);
      for (int t = 0; s == TQ_OK && t < c->ntensors; t++)
        s = tq_compressor_encode(tmp, n->grads, 0, t, &k->msg, NULL, e);
      tq_compressor_free(tmp);
      TQ_TRY(s);
      TQ_TRY(TQ_CL(clFinish(k->cl.queue), e));
      break;
    }
  }
  TQ_TRY(tq_net_forward(&c->server, false, 0, e));
  return TQ_CL(clFinish(c->server_cl.queue), e);
}

static tq_status create(tq_cluster *c, tq_err *e) {
  const tq_cluster_cfg *cfg = &c->cfg;
  if (cfg->workers < 1 || cfg->workers > TQ_MAX_WORKERS)
    return tq_fail(e, TQ_EINPUT, "workers.count = %d: must be 1 to %d", cfg->workers, TQ_MAX_WORKERS);
  TQ_TRY(tq_compress_cfg_check(&cfg->compress, e));
  c->ntensors = c->m->ntensors;
  c->tensors = calloc((size_t)c->ntensors, sizeof *c->tensors);
  c->slots = calloc((size_t)c->ntensors * (size_t)cfg->workers, sizeof *c->slots);
  c->params_host = malloc(c->m->nparams * sizeof *c->params_host);
  if (!c->tensors || !c->slots || !c->params_host)
    return tq_fail(e, TQ_ENOMEM, "out of host memory for the cluster");
  for (int t = 0; t < c->ntensors; t++) {
    c->tensors[t] = (tq_tensor_desc){c->m->tensors[t].offset, c->m->tensors[t].count};
    if (c->tensors[t].count > c->tensors[c->largest].count) c->largest = t;
  }
  if (cfg->measure_mse) {
    c->raw_sum = malloc(c->m->nparams * sizeof *c->raw_sum);
    c->decoded = malloc(c->m->nparams * sizeof *c->decoded);
    if (!c->raw_sum || !c->decoded) return tq_fail(e, TQ_ENOMEM, "out of host memory for MSE");
  }
  if (cfg->nranks > 1 && (cfg->rank < 0 || cfg->rank >= cfg->nranks))
    return tq_fail(e, TQ_EINTERNAL, "rank %d of %d", cfg->rank, cfg->nranks);
  int worker_dev[TQ_MAX_WORKERS];
  TQ_TRY(tq_cluster_open_devices(c, worker_dev, e));
  TQ_TRY(tq_cluster_check_memory(c, worker_dev, e));
  c->server_cl = c->dev[0].cl;
  c->server_cl.queue = NULL;
  TQ_TRY(tq_cl_new_queue(&c->dev[0].cl, &c->server_cl.queue, e));
  TQ_TRY(tq_net_create(&c->server, c->m, &c->server_cl, cfg->eval_batch > 0 ? cfg->eval_batch : cfg->batch,
                       cfg->seed, 0, e));
  c->server_made = true;
  TQ_TRY(tq_decoder_create(&c->server_cl, c->tensors, c->ntensors, &c->dec, e));
  /* Room for two full steps: workers can run ahead while the server decodes. */
  TQ_TRY(tq_queue_init(&c->q, (size_t)(2 * cfg->workers * c->ntensors), e));
  c->queue_made = true;
  for (int w = 0; w < cfg->workers; w++) {
    if (!tq_cluster_is_local(c, w)) continue;
    tq_status s = tq_worker_make(c, w, &c->dev[worker_dev[w]].cl, e);
    if (s != TQ_OK) return tq_wrap(e, "creating worker %d on %s", w, c->dev[worker_dev[w]].cl.info.name);
  }
  TQ_TRY(warm_up(c, worker_dev, e));
  if (c->m->nstate) {
    /* The warm-up's training forward moved the workers' running statistics: start again. */
    c->state_host = malloc(c->m->nstate * sizeof *c->state_host);
    c->state_load = malloc(c->m->nstate * sizeof *c->state_load);
    if (!c->state_host || !c->state_load) return tq_fail(e, TQ_ENOMEM, "out of host memory");
    tq_model_init_state(c->m, c->state_host);
    memcpy(c->state_load, c->state_host, c->m->nstate * sizeof *c->state_load);
    for (int w = 0; w < cfg->workers; w++)
      if (tq_cluster_is_local(c, w)) TQ_TRY(tq_net_write_state(&c->w[w].net, c->state_host, e));
  }
  TQ_TRY(tq_cl_read(&c->server_cl, c->server.params, 0, c->m->nparams * sizeof(float), c->params_host, e));
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->go, NULL);
  pthread_mutex_init(&c->serial, NULL);
  for (int w = 0; w < cfg->workers; w++) {
    if (!tq_cluster_is_local(c, w)) continue;
    if (pthread_create(&c->w[w].thread, NULL, tq_worker_main, &c->w[w]) != 0)
      return tq_fail(e, TQ_EINTERNAL, "cannot start worker thread %d", w);
    c->w[w].started = true;
  }
  return TQ_OK;
}

tq_status tq_cluster_create(const tq_cluster_cfg *cfg, tq_cluster **out, tq_err *e) {
  *out = NULL;
  tq_cluster *c = calloc(1, sizeof *c);
  if (!c) return tq_fail(e, TQ_ENOMEM, "out of host memory for the cluster");
  c->cfg = *cfg;
  c->m = cfg->model;
  tq_status s = create(c, e);
  if (s != TQ_OK) {
    tq_cluster_free(c);
    return s;
  }
  *out = c;
  return TQ_OK;
}

void tq_cluster_free(tq_cluster *c) {
  if (!c) return;
  bool threads = false;
  for (int w = 0; w < c->cfg.workers; w++) threads |= c->w[w].started;
  if (threads) {
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_broadcast(&c->go);
    pthread_mutex_unlock(&c->mu);
  }
  if (c->queue_made) tq_queue_close(&c->q);
  for (int w = 0; w < c->cfg.workers; w++)
    if (c->w[w].started) pthread_join(c->w[w].thread, NULL);
  if (threads) {
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->go);
    pthread_mutex_destroy(&c->serial);
  }
  for (int w = 0; w < c->cfg.workers; w++) tq_worker_free(c, &c->w[w]);
  if (c->queue_made) tq_queue_destroy(&c->q);
  if (c->slots)
    for (int i = 0; i < c->ntensors * c->cfg.workers; i++) free(c->slots[i].data);
  tq_decoder_free(c->dec);
  if (c->server_made) tq_net_destroy(&c->server);
  if (c->server_cl.queue) clReleaseCommandQueue(c->server_cl.queue);
  for (int d = 0; d < c->ndev; d++)
    if (c->dev[d].open) tq_cl_close(&c->dev[d].cl);
  free(c->tensors);
  free(c->slots);
  free(c->params_host);
  free(c->state_host);
  free(c->state_load);
  free(c->raw_sum);
  free(c->decoded);
  free(c);
}

float *tq_cluster_params_host(tq_cluster *c) { return c->params_host; }
double *tq_cluster_raw_sum(tq_cluster *c) { return c->raw_sum; }
int tq_cluster_tensor_count(const tq_cluster *c) { return c->ntensors; }
const tq_cluster_cfg *tq_cluster_config(const tq_cluster *c) { return &c->cfg; }

tq_status tq_cluster_evaluate(tq_cluster *c, const tq_dataset *d, tq_norm norm, double *loss,
                              double *accuracy, tq_err *e) {
  tq_net *n = &c->server;
  const uint32_t B = (uint32_t)n->batch;
  size_t per = tq_shape_size(c->m->input);
  float *x = malloc((size_t)B * per * sizeof *x);
  int32_t *y = malloc(B * sizeof *y);
  uint32_t *idx = malloc(B * sizeof *idx);
  tq_status s = (x && y && idx) ? TQ_OK : tq_fail(e, TQ_ENOMEM, "out of host memory evaluating");
  double lsum = 0;
  long correct = 0;
  for (uint32_t start = 0; s == TQ_OK && start < d->n; start += B) {
    uint32_t count = d->n - start < B ? d->n - start : B;
    for (uint32_t i = 0; i < count; i++) idx[i] = start + i;
    s = tq_dataset_fill_batch(d, idx, count, norm, x, y, e);
    if (s == TQ_OK) s = tq_net_set_batch(n, x, y, (int)count, e);
    if (s == TQ_OK) s = tq_net_forward(n, false, 0, e);
    if (s == TQ_OK) s = tq_softmax_xent(n, (int)count, e);
    double l = 0;
    int k = 0;
    if (s == TQ_OK) s = tq_net_read_loss(n, (int)count, &l, &k, e);
    lsum += l;
    correct += k;
  }
  free(x);
  free(y);
  free(idx);
  if (s == TQ_OK) {
    *loss = lsum / d->n;
    *accuracy = (double)correct / d->n;
  }
  return s;
}

tq_status tq_cluster_get_state(tq_cluster *c, float *params, float *momentum, tq_err *e) {
  size_t bytes = c->m->nparams * sizeof(float);
  TQ_TRY(tq_cl_read(&c->server_cl, c->server.params, 0, bytes, params, e));
  return tq_cl_read(&c->server_cl, c->server.momentum, 0, bytes, momentum, e);
}

tq_status tq_cluster_set_state(tq_cluster *c, const float *params, const float *momentum,
                               tq_err *e) {
  size_t bytes = c->m->nparams * sizeof(float);
  TQ_TRY(tq_cl_write(&c->server_cl, c->server.params, 0, bytes, params, e));
  TQ_TRY(tq_cl_write(&c->server_cl, c->server.momentum, 0, bytes, momentum, e));
  memcpy(c->params_host, params, bytes);
  return TQ_OK;
}

size_t tq_cluster_nstate(const tq_cluster *c) { return c->m->nstate; }

tq_status tq_cluster_get_running(tq_cluster *c, float *state, tq_err *e) {
  return tq_net_read_state(&c->server, state, e);
}

tq_status tq_cluster_set_running(tq_cluster *c, const float *state, tq_err *e) {
  if (!c->state_host) return TQ_OK;
  size_t bytes = c->m->nstate * sizeof(float);
  TQ_TRY(tq_net_write_state(&c->server, state, e));
  memcpy(c->state_host, state, bytes);
  memcpy(c->state_load, state, bytes);
  for (int w = 0; w < c->cfg.workers; w++)
    if (tq_cluster_is_local(c, w)) c->w[w].state_pending = true;
  return TQ_OK;
}

const float *tq_cluster_raw_gradient(const tq_cluster *c, int worker) {
  return tq_cluster_is_local(c, worker) ? c->w[worker].raw : NULL;
}

tq_compressor *tq_cluster_compressor(tq_cluster *c, int worker) {
  return tq_cluster_is_local(c, worker) ? c->w[worker].comp : NULL;
}

tq_reject_counts tq_cluster_rejects(const tq_cluster *c) { return c->rejects; }

