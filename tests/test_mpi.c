/* The MPI transport, through mpirun on localhost: 3 ranks running 4 workers end 20 iterations
 * with parameters, momentum and residuals bit-identical to the in-process transport's; a rank
 * that dies ends the job with a message and a non-zero exit instead of a hang. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiment/checkpoint.h"
#include "test_support.h"
#include "tmpfile.h"

#define BIN TQ_BINARY_DIR "/tailquant"
#define CFG TQ_SOURCE_DIR "/config/default.cfg"
/* As root Open MPI needs both variables; more ranks than cores needs --oversubscribe; with
 * several ranks on 2 cores each POCL gets one thread (docs/performance.md, Platform facts). In
 * a sanitizer build the ranks run without leak checks: Open MPI's plugins are unloaded before
 * LeakSanitizer looks, so their lifetime allocations cannot be suppressed by name; the same
 * binary is leak-checked by test_train and test_kill_resume. */
#define MPIRUN                                                                                     \
  "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 300 mpirun --oversubscribe " \
  "-np 3 -x POCL_MAX_PTHREAD_COUNT=1 -x LSAN_OPTIONS=detect_leaks=0 "
#define SMALL                                                                                      \
  "--quiet --set workers.count=4 --set train.batch_size=16 --set train.iterations=20 "            \
  "--set train.eval_every=10 --set compression.error_feedback=true --set checkpoint.every=10 "

static char out[1 << 16], dir[64];

static void test_bit_identical_to_inproc(void) {
  char cmd[4096], path[512];
  snprintf(cmd, sizeof cmd, MPIRUN BIN " train " CFG " --transport mpi " SMALL
           "--set output.dir=%s --set experiment.name=mpi", dir);
  int rc = tq_test_run_cmd(cmd, out, sizeof out);
  if (rc) fprintf(stderr, "\n  %s\n", out);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  snprintf(cmd, sizeof cmd, BIN " train " CFG " " SMALL "--set output.dir=%s --set experiment.name=inproc", dir);
  rc = tq_test_run_cmd(cmd, out, sizeof out);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  static char a[1 << 21], b[1 << 21];
  snprintf(path, sizeof path, "%s/mpi/checkpoint.bin", dir);
  size_t na = tq_test_checkpoint_state(path, a, sizeof a);
  snprintf(path, sizeof path, "%s/inproc/checkpoint.bin", dir);
  size_t nb = tq_test_checkpoint_state(path, b, sizeof b);
  /* params + momentum + 4 workers' residuals, each 61706 floats, plus data positions */
  CU_ASSERT(na > 6 * 61706 * 4);
  CU_ASSERT_EQUAL(na, nb);
  CU_ASSERT(na == nb && memcmp(a, b, na) == 0);
  /* rank 0 alone wrote the run; it counted the bytes it moved */
  snprintf(path, sizeof path, "%s/mpi/summary.json", dir);
  FILE *f = fopen(path, "r");
  CU_ASSERT_FATAL(f != NULL);
  size_t n = fread(a, 1, sizeof a - 1, f);
  a[n] = '\0';
  fclose(f);
  CU_ASSERT(strstr(a, "\"transport\": \"mpi\"") != NULL);
  CU_ASSERT(strstr(a, "\"mpi_ranks\": 3") != NULL);
  const char *p = strstr(a, "\"mpi_bytes_per_iteration\": ");
  CU_ASSERT_FATAL(p != NULL);
  double bytes = atof(p + strlen("\"mpi_bytes_per_iteration\": "));
  /* at least the fp32 broadcast of 61706 parameters to 2 ranks */
  CU_ASSERT(bytes >= 2.0 * 61706 * 4);
}

static void test_dead_rank_ends_the_job(void) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, MPIRUN BIN " train " CFG " --transport mpi " SMALL
           "--set output.dir=%s --set experiment.name=dead --set faults.exit_rank=1 "
           "--set faults.exit_iteration=5", dir);
  int rc = tq_test_run_cmd(cmd, out, sizeof out);
  CU_ASSERT(rc != 0);
  CU_ASSERT(rc != 124); /* not the timeout: the job ended by itself */
  CU_ASSERT(strstr(out, "rank 1") != NULL);
  char path[512];
  snprintf(path, sizeof path, "%s/dead/summary.json", dir);
  CU_ASSERT(access(path, F_OK) != 0); /* nothing passed off as complete */
}

static void test_bad_input_once(void) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, MPIRUN BIN " train " CFG " --transport mpi --set train.lr=fast");
  int rc = tq_test_run_cmd(cmd, out, sizeof out);
  CU_ASSERT(rc != 0 && rc != 124);
  const char *first = strstr(out, "'fast' is not a number");
  CU_ASSERT_FATAL(first != NULL);
  CU_ASSERT(strstr(first + 1, "'fast' is not a number") == NULL); /* said once, by rank 0 */
}

#define MPIRUN_NP(np)                                                                              \
  "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 300 mpirun --oversubscribe " \
  "-np " #np " -x POCL_MAX_PTHREAD_COUNT=1 -x LSAN_OPTIONS=detect_leaks=0 "

/* Counts the occurrences of needle in hay. */
static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

/* mpirun without --transport mpi: every process would train the whole job into one folder.
 * Each refuses before doing anything; rank 0 says why, once. */
static void test_mpirun_without_transport(void) {
  char cmd[4096], path[512];
  snprintf(cmd, sizeof cmd, MPIRUN_NP(2) BIN " train " CFG " " SMALL
           "--set output.dir=%s --set experiment.name=nompi", dir);
  int rc = tq_test_run_cmd(cmd, out, sizeof out);
  CU_ASSERT(rc != 0 && rc != 124);
  CU_ASSERT_EQUAL(count(out, "without --transport mpi"), 1);
  if (count(out, "without --transport mpi") != 1) fprintf(stderr, "\n  %s\n", out);
  CU_ASSERT(strstr(out, "OMPI_COMM_WORLD_SIZE=2") != NULL);
  snprintf(path, sizeof path, "%s/nompi", dir);
  CU_ASSERT(access(path, F_OK) != 0); /* nothing started */
}

/* 9 ranks for 8 workers: bad input every rank finds alike; said once, by rank 0. */
static void test_too_many_ranks_once(void) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, MPIRUN_NP(9) BIN " train " CFG " --transport mpi --quiet "
           "--set workers.count=8 --set output.dir=%s --set experiment.name=np9", dir);
  int rc = tq_test_run_cmd(cmd, out, sizeof out);
  CU_ASSERT(rc != 0 && rc != 124);
  CU_ASSERT_EQUAL(count(out, "9 MPI ranks for 8 workers"), 1);
  if (count(out, "9 MPI ranks for 8 workers") != 1) fprintf(stderr, "\n  %s\n", out);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/tq_mpi_XXXXXX");
  if (!mkdtemp(dir)) return 1;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"3 ranks == in-process, bit for bit, after 20 iterations", test_bit_identical_to_inproc},
      {"a rank that exits ends the job, not a hang", test_dead_rank_ends_the_job},
      {"bad input: one message, exit without hanging", test_bad_input_once},
      {"mpirun without --transport mpi: refused, said once", test_mpirun_without_transport},
      {"-np 9 for 8 workers: said once, by rank 0", test_too_many_ranks_once},
      {NULL, NULL}};
  tq_test_add_suite("mpi transport", cases);
  int rc = tq_test_run();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return rc;
}
