/* tailquant train CONFIG [--set key=value ...] [--device SPEC] [--quiet]
 *                        [--stop-after N] [--dump-gradients ITER[,ITER...]]
 * tailquant train --resume RUN_DIR [--device SPEC] [--quiet] [--stop-after N]
 * A config with a sweep runs every variant in turn and ends with a comparison table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cluster/mpi_link.h"
#include "experiment/config.h"
#include "experiment/progress.h"
#include "experiment/train.h"
#include "util/fileio.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tailquant train CONFIG [--set key=value ...] [--device SPEC] [--quiet]\n"
          "                       [--stop-after N] [--dump-gradients ITER[,ITER...]]\n"
          "       tailquant train --resume RUN_DIR [--device SPEC] [--quiet] [--stop-after N]\n"
          "                       [--force]\n\n"
          "Trains the experiment described by CONFIG (docs/configuration.md) and writes\n"
          "output.dir/experiment.name[/variant]/{config.cfg, metrics.csv, summary.json,\n"
          "checkpoint.bin}. A config with a sweep section runs every variant.\n\n"
          "  --set key=value       override a key, e.g. --set train.lr=0.1 (repeatable)\n"
          "  --device SPEC         auto, cpu, gpu, P:D or part of a device name\n"
          "  --quiet               no progress (stderr); results and the sweep's table still print\n"
          "  --resume RUN_DIR      continue a run from its last checkpoint\n"
          "  --stop-after N        stop after iteration N, leaving a checkpoint to resume from\n"
          "  --force               replace a completed or stopped run in the same folder\n"
          "                        (without it, such a folder is refused)\n"
          "  --dump-gradients L    write every worker's raw gradient at these iterations\n"
          "                        (RUN_DIR/gradients/iter_N/, float32 files + index.tsv)\n"
          "  --profile             print time per kernel and per phase at the end\n"
          "  --transport T         inproc (threads, the default) or mpi: run under\n"
          "                        mpirun -np K; rank 0 is the server (docs/distributed.md)\n");
}

static int parse_long(const char *opt, const char *v, long lo, long *out) {
  char *end;
  long x = strtol(v, &end, 10);
  if (!*v || *end || x < lo) {
    fprintf(stderr, "tailquant train: %s '%s' must be an integer >= %ld\n", opt, v, lo);
    return 2;
  }
  *out = x;
  return 0;
}

static int parse_dumps(const char *v, long *out, int cap, int *n) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", v);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (*n == cap) {
      fprintf(stderr, "tailquant train: --dump-gradients takes at most %d iterations\n", cap);
      return 2;
    }
    if (parse_long("--dump-gradients", tok, 1, &out[(*n)++])) return 2;
  }
  return 0;
}

static void print_table(const tq_experiment *xs, const tq_train_result *rs, int n) {
  printf("\n%-36s %7s %7s %12s %8s %11s %12s %8s\n", "variant", "final%", "best%", "uplink bits",
         "ratio", "quant MSE", "sim t->tgt s", "wall s");
  for (int i = 0; i < n; i++) {
    char tgt[32] = "never";
    if (rs[i].time_to_target >= 0) snprintf(tgt, sizeof tgt, "%.1f", rs[i].time_to_target);
    printf("%-36.36s %7.2f %7.2f %12.4g %8.2f %11.4g %12s %8.1f\n", xs[i].variant,
           100 * rs[i].final_test_accuracy, 100 * rs[i].best_test_accuracy, rs[i].bits_total,
           rs[i].compression_ratio, rs[i].mean_quant_mse, tgt, rs[i].seconds);
  }
}

/* The sweep's overall progress, on stderr before each variant: where it is, and the time left
 * from the mean time of the variants done so far. */
