/* tailquant bench train --model FILE [--batch N] [--seconds S] [--device SPEC]
 * Images per second for one worker's forward + backward + SGD update on random data, with
 * work queued and one synchronisation per step (the loss read-back), as in training. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl_profile.h"
#include "cl/cl_runtime.h"
#include "cli/commands.h"
#include "nn/net.h"
#include "util/fileio.h"

static void usage(FILE *f) {
  fprintf(f, "usage: tailquant bench train --model FILE [--batch 64] [--seconds 10] "
             "[--device SPEC] [--profile]\n\nPrints images/s for forward + backward + update on random "
             "data, one line:\n  bench_train MODEL images_per_s VALUE gflops VALUE ... startup_s VALUE\n"
             "startup_s: process start (or this command's start) to the end of the first step.\n"
             "--profile: OpenCL event profiling; prints time per kernel after the line, and\n"
             "  for the five largest GEMMs (by FLOPs per step) their GFLOP/s and share of the\n"
             "  device's FMA peak. The peak is measured in the same run by a kernel of\n"
             "  independent float16 multiply-add chains (kernels/bench_peak.cl):\n"
             "  bench_peak gflops VALUE.\n");
}

/* GFLOP/s of bench_fma_peak on this device: enough work-items to fill every compute unit many
 * times over, timed from the first call after a warm-up. */
static tq_status fma_peak(tq_cl *cl, double *gflops, tq_err *e) {
  cl_kernel k;
  TQ_TRY(tq_cl_kernel(cl, "bench_fma_peak", &k, e));
  const size_t items = (size_t)(cl->info.compute_units ? cl->info.compute_units : 1) * 4096;
  cl_mem out = NULL;
  tq_status s = tq_cl_alloc(cl, items * sizeof(float), &out, e);
  cl_uint iters = 64;
  float a = 0.999f, b = 1e-3f;
  double t = 0;
  /* Grow the work until one call takes at least 0.2 s (so launch overhead is noise). */
  for (int round = 0; s == TQ_OK && round < 16; round++) {
    tq_karg args[] = {TQ_ARG(out), TQ_ARG(iters), TQ_ARG(a), TQ_ARG(b)};
    s = tq_cl_run1d(cl, k, items, 0, args, "bench_fma_peak", e);
    if (s == TQ_OK) s = TQ_CL(clFinish(cl->queue), e);
    double t0 = tq_now_seconds();
    if (s == TQ_OK) s = tq_cl_run1d(cl, k, items, 0, args, "bench_fma_peak", e);
    if (s == TQ_OK) s = TQ_CL(clFinish(cl->queue), e);
    t = tq_now_seconds() - t0;
    if (t >= 0.2) break;
    iters *= 2;
  }
  if (s == TQ_OK) *gflops = 2.0 * 16 * 8 * (double)iters * (double)items / t / 1e9;
  tq_cl_release(&out);
  clReleaseKernel(k);
  return s;
}

/* The five largest GEMMs of a step, as the profiler named them (nn/gemm.c's tq_gemm_run), with
 * their rate and share of the measured peak. */
