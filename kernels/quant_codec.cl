/* Encode and decode-accumulate kernels of the gradient compressors (host/compress/). The
 * plain-C reference is host/compress/quant_ref.c; the codes agree bit for bit. One work-item
 * (decode) handles a group of 32 elements, whose b-bit codes fill exactly b 32-bit words
 * (LSB-first), so no two work-items share a word and no atomics are needed. Random draws come
 * four at a time from one Philox call, exactly the stream of tq_rng_draw(.., TQ_RNG_QUANTIZE, i).
 * Uses: 00_common.cl (Q_MIN, Q_MAX, Q_FABS, Q_ISFINITE, Q_UNROLL), 00_philox.cl (tq_u01), the
 * build options of host/cl/kernel_constants.h (TQ_MAX_LEVELS, TQ_RNG_QUANTIZE). */

/* Encode kernels, shaped for POCL's CPU device (it vectorises a work-group by running its
 * work-items as SIMD lanes, which needs loop-free kernel bodies after unrolling) and correct on
 * any device:
 *  - one work-item per 32 consecutive elements: eight Philox calls give its 32 draws (counter =
 *    element >> 2, as in tq_rng_draw), and its b-bit codes fill exactly b output words, which it
 *    assembles in registers (compile-time shifts) and stores: no local memory, no barrier, no
 *    per-lane packing loop;
 *  - one kernel per bit width (q_encode_table_b1..b8, q_encode_bucket_b1..b8), so every trip
 *    count and shift is a compile-time constant;
 *  - level lookup without a per-element search where the table allows: small tables (up to 16
 *    levels: the truncated family at b <= 4, the bucketed family at b <= 5) by a branch-free
 *    count over the levels, each a uniform load (no gather); larger uniform grids (TQSGD,
 *    QSGD, TBQSGD's fallback; the host checks the table) by arithmetic, k = (t - l_0) / delta,
 *    settled against the table with one step each way (q_encode_*_ub*); other large designed
 *    tables by the branch-free binary search (b steps).
 * Every path finds the reference's k (largest k <= nlev-2 with lv[k] <= t), so codes agree bit
 * for bit. Elements at or past n encode as 0 (pad bits 0) and are never read or written. Level
 * tables are padded by the host to 2^b entries (the count reads lv[j + 1] for j <= 2^b - 2). */

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

/* The same on four scalars (no vector type: POCL's loop vectoriser widens scalar code only, and
 * gave up on the uint4 form). In: counter c0..c3, key k0 k1; out: c0..c3 replaced. */
#define Q_PHILOX_S(c0, c1, c2, c3, k0, k1)                                  \
  do {                                                                      \
    uint ka_ = (k0), kb_ = (k1);                                            \
    Q_UNROLL for (int r_ = 0; r_ < 10; r_++) {                              \
      ulong p0_ = (ulong)0xD2511F53u * c0, p1_ = (ulong)0xCD9E8D57u * c2;   \
      uint n0_ = (uint)(p1_ >> 32) ^ c1 ^ ka_, n2_ = (uint)(p0_ >> 32) ^ c3 ^ kb_; \
      c1 = (uint)p1_;                                                       \
      c3 = (uint)p0_;                                                       \
      c0 = n0_;                                                             \
      c2 = n2_;                                                             \
      ka_ += 0x9E3779B9u;                                                   \
      kb_ += 0xBB67AE85u;                                                   \
    }                                                                       \
  } while (0)

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

/* Small tables: k, lv[k], lv[k+1] by counting the levels <= t (the table is sorted, so the
 * levels counted are a prefix and the last one counted is lv[k]). NL: the table's largest
 * size, a compile-time constant; nlev <= NL entries are real. */
/* The count table follows the level table (at TQ_MAX_LEVELS): ct[2j] = l_j for j <= nlev - 2
 * and +inf after (so no index test), ct[32 + 2j] = l_{j+1}. No two loads of the lookup are
 * adjacent: the build-time vectoriser otherwise packed steps (or a step's two loads) into one
 * work-item's vector, which kept POCL from using SIMD lanes (host/compress/compressor.c
 * prepare_levels writes it). */
