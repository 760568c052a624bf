/* tailquant quantize: compress a raw float32 file of gradients with one method (or all) on the
 * OpenCL device, decode it again, and print the fitted tail, alpha, the levels, the bits sent
 * and the per-element MSE (measured with real stochastic rounding, and the exact conditional
 * MSE of docs/math.md §2.3). The device codes are cross-checked against the plain-C reference. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "compress/compressor.h"
#include "compress/quant_ref.h"
#include "util/fileio.h"

/* With --method all, --hist writes the histogram of the default method's run (tnqsgd). */
static tq_method hist_method(void) {
  tq_compress_cfg d;
  tq_compress_cfg_default(&d);
  return d.method;
}

/* The largest tensor quantize reads: 2^27 float32 values (512 MiB), beyond any layer here. */
#define TQ_QUANTIZE_MAX_ELEMS ((size_t)1 << 27)

static void usage(FILE *f) {
  char names[256];
  fprintf(f,
          "usage: tailquant quantize --method M --bits B [options] FILE\n\n"
          "FILE holds raw little-endian float32 values (one tensor).\n"
          "  --method M      %s|all\n"
          "  --bits B        bits per element, 1..8 (the methods' ranges are listed below)\n"
          "  --bucket N      QSGD-family elements per norm (default 512, 0 = whole tensor)\n"
          "  --seed S        stochastic-rounding seed (default 1)\n"
          "  --tail T        powerlaw|laplace: model of the truncated family (default powerlaw)\n"
          "  --alpha-rule R  bound|truevar (default bound)\n"
          "  --zero-level    truncated family: 2^b-1 levels including 0\n"
          "  --device SPEC   OpenCL device: auto|cpu|gpu|P:D|name (default auto)\n"
          "  --hist OUT.tsv  write the device histogram of |g| (log-spaced bins), the density of\n"
          "                  the fitted power-law tail and the chosen alpha, for plotting\n"
          "                  (tools/plot.sh); uses the truncated method run (%s with all)\n",
          tq_method_names_join("|", names, sizeof names), tq_method_name(hist_method()));
  fprintf(f, "\nMethods (docs/compression.md):\n");
  for (int i = 0; i < TQ_METHOD_COUNT; i++) {
    const tq_method_info *mi = tq_method_info_of((tq_method)i);
    if (mi->family == TQ_FAMILY_NONE)
      fprintf(f, "  %-8s %s\n", mi->name, mi->summary);
    else
      fprintf(f, "  %-8s %s (%d..%d bits)\n", mi->name, mi->summary, mi->bits_min, mi->bits_max);
  }
}

typedef struct row {
  tq_method m;
  bool ok;
  char why[160];
  tq_encode_info info;
  tq_wire_msg msg;
  double mse, exact;
  bool ref_match;
} row;

static tq_status run_one(tq_cl *cl, const tq_compress_cfg *cfg, const float *g, size_t n,
                         tq_buf *msg, float *dec, row *r, tq_err *e) {
  tq_tensor_desc t = {0, n};
  tq_compressor *c = NULL;
  tq_decoder *d = NULL;
  cl_mem gbuf = NULL, out = NULL;
  tq_status s = tq_compressor_create(cl, cfg, 0, &t, 1, &c, e);
  if (s == TQ_OK) s = tq_decoder_create(cl, &t, 1, &d, e);
  if (s == TQ_OK) s = tq_cl_alloc(cl, 4 * n, &gbuf, e);
  if (s == TQ_OK) s = tq_cl_alloc(cl, 4 * n, &out, e);
  if (s == TQ_OK) s = tq_cl_write(cl, gbuf, 0, 4 * n, g, e);
  if (s == TQ_OK) s = tq_cl_fill_zero(cl, out, 0, 4 * n, e);
  if (s == TQ_OK) s = tq_compressor_encode(c, gbuf, 0, 0, msg, &r->info, e);
  if (s == TQ_OK) s = tq_decoder_accumulate(d, msg->data, msg->len, 0, 1.0f, out, NULL, e);
  if (s == TQ_OK) s = tq_cl_read(cl, out, 0, 4 * n, dec, e);
  if (s == TQ_OK) s = tq_wire_parse(msg->data, msg->len, 0, (uint32_t)n, &r->msg, e);
  if (s == TQ_OK) {
    double se = 0;
    for (size_t i = 0; i < n; i++) se += ((double)dec[i] - g[i]) * ((double)dec[i] - g[i]);
    r->mse = se / (double)n;
    const tq_wire_msg *m = &r->msg;
    r->ref_match = true;
    r->exact = 0;
    if (m->h.method != TQ_METHOD_NONE) {
      /* The reference's codes for the device's own design (its levels and scales). */
      uint32_t *w = malloc(4 * (m->payload_words + 1));
      tq_rng_key key = {cfg->seed, 0, 0, 0};
      if (!w) s = tq_fail(e, TQ_ENOMEM, "out of memory");
      else s = tq_ref_recode(m, g, key, w, &r->exact, e);
      if (s == TQ_OK) r->ref_match = memcmp(w, m->payload, 4 * m->payload_words) == 0;
      free(w);
    }
    r->ok = true;
  }
  tq_cl_release(&gbuf);
  tq_cl_release(&out);
  tq_decoder_free(d);
  tq_compressor_free(c);
  return s;
}

