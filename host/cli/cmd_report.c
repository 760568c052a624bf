/* tailquant report RUNS_DIR [--out FILE.md] [--curves DIR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "exp/report.h"

static void usage(FILE *f) {
  fprintf(f, "usage: tailquant report RUNS_DIR [--out FILE.md] [--curves DIR]\n\n"
             "Finds every complete run under RUNS_DIR and prints a Markdown table: per model,\n"
             "method and bits, the final and best test accuracy (mean ± sd over seeds), uplink\n"
             "bits, compression ratio, quantization MSE and the simulated time to the target\n"
             "accuracy. --curves writes the per-iteration curves tools/plot.sh draws.\n");
}

int tq_cmd_report(int argc, char **argv) {
  const char *dir = NULL, *out = NULL, *curves = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if ((!strcmp(argv[i], "--out") || !strcmp(argv[i], "--curves")) && i + 1 < argc) {
      if (!strcmp(argv[i], "--out"))
        out = argv[++i];
      else
        curves = argv[++i];
    } else if (argv[i][0] == '-' || dir) {
      fprintf(stderr, "tailquant report: unexpected '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    } else {
      dir = argv[i];
    }
  }
  if (!dir) {
    usage(stderr);
    return 2;
  }
  tq_err e = {0};
  tq_run_summary *runs = NULL;
  int n = 0;
  tq_status s = tq_report_scan(dir, &runs, &n, &e);
  if (s == TQ_OK && curves) s = tq_report_curves(runs, n, curves, &e);
  if (s == TQ_OK) {
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) {
      s = tq_fail(&e, TQ_EIO, "%s: cannot create", out);
    } else {
      tq_report_markdown(runs, n, f);
      if (out && fclose(f) != 0) s = tq_fail(&e, TQ_EIO, "%s: write failed", out);
    }
  }
  free(runs);
  return tq_cli_report("report", s, e.msg);
}
