/* Shared pieces of the CUnit suites: the device under test, a runner, comparisons. */
#ifndef TQ_TEST_SUPPORT_H
#define TQ_TEST_SUPPORT_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>

#include "cl/cl_runtime.h"

/* The OpenCL device the suites run on: $TQ_TEST_DEVICE, default "auto". Opened once per test
 * program on first use; a failure to open fails the calling test with the reason. */
tq_cl *tq_test_cl(void);

/* Runs every registered suite in CUnit's basic mode; the return value is the exit code
 * (non-zero if any assertion failed or the registry could not be built). */
int tq_test_run(void);

/* Registers a suite of NULL-terminated {name, fn} pairs. With TQ_TEST_ONLY set (a '|'-separated
 * list of substrings; the conformance run on Oclgrind uses it to keep to the cases an
 * interpreter can run in minutes, tests/CMakeLists.txt), only the cases whose name contains one
 * of them are registered, and the suite says how many it left out. */
typedef struct tq_test_case {
  const char *name;
  void (*fn)(void);
} tq_test_case;
void tq_test_add_suite(const char *name, const tq_test_case *cases);

/* True when TQ_TEST_SMALL is set: suites that can, use smaller shapes (the conformance run). */
int tq_test_small(void);

/* Largest |a-b| / max(|b|, floor) over n elements, and its index. */
double tq_test_max_rel_diff(const float *a, const float *b, size_t n, double floor,
                            size_t *where);

/* Deterministic test data: xorshift-based uniform and normal samples. */
typedef struct tq_test_rng {
  uint64_t s;
} tq_test_rng;
double tq_test_uniform(tq_test_rng *r);  /* [0,1) */
double tq_test_normal(tq_test_rng *r);

/* Asserts a tq_status is TQ_OK, printing the message if not. */
#define TQ_ASSERT_OK(expr, err)                                                                    \
  do {                                                                                             \
    tq_status s__ = (expr);                                                                        \
    if (s__ != TQ_OK) fprintf(stderr, "\n  %s -> %s\n", #expr, (err)->msg);                       \
    CU_ASSERT_EQUAL_FATAL(s__, TQ_OK);                                                             \
  } while (0)

#endif
