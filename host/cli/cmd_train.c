/* tailquant train CONFIG [--set key=value ...] [--device SPEC] [--quiet] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "exp/config.h"
#include "exp/train.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tailquant train CONFIG [--set key=value ...] [--device SPEC] [--quiet]\n\n"
          "Trains the experiment described by CONFIG (a libconfig file; see "
          "docs/configuration.md)\nand writes output.dir/experiment.name/{config.cfg, "
          "metrics.csv, summary.json}.\n\n"
          "  --set key=value  override a key, e.g. --set train.lr=0.1 (repeatable)\n"
          "  --device SPEC    auto, cpu, gpu, P:D or part of a device name (tailquant devices)\n"
          "  --quiet          no progress output\n");
}

int tq_cmd_train(int argc, char **argv) {
  const char *config = NULL, *device = NULL;
  bool quiet = false;
  const char **sets = calloc((size_t)argc, sizeof *sets);
  int nsets = 0;
  int rc = 0;
  for (int i = 1; i < argc && rc == 0; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      free(sets);
      return 0;
    } else if (!strcmp(argv[i], "--set") || !strcmp(argv[i], "--device")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "tailquant train: %s needs a value\n", argv[i]);
        rc = 2;
      } else if (!strcmp(argv[i], "--set")) {
        sets[nsets++] = argv[++i];
      } else {
        device = argv[++i];
      }
    } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
      quiet = true;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "tailquant train: unknown option '%s'\n", argv[i]);
      rc = 2;
    } else if (config) {
      fprintf(stderr, "tailquant train: one CONFIG only (got '%s' and '%s')\n", config, argv[i]);
      rc = 2;
    } else {
      config = argv[i];
    }
  }
  if (rc == 0 && !config) {
    usage(stderr);
    rc = 2;
  }
  if (rc != 0) {
    free(sets);
    return rc;
  }
  tq_err e = {0};
  tq_experiment x;
  tq_status s = tq_experiment_load(config, sets, nsets, &x, &e);
  free(sets);
  if (s != TQ_OK) return tq_cli_report("train", s, e.msg);
  tq_train_opts o = {device, quiet};
  tq_train_result r;
  s = tq_train(&x, &o, &r, &e);
  return tq_cli_report("train", s, e.msg);
}
