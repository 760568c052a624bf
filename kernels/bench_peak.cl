/* The compute yardstick of `tailquant bench train`: eight independent chains of float16
 * multiply-adds per work-item (contracted to FMAs where the device has them: OpenCL C allows
 * contraction by default), so the arithmetic units, not latency or memory, bound the rate.
 * 2 x 16 x 8 flops per iteration; the sum is stored so nothing is optimised away. */
__kernel void bench_fma_peak(__global float *out, uint iters, float a, float b) {
  float16 x0 = (float16)((float)get_global_id(0) * 1e-9f), x1 = x0 + 0.1f, x2 = x0 + 0.2f,
          x3 = x0 + 0.3f, x4 = x0 + 0.4f, x5 = x0 + 0.5f, x6 = x0 + 0.6f, x7 = x0 + 0.7f;
  for (uint i = 0; i < iters; i++) {
    x0 = x0 * a + b;
    x1 = x1 * a + b;
    x2 = x2 * a + b;
    x3 = x3 * a + b;
    x4 = x4 * a + b;
    x5 = x5 * a + b;
    x6 = x6 * a + b;
    x7 = x7 * a + b;
  }
  float16 s = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7));
  float8 h = s.lo + s.hi;
  float4 q = h.lo + h.hi;
  out[get_global_id(0)] = (q.x + q.y) + (q.z + q.w);
}
