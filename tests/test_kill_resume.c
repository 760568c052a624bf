/* Checkpoint safety under SIGKILL: `tailquant train` runs as a child process and is killed at
 * random moments (seeded: TQ_KILL_SEED, default 8), several times per round, some rounds
 * checkpointing every iteration; after each kill the run is resumed with --resume until it
 * finishes. Asserted:
 *   - the checkpoint is never corrupt: once checkpoint.bin exists, every resume either finishes
 *     or is killed by us, never fails; a kill that came before the first checkpoint leaves no
 *     checkpoint.bin, and the run is then started afresh (counted, and forced once per run of
 *     the test by an immediate kill, so that path is always exercised);
 *   - the resumed run completes (summary.json, metrics.csv with one row per iteration);
 *   - its final parameters, momentum and residuals (checkpoint.bin after its header) equal
 *     those of an uninterrupted run with the same configuration, bit for bit, and so do the
 *     deterministic columns of metrics.csv.
 * To keep every process short (about a second) the test set is cut to its first 256 images,
 * written as plain IDX files in the test's folder; the training set is the real one. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#include "data/idx.h"
#include "experiment/checkpoint.h"
#include "experiment/config.h"
#include "test_support.h"
#include "tmpfile.h"

#define BIN TQ_BINARY_DIR "/tailquant"
#define DEFAULT_CFG TQ_SOURCE_DIR "/config/default.cfg"
#define ITERATIONS "30"
#define NITER 30
#define TEST_ITEMS 256

static char dir[64], test_images[256], test_labels[256];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state;
static double uniform(void) { /* xorshift64*, [0, 1) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static int write_idx(const char *path, uint32_t magic, const uint32_t *dims, int ndims,
                     const uint8_t *data, size_t bytes) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  uint8_t h[16];
  uint32_t words[4] = {magic, dims[0], ndims > 1 ? dims[1] : 0, ndims > 1 ? dims[2] : 0};
  for (int i = 0; i <= ndims; i++)
    for (int b = 0; b < 4; b++) h[4 * i + b] = (uint8_t)(words[i] >> (24 - 8 * b));
  int bad = fwrite(h, 4, (size_t)ndims + 1, f) != (size_t)ndims + 1 ||
            fwrite(data, 1, bytes, f) != bytes;
  bad |= fclose(f) != 0;
  return bad ? -1 : 0;
}

/* The first TEST_ITEMS images and labels of the configured test set, as plain IDX files. */
static int make_small_test_set(void) {
  tq_experiment x;
  tq_idx im, lb;
  tq_err e = {0};
  if (tq_experiment_load(DEFAULT_CFG, NULL, 0, &x, &e) != TQ_OK ||
      tq_idx_read_images(x.test_images, &im, &e) != TQ_OK)
    return fprintf(stderr, "\n  %s\n", e.msg), -1;
  if (tq_idx_read_labels(x.test_labels, &lb, &e) != TQ_OK) {
    tq_idx_free(&im);
    return fprintf(stderr, "\n  %s\n", e.msg), -1;
  }
  uint32_t di[3] = {TEST_ITEMS, im.dims[1], im.dims[2]}, dl[1] = {TEST_ITEMS};
  snprintf(test_images, sizeof test_images, "%s/test-images-idx3-ubyte", dir);
  snprintf(test_labels, sizeof test_labels, "%s/test-labels-idx1-ubyte", dir);
  int rc = write_idx(test_images, TQ_IDX_MAGIC_IMAGES, di, 3, im.data,
                     (size_t)TEST_ITEMS * im.dims[1] * im.dims[2]) |
           write_idx(test_labels, TQ_IDX_MAGIC_LABELS, dl, 1, lb.data, TEST_ITEMS);
  tq_idx_free(&im);
  tq_idx_free(&lb);
  return rc;
}

/* Starts the binary with argv (argv[0] is ignored), output appended to log. */
static pid_t spawn(const char *const *argv, const char *log) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execv(BIN, (char *const *)argv);
    _exit(127);
  }
  return pid;
}

