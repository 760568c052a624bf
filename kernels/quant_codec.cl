/* Encode and decode-accumulate kernels of the gradient compressors (host/compress/). The
 * plain-C reference is host/compress/quant_ref.c; the codes agree bit for bit. One work-item
 * handles a group of 32 elements, whose b-bit codes fill exactly b 32-bit words (LSB-first),
 * so no two work-items share a word and no atomics are needed. Random draws come four at a
 * time from one Philox call, exactly the stream of tq_rng_draw(.., TQ_RNG_QUANTIZE, i). */

/* Largest k in [0, nlev-2] with lv[k] <= t (branch-free steps of a binary search). */
inline int q_search(__constant float *lv, int nlev, int top, float t) {
  int k = 0;
  for (int st = top; st >= 1; st >>= 1)
    if (k + st <= nlev - 2 && lv[k + st] <= t) k += st;
  return k;
}

inline int q_top(int nlev) {
  int st = 1;
  while (st * 2 <= nlev - 2) st *= 2;
  return st;
}

inline float q_pick(uint4 r, uint j) {
  uint v = j == 0 ? r.x : j == 1 ? r.y : j == 2 ? r.z : r.w;
  return tq_u01(v);
}

/* Truncated family: t = clamp(x, l_0, l_s); code k or k+1 by u*(l_{k+1}-l_k) < t - l_k.
 * ef != 0: x holds g + r and receives the new residual x - l_code. */
__kernel void q_encode_table(__global float *x, uint xoff, uint n, __constant float *lv,
                             int nlev, int bits, uint seed, uint worker, uint iter, uint tensor,
                             __global uint *words, uint nwords, int ef) {
#pragma OPENCL FP_CONTRACT OFF
  uint g = get_global_id(0);
  uint i0 = g * 32u;
  if (i0 >= n) return;
  const float lo = lv[0], hi = lv[nlev - 1];
  const int top = q_top(nlev);
  ulong acc = 0;
  int nb = 0;
  uint wi = g * (uint)bits;
  for (uint q = 0; q < 8u; q++) {
    uint e0 = i0 + 4u * q;
    uint4 r = (uint4)(0);
    if (e0 < n) r = tq_philox4x32((uint4)(e0 >> 2, tensor, iter, TQ_RNG_QUANTIZE), (uint2)(seed, worker));
    for (uint j = 0; j < 4u; j++) {
      uint i = e0 + j;
      uint code = 0;
      if (i < n) {
        float v = x[xoff + i];
        float t = v < lo ? lo : (v > hi ? hi : v);
        int k = q_search(lv, nlev, top, t);
        float d = lv[k + 1] - lv[k], rem = t - lv[k];
        float ud = q_pick(r, j) * d;
        code = (uint)k + (ud < rem ? 1u : 0u);
        if (ef) x[xoff + i] = v - lv[code];
      }
      acc |= (ulong)code << nb;
      nb += bits;
      if (nb >= 32) {
        if (wi < nwords) words[wi] = (uint)acc;
        wi++;
        acc >>= 32;
        nb -= 32;
      }
    }
  }
}

/* Bucketed family: r = |x| / scale (clamped to 1), magnitude index on mag[], sign in the top
 * bit of the code. */
