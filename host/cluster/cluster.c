#include "cluster/cluster.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/grad_check.h"
#include "cluster/queue.h"
#include "nn/memory.h"
#include "nn/net.h"
#include "util/fileio.h"

#define MAX_DEVICES 8 /* distinct devices in workers.devices */

typedef struct device_slot {
  char spec[128];
  tq_cl cl;
  bool open;
} device_slot;

typedef struct worker_state {
  struct tq_cluster *c;
  int id;
  tq_cl cl; /* the device's tq_cl with this worker's own queue */
  tq_net net;
  bool net_made;
  tq_compressor *comp, *fp32; /* the configured method, and fp32 for warm-up steps */
  tq_buf msg;
  tq_buf *bufs;    /* [ntensors]: this step's messages as encoded (tq_compressor_encode_all) */
  tq_msg *pending; /* this step's messages, pushed together once all are encoded */
  float *x;
  int32_t *y;
  float *raw; /* raw gradient read back when measuring MSE */
  tq_grad_check check;
  pthread_t thread;
  bool started;
  /* the step's report, written before the messages are pushed (the queue's lock publishes it
   * to the server) */
  tq_worker_report rep;
  tq_err err;
  /* set between steps (tq_cluster_set_running): load c->state_load into the replica first */
  bool state_pending;
} worker_state;

struct tq_cluster {
  tq_cluster_cfg cfg;
  const tq_model *m;
  int ndev;
  device_slot dev[MAX_DEVICES];
  tq_cl server_cl;
  tq_net server;
  bool server_made;
  tq_decoder *dec;
  tq_tensor_desc *tensors;
  int ntensors, largest;
  float *params_host;
  /* Running statistics (batchnorm; model->nstate floats, NULL without): the server keeps worker
   * 0's, as PyTorch's DDP keeps rank 0's buffers. Worker 0 reads its replica's into state_host
   * after each step; the server's update writes them into its replica. state_load is what
   * workers load on resume. */
  float *state_host, *state_load;
  double *raw_sum;
  float *decoded;
  tq_worker_report reports[TQ_MAX_WORKERS];
  bool have_report[TQ_MAX_WORKERS];
  /* this step: messages arrived per worker, and whether one was invalid */
  int arrived[TQ_MAX_WORKERS];
  bool invalid[TQ_MAX_WORKERS], done[TQ_MAX_WORKERS];
  char why[TQ_MAX_WORKERS][256];
  /* workers that missed a deadline under the continue policy: out for the rest of the run */
  bool dropped[TQ_MAX_WORKERS];
  tq_queue q;
  bool queue_made;
  worker_state w[TQ_MAX_WORKERS];
  pthread_mutex_t mu;
  pthread_cond_t go;
  pthread_mutex_t serial; /* held for a worker's step on a one-thread-at-a-time device */
  uint64_t generation;
  bool stopping;
  const tq_step_in *in;
  tq_msg *slots; /* [workers][ntensors] */
  tq_reject_counts rejects;
};

bool tq_cluster_is_local(const tq_cluster *c, int worker) {
  return c->cfg.nranks <= 1 || worker % c->cfg.nranks == c->cfg.rank;
}

/* ---- devices ----------------------------------------------------------------------------- */

/* Opens every device named in workers.devices once; the workers placed on a device share its
 * context, each with a queue of its own. */
static tq_status open_devices(tq_cluster *c, int *worker_dev, tq_err *e) {
  char list[1024];
  const char *want = c->cfg.devices && c->cfg.devices[0] ? c->cfg.devices : "auto";
  if (strlen(want) >= sizeof list)
    return tq_fail(e, TQ_EINPUT, "workers.devices: longer than %zu characters", sizeof list - 1);
  snprintf(list, sizeof list, "%s", want);
  char *save = NULL;
  int nspec = 0;
  int spec_dev[MAX_DEVICES];
  for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ') tok++;
    if (nspec == MAX_DEVICES)
      return tq_fail(e, TQ_EINPUT, "workers.devices: at most %d devices", MAX_DEVICES);
    tq_cl_devinfo info;
    TQ_TRY(tq_cl_select_device(tok, &info, e));
    int found = -1;
    for (int d = 0; d < c->ndev && found < 0; d++)
      if (c->dev[d].cl.info.device == info.device) found = d;
    if (found < 0) {
      found = c->ndev;
      device_slot *s = &c->dev[c->ndev++];
      snprintf(s->spec, sizeof s->spec, "%d:%d", info.platform_index, info.device_index);
      TQ_TRY(tq_cl_open_as(&s->cl, s->spec, c->cfg.device_profile, c->cfg.profiling, e));
      s->open = true;
    }
    spec_dev[nspec++] = found;
  }
  if (nspec == 0) return tq_fail(e, TQ_EINPUT, "workers.devices is empty");
  for (int w = 0; w < c->cfg.workers; w++) worker_dev[w] = spec_dev[w % nspec];
  return TQ_OK;
}

