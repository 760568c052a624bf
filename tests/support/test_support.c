#include "test_support.h"

#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tq_cl g_cl;
static int g_cl_state; /* 0 untried, 1 open, -1 failed */

/* Called by tq_test_run, not from atexit: by the time atexit handlers run, thread-local
 * destructors have run too, and a driver that keeps per-thread state (Oclgrind's API-call
 * stack) then writes into freed memory on the next OpenCL call (docs/testing.md). */
static void close_cl(void) {
  if (g_cl_state == 1) tq_cl_close(&g_cl);
  g_cl_state = 0;
}

tq_cl *tq_test_cl(void) {
  if (g_cl_state == 0) {
    tq_err e = {0};
    const char *spec = getenv("TQ_TEST_DEVICE");
    if (tq_cl_open(&g_cl, spec ? spec : "auto", false, &e) == TQ_OK) {
      g_cl_state = 1;
    } else {
      fprintf(stderr, "\n  cannot open the test device: %s\n", e.msg);
      g_cl_state = -1;
    }
  }
  CU_ASSERT_FATAL(g_cl_state == 1);
  return &g_cl;
}

static int wanted(const char *name) {
  const char *only = getenv("TQ_TEST_ONLY");
  if (!only || !only[0]) return 1;
  for (const char *p = only; *p;) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    for (const char *h = name; n && *h; h++)
      if (strncmp(h, p, n) == 0) return 1;
    if (!bar) break;
    p = bar + 1;
  }
  return 0;
}

int tq_test_small(void) {
  const char *v = getenv("TQ_TEST_SMALL");
  return v && v[0] && strcmp(v, "0") != 0;
}

void tq_test_add_suite(const char *name, const tq_test_case *cases) {
  CU_pSuite s = CU_add_suite(name, NULL, NULL);
  if (!s) return;
  int left = 0;
  for (int i = 0; cases[i].name; i++) {
    if (wanted(cases[i].name)) CU_add_test(s, cases[i].name, cases[i].fn);
    else left++;
  }
  if (left) fprintf(stderr, "suite %s: %d case%s left out by TQ_TEST_ONLY\n", name, left,
                    left == 1 ? "" : "s");
}

int tq_test_run(void) {
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  close_cl();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  unsigned ran = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  if (ran == 0) {
    fprintf(stderr, "no test ran\n");
    return 1;
  }
  return failed ? 1 : 0;
}

double tq_test_max_rel_diff(const float *a, const float *b, size_t n, double floor,
                            size_t *where) {
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    double den = fabs((double)b[i]);
    if (den < floor) den = floor;
    double d = fabs((double)a[i] - (double)b[i]) / den;
    if (!(d <= worst)) { /* NaN counts as worst */
      worst = isnan(d) ? INFINITY : d;
      at = i;
    }
  }
  if (where) *where = at;
  return worst;
}

static uint64_t next(tq_test_rng *r) {
  uint64_t x = r->s ? r->s : 0x9E3779B97F4A7C15ull;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  r->s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

double tq_test_uniform(tq_test_rng *r) { return (double)(next(r) >> 11) * (1.0 / 9007199254740992.0); }

double tq_test_normal(tq_test_rng *r) {
  double u1 = tq_test_uniform(r), u2 = tq_test_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#include <sys/wait.h>

#include "tmpfile.h"

const char *tq_test_write_tmp(const char *name, const char *text) {
  static char paths[8][512];
  static int slot;
  static char dir[64];
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/tq_test_XXXXXX");
    if (!mkdtemp(dir)) return NULL;
  }
  char *p = paths[slot++ % 8];
  snprintf(p, 512, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  if (!f) return NULL;
  fputs(text, f);
  fclose(f);
  return p;
}

int tq_test_run_cmd(const char *cmd, char *out, int cap) {
  char full[4096];
  snprintf(full, sizeof full, "%s 2>&1", cmd);
  FILE *f = popen(full, "r");
  if (!f) return -1;
  int n = 0, c;
  while ((c = fgetc(f)) != EOF)
    if (n < cap - 1) out[n++] = (char)c;
  out[n] = '\0';
  int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#include <string.h>

#include "experiment/checkpoint.h"

size_t tq_test_checkpoint_state(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  size_t off, len;
  if (!tq_checkpoint_state_span(buf, n, &off, &len)) return 0;
  memmove(buf, buf + off, len);
  return len;
}

void tq_test_keep_columns(char *text, int cols) {
  char *dst = text;
  for (char *line = text; *line;) {
    char *end = strchr(line, '\n');
    if (!end) break;
    int c = 0;
    for (char *p = line; p < end; p++) {
      if (*p == ',' && ++c == cols) break;
      *dst++ = *p;
    }
    *dst++ = '\n';
    line = end + 1;
  }
  *dst = '\0';
}
