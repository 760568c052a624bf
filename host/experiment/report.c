#include "experiment/report.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compress/method.h"
#include "util/fileio.h"

/* ---- summary.json (the flat object experiment/metrics.c writes) -------------------------------- */

static const char *field(const char *json, const char *key) {
  char k[96];
  snprintf(k, sizeof k, "\"%s\": ", key);
  const char *p = strstr(json, k);
  return p ? p + strlen(k) : NULL;
}

static tq_status num(const char *json, const char *path, const char *key, bool nullable,
                     double *out, tq_err *e) {
  const char *p = field(json, key);
  if (!p) return tq_fail(e, TQ_EINPUT, "%s: no \"%s\"", path, key);
  if (!strncmp(p, "null", 4)) {
    if (!nullable) return tq_fail(e, TQ_EINPUT, "%s: \"%s\" is null", path, key);
    *out = NAN;
    return TQ_OK;
  }
  char *end;
  *out = strtod(p, &end);
  if (end == p) return tq_fail(e, TQ_EINPUT, "%s: \"%s\" is not a number", path, key);
  return TQ_OK;
}

static tq_status str(const char *json, const char *path, const char *key, char *out, size_t cap,
                     tq_err *e) {
  const char *p = field(json, key);
  if (!p || *p != '"') return tq_fail(e, TQ_EINPUT, "%s: no string \"%s\"", path, key);
  const char *q = strchr(p + 1, '"');
  if (!q || (size_t)(q - p - 1) >= cap) return tq_fail(e, TQ_EINPUT, "%s: bad \"%s\"", path, key);
  snprintf(out, cap, "%.*s", (int)(q - p - 1), p + 1);
  return TQ_OK;
}

static double iterations_to_target(const tq_run_summary *r);

static tq_status read_summary(const char *dir, const char *path, tq_run_summary *r, bool *complete,
                              tq_err *e) {
  char *json = NULL;
  size_t len;
  TQ_TRY(tq_read_file(path, &json, &len, e));
  memset(r, 0, sizeof *r);
  snprintf(r->dir, sizeof r->dir, "%s", dir);
  char status[32] = "";
  tq_status s = str(json, path, "status", status, sizeof status, e);
  *complete = s == TQ_OK && !strcmp(status, "complete");
  double v[9];
  if (s == TQ_OK && *complete) {
    s = str(json, path, "model", r->model, sizeof r->model, e);
    if (s == TQ_OK) s = str(json, path, "method", r->method, sizeof r->method, e);
    if (s == TQ_OK) s = str(json, path, "experiment", r->experiment, sizeof r->experiment, e);
    if (s == TQ_OK) s = str(json, path, "variant", r->variant, sizeof r->variant, e);
    /* optional: summaries written before the provenance fields have none */
    if (s == TQ_OK && str(json, path, "dataset", r->dataset, sizeof r->dataset, NULL) != TQ_OK)
      snprintf(r->dataset, sizeof r->dataset, "-");
    const char *keys[9] = {"bits", "seed", "workers", "iterations", "final_test_accuracy",
                           "best_test_accuracy", "uplink_bits_total", "compression_ratio", "seconds"};
    for (int i = 0; s == TQ_OK && i < 9; i++) s = num(json, path, keys[i], false, &v[i], e);
    if (s == TQ_OK) s = num(json, path, "sim_time_to_target_s", true, &r->time_to_target, e);
    if (s == TQ_OK) s = num(json, path, "target_accuracy", false, &r->target, e);
    if (s == TQ_OK) s = num(json, path, "mean_quant_mse", true, &r->mse, e);
  }
  free(json);
  if (s != TQ_OK || !*complete) return s;
  r->bits = (int)v[0];
  r->seed = (int)v[1];
  r->workers = (int)v[2];
  r->iterations = (int)v[3];
  r->final_acc = v[4];
  r->best_acc = v[5];
  r->bits_total = v[6];
  r->ratio = v[7];
  r->seconds = v[8];
  r->iters_to_target = iterations_to_target(r);
  return TQ_OK;
}

typedef struct run_list {
  tq_run_summary *r;
  int n, cap;
} run_list;

