#include "nn/gemm.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl_profile.h"
#include "nn/layer.h"

int tq_gemm_shapes(const tq_model *m, int batch, tq_gemm_shape *out, int cap) {
  int n = 0;
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer_ops *ops = tq_layer_ops_of(m->layers[i].kind);
    if (!ops->gemms) continue;
    tq_gemm_shape g[TQ_LAYER_MAX_GEMMS];
    int got = ops->gemms(m, i, (size_t)batch, g);
    for (int j = 0; j < got && n < cap; j++) out[n++] = g[j];
  }
  return n;
}

/* Which GEMMs go to our kernels (kernels/nn_gemm.cl), from measurements on the 2-core POCL
 * machine (docs/performance.md): skinny or small ones, which CLBlast's direct kernel ran at
 * 1-3 GFLOP/s (LeNet-5's, AlexNet-small's first convolution); large ones with a transposed
 * operand; large plain ones unless CLBlast was tuned for the device. */
static bool use_rows8(bool ta, bool tb, bool tuned, size_t M, size_t N, size_t K) {
  if (tb || N < 64) return false;
  if (M <= 32 || K <= 32 || M * N * K <= (size_t)1 << 23) return true;
  /* Large: ours beat tuned CLBlast 1.3-2.9x with A transposed (AlexNet-small's dcol), and
   * untuned CLBlast everywhere; tuned CLBlast was ~13 % faster on the large NN forward GEMMs. */
  return ta || !tuned;
}

static bool use_nt4x4(bool ta, bool tb, size_t M, size_t N, size_t K) {
  /* The weight gradients: ours 1.3-1.9x tuned CLBlast at AlexNet-small's sizes. */
  return !ta && tb && K >= 64 && (M * N <= 16384 || K >= 1024);
}

tq_gemm_routing tq_gemm_routing_for(const tq_devprofile *p, bool tuned) {
  return (tq_gemm_routing){.own = !p || p->own_gemms, .tuned = tuned};
}

/* TAILQUANT_GEMM=clblast sends every GEMM to CLBlast; TAILQUANT_GEMM=own every GEMM our
 * kernels can do to them, on any profile (both for measurements, so read at each call: a
 * measurement may switch it between steps). Otherwise the device profile decides
 * (cl_devprofile.h: the gpu profile leaves every GEMM to CLBlast). */
tq_gemm_kernel tq_gemm_route(const tq_gemm_routing *r, bool ta, bool tb, size_t M, size_t N,
                             size_t K) {
  const char *v = getenv("TAILQUANT_GEMM");
  bool all_own = v && !strcmp(v, "own");
  bool own = all_own || (r->own && !(v && !strcmp(v, "clblast")));
  if (!own) return TQ_GEMM_CLBLAST;
  if (use_rows8(ta, tb, r->tuned, M, N, K) || (all_own && !tb)) return TQ_GEMM_ROWS8;
  if (use_nt4x4(ta, tb, M, N, K) || (all_own && !ta && tb)) return TQ_GEMM_NT4X4;
  return TQ_GEMM_CLBLAST;
}

tq_status tq_gemm_init(tq_gemm *g, const tq_cl *cl, tq_err *e) {
  g->routing = tq_gemm_routing_for(cl->profile, cl->gemm_tuned);
  TQ_TRY(tq_cl_kernel(cl, "nn_gemm_rows8", &g->rows8, e));
  return tq_cl_kernel(cl, "nn_gemm_nt4x4", &g->nt4x4, e);
}

void tq_gemm_release(tq_gemm *g) {
  if (g->rows8) clReleaseKernel(g->rows8);
  if (g->nt4x4) clReleaseKernel(g->nt4x4);
  g->rows8 = g->nt4x4 = NULL;
}

static tq_gemm_hook hook;
static void *hook_ctx;

void tq_gemm_set_hook(tq_gemm_hook h, void *ctx) {
  hook = h;
  hook_ctx = ctx;
}

