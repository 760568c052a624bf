#include "experiment/progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/fileio.h"

#define LINE_INTERVAL_S 5.0 /* without a terminal */

void tq_progress_start(tq_progress *p, long total, bool quiet) {
  memset(p, 0, sizeof *p);
  p->tty = isatty(fileno(stderr)) != 0;
  p->quiet = quiet;
  p->start = p->last_print = tq_now_seconds();
  p->total = total;
  p->first = 1;
}

void tq_progress_plan(tq_progress *p, long first, long eval_every, long eval_images) {
  p->first = first;
  p->eval_every = eval_every;
  p->eval_images = eval_images;
}

void tq_progress_fmt_time(char *out, unsigned long cap, double s) {
  if (s < 0 || s > 1e7) {
    snprintf(out, cap, "--:--");
    return;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(out, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(out, cap, "%ld:%02ld", t / 60, t % 60);
}

/* Evaluations at iterations after `it` (the last iteration always evaluates). */
static long evals_after(const tq_progress *p, long it) {
  long n = p->eval_every > 0 ? p->total / p->eval_every - it / p->eval_every : 0;
  if (p->eval_every <= 0 || p->total % p->eval_every != 0) n += it < p->total;
  return n;
}

/* Seconds one evaluation takes: measured, or before the first, the images at three times the
 * training throughput (a forward pass only, against forward + backward + update). */
static double eval_cost(const tq_progress *p) {
  if (p->evals_done > 0) return p->eval_seconds / (double)p->evals_done;
  if (p->last_ips > 0) return (double)p->eval_images / (3.0 * p->last_ips);
  return 0;
}

void tq_progress_update(tq_progress *p, long it, int epoch, double loss, double train_acc,
                        double test_acc, double ips, bool force) {
  if (ips > 0) p->last_ips = ips;
  if (p->quiet) return;
  double now = tq_now_seconds();
  double interval = p->tty ? 0.2 : LINE_INTERVAL_S;
  bool first = it == p->first;
  if (!force && !first && it != p->total && now - p->last_print < interval) return;
  p->last_print = now;
  /* time per step without the evaluations, times the steps left, plus the evaluations left */
  double steps_s = now - p->start - p->eval_seconds;
  long done = it - p->first + 1;
  char eta[32], test[32] = "   --  ";
  double left = done > 0 ? steps_s / (double)done * (double)(p->total - it) : -1;
  if (left >= 0) left += eval_cost(p) * (double)evals_after(p, it);
  tq_progress_fmt_time(eta, sizeof eta, left);
  if (test_acc >= 0) snprintf(test, sizeof test, "%6.2f%%", 100 * test_acc);
  fprintf(stderr, "%s%siter %*ld/%ld  epoch %d  loss %.4f  train %6.2f%%  test %s  %7.0f img/s  ETA %s%s",
          p->tty ? "\r" : "", p->prefix, p->total >= 10000 ? 6 : 4, it, p->total, epoch, loss,
          100 * train_acc, test, ips, eta, p->tty ? "\033[K" : "\n");
  fflush(stderr);
  p->drawn = p->tty;
}

void tq_progress_eval_begin(tq_progress *p, long it) {
  p->eval_t0 = tq_now_seconds();
  if (p->quiet) return;
  double cost = eval_cost(p);
  if (cost < LINE_INTERVAL_S) return;
  char t[32];
  tq_progress_fmt_time(t, sizeof t, cost);
  char msg[160];
  snprintf(msg, sizeof msg, "%sevaluating after iteration %ld on %ld test images (about %s)",
           p->prefix, it, p->eval_images, t);
  if (p->tty) {
    fprintf(stderr, "\r%s\033[K", msg);
    p->drawn = true;
  } else {
    fprintf(stderr, "%s\n", msg);
  }
  fflush(stderr);
}

void tq_progress_eval_end(tq_progress *p) {
  p->eval_seconds += tq_now_seconds() - p->eval_t0;
  p->evals_done++;
}

void tq_progress_say(tq_progress *p, const char *msg) {
  if (p->quiet) return;
  fprintf(stderr, "%s%s\n", p->drawn ? "\r\033[K" : "", msg);
  p->drawn = false;
  fflush(stderr);
}

void tq_progress_end(tq_progress *p) {
  if (!p->quiet && p->drawn) fprintf(stderr, "\n");
  p->drawn = false;
  fflush(stderr);
}
