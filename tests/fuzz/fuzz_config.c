/* libFuzzer target: the libconfig-based loaders: experiment files (tq_experiment_load with
 * `--set` overrides, tq_sweep_load) and model files (tq_model_load). They take paths, so each
 * input is written to one reused file in a private temporary folder (fuzz_tmp.h).
 *
 * Input: the file text, optionally followed by a NUL byte and up to 8 NUL-separated override
 * strings ("train.lr=0.1"), which go through the same validation as `--set`.
 *
 * Oracle beyond the sanitizers: an experiment that loads must be written back by
 * tq_experiment_write (what a run stores as config.cfg and --resume reads) and that file must
 * load again: a configuration the program accepts must survive its own round trip. */
#include <stdlib.h>
#include <string.h>

#include "experiment/config.h"
#include "fuzz_tmp.h"
#include "nn/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t text = 0;
  while (text < size && data[text]) text++;
  const char *path = tq_fuzz_write("input.cfg", data, text);
  /* Overrides: NUL-terminated copies of the pieces after the first NUL. */
  char *rest = NULL;
  const char *ov[8];
  int nov = 0;
  if (text < size) {
    size_t n = size - text - 1;
    rest = malloc(n + 1);
    if (!rest) return 0;
    memcpy(rest, data + text + 1, n);
    rest[n] = '\0';
    for (char *p = rest; p < rest + n + 1 && nov < 8; p += strlen(p) + 1) ov[nov++] = p;
  }
  static tq_experiment x, y;
  static tq_sweep sw;
  static tq_model m;
  tq_err e = {0};
  if (tq_experiment_load(path, ov, nov, &x, &e) == TQ_OK) {
    static char back[600];
    snprintf(back, sizeof back, "%s.resolved", path);
    if (tq_experiment_write(&x, back, &e) != TQ_OK) abort();
    tq_status s = tq_experiment_load(back, NULL, 0, &y, &e);
    unlink(back);
    if (s != TQ_OK) {
      fprintf(stderr, "resolved configuration does not load again: %s\n", e.msg);
      abort();
    }
  }
  (void)tq_sweep_load(path, &sw, &e);
  (void)tq_model_load(path, &m, &e);
  free(rest);
  return 0;
}
