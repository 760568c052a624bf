/* Loaded before the other kernel files (the 00_ prefix; host/cl/cl_runtime.c concatenates
 * them in name order): small helpers more than one file uses. Every other file says at its top
 * what it takes from here, from 00_philox.cl and from the build options (the constants of
 * host/cl/kernel_constants.h, passed as -DNAME=VALUE); nothing else crosses files. */

/* POCL does not inline OpenCL builtins (fabs, fmax, min, mul_hi, vstore4, ...) into the
 * work-group function, and a call blocks vectorisation across work-items: the encode and
 * statistics kernels use these plain-arithmetic equivalents instead. */
#define Q_MIN(a, b) ((a) < (b) ? (a) : (b))
#define Q_MAX(a, b) ((a) > (b) ? (a) : (b))
#define Q_FABS(v) as_float(as_uint(v) & 0x7fffffffu)
#define Q_ISFINITE(v) ((as_uint(v) & 0x7fffffffu) < 0x7f800000u)

/* 16 consecutive floats from p as a float16, from scalar loads (which LLVM merges into one
 * vector load): vload16 is a builtin call on POCL. */
#define Q_LOAD16(p)                                                                                \
  (float16)((p)[0], (p)[1], (p)[2], (p)[3], (p)[4], (p)[5], (p)[6], (p)[7], (p)[8], (p)[9],        \
            (p)[10], (p)[11], (p)[12], (p)[13], (p)[14], (p)[15])

/* Full-unroll hints for POCL, whose vectoriser needs loop-free bodies; the cpu device profile
 * builds with -DTQ_UNROLL_HINTS (host/cl/cl_devprofile.c). Elsewhere the compiler decides:
 * Oclgrind's pipeline does not unroll at all and warned on every hint. */
#ifdef TQ_UNROLL_HINTS
#define Q_UNROLL _Pragma("unroll")
#else
#define Q_UNROLL
#endif

/* q = a / d, r = a % d without an integer division, for any a and 1 <= d < 2^23; inv = 1.0f / d.
 * The float estimate of a/d is off by at most a*2^-22 + 1; a second float step on the
 * remainder (now below 2^10 + d in magnitude) brings it within one, and two selects finish. */
inline uint nn_divmod(uint a, uint d, float inv, uint *r) {
  uint q = (uint)((float)a * inv);
  int rr = (int)(a - q * d);
  int q2 = (int)((float)rr * inv);
  q += (uint)q2;
  rr -= q2 * (int)d;
  q = rr < 0 ? q - 1u : q;
  rr = rr < 0 ? rr + (int)d : rr;
  q = rr >= (int)d ? q + 1u : q;
  rr = rr >= (int)d ? rr - (int)d : rr;
  *r = (uint)rr;
  return q;
}
