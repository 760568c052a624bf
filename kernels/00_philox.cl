/* Loaded before the kernels that use it (the 00_ prefix sorts first): the counter-based
 * generator every kernel shares.
 * Bit-identical to host/util/philox.h; see there for the stream layout. */

/* The stream domains (TQ_RNG_DROPOUT, TQ_RNG_QUANTIZE) come as build options from
 * host/cl/kernel_constants.h, the values of host/util/philox.h's enum. */

inline uint4 tq_philox4x32(uint4 c, uint2 k) {
  for (int r = 0; r < 10; r++) {
    uint hi0 = mul_hi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
    uint hi1 = mul_hi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
    c = (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k += (uint2)(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}

inline float tq_u01(uint x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

inline uint tq_rng_draw(uint seed, uint worker, uint iteration, uint tensor, uint domain,
                        uint element) {
  uint4 o = tq_philox4x32((uint4)(element >> 2, tensor, iteration, domain), (uint2)(seed, worker));
  /* Two levels of selects on the bits of j, not a chain of j == 0 ? .. : j == 1 ? ..: Oclgrind
   * 21.10 returns o.w for j = 0 and 1 from the optimised chain (docs/testing.md). */
  uint j = element & 3u;
  uint lo = (j & 1u) ? o.y : o.x, hi = (j & 1u) ? o.w : o.z;
  return (j & 2u) ? hi : lo;
}

/* Test hook: out[i] = draw for element i of the given stream. */
__kernel void philox_fill(__global uint *out, uint n, uint seed, uint worker, uint iteration,
                          uint tensor, uint domain) {
  uint i = get_global_id(0);
  if (i < n) out[i] = tq_rng_draw(seed, worker, iteration, tensor, domain, i);
}
