#include "cl/cl_tuner.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fileio.h"

/* What has been read of a tuner's output: the parameter names of its table and the best row. */
typedef struct reader {
  char names[TQ_TUNE_MAX_PARAMS][24];
  int nnames;
  tq_tuner_result *best;
  FILE *log;
} reader;

/* One line of output: the table's header names its parameters; each row is one candidate. */
static void read_line(reader *r, const char *line) {
  tq_tuner_result *best = r->best;
  const char *pe = strstr(line, "Parameters explored:");
  if (pe) {
    r->nnames = 0;
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", pe + 20);
    char *save = NULL;
    for (char *t = strtok_r(tmp, " \t\x1b", &save); t && r->nnames < TQ_TUNE_MAX_PARAMS;
         t = strtok_r(NULL, " \t\x1b", &save))
      if (t[0] != '[') snprintf(r->names[r->nnames++], sizeof r->names[0], "%s", t);
  }
  if (strstr(line, "GFLOPS")) snprintf(best->unit, sizeof best->unit, "GFLOPS");
  if (strstr(line, "GB/s") && !best->unit[0]) snprintf(best->unit, sizeof best->unit, "GB/s");
  size_t v[TQ_TUNE_MAX_PARAMS];
  int n = 0;
  double perf = 0;
  if (tq_tuning_parse_row(line, v, &n, TQ_TUNE_MAX_PARAMS, &perf)) {
    best->candidates++;
    if (n == r->nnames && perf > best->perf) {
      best->ok = true;
      best->perf = perf;
      best->n = n;
      memcpy(best->names, r->names, sizeof r->names);
      memcpy(best->values, v, sizeof v);
    }
  }
  if (r->log) fprintf(r->log, "%s\n", line);
}

/* Reads the tuner's output line by line until it exits or the deadline passes (then it is
 * stopped). */
static void follow(int fd, pid_t pid, double deadline, reader *r) {
  char buf[8192];
  size_t len = 0;
  bool stopped = false;
  for (;;) {
    double left = deadline - tq_now_seconds();
    if (left <= 0 && !stopped) {
      kill(pid, SIGTERM);
      stopped = true;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc = poll(&p, 1, stopped ? 2000 : (int)fmin(left * 1000 + 1, 1000));
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) {
      if (stopped) break;
      continue;
    }
    ssize_t got = read(fd, buf + len, sizeof buf - 1 - len);
    if (got <= 0) break;
    len += (size_t)got;
    buf[len] = '\0';
    char *line = buf, *nl;
    while ((nl = strchr(line, '\n'))) {
      *nl = '\0';
      read_line(r, line);
      line = nl + 1;
    }
    len = strlen(line);
    memmove(buf, line, len + 1);
    if (len == sizeof buf - 1) len = 0; /* an absurdly long line: drop it */
  }
  /* Stopped and still silent after the grace period (a tuner inside a long compile may not
   * act on SIGTERM at once), or closed its output but lingers: make sure it ends. */
  kill(pid, stopped ? SIGKILL : SIGTERM);
  int st;
  waitpid(pid, &st, 0);
}

tq_status tq_tuner_run(const tq_tuner_job *job, const tq_cl_devinfo *d, tq_tuner_result *out,
                       tq_err *e) {
  memset(out, 0, sizeof *out);
  char path[512];
  snprintf(path, sizeof path, "/usr/bin/%s", job->exe);
  if (access(path, X_OK) != 0)
    return tq_fail(e, TQ_EINPUT, "%s not found: install the package clblast-utils", path);
  /* Explore a random subset small enough that a good part of it fits the time: a candidate
   * costs a compile (0.1-0.2 s on POCL) plus a few runs. The tuner divides its list by -fraction. */
  char a_p[16], a_d[16], a_m[32], a_n[32], a_k[32], a_f[32];
  snprintf(a_p, sizeof a_p, "%d", d->platform_index);
  snprintf(a_d, sizeof a_d, "%d", d->device_index);
  snprintf(a_m, sizeof a_m, "%zu", job->m);
  snprintf(a_n, sizeof a_n, "%zu", job->n);
  snprintf(a_k, sizeof a_k, "%zu", job->k);
  double fraction = fmax(1.0, 150.0 / fmax(job->seconds, 1.0));
  snprintf(a_f, sizeof a_f, "%.2f", fraction);
  char *argv[24];
  int a = 0;
  argv[a++] = path;
  argv[a++] = "-platform", argv[a++] = a_p, argv[a++] = "-device", argv[a++] = a_d;
  argv[a++] = "-precision", argv[a++] = "32";
  argv[a++] = "-m", argv[a++] = a_m, argv[a++] = "-n", argv[a++] = a_n;
  if (job->gemm) argv[a++] = "-k", argv[a++] = a_k;
  argv[a++] = "-fraction", argv[a++] = a_f, argv[a++] = "-runs", argv[a++] = "2";
  argv[a] = NULL;
  int fds[2];
  if (pipe(fds) != 0) return tq_fail(e, TQ_EIO, "pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return tq_fail(e, TQ_EIO, "fork: %s", strerror(errno));
  }
  if (pid == 0) {
    /* The tuner writes its JSON files into its working folder: a scratch one. */
    if (chdir(job->workdir) != 0) _exit(126);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    execv(path, argv);
    _exit(127);
  }
  close(fds[1]);
  reader r = {.best = out, .log = job->log};
  follow(fds[0], pid, tq_now_seconds() + job->seconds, &r);
  close(fds[0]);
  return TQ_OK;
}
