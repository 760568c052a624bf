/* Per-tensor statistics for the tail fit (host/compress/tailfit.h, docs/math.md), no global
 * atomics. Work-items of a group run as SIMD lanes on POCL's CPU device, so kernel bodies are
 * loop-free after unrolling and neighbouring lanes read neighbouring elements:
 *   q_stats:  with E = TQ_STATS_E, group g covers elements [g*L*E, (g+1)*L*E), work-item l
 *             reads the E elements g*L*E + j*L + l and reduces them by a pairwise tree;
 *             per-group partial max|g| (finite values), sum|g| (work-items summed in order),
 *             non-zero and non-finite counts;
 *   q_hist*:  M = max of the q_stats partials and the edges e_j = M * R[j] (j = 0..112, as
 *             tailfit.c), formed by every group; with E = TQ_HIST_E, work-item l reads elements
 *             g*L*E + j*L + l, E of them; bin j of a > 0 is the number of
 *             edges e_0..e_111 below a, minus one (a binary search on the edges): exactly the
 *             bin tq_hist_bin settles on, since its loops stop at e_j < a <= e_{j+1}. Two ways
 *             to count (the device profile picks, host/cl/cl_devprofile.h): lane-private
 *             counts in local memory summed per group (q_hist, q_hist_exact: 448 bytes per
 *             work-item, for CPUs, where atomics are slow), or one count per group with local
 *             atomics (q_hist_atomic, q_hist_atomic_exact: 896 bytes per group, for GPUs).
 *             Counts are integers, so both give the same histogram. Groups of >= 112 items.
 * The host reads the per-group partials and sums them in a fixed order (compressor.c), with the
 * payload-independent read it already waits for: no reduction kernel, no edges kernel.
 * Uses: 00_common.cl (Q_FABS, Q_ISFINITE, Q_MIN, Q_MAX, Q_UNROLL, Q_LOAD16), the build options
 * of host/cl/kernel_constants.h (TQ_HIST_BINS, TQ_HIST_BPD; TQ_STATS_E, TQ_HIST_E: elements per
 * work-item of q_stats and of q_hist*; TQ_STATS_L: q_stats' group size). */

__kernel void q_stats(__global const float *x, uint off, uint n, __global float *pmax,
                      __global float *psum, __global uint *pcnt, __local float *lm,
                      __local float *ls, __local uint *lc) {
  uint l = get_local_id(0), L = get_local_size(0), g = get_group_id(0);
  /* Work-item l: the TQ_STATS_E elements base + j*L (neighbouring work-items read neighbouring
   * elements, so SIMD lanes load whole vectors; consecutive elements per work-item made every
   * load a gather), reduced by a fixed pairwise tree (sum, max, counts): deterministic. */
  uint base = g * L * TQ_STATS_E + l;
  float a[TQ_STATS_E], mx[TQ_STATS_E];
  uint z[TQ_STATS_E], nfc[TQ_STATS_E];
  Q_UNROLL
  for (int j = 0; j < TQ_STATS_E; j++) {
    uint i = base + (uint)j * L;
    float v = 0.0f;
    if (i < n) v = Q_FABS(x[off + i]); /* a masked vector load; `in ? x[..] : 0` was a gather */
    int fin = Q_ISFINITE(v);
    v = fin ? v : 0.0f;
    a[j] = v;
    mx[j] = v;
    z[j] = v > 0.0f ? 1u : 0u;
    nfc[j] = fin ? 0u : 1u;
  }
  Q_UNROLL
  for (int w = TQ_STATS_E / 2; w >= 1; w /= 2) {
    Q_UNROLL
    for (int j = 0; j < w; j++) {
      a[j] = a[j] + a[j + w];
      mx[j] = mx[j + w] > mx[j] ? mx[j + w] : mx[j];
      z[j] += z[j + w];
      nfc[j] += nfc[j + w];
    }
  }
  float m = mx[0], s = a[0];
  uint nz = z[0], nf = nfc[0];
  lm[l] = m;
  ls[l] = s;
  lc[2 * l] = nz;
  lc[2 * l + 1] = nf;
  barrier(CLK_LOCAL_MEM_FENCE);
  if (l == 0) {
    for (uint k = 1; k < L; k++) {
      m = fmax(m, lm[k]);
      s += ls[k];
      nz += lc[2 * k];
      nf += lc[2 * k + 1];
    }
    pmax[g] = m;
    psum[g] = s;
    pcnt[2 * g] = nz;
    pcnt[2 * g + 1] = nf;
  }
}

