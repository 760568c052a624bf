/* The cpu device profile's GEMMs (host/nn/gemm.c, tq_gemm_route, decides which shape comes
 * here): every shape the layers issue, from LeNet-5's skinny ones (6 x 50176 x 25, on which
 * CLBlast's direct kernel ran at 1-3 GFLOP/s) to AlexNet-small's large ones (256 x 3136 x 2304),
 * which these kernels run at 70-90 % of the FMA peak on POCL (docs/performance.md).
 * Row-major, alpha 1, beta 0.
 *
 * These kernels loop over K inside a work-item, which stops POCL vectorising across work-items,
 * so they use float16 (one AVX-512 register) explicitly. No builtins in the loops (POCL does
 * not inline them): vectors are built from 16 consecutive scalar loads, which LLVM merges.
 * Uses: 00_common.cl (Q_LOAD16). */

inline float nn_hsum16(float16 v) {
  float8 a = v.lo + v.hi;
  float4 b = a.lo + a.hi;
  float2 c = b.lo + b.hi;
  return c.x + c.y;
}

#define NN_STORE16(v, p)                                                                           \
  do {                                                                                             \
    float16 v_ = (v);                                                                              \
    (p)[0] = v_.s0, (p)[1] = v_.s1, (p)[2] = v_.s2, (p)[3] = v_.s3, (p)[4] = v_.s4;                \
    (p)[5] = v_.s5, (p)[6] = v_.s6, (p)[7] = v_.s7, (p)[8] = v_.s8, (p)[9] = v_.s9;                \
    (p)[10] = v_.sa, (p)[11] = v_.sb, (p)[12] = v_.sc, (p)[13] = v_.sd, (p)[14] = v_.se;           \
    (p)[15] = v_.sf;                                                                               \
  } while (0)

/* Row r of the tile: one broadcast of A(m0+r, k) into both halves of the 32 columns. */
#define NN_ROW(r)                                                                                  \
  x = a[r][ak];                                                                                    \
  c##r += x * b0;                                                                                  \
  d##r += x * b1;

/* C[m][n] = sum_k A(m,k) B[k][n] with A(m,k) = A[a_off + m*a_sm + k*a_sk] (so A may be stored
 * transposed) and B row-major (leading dimension ldb). Work-item (i, r) computes columns
 * 32i..32i+31 of rows 8r..8r+7 in 16 float16 accumulators (AVX-512: 16 of the 32 registers),
 * each step over k two vector loads of B, eight broadcasts of A and 16 multiply-adds. The host
 * puts the row blocks of one column strip in one work-group (host/nn/gemm.c), which POCL runs
 * on one core one work-item after another: the strip of B (32 x K floats) is read from memory
 * once and from cache for every further row block. Rows past M use a clamped row and are not
 * stored; columns past N (the last strip) are loaded and stored one by one. */
__kernel void nn_gemm_8x32(__global const float *A, uint a_off, uint a_sm, uint a_sk,
                           __global const float *Bm, uint b_off, uint ldb, __global float *C,
                           uint c_off, uint ldc, uint M, uint N, uint K) {
  uint j0 = get_global_id(0) * 32u, m0 = get_global_id(1) * 8u;
  if (j0 >= N || m0 >= M) return;
  bool full = j0 + 32u <= N;
  uint nv = full ? 32u : N - j0;
  __global const float *a[8];
  for (uint r = 0; r < 8u; r++) a[r] = A + a_off + (m0 + r < M ? m0 + r : M - 1u) * a_sm;
  float16 c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f, c4 = 0.0f, c5 = 0.0f, c6 = 0.0f, c7 = 0.0f;
  float16 d0 = 0.0f, d1 = 0.0f, d2 = 0.0f, d3 = 0.0f, d4 = 0.0f, d5 = 0.0f, d6 = 0.0f, d7 = 0.0f;
  __global const float *bp = Bm + b_off + j0;
  uint ak = 0;
  for (uint k = 0; k < K; k++, bp += ldb, ak += a_sk) {
    float16 b0, b1;
    if (full) {
      b0 = Q_LOAD16(bp);
      b1 = Q_LOAD16(bp + 16);
    } else {
      float t[32];
      for (uint e = 0; e < 32u; e++) t[e] = e < nv ? bp[e] : 0.0f;
      b0 = Q_LOAD16(t);
      b1 = Q_LOAD16(t + 16);
    }
    float x;
    NN_ROW(0) NN_ROW(1) NN_ROW(2) NN_ROW(3) NN_ROW(4) NN_ROW(5) NN_ROW(6) NN_ROW(7)
  }
  float16 lo[8] = {c0, c1, c2, c3, c4, c5, c6, c7}, hi[8] = {d0, d1, d2, d3, d4, d5, d6, d7};
  for (uint r = 0; r < 8u && m0 + r < M; r++) {
    __global float *cp = C + c_off + (size_t)(m0 + r) * ldc + j0;
    if (full) {
      NN_STORE16(lo[r], cp);
      NN_STORE16(hi[r], cp + 16);
    } else {
      float t[32];
      NN_STORE16(lo[r], t);
      NN_STORE16(hi[r], t + 16);
      for (uint e = 0; e < nv; e++) cp[e] = t[e];
    }
  }
}