#define Q_COUNT_STEP(ct, t, j, k, lkb, hk)             \
  do {                                                \
    float a_ = ct[2 * (j)], b_ = ct[32 + 2 * (j)];    \
    int ge_ = a_ <= (t);                              \
    k += ge_;                                         \
    lkb = ge_ ? a_ : lkb;                             \
    hk = ge_ ? b_ : hk;                               \
  } while (0)
/* Steps guarded by the compile-time size, not a loop (a loop whose trip count is known only
 * after inlining was vectorised by itself at build time, which kept POCL from vectorising the
 * work-items). */
#define Q_LOOKUP_COUNT(lv, nlev, t, NL, k, lk, hk)                  \
  do {                                                             \
    __constant float *ct = (lv) + TQ_MAX_LEVELS;                    \
    float lkb_ = ct[0];                                            \
    k = 0;                                                         \
    hk = ct[32];                                                   \
    if ((NL) - 2 >= 1) Q_COUNT_STEP(ct, t, 1, k, lkb_, hk);               \
    if ((NL) - 2 >= 2) Q_COUNT_STEP(ct, t, 2, k, lkb_, hk);               \
    if ((NL) - 2 >= 3) Q_COUNT_STEP(ct, t, 3, k, lkb_, hk);               \
    if ((NL) - 2 >= 4) Q_COUNT_STEP(ct, t, 4, k, lkb_, hk);               \
    if ((NL) - 2 >= 5) Q_COUNT_STEP(ct, t, 5, k, lkb_, hk);               \
    if ((NL) - 2 >= 6) Q_COUNT_STEP(ct, t, 6, k, lkb_, hk);               \
    if ((NL) - 2 >= 7) Q_COUNT_STEP(ct, t, 7, k, lkb_, hk);               \
    if ((NL) - 2 >= 8) Q_COUNT_STEP(ct, t, 8, k, lkb_, hk);               \
    if ((NL) - 2 >= 9) Q_COUNT_STEP(ct, t, 9, k, lkb_, hk);               \
    if ((NL) - 2 >= 10) Q_COUNT_STEP(ct, t, 10, k, lkb_, hk);               \
    if ((NL) - 2 >= 11) Q_COUNT_STEP(ct, t, 11, k, lkb_, hk);               \
    if ((NL) - 2 >= 12) Q_COUNT_STEP(ct, t, 12, k, lkb_, hk);               \
    if ((NL) - 2 >= 13) Q_COUNT_STEP(ct, t, 13, k, lkb_, hk);               \
    if ((NL) - 2 >= 14) Q_COUNT_STEP(ct, t, 14, k, lkb_, hk);               \
    lk = lkb_;                                                     \
  } while (0)

/* Uniform grids: the guess (t - l_0) * inv is within one of k (host-checked), one step each way
 * settles it against the table. The guess is clamped before the conversion (NaN -> 0). */
#define Q_LOOKUP_UNIFORM(lv, nlev, t, inv, k, lk, hk)                      \
  do {                                                                    \
    float q_ = ((t) - lv[0]) * (inv);                                     \
    float top_ = (float)((nlev) - 2);                                     \
    q_ = q_ >= 0.0f ? q_ : 0.0f;                                          \
    q_ = q_ < top_ ? q_ : top_;                                           \
    int g_ = (int)q_;                                                     \
    g_ = (g_ > 0 && lv[g_] > (t)) ? g_ - 1 : g_;                          \
    g_ = (g_ + 1 <= (nlev) - 2 && lv[Q_MIN(g_ + 1, (nlev) - 1)] <= (t)) ? g_ + 1 : g_; \
    k = g_;                                                               \
    lk = lv[k];                                                           \
    hk = lv[k + 1];                                                       \
  } while (0)

/* Large designed tables: the binary search. */
#define Q_LOOKUP_SEARCH(lv, nlev, t, B, k, lk, hk) \
  do {                                             \
    Q_SEARCH(lv, nlev, t, B, k);                   \
    lk = lv[k];                                    \
    hk = lv[k + 1];                                \
  } while (0)

