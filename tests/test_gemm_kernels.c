/* Every GEMM kernel (host/nn/gemm.h: the project's nn_gemm_8x32 and nn_gemm_nt4x4, and CLBlast)
 * against a double-precision C reference, on the shapes where tiles are cut: M, N and K below,
 * at and past the tile sizes (8 rows, 32 or 4 columns, 16-element K steps), with offsets into
 * every buffer and leading dimensions wider than the matrices, for every layout a kernel takes.
 * Elements of C outside the product (the padding a leading dimension leaves) must come back as
 * they were written: no kernel stores past its tile. The kernel is forced with TAILQUANT_GEMM
 * (own / clblast), which tq_gemm_route reads at each call. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/gemm.h"
#include "test_support.h"

static float frand(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

typedef struct gemm_case {
  bool ta, tb;
  size_t m, n, k;
} gemm_case;

static tq_gemm_kernel routed_to;
static void on_gemm(void *ctx, const tq_gemm_shape *s, tq_gemm_kernel k) {
  (void)ctx, (void)s;
  routed_to = k;
}

/* Runs one case on the kernel TAILQUANT_GEMM selects; returns the largest error relative to
 * sum_k |a||b| (the bound float rounding scales with), and -1 if padding was overwritten. */
static double run_case(tq_cl *cl, const tq_gemm *g, const gemm_case *c, tq_gemm_kernel *kind) {
  const size_t pad = 3, ao = 5, bo = 7, co = 11;
  const size_t ar = c->ta ? c->k : c->m, ac = c->ta ? c->m : c->k; /* A as stored */
  const size_t br = c->tb ? c->n : c->k, bc = c->tb ? c->k : c->n;
  const size_t lda = ac + pad, ldb = bc + pad, ldc = c->n + pad;
  const size_t na = ao + ar * lda, nb = bo + br * ldb, nc = co + c->m * ldc;
  float *A = malloc(4 * na), *B = malloc(4 * nb), *C = malloc(4 * nc), *C0 = malloc(4 * nc);
  unsigned s = (unsigned)(c->m * 131 + c->n * 17 + c->k);
  for (size_t i = 0; i < na; i++) A[i] = frand(&s);
  for (size_t i = 0; i < nb; i++) B[i] = frand(&s);
  for (size_t i = 0; i < nc; i++) C0[i] = 1000.0f + (float)i; /* sentinels */
  tq_err e = {0};
  cl_int rc;
  cl_mem dA = clCreateBuffer(cl->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, 4 * na, A, &rc);
  cl_mem dB = clCreateBuffer(cl->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, 4 * nb, B, &rc);
  cl_mem dC = clCreateBuffer(cl->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, 4 * nc, C0, &rc);
  tq_gemm_shape sh = {.ta = c->ta, .tb = c->tb, .m = c->m, .n = c->n, .k = c->k};
  snprintf(sh.what, sizeof sh.what, "test");
  TQ_ASSERT_OK(tq_gemm_run(g, cl, &sh, dA, ao, lda, dB, bo, ldb, dC, co, ldc, &e), &e);
  TQ_ASSERT_OK(tq_cl_read(cl, dC, 0, 4 * nc, C, &e), &e);
  *kind = routed_to;
  double worst = 0;
  for (size_t i = 0; i < c->m && worst >= 0; i++)
    for (size_t j = 0; j < ldc; j++) {
      size_t at = co + i * ldc + j;
      if (j >= c->n) {
        if (C[at] != C0[at]) worst = -1;
        continue;
      }
      double acc = 0, mag = 1e-30;
      for (size_t t = 0; t < c->k; t++) {
        double a = c->ta ? A[ao + t * lda + i] : A[ao + i * lda + t];
        double b = c->tb ? B[bo + j * ldb + t] : B[bo + t * ldb + j];
        acc += a * b;
        mag += fabs(a * b);
      }
      double err = fabs(acc - C[at]) / mag;
      if (err > worst) worst = err;
    }
  for (size_t i = 0; i < co; i++)
    if (C[i] != C0[i]) worst = -1;
  clReleaseMemObject(dA);
  clReleaseMemObject(dB);
  clReleaseMemObject(dC);
  free(A), free(B), free(C), free(C0);
  return worst;
}

static void check_kernels(const char *which, tq_gemm_kernel plain, tq_gemm_kernel transposed_b) {
  tq_cl *cl = tq_test_cl();
  tq_gemm g;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_gemm_init(&g, cl, &e), &e);
  static const size_t ms[] = {1, 7, 8, 9, 17, 33}, ns[] = {1, 4, 5, 15, 16, 31, 32, 33, 70},
                      ks[] = {1, 3, 16, 17, 64, 65, 130};
  const bool small = getenv("TQ_TEST_SMALL") != NULL; /* Oclgrind: a subset */
  setenv("TAILQUANT_GEMM", which, 1);
  tq_gemm_set_hook(on_gemm, NULL);
  int cases = 0, bad = 0;
  for (int layout = 0; layout < 3; layout++)
    for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
      for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
          if (small && (mi + ni + ki) % 5) continue;
          gemm_case c = {.ta = layout == 1, .tb = layout == 2, .m = ms[mi], .n = ns[ni], .k = ks[ki]};
          tq_gemm_kernel kind;
          double err = run_case(cl, &g, &c, &kind);
          CU_ASSERT_EQUAL(kind, c.tb ? transposed_b : plain); /* the forced kernel ran */
          cases++;
          if (err < 0 || err > 1e-5) {
            bad++;
            fprintf(stderr, "\n  %s %c%c %zux%zux%zu: %s %g\n", which, c.ta ? 'T' : 'N',
                    c.tb ? 'T' : 'N', c.m, c.n, c.k, err < 0 ? "wrote outside C's product" :
                    "relative error", err);
          }
        }
  tq_gemm_set_hook(NULL, NULL);
  unsetenv("TAILQUANT_GEMM");
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT(cases >= 30);
  tq_gemm_release(&g);
}

/* TAILQUANT_GEMM=own: nn_gemm_8x32 for plain B (either A), nn_gemm_nt4x4 for transposed B. */
static void test_own_kernels(void) { check_kernels("own", TQ_GEMM_8X32, TQ_GEMM_NT4X4); }

/* TAILQUANT_GEMM=clblast: the same cases in CLBlast (the gpu profile's GEMM). */
static void test_clblast(void) { check_kernels("clblast", TQ_GEMM_CLBLAST, TQ_GEMM_CLBLAST); }

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"own gemm kernels vs reference at every tile edge", test_own_kernels},
      {"clblast vs reference at every tile edge", test_clblast},
      {NULL, NULL}};
  tq_test_add_suite("gemm kernels", cases);
  return tq_test_run();
}
