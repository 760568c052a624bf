/* The training loop behind `tailquant train`: N workers (1 by default) over the simulated
 * cluster, with compression, schedules, evaluation, the link model, checkpoints and metrics. */
#ifndef TQ_EXPERIMENT_TRAIN_H
#define TQ_EXPERIMENT_TRAIN_H

#include <stdbool.h>

#include "cluster/mpi_link.h"
#include "experiment/config.h"
#include "util/err.h"

typedef struct tq_train_opts {
  const char *device;     /* overrides device.spec and workers.devices when non-NULL */
  bool quiet;
  const char *resume_dir; /* continue the run in this folder from its checkpoint.bin */
  long stop_after;        /* > 0: stop (as if interrupted) after this iteration */
  const long *dump_iters; /* write every worker's raw gradient at these iterations */
  int ndump;
  tq_mpi *mpi;            /* NULL: in-process transport; else this process's MPI rank */
  bool profile;           /* per-kernel and per-phase times at the end (OpenCL profiling) */
  bool force;             /* replace a completed or stopped run in the same folder */
  const char *command_line; /* as typed, for the provenance (summary.json, config.cfg) */
  int sweep_index, sweep_count; /* this variant's place in a sweep (progress lines) */
} tq_train_opts;

typedef struct tq_train_result {
  bool complete; /* false when stopped early by stop_after */
  long iterations;
  double final_test_accuracy, best_test_accuracy, final_test_loss;
  double bits_total, compression_ratio, mean_quant_mse;
  double sim_wall, time_to_target; /* simulated seconds; time_to_target < 0: never reached */
  double seconds, images_per_s;
  /* mean seconds per step in each phase */
  double t_compute, t_encode, t_queue, t_decode, t_update, t_step;
  double mpi_bytes; /* bytes handed to MPI for the gradient exchange, all ranks */
  long fault_events; /* workers missing or unusable, summed over steps */
  char run_dir[TQ_PATH_MAX + 256];
} tq_train_result;

/* Loads the model and data, checks every input before the first step, trains, evaluates, and
 * writes RUN_DIR/{config.cfg, metrics.csv, summary.json, checkpoint.bin} where RUN_DIR is
 * output.dir/experiment.name[/variant], or resume_dir. */
tq_status tq_train(const tq_experiment *x, const tq_train_opts *o, tq_train_result *r, tq_err *e);

/* What can be checked without a device before anything trains (cmd_train runs it for every
 * sweep variant first): the compression settings, the model file, that every data file is a
 * regular file, the dump and fault iterations against train.iterations, and that the run
 * folder holds no completed or stopped run (unless o->force). */
tq_status tq_train_check(const tq_experiment *x, const tq_train_opts *o, tq_err *e);

/* SIGINT and SIGTERM: during training the current step finishes, a checkpoint is written
 * (at the next multiple of compression.refit_every) and tq_train returns TQ_EINTR with the
 * --resume command in the message; outside the training loop, or at a second signal, the
 * process exits 130 at once (nothing half-written is ever complete-looking). */
void tq_train_handle_signals(void);

#endif
