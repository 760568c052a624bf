/* tailquant tune [--device SPEC] [--model FILE ...] [--batch 64] [--minutes 4] [--dry-run]
 *
 * Runs CLBlast's own tuners (package clblast-utils) for one device at the GEMM shapes the
 * models need, keeps the best parameters of each kernel and stores them in the device's tuning
 * cache (cl/cl_tuning.h), which every later tq_cl_open applies. Then it times each of the
 * models' main GEMM shapes in this process with CLBlast's defaults and with the new parameters
 * and prints both.
 *
 * The tuners print one table row per candidate as they go; this command reads those rows and
 * stops a tuner at its share of the time budget, keeping the best row seen, so the budget holds
 * whatever the tuner's own search size. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cl/cl_runtime.h"
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

/* ---- running one tuner ------------------------------------------------------------------ */

typedef struct tuned {
  bool ok;
  int n;
  char names[TQ_TUNE_MAX_PARAMS][24];
  size_t values[TQ_TUNE_MAX_PARAMS];
  double perf;
  long candidates;
  char unit[16];
} tuned;

/* Reads the tuner's output line by line until it exits or the deadline passes (then it is
 * stopped). Keeps the best row that matched the reference. */
static void follow(int fd, pid_t pid, double deadline, tuned *best, FILE *log) {
  char buf[8192];
  size_t len = 0;
  char names[TQ_TUNE_MAX_PARAMS][24];
  int nnames = 0;
  bool stopped = false;
  for (;;) {
    double left = deadline - tq_now_seconds();
    if (left <= 0 && !stopped) {
      kill(pid, SIGTERM);
      stopped = true;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, stopped ? 2000 : (int)fmin(left * 1000 + 1, 1000));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      if (stopped) break;
      continue;
    }
    ssize_t got = read(fd, buf + len, sizeof buf - 1 - len);
    if (got <= 0) break;
    len += (size_t)got;
    buf[len] = '\0';
    char *line = buf, *nl;
    while ((nl = strchr(line, '\n'))) {
      *nl = '\0';
      const char *pe = strstr(line, "Parameters explored:");
      if (pe) {
        nnames = 0;
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s", pe + 20);
        char *save = NULL;
        for (char *t = strtok_r(tmp, " \t\x1b", &save); t && nnames < TQ_TUNE_MAX_PARAMS;
             t = strtok_r(NULL, " \t\x1b", &save))
          if (t[0] != '[') snprintf(names[nnames++], sizeof names[0], "%s", t);
      }
      if (strstr(line, "GFLOPS")) snprintf(best->unit, sizeof best->unit, "GFLOPS");
      if (strstr(line, "GB/s") && !best->unit[0]) snprintf(best->unit, sizeof best->unit, "GB/s");
      size_t v[TQ_TUNE_MAX_PARAMS];
      int n = 0;
      double perf = 0;
      if (tq_tuning_parse_row(line, v, &n, TQ_TUNE_MAX_PARAMS, &perf)) {
        best->candidates++;
        if (n == nnames && perf > best->perf) {
          best->ok = true;
          best->perf = perf;
          best->n = n;
          memcpy(best->names, names, sizeof names);
          memcpy(best->values, v, sizeof v);
        }
      }
      if (log) fprintf(log, "%s\n", line);
      line = nl + 1;
    }
    len = strlen(line);
    memmove(buf, line, len + 1);
    if (len == sizeof buf - 1) len = 0; /* an absurdly long line: drop it */
  }
  /* Stopped and still silent after the grace period (a tuner inside a long compile may not
   * act on SIGTERM at once), or closed its output but lingers: make sure it ends. */
  kill(pid, stopped ? SIGKILL : SIGTERM);
  int st;
  waitpid(pid, &st, 0);
}

