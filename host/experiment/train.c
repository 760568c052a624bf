#include "experiment/train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <fcntl.h>
#include <unistd.h>

#include "cl/cl_profile.h"
#include "compress/compressor.h"
#include "data/cifar.h"
#include "data/dataset.h"
#include "data/shard.h"
#include "data/shuffle.h"
#include "cluster/cluster.h"
#include "experiment/checkpoint.h"
#include "experiment/metrics.h"
#include "experiment/progress.h"
#include "experiment/provenance.h"
#include "util/fileio.h"

/* A worker's endless stream of full batches: its shard in a fresh seeded order every pass;
 * a batch that runs off the end continues into the next pass. */
typedef struct data_stream {
  const uint32_t *shard;
  uint32_t n, pass, pos;
  uint32_t *order;
  uint32_t *batch;
} data_stream;

typedef struct trainer {
  const tq_experiment *x;
  const tq_train_opts *o;
  tq_model model;
  tq_dataset train, test;
  tq_norm norm;
  tq_shards shards;
  data_stream *streams;
  tq_worker_batch *batches;
  tq_cluster *cluster;
  tq_metrics met;
  bool met_open;
  int lock_fd; /* the run folder's .lock, held (flock) while this process writes the run */
  char dir[TQ_PATH_MAX + 256];
  tq_provenance prov; /* what the run is: summary.json and config.cfg */
} trainer;

/* SIGINT/SIGTERM (tq_train_handle_signals): the signal, once the training loop may stop at a
 * step boundary; in_loop says whether it can. */
static volatile sig_atomic_t stop_signal = 0, in_loop = 0;

static void on_signal(int sig) {
  if (stop_signal || !in_loop) {
    static const char msg[] = "\ntailquant: interrupted; nothing to checkpoint here\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(130);
  }
  stop_signal = sig;
}

void tq_train_handle_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

/* Two processes must never write one run folder: the first holds an exclusive flock on
 * RUN_DIR/.lock (released by the kernel when it exits, however it exits, so a stale lock file
 * is harmless: its pid is only for the message); the second is refused at once. */
static tq_status lock_run(trainer *t, bool create, tq_err *e) {
  char path[TQ_PATH_MAX + 300];
  if (create) TQ_TRY(tq_mkdirs(t->dir, e));
  snprintf(path, sizeof path, "%s/.lock", t->dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return tq_fail(e, TQ_EIO, "%s: cannot create the run's lock file: %s", path, strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char pid[32] = "";
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    pid[n > 0 ? n : 0] = '\0';
    pid[strcspn(pid, "\n")] = '\0';
    close(fd);
    if (err == EWOULDBLOCK)
      return tq_fail(e, TQ_EINPUT,
                     "%s: another tailquant process (pid %s) is running in this folder; two runs "
                     "must not write one folder: wait for it to end, or choose another "
                     "experiment.name",
                     t->dir, pid[0] ? pid : "?");
    return tq_fail(e, TQ_EIO, "%s: cannot lock: %s", path, strerror(err));
  }
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
    /* the lock holds without the pid; the pid is only for messages */
  }
  t->lock_fd = fd;
  return TQ_OK;
}

/* A completed run (summary.json) or a stopped one (checkpoint.bin) is never replaced silently. */
static tq_status check_run_folder(const char *dir, bool force, tq_err *e) {
  char path[TQ_PATH_MAX + 300];
  snprintf(path, sizeof path, "%s/summary.json", dir);
  if (!force && access(path, F_OK) == 0)
    return tq_fail(e, TQ_EINPUT,
                   "%s: holds a completed run (summary.json); --force replaces it, or choose "
                   "another experiment.name or output.dir",
                   dir);
  snprintf(path, sizeof path, "%s/checkpoint.bin", dir);
  if (!force && access(path, F_OK) == 0)
    return tq_fail(e, TQ_EINPUT,
                   "%s: holds a stopped run (checkpoint.bin): continue it with tailquant train "
                   "--resume %s, or --force to start it over",
                   dir, dir);
  return TQ_OK;
}

static void stream_order(data_stream *s, uint32_t seed, uint32_t worker) {
  memcpy(s->order, s->shard, s->n * sizeof *s->order);
  tq_shuffle_in_place(s->order, s->n, seed, worker + 1, s->pass);
}

static void stream_next(data_stream *s, int B, uint32_t seed, uint32_t worker) {
  for (int k = 0; k < B; k++) {
    if (s->pos == s->n) {
      s->pass++;
      s->pos = 0;
      stream_order(s, seed, worker);
    }
    s->batch[k] = s->order[s->pos++];
  }
}

static tq_status check_fit(const trainer *t, tq_err *e) {
  const tq_model *m = &t->model;
  const tq_dataset *d = &t->train;
  if ((uint32_t)m->input.c != d->c || (uint32_t)m->input.h != d->h || (uint32_t)m->input.w != d->w)
    return tq_fail(e, TQ_EINPUT,
                   "%s: the model's input is %dx%dx%d but the images of %s (data.train_images) "
                   "are %ux%ux%u",
                   m->path, m->input.c, m->input.h, m->input.w, t->x->train_images, d->c, d->h,
                   d->w);
  if (t->test.c != d->c || t->test.h != d->h || t->test.w != d->w)
    return tq_fail(e, TQ_EINPUT, "%s (data.test_images) holds %ux%u images but the training set %ux%u",
                   t->x->test_images, t->test.h, t->test.w, d->h, d->w);
  if (m->classes != t->x->classes)
    return tq_fail(e, TQ_EINPUT, "%s: the model has %d classes but %s sets data.classes = %d",
                   m->path, m->classes, t->x->source, t->x->classes);
  return TQ_OK;
}

/* Error feedback is on: asked for, or implied by the method (efsign, topk). */
static bool uses_ef(const tq_experiment *x) {
  const tq_method_info *mi = tq_method_info_by_name(x->method);
  return x->error_feedback || (mi && tq_method_needs_ef(mi->method));
}

static tq_status compress_cfg(const tq_experiment *x, tq_compress_cfg *c, tq_err *e) {
  tq_compress_cfg_default(c);
  TQ_TRY(tq_method_from_name(x->method, &c->method, e));
  TQ_TRY(tq_tail_model_from_name(x->tail_model, &c->tail, e));
  TQ_TRY(tq_alpha_rule_from_name(x->alpha_rule, &c->alpha_rule, e));
  c->bits = c->method == TQ_METHOD_NONE ? 32 : x->bits;
  c->bucket = (uint32_t)x->bucket;
  c->zero_level = x->zero_level;
  c->error_feedback = x->error_feedback;
  c->error_feedback = tq_compress_ef(c); /* efsign, topk: implied (docs/compression.md) */
  c->min_elems = (uint32_t)x->min_elems;
  c->refit_every = (uint32_t)x->refit_every;
  c->seed = (uint32_t)x->seed;
  /* TPQSGD's design for the server's average over the workers instead of one message */
  c->design_average = x->design_for_average ? (uint32_t)x->workers : 1u;
  if (x->design_for_average && c->method != TQ_METHOD_TPQSGD)
    return tq_fail(e, TQ_EINPUT, "%s: compression.design_for_average = true applies to tpqsgd "
                   "only, not to compression.method = \"%s\"", x->source, tq_method_name(c->method));
  tq_status s = tq_compress_cfg_check(c, e);
  if (s != TQ_OK) tq_wrap(e, "%s: compression", x->source);
  return s;
}

