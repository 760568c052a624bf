/* The progress line: redrawn in place on a terminal, plain lines (one every few seconds and at
 * evaluations) when output goes to a file or pipe; nothing with quiet. */
#ifndef TQ_EXP_PROGRESS_H
#define TQ_EXP_PROGRESS_H

#include <stdbool.h>

typedef struct tq_progress {
  bool tty, quiet, drawn;
  double start, last_print;
  long total;
} tq_progress;

void tq_progress_start(tq_progress *p, long total_iterations, bool quiet);
/* test_acc < 0: not evaluated yet. force: print a plain line even between intervals. */
void tq_progress_update(tq_progress *p, long iteration, int epoch, double loss, double train_acc,
                        double test_acc, double images_per_s, bool force);
void tq_progress_end(tq_progress *p);
/* Prints a message line without garbling the redrawn progress line. */
void tq_progress_say(tq_progress *p, const char *msg);

#endif
