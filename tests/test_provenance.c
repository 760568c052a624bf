/* What a run says about itself, through the real binary: summary.json and config.cfg carry the
 * version, git commit, command line, dataset files with their CRC-32s, device and driver, and
 * the start and end times; the resolved config.cfg with its provenance still loads (--resume);
 * progress goes to stderr and results to stdout; --quiet hides progress only, not the result
 * line or a sweep's table, and a sweep says where it is overall. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "test_support.h"
#include "tmpfile.h"
#include "util/version.h"

#define BIN TQ_BINARY_DIR "/tailquant"
#define CFG TQ_SOURCE_DIR "/config/default.cfg"
#define SMALL                                                                                      \
  "--set workers.count=2 --set train.batch_size=16 --set train.iterations=4 "                     \
  "--set train.eval_every=0 "

static char dir[64], out[1 << 16], text[1 << 16];

static size_t slurp(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
  return n;
}

static int run(const char *fmt, const char *a) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, fmt, a, dir);
  return tq_test_run_cmd(cmd, out, sizeof out);
}

static uint32_t crc_of(const char *path) {
  static unsigned char b[1 << 20];
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  uLong c = crc32(0L, Z_NULL, 0);
  size_t n;
  while ((n = fread(b, 1, sizeof b, f)) > 0) c = crc32(c, b, (uInt)n);
  fclose(f);
  return (uint32_t)c;
}

static void test_summary_and_config(void) {
  /* stdout only: the result line, no progress */
  int rc = run("(%s train " CFG " " SMALL "--set output.dir=%s --set experiment.name=prov 2>/dev/null)", BIN);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT(strstr(out, "tailquant: done in") != NULL);
  CU_ASSERT(strstr(out, "iter ") == NULL);
  char path[512];
  snprintf(path, sizeof path, "%s/prov/summary.json", dir);
  CU_ASSERT_FATAL(slurp(path, text, sizeof text) > 0);
  const char *want[] = {"\"tailquant_version\": \"" TQ_VERSION "\"", "\"git_commit\": \"",
                        "\"command_line\": \"tailquant train " CFG " --set workers.count=2",
                        "\"started_utc\": \"20", "\"ended_utc\": \"20", "\"dataset\": \"fashion-mnist\"",
                        "\"data_train_images\": \"/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz\"",
                        "\"data_test_labels_bytes\": ", "\"devices\": \"", "\"driver_version\": \"", NULL};
  for (int i = 0; want[i]; i++) {
    if (!strstr(text, want[i])) fprintf(stderr, "\n  missing %s in %s\n", want[i], text);
    CU_ASSERT(strstr(text, want[i]) != NULL);
  }
  char commit[160];
  snprintf(commit, sizeof commit, "\"git_commit\": \"%s\"", tq_git_commit);
  CU_ASSERT(strstr(text, commit) != NULL);
  CU_ASSERT(strcmp(tq_git_commit, "unknown") == 0 || strlen(tq_git_commit) >= 40);
  char crc[96];
  snprintf(crc, sizeof crc, "\"data_train_labels_crc32\": \"%08x\"",
           crc_of("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"));
  CU_ASSERT(strstr(text, crc) != NULL);
  /* start <= end, ISO 8601 UTC: "YYYY-MM-DDTHH:MM:SSZ" compares as text */
  const char *s0 = strstr(text, "\"started_utc\": \"") + 16, *s1 = strstr(text, "\"ended_utc\": \"") + 14;
  CU_ASSERT(s0[10] == 'T' && s0[19] == 'Z' && strncmp(s0, s1, 20) <= 0);
  /* config.cfg: the same, as comments */
  snprintf(path, sizeof path, "%s/prov/config.cfg", dir);
  CU_ASSERT_FATAL(slurp(path, text, sizeof text) > 0);
  CU_ASSERT(strstr(text, "# Provenance") != NULL);
  CU_ASSERT(strstr(text, "# command: tailquant train") != NULL);
  CU_ASSERT(strstr(text, "crc32 ") != NULL);
  CU_ASSERT(strstr(text, "# devices: ") != NULL);
}

static void test_streams_and_quiet(void) {
  /* stderr only: progress, first step's line at once (not a terminal) */
  int rc = run("(%s train " CFG " " SMALL "--set output.dir=%s --set experiment.name=err >/dev/null)", BIN);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT(strstr(out, "iter    1/4") != NULL);
  CU_ASSERT(strstr(out, "iter    4/4") != NULL);
  CU_ASSERT(strstr(out, "done in") == NULL);
  /* --quiet: no progress, the result still */
  rc = run("%s train " CFG " " SMALL "--quiet --set output.dir=%s --set experiment.name=quiet", BIN);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT(strstr(out, "iter ") == NULL);
  CU_ASSERT(strstr(out, "done in") != NULL);
}

static void test_sweep(void) {
  char cfg[1024];
  snprintf(cfg, sizeof cfg,
           "@include \"%s\"\nsweep = ({ key = \"compression.method\"; values = [\"qsgd\", \"tnqsgd\"]; });\n",
           CFG);
  const char *p = tq_test_write_tmp("sweep.cfg", cfg);
  /* quiet: the table on stdout all the same */
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "(%s train %s " SMALL "--quiet --set output.dir=%s --set experiment.name=sw 2>/dev/null)",
           BIN, p, dir);
  int rc = tq_test_run_cmd(cmd, out, sizeof out);
  if (rc) fprintf(stderr, "\n  %s\n", out);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT(strstr(out, "variant") != NULL);
  CU_ASSERT(strstr(out, "method-qsgd") != NULL && strstr(out, "method-tnqsgd") != NULL);
  /* not quiet: the overall line per variant on stderr, the variant's place in each line */
  snprintf(cmd, sizeof cmd, "(%s train %s " SMALL "--set output.dir=%s --set experiment.name=sw2 >/dev/null)",
           BIN, p, dir);
  rc = tq_test_run_cmd(cmd, out, sizeof out);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT(strstr(out, "sweep: variant 1 of 2: method-qsgd (0 done in") != NULL);
  CU_ASSERT(strstr(out, "sweep: variant 2 of 2: method-tnqsgd (1 done in") != NULL);
  CU_ASSERT(strstr(out, "left)") != NULL);
  CU_ASSERT(strstr(out, "[2/2] iter    4/4") != NULL);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/tq_prov_XXXXXX");
  if (!mkdtemp(dir)) return 1;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"summary.json and config.cfg say what the run is", test_summary_and_config},
      {"progress on stderr, results on stdout, --quiet hides progress only", test_streams_and_quiet},
      {"a sweep: overall progress, and its table with --quiet", test_sweep},
      {NULL, NULL}};
  tq_test_add_suite("provenance and progress", cases);
  int rc = tq_test_run();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return rc;
}
