/* Small file helpers with errors that name the path. */
#ifndef TQ_UTIL_FILEIO_H
#define TQ_UTIL_FILEIO_H

#include <stddef.h>

#include "util/err.h"

/* Reads a whole file into a NUL-terminated buffer. Caller frees. */
tq_status tq_read_file(const char *path, char **data, size_t *len, tq_err *e);

/* Writes a file atomically: to PATH.tmp, fsync, then rename over PATH, so a reader sees the
 * old file or the new one, never half of one. */
tq_status tq_write_file_atomic(const char *path, const void *data, size_t len, tq_err *e);

/* mkdir -p. */
tq_status tq_mkdirs(const char *path, tq_err *e);

/* Joins dir and a relative path into out (absolute paths are returned unchanged). */
void tq_path_join(char *out, size_t cap, const char *dir, const char *rel);

/* The directory part of path ("." if none). */
void tq_path_dir(char *out, size_t cap, const char *path);

double tq_now_seconds(void);

#endif