tq_status tq_gemm_run(const tq_gemm *g, const tq_cl *cl, const tq_gemm_shape *s, cl_mem A,
                      size_t a_off, size_t lda, cl_mem B, size_t b_off, size_t ldb, cl_mem C,
                      size_t c_off, size_t ldc, tq_err *e) {
  bool ta = s->ta, tb = s->tb;
  size_t M = s->m, N = s->n, K = s->k;
  if (M > UINT32_MAX / 2 || N > UINT32_MAX / 2 || K > UINT32_MAX / 2 || lda > UINT32_MAX ||
      ldb > UINT32_MAX || ldc > UINT32_MAX)
    return tq_fail(e, TQ_EINPUT, "GEMM %zux%zux%zu too large for 32-bit indices", M, N, K);
  tq_gemm_kernel kind = tq_gemm_route(&g->routing, ta, tb, M, N, K);
  if (hook) hook(hook_ctx, s, kind);
  char what[64];
  cl_uint m = (cl_uint)M, nn = (cl_uint)N, k = (cl_uint)K, ao = (cl_uint)a_off,
          bo = (cl_uint)b_off, co = (cl_uint)c_off, ld_a = (cl_uint)lda, ld_b = (cl_uint)ldb,
          ld_c = (cl_uint)ldc, one = 1;
  if (kind == TQ_GEMM_ROWS8) {
    /* A(m,k) through strides: row-major A[m][k] or, transposed, A[k][m]. */
    cl_uint a_sm = ta ? one : ld_a, a_sk = ta ? ld_a : one;
    tq_karg a[] = {TQ_ARG(A), TQ_ARG(ao), TQ_ARG(a_sm), TQ_ARG(a_sk), TQ_ARG(B), TQ_ARG(bo),
                   TQ_ARG(ld_b), TQ_ARG(C), TQ_ARG(co), TQ_ARG(ld_c), TQ_ARG(m), TQ_ARG(nn),
                   TQ_ARG(k)};
    /* 16 work-items (256 columns) per group: POCL pays per group. */
    size_t gl[2] = {(N + 15) / 16, (M + 7) / 8}, l[2] = {16, 1};
    snprintf(what, sizeof what, "nn_gemm_rows8 %cN %zux%zux%zu", ta ? 'T' : 'N', M, N, K);
    return tq_cl_runnd(cl, g->rows8, 2, gl, l, a, what, e);
  }
  if (kind == TQ_GEMM_NT4X4) {
    tq_karg a[] = {TQ_ARG(A), TQ_ARG(ao), TQ_ARG(ld_a), TQ_ARG(B), TQ_ARG(bo), TQ_ARG(ld_b),
                   TQ_ARG(C), TQ_ARG(co), TQ_ARG(ld_c), TQ_ARG(m), TQ_ARG(nn), TQ_ARG(k)};
    /* Few, long work-items: one per group so both cores get some. */
    size_t gl[2] = {(N + 3) / 4, (M + 3) / 4}, l[2] = {1, 1};
    snprintf(what, sizeof what, "nn_gemm_nt4x4 NT %zux%zux%zu", M, N, K);
    return tq_cl_runnd(cl, g->nt4x4, 2, gl, l, a, what, e);
  }
  cl_command_queue q = cl->queue;
  cl_event mark = tq_profile_blast_begin(cl), ev = NULL;
  tq_status st = TQ_CLBLAST(
      CLBlastSgemm(CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                   tb ? CLBlastTransposeYes : CLBlastTransposeNo, M, N, K, 1.0f, A, a_off, lda, B,
                   b_off, ldb, 0.0f, C, c_off, ldc, &q, mark ? &ev : NULL),
      e);
  if (mark) {
    char name[64];
    snprintf(name, sizeof name, "sgemm %c%c %zux%zux%zu", ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K);
    tq_profile_blast_end(cl, mark, st == TQ_OK ? ev : NULL, name);
  }
  return st;
}
