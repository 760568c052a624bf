/* Batch normalisation, global average pooling and the residual add (nn_divmod: 00_common.cl).
 *
 * batchnorm over x [B][C][HW], per channel c, over the first `count` samples (N = count*HW):
 *   training:   mean, var (biased) of the batch; stat[c] = mean, stat[C + c] = 1/sqrt(var+eps);
 *               running = (1 - mom) running + mom (mean, var N/(N-1)), as PyTorch
 *   evaluation: stat from the running statistics
 *   y = (x - stat[c]) stat[C + c] gamma[c] + beta[c]
 *   backward:   sdy = sum dy, sdyx = sum dy xhat (= dbeta, dgamma), kept in stat[2C + c],
 *               stat[3C + c]; dx = gamma invstd / N (N dy - sdy - xhat sdyx), 0 for padding rows
 * The reductions run one fixed-size work-group per channel: each item sums a strided slice in
 * order, then a tree in local memory, so the result never depends on the device or the
 * scheduling (bit-identical runs). Two passes (mean, then squared deviations) rather than
 * E[x^2] - E[x]^2, which cancels badly for channels far from zero. The group size TQ_NN_BN_L is
 * a build option (host/cl/kernel_constants.h). */

/* The sum over this group's channel c of f(x) for the N = count*HW elements, left in part[0]
 * of every item after the barriers. */
#define NN_BN_REDUCE(EXPR)                                                                        \
  __local float part[TQ_NN_BN_L];                                                                 \
  uint c = get_group_id(0), t = get_local_id(0);                                                  \
  uint N = count * HW;                                                                            \
  float invHW = 1.0f / (float)HW;                                                                 \
  float acc = 0.0f;                                                                               \
  for (uint j = t; j < N; j += TQ_NN_BN_L) {                                                      \
    uint p, b = nn_divmod(j, HW, invHW, &p);                                                      \
    uint idx = (b * C + c) * HW + p;                                                              \
    acc += (EXPR);                                                                                \
  }                                                                                               \
  part[t] = acc;                                                                                  \
  barrier(CLK_LOCAL_MEM_FENCE);                                                                   \
  for (uint s = TQ_NN_BN_L / 2; s > 0; s >>= 1) {                                                 \
    if (t < s) part[t] += part[t + s];                                                            \
    barrier(CLK_LOCAL_MEM_FENCE);                                                                 \
  }

__kernel __attribute__((reqd_work_group_size(TQ_NN_BN_L, 1, 1)))
void nn_bn_mean(__global const float *x, uint C, uint HW, uint count, __global float *stat) {
  NN_BN_REDUCE(x[idx])
  if (t == 0u && c < C) stat[c] = part[0] / (float)N;
}

/* The variance pass; with update != 0 it also moves the running statistics (state). */
__kernel __attribute__((reqd_work_group_size(TQ_NN_BN_L, 1, 1)))
void nn_bn_var(__global const float *x, uint C, uint HW, uint count, __global float *stat,
               float eps, uint update, float mom, __global float *state, uint state_off) {
  float mean = stat[get_group_id(0) < C ? get_group_id(0) : 0u];
  NN_BN_REDUCE((x[idx] - mean) * (x[idx] - mean))
  if (t == 0u && c < C) {
    float var = part[0] / (float)N;
    stat[C + c] = 1.0f / sqrt(var + eps);
    if (update != 0u) {
      float unbiased = N > 1u ? var * ((float)N / (float)(N - 1u)) : var;
      state[state_off + c] = (1.0f - mom) * state[state_off + c] + mom * mean;
      state[state_off + C + c] = (1.0f - mom) * state[state_off + C + c] + mom * unbiased;
    }
  }
}

/* Evaluation: stat from the running statistics. One item per channel. */
__kernel void nn_bn_eval_stat(__global const float *state, uint state_off, uint C, float eps,
                              __global float *stat) {
  uint c = get_global_id(0);
  if (c >= C) return;
  stat[c] = state[state_off + c];
  stat[C + c] = 1.0f / sqrt(state[state_off + C + c] + eps);
}