/* mode: 0 count (NL <= 16), 1 uniform arithmetic, 2 search. */
#define Q_LOOKUP(mode, lv, nlev, t, NL, B, inv, k, lk, hk)              \
  do {                                                                 \
    if ((mode) == 0) Q_LOOKUP_COUNT(lv, nlev, t, (mode) == 0 ? (NL) : 2, k, lk, hk);       \
    else if ((mode) == 1) Q_LOOKUP_UNIFORM(lv, nlev, t, inv, k, lk, hk); \
    else Q_LOOKUP_SEARCH(lv, nlev, t, B, k, lk, hk);                   \
  } while (0)

/* Packing: a 64-bit shift register of codes, LSB-first; a full word is stored as soon as it is
 * complete (word m of the work-item's B). After unrolling, nb_ and m_ are constants: no array,
 * no per-lane loop. Words at or past nwords are not written. */
#define Q_PUT(acc, nb, m, code, B, words, nwords, g)                  \
  do {                                                                \
    acc |= (ulong)(code) << nb;                                       \
    nb += (B);                                                        \
    if (nb >= 32) {                                                   \
      uint o_ = (uint)(B) * (g) + (uint)m;                            \
      if (o_ < (nwords)) words[o_] = (uint)acc;                       \
      acc >>= 32;                                                     \
      nb -= 32;                                                       \
      m++;                                                            \
    }                                                                 \
  } while (0)

/* The work-item's 32 elements as 8 quads, one Philox call per quad (counter = element / 4, as
 * tq_rng_draw): ELEM(c, draw) encodes element 4q + c of the work-item with its draw. */
#define Q_FOR_EACH_DRAW(ELEM)                                         \
  Q_UNROLL                                                            \
  for (int q = 0; q < 8; q++) {                                       \
    uint r0 = 8u * g + (uint)q, r1 = tensor, r2 = iter, r3 = TQ_RNG_QUANTIZE; \
    Q_PHILOX_S(r0, r1, r2, r3, seed, worker);                         \
    ELEM(0, r0);                                                      \
    ELEM(1, r1);                                                      \
    ELEM(2, r2);                                                      \
    ELEM(3, r3);                                                      \
  }

/* Truncated family: t = clamp(x, l_0, l_s); code k or k+1 by u*(l_{k+1}-l_k) < t - l_k.
 * ef != 0: x holds g + r and receives the new residual x - l_code. */
inline void q_enc_table(__global float *restrict x, uint xoff, uint n,
                        __constant float *restrict lv, int nlev, float inv, uint seed,
                        uint worker, uint iter, uint tensor, __global uint *restrict words,
                        uint nwords, const int ef, const int B, const int mode) {
#pragma OPENCL FP_CONTRACT OFF
  uint g = get_global_id(0);
  uint i0 = 32u * g;
  const float lo = lv[0], hi = lv[nlev - 1];
  ulong acc = 0;
  int nb = 0, m = 0;
  /* Lanes past n load nothing: with error feedback, element 0 is being rewritten by its owner,
   * and reading it from a padding lane was a data race (Oclgrind found it). The four
   * elements of a quad are written out, not looped over: no array of the four draws. */
#define Q_TABLE_ELEM(c, rbits)                                                \
  do {                                                                        \
    uint i = i0 + (uint)(4 * q + (c));                                        \
    bool in = i < n;                                                          \
    float v = in ? x[xoff + i] : 0.0f;                                        \
    float t = v < lo ? lo : (v > hi ? hi : v);                                \
    int k;                                                                    \
    float lk, hk;                                                             \
    Q_LOOKUP(mode, lv, nlev, t, 1 << B, B, inv, k, lk, hk);                   \
    float d = hk - lk, rem = t - lk;                                          \
    float ud = tq_u01(rbits) * d;                                             \
    uint up = ud < rem ? 1u : 0u;                                             \
    uint code = in ? (uint)k + up : 0u;                                       \
    if (in && ef) x[xoff + i] = v - (up ? hk : lk);                           \
    Q_PUT(acc, nb, m, code, B, words, nwords, g);                             \
  } while (0)
  Q_FOR_EACH_DRAW(Q_TABLE_ELEM)
#undef Q_TABLE_ELEM
}

