#include "exp/report.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fileio.h"

/* ---- summary.json (the flat object exp/metrics.c writes) -------------------------------- */

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

static int method_rank(const char *m) {
  const char *order[] = {"none", "qsgd", "qsgdinf", "nuqsgd", "tqsgd", "tnqsgd", "tbqsgd"};
  for (int i = 0; i < 7; i++)
    if (!strcmp(order[i], m)) return i;
  return 7;
}

static int cmp_runs(const void *a, const void *b) {
  const tq_run_summary *x = a, *y = b;
  int c = strcmp(x->experiment, y->experiment);
  if (c) return c;
  c = strcmp(x->model, y->model);
  if (c) return c;
  if (x->bits != y->bits) return x->bits - y->bits;
  c = method_rank(x->method) - method_rank(y->method);
  if (c) return c;
  return x->seed - y->seed;
}

static bool same_group(const tq_run_summary *a, const tq_run_summary *b) {
  return !strcmp(a->experiment, b->experiment) && !strcmp(a->model, b->model) &&
         !strcmp(a->method, b->method) && a->bits == b->bits;
}

static void mean_sd(const double *v, int n, double *mean, double *sd) {
  double s = 0, q = 0;
  for (int i = 0; i < n; i++) s += v[i];
  *mean = s / n;
  for (int i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
  *sd = n > 1 ? sqrt(q / (n - 1)) : 0; /* sample standard deviation over seeds */
}

void tq_report_markdown(const tq_run_summary *in, int n, FILE *out) {
  tq_run_summary *r = malloc((size_t)n * sizeof *r);
  if (!r) return;
  memcpy(r, in, (size_t)n * sizeof *r);
  qsort(r, (size_t)n, sizeof *r, cmp_runs);
  fprintf(out, "| experiment | model | method | bits | runs | final test acc. %% | best test acc. %% "
               "| uplink bits | compression | quant. MSE | sim. time to target |\n");
  fprintf(out, "|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int i = 0; i < n;) {
    int j = i;
    while (j < n && same_group(&r[i], &r[j])) j++;
    int k = j - i;
    double fa[256], ba[256], bits = 0, ratio = 0, mse = 0, t2t = 0, fm, fs, bm, bs;
    int reached = 0, nmse = 0;
    for (int q = 0; q < k && q < 256; q++) {
      fa[q] = 100 * r[i + q].final_acc;
      ba[q] = 100 * r[i + q].best_acc;
      bits += r[i + q].bits_total / k;
      ratio += r[i + q].ratio / k;
      if (isfinite(r[i + q].mse)) {
        mse += r[i + q].mse;
        nmse++;
      }
      if (isfinite(r[i + q].time_to_target)) {
        t2t += r[i + q].time_to_target;
        reached++;
      }
    }
    mean_sd(fa, k < 256 ? k : 256, &fm, &fs);
    mean_sd(ba, k < 256 ? k : 256, &bm, &bs);
    char tt[96];
    if (reached == k)
      snprintf(tt, sizeof tt, "%.1f s to %.0f %%", t2t / reached, 100 * r[i].target);
    else
      snprintf(tt, sizeof tt, "%d of %d reached %.0f %%", reached, k, 100 * r[i].target);
    char msebuf[32] = "–";
    if (nmse) snprintf(msebuf, sizeof msebuf, "%.3g", mse / nmse);
    fprintf(out, "| %s | %s | %s | %d | %d | %.2f ± %.2f | %.2f ± %.2f | %.3g | %.1fx | %s | %s |\n",
            r[i].experiment, r[i].model, r[i].method, r[i].bits, k, fm, fs, bm, bs, bits, ratio, msebuf, tt);
    i = j;
  }
  free(r);
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

tq_status tq_report_curves(const tq_run_summary *in, int n, const char *dir, tq_err *e) {
  TQ_TRY(tq_mkdirs(dir, e));
  tq_run_summary *r = malloc((size_t)n * sizeof *r);
  if (!r) return tq_fail(e, TQ_ENOMEM, "out of memory");
  memcpy(r, in, (size_t)n * sizeof *r);
  qsort(r, (size_t)n, sizeof *r, cmp_runs);
  char path[1200];
  snprintf(path, sizeof path, "%s/mse.tsv", dir);
  FILE *mf = fopen(path, "w");
  tq_status s = mf ? TQ_OK : tq_fail(e, TQ_EIO, "%s: cannot create", path);
  if (mf) fprintf(mf, "# experiment\tmodel\tmethod\tbits\tmean_quant_mse\n");
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
      fprintf(mf, "%s\t%s\t%s\t%d\t%.6g\n", r[i].experiment, r[i].model, r[i].method, r[i].bits, mse / nmse);
    FILE *f = NULL;
    if (s == TQ_OK) {
      snprintf(path, sizeof path, "%s/curves_%s_%s_b%d_%s.tsv", dir, r[i].experiment, r[i].model,
               r[i].bits, r[i].method);
      f = fopen(path, "w");
      if (!f) s = tq_fail(e, TQ_EIO, "%s: cannot create", path);
    }
    if (f) {
      fprintf(f, "# %s, %s at %d bits, %d run(s); '?' where not evaluated\n"
                 "# iteration\tloss_mean\tloss_min\tloss_max\tacc_mean\tacc_min\tacc_max\tuplink_mbit_mean\n",
              r[i].model, r[i].method, r[i].bits, k);
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
        fprintf(f, "%d\t%.6g\t%.6g\t%.6g\t", t + 1, lm, lmin, lmax);
        if (evaluated)
          fprintf(f, "%.6g\t%.6g\t%.6g", 100 * am, 100 * amin, 100 * amax);
        else
          fprintf(f, "?\t?\t?");
        fprintf(f, "\t%.6g\n", bm);
      }
      if (fclose(f) != 0) s = tq_fail(e, TQ_EIO, "%s: write failed", path);
    }
    for (int q = 0; ss && q < k; q++) free_series(&ss[q]);
    free(ss);
    i = j;
  }
  if (mf && fclose(mf) != 0 && s == TQ_OK) s = tq_fail(e, TQ_EIO, "%s/mse.tsv: write failed", dir);
  free(r);
  return s;
}
