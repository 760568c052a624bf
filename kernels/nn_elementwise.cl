/* Activation, pooling and dropout layers. Each forward has its backward beside it.
 * No builtins (fmax, min, isnan) in these bodies and no varying integer division: POCL does not
 * inline the former and scalarises the latter, and either stops it vectorising across
 * work-items (see nn_conv.cl).
 * Uses: 00_common.cl (nn_divmod), 00_philox.cl (tq_rng_draw, tq_u01), the build options of
 * host/cl/kernel_constants.h (TQ_RNG_DROPOUT). */

__kernel void nn_relu_fwd(__global const float *x, __global float *y, uint n) {
  uint i = get_global_id(0);
  if (i >= n) return;
  float v = x[i];
  y[i] = v > 0.0f ? v : 0.0f; /* NaN gives 0, as fmax(NaN, 0) does */
}

/* dx = dy where the output was positive. Uses y, so x need not be kept. */
__kernel void nn_relu_bwd(__global const float *y, __global const float *dy, __global float *dx,
                          uint n) {
  uint i = get_global_id(0);
  if (i < n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* Max pooling over size x size windows with the given stride, no padding. Stores the flat
 * input index of each maximum (first one on ties, like PyTorch; a NaN wins) for the backward
 * pass. get_global_id(0) = oh*OW + ow, get_global_id(1) = bc. As for nn_col2im, inner loops
 * stop POCL from vectorising: the _2x2 variants (size = stride = 2) have none. */
#define NN_POOL_TAKE(idx)                                                                          \
  {                                                                                               \
    float v = x[idx];                                                                             \
    bool take = v > m || v != v;                                                                  \
    m = take ? v : m;                                                                             \
    best = take ? (int)(idx) : best;                                                              \
  }

__kernel void nn_maxpool_fwd(__global const float *x, __global float *y, __global int *arg,
                             uint BC, uint H, uint W, uint OH, uint OW, uint size, uint stride) {
  uint o = get_global_id(0), bc = get_global_id(1);
  if (o >= OH * OW) return;
  uint ow;
  uint oh = nn_divmod(o, OW, 1.0f / (float)OW, &ow);
  uint base = bc * H * W + oh * stride * W + ow * stride;
  int best = (int)base;
  float m = x[base];
  for (uint i = 0; i < size; i++)
    for (uint j = 0; j < size; j++) NN_POOL_TAKE(base + i * W + j)
  y[bc * OH * OW + o] = m;
  arg[bc * OH * OW + o] = best;
}

__kernel void nn_maxpool_fwd_2x2(__global const float *x, __global float *y, __global int *arg,
                                 uint BC, uint H, uint W, uint OH, uint OW, uint size,
                                 uint stride) {
  uint o = get_global_id(0), bc = get_global_id(1);
  if (o >= OH * OW) return;
  uint ow;
  uint oh = nn_divmod(o, OW, 1.0f / (float)OW, &ow);
  uint base = bc * H * W + oh * 2u * W + ow * 2u;
  int best = (int)base;
  float m = x[base];
  NN_POOL_TAKE(base + 1u)
  NN_POOL_TAKE(base + W)
  NN_POOL_TAKE(base + W + 1u)
  y[bc * OH * OW + o] = m;
  arg[bc * OH * OW + o] = best;
}

/* dx[idx] = sum of dy over the windows whose maximum was idx: a gather over the windows that
 * cover idx, so overlapping windows (stride < size) need no atomics. A pixel at row y lies in
 * windows oh = y/stride - t for t < ceil(size/stride) (those with oh*stride + size > y).
 * get_global_id(0) = y*W + x, get_global_id(1) = bc. */
__kernel void nn_maxpool_bwd(__global const float *dy, __global const int *arg, __global float *dx,
                             uint BC, uint H, uint W, uint OH, uint OW, uint size, uint stride) {
  uint yx = get_global_id(0), bc = get_global_id(1);
  if (yx >= H * W) return;
  uint xx, r;
  uint y = nn_divmod(yx, W, 1.0f / (float)W, &xx);
  float inv = 1.0f / (float)stride;
  int oh_hi = (int)nn_divmod(y, stride, inv, &r), ow_hi = (int)nn_divmod(xx, stride, inv, &r);
  uint nwin = (size + stride - 1) / stride;
  int gid = (int)(bc * H * W + yx);
  float acc = 0.0f;
  for (uint t = 0; t < nwin; t++) {
    int oh = oh_hi - (int)t;
    bool okh = oh >= 0 && oh < (int)OH && (int)y < oh * (int)stride + (int)size;
    for (uint u = 0; u < nwin; u++) {
      int ow = ow_hi - (int)u;
      bool ok = okh && ow >= 0 && ow < (int)OW && (int)xx < ow * (int)stride + (int)size;
      uint o = ok ? (bc * OH + (uint)oh) * OW + (uint)ow : 0u;
      int a = arg[o];
      float g = dy[o];
      acc += (ok && a == gid) ? g : 0.0f;
    }
  }
  dx[gid] = acc;
}

/* size = stride = 2: each pixel is in at most one window, (y/2, x/2). */
__kernel void nn_maxpool_bwd_2x2(__global const float *dy, __global const int *arg,
                                 __global float *dx, uint BC, uint H, uint W, uint OH, uint OW,
                                 uint size, uint stride) {
  uint yx = get_global_id(0), bc = get_global_id(1);
  if (yx >= H * W) return;
  uint xx;
  uint y = nn_divmod(yx, W, 1.0f / (float)W, &xx);
  uint oh = y >> 1, ow = xx >> 1;
  int gid = (int)(bc * H * W + yx);
  bool ok = oh < OH && ow < OW;
  uint o = ok ? (bc * OH + oh) * OW + ow : 0u;
  int a = arg[o];
  float g = dy[o];
  dx[gid] = (ok && a == gid) ? g : 0.0f;
}

/* Inverted dropout: keep with probability 1-p and scale by 1/(1-p). The mask is regenerated
 * from the Philox stream (seed, worker, iteration, layer) in the backward pass, never stored. */
__kernel void nn_dropout_fwd(__global const float *x, __global float *y, uint n, float p,
                             uint seed, uint worker, uint iteration, uint layer) {
  uint i = get_global_id(0);
  if (i >= n) return;
  float u = tq_u01(tq_rng_draw(seed, worker, iteration, layer, TQ_RNG_DROPOUT, i));
  y[i] = u >= p ? x[i] * (1.0f / (1.0f - p)) : 0.0f;
}

__kernel void nn_dropout_bwd(__global const float *dy, __global float *dx, uint n, float p,
                             uint seed, uint worker, uint iteration, uint layer) {
  uint i = get_global_id(0);
  if (i >= n) return;
  float u = tq_u01(tq_rng_draw(seed, worker, iteration, layer, TQ_RNG_DROPOUT, i));
  dx[i] = u >= p ? dy[i] * (1.0f / (1.0f - p)) : 0.0f;
}
