/* tailquant bench WHAT: speed measurements that print figures (never pass/fail).
 * Each WHAT lives in its own file (bench_*.c) and registers a row below. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

typedef struct bench_kind {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} bench_kind;

static const bench_kind kinds[] = {
    {"train", tq_bench_train, "images/s for forward + backward + update of one model"},
    {"quant", tq_bench_quant, "gradient compression: encode/decode throughput vs a copy kernel"},
    {"step", tq_bench_step, "steps/s of N simulated workers and the time of each phase"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f) {
  fprintf(f, "usage: tailquant bench WHAT [options]\n\n");
  for (int i = 0; kinds[i].name; i++) fprintf(f, "  %-8s %s\n", kinds[i].name, kinds[i].summary);
}

int tq_cmd_bench(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (int i = 0; kinds[i].name; i++)
    if (!strcmp(argv[1], kinds[i].name)) return kinds[i].run(argc - 1, argv + 1);
  fprintf(stderr, "tailquant bench: unknown benchmark '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