/* y = xhat gamma + beta. get_global_id(0) = p (of HW), get_global_id(1) = b*C + c. */
__kernel void nn_bn_apply(__global const float *x, __global float *y, __global const float *stat,
                          __global const float *params, uint g_off, uint b_off, uint C, uint HW) {
  uint p = get_global_id(0), bc = get_global_id(1);
  if (p >= HW) return;
  uint c, b = nn_divmod(bc, C, 1.0f / (float)C, &c); /* uniform within the group's row */
  (void)b;
  uint i = bc * HW + p;
  y[i] = (x[i] - stat[c]) * stat[C + c] * params[g_off + c] + params[b_off + c];
}

/* dgamma, dbeta into grads and stat[2C + c], stat[3C + c]. */
__kernel __attribute__((reqd_work_group_size(TQ_NN_BN_L, 1, 1)))
void nn_bn_bwd_reduce(__global const float *x, __global const float *dy, uint C, uint HW,
                      uint count, __global float *stat, __global float *grads, uint g_off,
                      uint b_off, uint which) {
  uint cc = get_group_id(0) < C ? get_group_id(0) : 0u;
  float mean = stat[cc], inv = stat[C + cc];
  /* which = 0: sum dy; 1: sum dy xhat (one kernel object, two launches). */
  float wsel = which != 0u ? 1.0f : 0.0f;
  NN_BN_REDUCE(dy[idx] * (wsel * ((x[idx] - mean) * inv) + (1.0f - wsel)))
  if (t == 0u && c < C) {
    if (which != 0u) {
      stat[3u * C + c] = part[0];
      grads[g_off + c] = part[0];
    } else {
      stat[2u * C + c] = part[0];
      grads[b_off + c] = part[0];
    }
  }
}

__kernel void nn_bn_bwd_dx(__global const float *x, __global const float *dy, __global float *dx,
                           __global const float *stat, __global const float *params, uint g_off,
                           uint C, uint HW, uint count) {
  uint p = get_global_id(0), bc = get_global_id(1);
  if (p >= HW) return;
  uint c, b = nn_divmod(bc, C, 1.0f / (float)C, &c);
  uint i = bc * HW + p;
  float N = (float)(count * HW), inv = stat[C + c];
  float xhat = (x[i] - stat[c]) * inv;
  float g = params[g_off + c] * inv / N * (N * dy[i] - stat[2u * C + c] - xhat * stat[3u * C + c]);
  dx[i] = b < count ? g : 0.0f;
}

/* Global average pooling: y[bc] = mean of x[bc][0..HW). One item per (b, c); the loop's trip
 * count is uniform. */
__kernel void nn_avgpool_fwd(__global const float *x, __global float *y, uint BC, uint HW) {
  uint bc = get_global_id(0);
  if (bc >= BC) return;
  __global const float *r = x + bc * HW;
  float acc = 0.0f;
  for (uint p = 0; p < HW; p++) acc += r[p];
  y[bc] = acc * (1.0f / (float)HW);
}

/* dx[bc][p] = dy[bc] / HW. get_global_id(0) = p, get_global_id(1) = bc. */
__kernel void nn_avgpool_bwd(__global const float *dy, __global float *dx, uint HW) {
  uint p = get_global_id(0), bc = get_global_id(1);
  if (p >= HW) return;
  dx[bc * HW + p] = dy[bc] * (1.0f / (float)HW);
}

/* The residual add: y = a + b. */
__kernel void nn_add_fwd(__global const float *a, __global const float *b, __global float *y,
                         uint n) {
  uint i = get_global_id(0);
  if (i < n) y[i] = a[i] + b[i];
}

/* A gradient into a layer read by several later layers: dst = src (acc = 0, the first of
 * them in the backward pass) or dst += src. The order of the additions is the layer order,
 * so it is fixed. */
__kernel void nn_grad_acc(__global float *dst, __global const float *src, uint n, uint acc) {
  uint i = get_global_id(0);
  if (i >= n) return;
  float v = src[i];
  float d = acc != 0u ? dst[i] : 0.0f;
  dst[i] = d + v;
}
