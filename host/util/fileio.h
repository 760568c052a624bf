/* Small file helpers with errors that name the path. */
#ifndef TQ_UTIL_FILEIO_H
#define TQ_UTIL_FILEIO_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* Opens a file for reading only if it is a regular file of at most max_bytes: a directory,
 * FIFO, socket or device (/dev/zero) is refused with its kind named, without blocking (a FIFO
 * is opened non-blocking), and so is a file larger than the bound. Returns the descriptor in
 * *fd and the size in *size. `what` names the file's role in messages ("experiment file"). */
tq_status tq_open_regular(const char *path, const char *what, size_t max_bytes, int *fd,
                          size_t *size, tq_err *e);

/* The bound tq_read_file applies: text and small binary files (experiment and model files,
 * tuning caches, summaries). Bigger inputs use tq_read_file_max with their own format's bound. */
#define TQ_READ_MAX_BYTES ((size_t)16 << 20)

/* Reads a whole regular file into a NUL-terminated buffer. Caller frees. */
tq_status tq_read_file(const char *path, char **data, size_t *len, tq_err *e);
tq_status tq_read_file_max(const char *path, const char *what, size_t max_bytes, char **data,
                           size_t *len, tq_err *e);

/* Writes a file atomically: to PATH.tmp, fsync, then rename over PATH, so a reader sees the
 * old file or the new one, never half of one. */
tq_status tq_write_file_atomic(const char *path, const void *data, size_t len, tq_err *e);

/* mkdir -p. */
tq_status tq_mkdirs(const char *path, tq_err *e);

/* Joins dir and a relative path into out (absolute paths are returned unchanged). Returns
 * false (out truncated) when the result does not fit in cap. */
bool tq_path_join(char *out, size_t cap, const char *dir, const char *rel);

/* The directory part of path ("." if none). */
void tq_path_dir(char *out, size_t cap, const char *path);

double tq_now_seconds(void);

#endif
