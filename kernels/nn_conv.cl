/* Convolution helpers. Layouts: images NCHW; weights [K][C][kh][kw]; the whole-batch column
 * matrix col[C*kh*kw][B*OH*OW] (row-major), so one GEMM W[K][CKK] x col gives Y[K][B*OH*OW].
 * Offsets are in elements, so every tensor can be a view into a larger buffer.
 *
 * Speed on POCL (CPU): POCL vectorises a kernel across the work-items of a group only when the
 * body is straight-line code without calls to builtins it does not inline (min, fmax, isnan,
 * mul_hi, ...). A varying integer division is scalarised (AVX-512 has no vector divide), and the
 * first versions of these kernels spent most of their time in 5 to 100 of them per element.
 * So: 2-D ranges whose second index (uniform within a group) carries the slow-varying
 * coordinates, a float-reciprocal divide (nn_divmod) for the rest, loops with uniform trip
 * counts, and selects with clamped indices instead of branches around loads.
 * Uses: 00_common.cl (nn_divmod); the build options of host/cl/kernel_constants.h (TQ_NN_SUM_L). */

/* col[row][(b*OH+oh)*OW+ow] = x[b][c][oh*S-P+i][ow*S-P+j] (0 outside the image), with
 * row = (c*KH+i)*KW+j.
 *
 * How this runs fast on POCL (measured at LeNet's conv1, one kernel alone, 2 cores): POCL
 * vectorises its loop over dimension 0 of a work-group, and LLVM then needs the address of a
 * load to be affine in that index to emit a vector load; anything else becomes a gather. A
 * 1-D range decoding every index ran at 110 M elements/s, a version with a clamped index
 * (`x[in ? idx : 0]`) at 300 M (gathers), and nn_im2col_s1 with an affine index and a
 * conditional load (a masked vector load) at 11 G, copy speed. Integer division by a kernel
 * argument is not hoisted out of the work-item loop even when uniform (it could trap), so
 * indices are split with nn_divmod.
 *
 * nn_im2col_s1 (stride 1): get_global_id(0) = ow, (1) = oh, (2) = row*B + b. */
__kernel void nn_im2col_s1(__global const float *x, uint x_off, __global float *col, uint B,
                           uint C, uint H, uint W, uint KH, uint KW, uint P, uint OH, uint OW) {
  uint ow = get_global_id(0), oh = get_global_id(1), z = get_global_id(2);
  uint b, r, j;
  uint row = nn_divmod(z, B, 1.0f / (float)B, &b);
  uint c = nn_divmod(row, KH * KW, 1.0f / (float)(KH * KW), &r);
  uint i = nn_divmod(r, KW, 1.0f / (float)KW, &j);
  if (ow >= OW) return;
  int y = (int)(oh + i) - (int)P, xx = (int)(ow + j) - (int)P;
  bool in = y >= 0 && y < (int)H && xx >= 0 && xx < (int)W;
  float v = 0.0f;
  if (in) v = x[x_off + ((b * C + c) * H + y) * W + xx];
  col[(size_t)row * (B * OH * OW) + (b * OH + oh) * OW + ow] = v;
}

/* Any stride: get_global_id(0) = p = oh*OW + ow, (1) = b, (2) = row. */
__kernel void nn_im2col(__global const float *x, uint x_off, __global float *col, uint B, uint C,
                        uint H, uint W, uint KH, uint KW, uint S, uint P, uint OH, uint OW) {
  uint p = get_global_id(0), b = get_global_id(1), row = get_global_id(2);
  uint r, j, ow;
  uint c = nn_divmod(row, KH * KW, 1.0f / (float)(KH * KW), &r);
  uint i = nn_divmod(r, KW, 1.0f / (float)KW, &j);
  if (p >= OH * OW) return;
  uint oh = nn_divmod(p, OW, 1.0f / (float)OW, &ow);
  int y = (int)(oh * S + i) - (int)P, xx = (int)(ow * S + j) - (int)P;
  bool in = y >= 0 && y < (int)H && xx >= 0 && xx < (int)W;
  float v = 0.0f;
  if (in) v = x[x_off + ((b * C + c) * H + y) * W + xx];
  col[(size_t)row * (B * OH * OW) + b * OH * OW + p] = v;
}

