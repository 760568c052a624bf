#include "exp/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl_runtime.h"
#include "data/dataset.h"
#include "data/shuffle.h"
#include "exp/metrics.h"
#include "exp/progress.h"
#include "nn/net.h"
#include "util/fileio.h"

typedef struct trainer {
  const tq_experiment *x;
  tq_model model;
  tq_dataset train, test;
  tq_norm norm;
  tq_cl cl;
  bool cl_open;
  tq_net net;
  bool net_made;
  float *xbuf;
  int32_t *ybuf;
  uint32_t *perm, *idx;
} trainer;

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
    return tq_fail(e, TQ_EINPUT,
                   "%s: the model has %d classes but %s sets data.classes = %d", m->path,
                   m->classes, t->x->source, t->x->classes);
  return TQ_OK;
}

static tq_status setup(trainer *t, const tq_train_opts *o, tq_err *e) {
  const tq_experiment *x = t->x;
  TQ_TRY(tq_model_load(x->model_file, &t->model, e));
  TQ_TRY(tq_dataset_load(x->train_images, x->train_labels, (uint32_t)x->classes, &t->train, e));
  TQ_TRY(tq_dataset_load(x->test_images, x->test_labels, (uint32_t)x->classes, &t->test, e));
  TQ_TRY(check_fit(t, e));
  if (!strcmp(x->normalize, "auto")) {
    TQ_TRY(tq_norm_from_dataset(&t->train, x->train_images, &t->norm, e));
  } else {
    t->norm = (tq_norm){x->mean, x->std};
    TQ_TRY(tq_norm_check(t->norm, "data.mean/data.std", e));
  }
  TQ_TRY(tq_cl_open(&t->cl, o->device ? o->device : x->device, false, e));
  t->cl_open = true;
  TQ_TRY(tq_net_create(&t->net, &t->model, &t->cl, x->batch_size, (uint32_t)x->seed, 0, e));
  t->net_made = true;
  size_t per = tq_dataset_image_size(&t->train), B = (size_t)x->batch_size;
  t->xbuf = malloc(B * per * sizeof *t->xbuf);
  t->ybuf = malloc(B * sizeof *t->ybuf);
  t->perm = malloc(t->train.n * sizeof *t->perm);
  t->idx = malloc((t->test.n > B ? t->test.n : B) * sizeof *t->idx);
  if (!t->xbuf || !t->ybuf || !t->perm || !t->idx)
    return tq_fail(e, TQ_ENOMEM, "out of host memory for batches");
  return TQ_OK;
}

static void teardown(trainer *t) {
  if (t->net_made) tq_net_destroy(&t->net);
  if (t->cl_open) tq_cl_close(&t->cl);
  tq_dataset_free(&t->train);
  tq_dataset_free(&t->test);
  free(t->xbuf);
  free(t->ybuf);
  free(t->perm);
  free(t->idx);
}

/* Mean loss and accuracy over the whole test set, in batches of the training batch size. */
static tq_status evaluate(trainer *t, double *loss, double *acc, tq_err *e) {
  const uint32_t B = (uint32_t)t->x->batch_size;
  double lsum = 0;
  long correct = 0;
  for (uint32_t start = 0; start < t->test.n; start += B) {
    uint32_t count = t->test.n - start < B ? t->test.n - start : B;
    for (uint32_t i = 0; i < count; i++) t->idx[i] = start + i;
    TQ_TRY(tq_dataset_fill_batch(&t->test, t->idx, count, t->norm, t->xbuf, t->ybuf, e));
    TQ_TRY(tq_net_set_batch(&t->net, t->xbuf, t->ybuf, (int)count, e));
    TQ_TRY(tq_net_forward(&t->net, false, 0, e));
    TQ_TRY(tq_softmax_xent(&t->net, (int)count, e));
    double l;
    int c;
    TQ_TRY(tq_net_read_loss(&t->net, (int)count, &l, &c, e));
    lsum += l;
    correct += c;
  }
  *loss = lsum / t->test.n;
  *acc = (double)correct / t->test.n;
  return TQ_OK;
}