static void print_fit(const tq_encode_info *in) {
  const tq_tail_fit *f = &in->fit;
  printf("tail fit: gamma %.4f  g_min %.6g  rho %.5f  beta %.6g  (KS %.4f, %llu tail elements)%s\n",
         f->gamma, f->g_min, f->rho, f->beta, f->ks, (unsigned long long)f->ntail,
         f->ok ? "" : "  [no admissible x_min]");
  printf("data: max|g| %.6g  mean|g| %.6g  non-zero %llu of %llu\n", in->stats.max_abs,
         in->stats.n ? in->stats.sum_abs / (double)in->stats.n : 0.0,
         (unsigned long long)in->stats.nonzero, (unsigned long long)in->stats.n);
}

/* The histogram of |g| the device measured, as densities per unit |g| (count / (n * width)),
 * beside the fitted tail's density of |g| (both sides): 2 rho (gamma-1) g_min^(gamma-1) x^-gamma
 * for x >= g_min. Bin j covers (M r^(j-B), M r^(j+1-B)], r = 10^(1/16) (docs/math.md §9.2). */
static tq_status write_hist(const char *path, const tq_encode_info *in, double alpha, tq_err *e) {
  const tq_tail_stats *st = &in->stats;
  const tq_tail_fit *f = &in->fit;
  if (st->n == 0 || st->max_abs <= 0)
    return tq_fail(e, TQ_EINPUT, "--hist: no histogram was measured (it needs a truncated method "
                                 "with the power-law tail model)");
  FILE *out = fopen(path, "w");
  if (!out) return tq_fail(e, TQ_EIO, "%s: cannot create: %s", path, strerror(errno));
  fprintf(out, "# gamma %.6g g_min %.6g rho %.6g beta %.6g alpha %.6g fit %s n %llu max %.6g\n",
          f->gamma, f->g_min, f->rho, f->beta, alpha, f->ok ? "ok" : "failed",
          (unsigned long long)st->n, st->max_abs);
  fprintf(out, "# lo\thi\tcenter\tcount\tdensity\ttail_model_density\n");
  const double r = pow(10.0, 1.0 / TQ_HIST_BPD);
  for (int j = 0; j < TQ_HIST_BINS; j++) {
    if (!st->hist[j]) continue;
    double lo = st->max_abs * pow(r, j - TQ_HIST_BINS), hi = lo * r, c = sqrt(lo * hi);
    double dens = (double)st->hist[j] / ((double)st->n * (hi - lo));
    double model = f->ok && c >= f->g_min
                       ? 2.0 * f->rho * (f->gamma - 1.0) * pow(f->g_min, f->gamma - 1.0) * pow(c, -f->gamma)
                       : NAN;
    fprintf(out, "%.6g\t%.6g\t%.6g\t%u\t%.6g\t", lo, hi, c, st->hist[j], dens);
    if (isfinite(model))
      fprintf(out, "%.6g\n", model);
    else
      fprintf(out, "?\n");
  }
  if (fclose(out) != 0) return tq_fail(e, TQ_EIO, "%s: write failed", path);
  return TQ_OK;
}

