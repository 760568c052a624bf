/* tailquant report RUNS_DIR [--format md|csv|json] [--out FILE] [--curves DIR] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "experiment/report.h"

static void usage(FILE *f) {
  fprintf(f, "usage: tailquant report RUNS_DIR [--format md|csv|json] [--out FILE] [--curves DIR]\n\n"
             "Finds every complete run under RUNS_DIR and prints a table: per experiment, dataset,\n"
             "model, method and bits, the runs, the iterations, the final and best test accuracy\n"
             "(mean ± sample sd over seeds; n/a with one run), uplink bits, compression ratio,\n"
             "quantization MSE, the simulated time to the target accuracy (it adds measured\n"
             "compute times, so it moves with machine load) and the iterations to it (the first\n"
             "evaluation at or above it: deterministic; mean ± sd, n/a with one run).\n"
             "  --format F     md (Markdown, the default), csv (a header row; empty where n/a)\n"
             "                 or json (an array of objects; null where n/a)\n"
             "  --out FILE     write the table to FILE instead of standard output\n"
             "  --curves DIR   also write per-iteration curves, DIR/curves_*.csv and DIR/mse.csv\n"
             "                 (CSV with a header row, empty fields where not evaluated:\n"
             "                 pandas.read_csv reads them as they are; tools/plot.sh draws them)\n");
}

int tq_cmd_report(int argc, char **argv) {
  const char *dir = NULL, *out = NULL, *curves = NULL;
  tq_report_format fmt = TQ_REPORT_MD;
  tq_err e = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool takes = !strcmp(a, "--out") || !strcmp(a, "--curves") || !strcmp(a, "--format");
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (takes && i + 1 >= argc) {
      fprintf(stderr, "tailquant report: %s needs a value\n", a);
      return 2;
    } else if (!strcmp(a, "--out")) {
      out = argv[++i];
    } else if (!strcmp(a, "--curves")) {
      curves = argv[++i];
    } else if (!strcmp(a, "--format")) {
      if (tq_report_format_from_name(argv[++i], &fmt, &e) != TQ_OK)
        return tq_cli_report("report", e.code, e.msg);
    } else if (a[0] == '-' || dir) {
      fprintf(stderr, "tailquant report: unexpected '%s'\n", a);
      usage(stderr);
      return 2;
    } else {
      dir = a;
    }
  }
  if (!dir) {
    usage(stderr);
    return 2;
  }
  tq_run_summary *runs = NULL;
  int n = 0;
  tq_status s = tq_report_scan(dir, &runs, &n, &e);
  if (s == TQ_OK && curves) s = tq_report_curves(runs, n, curves, &e);
  if (s == TQ_OK) {
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) {
      s = tq_fail(&e, TQ_EIO, "%s: cannot create", out);
    } else {
      tq_report_table(runs, n, fmt, f);
      if (out && fclose(f) != 0) s = tq_fail(&e, TQ_EIO, "%s: write failed", out);
    }
  }
  free(runs);
  return tq_cli_report("report", s, e.msg);
}