static tq_status scan(const char *dir, run_list *l, int depth, tq_err *e) {
  if (depth > 8) return TQ_OK;
  DIR *d = opendir(dir);
  if (!d) return tq_fail(e, TQ_EINPUT, "%s: cannot open folder: %s", dir, strerror(errno));
  struct dirent *de;
  tq_status s = TQ_OK;
  /* names sorted, so the report does not depend on the file system's order */
  char **names = NULL;
  int nn = 0, cap = 0;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    if (nn == cap) {
      cap = cap ? 2 * cap : 32;
      char **t = realloc(names, (size_t)cap * sizeof *t);
      if (!t) break;
      names = t;
    }
    names[nn++] = strdup(de->d_name);
  }
  closedir(d);
  for (int i = 0; i < nn; i++)
    for (int j = i + 1; j < nn; j++)
      if (strcmp(names[i], names[j]) > 0) {
        char *t = names[i];
        names[i] = names[j];
        names[j] = t;
      }
  for (int i = 0; i < nn && s == TQ_OK; i++) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat st;
    if (stat(path, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      s = scan(path, l, depth + 1, e);
    } else if (!strcmp(names[i], "summary.json")) {
      if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        tq_run_summary *t = realloc(l->r, (size_t)l->cap * sizeof *t);
        if (!t) {
          s = tq_fail(e, TQ_ENOMEM, "out of memory");
          break;
        }
        l->r = t;
      }
      bool complete = false;
      s = read_summary(dir, path, &l->r[l->n], &complete, e);
      if (s == TQ_OK && complete) l->n++;
    }
  }
  for (int i = 0; i < nn; i++) free(names[i]);
  free(names);
  return s;
}

tq_status tq_report_scan(const char *dir, tq_run_summary **runs, int *n, tq_err *e) {
  run_list l = {0};
  tq_status s = scan(dir, &l, 0, e);
  if (s == TQ_OK && l.n == 0) s = tq_fail(e, TQ_EINPUT, "%s: no complete run (no summary.json with \"status\": \"complete\")", dir);
  if (s != TQ_OK) {
    free(l.r);
    return s;
  }
  *runs = l.r;
  *n = l.n;
  return TQ_OK;
}

/* ---- grouping -------------------------------------------------------------------------- */

/* The order of the method table (host/compress/method.c); unknown names after it. */
static int method_rank(const char *m) {
  const tq_method_info *mi = tq_method_info_by_name(m);
  return mi ? (int)mi->method : TQ_METHOD_COUNT;
}

static int cmp_runs(const void *a, const void *b) {
  const tq_run_summary *x = a, *y = b;
  int c = strcmp(x->experiment, y->experiment);
  if (c) return c;
  c = strcmp(x->dataset, y->dataset);
  if (c) return c;
  c = strcmp(x->model, y->model);
  if (c) return c;
  if (x->bits != y->bits) return x->bits - y->bits;
  c = method_rank(x->method) - method_rank(y->method);
  if (c) return c;
  return x->seed - y->seed;
}

static bool same_group(const tq_run_summary *a, const tq_run_summary *b) {
  return !strcmp(a->experiment, b->experiment) && !strcmp(a->dataset, b->dataset) &&
         !strcmp(a->model, b->model) &&
         !strcmp(a->method, b->method) && a->bits == b->bits;
}

