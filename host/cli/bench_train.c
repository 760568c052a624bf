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
             "--profile: OpenCL event profiling; prints time per kernel after the line.\n");
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
