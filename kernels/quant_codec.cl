/* Encode and decode-accumulate kernels of the gradient compressors (host/compress/). The
 * plain-C reference is host/compress/quant_ref.c; the codes agree bit for bit. One work-item
 * (decode) handles a group of 32 elements, whose b-bit codes fill exactly b 32-bit words
 * (LSB-first), so no two work-items share a word and no atomics are needed. Random draws come
 * four at a time from one Philox call, exactly the stream of tq_rng_draw(.., TQ_RNG_QUANTIZE, i). */

/* Encode kernels, shaped for POCL's CPU device (it vectorises a work-group by running its
 * work-items as SIMD lanes, which needs loop-free kernel bodies after unrolling):
 *  - one kernel per bit width (q_encode_table_b1..b8, q_encode_bucket_b1..b8): the binary
 *    search and the packing then have compile-time trip counts and unroll completely;
 *  - phase 1: work-item l of a group of L handles element quads j*L + l (j = 0..7) of the
 *    group's 32*L elements, so neighbouring lanes read neighbouring memory; one Philox call
 *    gives the quad's four draws (counter = element >> 2, as in tq_rng_draw); the b-bit codes go
 *    to local memory (one byte per element);
 *  - barrier; phase 2: work-item l assembles output words l + m*L (m < b) of the group's
 *    b*L words (LSB-first, a code may straddle two words), again contiguous across lanes.
 * Elements at or past n encode as 0 (pad bits 0) and are never read or written. */

/* POCL does not inline OpenCL builtins (fabs, fmax, min, mul_hi, vstore4, ...) into the
 * work-group function, and a call blocks vectorisation across work-items: the encode and
 * statistics kernels use these plain-arithmetic equivalents instead. */
#define Q_MIN(a, b) ((a) < (b) ? (a) : (b))
#define Q_MAX(a, b) ((a) > (b) ? (a) : (b))
#define Q_FABS(v) as_float(as_uint(v) & 0x7fffffffu)
#define Q_ISFINITE(v) ((as_uint(v) & 0x7fffffffu) < 0x7f800000u)

/* Full-unroll hints for POCL, whose vectoriser needs loop-free bodies; the cpu device profile
 * builds with -DTQ_UNROLL_HINTS (host/cl/cl_devprofile.c). Elsewhere the compiler decides:
 * Oclgrind's pipeline does not unroll at all and warned on every hint. */
#ifdef TQ_UNROLL_HINTS
#define Q_UNROLL _Pragma("unroll")
#else
#define Q_UNROLL
#endif