/* Refuses, before allocating anything, a configuration whose replicas cannot fit: one buffer
 * over the device's largest allocation, or all of a device's replicas (and the server on the
 * first device) over its global memory. The error says which knob to turn. */
static tq_status check_memory(const tq_cluster *c, const int *worker_dev, tq_err *e) {
  const tq_cluster_cfg *cfg = &c->cfg;
  int eval_batch = cfg->eval_batch > 0 ? cfg->eval_batch : cfg->batch;
  for (int d = 0; d < c->ndev; d++) {
    const tq_cl_devinfo *di = &c->dev[d].cl.info;
    double need = 0;
    int here = 0;
    for (int w = 0; w < cfg->workers; w++)
      if (worker_dev[w] == d && tq_cluster_is_local(c, w)) {
        /* replica + the compressor's residual and staging (about 3 copies of the gradient) */
        need += (double)tq_net_device_bytes(c->m, cfg->batch) + 3.0 * 4.0 * (double)c->m->nparams;
        here++;
      }
    if (d == 0) need += (double)tq_net_device_bytes(c->m, eval_batch);
    size_t big = tq_net_largest_buffer(c->m, cfg->batch > eval_batch ? cfg->batch : eval_batch);
    if (big > di->max_alloc)
      return tq_fail(e, TQ_EINPUT,
                     "%s at batch %d needs a %.1f MiB buffer, but %s allocates at most %.1f MiB "
                     "at once: lower train.batch_size",
                     c->m->name, cfg->batch > eval_batch ? cfg->batch : eval_batch,
                     (double)big / 1048576.0, di->name, (double)di->max_alloc / 1048576.0);
    if (need > (double)di->global_mem)
      return tq_fail(e, TQ_EINPUT,
                     "%s with %d worker%s at batch %d needs about %.2f GiB on %s, which has %.2f "
                     "GiB: lower train.batch_size or workers.count, or spread the workers over "
                     "devices (workers.devices)",
                     c->m->name, here, here == 1 ? "" : "s", cfg->batch, need / 1073741824.0,
                     di->name, (double)di->global_mem / 1073741824.0);
  }
  return TQ_OK;
}

/* ---- workers ----------------------------------------------------------------------------- */

static bool plan_hits(const tq_fault_plan *f, int worker, int iteration, const worker_state *w,
                      const tq_step_in *in) {
  return f->active && worker == w->id && (uint32_t)iteration == in->iteration;
}

