/* tailquant bench quant: end-to-end encode and decode throughput of every compression method
 * at b = 2, 3, 4, 8 for tensors of 1 M and 16 M elements, beside the bandwidth of a plain copy
 * kernel measured in the same run.
 *   refit  = tq_compressor_encode with refit_every = 1: statistics + histogram (truncated
 *            family) or norms (QSGD family), the host fit and design, the encode kernel, and
 *            reading the packed payload into the wire message, CRC included;
 *   steady = the same call with the design reused (refit_every large): encode kernel, read,
 *            CRC (the QSGD family computes its norms in both);
 *   decode = tq_decoder_accumulate: host validation (CRC, codes), upload, decode-accumulate
 *            kernel; timed over repeated calls with one clFinish at the end.
 * GB/s counts the bytes the kernels must move: encode 4 + b/8 per element (read fp32, write
 * codes), decode b/8 + 8 (read codes, read and write the fp32 sum), copy 8. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "compress/compressor.h"
#include "util/fileio.h"

static tq_status copy_bw(tq_cl *cl, cl_mem src, cl_mem dst, cl_uint n, int reps, double *gbs,
                         tq_err *e) {
  cl_kernel k;
  TQ_TRY(tq_cl_kernel(cl, "q_copy", &k, e));
  tq_karg a[] = {TQ_ARG(src), TQ_ARG(dst), TQ_ARG(n)};
  tq_status s = tq_cl_run1d(cl, k, n, 0, a, "q_copy", e);
  if (s == TQ_OK) s = TQ_CL(clFinish(cl->queue), e);
  double t0 = tq_now_seconds();
  for (int r = 0; s == TQ_OK && r < reps; r++) s = tq_cl_run1d(cl, k, n, 0, a, "q_copy", e);
  if (s == TQ_OK) s = TQ_CL(clFinish(cl->queue), e);
  *gbs = 8.0 * n * reps / (tq_now_seconds() - t0) / 1e9;
  clReleaseKernel(k);
  return s;
}

/* enc_s: per call, refit_every = 1 (statistics + fit + design + encode every call); steady_s:
 * per call of a compressor whose design is reused (refit_every large: the encode kernel and
 * the payload read only; the bucketed family computes its norms in both); dec_s per
 * tq_decoder_accumulate. */
static tq_status bench_one(tq_cl *cl, tq_method m, int bits, cl_mem g, cl_mem out, size_t n,
                           int reps, double *enc_s, double *steady_s, double *kern_s,
                           double *dec_s, tq_encode_info *info, tq_err *e) {
  tq_compress_cfg cfg;
  tq_compress_cfg_default(&cfg);
  cfg.method = m;
  cfg.bits = bits;
  cfg.min_elems = 0;
  tq_tensor_desc t = {0, n};
  tq_compressor *c = NULL, *cs = NULL;
  tq_decoder *d = NULL;
  tq_buf msg = {0};
  tq_status s = tq_compressor_create(cl, &cfg, 0, &t, 1, &c, e);
  cfg.refit_every = 1u << 30;
  if (s == TQ_OK) s = tq_compressor_create(cl, &cfg, 0, &t, 1, &cs, e);
  if (s == TQ_OK) s = tq_decoder_create(cl, &t, 1, &d, e);
  /* Warm-up calls: first kernel launches and message-buffer growth are not measured. */
  if (s == TQ_OK) s = tq_compressor_encode(cs, g, 0, 0, &msg, info, e);
  if (s == TQ_OK) s = tq_compressor_encode(c, g, 0, 0, &msg, info, e);
  double t0 = tq_now_seconds();
  *kern_s = 0;
  for (int r = 1; s == TQ_OK && r <= reps; r++) {
    s = tq_compressor_encode(c, g, (uint32_t)r, 0, &msg, info, e);
    *kern_s += info->t_device / reps;
  }
  *enc_s = (tq_now_seconds() - t0) / reps;
  tq_encode_info si;
  t0 = tq_now_seconds();
  for (int r = 1; s == TQ_OK && r <= reps; r++)
    s = tq_compressor_encode(cs, g, (uint32_t)r, 0, &msg, &si, e);
  *steady_s = (tq_now_seconds() - t0) / reps;
  if (s == TQ_OK) s = tq_decoder_accumulate(d, msg.data, msg.len, 0, 1.0f, out, NULL, e);
  if (s == TQ_OK) s = TQ_CL(clFinish(cl->queue), e);
  t0 = tq_now_seconds();
  for (int r = 0; s == TQ_OK && r < reps; r++)
    s = tq_decoder_accumulate(d, msg.data, msg.len, 0, 1.0f / reps, out, NULL, e);
  if (s == TQ_OK) s = TQ_CL(clFinish(cl->queue), e);
  *dec_s = (tq_now_seconds() - t0) / reps;
  tq_buf_free(&msg);
  tq_decoder_free(d);
  tq_compressor_free(c);
  tq_compressor_free(cs);
  return s;
}

