/* The cluster's state, shared by its files (not part of the public API, cluster.h):
 *   cluster.c          creation and teardown, evaluation, the server's state for checkpoints
 *   cluster_devices.c  opening the devices named in workers.devices, memory admission
 *   worker.c           the worker threads and one worker's step
 *   fault_inject.c     the injected faults (cfg.faults), one hook at each point they act
 *   server.c           filing and validating messages, the deadline, the update */
#ifndef TQ_CLUSTER_CLUSTER_INTERNAL_H
#define TQ_CLUSTER_CLUSTER_INTERNAL_H

#include <pthread.h>

#include "cl/cl_runtime.h"
#include "cluster/cluster.h"
#include "cluster/grad_check.h"
#include "cluster/queue.h"
#include "nn/net.h"

#define MAX_DEVICES 8 /* distinct devices in workers.devices */

typedef struct device_slot {
  char spec[128];
  tq_cl cl;
  bool open;
} device_slot;

typedef struct worker_state {
  struct tq_cluster *c;
  int id;
  tq_cl cl; /* the device's tq_cl with this worker's own queue */
  tq_net net;
  bool net_made;
  tq_compressor *comp, *fp32; /* the configured method, and fp32 for warm-up steps */
  tq_buf msg;
  tq_buf *bufs;    /* [ntensors]: this step's messages as encoded (tq_compressor_encode_all) */
  tq_msg *pending; /* this step's messages, pushed together once all are encoded */
  float *x;
  int32_t *y;
  float *raw; /* raw gradient read back when measuring MSE */
  tq_grad_check check;
  pthread_t thread;
  bool started;
  /* the step's report, written before the messages are pushed (the queue's lock publishes it
   * to the server) */
  tq_worker_report rep;
  tq_err err;
  /* set between steps (tq_cluster_set_running): load c->state_load into the replica first */
  bool state_pending;
} worker_state;

struct tq_cluster {
  tq_cluster_cfg cfg;
  const tq_model *m;
  int ndev;
  device_slot dev[MAX_DEVICES];
  tq_cl server_cl;
  tq_net server;
  bool server_made;
  tq_decoder *dec;
  tq_tensor_desc *tensors;
  int ntensors, largest;
  float *params_host;
  /* Running statistics (batchnorm; model->nstate floats, NULL without): the server keeps worker
   * 0's, as PyTorch's DDP keeps rank 0's buffers. Worker 0 reads its replica's into state_host
   * after each step; the server's update writes them into its replica. state_load is what
   * workers load on resume. */
  float *state_host, *state_load;
  double *raw_sum;
  float *decoded;
  tq_worker_report reports[TQ_MAX_WORKERS];
  bool have_report[TQ_MAX_WORKERS];
  /* this step: messages arrived per worker, and whether one was invalid */
  int arrived[TQ_MAX_WORKERS];
  bool invalid[TQ_MAX_WORKERS], done[TQ_MAX_WORKERS];
  char why[TQ_MAX_WORKERS][256];
  /* workers that missed a deadline under the continue policy: out for the rest of the run */
  bool dropped[TQ_MAX_WORKERS];
  tq_queue q;
  bool queue_made;
  worker_state w[TQ_MAX_WORKERS];
  pthread_mutex_t mu;
  pthread_cond_t go;
  pthread_mutex_t serial; /* held for a worker's step on a one-thread-at-a-time device */
  uint64_t generation;
  bool stopping;
  const tq_step_in *in;
  tq_msg *slots; /* [workers][ntensors] */
  tq_reject_counts rejects;
};

/* cluster_devices.c: opens every device in cfg.devices once and places worker w on
 * worker_dev[w]; then refuses, before anything is allocated, replicas that cannot fit. */
tq_status tq_cluster_open_devices(tq_cluster *c, int *worker_dev, tq_err *e);
tq_status tq_cluster_check_memory(const tq_cluster *c, const int *worker_dev, tq_err *e);

/* worker.c: worker id's replica, compressors and buffers on dev; the thread's body. */
tq_status tq_worker_make(tq_cluster *c, int id, const tq_cl *dev, tq_err *e);
void tq_worker_free(tq_cluster *c, worker_state *w);
void *tq_worker_main(void *arg);

/* fault_inject.c: whether worker w has crashed by this step (it then does nothing: silent),
 * and the points later in its step where a planned fault acts. */
bool tq_fault_crashed(const worker_state *w, const tq_step_in *in);
typedef enum tq_fault_point {
  TQ_FAULT_AT_GRADIENT, /* after backward: a NaN into the gradient */
  TQ_FAULT_AT_MESSAGE,  /* after encoding and checksums: damage the first message */
  TQ_FAULT_AT_SEND,     /* before pushing the messages: sleep (stall) */
} tq_fault_point;
/* Acts out what cfg.faults plans for worker w at this point of step in. */
tq_status tq_fault_inject(worker_state *w, tq_fault_point at, const tq_step_in *in, tq_err *e);

#endif