static void sleep_seconds(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static tq_status push_notice(worker_state *w, uint32_t iteration, int kind, tq_err *e) {
  tq_msg m = {.data = NULL, .worker = (uint32_t)w->id, .iteration = iteration, .tensor = kind};
  return tq_queue_push(&w->c->q, &m, e);
}

/* Injected faults (cfg.faults) act here, where a real one would: the crash before any work,
 * the NaN in the gradient, the damage to a message after its checksum, the stall before the
 * send. */
static tq_status worker_step(worker_state *w, const tq_step_in *in) {
  tq_cluster *c = w->c;
  tq_err *e = &w->err;
  const tq_fault_plan *f = &c->cfg.faults;
  if (f->active && f->crash_worker == w->id && in->iteration >= (uint32_t)f->crash_iteration)
    return TQ_OK;
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
  double t1 = tq_now_seconds();
  r->t_compute = t1 - t0;
  if (plan_hits(f, f->nan_worker, f->nan_iteration, w, in)) {
    const tq_tensor *big = &c->m->tensors[c->largest];
    float nan = NAN;
    TQ_TRY(tq_cl_write(&w->cl, w->net.grads, (big->offset + big->count / 2) * sizeof(float),
                       sizeof nan, &nan, e));
  }
  /* A NaN or Inf must not reach the parameters, whatever the method: counted here, before any
   * quantizer could turn it into a valid-looking code. The count shares one wait with the
   * statistics of the tensors that refit (queued now, unused if the count is not zero; with
   * error feedback the compressor queues nothing here, as r = g + r must wait for it). */
  tq_compressor *comp = in->compress ? w->comp : w->fp32;
  TQ_TRY(tq_grad_check_queue(&w->check, &w->cl, w->net.grads, 0, np, e));
  TQ_TRY(tq_compressor_queue_stats(comp, w->net.grads, in->iteration, e));
  TQ_TRY(TQ_CL(clFinish(w->cl.queue), e));
  uint64_t bad = tq_grad_check_total(&w->check);
  r->nonfinite = bad;
  r->usable = bad == 0;
  r->reason[0] = '\0';
  r->bits = r->bits_fp32 = r->t_encode = 0;
  if (bad) {
    snprintf(r->reason, sizeof r->reason, "its gradient holds %llu NaN/Inf values",
             (unsigned long long)bad);
    return push_notice(w, in->iteration, -2, e);
  }
  if (c->cfg.measure_mse) TQ_TRY(tq_cl_read(&w->cl, w->net.grads, 0, np * sizeof(float), w->raw, e));
  r->bits = r->bits_fp32 = 0;
  /* Every tensor at once: the statistics are in, one more wait for all payloads. */
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
    m->data = w->bufs[t].data;
    m->len = w->bufs[t].len;
    w->bufs[t] = (tq_buf){0};
    m->worker = (uint32_t)w->id;
    m->iteration = in->iteration;
    m->tensor = t;
  }
  free(infos);
  TQ_TRY(es);
  r->t_encode = tq_now_seconds() - t1;
  if (plan_hits(f, f->corrupt_worker, f->corrupt_iteration, w, in)) {
    tq_msg *m = &w->pending[0];
    if (f->corrupt == TQ_CORRUPT_TRUNCATE)
      m->len /= 2;
    else
      m->data[m->len / 2] ^= 0x40;
  }
  if (plan_hits(f, f->stall_worker, f->stall_iteration, w, in)) sleep_seconds(f->stall_seconds);
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

static void *worker_main(void *arg) {
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
      tq_msg m = {.data = NULL, .worker = (uint32_t)w->id, .iteration = in->iteration, .tensor = -1};
      tq_err ignore = {0};
      tq_queue_push(&c->q, &m, &ignore);
    }
  }
  return NULL;
}

/* ---- creation ---------------------------------------------------------------------------- */