typedef struct bench_opts {
  const char *device, *only_method;
  int reps, only_bits;
  size_t only_size;
} bench_opts;

/* Returns -1 to go on, else the exit code. */
static int parse_bench_args(int argc, char **argv, bench_opts *o) {
  memset(o, 0, sizeof *o);
  o->device = "auto";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: tailquant bench quant [--device SPEC] [--reps N] [--method M] [--bits B]\n"
             "                            [--size 1M|16M]\n\n"
             "Encode/decode throughput per method at b = 2,3,4,8 for 1 M and 16 M elements,\n"
             "beside a copy kernel measured in the same run: the refit call (statistics + fit +\n"
             "design + encode + payload read) and the steady call (design reused) as a share of\n"
             "the copy kernel's bytes/s, decode + accumulate likewise. --reps: timed calls per\n"
             "cell (default 8 at 1 M, 3 at 16 M); --method, --bits, --size: one row or table.\n");
      return 0;
    } else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
      o->device = argv[++i];
    } else if (!strcmp(argv[i], "--method") && i + 1 < argc) {
      o->only_method = argv[++i];
    } else if (!strcmp(argv[i], "--bits") && i + 1 < argc) {
      o->only_bits = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
      const char *v = argv[++i];
      o->only_size = !strcmp(v, "1M") ? 1u << 20 : !strcmp(v, "16M") ? 1u << 24 : 0;
      if (!o->only_size) {
        fprintf(stderr, "tailquant bench quant: --size '%s' must be 1M or 16M\n", v);
        return 2;
      }
    } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
      o->reps = atoi(argv[++i]);
      if (o->reps < 1) {
        fprintf(stderr, "tailquant bench quant: --reps '%s' must be a positive integer\n", argv[i]);
        return 2;
      }
    } else {
      fprintf(stderr, "tailquant bench quant: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }
  return -1;
}

/* Laplace body with a power-law tail (docs/math.md §12.5), fixed seed: the fit does its full
 * work. */
static void synthetic_gradients(float *host, size_t n) {
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    double u = (double)(x >> 11) * (1.0 / 9007199254740992.0);
    double v = (i % 10 == 0) ? 2.0 * pow(1 - u, -1 / 2.5) : -log(1 - u * (1 - exp(-2.0)));
    host[i] = (float)((x >> 3) & 1 ? v : -v);
  }
}

/* One line: method m at b bits on the n elements in g. */
static tq_status bench_row(tq_cl *cl, tq_method m, int b, cl_mem g, cl_mem out, size_t n, int reps,
                           double copy, tq_err *e) {
  double te, ts, td, tk;
  tq_encode_info info;
  TQ_TRY(bench_one(cl, m, b, g, out, n, reps, &te, &ts, &tk, &td, &info, e));
  double eg = n / te / 1e9, sg = n / ts / 1e9, dg = n / td / 1e9;
  double eb = eg * (4 + b / 8.0), sb = sg * (4 + b / 8.0), db = dg * (8 + b / 8.0);
  printf("%-8s %4d %10.3f %8.2f %6.1f%% %12.3f %6.1f%% %10.3f %8.2f %6.1f%%   %.2f (%.2f) | "
         "%.2f/%.2f/%.2f\n",
         tq_method_name(m), b, eg, eb, 100 * eb / copy, sg, 100 * sb / copy, dg, db,
         100 * db / copy, 1e3 * tk, tk > 0 ? n / tk / 1e9 : 0.0, 1e3 * info.t_stats,
         1e3 * info.t_design, 1e3 * info.t_encode);
  fflush(stdout);
  return TQ_OK;
}