static void sweep_line(int v, int n, const char *variant, double elapsed) {
  char el[32], left[32] = "";
  tq_progress_fmt_time(el, sizeof el, elapsed);
  if (v > 0) {
    char t[32];
    tq_progress_fmt_time(t, sizeof t, elapsed / v * (n - v));
    snprintf(left, sizeof left, ", about %s left", t);
  }
  fprintf(stderr, "\ntailquant: sweep: variant %d of %d: %s (%d done in %s%s)\n", v + 1, n, variant,
          v, el, left);
}

/* Loads what to run (a resumed run, or every variant of a sweep), checks it all, then trains.
 * Under MPI every rank loads the same files: if any rank fails to load, they all stop, and
 * rank 0 alone reports it (*reported = true). */
static int run_all(const char *config, const char *resume, const char **sets, int nsets,
                   const tq_train_opts *o, bool *reported, tq_err *e) {
  *reported = false;
  tq_status s = TQ_OK;
  tq_sweep *sw = calloc(1, sizeof *sw);
  tq_experiment *xs = NULL;
  tq_train_result *rs = NULL;
  if (!sw) return tq_cli_report("train", tq_fail(e, TQ_ENOMEM, "out of memory"), e->msg);
  if (resume) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.cfg", resume);
    sw->nvariants = 1;
    xs = calloc(1, sizeof *xs);
    s = xs ? tq_experiment_load(path, NULL, 0, &xs[0], e) : tq_fail(e, TQ_ENOMEM, "out of memory");
    if (s == TQ_OK) s = tq_train_check(&xs[0], o, e);
  } else {
    s = tq_sweep_load(config, sw, e);
    if (s == TQ_OK) {
      xs = calloc((size_t)sw->nvariants, sizeof *xs);
      if (!xs) s = tq_fail(e, TQ_ENOMEM, "out of memory");
    }
    /* Every variant is loaded and checked before the first one trains: the file, its swept
     * values, then --set (which may not name a swept key). */
    for (int v = 0; s == TQ_OK && v < sw->nvariants; v++) {
      s = tq_experiment_load_variant(config, sets, nsets, sw, v, &xs[v], e);
      /* ... and what can be checked without a device: the model, the data files, the folder */
      if (s == TQ_OK) s = tq_train_check(&xs[v], o, e);
      if (s != TQ_OK && sw->name[v][0]) tq_wrap(e, "sweep variant %s", sw->name[v]);
    }
  }
  /* One rank per worker at most: a check every rank makes alike, so it is reported once below. */
  for (int v = 0; s == TQ_OK && o->mpi && v < sw->nvariants; v++)
    if (o->mpi->size > xs[v].workers)
      s = tq_fail(e, TQ_EINPUT, "%d MPI ranks for %d workers%s%s: use at most one rank per worker "
                  "(mpirun -np %d or fewer, or more workers.count)", o->mpi->size, xs[v].workers,
                  xs[v].variant[0] ? " in sweep variant " : "", xs[v].variant, xs[v].workers);
  if (o->mpi) {
    tq_err agreed = {0};
    tq_status all = tq_mpi_agree(o->mpi, s, &agreed);
    if (all != TQ_OK) {
      if (o->mpi->rank == 0)
        tq_cli_report("train", s != TQ_OK ? s : all,
                      s != TQ_OK ? e->msg : "another rank could not load the experiment");
      *reported = true;
      s = all;
    }
  }
  rs = s == TQ_OK ? calloc((size_t)sw->nvariants, sizeof *rs) : NULL;
  if (s == TQ_OK && !rs) s = tq_fail(e, TQ_ENOMEM, "out of memory");
  int done = 0;
  const double sweep_t0 = tq_now_seconds();
  tq_train_opts ov = *o;
  for (int v = 0; s == TQ_OK && v < sw->nvariants; v++) {
    if (sw->nvariants > 1 && !o->quiet) sweep_line(v, sw->nvariants, xs[v].variant, tq_now_seconds() - sweep_t0);
    ov.sweep_index = v;
    ov.sweep_count = sw->nvariants;
    s = tq_train(&xs[v], &ov, &rs[v], e);
    if (s == TQ_EINTR && v + 1 < sw->nvariants)
      tq_wrap(e, "sweep variant %d of %d (%s; variants %d..%d have not started)", v + 1,
              sw->nvariants, xs[v].variant, v + 2, sw->nvariants);
    if (s == TQ_OK && !rs[v].complete) break; /* --stop-after */
    if (s == TQ_OK) done++;
  }
  /* The comparison is a result: printed with --quiet too, by rank 0 alone under MPI. */
  bool rank0 = !o->mpi || o->mpi->rank == 0;
  if (s == TQ_OK && sw->nvariants > 1 && done > 0 && rank0) print_table(xs, rs, done);
  free(sw);
  free(xs);
  free(rs);
  return tq_exit_code(s);
}

