/* Every GEMM of a training step, in one place: the shapes the layers issue (each layer kind's
 * gemms op, layer.h, is the one source of both the calls and the list `tailquant tune` and
 * `bench train` read) and which kernel runs each shape on a device.
 *
 * Row-major C[M][N] = op(A)[M][K] op(B)[K][N], alpha 1, beta 0. Under the cpu device profile,
 * skinny shapes that CLBlast runs slowly on POCL (few rows or a short K against many columns; a
 * small output over a long K) go to kernels/nn_gemm.cl, the rest to CLBlast (tuned by
 * `tailquant tune`); under the gpu profile every GEMM goes to CLBlast, whose shipped
 * parameters cover most GPUs. TAILQUANT_GEMM=clblast|own overrides the profile (for
 * measurements; read at each call). With a profiling queue each call is timed as
 * "sgemm TT MxNxK" (CLBlast: the whole routine) or "nn_gemm_* TT MxNxK". */
#ifndef TQ_NN_GEMM_H
#define TQ_NN_GEMM_H

#include <stdbool.h>
#include <stddef.h>

#include "cl/cl_runtime.h"
#include "nn/model.h"

/* The GEMMs one layer issues per batch, at most: forward, weight gradient, input gradient. */
#define TQ_LAYER_MAX_GEMMS 3

typedef enum tq_gemm_pass {
  TQ_GEMM_FORWARD,
  TQ_GEMM_WEIGHT_GRAD,
  TQ_GEMM_INPUT_GRAD, /* only when the layer's input gradient is needed (not the first layer) */
} tq_gemm_pass;

/* One GEMM call of a step: what `tailquant tune` tunes CLBlast for. */
typedef struct tq_gemm_shape {
  char what[48]; /* "conv2 forward", "fc1 weight gradient", ... */
  bool ta, tb;   /* A, B transposed */
  size_t m, n, k;
  int layer;     /* the layer issuing it */
  tq_gemm_pass pass;
} tq_gemm_shape;

/* The GEMMs one training step of m at batch B runs, in layer order (each layer's in pass
 * order), from the layers' gemms ops. Returns how many were written (at most cap). */
int tq_gemm_shapes(const tq_model *m, int batch, tq_gemm_shape *out, int cap);

typedef enum tq_gemm_kernel {
  TQ_GEMM_CLBLAST,
  TQ_GEMM_8X32,  /* nn_gemm_8x32: A (either layout) times plain B */
  TQ_GEMM_NT4X4, /* nn_gemm_nt4x4: plain A times transposed B (the weight gradients) */
} tq_gemm_kernel;

/* Which kernel takes which shape on one device: made once from the device's profile
 * (cl_devprofile.h: own_gemms) and whether CLBlast is tuned for it. tq_gemm_route applies
 * TAILQUANT_GEMM on top, at each call. */
typedef struct tq_gemm_routing {
  bool own;   /* the project's kernels take the shapes they were measured faster on */
  bool tuned; /* CLBlast runs with tuned Xgemm parameters (tq_cl.gemm_tuned) */
} tq_gemm_routing;

tq_gemm_routing tq_gemm_routing_for(const tq_devprofile *p, bool tuned);
tq_gemm_kernel tq_gemm_route(const tq_gemm_routing *r, bool ta, bool tb, size_t M, size_t N,
                             size_t K);

/* A replica's GEMM runner: its device's routing and its own kernel objects. */
typedef struct tq_gemm {
  tq_gemm_routing routing;
  cl_kernel k8x32, nt4x4;
} tq_gemm;

tq_status tq_gemm_init(tq_gemm *g, const tq_cl *cl, tq_err *e);
void tq_gemm_release(tq_gemm *g);

/* Queues the GEMM of shape s on cl's queue, on the kernel the routing picks. */
tq_status tq_gemm_run(const tq_gemm *g, const tq_cl *cl, const tq_gemm_shape *s, cl_mem A,
                      size_t a_off, size_t lda, cl_mem B, size_t b_off, size_t ldb, cl_mem C,
                      size_t c_off, size_t ldc, tq_err *e);

/* The name a profiling queue times a call of shape s under when kernel k runs it ("sgemm NT
 * 256x2304x3136", "nn_gemm_8x32 TN 2304x3136x256"): `bench train` looks its figures up by it. */
void tq_gemm_profile_name(tq_gemm_kernel k, const tq_gemm_shape *s, char *buf, size_t cap);

/* For tests: every tq_gemm_run calls hook(ctx, shape, kernel) before it queues anything.
 * Process-wide and unsynchronised: set it while no replica runs. NULL: none. */
typedef void (*tq_gemm_hook)(void *ctx, const tq_gemm_shape *s, tq_gemm_kernel k);
void tq_gemm_set_hook(tq_gemm_hook hook, void *ctx);

#endif