/* The adjoint of nn_im2col: dx[b][c][y][x] = sum of the dcol entries that read that pixel.
 * get_global_id(0) = x, get_global_id(1) = y, get_global_id(2) = b*C + c. A gather over the
 * (i, j) taps (for stride 1: contiguous loads across work-items), so no
 * atomics and a fixed summation order (i, then j).
 * POCL vectorises its loop over the work-items only when that loop has no inner loop, and
 * LLVM's vectoriser meets the tap loops before its unroller has removed them. So the 3x3 and
 * 5x5 stride-1 variants spell the taps out (NN_TAP1); nn_col2im loops over KH x KW taps of
 * any stride. */
#define NN_COL2IM_HEAD                                                                            \
  uint xx = get_global_id(0), y = get_global_id(1), bc = get_global_id(2);                        \
  if (xx >= W) return;                                                                            \
  uint c, b = nn_divmod(bc, C, 1.0f / (float)C, &c); /* uniform, as is y */                     \
  uint ncols = B * OH * OW;                                                                       \
  float acc = 0.0f;

/* Adds tap (i, j) of a KH_ x KW_ kernel to acc. */
#define NN_TAP(i, j, KH_, KW_)                                                                     \
  {                                                                                               \
    int ohs = (int)y + (int)P - (int)(i), ows = (int)xx + (int)P - (int)(j);                      \
    uint ohr, owr;                                                                                \
    uint oh = nn_divmod(ohs > 0 ? (uint)ohs : 0u, S, invS, &ohr);                                 \
    uint ow = nn_divmod(ows > 0 ? (uint)ows : 0u, S, invS, &owr);                                 \
    bool ok = ohs >= 0 && ohr == 0 && oh < OH && ows >= 0 && owr == 0 && ow < OW;                 \
    uint idx = ok ? ((c * (KH_) + (i)) * (KW_) + (j)) * ncols + (b * OH + oh) * OW + ow : 0u;     \
    float v = dcol[idx];                                                                          \
    acc += ok ? v : 0.0f;                                                                         \
  }
/* The same for stride 1: oh = y + P - i (uniform), ow = x + P - j (affine in the work-item, so
 * the conditional load below is a masked vector load; see nn_im2col_s1). */
#define NN_TAP1(i, j, KH_, KW_)                                                                    \
  {                                                                                               \
    int oh = (int)y + (int)P - (int)(i), ow = (int)xx + (int)P - (int)(j);                        \
    bool ok = oh >= 0 && oh < (int)OH && ow >= 0 && ow < (int)OW;                                 \
    if (ok) acc += dcol[((c * (KH_) + (i)) * (KW_) + (j)) * ncols + (b * OH + oh) * OW + ow];     \
  }
#define NN_TAPS3(i, K_) NN_TAP1(i, 0, K_, K_) NN_TAP1(i, 1, K_, K_) NN_TAP1(i, 2, K_, K_)
#define NN_TAPS5(i, K_) NN_TAPS3(i, K_) NN_TAP1(i, 3, K_, K_) NN_TAP1(i, 4, K_, K_)

__kernel void nn_col2im(__global const float *dcol, __global float *dx, uint dx_off, uint B,
                        uint C, uint H, uint W, uint KH, uint KW, uint S, uint P, uint OH,
                        uint OW) {
  NN_COL2IM_HEAD
  float invS = 1.0f / (float)S;
  for (uint i = 0; i < KH; i++)
    for (uint j = 0; j < KW; j++) NN_TAP(i, j, KH, KW)
  dx[dx_off + (bc * H + y) * W + xx] = acc;
}

