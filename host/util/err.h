/* Errors are values: every fallible function returns a tq_status and fills a tq_err
 * with a message that names the file, line, key, value or OpenCL call at fault.
 * Only the command line turns a status into an exit code, through tq_exit_code: each verb
 * (host/cli/) returns it, most through tq_cli_report (which also prints the message), and
 * main.c returns what the verb returned. Usage errors found while parsing a verb's options
 * return 2 without a status. Three paths end the process directly instead: a signal outside the
 * training loop or a second one (_exit(130), experiment/train.c), the faults.exit_rank hook
 * (_exit(3)) and a failure during training under MPI (tq_mpi_abort: MPI_Abort with
 * tq_exit_code of the status). */
#ifndef TQ_UTIL_ERR_H
#define TQ_UTIL_ERR_H

#include <stddef.h>

typedef enum tq_status {
  TQ_OK = 0,
  TQ_EINPUT = 2,    /* bad user input: config, model file, data file, command line, message */
  TQ_EIO = 3,       /* the system refused a read or write */
  TQ_ECL = 4,       /* an OpenCL or CLBlast call failed */
  TQ_ENOMEM = 5,    /* host or device memory exhausted */
  TQ_EINTERNAL = 6, /* a broken invariant: a bug in tailquant */
  TQ_EINTR = 7,     /* stopped by SIGINT/SIGTERM after writing a checkpoint (exit 130) */
  TQ_ETIMEOUT = 8,  /* a worker missed the server's deadline (workers.timeout_s) under
                       workers.on_missing = stop, or every worker did (exit 1) */
} tq_status;

typedef struct tq_err {
  tq_status code;
  char msg[2048];
} tq_err;

/* Records the first error (later calls append nothing if one is already set, so the
 * root cause survives clean-up paths) and returns code, so callers can write
 * `return tq_fail(e, TQ_EINPUT, "...")`. e may be NULL. */
tq_status tq_fail(tq_err *e, tq_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes context to an error already recorded ("loading model x: " + old message). */
tq_status tq_wrap(tq_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void tq_err_clear(tq_err *e);
const char *tq_status_name(tq_status s);

/* Exit code the command line uses for a status: 0 for TQ_OK, 2 for bad input, 130 for an
 * interrupted run (as a shell reports SIGINT), 1 for anything else (a missed deadline
 * included: 1 as before it had a status of its own). */
int tq_exit_code(tq_status s);

#define TQ_TRY(expr)                                                                               \
  do {                                                                                             \
    tq_status tq_try_s_ = (expr);                                                                  \
    if (tq_try_s_ != TQ_OK) return tq_try_s_;                                                      \
  } while (0)

#endif