/* "tailquant train ARGS" as typed, arguments with spaces or quotes single-quoted. */
static void command_line(int argc, char **argv, char *out, size_t cap) {
  size_t n = (size_t)snprintf(out, cap, "tailquant");
  for (int i = 0; i < argc && n < cap; i++) {
    const char *a = argv[i];
    bool plain = *a != '\0';
    for (const char *c = a; *c; c++)
      if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *c)) plain = false;
    if (plain) {
      n += (size_t)snprintf(out + n, cap - n, " %s", a);
      continue;
    }
    n += (size_t)snprintf(out + n, cap - n, " '");
    for (const char *c = a; *c && n < cap; c++)
      n += (size_t)snprintf(out + n, cap - n, *c == '\'' ? "'\\''" : "%c", *c);
    if (n < cap) n += (size_t)snprintf(out + n, cap - n, "'");
  }
}

/* A process that mpirun (or another PMI launcher) started as one of several, without
 * --transport mpi, would train the whole job on its own beside the others, all into the same
 * folder. It refuses instead; the launcher's rank 0 says why, once. Returns the exit code. */
static int refuse_mpirun_without_mpi(void) {
  static const char *const sizes[][2] = {{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"},
                                         {"PMI_SIZE", "PMI_RANK"},
                                         {"PMIX_SIZE", "PMIX_RANK"},
                                         {"MPI_LOCALNRANKS", "MPI_LOCALRANKID"},
                                         {"MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    const char *n = getenv(sizes[i][0]);
    long size = n ? strtol(n, NULL, 10) : 0;
    if (size <= 1) continue;
    const char *r = getenv(sizes[i][1]);
    if (!r || strtol(r, NULL, 10) == 0)
      fprintf(stderr,
              "tailquant train: started by mpirun as one of %ld processes (%s=%s) without "
              "--transport mpi: each would train the whole job on its own, into the same run "
              "folder. Add --transport mpi to spread the workers over the ranks "
              "(docs/distributed.md), or run tailquant without mpirun.\n",
              size, sizes[i][0], n);
    return 2;
  }
  return 0;
}

/* What the command line asks for. */
typedef struct train_args {
  const char *config, *device, *resume, *transport;
  bool quiet, profile, force;
  long stop_after, dumps[64];
  int ndump;
  const char **sets; /* [argc]: the --set values */
  int nsets;
} train_args;

/* Reads the options into *a; returns 0, or the exit code after printing why (2), or -1 after
 * --help (exit 0). */
static int parse_args(int argc, char **argv, train_args *a) {
  int rc = 0;
  for (int i = 1; i < argc && rc == 0; i++) {
    const char *s = argv[i];
    bool takes = !strcmp(s, "--set") || !strcmp(s, "--device") || !strcmp(s, "--resume") ||
                 !strcmp(s, "--stop-after") || !strcmp(s, "--dump-gradients") ||
                 !strcmp(s, "--transport");
    if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
      usage(stdout);
      return -1;
    } else if (takes && i + 1 >= argc) {
      fprintf(stderr, "tailquant train: %s needs a value\n", s);
      rc = 2;
    } else if (!strcmp(s, "--set")) {
      a->sets[a->nsets++] = argv[++i];
    } else if (!strcmp(s, "--device")) {
      a->device = argv[++i];
    } else if (!strcmp(s, "--resume")) {
      a->resume = argv[++i];
    } else if (!strcmp(s, "--stop-after")) {
      rc = parse_long(s, argv[++i], 1, &a->stop_after);
    } else if (!strcmp(s, "--transport")) {
      a->transport = argv[++i];
      if (strcmp(a->transport, "inproc") && strcmp(a->transport, "mpi")) {
        fprintf(stderr, "tailquant train: --transport '%s': use inproc or mpi\n", a->transport);
        rc = 2;
      }
    } else if (!strcmp(s, "--dump-gradients")) {
      rc = parse_dumps(argv[++i], a->dumps, 64, &a->ndump);
    } else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
      a->quiet = true;
    } else if (!strcmp(s, "--profile")) {
      a->profile = true;
    } else if (!strcmp(s, "--force")) {
      a->force = true;
    } else if (s[0] == '-') {
      fprintf(stderr, "tailquant train: unknown option '%s'\n", s);
      rc = 2;
    } else if (a->config) {
      fprintf(stderr, "tailquant train: one CONFIG only (got '%s' and '%s')\n", a->config, s);
      rc = 2;
    } else {
      a->config = s;
    }
  }
  if (rc == 0 && !a->config == !a->resume) {
    if (a->config && a->resume)
      fprintf(stderr, "tailquant train: give a CONFIG or --resume RUN_DIR, not both\n");
    else
      usage(stderr);
    rc = 2;
  }
  if (rc == 0 && a->resume && a->nsets > 0) {
    fprintf(stderr, "tailquant train: --set cannot change a run being resumed\n");
    rc = 2;
  }
  return rc;
}

