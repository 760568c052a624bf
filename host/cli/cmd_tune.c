/* tailquant tune [--device SPEC] [--model FILE ...] [--batch 64] [--minutes 4] [--dry-run]
 *
 * Runs CLBlast's own tuners (package clblast-utils) for one device at the GEMM shapes the
 * models need, keeps the best parameters of each kernel and stores them in the device's tuning
 * cache (cl/cl_tuning.h), which every later tq_cl_open applies. Then it times each of the
 * models' main GEMM shapes in this process with CLBlast's defaults and with the new parameters
 * and prints both.
 *
 * Each tuner runs within its share of the time budget (cl/cl_tuner.h runs it and reads its
 * output); the shapes are the models' GEMMs that CLBlast will run (nn/gemm.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl/cl_runtime.h"
#include "cl/cl_tuner.h"
#include "cl/cl_tuning.h"
#include "cli/commands.h"
#include "nn/gemm.h"
#include "nn/model.h"
#include "util/fileio.h"

#define MAX_MODELS 8
#define MAX_SHAPES 256

/* CLBlast's tuners and the kernel (database entry) each one tunes. share: of the budget. */
typedef struct tuner {
  const char *exe, *kernel;
  bool gemm;     /* takes -m -n -k (else -m -n) */
  bool indirect; /* serves the indirect GEMM (tuned only if a shape goes that way) */
  double share;
} tuner;

static const tuner tuners[] = {
    {"clblast_tuner_xgemm", "Xgemm", true, true, 0.40},
    {"clblast_tuner_xgemm_direct", "XgemmDirect", true, false, 0.25},
    /* each needs ~10 s before its first candidate on a busy 2-core machine: no smaller */
    {"clblast_tuner_copy_fast", "Copy", false, true, 0.0875},
    {"clblast_tuner_copy_pad", "Pad", false, true, 0.0875},
    {"clblast_tuner_transpose_fast", "Transpose", false, true, 0.0875},
    {"clblast_tuner_transpose_pad", "Padtranspose", false, true, 0.0875},
};

/* CLBlast runs a GEMM with its direct kernel when m*n*k is below XGEMM_MIN_INDIRECT_SIZE^3 and
 * with the padded (indirect) one above. We set that threshold ourselves (GemmRoutine entry) so
 * that the shapes we tune for each kernel are the shapes that will run on it. */
#define INDIRECT_MIN 256

static void usage(FILE *f) {
  fprintf(f,
          "usage: tailquant tune [--device SPEC] [--model FILE ...] [--batch 64] [--minutes 4]\n"
          "                      [--dry-run]\n\n"
          "Runs CLBlast's tuners (clblast_tuner_xgemm, _xgemm_direct, _copy_fast, _copy_pad,\n"
          "_transpose_fast, _transpose_pad) for the device at the GEMM shapes of the models\n"
          "(default: models/lenet5.cfg and models/alexnet_small.cfg), within --minutes in all,\n"
          "and stores the best parameters in the device's tuning cache\n"
          "($XDG_CACHE_HOME or ~/.cache)/tailquant/tuning/, applied whenever the device is opened.\n"
          "Prints the GFLOP/s of the main shapes before and after. --dry-run prints the plan.\n"
          "TAILQUANT_TUNING=off runs any command untuned.\n");
}

static size_t round_up(size_t v, size_t to, size_t lo, size_t hi) {
  v = (v + to - 1) / to * to;
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return v;
}

static double flops(const tq_gemm_shape *g) { return 2.0 * g->m * g->n * g->k; }

static bool is_indirect(const tq_gemm_shape *g) {
  return (double)g->m * g->n * g->k >= (double)INDIRECT_MIN * INDIRECT_MIN * INDIRECT_MIN;
}

/* ---- timing GEMMs in this process ------------------------------------------------------- */

