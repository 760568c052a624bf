/* Per-tensor statistics for the tail fit (host/compress/tailfit.h, spec 7.3), two passes and
 * no atomics: work-item w owns the contiguous chunk [w*chunk, (w+1)*chunk) of the tensor and
 * keeps private counts, written once; q_stats_reduce sums the partials in a fixed order.
 * Pass 1 (q_stats) gives max|g|, which the bin edges of pass 2 (q_hist) need. */

#define Q_HIST_BINS 112
#define Q_HIST_BPD 16

/* Partial max|g| (finite values only), sum|g|, non-zero and non-finite counts per chunk. */
__kernel void q_stats(__global const float *x, uint off, uint n, uint chunk,
                      __global float *pmax, __global float *psum, __global uint *pcnt) {
  uint w = get_global_id(0);
  uint i0 = w * chunk;
  if (i0 >= n) return;
  uint i1 = min(n, i0 + chunk);
  float m = 0.0f, s = 0.0f;
  uint nz = 0, nf = 0;
  for (uint i = i0; i < i1; i++) {
    float a = fabs(x[off + i]);
    int fin = isfinite(a);
    nf += fin ? 0u : 1u;
    a = fin ? a : 0.0f;
    nz += a > 0.0f ? 1u : 0u;
    m = fmax(m, a);
    s += a;
  }
  pmax[w] = m;
  psum[w] = s;
  pcnt[2 * w] = nz;
  pcnt[2 * w + 1] = nf;
}

/* Bin of a > 0: the float log guesses, the edges M*R[j] decide (same as tq_hist_bin). */
inline int q_hist_bin(float a, float M, float lnM, __constant float *R) {
  const float inv_lnr = (float)(Q_HIST_BPD / 2.302585092994046);
  float q = (lnM - log(a)) * inv_lnr;
  int j;
  if (!(q < (float)Q_HIST_BINS)) j = 0;
  else {
    j = Q_HIST_BINS - 1 - (int)floor(q < 0.0f ? 0.0f : q);
    if (j < 0) j = 0;
  }
  while (j < Q_HIST_BINS - 1 && a > M * R[j + 1]) j++;
  while (j >= 0 && a <= M * R[j]) j--;
  return j;
}

/* Private histogram of the chunk, written once to phist[w*B .. w*B+B). */
__kernel void q_hist(__global const float *x, uint off, uint n, uint chunk,
                     __global const float *pmax, uint nchunks, __constant float *R,
                     __global uint *phist) {
  uint w = get_global_id(0);
  if (w >= nchunks) return;
  float M = 0.0f;
  for (uint c = 0; c < nchunks; c++) M = fmax(M, pmax[c]);
  uint h[Q_HIST_BINS];
  for (int j = 0; j < Q_HIST_BINS; j++) h[j] = 0;
  if (M > 0.0f) {
    float lnM = log(M);
    uint i0 = w * chunk, i1 = min(n, i0 + chunk);
    for (uint i = i0; i < i1; i++) {
      float a = fabs(x[off + i]);
      if (!(a > 0.0f) || !isfinite(a)) continue;
      int j = q_hist_bin(a, M, lnM, R);
      if (j >= 0) h[j]++;
    }
  }
  for (int j = 0; j < Q_HIST_BINS; j++) phist[w * Q_HIST_BINS + j] = h[j];
}

/* out[0..B) = histogram (if with_hist), out[B] = max bits, out[B+1] = sum bits,
 * out[B+2] = non-zero count, out[B+3] = non-finite count. Global size B. */
__kernel void q_stats_reduce(__global const float *pmax, __global const float *psum,
                             __global const uint *pcnt, __global const uint *phist,
                             uint nchunks, int with_hist, __global uint *out) {
  uint j = get_global_id(0);
  if (j >= Q_HIST_BINS) return;
  if (with_hist) {
    uint c = 0;
    for (uint w = 0; w < nchunks; w++) c += phist[w * Q_HIST_BINS + j];
    out[j] = c;
  } else {
    out[j] = 0;
  }
  if (j == 0) {
    float m = 0.0f, s = 0.0f;
    uint nz = 0, nf = 0;
    for (uint w = 0; w < nchunks; w++) {
      m = fmax(m, pmax[w]);
      s += psum[w];
      nz += pcnt[2 * w];
      nf += pcnt[2 * w + 1];
    }
    out[Q_HIST_BINS] = as_uint(m);
    out[Q_HIST_BINS + 1] = as_uint(s);
    out[Q_HIST_BINS + 2] = nz;
    out[Q_HIST_BINS + 3] = nf;
  }
}

/* Bucket norms, first level: part p covers sub-chunk p % per of bucket p / per
 * (sub elements each), summed sequentially (x^2, or max |x|). Order = tq_ref_bucket_norms. */
__kernel void q_norm_part(__global const float *x, uint off, uint n, uint bucket, uint sub,
                          uint per, uint nparts, int maxnorm, __global float *part) {
#pragma OPENCL FP_CONTRACT OFF
  uint p = get_global_id(0);
  if (p >= nparts) return;
  ulong b0 = (ulong)(p / per) * bucket;
  ulong c0 = b0 + (ulong)(p % per) * sub;
  ulong c1 = min(min(c0 + sub, b0 + bucket), (ulong)n);
  float acc = 0.0f;
  for (ulong i = c0; i < c1; i++) {
    float a = fabs(x[off + i]);
    if (maxnorm) acc = a > acc ? a : acc;
    else {
      float sq = a * a;
      acc = acc + sq;
    }
  }
  part[p] = acc;
}

/* Second level: scales[b] = sqrt(sum of its parts) (L2) or their max. */
__kernel void q_norm_fin(__global const float *part, uint per, uint nb, int maxnorm,
                         __global float *scales) {
  uint b = get_global_id(0);
  if (b >= nb) return;
  float acc = 0.0f;
  for (uint c = 0; c < per; c++) {
    float v = part[b * per + c];
    if (maxnorm) acc = v > acc ? v : acc;
    else acc = acc + v;
  }
  scales[b] = maxnorm ? acc : sqrt(acc);
}
