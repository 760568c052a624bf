/* The MPI transport: the same workers and server as the in-process cluster, with workers spread
 * over MPI ranks (worker w on rank w mod size; rank 0 also runs the server). One step:
 *   MPI_Bcast      parameters from rank 0 (fp32)
 *   every rank     runs its workers (tq_cluster_run_local): wire-format messages + reports
 *   MPI_Gather     each rank's byte count; MPI_Gatherv the bytes themselves to rank 0
 *   MPI_Reduce     (only when measuring quantization MSE) the sum of raw gradients, counted
 *                  apart as diagnostic bytes
 *   rank 0         validates and files every message, decodes, averages, updates.
 * Rank 0's parameters after a step are bit-identical to the in-process transport's.
 * Errors: a rank that fails prints "rank R (host): reason" and calls MPI_Abort, so the job ends
 * instead of hanging; mpirun ends it too if a rank dies without a word. */
#ifndef TQ_CLUSTER_MPI_LINK_H
#define TQ_CLUSTER_MPI_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "util/err.h"

typedef struct tq_mpi {
  int rank, size;
  char host[64];
  /* bytes really handed to MPI by all ranks: gradient traffic (messages, reports, framing,
   * counts, the parameter broadcast) and diagnostics (raw-gradient sums for the MSE metric) */
  uint64_t step_bytes, total_bytes, diag_bytes;
} tq_mpi;

/* MPI_Init; call before any OpenCL context exists (docs/performance.md, Platform facts: contexts do
 * not survive the process tricks MPI launchers use). */
tq_status tq_mpi_init(int *argc, char ***argv, tq_mpi *m, tq_err *e);
void tq_mpi_finalize(void);
/* Prints "tailquant: rank R (host): msg" and ends the whole job with `code`. */
void tq_mpi_abort(const tq_mpi *m, const char *msg, int code);

/* One synchronous step over MPI; out is meaningful on rank 0 only. */
tq_status tq_mpi_step(tq_mpi *m, tq_cluster *c, const tq_step_in *in, tq_step_out *out, tq_err *e);

/* Every worker's error-feedback residual (nparams floats each, tensors at their offsets) to
 * all[workers][nparams] on rank 0, for checkpoints; and back from rank 0 to the owners, for a
 * resume. Collective: every rank calls them at the same point. */
tq_status tq_mpi_gather_residuals(tq_mpi *m, tq_cluster *c, float *all, tq_err *e);
tq_status tq_mpi_scatter_residuals(tq_mpi *m, tq_cluster *c, const float *all, tq_err *e);

/* Broadcasts n bytes from rank 0 (resume state). */
tq_status tq_mpi_bcast(tq_mpi *m, void *buf, size_t n, tq_err *e);

/* Whole-job barrier-and-agree: returns the worst status over all ranks (so every rank learns
 * that set-up failed somewhere and stops together). */
tq_status tq_mpi_agree(tq_mpi *m, tq_status mine, tq_err *e);

#endif