static tq_status setup(trainer *t, tq_err *e) {
  const tq_experiment *x = t->x;
  tq_compress_cfg cc;
  TQ_TRY(compress_cfg(x, &cc, e));
  TQ_TRY(tq_model_load(x->model_file, &t->model, e));
  if (!strcmp(x->data_format, "cifar10")) {
    tq_status ds = tq_cifar10_load(x->train_images, true, (uint32_t)x->classes, &t->train, e);
    if (ds != TQ_OK) return tq_wrap(e, "data.train_images");
    ds = tq_cifar10_load(x->test_images, false, (uint32_t)x->classes, &t->test, e);
    if (ds != TQ_OK) return tq_wrap(e, "data.test_images");
  } else {
    TQ_TRY(tq_dataset_load(x->train_images, x->train_labels, (uint32_t)x->classes, &t->train, e));
    TQ_TRY(tq_dataset_load(x->test_images, x->test_labels, (uint32_t)x->classes, &t->test, e));
  }
  TQ_TRY(check_fit(t, e));
  if (!strcmp(x->normalize, "auto")) {
    TQ_TRY(tq_norm_from_dataset(&t->train, x->train_images, &t->norm, e));
  } else {
    t->norm = (tq_norm){.mean = x->mean, .std = x->std};
    TQ_TRY(tq_norm_check(t->norm, "data.mean/data.std", e));
  }
  tq_partition part;
  TQ_TRY(tq_partition_parse(x->partition, "workers.partition", &part, e));
  tq_status s = tq_shard(&t->train, part, (uint32_t)x->workers, (uint32_t)x->classes_per_worker,
                         (uint32_t)x->seed, &t->shards, e);
  if (s != TQ_OK) return tq_wrap(e, "%s: sharding the training set", x->source);
  const int N = x->workers, B = x->batch_size;
  t->streams = calloc((size_t)N, sizeof *t->streams);
  t->batches = calloc((size_t)N, sizeof *t->batches);
  if (!t->streams || !t->batches) return tq_fail(e, TQ_ENOMEM, "out of host memory");
  for (int w = 0; w < N; w++) {
    data_stream *ds = &t->streams[w];
    size_t cnt;
    ds->shard = tq_shard_list(&t->shards, (uint32_t)w, &cnt);
    ds->n = (uint32_t)cnt;
    ds->order = malloc(cnt * sizeof *ds->order);
    ds->batch = malloc((size_t)B * sizeof *ds->batch);
    if (!ds->order || !ds->batch) return tq_fail(e, TQ_ENOMEM, "out of host memory");
    stream_order(ds, (uint32_t)x->seed, (uint32_t)w);
    t->batches[w] = (tq_worker_batch){ds->batch, B};
  }
  const char *devices = t->o->device ? t->o->device : (x->worker_devices[0] ? x->worker_devices : x->device);
  tq_cluster_cfg cfg = {.model = &t->model,
                        .workers = N,
                        .batch = B,
                        .eval_batch = 256,
                        .devices = devices,
                        .device_profile = x->device_profile,
                        .compress = cc,
                        .seed = (uint32_t)x->seed,
                        .msg_timeout_s = x->timeout_s,
                        .measure_mse = x->quant_mse || t->o->ndump > 0,
                        .profiling = t->o->profile,
                        .rank = t->o->mpi ? t->o->mpi->rank : 0,
                        .nranks = t->o->mpi ? t->o->mpi->size : 1,
                        .on_missing = strcmp(x->on_missing, "continue") ? TQ_FAULT_STOP : TQ_FAULT_CONTINUE,
                        .on_invalid = strcmp(x->on_invalid, "continue") ? TQ_FAULT_STOP : TQ_FAULT_CONTINUE,
                        .faults = {.active = x->crash_worker >= 0 || x->stall_worker >= 0 ||
                                             x->corrupt_worker >= 0 || x->nan_worker >= 0,
                                   .crash_worker = x->crash_worker,
                                   .crash_iteration = x->crash_iteration,
                                   .stall_worker = x->stall_worker,
                                   .stall_iteration = x->stall_iteration,
                                   .stall_seconds = x->stall_seconds,
                                   .corrupt_worker = x->corrupt_worker,
                                   .corrupt_iteration = x->corrupt_iteration,
                                   .corrupt = strcmp(x->corrupt, "truncate") ? TQ_CORRUPT_FLIP : TQ_CORRUPT_TRUNCATE,
                                   .nan_worker = x->nan_worker,
                                   .nan_iteration = x->nan_iteration}};
  if (t->o->mpi && t->o->mpi->size > N)
    return tq_fail(e, TQ_EINPUT, "%d MPI ranks for %d workers: use at most one rank per worker",
                   t->o->mpi->size, N);
  return tq_cluster_create(&cfg, &t->cluster, e);
}

static void teardown(trainer *t) {
  if (t->met_open) tq_metrics_abandon(&t->met);
  if (t->lock_fd >= 0) close(t->lock_fd); /* releases the flock; the file stays (see lock_run) */
  tq_cluster_free(t->cluster);
  if (t->streams)
    for (int w = 0; w < t->x->workers; w++) {
      free(t->streams[w].order);
      free(t->streams[w].batch);
    }
  free(t->streams);
  free(t->batches);
  tq_shards_free(&t->shards);
  tq_dataset_free(&t->train);
  tq_dataset_free(&t->test);
}

/* Iterations the user named must exist in this run: a dump or a fault planned past its end would
 * otherwise be ignored without a word. */