/* The table for one size: the copy kernel, then every compressing method of the method table
 * at every width (or the ones asked for). */
static tq_status bench_size(tq_cl *cl, const bench_opts *o, const float *host, size_t n, int reps,
                            tq_err *e) {
  const int bitset[4] = {2, 3, 4, 8};
  cl_mem g = NULL, out = NULL;
  double copy = 0;
  tq_status s = tq_cl_alloc(cl, 4 * n, &g, e);
  if (s == TQ_OK) s = tq_cl_alloc(cl, 4 * n, &out, e);
  if (s == TQ_OK) s = tq_cl_write(cl, g, 0, 4 * n, host, e);
  if (s == TQ_OK) s = tq_cl_fill_zero(cl, out, 0, 4 * n, e);
  if (s == TQ_OK) s = copy_bw(cl, g, out, (cl_uint)n, 10, &copy, e);
  if (s == TQ_OK) {
    printf("\n%zu elements (%.0f MiB fp32): copy kernel %.2f GB/s = %.3f G elements/s\n", n,
           4.0 * n / 1048576, copy, copy / 8);
    printf("%-8s %4s %10s %8s %7s %10s %7s %10s %8s %7s   %s\n", "method", "bits",
           "refit Gel/s", "GB/s", "%copy", "steady Gel/s", "%copy", "dec Gel/s", "dec GB/s",
           "%copy", "refit: kernels-only ms (Gel/s) | split stats/design/encode ms");
  }
  for (int mi = 0; mi < TQ_METHOD_COUNT && s == TQ_OK; mi++) {
    const tq_method m = (tq_method)mi;
    if (tq_method_family(m) == TQ_FAMILY_NONE) continue;
    if (o->only_method && strcmp(o->only_method, tq_method_name(m))) continue;
    /* the widths of the set the method takes; a method that takes none of them (efsign: 1
     * bit) at its own */
    const int lo = tq_bits_min(m, false), hi = tq_bits_max(m);
    for (int bi = 0; bi < 4 && s == TQ_OK; bi++) {
      int b = hi < bitset[0] ? lo : bitset[bi];
      if (b < lo || b > hi || (hi < bitset[0] && bi > 0)) continue;
      if (!o->only_bits || b == o->only_bits) s = bench_row(cl, m, b, g, out, n, reps, copy, e);
    }
  }
  tq_cl_release(&g);
  tq_cl_release(&out);
  return s;
}

int tq_bench_quant(int argc, char **argv) {
  bench_opts o;
  int rc = parse_bench_args(argc, argv, &o);
  if (rc >= 0) return rc;
  tq_err e = {0};
  tq_cl cl;
  tq_status s = tq_cl_open(&cl, o.device, true, &e); /* profiling: the kernel-only column */
  if (s != TQ_OK) return tq_cli_report("bench quant", s, e.msg);
  printf("device: %s (%u compute units)\n", cl.info.name, cl.info.compute_units);
  const size_t sizes[2] = {1u << 20, 1u << 24};
  float *host = malloc(4 * sizes[1]);
  if (!host) {
    tq_cl_close(&cl);
    return tq_cli_report("bench quant", TQ_ENOMEM, "out of memory");
  }
  synthetic_gradients(host, sizes[1]);
  double t_start = tq_now_seconds();
  for (int si = 0; si < 2 && s == TQ_OK; si++) {
    if (o.only_size && sizes[si] != o.only_size) continue;
    s = bench_size(&cl, &o, host, sizes[si], o.reps ? o.reps : (si == 0 ? 8 : 3), &e);
  }
  if (s == TQ_OK) printf("\n(total %.1f s; encode times are per call of the last refit)\n", tq_now_seconds() - t_start);
  free(host);
  tq_cl_close(&cl);
  return s == TQ_OK ? 0 : tq_cli_report("bench quant", s, e.msg);
}