/* The tap count and stride are fixed: no KH, KW, S arguments. */
__kernel void nn_col2im_k3s1(__global const float *dcol, __global float *dx, uint dx_off, uint B,
                             uint C, uint H, uint W, uint P, uint OH, uint OW) {
  NN_COL2IM_HEAD
  NN_TAPS3(0, 3u) NN_TAPS3(1, 3u) NN_TAPS3(2, 3u)
  dx[dx_off + (bc * H + y) * W + xx] = acc;
}

__kernel void nn_col2im_k5s1(__global const float *dcol, __global float *dx, uint dx_off, uint B,
                             uint C, uint H, uint W, uint P, uint OH, uint OW) {
  NN_COL2IM_HEAD
  NN_TAPS5(0, 5u) NN_TAPS5(1, 5u) NN_TAPS5(2, 5u) NN_TAPS5(3, 5u) NN_TAPS5(4, 5u)
  dx[dx_off + (bc * H + y) * W + xx] = acc;
}

/* out[b][k][p] = y[k][b*P + p] + bias[k] (when has_bias), then max(., 0) when relu != 0 (a
 * ReLU layer that follows is fused here). get_global_id(0) = p, get_global_id(1) = b*K + k. */
__kernel void nn_knp_to_nchw_bias(__global const float *y, __global const float *params,
                                  uint bias_off, __global float *out, uint B, uint K, uint P,
                                  uint relu, uint has_bias) {
  uint p = get_global_id(0), bk = get_global_id(1);
  if (p >= P) return;
  uint k, b = nn_divmod(bk, K, 1.0f / (float)K, &k); /* uniform, but see nn_im2col */
  float bias = params[bias_off + k]; /* without a bias (bias = false), bias_off is 0: in range */
  float v = y[k * (B * P) + b * P + p] + (has_bias != 0u ? bias : 0.0f);
  out[bk * P + p] = (relu != 0u && !(v > 0.0f)) ? 0.0f : v;
}

/* dyk[k][b*P + p] = dy[b][k][p]: the output gradient in GEMM layout. With relu != 0 the ReLU
 * that followed the convolution is differentiated here too: 0 where its output y was not
 * positive. get_global_id(0) = p, get_global_id(1) = b*K + k. */
__kernel void nn_nchw_to_knp(__global const float *dy, __global const float *yact,
                             __global float *dyk, uint B, uint K, uint P, uint relu) {
  uint p = get_global_id(0), bk = get_global_id(1);
  if (p >= P) return;
  uint k, b = nn_divmod(bk, K, 1.0f / (float)K, &k); /* uniform, but see nn_im2col */
  uint src = bk * P + p;
  float g = dy[src];
  uint ysrc = relu != 0u ? src : 0u;
  float yv = yact[ysrc];
  dyk[k * (B * P) + b * P + p] = (relu != 0u && !(yv > 0.0f)) ? 0.0f : g;
}

/* grads[db_off + r] = sum of row r of m[rows][n] (the conv bias gradient): one work-group of
 * TQ_NN_SUM_L items per row (a build option: host/cl/kernel_constants.h), each summing a strided
 * slice, then a tree in local memory. */
__kernel __attribute__((reqd_work_group_size(TQ_NN_SUM_L, 1, 1)))
void nn_row_sums(__global const float *m, uint rows, uint n, __global float *grads, uint db_off) {
  __local float part[TQ_NN_SUM_L];
  uint r = get_group_id(0), t = get_local_id(0);
  __global const float *row = m + (size_t)r * n;
  float acc = 0.0f;
  for (uint j = t; j < n; j += TQ_NN_SUM_L) acc += row[j];
  part[t] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = TQ_NN_SUM_L / 2; s > 0; s >>= 1) {
    if (t < s) part[t] += part[t + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (t == 0 && r < rows) grads[db_off + r] = part[0];
}
