/* Single-worker training without compression: the loop behind `tailquant train`. */
#ifndef TQ_EXP_TRAIN_H
#define TQ_EXP_TRAIN_H

#include <stdbool.h>

#include "exp/config.h"
#include "util/err.h"

typedef struct tq_train_opts {
  const char *device; /* overrides device.spec when non-NULL */
  bool quiet;
} tq_train_opts;

typedef struct tq_train_result {
  long iterations;
  double final_test_accuracy, best_test_accuracy, final_test_loss;
  double seconds, images_per_s;
  char run_dir[TQ_PATH_MAX + 80];
} tq_train_result;

/* Loads the model and data, checks they fit, trains, evaluates and writes
 * output.dir/experiment.name/{config.cfg, metrics.csv, summary.json}. Every input is checked
 * before the first iteration. */
tq_status tq_train(const tq_experiment *x, const tq_train_opts *o, tq_train_result *r, tq_err *e);

#endif
