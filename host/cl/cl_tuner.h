/* Running one of CLBlast's tuner programs (package clblast-utils: clblast_tuner_xgemm, ...) for
 * a device, within a time budget: the tuner is spawned with its output on a pipe, its table is
 * read row by row as it goes (tq_tuning_parse_row), the best row that matched the reference is
 * kept, and the tuner is stopped at its deadline, so the budget holds whatever the tuner's own
 * search size. `tailquant tune` (cli/cmd_tune.c) decides which tuners run, at which shapes and
 * for how long, and stores the results in the tuning cache (cl_tuning.h). */
#ifndef TQ_CL_TUNER_H
#define TQ_CL_TUNER_H

#include <stdbool.h>
#include <stdio.h>

#include "cl/cl_runtime.h"
#include "cl/cl_tuning.h"

typedef struct tq_tuner_job {
  const char *exe;     /* the program's name, looked up in /usr/bin */
  bool gemm;           /* takes -m -n -k (else -m -n) */
  size_t m, n, k;      /* the size it tunes at */
  double seconds;      /* then it is stopped */
  const char *workdir; /* its working folder: it writes JSON files there */
  FILE *log;           /* every line it prints; may be NULL */
} tq_tuner_job;

typedef struct tq_tuner_result {
  bool ok; /* some candidate finished and matched the reference */
  int n;
  char names[TQ_TUNE_MAX_PARAMS][24];
  size_t values[TQ_TUNE_MAX_PARAMS];
  double perf;     /* of the best candidate, in unit */
  long candidates; /* rows that matched the reference */
  char unit[16];   /* "GFLOPS" or "GB/s" */
} tq_tuner_result;

/* Runs job on device d and fills out. TQ_EINPUT when the program is not installed; TQ_EIO when
 * it cannot be started. A tuner that finds nothing is TQ_OK with out->ok false. */
tq_status tq_tuner_run(const tq_tuner_job *job, const tq_cl_devinfo *d, tq_tuner_result *out,
                       tq_err *e);

#endif
