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
 * the server on the first. Each distinct device is opened once; every worker has its own queue. */
#ifndef TQ_DIST_CLUSTER_H
#define TQ_DIST_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "compress/compressor.h"
#include "data/dataset.h"
#include "nn/model.h"

#define TQ_MAX_WORKERS 64

typedef struct tq_cluster_cfg {
  const tq_model *model;
  int workers;         /* 1..TQ_MAX_WORKERS */
  int batch;           /* per worker */
  int eval_batch;      /* server's evaluation batch */
  const char *devices; /* comma-separated device specs */
  tq_compress_cfg compress;
  uint32_t seed;
  double msg_timeout_s; /* the server's wait for a step's messages before it gives up */
  bool measure_mse;     /* also ship raw gradients (not counted) to measure quantization MSE */
  bool profiling;       /* OpenCL event profiling on the queues */
} tq_cluster_cfg;

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
} tq_step_in;

typedef struct tq_step_out {
  double loss_sum; /* summed over all workers' samples */
  long correct, samples;
  double bits;              /* uplink bits of this step, all workers, headers included */
  double bits_fp32;         /* what fp32 messages would have cost */
  double max_worker_bits;   /* the largest one worker sent (for the link model) */
  double quant_mse;         /* per element, decoded mean vs raw mean gradient; NaN if off */
  double gamma, g_min, alpha; /* worker 0's fit of its largest compressed tensor; NaN if none */
  /* seconds: mean over workers of forward+backward (compute) and compression (encode); mean
   * time a message waited in the queue; the server's decode and update */
  double t_compute, t_encode, t_queue, t_decode, t_update;
  double t_worker_max; /* the slowest worker's compute + encode: the critical path */
  long rejected;       /* messages rejected this step (duplicate, stale, invalid) */
} tq_step_out;

typedef struct tq_cluster tq_cluster;

/* Opens the devices, builds every replica (all from the same seeded initialisation), warms up
 * CLBlast from one thread, and starts the worker threads. */
tq_status tq_cluster_create(const tq_cluster_cfg *cfg, tq_cluster **out, tq_err *e);
void tq_cluster_free(tq_cluster *c);

/* One synchronous step: broadcast parameters, every worker computes and compresses its
 * gradient, the server decodes, averages and updates. */
tq_status tq_cluster_step(tq_cluster *c, const tq_step_in *in, tq_step_out *out, tq_err *e);

/* Mean loss and accuracy of the server's parameters over a whole dataset. */
tq_status tq_cluster_evaluate(tq_cluster *c, const tq_dataset *d, tq_norm norm, double *loss,
                              double *accuracy, tq_err *e);

/* The server's flat parameter and momentum buffers (nparams floats each), for checkpoints. */
tq_status tq_cluster_get_state(tq_cluster *c, float *params, float *momentum, tq_err *e);
tq_status tq_cluster_set_state(tq_cluster *c, const float *params, const float *momentum,
                               tq_err *e);

/* Worker w's raw gradient of the last step (nparams floats; needs measure_mse), for dumps. */
const float *tq_cluster_raw_gradient(const tq_cluster *c, int worker);

/* The compressors, for error-feedback residuals in checkpoints. */
tq_compressor *tq_cluster_compressor(tq_cluster *c, int worker);

/* Device names, for reports: "name [platform]" of worker w's device. */
const char *tq_cluster_device_name(const tq_cluster *c, int worker);

/* Messages rejected so far, by class. */
typedef struct tq_reject_counts {
  long invalid, duplicate, stale;
} tq_reject_counts;
tq_reject_counts tq_cluster_rejects(const tq_cluster *c);

#endif
