#include "exp/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "util/fileio.h"

void tq_progress_start(tq_progress *p, long total, bool quiet) {
  p->tty = isatty(fileno(stdout)) != 0;
  p->quiet = quiet;
  p->drawn = false;
  p->start = p->last_print = tq_now_seconds();
  p->total = total;
}

static void fmt_time(char *out, size_t cap, double s) {
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

void tq_progress_update(tq_progress *p, long it, int epoch, double loss, double train_acc,
                        double test_acc, double ips, bool force) {
  if (p->quiet) return;
  double now = tq_now_seconds();
  double interval = p->tty ? 0.2 : 5.0;
  if (!force && it != p->total && now - p->last_print < interval) return;
  p->last_print = now;
  double elapsed = now - p->start;
  char eta[32], test[32] = "   --  ";
  fmt_time(eta, sizeof eta, it > 0 ? elapsed / (double)it * (double)(p->total - it) : -1);
  if (test_acc >= 0) snprintf(test, sizeof test, "%6.2f%%", 100 * test_acc);
  printf("%siter %*ld/%ld  epoch %d  loss %.4f  train %6.2f%%  test %s  %7.0f img/s  ETA %s%s",
         p->tty ? "\r" : "", p->total >= 10000 ? 6 : 4, it, p->total, epoch, loss,
         100 * train_acc, test, ips, eta, p->tty ? "\033[K" : "\n");
  fflush(stdout);
  p->drawn = p->tty;
}

void tq_progress_say(tq_progress *p, const char *msg) {
  if (p->quiet) return;
  printf("%s%s\n", p->drawn ? "\r\033[K" : "", msg);
  p->drawn = false;
  fflush(stdout);
}

void tq_progress_end(tq_progress *p) {
  if (!p->quiet && p->drawn) printf("\n");
  p->drawn = false;
  fflush(stdout);
}