static void mean_sd(const double *v, int n, double *mean, double *sd) {
  double s = 0, q = 0;
  for (int i = 0; i < n; i++) s += v[i];
  *mean = s / n;
  for (int i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
  *sd = n > 1 ? sqrt(q / (n - 1)) : 0; /* sample standard deviation over seeds */
}

tq_status tq_report_format_from_name(const char *name, tq_report_format *out, tq_err *e) {
  if (!strcmp(name, "md") || !strcmp(name, "markdown")) *out = TQ_REPORT_MD;
  else if (!strcmp(name, "csv")) *out = TQ_REPORT_CSV;
  else if (!strcmp(name, "json")) *out = TQ_REPORT_JSON;
  else return tq_fail(e, TQ_EINPUT, "--format '%s': use md, csv or json", name);
  return TQ_OK;
}

/* One row of the table: a group's aggregates. sd is NaN with one run; mse NaN when no run
 * measured it; t2t (simulated seconds) and i2t (iterations) to the target NaN unless every run
 * reached it, i2t_sd NaN with one run. */
typedef struct group_row {
  const tq_run_summary *first;
  int runs, it_min, it_max, reached;
  double final_m, final_sd, best_m, best_sd, bits, ratio, mse, t2t, i2t, i2t_sd;
} group_row;

static group_row aggregate(const tq_run_summary *r, int k) {
  group_row g = {.first = r, .runs = k, .it_min = r[0].iterations, .it_max = r[0].iterations};
  double *fa = malloc((size_t)k * sizeof *fa), *ba = malloc((size_t)k * sizeof *ba);
  double *ia = malloc((size_t)k * sizeof *ia);
  double mse = 0, t2t = 0;
  int nmse = 0, ni = 0;
  for (int q = 0; q < k; q++) {
    if (fa) fa[q] = 100 * r[q].final_acc;
    if (ba) ba[q] = 100 * r[q].best_acc;
    g.bits += r[q].bits_total / k;
    g.ratio += r[q].ratio / k;
    if (r[q].iterations < g.it_min) g.it_min = r[q].iterations;
    if (r[q].iterations > g.it_max) g.it_max = r[q].iterations;
    if (isfinite(r[q].mse)) {
      mse += r[q].mse;
      nmse++;
    }
    if (isfinite(r[q].time_to_target)) {
      t2t += r[q].time_to_target;
      g.reached++;
    }
    if (ia && isfinite(r[q].iters_to_target)) ia[ni++] = r[q].iters_to_target;
  }
  g.i2t = g.i2t_sd = NAN;
  if (ia && ni == k) mean_sd(ia, k, &g.i2t, &g.i2t_sd);
  if (k < 2) g.i2t_sd = NAN;
  free(ia);
  if (fa && ba) {
    mean_sd(fa, k, &g.final_m, &g.final_sd);
    mean_sd(ba, k, &g.best_m, &g.best_sd);
  }
  if (k < 2) g.final_sd = g.best_sd = NAN; /* no deviation from one run */
  g.mse = nmse ? mse / nmse : NAN;
  g.t2t = g.reached == k ? t2t / k : NAN;
  free(fa);
  free(ba);
  return g;
}

static void csv_str(FILE *out, const char *v) {
  if (!strpbrk(v, ",\"\n")) {
    fputs(v, out);
    return;
  }
  fputc('"', out);
  for (const char *p = v; *p; p++) {
    if (*p == '"') fputc('"', out);
    fputc(*p, out);
  }
  fputc('"', out);
}

static void json_str(FILE *out, const char *v) {
  fputc('"', out);
  for (const char *p = v; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
    else if ((unsigned char)*p < 0x20) fprintf(out, "\\u%04x", (unsigned char)*p);
    else fputc(*p, out);
  }
  fputc('"', out);
}

/* A number for CSV (empty when not a number) or JSON (null then). */
static void num_out(FILE *out, double v, const char *fmt, bool json) {
  if (isfinite(v)) fprintf(out, fmt, v);
  else if (json) fputs("null", out);
}

static void row_md(const group_row *g, FILE *out) {
  const tq_run_summary *r = g->first;
  char iters[48], fs[16] = "n/a", bs[16] = "n/a", tt[96], msebuf[32] = "–", it2[48] = "–";
  if (g->it_min == g->it_max) snprintf(iters, sizeof iters, "%d", g->it_min);
  else snprintf(iters, sizeof iters, "%d–%d", g->it_min, g->it_max);
  if (isfinite(g->final_sd)) snprintf(fs, sizeof fs, "%.2f", g->final_sd);
  if (isfinite(g->best_sd)) snprintf(bs, sizeof bs, "%.2f", g->best_sd);
  if (g->reached == g->runs)
    snprintf(tt, sizeof tt, "%.1f s to %.0f %%", g->t2t, 100 * r->target);
  else
    snprintf(tt, sizeof tt, "%d of %d reached %.0f %%", g->reached, g->runs, 100 * r->target);
  if (isfinite(g->mse)) snprintf(msebuf, sizeof msebuf, "%.3g", g->mse);
  if (isfinite(g->i2t_sd)) snprintf(it2, sizeof it2, "%.1f ± %.1f", g->i2t, g->i2t_sd);
  else if (isfinite(g->i2t)) snprintf(it2, sizeof it2, "%.0f ± n/a", g->i2t);
  fprintf(out, "| %s | %s | %s | %s | %d | %d | %s | %.2f ± %s | %.2f ± %s | %.3g | %.1fx | %s | %s | %s |\n",
          r->experiment, r->dataset, r->model, r->method, r->bits, g->runs, iters, g->final_m, fs,
          g->best_m, bs, g->bits, g->ratio, msebuf, tt, it2);
}

static void row_csv(const group_row *g, FILE *out) {
  const tq_run_summary *r = g->first;
  const char *keys[4] = {r->experiment, r->dataset, r->model, r->method};
  for (int i = 0; i < 4; i++) {
    csv_str(out, keys[i]);
    fputc(',', out);
  }
  fprintf(out, "%d,%d,%d,%d,", r->bits, g->runs, g->it_min, g->it_max);
  double v[9] = {g->final_m, g->final_sd, g->best_m, g->best_sd, g->bits, g->ratio, g->mse,
                 r->target, g->t2t};
  for (int i = 0; i < 9; i++) {
    num_out(out, v[i], "%.6g", false);
    fputc(',', out);
  }
  fprintf(out, "%d,", g->reached);
  num_out(out, g->i2t, "%.6g", false);
  fputc(',', out);
  num_out(out, g->i2t_sd, "%.6g", false);
  fputc('\n', out);
}

static void row_json(const group_row *g, FILE *out, bool first) {
  const tq_run_summary *r = g->first;
  fprintf(out, "%s\n  {", first ? "" : ",");
  const char *sk[4] = {"experiment", "dataset", "model", "method"};
  const char *sv[4] = {r->experiment, r->dataset, r->model, r->method};
  for (int i = 0; i < 4; i++) {
    fprintf(out, "\"%s\": ", sk[i]);
    json_str(out, sv[i]);
    fputs(", ", out);
  }
  fprintf(out, "\"bits\": %d, \"runs\": %d, \"iterations_min\": %d, \"iterations_max\": %d", r->bits,
          g->runs, g->it_min, g->it_max);
  const char *nk[9] = {"final_test_accuracy_mean", "final_test_accuracy_sd", "best_test_accuracy_mean",
                       "best_test_accuracy_sd", "uplink_bits_mean", "compression_ratio_mean",
                       "quant_mse_mean", "target_accuracy", "sim_time_to_target_mean_s"};
  double nv[9] = {g->final_m, g->final_sd, g->best_m, g->best_sd, g->bits, g->ratio, g->mse,
                  r->target, g->t2t};
  for (int i = 0; i < 9; i++) {
    fprintf(out, ", \"%s\": ", nk[i]);
    num_out(out, nv[i], "%.9g", true);
  }
  fprintf(out, ", \"runs_reaching_target\": %d, \"iterations_to_target_mean\": ", g->reached);
  num_out(out, g->i2t, "%.9g", true);
  fputs(", \"iterations_to_target_sd\": ", out);
  num_out(out, g->i2t_sd, "%.9g", true);
  fputc('}', out);
}

void tq_report_table(const tq_run_summary *in, int n, tq_report_format f, FILE *out) {
  tq_run_summary *r = malloc((size_t)n * sizeof *r);
  if (!r) return;
  memcpy(r, in, (size_t)n * sizeof *r);
  qsort(r, (size_t)n, sizeof *r, cmp_runs);
  if (f == TQ_REPORT_MD) {
    fprintf(out, "| experiment | dataset | model | method | bits | runs | iterations | final test acc. %% "
                 "| best test acc. %% | uplink bits | compression | quant. MSE | sim. time to target "
                 "| iterations to target |\n");
    fprintf(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  } else if (f == TQ_REPORT_CSV) {
    fprintf(out, "experiment,dataset,model,method,bits,runs,iterations_min,iterations_max,"
                 "final_test_accuracy_mean,final_test_accuracy_sd,best_test_accuracy_mean,"
                 "best_test_accuracy_sd,uplink_bits_mean,compression_ratio_mean,quant_mse_mean,"
                 "target_accuracy,sim_time_to_target_mean_s,runs_reaching_target,"
                 "iterations_to_target_mean,iterations_to_target_sd\n");
  } else {
    fputc('[', out);
  }
  bool first = true;
  for (int i = 0; i < n;) {
    int j = i;
    while (j < n && same_group(&r[i], &r[j])) j++;
    group_row g = aggregate(&r[i], j - i);
    if (f == TQ_REPORT_MD) row_md(&g, out);
    else if (f == TQ_REPORT_CSV) row_csv(&g, out);
    else row_json(&g, out, first);
    first = false;
    i = j;
  }
  if (f == TQ_REPORT_JSON) fputs("\n]\n", out);
  free(r);
}

void tq_report_markdown(const tq_run_summary *runs, int n, FILE *out) {
  tq_report_table(runs, n, TQ_REPORT_MD, out);
}

/* ---- curves ---------------------------------------------------------------------------- */

typedef struct series {
  int n;
  double *loss, *acc, *bits; /* per iteration (index = iteration - 1); acc NaN if not evaluated */
} series;

static int column(const char *header, const char *name) {
  int c = 0;
  size_t nl = strlen(name);
  for (const char *p = header; *p; c++) {
    const char *q = strpbrk(p, ",\n");
    size_t len = q ? (size_t)(q - p) : strlen(p);
    if (len == nl && !strncmp(p, name, nl)) return c;
    if (!q || *q == '\n') break;
    p = q + 1;
  }
  return -1;
}

static tq_status read_series(const char *dir, series *s, tq_err *e) {
  char path[1100];
  snprintf(path, sizeof path, "%s/metrics.csv", dir);
  char *text = NULL;
  size_t len;
  TQ_TRY(tq_read_file(path, &text, &len, e));
  int ci = column(text, "iteration"), cl = column(text, "loss"), ca = column(text, "test_accuracy"),
      cb = column(text, "bits_total");
  if (ci < 0 || cl < 0 || ca < 0 || cb < 0) {
    free(text);
    return tq_fail(e, TQ_EINPUT, "%s: a column is missing (iteration, loss, test_accuracy, bits_total)", path);
  }
  int rows = 0;
  for (char *p = text; *p; p++) rows += *p == '\n';
  s->loss = calloc((size_t)rows + 1, sizeof(double));
  s->acc = calloc((size_t)rows + 1, sizeof(double));
  s->bits = calloc((size_t)rows + 1, sizeof(double));
  s->n = 0;
  tq_status st = (s->loss && s->acc && s->bits) ? TQ_OK : tq_fail(e, TQ_ENOMEM, "out of memory");
  char *line = strchr(text, '\n');
  int lineno = 1;
  while (st == TQ_OK && line && line[1]) {
    line++;
    lineno++;
    char *next = strchr(line, '\n');
    if (next) *next = '\0';
    double it = NAN, loss = NAN, acc = NAN, bits = NAN;
    int c = 0;
    for (char *p = line;; c++) {
      char *q = strchr(p, ',');
      if (q) *q = '\0';
      double v = *p ? strtod(p, NULL) : NAN;
      if (c == ci) it = v;
      if (c == cl) loss = v;
      if (c == ca) acc = v;
      if (c == cb) bits = v;
      if (!q) break;
      p = q + 1;
    }
    if (!(it == s->n + 1)) {
      st = tq_fail(e, TQ_EINPUT, "%s:%d: iteration %g out of sequence", path, lineno, it);
      break;
    }
    s->loss[s->n] = loss;
    s->acc[s->n] = acc;
    s->bits[s->n] = bits;
    s->n++;
    line = next;
  }
  free(text);
  return st;
}

static void free_series(series *s) {
  free(s->loss);
  free(s->acc);
  free(s->bits);
}

/* The first evaluated iteration at which the test accuracy reached the target (NaN: never, or
 * no readable metrics.csv). Deterministic, unlike the simulated time to the target, which adds
 * measured compute times and so moves with the machine's load. */
static double iterations_to_target(const tq_run_summary *r) {
  series s = {0};
  double it = NAN;
  if (read_series(r->dir, &s, NULL) == TQ_OK)
    for (int i = 0; i < s.n && isnan(it); i++)
      if (isfinite(s.acc[i]) && s.acc[i] >= r->target) it = i + 1;
  free_series(&s);
  return it;
}

tq_status tq_report_curves(const tq_run_summary *in, int n, const char *dir, tq_err *e) {
  TQ_TRY(tq_mkdirs(dir, e));
  tq_run_summary *r = malloc((size_t)n * sizeof *r);
  if (!r) return tq_fail(e, TQ_ENOMEM, "out of memory");
  memcpy(r, in, (size_t)n * sizeof *r);
  qsort(r, (size_t)n, sizeof *r, cmp_runs);
  char path[1200];
  snprintf(path, sizeof path, "%s/mse.csv", dir);
  FILE *mf = fopen(path, "w");
  tq_status s = mf ? TQ_OK : tq_fail(e, TQ_EIO, "%s: cannot create", path);
  if (mf) fprintf(mf, "experiment,dataset,model,method,bits,mean_quant_mse\n");
  for (int i = 0; s == TQ_OK && i < n;) {
    int j = i;
    while (j < n && same_group(&r[i], &r[j])) j++;
    int k = j - i, len = -1;
    series *ss = calloc((size_t)k, sizeof *ss);
    if (!ss) s = tq_fail(e, TQ_ENOMEM, "out of memory");
    double mse = 0;
    int nmse = 0;
    for (int q = 0; s == TQ_OK && q < k; q++) {
      s = read_series(r[i + q].dir, &ss[q], e);
      if (s == TQ_OK && (len < 0 || ss[q].n < len)) len = ss[q].n;
      if (isfinite(r[i + q].mse)) {
        mse += r[i + q].mse;
        nmse++;
      }
    }
    if (s == TQ_OK && nmse)
      fprintf(mf, "%s,%s,%s,%s,%d,%.6g\n", r[i].experiment, r[i].dataset, r[i].model, r[i].method,
              r[i].bits, mse / nmse);
    FILE *f = NULL;
    if (s == TQ_OK) {
      snprintf(path, sizeof path, "%s/curves_%s_%s_%s_b%d_%s.csv", dir, r[i].experiment,
               r[i].dataset, r[i].model, r[i].bits, r[i].method);
      f = fopen(path, "w");
      if (!f) s = tq_fail(e, TQ_EIO, "%s: cannot create", path);
    }
    if (f) {
      /* A plain CSV header row and empty fields where not evaluated: pandas.read_csv reads it
       * as it is; the group's keys ride along so that files concatenate. */
      fprintf(f, "iteration,loss_mean,loss_min,loss_max,acc_mean,acc_min,acc_max,uplink_mbit_mean,"
                 "runs,experiment,dataset,model,method,bits\n");
      for (int t = 0; t < len; t++) {
        double lm = 0, lmin = INFINITY, lmax = -INFINITY, am = 0, amin = INFINITY, amax = -INFINITY, bm = 0;
        bool evaluated = true;
        for (int q = 0; q < k; q++) {
          double l = ss[q].loss[t], a = ss[q].acc[t];
          lm += l / k;
          lmin = fmin(lmin, l);
          lmax = fmax(lmax, l);
          bm += ss[q].bits[t] / 1e6 / k;
          if (!isfinite(a)) evaluated = false;
          am += a / k;
          amin = fmin(amin, a);
          amax = fmax(amax, a);
        }
        fprintf(f, "%d,%.6g,%.6g,%.6g,", t + 1, lm, lmin, lmax);
        if (evaluated)
          fprintf(f, "%.6g,%.6g,%.6g", 100 * am, 100 * amin, 100 * amax);
        else
          fprintf(f, ",,");
        fprintf(f, ",%.6g,%d,", bm, k);
        csv_str(f, r[i].experiment);
        fputc(',', f);
        csv_str(f, r[i].dataset);
        fputc(',', f);
        csv_str(f, r[i].model);
        fprintf(f, ",%s,%d\n", r[i].method, r[i].bits);
      }
      if (fclose(f) != 0) s = tq_fail(e, TQ_EIO, "%s: write failed", path);
    }
    for (int q = 0; ss && q < k; q++) free_series(&ss[q]);
    free(ss);
    i = j;
  }
  if (mf && fclose(mf) != 0 && s == TQ_OK) s = tq_fail(e, TQ_EIO, "%s/mse.csv: write failed", dir);
  free(r);
  return s;
}