/* C[m][n] = sum_k A[a_off + m*lda + k] Bt[b_off + n*ldb + k]: both operands row-major with the
 * long K contiguous (the weight gradient dY col^T). Work-item (i, r) computes a 4 x 4 block,
 * rows 4r.., columns 4i.., as 16 float16 dot products; clamped rows/columns are computed and not
 * stored. As for nn_gemm_8x32, the host groups the row blocks of one column block, so that its
 * four rows of Bt come from cache after the first. */
__kernel void nn_gemm_nt4x4(__global const float *A, uint a_off, uint lda, __global const float *Bt,
                            uint b_off, uint ldb, __global float *C, uint c_off, uint ldc, uint M,
                            uint N, uint K) {
  uint n0 = get_global_id(0) * 4u, m0 = get_global_id(1) * 4u;
  if (n0 >= N || m0 >= M) return;
  __global const float *a0 = A + a_off + (size_t)(m0 + 0u < M ? m0 + 0u : M - 1u) * lda;
  __global const float *a1 = A + a_off + (size_t)(m0 + 1u < M ? m0 + 1u : M - 1u) * lda;
  __global const float *a2 = A + a_off + (size_t)(m0 + 2u < M ? m0 + 2u : M - 1u) * lda;
  __global const float *a3 = A + a_off + (size_t)(m0 + 3u < M ? m0 + 3u : M - 1u) * lda;
  __global const float *b0 = Bt + b_off + (size_t)(n0 + 0u < N ? n0 + 0u : N - 1u) * ldb;
  __global const float *b1 = Bt + b_off + (size_t)(n0 + 1u < N ? n0 + 1u : N - 1u) * ldb;
  __global const float *b2 = Bt + b_off + (size_t)(n0 + 2u < N ? n0 + 2u : N - 1u) * ldb;
  __global const float *b3 = Bt + b_off + (size_t)(n0 + 3u < N ? n0 + 3u : N - 1u) * ldb;
  float16 s00 = 0.0f, s01 = 0.0f, s02 = 0.0f, s03 = 0.0f, s10 = 0.0f, s11 = 0.0f, s12 = 0.0f,
          s13 = 0.0f, s20 = 0.0f, s21 = 0.0f, s22 = 0.0f, s23 = 0.0f, s30 = 0.0f, s31 = 0.0f,
          s32 = 0.0f, s33 = 0.0f;
  uint k = 0;
  for (; k + 16u <= K; k += 16u) {
    float16 x0 = Q_LOAD16(a0 + k), x1 = Q_LOAD16(a1 + k), x2 = Q_LOAD16(a2 + k),
            x3 = Q_LOAD16(a3 + k);
    float16 y0 = Q_LOAD16(b0 + k), y1 = Q_LOAD16(b1 + k), y2 = Q_LOAD16(b2 + k),
            y3 = Q_LOAD16(b3 + k);
    s00 += x0 * y0, s01 += x0 * y1, s02 += x0 * y2, s03 += x0 * y3;
    s10 += x1 * y0, s11 += x1 * y1, s12 += x1 * y2, s13 += x1 * y3;
    s20 += x2 * y0, s21 += x2 * y1, s22 += x2 * y2, s23 += x2 * y3;
    s30 += x3 * y0, s31 += x3 * y1, s32 += x3 * y2, s33 += x3 * y3;
  }
  float r[4][4] = {{nn_hsum16(s00), nn_hsum16(s01), nn_hsum16(s02), nn_hsum16(s03)},
                   {nn_hsum16(s10), nn_hsum16(s11), nn_hsum16(s12), nn_hsum16(s13)},
                   {nn_hsum16(s20), nn_hsum16(s21), nn_hsum16(s22), nn_hsum16(s23)},
                   {nn_hsum16(s30), nn_hsum16(s31), nn_hsum16(s32), nn_hsum16(s33)}};
  for (; k < K; k++) {
    float x[4] = {a0[k], a1[k], a2[k], a3[k]}, y[4] = {b0[k], b1[k], b2[k], b3[k]};
    for (uint i = 0; i < 4u; i++)
      for (uint j = 0; j < 4u; j++) r[i][j] += x[i] * y[j];
  }
  for (uint i = 0; i < 4u && m0 + i < M; i++)
    for (uint j = 0; j < 4u && n0 + j < N; j++) C[c_off + (size_t)(m0 + i) * ldc + n0 + j] = r[i][j];
}
