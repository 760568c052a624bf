/* Convolution helpers. Layouts: images NCHW; weights [K][C][kh][kw]; the whole-batch column
 * matrix col[C*kh*kw][B*OH*OW] (row-major), so one GEMM W[K][CKK] x col gives Y[K][B*OH*OW].
 * Offsets are in elements, so every tensor can be a view into a larger buffer. */

/* col[(c*KH+i)*KW+j][(b*OH+oh)*OW+ow] = x[b][c][oh*S-P+i][ow*S-P+j] (0 outside the image). */
__kernel void nn_im2col(__global const float *x, uint x_off, __global float *col, uint B, uint C,
                        uint H, uint W, uint KH, uint KW, uint S, uint P, uint OH, uint OW) {
  uint gid = get_global_id(0);
  uint ncols = B * OH * OW;
  if (gid >= C * KH * KW * ncols) return;
  uint row = gid / ncols, colj = gid - row * ncols;
  uint c = row / (KH * KW), r = row - c * KH * KW, i = r / KW, j = r - i * KW;
  uint b = colj / (OH * OW), p = colj - b * OH * OW, oh = p / OW, ow = p - oh * OW;
  int y = (int)(oh * S + i) - (int)P, xx = (int)(ow * S + j) - (int)P;
  float v = 0.0f;
  if (y >= 0 && y < (int)H && xx >= 0 && xx < (int)W)
    v = x[x_off + ((b * C + c) * H + (uint)y) * W + (uint)xx];
  col[gid] = v;
}

/* The adjoint of nn_im2col: dx[b][c][y][x] = sum of dcol entries that read that pixel.
 * A gather over the (i, j) taps, so no atomics and a fixed summation order. */
__kernel void nn_col2im(__global const float *dcol, __global float *dx, uint dx_off, uint B,
                        uint C, uint H, uint W, uint KH, uint KW, uint S, uint P, uint OH,
                        uint OW) {
  uint gid = get_global_id(0);
  if (gid >= B * C * H * W) return;
  uint xx = gid % W, t = gid / W, y = t % H;
  t /= H;
  uint c = t % C, b = t / C;
  uint ncols = B * OH * OW;
  float acc = 0.0f;
  for (uint i = 0; i < KH; i++) {
    int ohs = (int)y + (int)P - (int)i; /* = oh*S */
    if (ohs < 0 || ohs % (int)S) continue;
    uint oh = (uint)ohs / S;
    if (oh >= OH) continue;
    for (uint j = 0; j < KW; j++) {
      int ows = (int)xx + (int)P - (int)j;
      if (ows < 0 || ows % (int)S) continue;
      uint ow = (uint)ows / S;
      if (ow >= OW) continue;
      acc += dcol[((c * KH + i) * KW + j) * ncols + (b * OH + oh) * OW + ow];
    }
  }
  dx[dx_off + gid] = acc;
}

/* out[b][k][p] = y[k][b*P + p] + bias[k]: the GEMM result back to NCHW, with the bias. */
__kernel void nn_knp_to_nchw_bias(__global const float *y, __global const float *params,
                                  uint bias_off, __global float *out, uint B, uint K, uint P) {
  uint gid = get_global_id(0);
  if (gid >= B * K * P) return;
  uint p = gid % P, t = gid / P, k = t % K, b = t / K;
  out[gid] = y[k * (B * P) + b * P + p] + params[bias_off + k];
}

/* dyk[k][b*P + p] = dy[b][k][p]: the output gradient in GEMM layout. */
__kernel void nn_nchw_to_knp(__global const float *dy, __global float *dyk, uint B, uint K,
                             uint P) {
  uint gid = get_global_id(0);
  if (gid >= B * K * P) return;
  uint p = gid % P, t = gid / P, k = t % K, b = t / K;
  dyk[k * (B * P) + b * P + p] = dy[gid];
}

/* grads[db_off + r] = sum over the n columns of row r of m[rows][n] (conv bias gradient). */
__kernel void nn_row_sums(__global const float *m, uint rows, uint n, __global float *grads,
                          uint db_off) {
  uint r = get_global_id(0);
  if (r >= rows) return;
  __global const float *row = m + (size_t)r * n;
  float acc = 0.0f;
  for (uint j = 0; j < n; j++) acc += row[j];
  grads[db_off + r] = acc;
}
