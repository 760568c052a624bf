/* tailquant bench step --model FILE [--workers 8] [--batch 32] [--method M] [--bits 3]
 *                      [--steps 20] [--device SPEC]
 * Steps per second of the simulated cluster on random data, and where a step's time goes:
 * compute (forward + backward, mean over workers), encode (compression, mean over workers),
 * queue, decode and update (server). The first steps compile kernels and are not timed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl_profile.h"
#include "cli/commands.h"
#include "cluster/cluster.h"
#include "util/fileio.h"

static void usage(FILE *f) {
  fprintf(f, "usage: tailquant bench step --model FILE [--workers 8] [--batch 32] [--method tnqsgd]\n"
             "                            [--bits 3] [--steps 20] [--device SPEC] [--profile]\n\n"
             "Prints one line: bench_step MODEL METHOD BITS steps_per_s V images_per_s V\n"
             "step_s V compute_s V encode_s V queue_s V decode_s V update_s V compress_share V\n"
             "--profile: OpenCL event profiling on every queue; prints time per kernel (summed\n"
             "over workers) and per phase after the line.\n");
}

static tq_status bench(const char *model_path, int workers, int batch, const char *method, int bits,
                       int steps, const char *device, bool profile, tq_err *e) {
  tq_model m;
  TQ_TRY(tq_model_load(model_path, &m, e));
  tq_cluster_cfg cfg = {.model = &m, .workers = workers, .batch = batch, .eval_batch = batch,
                        .devices = device, .seed = 1, .msg_timeout_s = 600, .measure_mse = false,
                        .profiling = profile};
  tq_compress_cfg_default(&cfg.compress);
  TQ_TRY(tq_method_from_name(method, &cfg.compress.method, e));
  cfg.compress.bits = cfg.compress.method == TQ_METHOD_NONE ? 32 : bits;
  /* random images: speed does not depend on what they show */
  tq_dataset d = {.n = 4096, .c = (uint32_t)m.input.c, .h = (uint32_t)m.input.h,
                  .w = (uint32_t)m.input.w, .classes = (uint32_t)m.classes};
  size_t per = tq_shape_size(m.input);
  d.pixels = malloc(d.n * per);
  d.labels = malloc(d.n);
  uint32_t *idx = malloc((size_t)workers * batch * sizeof *idx);
  tq_worker_batch *b = malloc((size_t)workers * sizeof *b);
  if (!d.pixels || !d.labels || !idx || !b) {
    free(d.pixels), free(d.labels), free(idx), free(b);
    return tq_fail(e, TQ_ENOMEM, "out of host memory");
  }
  for (size_t i = 0; i < d.n * per; i++) d.pixels[i] = (uint8_t)((i * 2654435761u) >> 24);
  for (uint32_t i = 0; i < d.n; i++) d.labels[i] = (uint8_t)(i % (uint32_t)m.classes);
  tq_cluster *c = NULL;
  tq_status s = tq_cluster_create(&cfg, &c, e);
  double sum[6] = {0}, t0 = 0;
  const int warm = 2;
  for (int it = 0; s == TQ_OK && it < warm + steps; it++) {
    if (it == warm) {
      t0 = tq_now_seconds();
      tq_profile_reset(); /* warm-up steps compile kernels: not profiled */
    }
    for (int w = 0; w < workers; w++) {
      for (int k = 0; k < batch; k++) idx[w * batch + k] = (uint32_t)((it * workers * batch + w * batch + k) % d.n);
      b[w] = (tq_worker_batch){idx + w * batch, batch};
    }
    tq_step_in in = {.data = &d, .norm = {.mean = 0.3, .std = 0.35}, .batches = b, .iteration = (uint32_t)it + 1,
                     .lr = 0.01f, .momentum = 0.9f, .weight_decay = 5e-4f, .compress = true};
    tq_step_out o;
    double ts = tq_now_seconds();
    s = tq_cluster_step(c, &in, &o, e);
    if (s == TQ_OK && it >= warm) {
      double ph[6] = {o.t_compute, o.t_encode, o.t_queue, o.t_decode, o.t_update, tq_now_seconds() - ts};
      for (int k = 0; k < 6; k++) sum[k] += ph[k] / steps;
      if (profile) {
        static const char *names[6] = {"compute (worker mean)", "encode (worker mean)", "queue",
                                       "decode", "update", "step"};
        for (int k = 0; k < 6; k++) tq_profile_host(names[k], ph[k]);
      }
    }
  }
  if (s == TQ_OK) {
    double wall = tq_now_seconds() - t0;
    printf("bench_step %s %s %d workers %d batch %d steps_per_s %.3f images_per_s %.1f step_s %.4f "
           "compute_s %.4f encode_s %.4f queue_s %.4f decode_s %.4f update_s %.4f "
           "compress_share %.3f\n",
           m.name, method, cfg.compress.bits, workers, batch, steps / wall,
           steps * (double)workers * batch / wall, sum[5], sum[0], sum[1], sum[2], sum[3], sum[4],
           (sum[1] + sum[3]) / sum[5]);
    if (profile) {
      s = tq_profile_collect(e);
      char title[160];
      snprintf(title, sizeof title, "bench step %s %s %d bits, %d workers x %d, %d steps", m.name,
               method, cfg.compress.bits, workers, batch, steps);
      if (s == TQ_OK) tq_profile_report(stdout, title);
    }
  }
  tq_cluster_free(c);
  free(d.pixels);
  free(d.labels);
  free(idx);
  free(b);
  return s;
}

int tq_bench_step(int argc, char **argv) {
  const char *model = NULL, *device = "auto", *method = "tnqsgd";
  long workers = 8, batch = 32, bits = 3, steps = 20;
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
    if (i + 1 >= argc) {
      fprintf(stderr, "tailquant bench step: %s needs a value\n", a);
      return 2;
    }
    const char *v = argv[++i];
    long *num = !strcmp(a, "--workers") ? &workers : !strcmp(a, "--batch") ? &batch
              : !strcmp(a, "--bits")    ? &bits    : !strcmp(a, "--steps") ? &steps : NULL;
    if (num) {
      char *end;
      *num = strtol(v, &end, 10);
      if (*end || *num < 1 || *num > 65536) {
        fprintf(stderr, "tailquant bench step: %s '%s' must be a positive integer\n", a, v);
        return 2;
      }
    } else if (!strcmp(a, "--model")) {
      model = v;
    } else if (!strcmp(a, "--method")) {
      method = v;
    } else if (!strcmp(a, "--device")) {
      device = v;
    } else {
      fprintf(stderr, "tailquant bench step: unknown option '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (!model) {
    usage(stderr);
    return 2;
  }
  tq_err e = {0};
  tq_status s = bench(model, (int)workers, (int)batch, method, (int)bits, (int)steps, device, profile, &e);
  return tq_cli_report("bench step", s, e.msg);
}