static tq_status make_worker(tq_cluster *c, int id, const tq_cl *dev, tq_err *e) {
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
  TQ_TRY(open_devices(c, worker_dev, e));
  TQ_TRY(check_memory(c, worker_dev, e));
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
    tq_status s = make_worker(c, w, &c->dev[worker_dev[w]].cl, e);
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
    if (pthread_create(&c->w[w].thread, NULL, worker_main, &c->w[w]) != 0)
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
  for (int w = 0; w < c->cfg.workers; w++) {
    worker_state *k = &c->w[w];
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

/* ---- the server's step --------------------------------------------------------------------- */

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
 * (all its tensors, valid or not) or the deadline passed. A worker's failure report stops the
 * step at once; a non-finite-gradient notice counts as delivery of an unusable gradient; stale
 * messages (from a worker that stalled past an earlier deadline) and duplicates are dropped. */
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
    if (r <= 0) break; /* the deadline: who is missing is sorted out by the caller */
    uint32_t w = m.worker;
    if (m.tensor == -1) { /* a worker's failure report */
      const worker_state *k = &c->w[w < (uint32_t)c->cfg.workers ? w : 0];
      return tq_fail(e, k->err.code ? k->err.code : TQ_EINTERNAL, "worker %u failed: %s", w,
                     k->err.msg);
    }
    bool current = m.iteration == iteration && w < (uint32_t)c->cfg.workers && !c->done[w];
    if (m.tensor == -2) { /* non-finite gradient: nothing else comes from it this step */
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

tq_status tq_cluster_server_update(tq_cluster *c, const tq_step_in *in, tq_step_out *out,
                                   tq_err *e) {
  const int N = c->cfg.workers;
  const size_t np = c->m->nparams;
  bool use[TQ_MAX_WORKERS] = {false};
  int used = 0;
  out->events[0] = '\0';
  for (int w = 0; w < N; w++) {
    if (c->dropped[w]) continue;
    bool complete = c->have_report[w] && c->reports[w].iteration == in->iteration;
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
  if (out->missing && c->cfg.on_missing == TQ_FAULT_STOP)
    return tq_fail(e, TQ_EINTERNAL, "iteration %u: %s (workers.timeout_s = %g s, workers.on_missing = stop)",
                   in->iteration, out->events, c->cfg.msg_timeout_s);
  if (out->unusable && c->cfg.on_invalid == TQ_FAULT_STOP)
    return tq_fail(e, TQ_EINPUT, "iteration %u: %s (workers.on_invalid = stop)", in->iteration,
                   out->events);
  if (used == 0)
    return tq_fail(e, TQ_EINTERNAL, "iteration %u: no worker delivered a usable gradient: %s",
                   in->iteration, out->events);
  for (int w = 0; w < N; w++)
    if (!c->dropped[w] && !use[w] && !(c->have_report[w] && c->reports[w].iteration == in->iteration))
      c->dropped[w] = true;
  out->workers_used = used;
  double t0 = tq_now_seconds();
  TQ_TRY(tq_cl_fill_zero(&c->server_cl, c->server.grads, 0, np * sizeof(float), e));
  const float weight = 1.0f / (float)used;
  /* Fixed order, whatever order the messages came in: the sum is the same on every run. Every
   * message is queued (uploads not waited for) and the server waits once; the uploads read
   * the messages, so they are freed only after that wait, also after an error. */
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
  TQ_TRY(TQ_CL(clFinish(c->server_cl.queue), e));
  double t1 = tq_now_seconds();
  out->t_decode = t1 - t0;
  out->quant_mse = NAN;
  if (c->cfg.measure_mse) {
    TQ_TRY(tq_cl_read(&c->server_cl, c->server.grads, 0, np * sizeof(float), c->decoded, e));
    double se = 0;
    for (size_t i = 0; i < np; i++) {
      double d = (double)c->decoded[i] - c->raw_sum[i] / used;
      se += d * d;
    }
    out->quant_mse = se / (double)np;
  }
  double t2 = tq_now_seconds();
  TQ_TRY(tq_net_sgd(&c->server, in->lr, in->momentum, in->weight_decay, e));
  if (c->state_host) TQ_TRY(tq_net_write_state(&c->server, c->state_host, e));
  TQ_TRY(tq_cl_read(&c->server_cl, c->server.params, 0, np * sizeof(float), c->params_host, e));
  out->t_update = tq_now_seconds() - t2;
  out->gamma = out->g_min = out->alpha = NAN;
  for (int w = 0; w < N; w++)
    if (use[w]) { /* the first worker averaged in */
      out->gamma = c->reports[w].gamma;
      out->g_min = c->reports[w].g_min;
      out->alpha = c->reports[w].alpha;
      break;
    }
  for (int w = 0; w < N; w++) {
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
  return TQ_OK;
}

tq_status tq_cluster_step(tq_cluster *c, const tq_step_in *in, tq_step_out *out, tq_err *e) {
  memset(out, 0, sizeof *out);
  TQ_TRY(tq_cluster_run_local(c, in, &out->t_queue, &out->rejected, e));
  return tq_cluster_server_update(c, in, out, e);
}

float *tq_cluster_params_host(tq_cluster *c) { return c->params_host; }
double *tq_cluster_raw_sum(tq_cluster *c) { return c->raw_sum; }
int tq_cluster_tensor_count(const tq_cluster *c) { return c->ntensors; }
const tq_cluster_cfg *tq_cluster_config(const tq_cluster *c) { return &c->cfg; }
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

/* ---- evaluation and state ------------------------------------------------------------------ */

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

const char *tq_cluster_device_name(const tq_cluster *c, int worker) {
  return tq_cluster_is_local(c, worker) ? c->w[worker].cl.info.name : c->server_cl.info.name;
}

tq_reject_counts tq_cluster_rejects(const tq_cluster *c) { return c->rejects; }

void tq_cluster_describe_devices(const tq_cluster *c, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (int d = 0; d < c->ndev && used + 1 < cap; d++) {
    const tq_cl *cl = &c->dev[d].cl;
    int n = snprintf(buf + used, cap - used, "%s%s (%s profile)", d ? " + " : "", cl->info.name,
                     cl->profile ? cl->profile->name : "?");
    if (n < 0) break;
    used += (size_t)n;
  }
}
