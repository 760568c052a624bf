/* tailquant: the command line. Verbs live in host/cli/; this file only dispatches. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "util/version.h"

typedef struct verb {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} verb;

static const verb verbs[] = {
    {"train", tq_cmd_train, "train a model: tailquant train CONFIG [--set key=value ...]"},
    {"report", tq_cmd_report, "tables and plot data from runs: tailquant report RUNS_DIR"},
    {"devices", tq_cmd_devices, "list OpenCL platforms and devices"},
    {"bench", tq_cmd_bench, "measure speed and print figures: tailquant bench WHAT"},
    {"tune", tq_cmd_tune, "tune CLBlast for a device at the models' GEMM shapes (cached)"},
    {"quantize", tq_cmd_quantize, "compress a float32 file of gradients and report the error"},
};

static void usage(FILE *f) {
  fprintf(f, "tailquant %s: data-parallel SGD with heavy-tail-aware gradient quantization\n\n"
             "usage: tailquant VERB [options]   (tailquant VERB --help for a verb's options)\n\n",
          TQ_VERSION);
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("tailquant %s (git %s)\n", TQ_VERSION, tq_git_describe);
    return 0;
  }
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    if (!strcmp(argv[1], verbs[i].name)) return verbs[i].run(argc - 1, argv + 1);
  fprintf(stderr, "tailquant: unknown verb '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
