/* Temporary files for tests that feed the program bad input. */
#ifndef TQ_TEST_TMPFILE_H
#define TQ_TEST_TMPFILE_H

/* Writes text to a new file in a fresh temporary folder; returns its path (static buffer
 * per call slot: up to 8 live paths). */
const char *tq_test_write_tmp(const char *name, const char *text);

/* Runs a shell command, capturing stdout+stderr into out (truncated to cap); returns the exit
 * code (or -1 if it could not run). */
int tq_test_run_cmd(const char *cmd, char *out, int cap);

#endif
