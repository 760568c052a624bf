/* Temporary files for tests that feed the program bad input. */
#ifndef TQ_TEST_TMPFILE_H
#define TQ_TEST_TMPFILE_H

#include <stddef.h>

/* Writes text to a new file in a fresh temporary folder; returns its path (static buffer
 * per call slot: up to 8 live paths). */
const char *tq_test_write_tmp(const char *name, const char *text);

/* Runs a shell command, capturing stdout+stderr into out (truncated to cap); returns the exit
 * code (or -1 if it could not run). */
int tq_test_run_cmd(const char *cmd, char *out, int cap);

/* A run's state in its checkpoint.bin: parameters, momentum, data positions and residuals,
 * without the header (which holds wall-clock totals) and the CRC, moved to the start of buf.
 * Returns its length, 0 if the file is missing or short. Two runs that should have ended the
 * same compare equal with memcmp. */
size_t tq_test_checkpoint_state(const char *path, char *buf, size_t cap);

/* Keeps the first `cols` comma-separated columns of every line of a CSV text, in place. */
void tq_test_keep_columns(char *text, int cols);

/* metrics.csv columns iteration .. sim_comm_s: everything that must be the same in two runs
 * of one config and seed (the timings after them are not). */
#define TQ_TEST_DETERMINISTIC_COLUMNS 16

#endif