/* Bucketed family: r = |x| * (1 / scale) (clamped to 1; the reciprocal from q_norm_fin), magnitude index on mag[], sign in the top
 * bit of the code. A work-item's 32 elements span at most two buckets when bucket >= 32
 * (small == 0): the first one's index is one division per work-item; small == 1 divides per
 * element (buckets under 32 elements, which nobody should want). */
inline void q_enc_bucket(__global float *restrict x, uint xoff, uint n,
                         __constant float *restrict mag, int nlev, float ginv, uint bucket,
                         __global const float *restrict scales, __global const float *restrict inv,
                         uint seed, uint worker,
                         uint iter, uint tensor, __global uint *restrict words, uint nwords,
                         const int ef, const int B, const int mode, const int small) {
#pragma OPENCL FP_CONTRACT OFF
  uint g = get_global_id(0);
  uint i0 = 32u * g;
  uint b0 = small || i0 >= n ? 0u : i0 / bucket;
  uint e0 = b0 * bucket; /* first element of bucket b0 */
  /* The (at most) two reciprocals this work-item needs, loaded once (inv has a zero entry past
   * the last bucket): no gather per element. */
  float iv0 = small ? 0.0f : inv[b0], iv1 = small ? 0.0f : inv[b0 + 1u];
  ulong acc = 0;
  int nb = 0, m = 0;
#define Q_BUCKET_ELEM(c, rbits)                                                        \
  do {                                                                                 \
    uint i = i0 + (uint)(4 * q + (c));                                                 \
    bool in = i < n;                                                                   \
    uint ii = in ? i : 0u;                                                             \
    bool second = !small && in && ii - e0 >= bucket;                                   \
    uint bi = small ? ii / bucket : (second ? b0 + 1u : b0);                           \
    float v = in ? x[xoff + i] : 0.0f; /* no padding-lane load of x */                 \
    float iv = small ? inv[bi] : (second ? iv1 : iv0);                                 \
    float a = Q_FABS(v) * iv;                                                          \
    a = a > 1.0f ? 1.0f : a;                                                           \
    int k;                                                                             \
    float mk, hk;                                                                      \
    Q_LOOKUP(mode, mag, nlev, a, 1 << (B - 1), B - 1, ginv, k, mk, hk);                \
    float d = hk - mk, rem = a - mk;                                                   \
    float ud = tq_u01(rbits) * d;                                                      \
    uint up = ud < rem ? 1u : 0u;                                                      \
    uint mi = (uint)k + up;                                                            \
    uint neg = v < 0.0f ? 1u : 0u;                                                     \
    uint code = in ? (mi | (neg << (B - 1))) : 0u;                                     \
    if (in && ef) {                                                                    \
      float qv = scales[bi] * (up ? hk : mk);                                          \
      x[xoff + i] = v - (neg ? -qv : qv);                                              \
    }                                                                                  \
    Q_PUT(acc, nb, m, code, B, words, nwords, g);                                      \
  } while (0)
  Q_FOR_EACH_DRAW(Q_BUCKET_ELEM)
#undef Q_BUCKET_ELEM
}

/* Global size: ceil(n / 32) work-items (any group size). inv: 1 / grid step for the uniform
 * kernels (_ub*), ignored by the others. Names: q_encode_table_b<B> (count or search),
 * q_encode_table_ub<B> (uniform, B >= 5), q_encode_bucket_b<B>, q_encode_bucket_ub<B>
 * (uniform, B >= 6), q_encode_bucket_sb<B> (bucket < 32); with error feedback the same
 * names with e before the width (q_encode_table_eb3, ...): x then holds g + r and receives the
 * residual, and the ef argument is ignored. Separate kernels because the read-write of x keeps
 * POCL from vectorising, which the common case without error feedback need not pay for. */
#define Q_ENC_TABLE(NAME, B, MODE, EF)                                                         \
  __kernel void NAME(__global float *restrict x, uint xoff, uint n,                            \
                     __constant float *restrict lv, int nlev, float inv, uint seed,            \
                     uint worker, uint iter, uint tensor, __global uint *restrict words,       \
                     uint nwords, int ef) {                                                    \
    q_enc_table(x, xoff, n, lv, nlev, inv, seed, worker, iter, tensor, words, nwords, EF, B,   \
                MODE);                                                                         \
  }
