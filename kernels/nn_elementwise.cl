/* Activation, pooling and dropout layers. Each forward has its backward beside it. */

__kernel void nn_relu_fwd(__global const float *x, __global float *y, uint n) {
  uint i = get_global_id(0);
  if (i < n) y[i] = fmax(x[i], 0.0f);
}

/* dx = dy where the output was positive. Uses y, so x need not be kept. */
__kernel void nn_relu_bwd(__global const float *y, __global const float *dy, __global float *dx,
                          uint n) {
  uint i = get_global_id(0);
  if (i < n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* Max pooling over size x size windows with the given stride, no padding. Stores the flat
 * input index of each maximum (first one on ties, like PyTorch) for the backward pass. */
__kernel void nn_maxpool_fwd(__global const float *x, __global float *y, __global int *arg,
                             uint BC, uint H, uint W, uint OH, uint OW, uint size, uint stride) {
  uint gid = get_global_id(0);
  if (gid >= BC * OH * OW) return;
  uint ow = gid % OW, t = gid / OW, oh = t % OH, bc = t / OH;
  uint base = bc * H * W;
  int best = (int)(base + oh * stride * W + ow * stride);
  float m = x[best];
  for (uint i = 0; i < size; i++)
    for (uint j = 0; j < size; j++) {
      uint idx = base + (oh * stride + i) * W + ow * stride + j;
      float v = x[idx];
      if (v > m || isnan(v)) {
        m = v;
        best = (int)idx;
      }
    }
  y[gid] = m;
  arg[gid] = best;
}

/* dx[idx] = sum of dy over the windows whose maximum was idx: a gather over the windows that
 * cover idx, so overlapping windows (stride < size) need no atomics. */
__kernel void nn_maxpool_bwd(__global const float *dy, __global const int *arg, __global float *dx,
                             uint BC, uint H, uint W, uint OH, uint OW, uint size, uint stride) {
  uint gid = get_global_id(0);
  if (gid >= BC * H * W) return;
  uint xx = gid % W, t = gid / W, y = t % H, bc = t / H;
  float acc = 0.0f;
  /* windows oh with oh*stride <= y < oh*stride + size */
  uint oh_lo = y >= size ? (y - size) / stride + 1 : 0, oh_hi = min(y / stride, OH - 1);
  uint ow_lo = xx >= size ? (xx - size) / stride + 1 : 0, ow_hi = min(xx / stride, OW - 1);
  for (uint oh = oh_lo; oh <= oh_hi && oh < OH; oh++)
    for (uint ow = ow_lo; ow <= ow_hi && ow < OW; ow++) {
      uint o = (bc * OH + oh) * OW + ow;
      if (arg[o] == (int)gid) acc += dy[o];
    }
  dx[gid] = acc;
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