static tq_status time_gemm(const tq_cl *cl, const tq_gemm_shape *g, double *gflops, tq_err *e) {
  cl_mem A = NULL, B = NULL, C = NULL;
  tq_status s = tq_cl_alloc(cl, g->m * g->k * sizeof(float), &A, e);
  if (s == TQ_OK) s = tq_cl_alloc(cl, g->k * g->n * sizeof(float), &B, e);
  if (s == TQ_OK) s = tq_cl_alloc(cl, g->m * g->n * sizeof(float), &C, e);
  if (s == TQ_OK) s = tq_cl_fill_zero(cl, A, 0, g->m * g->k * sizeof(float), e);
  if (s == TQ_OK) s = tq_cl_fill_zero(cl, B, 0, g->k * g->n * sizeof(float), e);
  size_t lda = g->ta ? g->m : g->k, ldb = g->tb ? g->k : g->n;
  cl_command_queue q = cl->queue;
  int reps = 0;
  double t0 = 0, el = 0;
  /* The first call compiles (or loads from POCL's cache): not timed. */
  for (int it = 0; s == TQ_OK; it++) {
    if (it == 1) t0 = tq_now_seconds();
    s = TQ_CLBLAST(CLBlastSgemm(CLBlastLayoutRowMajor, g->ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                                g->tb ? CLBlastTransposeYes : CLBlastTransposeNo, g->m, g->n, g->k,
                                1.0f, A, 0, lda, B, 0, ldb, 0.0f, C, 0, g->n, &q, NULL),
                   e);
    if (s == TQ_OK) s = TQ_CL(clFinish(q), e);
    if (it >= 1) {
      reps++;
      el = tq_now_seconds() - t0;
      if (el > 0.3 && reps >= 2) break;
    }
  }
  *gflops = s == TQ_OK ? flops(g) * reps / el / 1e9 : 0;
  tq_cl_release(&A);
  tq_cl_release(&B);
  tq_cl_release(&C);
  return s;
}

static int by_flops(const void *a, const void *b) {
  double x = flops(a), y = flops(b);
  return x < y ? 1 : x > y ? -1 : 0;
}

/* ---- the command --------------------------------------------------------------------------- */

/* The GEMM shapes of the models that CLBlast will run once tuned (the rest go to the project's
 * kernels), named "<model> <layer> <pass>", largest first. */
static tq_status collect_shapes(const char **models, int nmodels, int batch,
                                const tq_devprofile *prof, tq_gemm_shape *shapes, int *count,
                                tq_err *e) {
  int ns = 0;
  tq_gemm_routing route = tq_gemm_routing_for(prof, true);
  for (int i = 0; i < nmodels; i++) {
    tq_model m;
    TQ_TRY(tq_model_load(models[i], &m, e));
    int first = ns, got = tq_gemm_shapes(&m, batch, shapes + first, MAX_SHAPES - first);
    for (int j = first; j < first + got; j++) {
      tq_gemm_shape g = shapes[j];
      if (tq_gemm_route(&route, g.ta, g.tb, g.m, g.n, g.k) != TQ_GEMM_CLBLAST) continue;
      shapes[ns] = g;
      snprintf(shapes[ns].what, sizeof shapes[ns].what, "%s %s", m.name, g.what);
      ns++;
    }
  }
  qsort(shapes, (size_t)ns, sizeof shapes[0], by_flops);
  *count = ns;
  return TQ_OK;
}

static void print_shapes(const tq_cl_devinfo *d, const char *cache, int batch,
                         const tq_gemm_shape *shapes, int ns) {
  printf("device %d:%d %s (%s)\ncache  %s\n", d->platform_index, d->device_index, d->name,
         d->platform_name, cache);
  printf("GEMM shapes at batch %d that run in CLBlast (M x N x K), by FLOPs, and its kernel:\n",
         batch);
  for (int i = 0; i < ns && i < 12; i++)
    printf("  %-36s %c%c %6zu x %6zu x %6zu  %8.1f MFLOP  %s\n", shapes[i].what,
           shapes[i].ta ? 'T' : 'N', shapes[i].tb ? 'T' : 'N', shapes[i].m, shapes[i].n,
           shapes[i].k, flops(&shapes[i]) / 1e6, is_indirect(&shapes[i]) ? "Xgemm" : "XgemmDirect");
}

/* Opens the device untuned (the user's TAILQUANT_TUNING comes back after) and times the first
 * n shapes with CLBlast's defaults, before anything is overridden in this process. */