static tq_status check_plan(const trainer *t, long total, tq_err *e) {
  const tq_experiment *x = t->x;
  for (int k = 0; k < t->o->ndump; k++)
    if (t->o->dump_iters[k] > total)
      return tq_fail(e, TQ_EINPUT, "--dump-gradients %ld: the run has only %ld iterations", t->o->dump_iters[k],
                     total);
  const struct {
    const char *key;
    int worker, iteration;
  } f[] = {{"faults.crash", x->crash_worker, x->crash_iteration},
           {"faults.stall", x->stall_worker, x->stall_iteration},
           {"faults.corrupt", x->corrupt_worker, x->corrupt_iteration},
           {"faults.nan", x->nan_worker, x->nan_iteration},
           {"faults.exit", x->exit_rank, x->exit_iteration}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    if (f[i].worker >= 0 && f[i].iteration > total)
      return tq_fail(e, TQ_EINPUT, "%s: %s_iteration = %d is past the run's last iteration (%ld): the fault "
                     "would never happen", x->source, f[i].key, f[i].iteration, total);
  return TQ_OK;
}

static double lr_at(const tq_experiment *x, long it, long total) {
  if (!strcmp(x->lr_schedule, "step")) return x->lr * pow(x->lr_step_gamma, (double)((it - 1) / x->lr_step_every));
  if (!strcmp(x->lr_schedule, "cosine"))
    return x->lr_min + (x->lr - x->lr_min) * 0.5 * (1.0 + cos(M_PI * (double)(it - 1) / (double)total));
  return x->lr;
}

/* The schedule every process must agree on (MPI ranks compute it each for themselves): the
 * number of steps, and what step `it` asks of the workers. */
static long total_iterations(const trainer *t) {
  const tq_experiment *x = t->x;
  const uint32_t B = (uint32_t)x->batch_size;
  const long per_epoch = (long)((t->streams[0].n + B - 1) / B);
  return x->iterations > 0 ? x->iterations : per_epoch * x->epochs;
}

static tq_step_in step_input(const trainer *t, long it, long total) {
  const tq_experiment *x = t->x;
  return (tq_step_in){.data = &t->train, .norm = t->norm, .batches = t->batches,
                      .iteration = (uint32_t)it, .lr = (float)lr_at(x, it, total),
                      .momentum = (float)x->momentum, .weight_decay = (float)x->weight_decay,
                      .compress = it > x->warmup_iterations, .augment = x->augment};
}

/* Every worker's raw gradient, one little-endian float32 file per worker and tensor, plus
 * index.tsv naming file, worker, tensor, shape and element count. */
static tq_status dump_gradients(trainer *t, long it, tq_err *e) {
  char dir[TQ_PATH_MAX + 300], path[TQ_PATH_MAX + 400];
  snprintf(dir, sizeof dir, "%s/gradients/iter_%06ld", t->dir, it);
  TQ_TRY(tq_mkdirs(dir, e));
  /* Each process writes its own workers' files (over MPI, on its own machine); rank 0 writes
   * the index of all of them. */
  bool rank0 = !t->o->mpi || t->o->mpi->rank == 0;
  snprintf(path, sizeof path, "%s/index.tsv", dir);
  FILE *idx = rank0 ? fopen(path, "w") : fopen("/dev/null", "w");
  if (!idx) return tq_fail(e, TQ_EIO, "%s: cannot create: %s", path, strerror(errno));
  fprintf(idx, "file\tworker\ttensor\tshape\telements\n");
  tq_status s = TQ_OK;
  for (int w = 0; w < t->x->workers && s == TQ_OK; w++) {
    const float *g = tq_cluster_raw_gradient(t->cluster, w);
    for (int k = 0; k < t->model.ntensors && s == TQ_OK; k++) {
      const tq_tensor *tt = &t->model.tensors[k];
      char name[128], shape[64] = "";
      snprintf(name, sizeof name, "w%02d.%s.f32", w, tt->name);
      for (int d = 0; d < tt->ndims; d++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%d", d ? "x" : "", tt->dims[d]);
      snprintf(path, sizeof path, "%s/%s", dir, name);
      if (g) s = tq_write_file_atomic(path, g + tt->offset, tt->count * sizeof(float), e);
      fprintf(idx, "%s\t%d\t%s\t%s\t%zu\n", name, w, tt->name, shape, tt->count);
    }
  }
  if (fclose(idx) != 0 && s == TQ_OK) s = tq_fail(e, TQ_EIO, "%s/index.tsv: write failed", dir);
  return s;
}

/* The run's fingerprint: every training-relevant key of the resolved configuration and the
 * model's architecture, one "key=value" line each. */
static tq_status fingerprint_text(const trainer *t, char **out, tq_err *e) {
  size_t cap = 16384 + 160 * (size_t)t->model.nlayers;
  char *b = malloc(cap);
  if (!b) return tq_fail(e, TQ_ENOMEM, "out of memory");
  if (!tq_experiment_fingerprint(t->x, b, cap)) {
    free(b);
    return tq_fail(e, TQ_EINTERNAL, "fingerprint text too long");
  }
  const tq_model *m = &t->model;
  size_t used = strlen(b);
  used += (size_t)snprintf(b + used, cap - used, "model.input=%dx%dx%d\nmodel.classes=%d\n",
                           m->input.c, m->input.h, m->input.w, m->classes);
  for (int i = 0; i < m->nlayers && used < cap; i++) {
    const tq_layer *l = &m->layers[i];
    used += (size_t)snprintf(b + used, cap - used,
                             "model.layer%d=%s units=%d size=%d stride=%d pad=%d p=%.9g\n", i + 1,
                             tq_layer_kind_name(l->kind), l->units, l->size, l->stride, l->pad,
                             (double)l->drop_p);
  }
  *out = b;
  return TQ_OK;
}

/* The value of key in fingerprint text, or NULL; *len its length. */
static const char *fp_value(const char *text, const char *key, size_t kl, size_t *len) {
  for (const char *p = text; *p;) {
    const char *nl = strchr(p, '\n');
    size_t ll = nl ? (size_t)(nl - p) : strlen(p);
    if (ll > kl && !strncmp(p, key, kl) && p[kl] == '=') {
      *len = ll - kl - 1;
      return p + kl + 1;
    }
    p += ll + (nl ? 1 : 0);
  }
  return NULL;
}

/* On --resume: the configuration must be the one the checkpoint was written with. Names the
 * first key that differs, with both values. */
static tq_status check_fingerprint(const trainer *t, const char *saved, tq_err *e) {
  char *now = NULL;
  TQ_TRY(fingerprint_text(t, &now, e));
  tq_status s = TQ_OK;
  /* pass 0: every saved key against now; pass 1: keys only now has */
  for (int pass = 0; pass < 2 && s == TQ_OK; pass++) {
    const char *a = pass ? now : saved, *b = pass ? saved : now;
    for (const char *p = a; *p && s == TQ_OK;) {
      const char *nl = strchr(p, '\n'), *eq = strchr(p, '=');
      size_t ll = nl ? (size_t)(nl - p) : strlen(p);
      if (eq && eq < p + ll) {
        size_t kl = (size_t)(eq - p), vl = ll - kl - 1, ol = 0;
        const char *other = fp_value(b, p, kl, &ol);
        bool differs = pass ? other == NULL : (!other || ol != vl || strncmp(other, eq + 1, vl));
        if (differs) {
          /* now's value, and the checkpoint's */
          const char *nv = pass ? eq + 1 : other, *sv = pass ? NULL : eq + 1;
          int nvl = (int)(pass ? vl : ol), svl = (int)vl;
          s = tq_fail(e, TQ_EINPUT,
                      "%s/config.cfg: %.*s is %s%.*s%s but the run's checkpoint was written with "
                      "%s%.*s%s: the configuration%s changed after the run started, and resuming "
                      "would mix two trainings under one name; restore it, or start a new run",
                      t->dir, (int)kl, p, nv ? "\"" : "", nv ? nvl : 9, nv ? nv : "(not set)",
                      nv ? "\"" : "", sv ? "\"" : "", sv ? svl : 9, sv ? sv : "(not set)",
                      sv ? "\"" : "", strncmp(p, "model.", 6) ? "" : " (the model file)");
        }
      }
      p += ll + (nl ? 1 : 0);
    }
  }
  free(now);
  return s;
}

static tq_status save_checkpoint(trainer *t, long it, const tq_ckpt_header *totals, tq_err *e) {
  const size_t np = t->model.nparams;
  const int N = t->x->workers;
  tq_checkpoint c = {0};
  c.h = *totals;
  c.h.nparams = np;
  c.h.workers = (uint32_t)N;
  c.h.iteration = (uint32_t)it;
  c.h.has_residuals = uses_ef(t->x);
  tq_mpi *mpi = t->o->mpi;
  bool rank0 = !mpi || mpi->rank == 0;
  long long bytes = 0;
  if (rank0) TQ_TRY(tq_metrics_tell(&t->met, &bytes, e));
  c.h.metrics_bytes = (uint64_t)bytes;
  c.params = malloc(np * sizeof(float));
  c.momentum = malloc(np * sizeof(float));
  c.h.nstate = t->model.nstate;
  c.state = malloc(t->model.nstate * sizeof(float) + 1);
  c.workers = calloc((size_t)N, sizeof *c.workers);
  if (c.h.has_residuals) c.residuals = calloc((size_t)N * np, sizeof(float));
  tq_status s = (c.params && c.momentum && c.state && c.workers && (!c.h.has_residuals || c.residuals))
                    ? TQ_OK
                    : tq_fail(e, TQ_ENOMEM, "out of memory writing a checkpoint");
  if (s == TQ_OK && rank0) s = tq_cluster_get_state(t->cluster, c.params, c.momentum, e);
  if (s == TQ_OK && rank0) s = tq_cluster_get_running(t->cluster, c.state, e);
  for (int w = 0; w < N && s == TQ_OK; w++) {
    c.workers[w] = (tq_ckpt_worker){t->streams[w].pass, t->streams[w].pos};
    for (int k = 0; !mpi && c.h.has_residuals && k < t->model.ntensors && s == TQ_OK; k++)
      s = tq_compressor_residual(tq_cluster_compressor(t->cluster, w), k,
                                 c.residuals + (size_t)w * np + t->model.tensors[k].offset, e);
  }
  if (s == TQ_OK && mpi && c.h.has_residuals) s = tq_mpi_gather_residuals(mpi, t->cluster, c.residuals, e);
  char path[TQ_PATH_MAX + 300];
  snprintf(path, sizeof path, "%s/checkpoint.bin", t->dir);
  if (s == TQ_OK && rank0) s = fingerprint_text(t, &c.config_text, e);
  if (s == TQ_OK && rank0) s = tq_checkpoint_write(path, &c, e);
  tq_checkpoint_free(&c);
  return s;
}

static tq_status load_checkpoint(trainer *t, tq_ckpt_header *totals, tq_err *e) {
  char path[TQ_PATH_MAX + 300];
  snprintf(path, sizeof path, "%s/checkpoint.bin", t->dir);
  tq_checkpoint c = {0};
  tq_mpi *mpi = t->o->mpi;
  bool rank0 = !mpi || mpi->rank == 0;
  tq_status s = TQ_OK;
  if (rank0 && access(path, F_OK) != 0)
    s = tq_fail(e, TQ_EINPUT,
                "%s: no checkpoint yet (the run stopped before its first one): start it again "
                "with tailquant train %s",
                path, t->x->source);
  else if (rank0)
    s = tq_checkpoint_read(path, t->model.nparams, (uint32_t)t->x->workers, &c, e);
  if (s == TQ_OK && rank0) s = check_fingerprint(t, c.config_text, e);
  if (s == TQ_OK && rank0 && c.h.nstate != t->model.nstate)
    s = tq_fail(e, TQ_EINPUT, "%s: checkpoint of %llu running statistics, but the model has %zu",
                path, (unsigned long long)c.h.nstate, t->model.nstate);
  if (mpi) {
    /* Rank 0 read the file; the others learn whether it worked, the header, the data
     * positions and their workers' residuals. */
    s = tq_mpi_agree(mpi, s, e);
    if (s != TQ_OK) {
      if (!rank0) tq_fail(e, s, "rank 0 could not read %s", path);
      tq_checkpoint_free(&c);
      return s;
    }
    if (!rank0) {
      c.workers = calloc((size_t)t->x->workers, sizeof *c.workers);
      if (!c.workers) return tq_fail(e, TQ_ENOMEM, "out of memory");
    }
    s = tq_mpi_bcast(mpi, &c.h, sizeof c.h, e);
    if (s == TQ_OK) s = tq_mpi_bcast(mpi, c.workers, (size_t)t->x->workers * sizeof *c.workers, e);
    if (s == TQ_OK && c.h.has_residuals) s = tq_mpi_scatter_residuals(mpi, t->cluster, c.residuals, e);
  }
  if (s == TQ_OK && rank0) s = tq_cluster_set_state(t->cluster, c.params, c.momentum, e);
  if (s == TQ_OK && rank0) s = tq_cluster_set_running(t->cluster, c.state, e);
  for (int w = 0; w < t->x->workers && s == TQ_OK; w++) {
    data_stream *ds = &t->streams[w];
    if (c.workers[w].pos > ds->n) {
      s = tq_fail(e, TQ_EINPUT, "%s: worker %d's data position %u is beyond its shard of %u", path, w,
                  c.workers[w].pos, ds->n);
      break;
    }
    ds->pass = c.workers[w].pass;
    ds->pos = c.workers[w].pos;
    stream_order(ds, (uint32_t)t->x->seed, (uint32_t)w);
    for (int k = 0; !mpi && c.h.has_residuals && k < t->model.ntensors && s == TQ_OK; k++)
      s = tq_compressor_set_residual(tq_cluster_compressor(t->cluster, w), k,
                                     c.residuals + (size_t)w * t->model.nparams + t->model.tensors[k].offset, e);
  }
  if (s == TQ_OK) *totals = c.h;
  if (s == TQ_OK && rank0) {
    s = tq_metrics_resume(&t->met, t->dir, (long long)c.h.metrics_bytes, e);
    t->met_open = s == TQ_OK;
  }
  tq_checkpoint_free(&c);
  return s;
}

static tq_status write_summary(trainer *t, const tq_train_result *r, const tq_ckpt_header *tot,
                               tq_err *e) {
  const tq_experiment *x = t->x;
  tq_json j;
  tq_json_begin(&j);
  tq_json_str(&j, "status", "complete");
  tq_json_str(&j, "experiment", x->name);
  tq_json_str(&j, "variant", x->variant);
  tq_json_str(&j, "config", x->source);
  tq_json_str(&j, "model", t->model.name);
  tq_json_int(&j, "parameters", (long long)t->model.nparams);
  tq_json_str(&j, "device", tq_cluster_device_name(t->cluster, 0));
  tq_json_int(&j, "seed", x->seed);
  tq_json_int(&j, "workers", x->workers);
  tq_json_int(&j, "batch_size", x->batch_size);
  tq_json_str(&j, "method", x->method);
  tq_json_int(&j, "bits", strcmp(x->method, "none") ? x->bits : 32);
  tq_json_int(&j, "iterations", r->iterations);
  tq_json_num(&j, "final_test_accuracy", r->final_test_accuracy);
  tq_json_num(&j, "best_test_accuracy", r->best_test_accuracy);
  tq_json_num(&j, "final_test_loss", r->final_test_loss);
  tq_json_num(&j, "uplink_bits_total", tot->bits_total);
  tq_json_num(&j, "compression_ratio", r->compression_ratio);
  tq_json_num(&j, "mean_quant_mse", r->mean_quant_mse);
  tq_json_num(&j, "target_accuracy", x->target_accuracy);
  tq_json_num(&j, "sim_time_to_target_s", r->time_to_target >= 0 ? r->time_to_target : NAN);
  tq_json_num(&j, "sim_wall_s", r->sim_wall);
  tq_json_num(&j, "seconds", r->seconds);
  tq_json_num(&j, "images_per_s", r->images_per_s);
  tq_json_num(&j, "step_s", r->t_step);
  tq_json_num(&j, "compute_s", r->t_compute);
  tq_json_num(&j, "encode_s", r->t_encode);
  tq_json_num(&j, "queue_s", r->t_queue);
  tq_json_num(&j, "decode_s", r->t_decode);
  tq_json_num(&j, "update_s", r->t_update);
  tq_json_num(&j, "compress_share", r->t_step > 0 ? (r->t_encode + r->t_decode) / r->t_step : NAN);
  tq_json_str(&j, "transport", t->o->mpi ? "mpi" : "inproc");
  tq_json_int(&j, "mpi_ranks", t->o->mpi ? t->o->mpi->size : 1);
  tq_json_num(&j, "mpi_bytes_total", r->mpi_bytes);
  tq_json_num(&j, "mpi_bytes_per_iteration", r->iterations ? r->mpi_bytes / (double)r->iterations : NAN);
  tq_json_num(&j, "uplink_bytes_per_iteration", r->iterations ? tot->bits_total / 8.0 / (double)r->iterations : NAN);
  tq_json_num(&j, "mpi_diagnostic_bytes_total", t->o->mpi ? (double)t->o->mpi->diag_bytes : 0);
  tq_json_int(&j, "fault_events", r->fault_events);
  tq_reject_counts rc = tq_cluster_rejects(t->cluster);
  tq_json_int(&j, "rejected_invalid", rc.invalid);
  tq_json_int(&j, "rejected_duplicate", rc.duplicate);
  tq_json_int(&j, "rejected_stale", rc.stale);
  tq_json_num(&j, "normalize_mean", t->norm.mean);
  tq_json_num(&j, "normalize_std", t->norm.std);
  tq_provenance_json(&t->prov, &j);
  char path[TQ_PATH_MAX + 300];
  snprintf(path, sizeof path, "%s/summary.json", t->dir);
  return tq_json_write(&j, path, e);
}

/* A step failed (a worker missed the deadline or sent garbage under the stop policy, or
 * worse). The server's parameters and momentum are still those after iteration it - 1, so
 * without error feedback a checkpoint of that state (data positions rewound) is exact and the
 * run can resume from it. With error feedback the workers' residuals already moved on, so the
 * last periodic checkpoint stands. Either way the message says where to resume from. */
static void stop_with_checkpoint(trainer *t, long it, const tq_ckpt_worker *before,
                                 const tq_ckpt_header *tot, tq_err *e) {
  if (t->o->mpi || it <= 1 || !t->met_open) return;
  char path[TQ_PATH_MAX + 300];
  snprintf(path, sizeof path, "%s/checkpoint.bin", t->dir);
  if (uses_ef(t->x)) {
    if (access(path, F_OK) == 0) tq_wrap(e, "stopped; resume from the last checkpoint with --resume %s", t->dir);
    return;
  }
  data_stream *saved = malloc((size_t)t->x->workers * sizeof *saved);
  if (!saved) return;
  for (int w = 0; w < t->x->workers; w++) {
    saved[w] = t->streams[w];
    t->streams[w].pass = before[w].pass;
    t->streams[w].pos = before[w].pos;
  }
  tq_err ce = {0};
  if (save_checkpoint(t, it - 1, tot, &ce) == TQ_OK)
    tq_wrap(e, "stopped; checkpoint of iteration %ld written: --resume %s", it - 1, t->dir);
  for (int w = 0; w < t->x->workers; w++) t->streams[w] = saved[w];
  free(saved);
}

/* faults.exit_rank: this process dies at the start of an iteration, as a crashed machine would:
 * no clean-up, no word to the others (the test of the MPI transport's failure handling). */
static void maybe_exit(const trainer *t, long it) {
  int rank = t->o->mpi ? t->o->mpi->rank : 0;
  if (t->x->exit_rank == rank && t->x->exit_iteration == it) {
    fprintf(stderr, "tailquant: rank %d exits at iteration %ld (faults.exit_rank)\n", rank, it);
    fflush(stderr);
    _exit(3);
  }
}

/* ---- the schedule ---------------------------------------------------------------------------- */

/* What iteration `it` of `total` asks for, after its step: the one place the run's schedule
 * lives. Every rank computes it alike: under MPI the followers run the same dumps and
 * checkpoints (they take part in their collectives) and stop where the leader stops; only the
 * leader evaluates. */
typedef struct step_plan {
  bool evaluate;   /* train.eval_every divides it, or the last iteration */
  bool dump;       /* --dump-gradients names it */
  bool checkpoint; /* checkpoint.every divides it, the last iteration, --stop-after, interrupt */
  bool interrupt;  /* SIGINT/SIGTERM came and it is a multiple of compression.refit_every (level
                      designs are reused in between): checkpoint and stop (TQ_EINTR) */
  bool finishing;  /* a signal came but it is not such a multiple: run on to the next one */
  bool stop;       /* --stop-after: stop here, resumable, before the last iteration */
} step_plan;

static step_plan plan_step(const trainer *t, long it, long total) {
  const tq_experiment *x = t->x;
  const tq_train_opts *o = t->o;
  step_plan p = {0};
  p.evaluate = (x->eval_every > 0 && it % x->eval_every == 0) || it == total;
  for (int k = 0; k < o->ndump; k++) p.dump |= o->dump_iters[k] == it;
  /* a signal reaches the loop only in one process (in_loop; under MPI mpirun owns signals) */
  bool signalled = stop_signal && it < total;
  p.interrupt = signalled && it % x->refit_every == 0;
  p.finishing = signalled && !p.interrupt;
  p.checkpoint = (x->checkpoint_every > 0 && it % x->checkpoint_every == 0) || it == total ||
                 it == o->stop_after || p.interrupt;
  p.stop = it == o->stop_after && it < total;
  return p;
}

/* The part of an iteration every rank runs alike: the fault hook, each worker's next batch
 * (its data position before it into before[w], when given), and the step over the transport. */
static tq_status run_step(trainer *t, long it, long total, tq_ckpt_worker *before, tq_step_in *in,
                          tq_step_out *so, tq_err *e) {
  const tq_experiment *x = t->x;
  maybe_exit(t, it);
  for (int w = 0; w < x->workers; w++) {
    if (before) before[w] = (tq_ckpt_worker){t->streams[w].pass, t->streams[w].pos};
    stream_next(&t->streams[w], x->batch_size, (uint32_t)x->seed, (uint32_t)w);
  }
  *in = step_input(t, it, total);
  return t->o->mpi ? tq_mpi_step(t->o->mpi, t->cluster, in, so, e)
                   : tq_cluster_step(t->cluster, in, so, e);
}

/* ---- the leader's run: open, steps, finish --------------------------------------------------- */

/* What the leader carries from step to step. */
typedef struct run_state {
  long start, total;
  tq_ckpt_header tot; /* running totals, saved with every checkpoint */
  tq_progress prog;
  double t0, ema_ips, test_loss, test_acc;
  double sum_mse, sums[6]; /* per-phase seconds: compute, encode, queue, decode, update, step */
  long n_mse, steps, faults;
  tq_ckpt_worker *before; /* each worker's data position before the current step */
  bool said_finishing;
} run_state;

/* --resume of a run whose summary.json exists: complete, or stopped between writing the
 * summary and renaming the metrics, which this finishes (*done). */
static tq_status resume_completed(trainer *t, tq_train_result *r, long total, tq_err *e) {
  char partial[TQ_PATH_MAX + 300], final[TQ_PATH_MAX + 300];
  snprintf(partial, sizeof partial, "%s/metrics.csv.partial", t->dir);
  snprintf(final, sizeof final, "%s/metrics.csv", t->dir);
  if (access(partial, F_OK) != 0 || access(final, F_OK) == 0)
    return tq_fail(e, TQ_EINPUT, "%s: this run is complete; nothing to resume", t->dir);
  if (rename(partial, final) != 0)
    return tq_fail(e, TQ_EIO, "%s: cannot rename to metrics.csv: %s", partial, strerror(errno));
  if (!t->o->quiet)
    fprintf(stderr, "tailquant: %s was complete but for metrics.csv; now it is\n", t->dir);
  r->complete = true;
  r->iterations = total;
  snprintf(r->run_dir, sizeof r->run_dir, "%s", t->dir);
  return TQ_OK;
}

/* Takes the run folder (lock, checks), then either continues from its checkpoint or writes a
 * new run's config.cfg and metrics header. *done: a resumed run needed only its last rename. */
static tq_status open_run(trainer *t, run_state *rs, tq_train_result *r, bool *done, tq_err *e) {
  const tq_experiment *x = t->x;
  const tq_train_opts *o = t->o;
  char path[TQ_PATH_MAX + 300];
  *done = false;
  /* Before anything is read or written in the folder: this process alone works in it. */
  TQ_TRY(lock_run(t, !o->resume_dir, e));
  TQ_TRY(check_plan(t, rs->total, e));
  if (!o->resume_dir) TQ_TRY(check_run_folder(t->dir, o->force, e));
  snprintf(path, sizeof path, "%s/summary.json", t->dir);
  if (o->resume_dir && access(path, F_OK) == 0) {
    TQ_TRY(resume_completed(t, r, rs->total, e));
    *done = true;
    return TQ_OK;
  }
  remove(path); /* only a finished run has one (--force: the replaced run's) */
  rs->tot = (tq_ckpt_header){.time_to_target = -1, .best_test_accuracy = -1};
  rs->start = 1;
  const char *devs = o->device ? o->device : (x->worker_devices[0] ? x->worker_devices : x->device);
  TQ_TRY(tq_provenance_collect(&t->prov, x, devs, o->command_line, e));
  if (o->resume_dir) {
    TQ_TRY(load_checkpoint(t, &rs->tot, e));
    rs->start = (long)rs->tot.iteration + 1;
    return TQ_OK;
  }
  TQ_TRY(tq_mkdirs(t->dir, e));
  snprintf(path, sizeof path, "%s/config.cfg", t->dir);
  TQ_TRY(tq_experiment_write(x, path, e));
  TQ_TRY(tq_provenance_append_cfg(&t->prov, path, e));
  snprintf(path, sizeof path, "%s/checkpoint.bin", t->dir);
  remove(path);
  TQ_TRY(tq_metrics_open(&t->met, t->dir, e));
  t->met_open = true;
  return TQ_OK;
}

/* Progress on stderr, starting with what the run is. */
static void announce(trainer *t, run_state *rs) {
  const tq_experiment *x = t->x;
  const tq_train_opts *o = t->o;
  tq_progress *prog = &rs->prog;
  tq_progress_start(prog, rs->total, o->quiet);
  tq_progress_plan(prog, rs->start, x->eval_every, (long)t->test.n);
  if (o->sweep_count > 1)
    snprintf(prog->prefix, sizeof prog->prefix, "[%d/%d] ", o->sweep_index + 1, o->sweep_count);
  char method[48] = "no compression", devlist[512], line[1024];
  if (strcmp(x->method, "none"))
    snprintf(method, sizeof method, "%s at %d bits", x->method, x->bits);
  tq_cluster_describe_devices(t->cluster, devlist, sizeof devlist);
  snprintf(line, sizeof line,
           "tailquant: %s%s%s: %s (%zu parameters), %d worker%s x batch %d on %s, %s, %ld "
           "iterations%s",
           x->name, x->variant[0] ? "/" : "", x->variant, t->model.name, t->model.nparams,
           x->workers, x->workers > 1 ? "s" : "", x->batch_size, devlist, method, rs->total,
           o->resume_dir ? " (resumed)" : "");
  tq_progress_say(prog, line);
}

/* --profile: the host's phases of every step but the first (which compiles kernels). */
static void profile_phases(const run_state *rs, long it, const tq_step_out *so, double step) {
  if (it == rs->start) {
    tq_profile_reset();
    return;
  }
  tq_profile_host("compute (worker mean)", so->t_compute);
  tq_profile_host("encode (worker mean)", so->t_encode);
  tq_profile_host("queue", so->t_queue);
  tq_profile_host("decode", so->t_decode);
  tq_profile_host("update", so->t_update);
  tq_profile_host("step", step);
}

/* The test set with the server's parameters; the best accuracy and the simulated time to the
 * target follow. */
static tq_status evaluate(trainer *t, run_state *rs, long it, tq_err *e) {
  tq_progress_eval_begin(&rs->prog, it);
  tq_status s =
      tq_cluster_evaluate(t->cluster, &t->test, t->norm, &rs->test_loss, &rs->test_acc, e);
  tq_progress_eval_end(&rs->prog);
  TQ_TRY(s);
  if (rs->test_acc > rs->tot.best_test_accuracy) rs->tot.best_test_accuracy = rs->test_acc;
  if (rs->tot.time_to_target < 0 && rs->test_acc >= t->x->target_accuracy)
    rs->tot.time_to_target = rs->tot.sim_wall;
  return TQ_OK;
}

/* The step's row of metrics.csv, the running sums and the progress line. */
static tq_status record(trainer *t, run_state *rs, long it, const tq_step_in *in,
                        const tq_step_out *so, double step, double comm, bool evaluated,
                        tq_err *e) {
  const tq_train_opts *o = t->o;
  double ips = (double)so->samples / (step > 0 ? step : 1e-9);
  double loss = so->loss_sum / (double)so->samples, acc = (double)so->correct / (double)so->samples;
  if (isfinite(so->quant_mse)) {
    rs->sum_mse += so->quant_mse;
    rs->n_mse++;
  }
  rs->ema_ips = it == rs->start ? ips : 0.9 * rs->ema_ips + 0.1 * ips;
  const double ph[6] = {so->t_compute, so->t_encode, so->t_queue, so->t_decode, so->t_update, step};
  for (int k = 0; k < 6; k++) rs->sums[k] += ph[k];
  rs->steps++;
  rs->tot.seconds = tq_now_seconds() - rs->t0;
  tq_metrics_row row = {
      .iteration = it, .epoch = t->streams[0].pass + 1, .loss = loss, .train_accuracy = acc,
      .evaluated = evaluated, .test_loss = rs->test_loss, .test_accuracy = rs->test_acc,
      .lr = in->lr, .bits = so->bits, .bits_total = rs->tot.bits_total,
      .compression_ratio = so->bits_fp32 / so->bits, .quant_mse = so->quant_mse,
      .gamma = so->gamma, .g_min = so->g_min, .alpha = so->alpha, .rejected = so->rejected,
      .sim_comm_s = comm, .t_compute = so->t_compute, .t_encode = so->t_encode,
      .t_queue = so->t_queue, .t_decode = so->t_decode, .t_update = so->t_update, .t_step = step,
      .sim_wall_s = rs->tot.sim_wall, .images_per_s = ips, .seconds = rs->tot.seconds,
      .mpi_bytes = o->mpi ? (unsigned long long)o->mpi->step_bytes : 0ull,
      .workers_used = so->workers_used, .missing = so->missing, .unusable = so->unusable};
  tq_status s = tq_metrics_write(&t->met, &row, e);
  tq_progress_update(&rs->prog, it, (int)t->streams[0].pass + 1, loss, acc, rs->test_acc,
                     rs->ema_ips, evaluated);
  return s;
}

/* After a checkpoint, a signal's stop (TQ_EINTR, with the --resume command) or --stop-after's
 * (*stopped); a signal between multiples of refit_every says once that the run finishes to
 * the next one. */
static tq_status maybe_stop(trainer *t, run_state *rs, long it, step_plan p, tq_train_result *r,
                            bool *stopped, tq_err *e) {
  const char *sig = stop_signal == SIGTERM ? "SIGTERM" : "SIGINT";
  if (p.interrupt) {
    tq_progress_end(&rs->prog);
    return tq_fail(e, TQ_EINTR,
                   "interrupted by %s after iteration %ld of %ld; checkpoint written. "
                   "Continue with:\n  tailquant train --resume %s",
                   sig, it, rs->total, t->dir);
  }
  if (p.finishing && !rs->said_finishing) {
    tq_progress_end(&rs->prog);
    fprintf(stderr, "tailquant: %s: finishing to iteration %ld (a multiple of "
            "compression.refit_every) to write a checkpoint; again to quit at once\n",
            sig, (it / t->x->refit_every + 1) * t->x->refit_every);
    rs->said_finishing = true;
  }
  if (p.stop) {
    tq_progress_end(&rs->prog);
    if (!t->o->quiet)
      fprintf(stderr, "tailquant: stopped after iteration %ld as asked; continue with --resume %s\n",
              it, t->dir);
    r->complete = false;
    r->iterations = it;
    snprintf(r->run_dir, sizeof r->run_dir, "%s", t->dir);
    *stopped = true;
  }
  return TQ_OK;
}

/* One iteration on the leader: the step, what the plan asks of it, the row. *stopped: the run
 * stops here (--stop-after). */
static tq_status lead_step(trainer *t, run_state *rs, long it, tq_train_result *r, bool *stopped,
                           tq_err *e) {
  const tq_experiment *x = t->x;
  double ts = tq_now_seconds();
  tq_step_in in;
  tq_step_out so;
  tq_status s = run_step(t, it, rs->total, rs->before, &in, &so, e);
  if (s != TQ_OK) {
    stop_with_checkpoint(t, it, rs->before, &rs->tot, e);
    return s;
  }
  if (so.events[0]) {
    /* Faults are warnings: they reach stderr even with --quiet. */
    tq_progress_end(&rs->prog);
    fprintf(stderr, "tailquant: iteration %ld: %s\n", it, so.events);
    rs->faults += so.missing + so.unusable;
  }
  double loss = so.loss_sum / (double)so.samples;
  if (!isfinite(loss))
    return tq_fail(e, TQ_EINPUT,
                   "the loss became %g at iteration %ld: training diverged (lower train.lr, now %g)",
                   loss, it, (double)in.lr);
  /* The step's own time: evaluation, dumps and checkpoints are not part of it. */
  double step = tq_now_seconds() - ts;
  if (t->o->profile) profile_phases(rs, it, &so, step);
  step_plan p = plan_step(t, it, rs->total);
  if (p.dump) TQ_TRY(dump_gradients(t, it, e));
  /* the link model: each step's slowest upload, and the parameters down when downlink is on */
  const double bw = x->bandwidth_mbps * 1e6, lat = x->latency_ms * 1e-3;
  rs->tot.bits_total += so.bits;
  rs->tot.bits_fp32_total += so.bits_fp32;
  double comm = lat + so.max_worker_bits / bw;
  if (x->downlink) comm += lat + 32.0 * (double)t->model.nparams / bw;
  rs->tot.sim_wall += so.t_worker_max + so.t_decode + so.t_update + comm;
  if (p.evaluate) TQ_TRY(evaluate(t, rs, it, e));
  TQ_TRY(record(t, rs, it, &in, &so, step, comm, p.evaluate, e));
  if (p.checkpoint) TQ_TRY(save_checkpoint(t, it, &rs->tot, e));
  return maybe_stop(t, rs, it, p, r, stopped, e);
}

/* The result, summary.json, metrics.csv, the profile and the closing line. */
static tq_status finish_run(trainer *t, const run_state *rs, tq_train_result *r, tq_err *e) {
  const tq_experiment *x = t->x;
  const tq_train_opts *o = t->o;
  r->complete = true;
  r->iterations = rs->total;
  r->seconds = rs->tot.seconds;
  r->final_test_accuracy = rs->test_acc;
  r->final_test_loss = rs->test_loss;
  r->best_test_accuracy = rs->tot.best_test_accuracy;
  r->bits_total = rs->tot.bits_total;
  r->compression_ratio = rs->tot.bits_fp32_total / rs->tot.bits_total;
  r->mean_quant_mse = rs->n_mse ? rs->sum_mse / (double)rs->n_mse : NAN;
  r->sim_wall = rs->tot.sim_wall;
  r->time_to_target = rs->tot.time_to_target;
  double n = rs->steps ? (double)rs->steps : 1;
  double *phase[6] = {&r->t_compute, &r->t_encode, &r->t_queue,
                      &r->t_decode,  &r->t_update, &r->t_step};
  for (int k = 0; k < 6; k++) *phase[k] = rs->sums[k] / n;
  r->images_per_s = (double)x->workers * x->batch_size / r->t_step;
  r->mpi_bytes = o->mpi ? (double)o->mpi->total_bytes : 0;
  r->fault_events = rs->faults;
  snprintf(r->run_dir, sizeof r->run_dir, "%s", t->dir);
  /* summary.json first, then metrics.csv.partial -> metrics.csv: a kill between the two leaves
   * a complete summary, and --resume finishes the rename (resume_completed). The other order
   * would leave a run with no summary and no partial metrics, which nothing could resume. */
  TQ_TRY(write_summary(t, r, &rs->tot, e));
  TQ_TRY(tq_metrics_finish(&t->met, e));
  t->met_open = false;
  if (o->profile) {
    /* Evaluation kernels ran too; they show under their names beside the steps'. */
    TQ_TRY(tq_profile_collect(e));
    char title[256];
    snprintf(title, sizeof title, "%s, %d workers x %d, %s", t->model.name, x->workers,
             x->batch_size, x->method);
    tq_profile_report(stdout, title);
  }
  /* The result: on stdout, with --quiet too (it hides progress only). */
  printf("tailquant: done in %.1f s: test accuracy %.2f%% (best %.2f%%), %.3g uplink bits "
           "(%.1fx smaller than fp32); results in %s/\n",
           r->seconds, 100 * rs->test_acc, 100 * r->best_test_accuracy, r->bits_total,
           r->compression_ratio, t->dir);
  return TQ_OK;
}

/* Rank 0, or the one process: trains and writes the run. */
static tq_status run(trainer *t, tq_train_result *r, tq_err *e) {
  run_state rs = {.total = total_iterations(t), .test_loss = NAN, .test_acc = -1};
  bool done = false;
  TQ_TRY(open_run(t, &rs, r, &done, e));
  if (done) return TQ_OK;
  announce(t, &rs);
  rs.t0 = tq_now_seconds() - rs.tot.seconds;
  rs.before = calloc((size_t)t->x->workers, sizeof *rs.before);
  if (!rs.before) return tq_fail(e, TQ_ENOMEM, "out of memory");
  tq_status s = TQ_OK;
  bool stopped = false;
  in_loop = !t->o->mpi;
  for (long it = rs.start; it <= rs.total && s == TQ_OK && !stopped; it++)
    s = lead_step(t, &rs, it, r, &stopped, e);
  in_loop = 0;
  free(rs.before);
  tq_progress_end(&rs.prog);
  if (s != TQ_OK || stopped) return s;
  return finish_run(t, &rs, r, e);
}

/* Ranks other than 0 under MPI: the same schedule as rank 0 (plan_step: same iterations, data
 * streams, checkpoints and dumps) without outputs; rank 0 evaluates, logs and writes the run. */
static tq_status run_follower(trainer *t, tq_train_result *r, tq_err *e) {
  const long total = total_iterations(t);
  tq_ckpt_header tot = {0};
  long start = 1;
  if (t->o->resume_dir) {
    TQ_TRY(load_checkpoint(t, &tot, e));
    start = (long)tot.iteration + 1;
  }
  for (long it = start; it <= total; it++) {
    tq_step_in in;
    tq_step_out so;
    TQ_TRY(run_step(t, it, total, NULL, &in, &so, e));
    step_plan p = plan_step(t, it, total);
    if (p.dump) TQ_TRY(dump_gradients(t, it, e));
    if (p.checkpoint) TQ_TRY(save_checkpoint(t, it, &tot, e));
    if (p.stop) {
      r->iterations = it;
      return TQ_OK;
    }
  }
  r->complete = true;
  r->iterations = total;
  return TQ_OK;
}

tq_status tq_train(const tq_experiment *x, const tq_train_opts *o, tq_train_result *r, tq_err *e) {
  trainer t;
  memset(&t, 0, sizeof t);
  t.lock_fd = -1;
  memset(r, 0, sizeof *r);
  t.x = x;
  t.o = o;
  if (o->resume_dir)
    snprintf(t.dir, sizeof t.dir, "%s", o->resume_dir);
  else if (x->variant[0])
    snprintf(t.dir, sizeof t.dir, "%s/%s/%s", x->out_dir, x->name, x->variant);
  else
    snprintf(t.dir, sizeof t.dir, "%s/%s", x->out_dir, x->name);
  tq_status s = setup(&t, e);
  if (s == TQ_OK) s = (o->mpi && o->mpi->rank != 0) ? run_follower(&t, r, e) : run(&t, r, e);
  teardown(&t);
  return s;
}

tq_status tq_train_check(const tq_experiment *x, const tq_train_opts *o, tq_err *e) {
  tq_compress_cfg cc;
  TQ_TRY(compress_cfg(x, &cc, e));
  static tq_model m; /* large; one check at a time */
  tq_status s = tq_model_load(x->model_file, &m, e);
  if (s != TQ_OK) return tq_wrap(e, "model.file");
  const struct {
    const char *key, *path;
  } files[] = {{"data.train_images", x->train_images}, {"data.train_labels", x->train_labels},
               {"data.test_images", x->test_images},   {"data.test_labels", x->test_labels}};
  bool cifar = !strcmp(x->data_format, "cifar10");
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    int fd;
    size_t size;
    /* CIFAR-10: the label keys are not used, and the image keys may name folders (read, and
     * checked file by file, when the run starts). */
    if (cifar) continue;
    if (tq_open_regular(files[i].path, "data file", SIZE_MAX, &fd, &size, e) != TQ_OK)
      return tq_wrap(e, "%s", files[i].key);
    close(fd);
  }
  for (int k = 0; x->iterations > 0 && k < o->ndump; k++)
    if (o->dump_iters[k] > x->iterations)
      return tq_fail(e, TQ_EINPUT, "--dump-gradients %ld: the run has only %d iterations (train.iterations)",
                     o->dump_iters[k], x->iterations);
  if (o->resume_dir) return TQ_OK;
  char dir[TQ_PATH_MAX + 256];
  if (x->variant[0])
    snprintf(dir, sizeof dir, "%s/%s/%s", x->out_dir, x->name, x->variant);
  else
    snprintf(dir, sizeof dir, "%s/%s", x->out_dir, x->name);
  return check_run_folder(dir, o->force, e);
}