/* tq_philox4x32 with mul_hi spelled as a 64-bit product (same values). */
inline uint4 q_philox(uint4 c, uint2 k) {
  Q_UNROLL
  for (int r = 0; r < 10; r++) {
    ulong p0 = (ulong)0xD2511F53u * c.x, p1 = (ulong)0xCD9E8D57u * c.z;
    c = (uint4)((uint)(p1 >> 32) ^ c.y ^ k.x, (uint)p1, (uint)(p0 >> 32) ^ c.w ^ k.y, (uint)p0);
    k += (uint2)(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}

/* Largest k in [0, nlev-2] with lv[k] <= t (0 if none); B steps (of 2^(B-1), ..., 2, 1) cover
 * nlev <= 2^B. The predicate is monotone on the sorted table, so this equals the reference's
 * search. Written as steps guarded by the compile-time width, not as a loop: nothing is left
 * for an unroller to refuse (POCL and Oclgrind warned "loop not unrolled" on the loop form). */
#define Q_STEP(lv, nlev, t, k, st)                                        \
  do {                                                                    \
    int c_ = k + (st);                                                    \
    k = ((c_ <= (nlev) - 2) & (lv[Q_MIN(c_, (nlev) - 1)] <= (t))) ? c_ : k; \
  } while (0)
#define Q_SEARCH(lv, nlev, t, B, k)                   \
  do {                                                \
    k = 0;                                            \
    if ((B) >= 8) Q_STEP(lv, nlev, t, k, 128);        \
    if ((B) >= 7) Q_STEP(lv, nlev, t, k, 64);         \
    if ((B) >= 6) Q_STEP(lv, nlev, t, k, 32);         \
    if ((B) >= 5) Q_STEP(lv, nlev, t, k, 16);         \
    if ((B) >= 4) Q_STEP(lv, nlev, t, k, 8);          \
    if ((B) >= 3) Q_STEP(lv, nlev, t, k, 4);          \
    if ((B) >= 2) Q_STEP(lv, nlev, t, k, 2);          \
    Q_STEP(lv, nlev, t, k, 1);                        \
  } while (0)

/* Phase 2: word w (within the group) of b-bit codes held one per byte in codes[]. */
inline uint q_pack_word(__local const uchar *codes, uint w, const int B, uint ncodes) {
  uint e0 = (32u * w) / (uint)B;
  int pos0 = (int)(e0 * (uint)B) - (int)(32u * w); /* in (-B, 0] */
  uint acc = 0;
  Q_UNROLL
  for (int k = 0; k < 32 / B + 2; k++) {
    int pos = pos0 + k * B;
    uint e = Q_MIN(e0 + (uint)k, ncodes - 1u);
    uint c = (uint)codes[e];
    uint part = pos >= 0 ? (c << (uint)(pos & 31)) : (c >> (uint)((-pos) & 31));
    acc |= pos < 32 ? part : 0u;
  }
  return acc;
}

inline void q_store_words(__local const uchar *codes, __global uint *words, uint nwords,
                          const int B) {
  uint l = get_local_id(0), L = get_local_size(0);
  uint gw0 = get_group_id(0) * L * (uint)B;
  Q_UNROLL
  for (int m = 0; m < B; m++) {
    uint w = l + (uint)m * L;
    uint v = q_pack_word(codes, w, B, 32u * L);
    if (gw0 + w < nwords) words[gw0 + w] = v;
  }
}

/* Truncated family: t = clamp(x, l_0, l_s); code k or k+1 by u*(l_{k+1}-l_k) < t - l_k.
 * ef != 0: x holds g + r and receives the new residual x - l_code. */
inline void q_enc_table(__global float *x, uint xoff, uint n, __constant float *lv, int nlev,
                        uint seed, uint worker, uint iter, uint tensor, __global uint *words,
                        uint nwords, int ef, __local uchar *codes, const int B) {
#pragma OPENCL FP_CONTRACT OFF
  uint l = get_local_id(0), L = get_local_size(0);
  uint q0 = get_group_id(0) * L * 8u;
  const float lo = lv[0], hi = lv[nlev - 1];
  for (int j = 0; j < 8; j++) {
    uint qd = q0 + (uint)j * L + l;
    uint4 r = q_philox((uint4)(qd, tensor, iter, TQ_RNG_QUANTIZE), (uint2)(seed, worker));
    uint rr[4] = {r.x, r.y, r.z, r.w};
    uchar cc[4];
    for (int c = 0; c < 4; c++) {
      uint i = 4u * qd + (uint)c;
      bool in = i < n;
      /* Lanes past n load nothing: with error feedback, element 0 is being rewritten by its
       * owner, and reading it from a padding lane was a data race (Oclgrind found it). */
      float v = in ? x[xoff + i] : 0.0f;
      float t = v < lo ? lo : (v > hi ? hi : v);
      int k;
      Q_SEARCH(lv, nlev, t, B, k);
      float lk = lv[k], d = lv[k + 1] - lk, rem = t - lk;
      float ud = tq_u01(rr[c]) * d;
      uint code = (uint)k + (ud < rem ? 1u : 0u);
      if (in && ef) x[xoff + i] = v - lv[code];
      cc[c] = in ? (uchar)code : (uchar)0;
    }
    uint cb = 4u * ((uint)j * L + l);
    codes[cb] = cc[0];
    codes[cb + 1] = cc[1];
    codes[cb + 2] = cc[2];
    codes[cb + 3] = cc[3];
  }
  barrier(CLK_LOCAL_MEM_FENCE);
  q_store_words(codes, words, nwords, B);
}

/* Bucketed family: r = |x| / scale (clamped to 1), magnitude index on mag[], sign in the top
 * bit of the code. */
inline void q_enc_bucket(__global float *x, uint xoff, uint n, __constant float *mag, int nlev,
                         uint bucket, __global const float *scales, uint seed, uint worker,
                         uint iter, uint tensor, __global uint *words, uint nwords, int ef,
                         __local uchar *codes, const int B) {
#pragma OPENCL FP_CONTRACT OFF
  uint l = get_local_id(0), L = get_local_size(0);
  uint q0 = get_group_id(0) * L * 8u;
  for (int j = 0; j < 8; j++) {
    uint qd = q0 + (uint)j * L + l;
    uint4 r = q_philox((uint4)(qd, tensor, iter, TQ_RNG_QUANTIZE), (uint2)(seed, worker));
    uint rr[4] = {r.x, r.y, r.z, r.w};
    uchar cc[4];
    for (int c = 0; c < 4; c++) {
      uint i = 4u * qd + (uint)c;
      bool in = i < n;
      uint ii = in ? i : 0u;
      float v = in ? x[xoff + i] : 0.0f, nr = scales[ii / bucket]; /* no padding-lane load of x */
      float a = nr > 0.0f ? Q_FABS(v) / nr : 0.0f;
      a = a > 1.0f ? 1.0f : a;
      int k;
      Q_SEARCH(mag, nlev, a, B, k);
      float mk = mag[k], d = mag[k + 1] - mk, rem = a - mk;
      float ud = tq_u01(rr[c]) * d;
      uint m = (uint)k + (ud < rem ? 1u : 0u);
      uint neg = v < 0.0f ? 1u : 0u;
      uint code = m | (neg << (B - 1));
      if (in && ef) {
        float qv = nr * mag[m];
        x[xoff + i] = v - (neg ? -qv : qv);
      }
      cc[c] = in ? (uchar)code : (uchar)0;
    }
    uint cb = 4u * ((uint)j * L + l);
    codes[cb] = cc[0];
    codes[cb + 1] = cc[1];
    codes[cb + 2] = cc[2];
    codes[cb + 3] = cc[3];
  }
  barrier(CLK_LOCAL_MEM_FENCE);
  q_store_words(codes, words, nwords, B);
}

/* Global size: ceil(n / (32 L)) * L; codes: 32 L bytes of local memory. */
#define Q_ENC_KERNELS(B)                                                                        \
  __kernel void q_encode_table_b##B(__global float *x, uint xoff, uint n, __constant float *lv, \
                                    int nlev, uint seed, uint worker, uint iter, uint tensor,  \
                                    __global uint *words, uint nwords, int ef,                 \
                                    __local uchar *codes) {                                    \
    q_enc_table(x, xoff, n, lv, nlev, seed, worker, iter, tensor, words, nwords, ef, codes, B); \
  }                                                                                             \
  __kernel void q_encode_bucket_b##B(__global float *x, uint xoff, uint n,                     \
                                     __constant float *mag, int nlev, uint bucket,             \
                                     __global const float *scales, uint seed, uint worker,     \
                                     uint iter, uint tensor, __global uint *words, uint nwords, \
                                     int ef, __local uchar *codes) {                           \
    q_enc_bucket(x, xoff, n, mag, nlev, bucket, scales, seed, worker, iter, tensor, words,     \
                 nwords, ef, codes, B);                                                         \
  }
Q_ENC_KERNELS(1)
Q_ENC_KERNELS(2)
Q_ENC_KERNELS(3)
Q_ENC_KERNELS(4)
Q_ENC_KERNELS(5)
Q_ENC_KERNELS(6)
Q_ENC_KERNELS(7)
Q_ENC_KERNELS(8)

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