static tq_status run_tuner(const tuner *t, const tq_cl_devinfo *d, size_t m, size_t n, size_t k,
                           double seconds, const char *workdir, FILE *log, tuned *out,
                           tq_err *e) {
  memset(out, 0, sizeof *out);
  char path[512];
  snprintf(path, sizeof path, "/usr/bin/%s", t->exe);
  if (access(path, X_OK) != 0)
    return tq_fail(e, TQ_EINPUT, "%s not found: install the package clblast-utils", path);
  /* Explore a random subset small enough that a good part of it fits the time: a candidate
   * costs a compile (0.1-0.2 s on POCL) plus a few runs. The tuner divides its list by -fraction. */
  char a_p[16], a_d[16], a_m[32], a_n[32], a_k[32], a_f[32];
  snprintf(a_p, sizeof a_p, "%d", d->platform_index);
  snprintf(a_d, sizeof a_d, "%d", d->device_index);
  snprintf(a_m, sizeof a_m, "%zu", m);
  snprintf(a_n, sizeof a_n, "%zu", n);
  snprintf(a_k, sizeof a_k, "%zu", k);
  double fraction = fmax(1.0, 150.0 / fmax(seconds, 1.0));
  snprintf(a_f, sizeof a_f, "%.2f", fraction);
  char *argv[24];
  int a = 0;
  argv[a++] = path;
  argv[a++] = "-platform", argv[a++] = a_p, argv[a++] = "-device", argv[a++] = a_d;
  argv[a++] = "-precision", argv[a++] = "32";
  argv[a++] = "-m", argv[a++] = a_m, argv[a++] = "-n", argv[a++] = a_n;
  if (t->gemm) argv[a++] = "-k", argv[a++] = a_k;
  argv[a++] = "-fraction", argv[a++] = a_f, argv[a++] = "-runs", argv[a++] = "2";
  argv[a] = NULL;
  int fds[2];
  if (pipe(fds) != 0) return tq_fail(e, TQ_EIO, "pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return tq_fail(e, TQ_EIO, "fork: %s", strerror(errno));
  }
  if (pid == 0) {
    /* The tuner writes its JSON files into its working folder: a scratch one. */
    if (chdir(workdir) != 0) _exit(126);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    execv(path, argv);
    _exit(127);
  }
  close(fds[1]);
  follow(fds[0], pid, tq_now_seconds() + seconds, out, log);
  close(fds[0]);
  return TQ_OK;
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

static tq_status tune(const char *device, const char **models, int nmodels, int batch,
                      double minutes, bool dry, tq_err *e) {
  tq_cl_devinfo d;
  TQ_TRY(tq_cl_select_device(device, &d, e));
  const tq_devprofile *prof = NULL;
  TQ_TRY(tq_devprofile_choose(d.type, NULL, &prof, e));
  static tq_gemm_shape shapes[MAX_SHAPES];
  int ns = 0;
  for (int i = 0; i < nmodels; i++) {
    tq_model m;
    TQ_TRY(tq_model_load(models[i], &m, e));
    int got = tq_gemm_shapes(&m, batch, shapes + ns, MAX_SHAPES - ns);
    /* Only what CLBlast will run once tuned: the rest goes to the project's kernels. */
    tq_gemm_routing route = tq_gemm_routing_for(prof, true);
    int kept = 0;
    for (int j = ns; j < ns + got; j++) {
      const tq_gemm_shape *g = &shapes[j];
      if (tq_gemm_route(&route, g->ta, g->tb, g->m, g->n, g->k) == TQ_GEMM_CLBLAST)
        shapes[ns + kept++] = *g;
    }
    got = kept;
    for (int j = ns; j < ns + got; j++) {
      char w[48];
      snprintf(w, sizeof w, "%s", shapes[j].what);
      snprintf(shapes[j].what, sizeof shapes[j].what, "%s %s", m.name, w);
    }
    ns += got;
  }
  if (ns == 0) {
    printf("no GEMM of these models runs in CLBlast (the small ones run in kernels/nn_gemm.cl): "
           "nothing to tune\n");
    return TQ_OK;
  }
  qsort(shapes, (size_t)ns, sizeof shapes[0], by_flops);
  /* The shape each kernel is tuned at: the one with the most FLOPs among those it will run. */
  const tq_gemm_shape *big_ind = NULL, *big_dir = NULL;
  for (int i = 0; i < ns; i++) {
    if (is_indirect(&shapes[i]) && !big_ind) big_ind = &shapes[i];
    if (!is_indirect(&shapes[i]) && !big_dir) big_dir = &shapes[i];
  }
  char cache[2048];
  TQ_TRY(tq_tuning_path(&d, cache, sizeof cache, e));
  printf("device %d:%d %s (%s)\ncache  %s\n", d.platform_index, d.device_index, d.name,
         d.platform_name, cache);
  printf("GEMM shapes at batch %d that run in CLBlast (M x N x K), by FLOPs, and its kernel:\n",
         batch);
  for (int i = 0; i < ns && i < 12; i++)
    printf("  %-36s %c%c %6zu x %6zu x %6zu  %8.1f MFLOP  %s\n", shapes[i].what,
           shapes[i].ta ? 'T' : 'N', shapes[i].tb ? 'T' : 'N', shapes[i].m, shapes[i].n,
           shapes[i].k, flops(&shapes[i]) / 1e6, is_indirect(&shapes[i]) ? "Xgemm" : "XgemmDirect");
  double share = 0;
  for (size_t t = 0; t < sizeof tuners / sizeof tuners[0]; t++)
    if (tuners[t].indirect ? big_ind != NULL : big_dir != NULL) share += tuners[t].share;
  double budget = minutes * 60.0;

  /* Before: CLBlast's defaults, timed now, before anything is overridden in this process. */
  int ntime = ns < 6 ? ns : 6;
  double before[6] = {0}, after[6] = {0};
  tq_cl cl;
  bool have_cl = false;
  if (!dry) {
    /* This open must stay untuned; the user's setting comes back after it. */
    const char *was = getenv("TAILQUANT_TUNING");
    char *keep = was ? strdup(was) : NULL;
    setenv("TAILQUANT_TUNING", "off", 1);
    tq_status so = tq_cl_open(&cl, device, false, e);
    if (keep) setenv("TAILQUANT_TUNING", keep, 1);
    else unsetenv("TAILQUANT_TUNING");
    free(keep);
    TQ_TRY(so);
    have_cl = true;
    for (int i = 0; i < ntime; i++) {
      tq_status s = time_gemm(&cl, &shapes[i], &before[i], e);
      if (s != TQ_OK) {
        tq_cl_close(&cl);
        return s;
      }
    }
  }

  tq_tuning tuning;
  memset(&tuning, 0, sizeof tuning);
  tq_tuning_device_key(&d, tuning.device_key, sizeof tuning.device_key);
  { /* A previous cache of this device keeps the kernels this run does not tune. */
    tq_tuning old;
    tq_err e2 = {0};
    if (access(cache, F_OK) == 0 && tq_tuning_load(cache, &old, &e2) == TQ_OK &&
        !strcmp(old.device_key, tuning.device_key))
      tuning = old;
  }
  char workdir[] = "/tmp/tailquant-tune-XXXXXX";
  if (!dry && !mkdtemp(workdir)) {
    if (have_cl) tq_cl_close(&cl);
    return tq_fail(e, TQ_EIO, "cannot create a scratch folder in /tmp: %s", strerror(errno));
  }
  char logpath[2100];
  snprintf(logpath, sizeof logpath, "%s/tuners.log", workdir);
  FILE *log = dry ? NULL : fopen(logpath, "w");
  tq_status s = TQ_OK;
  for (size_t t = 0; s == TQ_OK && t < sizeof tuners / sizeof tuners[0]; t++) {
    const tuner *tu = &tuners[t];
    const tq_gemm_shape *g = tu->indirect ? big_ind : big_dir;
    if (!g) continue;
    /* The indirect kernel needs sizes that are multiples of its tiles (the routine pads to
     * them); the direct one takes any size. Capped so a candidate costs well under a second. */
    size_t m = tu->indirect ? round_up(g->m, 128, 128, 1024) : round_up(g->m, 8, 8, 1024),
           n = tu->indirect ? round_up(g->n, 128, 128, 1024) : round_up(g->n, 8, 8, 2048),
           k = tu->indirect ? round_up(g->k, 128, 128, 1024) : round_up(g->k, 8, 8, 1024);
    if (!tu->gemm) { /* the copies move the A and B operands: tune them at the larger */
      n = tu->indirect ? round_up(g->k, 128, 128, 1024) : n;
      /* clblast_tuner_transpose_fast 1.5.3 crashes ("corrupted double-linked list") unless
       * m == n */
      if (!strcmp(tu->kernel, "Transpose")) m = n = m > n ? m : n;
    }
    double secs = budget * tu->share / share;
    if (tu->gemm)
      printf("%-30s %-12s at %zu x %zu x %zu, %.0f s ... ", tu->exe, tu->kernel, m, n, k, secs);
    else
      printf("%-30s %-12s at %zu x %zu, %.0f s ... ", tu->exe, tu->kernel, m, n, secs);
    fflush(stdout);
    if (dry) {
      printf("(dry run)\n");
      continue;
    }
    tuned best;
    s = run_tuner(tu, &d, m, n, k, secs, workdir, log, &best, e);
    if (s != TQ_OK) break;
    if (!best.ok) {
      printf("no candidate finished (%ld tried); kernel left as it was\n", best.candidates);
      continue;
    }
    tq_tuned_kernel tk;
    memset(&tk, 0, sizeof tk);
    snprintf(tk.kernel, sizeof tk.kernel, "%s", tu->kernel);
    tk.precision = 32;
    tk.nparams = best.n;
    for (int j = 0; j < best.n; j++) {
      snprintf(tk.names[j], sizeof tk.names[0], "%s", best.names[j]);
      tk.values[j] = best.values[j];
    }
    if (tu->gemm)
      snprintf(tk.note, sizeof tk.note, "%.1f %s at %zux%zux%zu, best of %ld candidates",
               best.perf, best.unit, m, n, k, best.candidates);
    else
      snprintf(tk.note, sizeof tk.note, "%.1f %s at %zux%zu, best of %ld candidates", best.perf,
               best.unit, m, n, best.candidates);
    /* A previous run at the same shape that found something faster wins: runs add up. */
    double old_perf = 0;
    for (int j = 0; j < tuning.nkernels; j++) {
      const char *at_old = strstr(tuning.k[j].note, " at "), *at_new = strstr(tk.note, " at ");
      const char *end_old = at_old ? strchr(at_old, ',') : NULL, *end_new = strchr(at_new, ',');
      if (!strcmp(tuning.k[j].kernel, tk.kernel) && at_old && end_old && end_new &&
          end_old - at_old == end_new - at_new && !strncmp(at_old, at_new, (size_t)(end_new - at_new)))
        old_perf = atof(tuning.k[j].note);
    }
    if (old_perf > best.perf) {
      printf("%.1f %s (best of %ld); keeping the previous run's %.1f\n", best.perf, best.unit,
             best.candidates, old_perf);
      continue;
    }
    printf("%.1f %s (best of %ld)\n", best.perf, best.unit, best.candidates);
    s = tq_tuning_set(&tuning, &tk, e);
  }
  if (log) fclose(log);
  if (s == TQ_OK && !dry) {
    tq_tuned_kernel route;
    memset(&route, 0, sizeof route);
    snprintf(route.kernel, sizeof route.kernel, "GemmRoutine");
    route.precision = 32;
    route.nparams = 1;
    snprintf(route.names[0], sizeof route.names[0], "XGEMM_MIN_INDIRECT_SIZE");
    route.values[0] = INDIRECT_MIN;
    snprintf(route.note, sizeof route.note, "the split the tuned shapes were chosen by");
    s = tq_tuning_set(&tuning, &route, e);
  }
  if (s == TQ_OK && !dry) s = tq_tuning_save(cache, &tuning, e);
  if (s == TQ_OK && !dry) {
    printf("stored %d kernel(s) in %s (tuner output: %s)\n", tuning.nkernels, cache, logpath);
    int applied = 0;
    s = tq_tuning_override(d.device, &tuning, cache, stderr, &applied, e);
    printf("GFLOP/s of the main shapes, CLBlast defaults -> tuned:\n");
    for (int i = 0; s == TQ_OK && i < ntime; i++) {
      s = time_gemm(&cl, &shapes[i], &after[i], e);
      printf("  %-40s %6zu x %6zu x %6zu  %7.1f -> %7.1f  (x%.2f)\n", shapes[i].what, shapes[i].m,
             shapes[i].n, shapes[i].k, before[i], after[i],
             before[i] > 0 ? after[i] / before[i] : 0.0);
    }
  }
  if (have_cl) tq_cl_close(&cl);
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
