/* What travels from a worker to the server, in one table: the kind of each item a worker
 * sends, whether through the in-process queue (tq_msg.kind) or inside an MPI rank's step blob
 * (mpi_link.c's record headers). The values are the wire's: both ends are the same binary, so
 * they only have to stay distinct, but they are never reused for another meaning. */
#ifndef TQ_CLUSTER_MESSAGES_H
#define TQ_CLUSTER_MESSAGES_H

typedef enum tq_msg_kind {
  /* a worker's tq_worker_report for the step: MPI records (in one process the server reads it
   * from the worker's state, published by the queue's lock) */
  TQ_MSG_REPORT = 1,
  /* one tensor's gradient, wire-format bytes (docs/wire-format.md): queue and MPI records */
  TQ_MSG_GRADIENT = 2,
  /* the worker's step failed; its tq_err says why: the server stops at once (queue only) */
  TQ_MSG_FAILED = 3,
  /* its gradient holds NaN/Inf: nothing else comes from it this step, and its report says
   * so (queue only) */
  TQ_MSG_NONFINITE = 4,
} tq_msg_kind;

#endif
