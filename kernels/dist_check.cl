/* Worker-side gradient check before compression: a NaN or Inf must never reach the parameters,
 * whatever the method (a quantizer would turn it into a valid-looking code). Work-item i counts
 * the non-finite values of its chunk x[off + i*chunk, ...) into bad[i]; the host sums a few
 * hundred integers. No atomics (docs/performance.md, Platform facts: they are slow on POCL). */
__kernel void dist_count_nonfinite(__global const float *x, uint off, uint n, uint chunk,
                                   __global uint *bad) {
  uint i = get_global_id(0);
  uint lo = i * chunk;
  if (lo >= n) return;
  uint hi = min(lo + chunk, n), count = 0;
  for (uint k = lo; k < hi; k++) {
    /* exponent bits all ones: Inf or NaN, without calling isfinite (POCL keeps builtins as
     * calls, which stops vectorisation) */
    uint bits = as_uint(x[off + k]);
    count += (bits & 0x7f800000u) == 0x7f800000u;
  }
  bad[i] = count;
}