/* The cpu profile's q_stats (host/cl/cl_devprofile.h: vector_stats): the same partials bit for
 * bit, in the same order (lane l's pairwise tree over its TQ_STATS_E elements base + j*L + l,
 * then the lanes in order), one work-item per chunk of L*E elements, sixteen lanes at a time in
 * float16 registers. POCL kept q_stats' per-lane arrays on the stack and ran it as scalar code
 * (0.2 G elements/s); this form is written in vectors, so nothing depends on its vectoriser.
 * Max and counts do not depend on the order; the sum is the same sequence of float additions. */
/* Counts by integer arithmetic on the bit patterns, not from vector comparisons (Oclgrind
 * 21.10 summed a true int16 comparison as 254, not -1, and miscounted u | -u): u <= 0x7fffffff
 * is non-finite iff u + 2^23 reaches 2^31, and a finite u is non-zero iff u + 2^31 - 1 does. */
#define Q_STATS_LANES(vec)                                                                         \
  do {                                                                                             \
    uint16 u_ = as_uint16(vec) & (uint16)0x7fffffffu;                                              \
    uint16 nf_ = (u_ + (uint16)0x00800000u) >> 31;                                                 \
    u_ = u_ & (nf_ - (uint16)1u); /* non-finite -> 0 */                                            \
    float16 v_ = as_float16(u_);                                                                   \
    a[j] = v_;                                                                                     \
    mx = v_ > mx ? v_ : mx;                                                                        \
    nzv += (u_ + (uint16)0x7fffffffu) >> 31;                                                       \
    nfv += nf_;                                                                                    \
  } while (0)
__kernel void q_stats_v16(__global const float *x, uint off, uint n, uint nchunks,
                          __global float *pmax, __global float *psum, __global uint *pcnt) {
  const uint L = TQ_STATS_L;
  uint g = get_global_id(0);
  if (g >= nchunks) return;
  uint base = g * L * TQ_STATS_E;
  bool full = base + L * TQ_STATS_E <= n;
  float16 mx = 0.0f;
  uint16 nzv = 0u, nfv = 0u;
  float s = 0.0f;
  for (uint l0 = 0; l0 < L; l0 += 16u) {
    float16 a[TQ_STATS_E];
    for (int j = 0; j < TQ_STATS_E; j++) {
      uint i = base + (uint)j * L + l0;
      float16 v;
      if (full) {
        v = Q_LOAD16(x + off + i);
      } else {
        float t[16];
        for (uint e = 0; e < 16u; e++) t[e] = i + e < n ? x[off + i + e] : 0.0f;
        v = Q_LOAD16(t);
      }
      Q_STATS_LANES(v);
    }
    for (int w = TQ_STATS_E / 2; w >= 1; w /= 2)
      for (int j = 0; j < w; j++) a[j] = a[j] + a[j + w];
    float16 r = a[0];
    s = s + r.s0, s = s + r.s1, s = s + r.s2, s = s + r.s3, s = s + r.s4, s = s + r.s5;
    s = s + r.s6, s = s + r.s7, s = s + r.s8, s = s + r.s9, s = s + r.sa, s = s + r.sb;
    s = s + r.sc, s = s + r.sd, s = s + r.se, s = s + r.sf;
  }
  float8 m8 = mx.lo > mx.hi ? mx.lo : mx.hi;
  float4 m4 = m8.lo > m8.hi ? m8.lo : m8.hi;
  float2 m2 = m4.lo > m4.hi ? m4.lo : m4.hi;
  uint8 z8 = nzv.lo + nzv.hi, f8 = nfv.lo + nfv.hi;
  uint4 z4 = z8.lo + z8.hi, f4 = f8.lo + f8.hi;
  pmax[g] = m2.x > m2.y ? m2.x : m2.y;
  psum[g] = s;
  pcnt[2 * g] = z4.x + z4.y + z4.z + z4.w;
  pcnt[2 * g + 1] = f4.x + f4.y + f4.z + f4.w;
}

/* Bin of a: number of edges e_0..e_111 below a, minus one. Exact: a binary search. */
inline int q_bin_search(__local const float *le, float a) {
  int bin = -1;
  Q_UNROLL
  for (int st = 64; st >= 1; st >>= 1) {
    int c = bin + st;
    bin = ((c <= TQ_HIST_BINS - 1) & (le[Q_MIN(c, TQ_HIST_BINS - 1)] < a)) ? c : bin;
  }
  return bin;
}

/* Fast: the float bit patterns of a and M give log2(M/a) within 0.09 octave (a bin is 0.21
 * octave) when both are normal floats, so the guess is off by at most one bin and one step
 * each way settles it against the same edges. Used only while e_0 is a normal float (M >
 * 1e-30); the host reruns q_hist_exact otherwise. */
