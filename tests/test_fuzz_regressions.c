/* Regression tests for what fuzzing found (tests/fuzz, tools/fuzz.sh), each input embedded as
 * it was found or minimised:
 *   - experiment and model files: `@include` of a directory made libconfig's flex scanner call
 *     exit(2) from inside tq_experiment_load / tq_model_load (host/util/cfg.c now refuses
 *     includes that are not regular files, before libconfig opens them);
 *   - IDX files: an 8-byte label file announcing 2^31 labels made the reader allocate 2 GiB
 *     before it found the file truncated (libFuzzer: out-of-memory; host/data/idx.c now grows
 *     its buffer with the data that arrives).
 * Each test fails without its fix: the include tests by the process exiting with code 2 in the
 * middle of the suite, the IDX test by running out of the address space it is given. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "data/idx.h"
#include "experiment/config.h"
#include "nn/model.h"
#include "test_support.h"
#include "tmpfile.h"

#if defined(__SANITIZE_ADDRESS__)
#define TQ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TQ_ASAN 1
#endif
#endif

/* Loads text as an experiment file and as a model file; both must fail with TQ_EINPUT and a
 * message containing `needle` (and the process must still be here to check it). */
static void expect_rejected(const char *name, const char *text, const char *needle) {
  const char *p = tq_test_write_tmp(name, text);
  CU_ASSERT_FATAL(p != NULL);
  static tq_experiment x;
  static tq_model m;
  tq_err e = {0};
  CU_ASSERT_EQUAL(tq_experiment_load(p, NULL, 0, &x, &e), TQ_EINPUT);
  if (!strstr(e.msg, needle)) fprintf(stderr, "\n  '%s' missing from: %s\n", needle, e.msg);
  CU_ASSERT(strstr(e.msg, needle) != NULL);
  e = (tq_err){0}; /* tq_fail keeps the first error */
  CU_ASSERT_EQUAL(tq_model_load(p, &m, &e), TQ_EINPUT);
  if (!strstr(e.msg, needle)) fprintf(stderr, "\n  model: '%s' missing from: %s\n", needle, e.msg);
  CU_ASSERT(strstr(e.msg, needle) != NULL);
}

static void test_include_directory(void) {
  /* as fuzz_config found it: the include name emptied, leaving the file's own folder */
  expect_rejected("inc_empty.cfg", "@include \"\"\n", "not a regular file");
  expect_rejected("inc_dot.cfg", "train = { lr = 0.1; };\n  @include \".\"\n",
                  "not a regular file");
  expect_rejected("inc_root.cfg", "@include \"/\"\n", "not a regular file");
  /* a device never ends (/dev/zero) or blocks; refused too */
  expect_rejected("inc_dev.cfg", "@include \"/dev/zero\"\n", "not a regular file");
  /* one level down: a regular file that includes a directory */
  const char *inner = tq_test_write_tmp("inner.cfg", "@include \"..\"\n");
  CU_ASSERT_FATAL(inner != NULL);
  expect_rejected("inc_nested.cfg", "@include \"inner.cfg\"\n", "inner.cfg:1");
  /* the file and line of the include are named */
  expect_rejected("inc_line.cfg", "# x\n\n@include \".\"\n", "inc_line.cfg:3");
}

/* Regular includes still work, and a file including itself many times is refused quickly
 * (libconfig's nesting limit) rather than scanned n^10 times. */
static void test_include_regular_and_self(void) {
  const char *inc = tq_test_write_tmp("lr.cfg", "train = { lr = 0.25; };\n");
  CU_ASSERT_FATAL(inc != NULL);
  const char *p = tq_test_write_tmp("main.cfg", "@include \"lr.cfg\"\n");
  static tq_experiment x;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_experiment_load(p, NULL, 0, &x, &e), &e);
  CU_ASSERT_DOUBLE_EQUAL(x.lr, 0.25, 1e-12);
  p = tq_test_write_tmp("self.cfg", "@include \"self.cfg\"\n@include \"self.cfg\"\n"
                                    "@include \"self.cfg\"\n@include \"self.cfg\"\n");
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CU_ASSERT_EQUAL(tq_experiment_load(p, NULL, 0, &x, &e), TQ_EINPUT);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  CU_ASSERT((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec) < 5.0);
}

/* fuzz_idx: 8 bytes, magic 0x00000801 and a count of 2^31: the largest size the header check
 * allows, with no data at all. */
