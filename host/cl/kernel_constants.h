/* The numbers the host and the kernels must agree on, defined once, here. The kernels never
 * define them: tq_cl_kernel_defines() turns the list below into -DNAME=VALUE build options
 * (host/cl/cl_runtime.c), and tests/test_cl.c fails if a kernel file defines one itself. To
 * share a new constant: define it here (or, for util/ values, in the util header included
 * here) and add one X(...) line. */
#ifndef TQ_CL_KERNEL_CONSTANTS_H
#define TQ_CL_KERNEL_CONSTANTS_H

#include <stddef.h>

#include "util/philox.h" /* TQ_RNG_DROPOUT, TQ_RNG_QUANTIZE */

/* The largest level table any method sends: 2^8 entries (compress/method.h). */
#define TQ_MAX_LEVELS 256

/* The tail histogram (compress/tailfit.h, docs/math.md §9): 16 bins per decade over 7 decades
 * below max|g|. */
#define TQ_HIST_BPD 16
#define TQ_HIST_DECADES 7
#define TQ_HIST_BINS 112
_Static_assert(TQ_HIST_BINS == TQ_HIST_BPD * TQ_HIST_DECADES, "bins = per decade x decades");

/* Elements per work-item of the statistics kernels (kernels/quant_stats.cl): q_stats reads
 * TQ_STATS_E consecutive elements, q_hist* TQ_HIST_E strided ones. */
#define TQ_STATS_E 32
/* q_stats' work-group size, and so the order its partial sums follow to the last bit (q_stats_v16
 * follows the same order in float16 vectors). */
#define TQ_STATS_L 256
#define TQ_HIST_E 64

/* The fixed work-group sizes of the reductions in kernels/nn_conv.cl (row sums of dY for the
 * convolution bias) and kernels/nn_norm.cl (batch-norm statistics). */
#define TQ_NN_SUM_L 128
#define TQ_NN_BN_L 128

#define TQ_KERNEL_CONSTANTS(X)                                                                    \
  X(TQ_MAX_LEVELS)                                                                                \
  X(TQ_HIST_BINS)                                                                                 \
  X(TQ_HIST_BPD)                                                                                  \
  X(TQ_STATS_E)                                                                                   \
  X(TQ_STATS_L)                                                                                   \
  X(TQ_HIST_E)                                                                                    \
  X(TQ_NN_SUM_L)                                                                                  \
  X(TQ_NN_BN_L)                                                                                   \
  X(TQ_RNG_DROPOUT)                                                                               \
  X(TQ_RNG_QUANTIZE)

/* " -DTQ_MAX_LEVELS=256 -DTQ_HIST_BINS=112 ..." into out (cap bytes); returns out. */
const char *tq_cl_kernel_defines(char *out, size_t cap);

/* The names of the list, NULL-terminated: for the test that no kernel file redefines one. */
extern const char *const tq_kernel_constant_names[];

#endif