static tq_status time_untuned(const char *device, tq_cl *cl, const tq_gemm_shape *shapes, int n,
                              double *gflops, tq_err *e) {
  const char *was = getenv("TAILQUANT_TUNING");
  char *keep = was ? strdup(was) : NULL;
  setenv("TAILQUANT_TUNING", "off", 1);
  tq_status so = tq_cl_open(cl, device, false, e);
  if (keep) setenv("TAILQUANT_TUNING", keep, 1);
  else unsetenv("TAILQUANT_TUNING");
  free(keep);
  TQ_TRY(so);
  for (int i = 0; i < n; i++) {
    tq_status s = time_gemm(cl, &shapes[i], &gflops[i], e);
    if (s != TQ_OK) {
      tq_cl_close(cl);
      return s;
    }
  }
  return TQ_OK;
}

/* The size tuner t runs at for shape g. The indirect kernel needs sizes that are multiples of
 * its tiles (the routine pads to them); the direct one takes any size. Capped so a candidate
 * costs well under a second. */
static void tuner_size(const tuner *t, const tq_gemm_shape *g, size_t *m, size_t *n, size_t *k) {
  *m = t->indirect ? round_up(g->m, 128, 128, 1024) : round_up(g->m, 8, 8, 1024);
  *n = t->indirect ? round_up(g->n, 128, 128, 1024) : round_up(g->n, 8, 8, 2048);
  *k = t->indirect ? round_up(g->k, 128, 128, 1024) : round_up(g->k, 8, 8, 1024);
  if (!t->gemm) { /* the copies move the A and B operands: tune them at the larger */
    *n = t->indirect ? round_up(g->k, 128, 128, 1024) : *n;
    /* clblast_tuner_transpose_fast 1.5.3 crashes ("corrupted double-linked list") unless
     * m == n */
    if (!strcmp(t->kernel, "Transpose")) *m = *n = *m > *n ? *m : *n;
  }
}

/* The measurement a previous run stored for the same kernel at the same size (" at ..." in its
 * note), or 0. */
static double previous_perf(const tq_tuning *tuning, const tq_tuned_kernel *tk) {
  double old_perf = 0;
  for (int j = 0; j < tuning->nkernels; j++) {
    const char *at_old = strstr(tuning->k[j].note, " at "), *at_new = strstr(tk->note, " at ");
    const char *end_old = at_old ? strchr(at_old, ',') : NULL, *end_new = strchr(at_new, ',');
    if (!strcmp(tuning->k[j].kernel, tk->kernel) && at_old && end_old && end_new &&
        end_old - at_old == end_new - at_new && !strncmp(at_old, at_new, (size_t)(end_new - at_new)))
      old_perf = atof(tuning->k[j].note);
  }
  return old_perf;
}

/* Runs tuner t for shape g within secs and keeps its best in tuning, unless a previous run at the
 * same size found something faster (runs add up). Prints one line. */
static tq_status tune_kernel(const tuner *t, const tq_gemm_shape *g, const tq_cl_devinfo *d,
                             double secs, const char *workdir, FILE *log, bool dry,
                             tq_tuning *tuning, tq_err *e) {
  size_t m, n, k;
  tuner_size(t, g, &m, &n, &k);
  if (t->gemm)
    printf("%-30s %-12s at %zu x %zu x %zu, %.0f s ... ", t->exe, t->kernel, m, n, k, secs);
  else
    printf("%-30s %-12s at %zu x %zu, %.0f s ... ", t->exe, t->kernel, m, n, secs);
  fflush(stdout);
  if (dry) {
    printf("(dry run)\n");
    return TQ_OK;
  }
  tq_tuner_job job = {.exe = t->exe, .gemm = t->gemm, .m = m, .n = n, .k = k, .seconds = secs,
                      .workdir = workdir, .log = log};
  tq_tuner_result best;
  TQ_TRY(tq_tuner_run(&job, d, &best, e));
  if (!best.ok) {
    printf("no candidate finished (%ld tried); kernel left as it was\n", best.candidates);
    return TQ_OK;
  }
  tq_tuned_kernel tk;
  memset(&tk, 0, sizeof tk);
  snprintf(tk.kernel, sizeof tk.kernel, "%s", t->kernel);
  tk.precision = 32;
  tk.nparams = best.n;
  for (int j = 0; j < best.n; j++) {
    snprintf(tk.names[j], sizeof tk.names[0], "%s", best.names[j]);
    tk.values[j] = best.values[j];
  }
  if (t->gemm)
    snprintf(tk.note, sizeof tk.note, "%.1f %s at %zux%zux%zu, best of %ld candidates", best.perf,
             best.unit, m, n, k, best.candidates);
  else
    snprintf(tk.note, sizeof tk.note, "%.1f %s at %zux%zu, best of %ld candidates", best.perf,
             best.unit, m, n, best.candidates);
  double old_perf = previous_perf(tuning, &tk);
  if (old_perf > best.perf) {
    printf("%.1f %s (best of %ld); keeping the previous run's %.1f\n", best.perf, best.unit,
           best.candidates, old_perf);
    return TQ_OK;
  }
  printf("%.1f %s (best of %ld)\n", best.perf, best.unit, best.candidates);
  return tq_tuning_set(tuning, &tk, e);
}