static tq_status run(trainer *t, const tq_train_opts *o, tq_train_result *r, tq_err *e) {
  const tq_experiment *x = t->x;
  const uint32_t B = (uint32_t)x->batch_size, n = t->train.n;
  const long per_epoch = (long)((n + B - 1) / B);
  const long total = x->iterations > 0 ? x->iterations : per_epoch * x->epochs;

  snprintf(r->run_dir, sizeof r->run_dir, "%s/%s", x->out_dir, x->name);
  TQ_TRY(tq_mkdirs(r->run_dir, e));
  char path[TQ_PATH_MAX + 128];
  snprintf(path, sizeof path, "%s/config.cfg", r->run_dir);
  TQ_TRY(tq_experiment_write(x, path, e));
  snprintf(path, sizeof path, "%s/summary.json", r->run_dir);
  remove(path); /* only a finished run has one */

  tq_progress prog;
  tq_progress_start(&prog, total, o->quiet);
  char line[512], desc[4096];
  tq_model_describe(&t->model, desc, sizeof desc);
  snprintf(line, sizeof line,
           "tailquant: training %s (%zu parameters) on %s [%s], %u training and %u test images, "
           "batch %u, %ld iterations",
           t->model.name, t->model.nparams, t->cl.info.name, t->cl.info.platform_name, n,
           t->test.n, B, total);
  tq_progress_say(&prog, line);

  tq_metrics met;
  TQ_TRY(tq_metrics_open(&met, r->run_dir,
                         "iteration,epoch,loss,train_accuracy,test_loss,test_accuracy,lr,"
                         "images_per_s,seconds",
                         e));
  tq_status s = TQ_OK;
  double t0 = tq_now_seconds(), best = -1, test_loss = NAN, test_acc = -1, ema_ips = 0;
  long it = 0;
  int epoch = 0;
  uint32_t pos = n; /* forces a new epoch's permutation on the first step */
  for (it = 1; it <= total && s == TQ_OK; it++) {
    double ts = tq_now_seconds();
    if (pos >= n) {
      tq_shuffle_perm(t->perm, n, (uint32_t)x->seed, (uint32_t)epoch);
      epoch++;
      pos = 0;
    }
    uint32_t count = n - pos < B ? n - pos : B;
    s = tq_dataset_fill_batch(&t->train, t->perm + pos, count, t->norm, t->xbuf, t->ybuf, e);
    pos += count;
    if (s == TQ_OK) s = tq_net_set_batch(&t->net, t->xbuf, t->ybuf, (int)count, e);
    if (s == TQ_OK) s = tq_net_forward(&t->net, true, (uint32_t)it, e);
    if (s == TQ_OK) s = tq_softmax_xent(&t->net, (int)count, e);
    if (s == TQ_OK) s = tq_net_backward(&t->net, (uint32_t)it, e);
    if (s == TQ_OK) s = tq_net_sgd(&t->net, (float)x->lr, (float)x->momentum, (float)x->weight_decay, e);
    double lsum = 0;
    int correct = 0;
    if (s == TQ_OK) s = tq_net_read_loss(&t->net, (int)count, &lsum, &correct, e);
    if (s != TQ_OK) break;
    double step = tq_now_seconds() - ts, ips = count / (step > 0 ? step : 1e-9);
    ema_ips = it == 1 ? ips : 0.9 * ema_ips + 0.1 * ips;
    double loss = lsum / count;
    if (!isfinite(loss)) {
      s = tq_fail(e, TQ_EINPUT,
                  "the loss became %g at iteration %ld: training diverged (lower train.lr, now %g)",
                  loss, it, x->lr);
      break;
    }
    bool eval = (x->eval_every > 0 && it % x->eval_every == 0) || it == total;
    char tl[32] = "", ta[32] = "";
    if (eval) {
      s = evaluate(t, &test_loss, &test_acc, e);
      if (s != TQ_OK) break;
      if (test_acc > best) best = test_acc;
      snprintf(tl, sizeof tl, "%.6f", test_loss);
      snprintf(ta, sizeof ta, "%.6f", test_acc);
    }
    snprintf(line, sizeof line, "%ld,%d,%.6f,%.6f,%s,%s,%g,%.1f,%.4f", it, epoch, loss,
             (double)correct / count, tl, ta, x->lr, ips, tq_now_seconds() - t0);
    s = tq_metrics_row(&met, line, e);
    tq_progress_update(&prog, it, epoch, loss, (double)correct / count, test_acc, ema_ips, eval);
  }
  tq_progress_end(&prog);
  if (s != TQ_OK) {
    tq_metrics_abandon(&met);
    return s;
  }
  TQ_TRY(tq_metrics_finish(&met, e));
  r->iterations = total;
  r->seconds = tq_now_seconds() - t0;
  r->final_test_accuracy = test_acc;
  r->best_test_accuracy = best;
  r->final_test_loss = test_loss;
  r->images_per_s = (double)total * B / r->seconds;

  tq_json j;
  tq_json_begin(&j);
  tq_json_str(&j, "status", "complete");
  tq_json_str(&j, "experiment", x->name);
  tq_json_str(&j, "config", x->source);
  tq_json_str(&j, "model", t->model.name);
  tq_json_int(&j, "parameters", (long long)t->model.nparams);
  tq_json_str(&j, "device", t->cl.info.name);
  tq_json_str(&j, "platform", t->cl.info.platform_name);
  tq_json_int(&j, "seed", x->seed);
  tq_json_int(&j, "workers", 1);
  tq_json_int(&j, "batch_size", x->batch_size);
  tq_json_int(&j, "iterations", total);
  tq_json_num(&j, "epochs", (double)total * B / n);
  tq_json_num(&j, "final_test_accuracy", test_acc);
  tq_json_num(&j, "best_test_accuracy", best);
  tq_json_num(&j, "final_test_loss", test_loss);
  tq_json_num(&j, "seconds", r->seconds);
  tq_json_num(&j, "images_per_s", r->images_per_s);
  tq_json_num(&j, "normalize_mean", t->norm.mean);
  tq_json_num(&j, "normalize_std", t->norm.std);
  snprintf(path, sizeof path, "%s/summary.json", r->run_dir);
  TQ_TRY(tq_json_write(&j, path, e));
  if (!o->quiet)
    printf("tailquant: done in %.1f s: test accuracy %.2f%% (best %.2f%%); results in %s/\n",
           r->seconds, 100 * test_acc, 100 * best, r->run_dir);
  return TQ_OK;
}

tq_status tq_train(const tq_experiment *x, const tq_train_opts *o, tq_train_result *r, tq_err *e) {
  trainer t;
  memset(&t, 0, sizeof t);
  memset(r, 0, sizeof *r);
  t.x = x;
  tq_status s = setup(&t, o, e);
  if (s == TQ_OK) s = run(&t, o, r, e);
  teardown(&t);
  return s;
}
