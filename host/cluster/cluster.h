/* The in-process simulated cluster: N worker threads, each with its own model replica, data
 * shard, kernels and compressor, send wire-format messages through one bounded queue to the
 * server (the calling thread), which validates, decodes in a fixed order, averages, and applies
 * the optimizer to the one true copy of the parameters. Synchronous SGD: a step waits for every
 * worker's messages for that iteration.
 *
 * Determinism: workers draw data, dropout and stochastic rounding from Philox streams keyed by
 * (seed, worker, iteration), and the server sums messages in worker-then-tensor order whatever
 * order they arrive in, so a run is bit-identical under any thread schedule.
 *
 * Devices: a comma-separated list of specs ("gpu,cpu"); worker w runs on device w mod count,
 * the server on the first. Each distinct device is opened once; every worker has its own queue.
 *
 * What travels from a worker to the server is one of the kinds in cluster/messages.h. The code:
 * cluster.c (create, free, evaluation, state), cluster_devices.c (devices, memory admission),
 * worker.c (threads, a worker's step), fault_inject.c (cfg.faults), server.c (filing,
 * deadline, policies, the update); cluster_internal.h holds the state they share. */
#ifndef TQ_CLUSTER_CLUSTER_H
#define TQ_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "compress/compressor.h"
#include "data/dataset.h"
#include "nn/model.h"

#define TQ_MAX_WORKERS 64

/* What the server does when a worker misses the deadline or sends something unusable. */
typedef enum tq_fault_policy {
  TQ_FAULT_STOP = 0,     /* stop the run (the caller keeps the last checkpoint) */
  TQ_FAULT_CONTINUE = 1, /* average over the workers that delivered; a worker that missed the
                            deadline is dropped for the rest of the run */
} tq_fault_policy;

typedef enum tq_corruption { TQ_CORRUPT_FLIP = 0, TQ_CORRUPT_TRUNCATE = 1 } tq_corruption;

/* Faults to inject, for tests and resilience studies. Nothing happens unless `active` (so a
 * zeroed configuration injects nothing); then a worker of -1 means none of that kind. */
typedef struct tq_fault_plan {
  bool active;
  int crash_worker, crash_iteration;   /* goes silent from that iteration on */
  int stall_worker, stall_iteration;   /* sleeps stall_seconds before sending */
  double stall_seconds;
  int corrupt_worker, corrupt_iteration; /* damages its first message of that iteration */
  tq_corruption corrupt;
  int nan_worker, nan_iteration;       /* a NaN appears in its gradient */
} tq_fault_plan;

typedef struct tq_cluster_cfg {
  const tq_model *model;
  int workers;         /* 1..TQ_MAX_WORKERS */
  int batch;           /* per worker */
  int eval_batch;      /* server's evaluation batch */
  const char *devices; /* comma-separated device specs */
  const char *device_profile; /* "auto" (NULL), "cpu" or "gpu": cl_devprofile.h */
  tq_compress_cfg compress;
  uint32_t seed;
  double msg_timeout_s; /* the server's wait for a step's messages before it gives up */
  bool measure_mse;     /* also sum raw gradients (not counted) to measure quantization MSE */
  bool profiling;       /* OpenCL event profiling on the queues */
  /* Several processes (MPI ranks): this one runs the workers w with w % nranks == rank; the
   * server state lives on every rank but only rank 0 uses it. 0/0 means one process. */
  int rank, nranks;
  tq_fault_policy on_missing, on_invalid;
  tq_fault_plan faults;
} tq_cluster_cfg;

/* What a worker tells the server about its step besides the messages. Plain data, so it can
 * travel between processes. */
typedef struct tq_worker_report {
  uint32_t worker, iteration, samples, correct;
  uint32_t usable; /* 0: the gradient must not be used (see reason) */
  uint32_t reserved;
  uint64_t nonfinite; /* NaN/Inf values found in the raw gradient */
  double loss_sum, bits, bits_fp32, t_compute, t_encode, gamma, g_min, alpha;
  char reason[256];
} tq_worker_report;

/* One worker's batch: count indices into the dataset. */
typedef struct tq_worker_batch {
  const uint32_t *idx;
  int count;
} tq_worker_batch;

typedef struct tq_step_in {
  const tq_dataset *data;
  tq_norm norm;
  const tq_worker_batch *batches; /* [workers] */
  uint32_t iteration;             /* >= 1; keys the random streams */
  float lr, momentum, weight_decay;
  bool compress; /* false: every worker sends fp32 (warm-up) */
  bool augment;  /* random crop and flip of the training images (tq_augment, keyed by the
                    seed, the worker and the iteration) */
} tq_step_in;

typedef struct tq_step_out {
  double loss_sum; /* summed over all workers' samples */
  long correct, samples;
  double bits;              /* uplink bits of this step, all workers, headers included */
  double bits_fp32;         /* what fp32 messages would have cost */
  double max_worker_bits;   /* the largest one worker sent (for the link model) */
  double quant_mse;         /* per element, decoded mean vs raw mean gradient; NaN if off */
  /* the fit and alpha of the model's largest tensor as reported by the lowest-numbered worker
   * whose gradient this step averaged (worker 0 unless it was missing or unusable); NaN if
   * that tensor is not compressed by the truncated family */
  double gamma, g_min, alpha;
  /* seconds: mean over workers of forward+backward (compute) and compression (encode); mean
   * time a message waited in the queue; the server's decode and update */
  double t_compute, t_encode, t_queue, t_decode, t_update;
  double t_worker_max; /* the slowest worker's compute + encode: the critical path */
  long rejected;       /* messages rejected this step (duplicate, stale, invalid) */
  int workers_used;    /* whose gradients were averaged */
  int missing, unusable; /* workers that missed the deadline / sent nothing usable */
  char events[1024];   /* what went wrong this step, for the log; empty if nothing */
} tq_step_out;

