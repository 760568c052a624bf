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

/* Full-unroll hints for POCL, whose vectoriser needs loop-free bodies; the cpu device profile
 * builds with -DTQ_UNROLL_HINTS (host/cl/cl_devprofile.c). Elsewhere the compiler decides:
 * Oclgrind's pipeline does not unroll at all and warned on every hint. */
#ifdef TQ_UNROLL_HINTS
#define Q_UNROLL _Pragma("unroll")
#else
#define Q_UNROLL
#endif