/* The GemmRoutine entry (INDIRECT_MIN), the cache file, then the main shapes timed again with
 * the new parameters beside their untuned figures. */
static tq_status store_and_compare(const tq_cl_devinfo *d, const char *cache, const char *logpath,
                                   tq_tuning *tuning, tq_cl *cl, const tq_gemm_shape *shapes,
                                   int ntime, const double *before, tq_err *e) {
  tq_tuned_kernel route;
  memset(&route, 0, sizeof route);
  snprintf(route.kernel, sizeof route.kernel, "GemmRoutine");
  route.precision = 32;
  route.nparams = 1;
  snprintf(route.names[0], sizeof route.names[0], "XGEMM_MIN_INDIRECT_SIZE");
  route.values[0] = INDIRECT_MIN;
  snprintf(route.note, sizeof route.note, "the split the tuned shapes were chosen by");
  TQ_TRY(tq_tuning_set(tuning, &route, e));
  TQ_TRY(tq_tuning_save(cache, tuning, e));
  printf("stored %d kernel(s) in %s (tuner output: %s)\n", tuning->nkernels, cache, logpath);
  int applied = 0;
  tq_status s = tq_tuning_override(d->device, tuning, cache, stderr, &applied, e);
  printf("GFLOP/s of the main shapes, CLBlast defaults -> tuned:\n");
  for (int i = 0; s == TQ_OK && i < ntime; i++) {
    double after = 0;
    s = time_gemm(cl, &shapes[i], &after, e);
    printf("  %-40s %6zu x %6zu x %6zu  %7.1f -> %7.1f  (x%.2f)\n", shapes[i].what, shapes[i].m,
           shapes[i].n, shapes[i].k, before[i], after, before[i] > 0 ? after / before[i] : 0.0);
  }
  return s;
}

/* The device's tuning so far: a previous cache of this device keeps the kernels this run does
 * not tune. */
static void previous_tuning(const tq_cl_devinfo *d, const char *cache, tq_tuning *tuning) {
  memset(tuning, 0, sizeof *tuning);
  tq_tuning_device_key(d, tuning->device_key, sizeof tuning->device_key);
  static tq_tuning old;
  tq_err e2 = {0};
  if (access(cache, F_OK) == 0 && tq_tuning_load(cache, &old, &e2) == TQ_OK &&
      !strcmp(old.device_key, tuning->device_key))
    *tuning = old;
}

/* Every tuner whose kernel serves one of the shapes, each within its share of the budget. */
static tq_status run_tuners(const tq_cl_devinfo *d, const tq_gemm_shape *shapes, int ns,
                            double budget, const char *workdir, FILE *log, bool dry,
                            tq_tuning *tuning, tq_err *e) {
  /* The shape each kernel is tuned at: the one with the most FLOPs among those it will run. */
  const tq_gemm_shape *big_ind = NULL, *big_dir = NULL;
  for (int i = 0; i < ns; i++) {
    if (is_indirect(&shapes[i]) && !big_ind) big_ind = &shapes[i];
    if (!is_indirect(&shapes[i]) && !big_dir) big_dir = &shapes[i];
  }
  double share = 0;
  for (size_t t = 0; t < sizeof tuners / sizeof tuners[0]; t++)
    if (tuners[t].indirect ? big_ind != NULL : big_dir != NULL) share += tuners[t].share;
  for (size_t t = 0; t < sizeof tuners / sizeof tuners[0]; t++) {
    const tuner *tu = &tuners[t];
    const tq_gemm_shape *g = tu->indirect ? big_ind : big_dir;
    if (g)
      TQ_TRY(tune_kernel(tu, g, d, budget * tu->share / share, workdir, log, dry, tuning, e));
  }
  return TQ_OK;
}