/* Sets up the transport, trains, and reports a failure; returns the exit code. */
static int train(int argc, char **argv, train_args *a) {
  tq_err e = {0};
  tq_mpi mpi;
  bool use_mpi = !strcmp(a->transport, "mpi");
  if (!use_mpi) {
    int rc = refuse_mpirun_without_mpi();
    if (rc != 0) return rc;
  }
  if (use_mpi) {
    /* Before anything opens an OpenCL context. */
    tq_status ms = tq_mpi_init(&argc, &argv, &mpi, &e);
    if (ms != TQ_OK) return tq_cli_report("train", ms, e.msg);
    if (mpi.rank != 0) a->quiet = true; /* rank 0 speaks for the job */
  }
  char command[4096];
  command_line(argc, argv, command, sizeof command);
  tq_train_opts o = {.command_line = command, .device = a->device, .quiet = a->quiet,
                     .resume_dir = a->resume, .stop_after = a->stop_after, .dump_iters = a->dumps,
                     .ndump = a->ndump, .mpi = use_mpi ? &mpi : NULL, .profile = a->profile,
                     .force = a->force};
  /* Ctrl-C finishes the step and leaves a checkpoint (in-process; under MPI mpirun owns the
   * signals and the default applies). */
  if (!use_mpi) tq_train_handle_signals();
  bool reported = false;
  int code = run_all(a->config, a->resume, a->sets, a->nsets, &o, &reported, &e);
  if (code != 0 && !reported) {
    /* A failure during training may be one rank's alone: that rank ends the whole job, naming
     * itself, so no other rank waits forever in a collective. */
    if (use_mpi) tq_mpi_abort(&mpi, e.msg, code);
    tq_cli_report("train", e.code, e.msg);
  }
  if (use_mpi) tq_mpi_finalize();
  return code;
}

int tq_cmd_train(int argc, char **argv) {
  train_args a = {.transport = "inproc"};
  a.sets = calloc((size_t)argc + 8, sizeof *a.sets);
  if (!a.sets) return tq_cli_report("train", TQ_ENOMEM, "out of memory");
  int rc = parse_args(argc, argv, &a);
  if (rc == 0) rc = train(argc, argv, &a);
  free(a.sets);
  return rc < 0 ? 0 : rc;
}