/* Exit code, or -signal for a process killed by a signal. */
static int reap(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -1000;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

/* Waits up to `secs` for pid; kills it with SIGKILL if still running. Returns the exit code
 * (the process ended by itself) or -SIGKILL. */
static int kill_after(pid_t pid, double secs) {
  double end = now() + secs;
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    double left = end - now();
    if (left <= 0) break;
    struct timespec ts = {0, (long)(1e9 * (left < 0.002 ? left : 0.002))};
    nanosleep(&ts, NULL);
  }
  kill(pid, SIGKILL);
  return reap(pid);
}

static char set_every[64], set_out[300], set_name[96], set_ti[300], set_tl[300];

/* argv of a fresh start of run `name` with checkpoint.every = every. */
static const char **fresh_argv(const char *name, int every) {
  static const char *argv[32];
  snprintf(set_every, sizeof set_every, "checkpoint.every=%d", every);
  snprintf(set_out, sizeof set_out, "output.dir=%s", dir);
  snprintf(set_name, sizeof set_name, "experiment.name=%s", name);
  snprintf(set_ti, sizeof set_ti, "data.test_images=%s", test_images);
  snprintf(set_tl, sizeof set_tl, "data.test_labels=%s", test_labels);
  const char *a[] = {"tailquant", "train", DEFAULT_CFG, "--quiet",
                     "--set", "workers.count=2", "--set", "train.batch_size=16",
                     "--set", "train.iterations=" ITERATIONS, "--set", set_every,
                     "--set", "train.eval_every=0", "--set", "metrics.quant_mse=false",
                     "--set", "compression.error_feedback=true", "--set", set_out,
                     "--set", set_name, "--set", set_ti, "--set", set_tl, NULL};
  memcpy(argv, a, sizeof a);
  return argv;
}

static const char **resume_argv(const char *run_dir) {
  static const char *argv[8];
  argv[0] = "tailquant";
  argv[1] = "train";
  argv[2] = "--quiet";
  argv[3] = "--resume";
  argv[4] = run_dir;
  argv[5] = NULL;
  return argv;
}

static size_t read_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = '\0';
  return n;
}