static tq_status tune(const char *device, const char **models, int nmodels, int batch,
                      double minutes, bool dry, tq_err *e) {
  tq_cl_devinfo d;
  TQ_TRY(tq_cl_select_device(device, &d, e));
  const tq_devprofile *prof = NULL;
  TQ_TRY(tq_devprofile_choose(d.type, NULL, &prof, e));
  static tq_gemm_shape shapes[MAX_SHAPES];
  int ns = 0;
  TQ_TRY(collect_shapes(models, nmodels, batch, prof, shapes, &ns, e));
  if (ns == 0) {
    printf("no GEMM of these models runs in CLBlast (the small ones run in kernels/nn_gemm.cl): "
           "nothing to tune\n");
    return TQ_OK;
  }
  char cache[2048];
  TQ_TRY(tq_tuning_path(&d, cache, sizeof cache, e));
  print_shapes(&d, cache, batch, shapes, ns);
  int ntime = ns < 6 ? ns : 6;
  double before[6] = {0};
  tq_cl cl;
  if (!dry) TQ_TRY(time_untuned(device, &cl, shapes, ntime, before, e));
  static tq_tuning tuning;
  previous_tuning(&d, cache, &tuning);
  char workdir[] = "/tmp/tailquant-tune-XXXXXX";
  if (!dry && !mkdtemp(workdir)) {
    tq_cl_close(&cl);
    return tq_fail(e, TQ_EIO, "cannot create a scratch folder in /tmp: %s", strerror(errno));
  }
  char logpath[2100];
  snprintf(logpath, sizeof logpath, "%s/tuners.log", workdir);
  FILE *log = dry ? NULL : fopen(logpath, "w");
  tq_status s = run_tuners(&d, shapes, ns, minutes * 60.0, workdir, log, dry, &tuning, e);
  if (log) fclose(log);
  if (dry) return s;
  if (s == TQ_OK)
    s = store_and_compare(&d, cache, logpath, &tuning, &cl, shapes, ntime, before, e);
  tq_cl_close(&cl);
  return s;
}

int tq_cmd_tune(int argc, char **argv) {
  const char *device = "auto", *models[MAX_MODELS];
  int nmodels = 0, batch = 64;
  double minutes = 4;
  bool dry = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--dry-run")) {
      dry = true;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "tailquant tune: unknown option or missing value: '%s'\n", a);
      usage(stderr);
      return 2;
    }
    const char *v = argv[++i];
    char *end;
    if (!strcmp(a, "--device")) {
      device = v;
    } else if (!strcmp(a, "--model")) {
      if (nmodels == MAX_MODELS) {
        fprintf(stderr, "tailquant tune: at most %d --model files\n", MAX_MODELS);
        return 2;
      }
      models[nmodels++] = v;
    } else if (!strcmp(a, "--minutes")) {
      minutes = strtod(v, &end);
      if (*end || !(minutes >= 0.1 && minutes <= 600)) {
        fprintf(stderr, "tailquant tune: --minutes '%s' must be a number from 0.1 to 600\n", v);
        return 2;
      }
    } else if (!strcmp(a, "--batch")) {
      long b = strtol(v, &end, 10);
      if (*end || b < 1 || b > 65536) {
        fprintf(stderr, "tailquant tune: --batch '%s' must be an integer from 1 to 65536\n", v);
        return 2;
      }
      batch = (int)b;
    } else {
      fprintf(stderr, "tailquant tune: unknown option '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (nmodels == 0) {
    models[nmodels++] = "models/lenet5.cfg";
    models[nmodels++] = "models/alexnet_small.cfg";
  }
  tq_err e = {0};
  tq_status s = tune(device, models, nmodels, batch, minutes, dry, &e);
  return tq_cli_report("tune", s, e.msg);
}
