/* Progress on standard error (results go to standard output): redrawn in place on a terminal;
 * plain lines otherwise, the first step's at once, then one every few seconds and at each
 * evaluation; nothing with quiet. The ETA counts the evaluations still to come, timed as they
 * run (before the first, estimated from the training throughput); an evaluation expected to
 * take longer than the line interval is announced before it starts. */
#ifndef TQ_EXPERIMENT_PROGRESS_H
#define TQ_EXPERIMENT_PROGRESS_H

#include <stdbool.h>

typedef struct tq_progress {
  bool tty, quiet, drawn;
  double start, last_print;
  long total, first; /* iterations first..total run in this process */
  /* evaluation schedule and timing */
  long eval_every, eval_images, evals_done;
  double eval_seconds, eval_t0, last_ips;
  char prefix[64]; /* "[2/4] " inside a sweep */
} tq_progress;

void tq_progress_start(tq_progress *p, long total_iterations, bool quiet);
/* The schedule the ETA needs: this process runs iterations first..total, evaluates every
 * eval_every (0: only at the end) on eval_images images. */
void tq_progress_plan(tq_progress *p, long first, long eval_every, long eval_images);
/* test_acc < 0: not evaluated yet. force: print a plain line even between intervals. */
void tq_progress_update(tq_progress *p, long iteration, int epoch, double loss, double train_acc,
                        double test_acc, double images_per_s, bool force);
/* Around an evaluation: times it for the ETA; announces a long one. */
void tq_progress_eval_begin(tq_progress *p, long iteration);
void tq_progress_eval_end(tq_progress *p);
void tq_progress_end(tq_progress *p);
/* Prints a message line without garbling the redrawn progress line. */
void tq_progress_say(tq_progress *p, const char *msg);
/* "h:mm:ss" or "m:ss"; "--:--" for a negative or absurd value. */
void tq_progress_fmt_time(char *out, unsigned long cap, double seconds);

#endif