static const uint8_t idx_huge_labels[] = {0x00, 0x00, 0x08, 0x01, 0x80, 0x00, 0x00, 0x00};
/* the same for images: 2^15 images of 256x256 = 2^31 bytes, 16 bytes of header, 3 of data */
static const uint8_t idx_huge_images[] = {0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x80, 0x00, 0x00,
                                          0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 1,    2,
                                          3};

static const char *write_bin(const char *name, const uint8_t *p, size_t n) {
  const char *path = tq_test_write_tmp(name, "");
  FILE *f = path ? fopen(path, "wb") : NULL;
  if (!f) return NULL;
  size_t w = fwrite(p, 1, n, f);
  return fclose(f) == 0 && w == n ? path : NULL;
}

/* Reads path in a child process limited to 512 MiB of address space beyond what it uses now
 * (not under ASan, whose shadow mappings need far more): the reader must report the
 * truncation (TQ_EINPUT, "truncated"), not run out of memory. Returns the child's verdict. */
static int read_limited(const char *path, int images) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
#ifndef TQ_ASAN
    /* what the process maps now + 512 MiB: room for the reader, not for 2 GiB (the fallback,
     * if statm cannot be read, is 3 GiB, which this small process does not approach) */
    struct rlimit rl = {(rlim_t)3 << 30, (rlim_t)3 << 30};
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f && fscanf(f, "%lu", &pages) == 1)
      rl.rlim_cur = rl.rlim_max =
          (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)512 << 20);
    if (f) fclose(f);
    setrlimit(RLIMIT_AS, &rl);
#endif
    tq_idx x;
    tq_err e = {0};
    tq_status s = images ? tq_idx_read_images(path, &x, &e) : tq_idx_read_labels(path, &x, &e);
    if (s != TQ_EINPUT || !strstr(e.msg, "truncated")) {
      fprintf(stderr, "\n  %s: status %d: %s\n", path, (int)s, e.msg);
      _exit(1);
    }
    _exit(0);
  }
  int st;
  if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_idx_huge_promise(void) {
  const char *p = write_bin("huge-labels-idx1-ubyte", idx_huge_labels, sizeof idx_huge_labels);
  CU_ASSERT_FATAL(p != NULL);
  CU_ASSERT_EQUAL(read_limited(p, 0), 0);
  p = write_bin("huge-images-idx3-ubyte", idx_huge_images, sizeof idx_huge_images);
  CU_ASSERT_FATAL(p != NULL);
  CU_ASSERT_EQUAL(read_limited(p, 1), 0);
}

/* The buffer growth keeps big valid files intact: 3 MiB of labels (several doublings). */
static void test_idx_growth_keeps_data(void) {
  size_t n = (size_t)3 << 20;
  uint8_t *buf = malloc(8 + n);
  CU_ASSERT_FATAL(buf != NULL);
  uint8_t head[8] = {0, 0, 8, 1, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                     (uint8_t)n};
  memcpy(buf, head, 8);
  for (size_t i = 0; i < n; i++) buf[8 + i] = (uint8_t)(i * 2654435761u >> 13);
  const char *p = write_bin("big-labels-idx1-ubyte", buf, 8 + n);
  CU_ASSERT_FATAL(p != NULL);
  tq_idx x;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_idx_read_labels(p, &x, &e), &e);
  CU_ASSERT_EQUAL(x.bytes, n);
  CU_ASSERT(x.bytes == n && memcmp(x.data, buf + 8, n) == 0);
  tq_idx_free(&x);
  /* one byte short: truncated, with the count of what arrived */
  p = write_bin("short-labels-idx1-ubyte", buf, 8 + n - 1);
  CU_ASSERT_FATAL(p != NULL);
  CU_ASSERT_EQUAL(tq_idx_read_labels(p, &x, &e), TQ_EINPUT);
  CU_ASSERT(strstr(e.msg, "only 3145727 were read") != NULL);
  free(buf);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"@include of a directory or device: an error, not exit(2)", test_include_directory},
      {"regular @include works; self-inclusion fails fast", test_include_regular_and_self},
      {"IDX header promising 2 GiB in 8 bytes: truncated, no 2 GiB allocation",
       test_idx_huge_promise},
      {"IDX buffer growth keeps a 3 MiB file byte for byte", test_idx_growth_keeps_data},
      {NULL, NULL}};
  tq_test_add_suite("fuzz regressions", cases);
  return tq_test_run();
}