static void report_gemms(const tq_model *m, int batch, double peak) {
  tq_gemm_shape g[64];
  int n = tq_gemm_shapes(m, batch, g, 64);
  int order[64];
  for (int i = 0; i < n; i++) order[i] = i;
  for (int i = 0; i < n; i++) /* by FLOPs, largest first */
    for (int j = i + 1; j < n; j++)
      if (g[order[j]].m * g[order[j]].n * g[order[j]].k > g[order[i]].m * g[order[i]].n * g[order[i]].k) {
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
  printf("largest GEMMs (FMA peak %.1f GFLOP/s, measured above):\n", peak);
  printf("  %-24s %-34s %6s %9s %8s %7s\n", "GEMM", "kernel", "calls", "ms/call", "GFLOP/s",
         "of peak");
  for (int r = 0, shown = 0; r < n && shown < 5; r++) {
    const tq_gemm_shape *s = &g[order[r]];
    char names[3][64];
    const tq_gemm_kernel kinds[3] = {TQ_GEMM_CLBLAST, TQ_GEMM_8X32, TQ_GEMM_NT4X4};
    for (int q = 0; q < 3; q++) tq_gemm_profile_name(kinds[q], s, names[q], sizeof names[q]);
    for (int q = 0; q < 3; q++) {
      long calls = 0;
      double sec = 0;
      if (!tq_profile_lookup(names[q], &calls, &sec) || calls == 0 || !(sec > 0)) continue;
      double rate = 2.0 * (double)s->m * (double)s->n * (double)s->k * (double)calls / sec / 1e9;
      printf("  %-24s %-34s %6ld %9.2f %8.1f %6.1f%%\n", s->what, names[q], calls,
             sec * 1e3 / (double)calls, rate, peak > 0 ? 100.0 * rate / peak : 0.0);
      shown++;
      break;
    }
  }
}

static tq_status bench(const char *model_path, int batch, double seconds, const char *device,
                       bool profile, double t_start, tq_err *e) {
  tq_model m;
  TQ_TRY(tq_model_load(model_path, &m, e));
  tq_cl cl;
  TQ_TRY(tq_cl_open(&cl, device, profile, e));
  tq_net net;
  tq_status s = tq_net_create(&net, &m, &cl, batch, 1, 0, e);
  if (s != TQ_OK) {
    tq_cl_close(&cl);
    return s;
  }
  size_t per = tq_shape_size(m.input);
  float *x = malloc((size_t)batch * per * sizeof *x);
  int *y = malloc((size_t)batch * sizeof *y);
  for (size_t i = 0; i < (size_t)batch * per; i++) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
  for (int i = 0; i < batch; i++) y[i] = i % m.classes;
  /* The first steps compile kernels and pick CLBlast routines: not timed. */
  long steps = 0;
  double t0 = 0, elapsed = 0, startup = 0;
  for (long it = 0; s == TQ_OK; it++) {
    if (it == 3) {
      t0 = tq_now_seconds();
      tq_profile_reset(); /* warm-up kernels (and compiles) are not profiled */
    }
    s = tq_net_set_batch(&net, x, y, batch, e);
    if (s == TQ_OK) s = tq_net_forward(&net, true, (uint32_t)it, e);
    if (s == TQ_OK) s = tq_softmax_xent(&net, batch, e);
    if (s == TQ_OK) s = tq_net_backward(&net, (uint32_t)it, e);
    if (s == TQ_OK) s = tq_net_sgd(&net, 0.001f, 0.9f, 0.0f, e);
    double l;
    int c;
    if (s == TQ_OK) s = tq_net_read_loss(&net, batch, &l, &c, e);
    if (it == 0) startup = tq_now_seconds() - t_start;
    if (it >= 3) {
      steps++;
      elapsed = tq_now_seconds() - t0;
      if (elapsed >= seconds && steps >= 3) break;
    }
  }
  if (s == TQ_OK) {
    double ips = (double)steps * batch / elapsed;
    /* forward + backward is about 3x the forward FLOPs */
    double gflops = ips * 3.0 * tq_model_flops_per_sample(&m) / 1e9;
    printf("bench_train %s images_per_s %.1f gflops %.2f batch %d steps %ld startup_s %.3f "
           "device \"%s\"\n",
           m.name, ips, gflops, batch, steps, startup, cl.info.name);
    if (profile) {
      s = tq_profile_collect(e);
      char title[160];
      snprintf(title, sizeof title, "bench train %s, batch %d, %ld steps", m.name, batch, steps);
      if (s == TQ_OK) tq_profile_report(stdout, title);
      double peak = 0;
      if (s == TQ_OK) s = fma_peak(&cl, &peak, e);
      if (s == TQ_OK) {
        printf("bench_peak gflops %.1f device \"%s\"\n", peak, cl.info.name);
        report_gemms(&m, batch, peak);
      }
    }
  }
  free(x);
  free(y);
  tq_net_destroy(&net);
  tq_cl_close(&cl);
  return s;
}

int tq_bench_train(int argc, char **argv) {
  const char *model = NULL, *device = "auto";
  int batch = 64;
  double seconds = 10, t_start = tq_now_seconds();
  bool profile = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--profile")) {
      profile = true;
      continue;
    }
    if (i + 1 >= argc || (strcmp(a, "--model") && strcmp(a, "--batch") && strcmp(a, "--seconds") &&
                          strcmp(a, "--device"))) {
      fprintf(stderr, "tailquant bench train: unknown option or missing value: '%s'\n", a);
      usage(stderr);
      return 2;
    }
    const char *v = argv[++i];
    char *end;
    if (!strcmp(a, "--model")) model = v;
    else if (!strcmp(a, "--device")) device = v;
    else if (!strcmp(a, "--batch")) {
      long b = strtol(v, &end, 10);
      if (*end || b < 1 || b > 65536) {
        fprintf(stderr, "tailquant bench train: --batch '%s' must be an integer from 1 to 65536\n", v);
        return 2;
      }
      batch = (int)b;
    } else {
      seconds = strtod(v, &end);
      if (*end || !(seconds > 0 && seconds <= 3600)) {
        fprintf(stderr, "tailquant bench train: --seconds '%s' must be a number in (0, 3600]\n", v);
        return 2;
      }
    }
  }
  if (!model) {
    usage(stderr);
    return 2;
  }
  tq_err e = {0};
  tq_status s = bench(model, batch, seconds, device, profile, t_start, &e);
  return tq_cli_report("bench train", s, e.msg);
}
