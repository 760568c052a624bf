/* Checkpoints: everything a run needs to continue bit-identically, in one file written
 * atomically (temporary file, fsync, rename), so a crash mid-write leaves the previous
 * checkpoint intact. Layout (little-endian):
 *   "TQCKPT\0\1" magic+version (8 bytes), header (tq_ckpt_header), params[nparams],
 *   momentum[nparams], then per worker its data position and, with error feedback, its
 *   residual[nparams] (tensors at their flat offsets), then a CRC-32 of everything before it.
 * Randomness needs no saved state: every stream is keyed by (seed, worker, iteration). */
#ifndef TQ_EXP_CHECKPOINT_H
#define TQ_EXP_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

typedef struct tq_ckpt_header {
  uint64_t nparams;
  uint32_t workers, iteration, has_residuals, reserved;
  uint64_t metrics_bytes; /* length of metrics.csv.partial at this iteration */
  /* running totals the metrics continue from */
  double bits_total, bits_fp32_total, sim_wall, best_test_accuracy, time_to_target, seconds;
} tq_ckpt_header;

typedef struct tq_ckpt_worker {
  uint32_t pass, pos; /* data stream: pass over the shard and position in it */
} tq_ckpt_worker;

typedef struct tq_checkpoint {
  tq_ckpt_header h;
  float *params, *momentum;
  tq_ckpt_worker *workers;
  float *residuals; /* [workers][nparams] or NULL */
} tq_checkpoint;

tq_status tq_checkpoint_write(const char *path, const tq_checkpoint *c, tq_err *e);

/* Reads and verifies (magic, version, sizes against expect_nparams and expect_workers, CRC). */
tq_status tq_checkpoint_read(const char *path, uint64_t expect_nparams, uint32_t expect_workers,
                             tq_checkpoint *c, tq_err *e);
void tq_checkpoint_free(tq_checkpoint *c);

#endif