inline int q_bin_guess(__local const float *le, float a, uint mbits) {
  int d = (int)(mbits - as_uint(a)); /* >= 0 for a <= M */
  /* bins below the top: d / 2^23 octaves * (16 / log2 10) bins per octave */
  int g = TQ_HIST_BINS - 1 - (int)((float)d * (float)(TQ_HIST_BPD / 3.321928094887362 / 8388608.0));
  g = g < -1 ? -1 : (g > TQ_HIST_BINS - 1 ? TQ_HIST_BINS - 1 : g);
  int up = g + 1;
  g = (up <= TQ_HIST_BINS - 1 && le[Q_MIN(up, TQ_HIST_BINS - 1)] < a) ? up : g;
  g = (g >= 0 && !(le[Q_MAX(g, 0)] < a)) ? g - 1 : g;
  return g;
}

/* Local size L >= 112; lh: 112 * L uints (lane l's count of bin b at lh[b * L + l]), le: 113
 * floats (the edges and M). phist[j * ngroups + g]. Work-item 0 first takes M = max of the nsg
 * q_stats partials (every group the same M, in the same order), work-item l < 112 then forms
 * edge l = M * R[l] (as tailfit.c) and later sums bin l: an if, not a loop over bins, because
 * POCL 3.1's parallel-region pass fails ("Incoming edges to non-entry block") on a
 * work-item-dependent loop after a barrier. */
#define Q_HIST_KERNEL(NAME, BIN)                                                               \
  __kernel void NAME(__global const float *x, uint off, uint n, __global const float *pmax,    \
                     uint nsg, __constant float *R, __global uint *phist, uint ngroups,        \
                     __local uint *lh, __local float *le) {                                    \
    uint l = get_local_id(0), L = get_local_size(0), g = get_group_id(0);                      \
    Q_UNROLL for (int b = 0; b < TQ_HIST_BINS; b++) lh[(uint)b * L + l] = 0;           \
    barrier(CLK_LOCAL_MEM_FENCE); /* M's loop in a region of its own: the zeroing vectorises */ \
    if (l == 0) {                                                                              \
      float M = 0.0f;                                                                          \
      for (uint c = 0; c < nsg; c++) M = Q_MAX(M, pmax[c]);                                    \
      le[TQ_HIST_BINS] = M;                                                                     \
    }                                                                                          \
    barrier(CLK_LOCAL_MEM_FENCE);                                                              \
    if (l < TQ_HIST_BINS) le[l] = le[TQ_HIST_BINS] * R[l];                                       \
    barrier(CLK_LOCAL_MEM_FENCE);                                                              \
    uint mbits = as_uint(le[TQ_HIST_BINS]);                                                     \
    uint base = g * L * TQ_HIST_E;                                                                 \
    Q_UNROLL for (int j = 0; j < TQ_HIST_E; j++) {                                         \
      uint i = base + (uint)j * L + l;                                                         \
      bool in = i < n;                                                                         \
      float a = 0.0f;                                                                          \
      if (in) a = Q_FABS(x[off + i]); /* masked vector load, not a gather */                   \
      int bin = BIN;                                                                           \
      uint ok = (in & (a > 0.0f) & Q_ISFINITE(a) & (bin >= 0)) ? 1u : 0u;                      \
      lh[(uint)Q_MAX(bin, 0) * L + l] += ok;                                                   \
    }                                                                                          \
    barrier(CLK_LOCAL_MEM_FENCE);                                                              \
    if (l < TQ_HIST_BINS) {                                                                     \
      uint c = 0;                                                                              \
      for (uint k = 0; k < L; k++) c += lh[l * L + k];                                         \
      phist[l * ngroups + g] = c;                                                              \
    }                                                                                          \
  }
Q_HIST_KERNEL(q_hist, q_bin_guess(le, a, mbits))
Q_HIST_KERNEL(q_hist_exact, q_bin_search(le, a))

/* The same bins counted with local atomics into one 112-bin histogram per group (lh: 112
 * uints, le: 113 floats; local size L >= 112); for GPUs, where these are fast and lane-private
 * counts would not fit local memory (NVIDIA 48 KiB, the OpenCL minimum 32 KiB). */