#define Q_ENC_BUCKET(NAME, B, MODE, SMALL, EF)                                                 \
  __kernel void NAME(__global float *restrict x, uint xoff, uint n,                            \
                     __constant float *restrict mag, int nlev, float inv, uint bucket,         \
                     __global const float *restrict scales, __global const float *restrict sinv, \
                     uint seed, uint worker, uint iter, uint tensor,                           \
                     __global uint *restrict words, uint nwords, int ef) {                     \
    q_enc_bucket(x, xoff, n, mag, nlev, inv, bucket, scales, sinv, seed, worker, iter, tensor, \
                 words, nwords, EF, B, MODE, SMALL);                                           \
  }
Q_ENC_TABLE(q_encode_table_b1, 1, 0, 0)
Q_ENC_TABLE(q_encode_table_b2, 2, 0, 0)
Q_ENC_TABLE(q_encode_table_b3, 3, 0, 0)
Q_ENC_TABLE(q_encode_table_b4, 4, 0, 0)
Q_ENC_TABLE(q_encode_table_b5, 5, 2, 0)
Q_ENC_TABLE(q_encode_table_b6, 6, 2, 0)
Q_ENC_TABLE(q_encode_table_b7, 7, 2, 0)
Q_ENC_TABLE(q_encode_table_b8, 8, 2, 0)
Q_ENC_TABLE(q_encode_table_ub5, 5, 1, 0)
Q_ENC_TABLE(q_encode_table_ub6, 6, 1, 0)
Q_ENC_TABLE(q_encode_table_ub7, 7, 1, 0)
Q_ENC_TABLE(q_encode_table_ub8, 8, 1, 0)
Q_ENC_BUCKET(q_encode_bucket_b1, 1, 0, 0, 0)
Q_ENC_BUCKET(q_encode_bucket_b2, 2, 0, 0, 0)
Q_ENC_BUCKET(q_encode_bucket_b3, 3, 0, 0, 0)
Q_ENC_BUCKET(q_encode_bucket_b4, 4, 0, 0, 0)
Q_ENC_BUCKET(q_encode_bucket_b5, 5, 0, 0, 0)
Q_ENC_BUCKET(q_encode_bucket_b6, 6, 2, 0, 0)
Q_ENC_BUCKET(q_encode_bucket_b7, 7, 2, 0, 0)
Q_ENC_BUCKET(q_encode_bucket_b8, 8, 2, 0, 0)
Q_ENC_BUCKET(q_encode_bucket_ub6, 6, 1, 0, 0)
Q_ENC_BUCKET(q_encode_bucket_ub7, 7, 1, 0, 0)
Q_ENC_BUCKET(q_encode_bucket_ub8, 8, 1, 0, 0)
Q_ENC_BUCKET(q_encode_bucket_sb1, 1, 0, 1, 0)
Q_ENC_BUCKET(q_encode_bucket_sb2, 2, 0, 1, 0)
Q_ENC_BUCKET(q_encode_bucket_sb3, 3, 0, 1, 0)
Q_ENC_BUCKET(q_encode_bucket_sb4, 4, 0, 1, 0)
Q_ENC_BUCKET(q_encode_bucket_sb5, 5, 0, 1, 0)
Q_ENC_BUCKET(q_encode_bucket_sb6, 6, 2, 1, 0)
Q_ENC_BUCKET(q_encode_bucket_sb7, 7, 2, 1, 0)
Q_ENC_BUCKET(q_encode_bucket_sb8, 8, 2, 1, 0)
Q_ENC_TABLE(q_encode_table_eb1, 1, 0, 1)
Q_ENC_TABLE(q_encode_table_eb2, 2, 0, 1)
Q_ENC_TABLE(q_encode_table_eb3, 3, 0, 1)
Q_ENC_TABLE(q_encode_table_eb4, 4, 0, 1)
Q_ENC_TABLE(q_encode_table_eb5, 5, 2, 1)
Q_ENC_TABLE(q_encode_table_eb6, 6, 2, 1)
Q_ENC_TABLE(q_encode_table_eb7, 7, 2, 1)
Q_ENC_TABLE(q_encode_table_eb8, 8, 2, 1)
Q_ENC_TABLE(q_encode_table_eub5, 5, 1, 1)
Q_ENC_TABLE(q_encode_table_eub6, 6, 1, 1)
Q_ENC_TABLE(q_encode_table_eub7, 7, 1, 1)
Q_ENC_TABLE(q_encode_table_eub8, 8, 1, 1)
Q_ENC_BUCKET(q_encode_bucket_eb1, 1, 0, 0, 1)
Q_ENC_BUCKET(q_encode_bucket_eb2, 2, 0, 0, 1)
Q_ENC_BUCKET(q_encode_bucket_eb3, 3, 0, 0, 1)
Q_ENC_BUCKET(q_encode_bucket_eb4, 4, 0, 0, 1)
Q_ENC_BUCKET(q_encode_bucket_eb5, 5, 0, 0, 1)
Q_ENC_BUCKET(q_encode_bucket_eb6, 6, 2, 0, 1)
Q_ENC_BUCKET(q_encode_bucket_eb7, 7, 2, 0, 1)
Q_ENC_BUCKET(q_encode_bucket_eb8, 8, 2, 0, 1)
Q_ENC_BUCKET(q_encode_bucket_eub6, 6, 1, 0, 1)
Q_ENC_BUCKET(q_encode_bucket_eub7, 7, 1, 0, 1)
Q_ENC_BUCKET(q_encode_bucket_eub8, 8, 1, 0, 1)
Q_ENC_BUCKET(q_encode_bucket_esb1, 1, 0, 1, 1)
Q_ENC_BUCKET(q_encode_bucket_esb2, 2, 0, 1, 1)
Q_ENC_BUCKET(q_encode_bucket_esb3, 3, 0, 1, 1)
Q_ENC_BUCKET(q_encode_bucket_esb4, 4, 0, 1, 1)
Q_ENC_BUCKET(q_encode_bucket_esb5, 5, 0, 1, 1)
Q_ENC_BUCKET(q_encode_bucket_esb6, 6, 2, 1, 1)
Q_ENC_BUCKET(q_encode_bucket_esb7, 7, 2, 1, 1)
Q_ENC_BUCKET(q_encode_bucket_esb8, 8, 2, 1, 1)

