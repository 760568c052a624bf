/* What a replica really does against what is planned for it, for every shipped model
 * (every .cfg in models/) at a small batch: the GEMM calls one training step makes (recorded by
 * tq_gemm_set_hook) against the shape list `tailquant tune` and `bench train` read
 * (tq_gemm_shapes), call for call and in order, each on the kernel the device's routing
 * picks; and the device buffers tq_net_create allocates (recorded by tq_net_set_alloc_hook)
 * against the memory estimate the cluster checks before allocating (tq_net_device_bytes,
 * tq_net_largest_buffer), byte for byte. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/gemm.h"
#include "nn/memory.h"
#include "nn/net.h"
#include "test_support.h"

#define MAX_CALLS 1024

typedef struct gemm_log {
  int n;
  tq_gemm_shape s[MAX_CALLS];
  tq_gemm_kernel k[MAX_CALLS];
} gemm_log;

typedef struct alloc_log {
  int n;
  size_t total, largest;
} alloc_log;

static void on_gemm(void *ctx, const tq_gemm_shape *s, tq_gemm_kernel k) {
  gemm_log *g = ctx;
  if (g->n < MAX_CALLS) {
    g->s[g->n] = *s;
    g->k[g->n] = k;
  }
  g->n++;
}

static void on_alloc(void *ctx, const char *what, size_t bytes) {
  alloc_log *a = ctx;
  a->n++;
  a->total += bytes;
  if (bytes > a->largest) a->largest = bytes;
}

/* The order a step issues the listed GEMMs in: every forward one in layer order, then the
 * backward ones from the last layer down, each layer's in list order. */
static int expected_order(const tq_gemm_shape *list, int n, const tq_model *m, tq_gemm_shape *out) {
  int k = 0;
  for (int i = 0; i < n; i++)
    if (list[i].pass == TQ_GEMM_FORWARD) out[k++] = list[i];
  for (int layer = m->nlayers - 1; layer >= 0; layer--)
    for (int i = 0; i < n; i++)
      if (list[i].layer == layer && list[i].pass != TQ_GEMM_FORWARD) out[k++] = list[i];
  return k;
}

static void check_model(const char *path, int batch) {
  tq_model m;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_model_load(path, &m, &e), &e);
  static gemm_log got;
  static tq_gemm_shape list[MAX_CALLS], want[MAX_CALLS];
  alloc_log al = {0};
  memset(&got, 0, sizeof got);
  tq_net net;
  tq_net_set_alloc_hook(on_alloc, &al);
  tq_status s = tq_net_create(&net, &m, tq_test_cl(), batch, 3, 0, &e);
  tq_net_set_alloc_hook(NULL, NULL);
  TQ_ASSERT_OK(s, &e);
  tq_gemm_set_hook(on_gemm, &got);
  s = tq_net_forward(&net, true, 1, &e);
  if (s == TQ_OK) s = tq_softmax_xent(&net, batch, &e);
  if (s == TQ_OK) s = tq_net_backward(&net, 1, &e);
  tq_gemm_set_hook(NULL, NULL);
  TQ_ASSERT_OK(s, &e);
  TQ_ASSERT_OK(TQ_CL(clFinish(net.cl.queue), &e), &e);

  /* Memory: the estimate is what was allocated, exactly. */
  size_t est = tq_net_device_bytes(&m, batch), big = tq_net_largest_buffer(&m, batch);
  if (al.total != est || al.largest != big)
    fprintf(stderr, "\n  %s at batch %d: allocated %zu bytes in %d buffers (largest %zu), "
            "estimate %zu (largest %zu)\n", m.name, batch, al.total, al.n, al.largest, est, big);
  CU_ASSERT_EQUAL(al.total, est);
  CU_ASSERT_EQUAL(al.largest, big);

  /* GEMMs: the calls are the list, in pass order, each on its routed kernel. */
  int nl = tq_gemm_shapes(&m, batch, list, MAX_CALLS);
  int nw = expected_order(list, nl, &m, want);
  CU_ASSERT_EQUAL(nw, nl);
  if (got.n != nw) fprintf(stderr, "\n  %s: %d GEMM calls, %d listed\n", m.name, got.n, nw);
  CU_ASSERT_EQUAL_FATAL(got.n, nw);
  tq_gemm_routing r = tq_gemm_routing_for(net.cl.profile, net.cl.gemm_tuned);
  for (int i = 0; i < nw; i++) {
    const tq_gemm_shape *a = &got.s[i], *b = &want[i];
    bool same = a->ta == b->ta && a->tb == b->tb && a->m == b->m && a->n == b->n &&
                a->k == b->k && a->layer == b->layer && a->pass == b->pass &&
                !strcmp(a->what, b->what);
    if (!same)
      fprintf(stderr, "\n  %s call %d: %s %zux%zux%zu, listed %s %zux%zux%zu\n", m.name, i,
              a->what, a->m, a->n, a->k, b->what, b->m, b->n, b->k);
    CU_ASSERT(same);
    CU_ASSERT_EQUAL(got.k[i], tq_gemm_route(&r, b->ta, b->tb, b->m, b->n, b->k));
  }
  tq_net_destroy(&net);
}

static void test_shipped_models(void) {
  DIR *d = opendir(TQ_SOURCE_DIR "/models");
  CU_ASSERT_FATAL(d != NULL);
  int seen = 0;
  for (struct dirent *de; (de = readdir(d));) {
    size_t len = strlen(de->d_name);
    if (len < 5 || strcmp(de->d_name + len - 4, ".cfg")) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", TQ_SOURCE_DIR, de->d_name);
    check_model(path, 2);
    check_model(path, 3);
    seen++;
  }
  closedir(d);
  CU_ASSERT(seen >= 4);
}

/* The estimate counts no buffer twice: a ReLU right after a convolution or a dense layer, and
 * a flatten, share the buffers of the layer they read. */
static void test_shared_buffers_not_counted(void) {
  tq_model m;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_model_load(TQ_SOURCE_DIR "/models/lenet5.cfg", &m, &e), &e);
  tq_net_plan p;
  tq_net_plan_make(&m, 4, &p);
  int shared = 0;
  for (int i = 0; i < m.nlayers; i++) {
    bool relu_after = m.layers[i].kind == TQ_LAYER_RELU && i > 0 &&
                      (m.layers[i - 1].kind == TQ_LAYER_CONV2D ||
                       m.layers[i - 1].kind == TQ_LAYER_DENSE);
    bool flat = m.layers[i].kind == TQ_LAYER_FLATTEN;
    CU_ASSERT_EQUAL(p.shared[i], relu_after || flat);
    shared += p.shared[i];
  }
  CU_ASSERT(shared >= 4);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"shipped models: GEMM calls = shape list, allocations = estimate", test_shipped_models},
      {"shared relu and flatten buffers are not counted", test_shared_buffers_not_counted},
      {NULL, NULL}};
  tq_test_add_suite("gemm and buffer plan", cases);
  return tq_test_run();
}