__kernel void q_encode_bucket(__global float *x, uint xoff, uint n, __constant float *mag,
                              int nlev, int bits, uint bucket, __global const float *scales,
                              uint seed, uint worker, uint iter, uint tensor,
                              __global uint *words, uint nwords, int ef) {
#pragma OPENCL FP_CONTRACT OFF
  uint g = get_global_id(0);
  uint i0 = g * 32u;
  if (i0 >= n) return;
  const int top = q_top(nlev);
  ulong acc = 0;
  int nb = 0;
  uint wi = g * (uint)bits;
  for (uint q = 0; q < 8u; q++) {
    uint e0 = i0 + 4u * q;
    uint4 r = (uint4)(0);
    if (e0 < n) r = tq_philox4x32((uint4)(e0 >> 2, tensor, iter, TQ_RNG_QUANTIZE), (uint2)(seed, worker));
    for (uint j = 0; j < 4u; j++) {
      uint i = e0 + j;
      uint code = 0;
      if (i < n) {
        float v = x[xoff + i], nr = scales[i / bucket];
        float rr = nr > 0.0f ? fabs(v) / nr : 0.0f;
        rr = rr > 1.0f ? 1.0f : rr;
        int k = q_search(mag, nlev, top, rr);
        float d = mag[k + 1] - mag[k], rem = rr - mag[k];
        float ud = q_pick(r, j) * d;
        uint m = (uint)k + (ud < rem ? 1u : 0u);
        uint neg = v < 0.0f ? 1u : 0u;
        code = m | (neg << (bits - 1));
        if (ef) {
          float qv = nr * mag[m];
          x[xoff + i] = v - (neg ? -qv : qv);
        }
      }
      acc |= (ulong)code << nb;
      nb += bits;
      if (nb >= 32) {
        if (wi < nwords) words[wi] = (uint)acc;
        wi++;
        acc >>= 32;
        nb -= 32;
      }
    }
  }
}

/* out[ooff + i] += weight * lv[code_i]. Codes were validated on the host; the clamp only
 * keeps a bad one from reading outside the table. */
__kernel void q_decode_table(__global const uint *words, uint n, int bits, __constant float *lv,
                             int nlev, float weight, __global float *out, uint ooff) {
#pragma OPENCL FP_CONTRACT OFF
  uint g = get_global_id(0);
  uint i0 = g * 32u;
  if (i0 >= n) return;
  uint wi = g * (uint)bits, mask = (1u << bits) - 1u;
  ulong acc = 0;
  int nb = 0;
  uint cnt = min(32u, n - i0);
  for (uint j = 0; j < cnt; j++) {
    if (nb < bits) {
      acc |= (ulong)words[wi++] << nb;
      nb += 32;
    }
    uint c = min((uint)acc & mask, (uint)(nlev - 1));
    acc >>= bits;
    nb -= bits;
    float p = weight * lv[c];
    out[ooff + i0 + j] = out[ooff + i0 + j] + p;
  }
}

__kernel void q_decode_bucket(__global const uint *words, uint n, int bits, __constant float *mag,
                              int nlev, uint bucket, __global const float *scales, float weight,
                              __global float *out, uint ooff) {
#pragma OPENCL FP_CONTRACT OFF
  uint g = get_global_id(0);
  uint i0 = g * 32u;
  if (i0 >= n) return;
  uint wi = g * (uint)bits, mask = (1u << bits) - 1u, mmask = (1u << (bits - 1)) - 1u;
  ulong acc = 0;
  int nb = 0;
  uint cnt = min(32u, n - i0);
  for (uint j = 0; j < cnt; j++) {
    if (nb < bits) {
      acc |= (ulong)words[wi++] << nb;
      nb += 32;
    }
    uint c = (uint)acc & mask;
    acc >>= bits;
    nb -= bits;
    uint i = i0 + j;
    float q = scales[i / bucket] * mag[min(c & mmask, (uint)(nlev - 1))];
    float v = (c >> (bits - 1)) ? -q : q;
    float p = weight * v;
    out[ooff + i] = out[ooff + i] + p;
  }
}

/* fp32 messages (method none, small tensors). */
__kernel void q_decode_f32(__global const float *src, uint n, float weight, __global float *out,
                           uint ooff) {
#pragma OPENCL FP_CONTRACT OFF
  uint i = get_global_id(0);
  if (i >= n) return;
  float p = weight * src[i];
  out[ooff + i] = out[ooff + i] + p;
}

/* Error feedback: r = g + r (the compressor then encodes r in place). */
__kernel void q_ef_add(__global const float *g, uint goff, __global float *r, uint roff,
                       uint n) {
  uint i = get_global_id(0);
  if (i >= n) return;
  r[roff + i] = g[goff + i] + r[roff + i];
}

/* The bandwidth yardstick of `tailquant bench quant`. */
__kernel void q_copy(__global const float *src, __global float *dst, uint n) {
  uint i = get_global_id(0);
  if (i < n) dst[i] = src[i];
}