/* Decode-accumulate, out[ooff + i] += weight * value_i, one kernel per width. Codes were
 * validated on the host; the clamp only keeps a bad one from reading outside the table. Word
 * and element offsets (woff, soff) let one staging buffer hold many messages. */
/* One work-item per 32 elements, a sequential loop over them (the shape measured fastest on
 * POCL: one work-item streams through its b words and its 32 sums; the one-element-per-item and
 * unrolled-lanes forms, vectorised, were slower there, their loads and stores being gathers and
 * scatters). Bucketed: P2 = 1 for a power-of-two bucket, passed as its log2 (a shift, no
 * division per element); P2 = 0 divides. */
#define Q_DEC_BODY(B, VALUE)                                                                    \
  uint g = get_global_id(0);                                                                   \
  uint i0 = g * 32u;                                                                           \
  if (i0 >= n) return;                                                                         \
  uint wi = g * (uint)(B);                                                                     \
  const uint mask = (1u << (B)) - 1u;                                                          \
  ulong acc = 0;                                                                               \
  int nb = 0;                                                                                  \
  uint cnt = Q_MIN(32u, n - i0);                                                               \
  for (uint j = 0; j < cnt; j++) {                                                             \
    if (nb < (B)) {                                                                            \
      acc |= (ulong)words[woff + Q_MIN(wi, nwords - 1u)] << nb;                               \
      wi++;                                                                                    \
      nb += 32;                                                                                \
    }                                                                                          \
    uint c = (uint)acc & mask;                                                                 \
    acc >>= (B);                                                                               \
    nb -= (B);                                                                                 \
    uint i = i0 + j;                                                                           \
    float p = weight * (VALUE);                                                                \
    out[ooff + i] = out[ooff + i] + p;                                                         \
  }