#define Q_HIST_ATOMIC_KERNEL(NAME, BIN)                                                        \
  __kernel void NAME(__global const float *x, uint off, uint n, __global const float *pmax,    \
                     uint nsg, __constant float *R, __global uint *phist, uint ngroups,        \
                     __local uint *lh, __local float *le) {                                    \
    uint l = get_local_id(0), L = get_local_size(0), g = get_group_id(0);                      \
    if (l == 0) {                                                                              \
      float M = 0.0f;                                                                          \
      for (uint c = 0; c < nsg; c++) M = Q_MAX(M, pmax[c]);                                    \
      le[TQ_HIST_BINS] = M;                                                                     \
    }                                                                                          \
    if (l < TQ_HIST_BINS) lh[l] = 0;                                                            \
    barrier(CLK_LOCAL_MEM_FENCE);                                                              \
    if (l < TQ_HIST_BINS) le[l] = le[TQ_HIST_BINS] * R[l];                                       \
    barrier(CLK_LOCAL_MEM_FENCE);                                                              \
    uint mbits = as_uint(le[TQ_HIST_BINS]);                                                     \
    uint base = g * L * TQ_HIST_E;                                                                 \
    for (int j = 0; j < TQ_HIST_E; j++) {                                                          \
      uint i = base + (uint)j * L + l;                                                         \
      if (i < n) {                                                                             \
        float a = Q_FABS(x[off + i]);                                                          \
        int bin = BIN;                                                                         \
        if (a > 0.0f && Q_ISFINITE(a) && bin >= 0) atomic_inc(&lh[bin]);                       \
      }                                                                                        \
    }                                                                                          \
    barrier(CLK_LOCAL_MEM_FENCE);                                                              \
    if (l < TQ_HIST_BINS) phist[l * ngroups + g] = lh[l];                                       \
  }
Q_HIST_ATOMIC_KERNEL(q_hist_atomic, q_bin_guess(le, a, mbits))
Q_HIST_ATOMIC_KERNEL(q_hist_atomic_exact, q_bin_search(le, a))

/* Bucket norms, first level: part p covers sub-chunk p % per of bucket p / per
 * (sub elements each), summed sequentially (x^2, or max |x|). Order = tq_ref_bucket_norms. */
/* The elements [*c0, *c1) of part p: sub-chunk p % per of bucket p / per, cut at the bucket's
 * and the tensor's end (q_norm_part, q_norm_l1part). */
inline void q_part_range(uint p, uint per, uint bucket, uint sub, uint n, ulong *c0, ulong *c1) {
  ulong b0 = (ulong)(p / per) * bucket;
  *c0 = b0 + (ulong)(p % per) * sub;
  *c1 = min(min(*c0 + sub, b0 + bucket), (ulong)n);
}

__kernel void q_norm_part(__global const float *x, uint off, uint n, uint bucket, uint sub,
                          uint per, uint nparts, int maxnorm, __global float *part) {
#pragma OPENCL FP_CONTRACT OFF
  uint p = get_global_id(0);
  if (p >= nparts) return;
  ulong c0, c1;
  q_part_range(p, per, bucket, sub, n, &c0, &c1);
  float acc = 0.0f;
  for (ulong i = c0; i < c1; i++) {
    float a = fabs(x[off + i]);
    if (maxnorm) acc = a > acc ? a : acc;
    else {
      float sq = a * a;
      acc = acc + sq;
    }
  }
  /* An overflowing sum of finite squares: redo it at 2^-96, marked negative (quant_ref.c). */
  if (!maxnorm && isinf(acc)) {
    acc = 0.0f;
    for (ulong i = c0; i < c1; i++) {
      float a = fabs(x[off + i]) * 0x1p-96f;
      float sq = a * a;
      acc = acc + sq;
    }
    acc = -acc;
  }
  part[p] = acc;
}

/* First level when the bucket is a multiple of 32 elements (tq_norm_sub = 32): part p is
 * elements 32p .. 32p+31, summed in order as q_norm_part does, loop-free so that POCL runs
 * work-items as SIMD lanes. The 2^-96 sum is formed beside the plain one and used when that
 * overflows. Parts past n are 0. */
#define Q_ISINF(v) ((as_uint(v) & 0x7fffffffu) == 0x7f800000u)
__kernel void q_norm_part32(__global const float *x, uint off, uint n, uint nparts, int maxnorm,
                            __global float *part) {
#pragma OPENCL FP_CONTRACT OFF
  uint p = get_global_id(0);
  if (p >= nparts) return;
  uint i0 = 32u * p;
  float acc = 0.0f, acc2 = 0.0f, mx = 0.0f;
  Q_UNROLL
  for (int j = 0; j < 32; j++) {
    uint i = i0 + (uint)j;
    bool in = i < n;
    float a = in ? Q_FABS(x[off + i]) : 0.0f;
    mx = a > mx ? a : mx;
    float sq = a * a;
    acc = acc + sq;
    float as = a * 0x1p-96f;
    float sq2 = as * as;
    acc2 = acc2 + sq2;
  }
  part[p] = maxnorm ? mx : (Q_ISINF(acc) ? -acc2 : acc);
}