/* What every printed figure is (docs/compression.md, "Reading tailquant quantize"). */
static void print_legend(bool all, tq_alpha_rule rule) {
  printf("\nThe figures:\n"
         "  tail fit     the power-law fit of |g| (docs/math.md section 9): tail index gamma,\n"
         "               tail start g_min, rho = share of elements above g_min, beta = mean|g|\n"
         "               (the Laplace scale),\n"
         "               KS = Kolmogorov-Smirnov distance of the fit over the tail elements\n"
         "  data         max|g|, mean|g| and the non-zero count of the file's d elements\n"
         "  alpha        truncation threshold: the outermost level (truncated family), the cap\n"
         "               of the bucket scales (tpqsgd, not sent: inside the scales); 0 otherwise\n");
  if (!all)
    printf("  design       the rule that made the levels: the fitted power-law model, or the Laplace\n"
           "               rule (and why: too few elements, no fit, gamma <= 3.05, --tail laplace)\n"
           "  design objective  what alpha and the levels minimise under the fitted model:\n"
           "               truncation bias + the rounding variance bound %s x width^2 per\n"
           "               interval. A bound on a model, not a prediction for this data%s\n"
           "  levels       the level table sent (QSGD family: magnitudes, times each bucket's norm)\n",
           rule == TQ_ALPHA_TRUEVAR ? "1/6" : "1/4",
           rule == TQ_ALPHA_TRUEVAR ? ""
                                    : ": the measured\n               MSE is lower, about 2/3 of it "
                                      "where rounding dominates (a bin's\n               mean "
                                      "variance is width^2/6, the bound's 1/4)");
  printf("  header bits  fixed header, level table, per-bucket scales and CRC; payload = d x b;\n"
         "               topk: K's field counts as header, payload = 64 K (index + value)\n"
         "               pad fills the last 32-bit word; bits/elem = 8 x message bytes / d\n"
         "  MSE measured mean of (decoded - g)^2 over the d elements for this seed's one draw of\n"
         "               the stochastic rounding, decoded on the device\n"
         "  MSE exact    its expectation over the rounding for this very data (docs/math.md 2.3):\n"
         "               clipping error plus (x - l_k)(l_k+1 - x) per element; measured differs\n"
         "               from it only by the draw (change --seed to see)\n"
         "  ref          the device's codes equal the plain-C reference's, bit for bit\n");
}

typedef struct quantize_opts {
  const char *method, *file, *device, *hist;
  long bits;
  tq_compress_cfg cfg;
} quantize_opts;

/* One option with its value v; returns -1 when it was read, else the exit code. */
static int parse_valued(quantize_opts *o, const char *a, const char *v) {
  char *end = NULL;
  tq_err e = {0};
  if (!strcmp(a, "--method")) o->method = v;
  else if (!strcmp(a, "--bits")) {
    o->bits = strtol(v, &end, 10);
    if (!*v || *end || o->bits == -999) {
      fprintf(stderr, "tailquant quantize: --bits '%s' is not a number\n", v);
      return 2;
    }
  } else if (!strcmp(a, "--bucket")) {
    long b = strtol(v, &end, 10);
    if (!*v || *end || b < 0 || b > 0x7fffffffL) {
      fprintf(stderr, "tailquant quantize: --bucket '%s' must be an integer >= 0\n", v);
      return 2;
    }
    o->cfg.bucket = (uint32_t)b;
  } else if (!strcmp(a, "--seed")) {
    unsigned long s = strtoul(v, &end, 10);
    if (!*v || *end || s > 0xffffffffUL) {
      fprintf(stderr, "tailquant quantize: --seed '%s' must be an integer in 0..2^32-1\n", v);
      return 2;
    }
    o->cfg.seed = (uint32_t)s;
  } else if (!strcmp(a, "--device")) o->device = v;
  else if (!strcmp(a, "--hist")) o->hist = v;
  else if (!strcmp(a, "--tail")) {
    if (tq_tail_model_from_name(v, &o->cfg.tail, &e))
      return tq_cli_report("quantize", e.code, e.msg);
  } else if (!strcmp(a, "--alpha-rule")) {
    if (tq_alpha_rule_from_name(v, &o->cfg.alpha_rule, &e))
      return tq_cli_report("quantize", e.code, e.msg);
  } else {
    fprintf(stderr, "tailquant quantize: unknown option '%s'\n", a);
    usage(stderr);
    return 2;
  }
  return -1;
}