#define Q_DEC_BUCKET(NAME, B, P2)                                                               \
  __kernel void NAME(__global const uint *restrict words, uint woff, uint nwords, uint n,      \
                     __constant float *restrict mag, int nlev, uint bucket,                    \
                     __global const float *restrict scales, uint soff, float weight,           \
                     __global float *restrict out, uint ooff) {                                \
    _Pragma("OPENCL FP_CONTRACT OFF")                                                          \
    Q_DEC_BODY(B, q_dec_bucket_value(c, i, B, P2, mag, nlev, bucket, scales, soff))            \
  }

inline float q_dec_bucket_value(uint c, uint i, const int B, const int P2, __constant float *mag,
                                int nlev, uint bucket, __global const float *scales, uint soff) {
  uint bi = P2 ? i >> (bucket & 31u) : i / bucket;
  float q = scales[soff + bi] * mag[Q_MIN(c & ((1u << (B - 1)) - 1u), (uint)(nlev - 1))];
  return (c >> (B - 1)) ? -q : q;
}

#define Q_DEC_KERNELS(B)                                                                        \
  __kernel void q_decode_table_b##B(__global const uint *restrict words, uint woff,            \
                                    uint nwords, uint n, __constant float *restrict lv,        \
                                    int nlev, float weight, __global float *restrict out,      \
                                    uint ooff) {                                               \
    _Pragma("OPENCL FP_CONTRACT OFF")                                                          \
    Q_DEC_BODY(B, lv[Q_MIN(c, (uint)(nlev - 1))])                                              \
  }                                                                                             \
  Q_DEC_BUCKET(q_decode_bucket_b##B, B, 0)                                                     \
  Q_DEC_BUCKET(q_decode_bucket_pb##B, B, 1)
Q_DEC_KERNELS(1)
Q_DEC_KERNELS(2)
Q_DEC_KERNELS(3)
Q_DEC_KERNELS(4)
Q_DEC_KERNELS(5)
Q_DEC_KERNELS(6)
Q_DEC_KERNELS(7)
Q_DEC_KERNELS(8)

/* fp32 messages (method none, small tensors). */
__kernel void q_decode_f32(__global const float *src, uint soff, uint n, float weight,
                           __global float *out, uint ooff) {
#pragma OPENCL FP_CONTRACT OFF
  uint i = get_global_id(0);
  if (i >= n) return;
  float p = weight * src[soff + i];
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

/* Top-k (host/compress/baselines.h, docs/math.md §16). The host finds from the histogram a
 * threshold thr that exactly ncand <= cap elements exceed (|x| > thr), and this kernel gathers
 * them: the atomic counter makes their order arbitrary, which the host then undoes by sorting
 * (|x| descending, index ascending) and keeping K, so the selection is deterministic. */
__kernel void q_topk_gather(__global const float *x, uint xoff, uint n, float thr,
                            volatile __global uint *cnt, uint cap, __global uint *cidx,
                            __global float *cval) {
  uint i = get_global_id(0);
  if (i >= n) return;
  float v = x[xoff + i];
  if (Q_FABS(v) > thr) {
    uint s = atomic_inc(cnt);
    if (s < cap) {
      cidx[s] = i;
      cval[s] = v;
    }
  }
}

/* Top-k's residual: x (= g + r) with the K sent elements set to 0. */
__kernel void q_topk_zero(__global float *r, uint roff, __global const uint *idx, uint k) {
  uint j = get_global_id(0);
  if (j < k) r[roff + idx[j]] = 0.0f;
}

/* Sparse messages: p = K indices (strictly increasing, validated), then K f32 values;
 * out[ooff + index_j] += weight * value_j, one work-item per entry (distinct indices: no
 * race). */
__kernel void q_decode_sparse(__global const uint *p, uint k, float weight,
                              __global float *out, uint ooff) {
#pragma OPENCL FP_CONTRACT OFF
  uint j = get_global_id(0);
  if (j >= k) return;
  uint i = p[j];
  float q = weight * as_float(p[k + j]);
  out[ooff + i] = out[ooff + i] + q;
}