/* Second level: scales[b] = sqrt(sum of its parts) (L2) or their max, inv[b] = 1 / scales[b]
 * (0 for a zero norm); if a part was scaled or
 * the sum overflows, every part is summed at 2^-96 and the root scaled back (exact). */
__kernel void q_norm_fin(__global const float *part, uint per, uint nb, int maxnorm,
                         __global float *scales, __global float *inv){
#pragma OPENCL FP_CONTRACT OFF
  uint b = get_global_id(0);
  if (b >= nb) return;
  float acc = 0.0f;
  int scaled = 0;
  for (uint c = 0; c < per; c++) {
    float v = part[b * per + c];
    if (maxnorm) acc = v > acc ? v : acc;
    else {
      scaled |= v < 0.0f;
      acc = acc + v;
    }
  }
  if (!maxnorm && (scaled || isinf(acc))) {
    acc = 0.0f;
    for (uint c = 0; c < per; c++) {
      float v = part[b * per + c];
      float w = v < 0.0f ? -v : (v * 0x1p-96f) * 0x1p-96f;
      acc = acc + w;
    }
    scales[b] = sqrt(acc) * 0x1p96f;
  } else
    scales[b] = maxnorm ? acc : sqrt(acc);
  /* The encoder multiplies by this (as tq_ref_encode_bucketed): a division per element was
   * vectorised inside one work-item at build time, which kept POCL from using SIMD lanes. */
  float sc = scales[b];
  inv[b] = sc > 0.0f ? 1.0f / sc : 0.0f;
}

/* TPQSGD (host/compress/design_tp.h): after q_norm_fin's max-norms, scales[b] = min(scales[b],
 * alpha), the truncation at alpha, and inv[b] its reciprocal (as tq_tp_cap_scales). */
__kernel void q_norm_cap(__global float *scales, __global float *inv, uint nb, float alpha) {
#pragma OPENCL FP_CONTRACT OFF
  uint b = get_global_id(0);
  if (b >= nb) return;
  float s = scales[b];
  s = s < alpha ? s : alpha;
  scales[b] = s;
  inv[b] = s > 0.0f ? 1.0f / s : 0.0f;
}

/* EF-signSGD's scale, mean |x| per bucket (tq_ref_bucket_means). First level: part p sums |x|
 * over sub-chunk p % per of bucket p / per, sequentially in float (as q_norm_part); a sum that
 * overflows is redone at 2^-96 and marked negative. */
__kernel void q_norm_l1part(__global const float *x, uint off, uint n, uint bucket, uint sub,
                            uint per, uint nparts, __global float *part) {
#pragma OPENCL FP_CONTRACT OFF
  uint p = get_global_id(0);
  if (p >= nparts) return;
  ulong c0, c1;
  q_part_range(p, per, bucket, sub, n, &c0, &c1);
  float acc = 0.0f;
  for (ulong i = c0; i < c1; i++) acc = acc + fabs(x[off + i]);
  if (isinf(acc)) {
    acc = 0.0f;
    for (ulong i = c0; i < c1; i++) {
      float a = fabs(x[off + i]) * 0x1p-96f;
      acc = acc + a;
    }
    acc = -acc;
  }
  part[p] = acc;
}

/* Second level: scales[b] = (sum of its parts) / (its elements), inv[b] = 1 / scales[b] (0 for
 * 0); when a part was scaled or the sum overflows, the parts are summed at 2^-96 and the mean
 * scaled back (exact: powers of two). */
__kernel void q_norm_l1fin(__global const float *part, uint per, uint nb, uint bucket, uint n,
                           __global float *scales, __global float *inv) {
#pragma OPENCL FP_CONTRACT OFF
  uint b = get_global_id(0);
  if (b >= nb) return;
  float cnt = (float)min(bucket, n - b * bucket);
  float acc = 0.0f;
  int scaled = 0;
  for (uint c = 0; c < per; c++) {
    float v = part[b * per + c];
    scaled |= v < 0.0f;
    acc = acc + v;
  }
  float s;
  if (scaled || isinf(acc)) {
    acc = 0.0f;
    for (uint c = 0; c < per; c++) {
      float v = part[b * per + c];
      float w = v < 0.0f ? -v : v * 0x1p-96f;
      acc = acc + w;
    }
    s = (acc / cnt) * 0x1p96f;
  } else
    s = acc / cnt;
  scales[b] = s;
  inv[b] = s > 0.0f ? 1.0f / s : 0.0f;
}
