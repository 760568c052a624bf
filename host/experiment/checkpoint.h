/* Checkpoints: everything a run needs to continue bit-identically, in one file written
 * atomically (temporary file, fsync, rename), so a crash mid-write leaves the previous
 * checkpoint intact. Layout (little-endian):
 *   "TQCKPT\0\3" magic+version (8 bytes), header (tq_ckpt_header), the run's fingerprint text
 *   (config_bytes bytes: "key=value" lines of every training-relevant key of the resolved
 *   configuration and the model's architecture, see tq_experiment_fingerprint), params[nparams],
 *   momentum[nparams], state[nstate] (the server's batchnorm running statistics), then per worker its data position and, with error feedback, its
 *   residual[nparams] (tensors at their flat offsets), then a CRC-32 of everything before it.
 * The reader takes nothing on trust: the file must be a regular file of exactly the size the
 * header and the run's own parameter and worker counts give, so a cut-short file is reported as
 * truncated with both sizes, and nothing beyond that size is ever read.
 * Randomness needs no saved state: every stream is keyed by (seed, worker, iteration). */
#ifndef TQ_EXPERIMENT_CHECKPOINT_H
#define TQ_EXPERIMENT_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

typedef struct tq_ckpt_header {
  uint64_t nparams;
  uint32_t workers, iteration, has_residuals;
  uint32_t config_bytes;  /* length of the fingerprint text after the header */
  uint64_t metrics_bytes; /* length of metrics.csv.partial at this iteration */
  uint64_t fingerprint;   /* FNV-1a of the fingerprint text */
  /* running totals the metrics continue from */
  double bits_total, bits_fp32_total, sim_wall, best_test_accuracy, time_to_target, seconds;
  uint64_t nstate; /* running statistics (version 3): the model's nstate */
} tq_ckpt_header;

typedef struct tq_ckpt_worker {
  uint32_t pass, pos; /* data stream: pass over the shard and position in it */
} tq_ckpt_worker;

/* The longest fingerprint text a checkpoint may hold. */
#define TQ_CKPT_MAX_CONFIG ((uint32_t)1 << 20)

typedef struct tq_checkpoint {
  tq_ckpt_header h;
  char *config_text; /* NUL-terminated fingerprint text (h.config_bytes long) */
  float *params, *momentum;
  float *state; /* [nstate] or NULL when nstate = 0 */
  tq_ckpt_worker *workers;
  float *residuals; /* [workers][nparams] or NULL */
} tq_checkpoint;

tq_status tq_checkpoint_write(const char *path, const tq_checkpoint *c, tq_err *e);

/* Reads and verifies (regular file, magic, version, sizes against expect_nparams and
 * expect_workers, exact length, CRC). The caller checks h.nstate against its model. */
tq_status tq_checkpoint_read(const char *path, uint64_t expect_nparams, uint32_t expect_workers,
                             tq_checkpoint *c, tq_err *e);
void tq_checkpoint_free(tq_checkpoint *c);

/* The bytes after the header that hold the run's state (fingerprint text excluded), for tests
 * that compare two runs: offset and length, or false if the buffer is not a checkpoint. */
bool tq_checkpoint_state_span(const void *buf, size_t len, size_t *off, size_t *n);

uint64_t tq_fnv1a64(const void *data, size_t len);

#endif
