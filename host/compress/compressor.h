/* The device pipeline: one compressor per worker encodes tensors of a flat gradient buffer into
 * wire messages; one decoder validates messages and accumulates weight * decoded values into a
 * flat float buffer (the server sums N workers' messages, then scales or uses weight = 1/N).
 *
 * Per encode call the device work is queued and the host waits only where it needs results:
 *   truncated family (power-law tail): q_stats, q_hist -> read the per-group partials ->
 *     host fit + design -> q_encode_table_b<bits> -> read payload (refits skip the first part when the
 *     tensor's design is younger than cfg.refit_every iterations);
 *   bucketed family: q_norm_part32 (or q_norm_part), q_norm_fin, q_encode_bucket_b<bits> -> read
 *     scales + payload;
 *   fp32 (method none, or a tensor below cfg.min_elems): read the tensor.
 * tq_compressor_encode_all does this for every tensor at once: all statistics queued, one wait,
 * every design, all encodes and reads queued, one wait.
 * All device buffers are made at creation; messages go into a caller-owned tq_buf that only
 * grows. A compressor and a decoder each own their cl_kernel objects: use one per thread. */
#ifndef TQ_COMPRESS_COMPRESSOR_H
#define TQ_COMPRESS_COMPRESSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cl/cl_runtime.h"
#include "compress/levels.h"
#include "compress/method.h"
#include "compress/tailfit.h"
#include "compress/wire.h"

/* One tensor of the flat gradient buffer: elements [offset, offset + count). */
typedef struct tq_tensor_desc {
  size_t offset, count;
} tq_tensor_desc;

typedef struct tq_encode_info {
  tq_method method; /* what was sent (none for fp32 tensors) */
  int bits;         /* bits per element sent (32 for fp32) */
  bool refit;       /* this call measured the statistics and redesigned the levels */
  tq_tail_stats stats; /* of the last refit (hist zero unless the power-law model is used) */
  tq_tail_fit fit;
  tq_design design;
  tq_wire_bits size;
  /* Host wall-clock seconds: statistics (queue + wait for the 464-byte read), fit + design on
   * the host, encode (queue the kernels + wait for the payload read). */
  double t_stats, t_design, t_encode;
  /* Seconds the device spent running this call's kernels (OpenCL event profiling; 0 unless
   * the queue was opened with profiling). */
  double t_device;
} tq_encode_info;

typedef struct tq_compressor tq_compressor;

/* worker keys the random stream and is written into every message. The tensor table is copied;
 * error-feedback residuals (zero at start) live on the device, one per compressed tensor. */
tq_status tq_compressor_create(const tq_cl *cl, const tq_compress_cfg *cfg, uint32_t worker,
                               const tq_tensor_desc *tensors, int ntensors, tq_compressor **out,
                               tq_err *e);
void tq_compressor_free(tq_compressor *c);

/* Encodes tensor `tensor` of `grad` (a flat float buffer holding every tensor at its offset)
 * for `iteration` into msg (msg->len = message bytes). info may be NULL. */
tq_status tq_compressor_encode(tq_compressor *c, cl_mem grad, uint32_t iteration, int tensor,
                               tq_buf *msg, tq_encode_info *info, tq_err *e);

/* Encodes every tensor of the table for `iteration`: msgs[i] receives tensor i's message,
 * infos[i] (infos may be NULL) its figures. The device work of all tensors is queued
 * together and the host waits twice per call at most: once for every refitting tensor's
 * statistics (464 bytes each), once for every payload; a call where nothing refits waits
 * once. t_stats, t_design and t_encode are then the whole call's phases. */
tq_status tq_compressor_encode_all(tq_compressor *c, cl_mem grad, uint32_t iteration,
                                   tq_buf *msgs, tq_encode_info *infos, tq_err *e);

/* Optional first half of tq_compressor_encode_all(c, grad, iteration, ...): queues the
 * statistics of every tensor that refits at `iteration` (and their non-blocking reads) without
 * waiting, so that the caller can wait once for them and for its own queued work (the
 * cluster's non-finite count). The next encode_all call for the same iteration and gradient
 * uses them. Without error feedback only (with it this does nothing: r = g + r must wait for
 * the caller's checks, and encode_all does everything). */
tq_status tq_compressor_queue_stats(tq_compressor *c, cl_mem grad, uint32_t iteration,
                                    tq_err *e);

/* Zeroes the error-feedback residuals and forgets every tensor's design. */
tq_status tq_compressor_reset(tq_compressor *c, tq_err *e);

const tq_compress_cfg *tq_compressor_config(const tq_compressor *c);

/* Copies the current residual of a tensor to host memory (count floats; zeros without error
 * feedback). For tests and diagnostics. */
tq_status tq_compressor_residual(tq_compressor *c, int tensor, float *dst, tq_err *e);

/* The inverse, for checkpoint resume: sets the residual of a tensor from src (count floats;
 * blocking: src may be reused when this returns). Without error feedback, or for a tensor
 * that travels as fp32, there is no residual: src must then be all zeros (TQ_EINPUT
 * otherwise, so a checkpoint from an error-feedback run is not silently dropped). */
tq_status tq_compressor_set_residual(tq_compressor *c, int tensor, const float *src, tq_err *e);

typedef struct tq_decoder tq_decoder;

tq_status tq_decoder_create(const tq_cl *cl, const tq_tensor_desc *tensors, int ntensors,
                            tq_decoder **out, tq_err *e);
void tq_decoder_free(tq_decoder *d);

/* Validates msg on the host against tensor `tensor` (id and element count; tq_wire_parse),
 * then queues out[offset + i] += weight * decoded_i on the device. hdr (optional) receives the
 * message's header (worker, iteration: the caller rejects duplicates or stale messages). The
 * message memory may be reused when this returns. */
tq_status tq_decoder_accumulate(tq_decoder *d, const uint8_t *msg, size_t len, int tensor,
                                float weight, cl_mem out, tq_wire_hdr *hdr, tq_err *e);

/* The same without waiting for the uploads: msg must stay valid (and unchanged) until
 * tq_decoder_finish returns. The server queues a whole step's messages this way and waits
 * once. */
tq_status tq_decoder_queue(tq_decoder *d, const uint8_t *msg, size_t len, int tensor,
                           float weight, cl_mem out, tq_wire_hdr *hdr, tq_err *e);
/* Waits for everything queued (clFinish on the decoder's queue). */
tq_status tq_decoder_finish(tq_decoder *d, tq_err *e);

#endif
