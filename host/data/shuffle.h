/* Deterministic data order: a permutation that depends only on (seed, stream, epoch), drawn
 * from the project's Philox generator, so every worker and every rerun sees the same order
 * without sharing any state.
 *
 * Method: Fisher-Yates, i from n-1 down to 1, swapping position i with a uniform j in [0, i].
 * j comes from Lemire's multiply-shift: j = (r * (i+1)) >> 32 for a 32-bit draw r, rejecting
 * the few r whose low product word falls below 2^32 mod (i+1), which makes j exactly uniform.
 * The draw for position i is tq_rng_draw(seed, stream, epoch, t, TQ_RNG_SHUFFLE, i), with
 * t = 0 for the first try and t = 1, 2, ... for the rare rejected retries. */
#ifndef TQ_DATA_SHUFFLE_H
#define TQ_DATA_SHUFFLE_H

#include <stdint.h>

/* The stream of the global per-epoch shuffle (the generator's worker word). Per-worker
 * shuffles of a shard use the worker's number instead. */
#define TQ_SHUFFLE_STREAM_GLOBAL 0u

/* A uniform integer in [0, bound) (bound >= 1) for element i of the shuffle stream. */
uint32_t tq_shuffle_bounded(uint32_t seed, uint32_t stream, uint32_t epoch, uint32_t i,
                            uint32_t bound);

/* Permutes idx[0..n) in place with the stream (seed, stream, epoch). The result depends only
 * on these and on the input order. */
void tq_shuffle_in_place(uint32_t *idx, uint32_t n, uint32_t seed, uint32_t stream,
                         uint32_t epoch);

/* perm[0..n) = the epoch's permutation of 0..n-1: identity, then tq_shuffle_in_place with
 * stream TQ_SHUFFLE_STREAM_GLOBAL (draws tq_rng_draw(seed, 0, epoch, 0, TQ_RNG_SHUFFLE, i)). */
void tq_shuffle_perm(uint32_t *perm, uint32_t n, uint32_t seed, uint32_t epoch);

#endif