/* The command line; returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, quantize_opts *o) {
  memset(o, 0, sizeof *o);
  o->device = "auto";
  o->bits = -1;
  tq_compress_cfg_default(&o->cfg);
  o->cfg.min_elems = 0; /* the user asked for this tensor to be quantized, whatever its size */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--zero-level")) {
      o->cfg.zero_level = true;
    } else if (a[0] == '-' && a[1] == '-' && !v) {
      fprintf(stderr, "tailquant quantize: option %s needs a value\n", a);
      return 2;
    } else if (a[0] == '-') {
      int rc = parse_valued(o, a, v);
      if (rc >= 0) return rc;
      i++;
    } else if (o->file) {
      fprintf(stderr, "tailquant quantize: one FILE only ('%s' and '%s')\n", o->file, a);
      return 2;
    } else {
      o->file = a;
    }
  }
  if (!o->method || !o->file || o->bits == -1) {
    usage(stderr);
    return 2;
  }
  return -1;
}

/* The method (or all) and the bits against the table; returns -1 to go on, else the exit
 * code. */
static int check_method(quantize_opts *o, bool *all, tq_method *single) {
  tq_err e = {0};
  *all = !strcmp(o->method, "all");
  *single = TQ_METHOD_NONE;
  if (!*all && tq_method_from_name(o->method, single, &e))
    return tq_cli_report("quantize", e.code, e.msg);
  int lo = 32, hi = 0; /* the widest range any compressing method takes */
  for (int i = 0; i < TQ_METHOD_COUNT; i++) {
    const tq_method_info *mi = tq_method_info_of((tq_method)i);
    if (mi->family == TQ_FAMILY_NONE) continue;
    lo = mi->bits_min < lo ? mi->bits_min : lo;
    hi = mi->bits_max > hi ? mi->bits_max : hi;
  }
  if (o->bits < lo || o->bits > hi) {
    fprintf(stderr, "tailquant quantize: --bits %ld out of range (%d..%d)\n", o->bits, lo, hi);
    return 2;
  }
  o->cfg.bits = (int)o->bits;
  if (!*all && *single != TQ_METHOD_NONE) {
    o->cfg.method = *single;
    if (tq_compress_cfg_check(&o->cfg, &e)) return tq_cli_report("quantize", e.code, e.msg);
  }
  return -1;
}