typedef struct tq_cluster tq_cluster;

/* Opens the devices, builds every replica (all from the same seeded initialisation), warms up
 * CLBlast from one thread, and starts the worker threads. */
tq_status tq_cluster_create(const tq_cluster_cfg *cfg, tq_cluster **out, tq_err *e);
void tq_cluster_free(tq_cluster *c);

/* One synchronous step in one process: broadcast parameters, every worker computes and
 * compresses its gradient, the server decodes, averages and updates. */
tq_status tq_cluster_step(tq_cluster *c, const tq_step_in *in, tq_step_out *out, tq_err *e);

/* The two halves of a step, for transports between processes:
 *   every rank:  params_host holds the step's parameters -> tq_cluster_run_local (this rank's
 *                workers compute and compress; their messages and reports are filed)
 *   rank 0:      the other ranks' messages and reports are filed (tq_cluster_file_message,
 *                tq_cluster_file_report) -> tq_cluster_server_update (decode, average, SGD,
 *                params_host <- new parameters). */
tq_status tq_cluster_run_local(tq_cluster *c, const tq_step_in *in, double *t_queue, long *rejected,
                               tq_err *e);
tq_status tq_cluster_server_update(tq_cluster *c, const tq_step_in *in, tq_step_out *out,
                                   tq_err *e);
float *tq_cluster_params_host(tq_cluster *c);
/* Files a message (the cluster takes `data`, malloc'd). Invalid, stale and duplicate messages
 * are counted, freed and reported through *rejected; an invalid one makes its worker's whole
 * gradient unusable for this step. Returns what became of it. */
typedef enum tq_verdict { TQ_FILED, TQ_INVALID, TQ_STALE, TQ_DUPLICATE } tq_verdict;
tq_verdict tq_cluster_file_message(tq_cluster *c, uint32_t worker, int tensor, uint8_t *data,
                                   size_t len, uint32_t iteration, long *rejected);
tq_status tq_cluster_file_report(tq_cluster *c, const tq_worker_report *r, tq_err *e);
/* Messages (worker-major) and reports of this rank's workers for the current step, for
 * sending; the cluster keeps ownership. */
const tq_worker_report *tq_cluster_report(const tq_cluster *c, int worker);
const uint8_t *tq_cluster_message(const tq_cluster *c, int worker, int tensor, size_t *len);
/* Drops this rank's filed messages after they were sent (non-zero ranks). */
void tq_cluster_drop_messages(tq_cluster *c);
/* The sum over this rank's workers of their raw gradients (nparams doubles; measure_mse), which
 * rank 0 replaces by the sum over all workers before tq_cluster_server_update. */
double *tq_cluster_raw_sum(tq_cluster *c);
int tq_cluster_tensor_count(const tq_cluster *c);
const tq_cluster_cfg *tq_cluster_config(const tq_cluster *c);
bool tq_cluster_is_local(const tq_cluster *c, int worker);

/* Mean loss and accuracy of the server's parameters over a whole dataset. */
tq_status tq_cluster_evaluate(tq_cluster *c, const tq_dataset *d, tq_norm norm, double *loss,
                              double *accuracy, tq_err *e);

/* The server's flat parameter and momentum buffers (nparams floats each), for checkpoints. */
tq_status tq_cluster_get_state(tq_cluster *c, float *params, float *momentum, tq_err *e);
/* The running statistics (batchnorm) the server's replica evaluates with: worker 0's after
 * each step (nstate floats; none when the model has no batchnorm). Setting them (resume) sets
 * the server's and, before their next step, every local worker's. */
size_t tq_cluster_nstate(const tq_cluster *c);
tq_status tq_cluster_get_running(tq_cluster *c, float *state, tq_err *e);
tq_status tq_cluster_set_running(tq_cluster *c, const float *state, tq_err *e);
tq_status tq_cluster_set_state(tq_cluster *c, const float *params, const float *momentum,
                               tq_err *e);

/* Worker w's raw gradient of the last step (nparams floats; needs measure_mse; local workers
 * only, NULL otherwise), for dumps. */
const float *tq_cluster_raw_gradient(const tq_cluster *c, int worker);

/* The compressors, for error-feedback residuals in checkpoints. */
tq_compressor *tq_cluster_compressor(tq_cluster *c, int worker);

/* Device names, for reports: "name [platform]" of worker w's device. */
const char *tq_cluster_device_name(const tq_cluster *c, int worker);

/* "NAME (cpu profile)" for every device the cluster opened, joined by " + ", into buf. */
void tq_cluster_describe_devices(const tq_cluster *c, char *buf, size_t cap);

/* Messages rejected so far, by class. */
typedef struct tq_reject_counts {
  long invalid, duplicate, stale;
} tq_reject_counts;
tq_reject_counts tq_cluster_rejects(const tq_cluster *c);

#endif
