#include "data/shuffle.h"

#include "util/philox.h"

uint32_t tq_shuffle_bounded(uint32_t seed, uint32_t stream, uint32_t epoch, uint32_t i,
                            uint32_t bound) {
  /* Lemire, "Fast random integer generation in an interval" (2019). The threshold
   * 2^32 mod bound is computed as (-bound) % bound in 32-bit arithmetic. */
  uint32_t threshold = (uint32_t)(-bound) % bound;
  for (uint32_t t = 0;; t++) {
    uint64_t m = (uint64_t)tq_rng_draw(seed, stream, epoch, t, TQ_RNG_SHUFFLE, i) * bound;
    if ((uint32_t)m >= threshold) return (uint32_t)(m >> 32);
  }
}

void tq_shuffle_in_place(uint32_t *idx, uint32_t n, uint32_t seed, uint32_t stream,
                         uint32_t epoch) {
  for (uint32_t i = n > 0 ? n - 1 : 0; i > 0; i--) {
    uint32_t j = tq_shuffle_bounded(seed, stream, epoch, i, i + 1);
    uint32_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}

void tq_shuffle_perm(uint32_t *perm, uint32_t n, uint32_t seed, uint32_t epoch) {
  for (uint32_t i = 0; i < n; i++) perm[i] = i;
  tq_shuffle_in_place(perm, n, seed, TQ_SHUFFLE_STREAM_GLOBAL, epoch);
}