/* The file's float32 values, every one finite; returns -1 when read, else the exit code. */
static int read_gradients(const char *file, float **gout, size_t *nout) {
  tq_err e = {0};
  char *raw = NULL;
  size_t len = 0;
  /* Bounded by the element count, so /dev/zero or a huge file is refused before any read. */
  if (tq_read_file_max(file, "gradient file (float32)", TQ_QUANTIZE_MAX_ELEMS * 4, &raw, &len, &e))
    return tq_cli_report("quantize", e.code, e.msg);
  if (len == 0 || len % 4 != 0 || len / 4 > UINT32_MAX) {
    fprintf(stderr, "tailquant quantize: %s: %zu bytes is not a positive multiple of 4 (float32)\n",
            file, len);
    free(raw);
    return 2;
  }
  size_t n = len / 4;
  float *g = malloc(4 * n);
  if (!g) {
    free(raw);
    return tq_cli_report("quantize", TQ_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    const uint8_t *p = (const uint8_t *)raw + 4 * i;
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    memcpy(&g[i], &u, 4);
    if (!isfinite(g[i])) {
      fprintf(stderr, "tailquant quantize: %s: element %zu (byte offset %zu) is %g\n", file, i,
              4 * i, g[i]);
      free(raw);
      free(g);
      return 2;
    }
  }
  free(raw);
  *gout = g;
  *nout = n;
  return -1;
}

/* What the method's family adds to the one-method report: the fit and design of a truncated
 * method, the buckets of a bucketed one. */
/* A capped max-norm (TPQSGD) with a finite alpha. */
static bool capped(const row *r) {
  return tq_method_info_of(r->m)->norm == TQ_NORM_MAX_CAPPED && isfinite(r->info.design.alpha);
}

static void print_family_figures(tq_method single, const row *r) {
  const tq_wire_msg *m = &r->msg;
  const tq_design *d = &r->info.design;
  switch (tq_method_family(single)) {
  case TQ_FAMILY_TRUNCATED:
    print_fit(&r->info);
    printf("design: %s%s%s; alpha %.6g", d->laplace ? "Laplace rule" : "power-law model",
           d->laplace ? " (" : "", d->laplace ? d->why : "", m->h.alpha);
    if (d->laplace) printf(")");
    if (single == TQ_METHOD_TBQSGD) printf("; outer intervals per side %d", d->s_out);
    printf("; design objective %.6g (see below)\n", d->model_mse);
    break;
  case TQ_FAMILY_BUCKETED:
    printf("buckets: %u of %u elements (%s norm)\n", m->nbuckets, m->h.bucket,
           tq_bucket_norm_name(tq_method_info_of(single)->norm));
    if (capped(r))
      printf("design (docs/math.md section 15): alpha %.6g = %.4g x max|g|; magnitudes "
             "(j/s)^p, p = %.2f; design objective %.6g\n",
             d->alpha, r->info.stats.max_abs > 0 ? d->alpha / r->info.stats.max_abs : 1.0,
             d->tp_k / 4.0, d->model_mse);
    break;
  case TQ_FAMILY_SPARSE:
    printf("top-k: K = %u of %u elements (u32 index + f32 value each, floor((b*n - 32)/64))\n",
           m->h.k, m->h.count);
    break;
  default: break;
  }
}

/* --method M: every figure of one method. *rc: 1 when the device's codes differ. */
static tq_status report_one(tq_cl *cl, const quantize_opts *o, tq_method single, const float *g,
                            size_t n, tq_buf *msg, float *dec, int *rc, tq_err *e) {
  row r = {.m = single};
  tq_compress_cfg cfg = o->cfg;
  cfg.method = single;
  TQ_TRY(run_one(cl, &cfg, g, n, msg, dec, &r, e));
  const tq_wire_msg *m = &r.msg;
  const bool sign = tq_method_family_info(single)->sign_bit;
  printf("method %s\n", tq_method_name(single));
  print_family_figures(single, &r);
  if (m->h.nlev) {
    printf("levels (%d)%s:", m->h.nlev, sign ? ", magnitudes x scale" : "");
    for (int k = 0; k < m->h.nlev; k++) printf(" %.6g", tq_wire_f32(m->levels, (size_t)k));
    printf("\n");
  }
  printf("bits sent: header %llu + payload %llu + pad %llu = %zu bytes (%.4f bits/element)\n",
         (unsigned long long)m->size.header_bits, (unsigned long long)m->size.payload_bits,
         (unsigned long long)m->size.pad_bits, m->size.total_bytes,
         8.0 * (double)m->size.total_bytes / (double)n);
  printf("per-element MSE: measured %.6g; exact conditional %.6g\n", r.mse, r.exact);
  printf("device codes == plain-C reference: %s\n", r.ref_match ? "yes" : "NO");
  if (!r.ref_match) *rc = 1;
  return o->hist ? write_hist(o->hist, &r.info, m->h.alpha, e) : TQ_OK;
}

/* One line of the --method all table. */
static void print_row(const row *r, size_t n) {
  if (!r->ok) {
    printf("%-8s %s\n", tq_method_name(r->m), r->why);
    return;
  }
  const tq_wire_msg *m = &r->msg;
  char design[64] = "";
  switch (tq_method_family(r->m)) {
  case TQ_FAMILY_TRUNCATED:
    snprintf(design, sizeof design, "%s", r->info.design.laplace ? "Laplace rule" : "power law");
    break;
  case TQ_FAMILY_BUCKETED:
    snprintf(design, sizeof design, "bucket %u", m->h.bucket);
    if (capped(r)) snprintf(design, sizeof design, "bucket %u, p %.2f", m->h.bucket,
                            r->info.design.tp_k / 4.0);
    break;
  case TQ_FAMILY_SPARSE: snprintf(design, sizeof design, "K %u", m->h.k); break;
  default: break;
  }
  /* A capped max-norm's alpha is not on the wire (it is inside the scales): the design's. */
  double alpha = capped(r) ? r->info.design.alpha : (double)m->h.alpha;
  printf("%-8s %5d %11.5g %12llu %10llu %10.4f %12.6g %12.6g %4s  %s\n", tq_method_name(r->m),
         m->h.bits, alpha, (unsigned long long)m->size.header_bits,
         (unsigned long long)m->size.payload_bits, 8.0 * (double)m->size.total_bytes / (double)n,
         r->mse, r->exact, r->ref_match ? "ok" : "DIFF", design);
}

/* --method all: every method of the table at these bits (those that do not take them say
 * why), one line each. *rc: 1 when any device's codes differ. */
static tq_status report_all(tq_cl *cl, const quantize_opts *o, const float *g, size_t n,
                            tq_buf *msg, float *dec, int *rc, tq_err *e) {
  tq_compress_cfg cfg = o->cfg;
  bool fit_printed = false;
  row rows[TQ_METHOD_COUNT];
  memset(rows, 0, sizeof rows);
  for (int i = 0; i < TQ_METHOD_COUNT; i++) {
    cfg.method = (tq_method)i;
    rows[i].m = cfg.method;
    tq_err ce = {0};
    if (tq_compress_cfg_check(&cfg, &ce) != TQ_OK) {
      snprintf(rows[i].why, sizeof rows[i].why, "n/a: %s", ce.msg);
      continue;
    }
    TQ_TRY(run_one(cl, &cfg, g, n, msg, dec, &rows[i], e));
    if (tq_method_family_info(cfg.method)->fits_tail && !fit_printed) {
      print_fit(&rows[i].info);
      fit_printed = true;
    }
  }
  printf("%-8s %5s %11s %12s %10s %10s %12s %12s %4s  %s\n", "method", "bits", "alpha",
         "header bits", "payload", "bits/elem", "MSE measured", "MSE exact", "ref", "design");
  for (int i = 0; i < TQ_METHOD_COUNT; i++) {
    print_row(&rows[i], n);
    if (rows[i].ok && !rows[i].ref_match) *rc = 1;
  }
  const row *h = &rows[hist_method()];
  return o->hist ? write_hist(o->hist, &h->info, h->msg.h.alpha, e) : TQ_OK;
}

int tq_cmd_quantize(int argc, char **argv) {
  quantize_opts o;
  int rc = parse_args(argc, argv, &o);
  bool all = false;
  tq_method single = TQ_METHOD_NONE;
  if (rc < 0) rc = check_method(&o, &all, &single);
  float *g = NULL;
  size_t n = 0;
  if (rc < 0) rc = read_gradients(o.file, &g, &n);
  if (rc >= 0) return rc;
  rc = 0;
  float *dec = malloc(4 * n);
  if (!dec) {
    free(g);
    return tq_cli_report("quantize", TQ_ENOMEM, "out of memory");
  }
  tq_err e = {0};
  tq_cl cl;
  tq_status s = tq_cl_open(&cl, o.device, false, &e);
  if (s != TQ_OK) {
    free(g);
    free(dec);
    return tq_cli_report("quantize", s, e.msg);
  }
  printf("file %s: %zu elements; device %s; bits %d; seed %u; tail model %s; alpha rule %s%s\n",
         o.file, n, cl.info.name, o.cfg.bits, o.cfg.seed, tq_tail_model_name(o.cfg.tail),
         tq_alpha_rule_name(o.cfg.alpha_rule), o.cfg.zero_level ? "; zero level" : "");
  tq_buf msg = {0};
  s = all ? report_all(&cl, &o, g, n, &msg, dec, &rc, &e)
          : report_one(&cl, &o, single, g, n, &msg, dec, &rc, &e);
  if (s == TQ_OK) print_legend(all, o.cfg.alpha_rule);
  tq_buf_free(&msg);
  tq_cl_close(&cl);
  free(g);
  free(dec);
  if (s != TQ_OK) return tq_cli_report("quantize", s, e.msg);
  return rc;
}
