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
 * machine (docs/performance.md): with its column strip's row blocks in one work-group,
 * nn_gemm_8x32 ran every plain-B shape of LeNet-5 and AlexNet-small faster than CLBlast, tuned
 * or not (AlexNet-small's at 160-200 GFLOP/s of a 224 GFLOP/s peak; CLBlast's direct kernel ran
 * LeNet-5's skinny ones at 1-3). Only very narrow outputs (N < 16, mostly padding in a 32-column
 * strip) stay with CLBlast. */
static bool use_8x32(bool tb, size_t N) { return !tb && N >= 16; }

static bool use_nt4x4(bool ta, bool tb, size_t M, size_t N, size_t K) {
  /* The weight gradients: ours 1.3-1.9x tuned CLBlast at AlexNet-small's sizes before the
   * grouping by column block, 2-3x since. */
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
  if (use_8x32(tb, N) || (all_own && !tb)) return TQ_GEMM_8X32;
  if (use_nt4x4(ta, tb, M, N, K) || (all_own && !ta && tb)) return TQ_GEMM_NT4X4;
  return TQ_GEMM_CLBLAST;
}

tq_status tq_gemm_init(tq_gemm *g, const tq_cl *cl, tq_err *e) {
  g->routing = tq_gemm_routing_for(cl->profile, cl->gemm_tuned);
  TQ_TRY(tq_cl_kernel(cl, "nn_gemm_8x32", &g->k8x32, e));
  return tq_cl_kernel(cl, "nn_gemm_nt4x4", &g->nt4x4, e);
}

void tq_gemm_release(tq_gemm *g) {
  if (g->k8x32) clReleaseKernel(g->k8x32);
  if (g->nt4x4) clReleaseKernel(g->nt4x4);
  g->k8x32 = g->nt4x4 = NULL;
}

void tq_gemm_profile_name(tq_gemm_kernel k, const tq_gemm_shape *s, char *buf, size_t cap) {
  static const char *const names[] = {
      [TQ_GEMM_CLBLAST] = "sgemm", [TQ_GEMM_8X32] = "nn_gemm_8x32", [TQ_GEMM_NT4X4] = "nn_gemm_nt4x4"};
  snprintf(buf, cap, "%s %c%c %zux%zux%zu", names[k], s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->m,
           s->n, s->k);
}

/* Work-group of a kernel that computes a tile of rows x columns per work-item: the row blocks
 * of one column block together, up to cap, so that the column block's share of B is read from
 * memory once and from cache by every further work-item of the group (POCL runs a group on one
 * core, work-item after work-item); fewer when that would leave under four groups per compute
 * unit. Returns the local size in rows; *rows_global is the row count padded to it. */
static size_t group_rows(const tq_cl *cl, cl_kernel k, size_t row_blocks, size_t col_blocks,
                         size_t cap, size_t *rows_global) {
  size_t dev = tq_cl_group_cap(cl, k);
  if (dev < cap) cap = dev;
  size_t l = row_blocks < cap ? row_blocks : cap;
  size_t want = 4u * (cl->info.compute_units ? cl->info.compute_units : 1u);
  while (l > 1 && col_blocks * ((row_blocks + l - 1) / l) < want) l /= 2;
  *rows_global = (row_blocks + l - 1) / l * l;
  return l;
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
  tq_gemm_profile_name(kind, s, what, sizeof what);
  cl_uint m = (cl_uint)M, nn = (cl_uint)N, k = (cl_uint)K, ao = (cl_uint)a_off,
          bo = (cl_uint)b_off, co = (cl_uint)c_off, ld_a = (cl_uint)lda, ld_b = (cl_uint)ldb,
          ld_c = (cl_uint)ldc, one = 1;
  if (kind == TQ_GEMM_8X32) {
    /* A(m,k) through strides: row-major A[m][k] or, transposed, A[k][m]. */
    cl_uint a_sm = ta ? one : ld_a, a_sk = ta ? ld_a : one;
    tq_karg a[] = {TQ_ARG(A), TQ_ARG(ao), TQ_ARG(a_sm), TQ_ARG(a_sk), TQ_ARG(B), TQ_ARG(bo),
                   TQ_ARG(ld_b), TQ_ARG(C), TQ_ARG(co), TQ_ARG(ld_c), TQ_ARG(m), TQ_ARG(nn),
                   TQ_ARG(k)};
    size_t gl[2] = {(N + 31) / 32, 0}, l[2] = {1, 0};
    l[1] = group_rows(cl, g->k8x32, (M + 7) / 8, gl[0], 64, &gl[1]);
    return tq_cl_runnd(cl, g->k8x32, 2, gl, l, a, what, e);
  }
  if (kind == TQ_GEMM_NT4X4) {
    tq_karg a[] = {TQ_ARG(A), TQ_ARG(ao), TQ_ARG(ld_a), TQ_ARG(B), TQ_ARG(bo), TQ_ARG(ld_b),
                   TQ_ARG(C), TQ_ARG(co), TQ_ARG(ld_c), TQ_ARG(m), TQ_ARG(nn), TQ_ARG(k)};
    size_t gl[2] = {(N + 3) / 4, 0}, l[2] = {1, 0};
    l[1] = group_rows(cl, g->nt4x4, (M + 3) / 4, gl[0], 32, &gl[1]);
    return tq_cl_runnd(cl, g->nt4x4, 2, gl, l, a, what, e);
  }
  cl_command_queue q = cl->queue;
  cl_event mark = tq_profile_blast_begin(cl), ev = NULL;
  tq_status st = TQ_CLBLAST(
      CLBlastSgemm(CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                   tb ? CLBlastTransposeYes : CLBlastTransposeNo, M, N, K, 1.0f, A, a_off, lda, B,
                   b_off, ldb, 0.0f, C, c_off, ldc, &q, mark ? &ev : NULL),
      e);
  if (mark) tq_profile_blast_end(cl, mark, st == TQ_OK ? ev : NULL, what);
  return st;
}