static void print_log(const char *log) {
  static char buf[1 << 14];
  read_file(log, buf, sizeof buf);
  fprintf(stderr, "\n  --- %s ---\n%s\n", log, buf);
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

static double ref_seconds;
static int fresh_restarts, resumes, kills;

/* One uninterrupted run: the reference every killed run must reproduce. */
static void test_reference(void) {
  char log[300];
  snprintf(log, sizeof log, "%s/ref.log", dir);
  double t0 = now();
  int rc = reap(spawn(fresh_argv("ref", 1), log));
  ref_seconds = now() - t0;
  if (rc != 0) print_log(log);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  printf("\n  uninterrupted run: %.2f s", ref_seconds);
}

/* Compares run `name` with the reference: complete, same state, same metrics. */
static void check_against_reference(const char *name) {
  static char a[1 << 20], b[1 << 20];
  char path[512];
  snprintf(path, sizeof path, "%s/%s/summary.json", dir, name);
  read_file(path, a, sizeof a);
  CU_ASSERT(strstr(a, "\"status\": \"complete\"") != NULL);
  snprintf(path, sizeof path, "%s/ref/checkpoint.bin", dir);
  size_t na = tq_test_checkpoint_state(path, a, sizeof a);
  snprintf(path, sizeof path, "%s/%s/checkpoint.bin", dir, name);
  size_t nb = tq_test_checkpoint_state(path, b, sizeof b);
  CU_ASSERT(na > 2 * 61706 * 4); /* at least parameters and momentum of LeNet-5 */
  CU_ASSERT_EQUAL(na, nb);
  CU_ASSERT(na == nb && memcmp(a, b, na) == 0);
  snprintf(path, sizeof path, "%s/ref/metrics.csv", dir);
  read_file(path, a, sizeof a);
  snprintf(path, sizeof path, "%s/%s/metrics.csv", dir, name);
  read_file(path, b, sizeof b);
  CU_ASSERT_EQUAL(count_lines(b), NITER + 1);
  tq_test_keep_columns(a, TQ_TEST_DETERMINISTIC_COLUMNS);
  tq_test_keep_columns(b, TQ_TEST_DETERMINISTIC_COLUMNS);
  CU_ASSERT_STRING_EQUAL(a, b);
}

/* A run killed `nkill` times at random moments in [0, span) after each start, resumed (or,
 * without a checkpoint yet, started afresh) after each kill, then left to finish. first_kill:
 * a fixed delay for the first kill instead of a random one (< 0: random). */
static void killed_run(const char *name, int every, int nkill, double span, double first_kill) {
  char run_dir[300], ckpt[400], summary[400], log[300];
  snprintf(run_dir, sizeof run_dir, "%s/%s", dir, name);
  snprintf(ckpt, sizeof ckpt, "%s/checkpoint.bin", run_dir);
  snprintf(summary, sizeof summary, "%s/summary.json", run_dir);
  snprintf(log, sizeof log, "%s/%s.log", dir, name);
  bool started = false;
  for (int k = 0;; k++) {
    if (started && access(summary, F_OK) == 0) break; /* killed after it had finished */
    bool resume = started && access(ckpt, F_OK) == 0;
    if (started && !resume) fresh_restarts++; /* killed before its first checkpoint */
    resumes += resume;
    pid_t pid = spawn(resume ? resume_argv(run_dir) : fresh_argv(name, every), log);
    started = true;
    int rc;
    if (k < nkill) {
      double delay = k == 0 && first_kill >= 0 ? first_kill : span * uniform();
      rc = kill_after(pid, delay);
      if (rc == -SIGKILL) {
        kills++;
        continue;
      }
    } else {
      rc = reap(pid);
    }
    /* Ended by itself: it must have finished the run; a corrupt or missing checkpoint on
     * resume shows here as a non-zero exit. */
    if (rc != 0) print_log(log);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    break;
  }
  check_against_reference(name);
}

static void test_kills_checkpoint_every_iteration(void) {
  CU_ASSERT_FATAL(ref_seconds > 0);
  /* the first kill comes at once, before any checkpoint can exist: the fresh-start path */
  killed_run("every1_a", 1, 4, ref_seconds, 0.0);
  killed_run("every1_b", 1, 4, ref_seconds, -1);
  killed_run("every1_c", 1, 3, 1.2 * ref_seconds, -1);
  CU_ASSERT(fresh_restarts >= 1);
}

static void test_kills_checkpoint_every_7(void) {
  CU_ASSERT_FATAL(ref_seconds > 0);
  killed_run("every7_a", 7, 3, ref_seconds, -1);
  killed_run("every7_b", 7, 3, ref_seconds, -1);
  printf("\n  %d kills, %d resumes, %d fresh restarts", kills, resumes, fresh_restarts);
}

int main(void) {
  const char *seed = getenv("TQ_KILL_SEED");
  rng_state = 0x9E3779B97F4A7C15ull ^ (uint64_t)(seed ? strtoull(seed, NULL, 10) : 8);
  snprintf(dir, sizeof dir, "/tmp/tq_kill.XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  if (make_small_test_set() != 0) {
    fprintf(stderr, "cannot write the small test set into %s\n", dir);
    return 1;
  }
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"uninterrupted reference run", test_reference},
      {"SIGKILL at random, checkpoint every iteration: resume == reference", 
       test_kills_checkpoint_every_iteration},
      {"SIGKILL at random, checkpoint every 7: resume == reference", test_kills_checkpoint_every_7},
      {NULL, NULL}};
  tq_test_add_suite("kill and resume", cases);
  int rc = tq_test_run();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return rc;
}
