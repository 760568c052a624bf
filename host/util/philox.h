/* Philox4x32-10 (Salmon et al., SC'11): a counter-based generator. The same integer steps run
 * in kernels/00_philox.cl, so host references and device kernels draw identical numbers for
 * the same (key, counter), on any device and in any thread order.
 *
 * Streams used by tailquant (counter words): {element/4, tensor, iteration, domain},
 * key {seed, worker}; each call yields four draws, one per element in the group of four. */
#ifndef TQ_UTIL_PHILOX_H
#define TQ_UTIL_PHILOX_H

#include <stdint.h>

enum tq_rng_domain {
  TQ_RNG_DROPOUT = 1,   /* dropout masks */
  TQ_RNG_QUANTIZE = 2,  /* stochastic rounding in the encoders */
  TQ_RNG_INIT = 3,      /* parameter initialisation */
  TQ_RNG_SHUFFLE = 4,   /* data order */
  TQ_RNG_AUGMENT = 5,   /* data augmentation: crop offsets and flips (host only) */
};

static inline void tq_philox4x32(const uint32_t ctr_in[4], const uint32_t key_in[2],
                                 uint32_t out[4]) {
  uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
  uint32_t k0 = key_in[0], k1 = key_in[1];
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0;
    uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/* A uniform float in [0, 1) from the top 24 bits: exact in float32, identical on every device. */
static inline float tq_u01(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

/* The draw for one element of a stream. */
static inline uint32_t tq_rng_draw(uint32_t seed, uint32_t worker, uint32_t iteration,
                                   uint32_t tensor, uint32_t domain, uint32_t element) {
  uint32_t ctr[4] = {element >> 2, tensor, iteration, domain}, key[2] = {seed, worker}, out[4];
  tq_philox4x32(ctr, key, out);
  return out[element & 3u];
}

#endif
