/* One reused temporary file per fuzz target, for loaders that take a path. The folder is
 * private (mkdtemp) so that an `@include "x"` the fuzzer invents resolves only to files it
 * wrote itself; it is removed at exit. */
#ifndef TQ_FUZZ_TMP_H
#define TQ_FUZZ_TMP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tq_fuzz_dir[256], tq_fuzz_path[512];

static void tq_fuzz_cleanup(void) {
  if (tq_fuzz_path[0]) unlink(tq_fuzz_path);
  if (tq_fuzz_dir[0]) rmdir(tq_fuzz_dir);
}

/* Writes data to <private dir>/name (the same path on every call) and returns the path. */
static const char *tq_fuzz_write(const char *name, const uint8_t *data, size_t size) {
  if (!tq_fuzz_dir[0]) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(tq_fuzz_dir, sizeof tq_fuzz_dir, "%s/tqfuzz.XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tq_fuzz_dir)) {
      perror("mkdtemp");
      abort();
    }
    snprintf(tq_fuzz_path, sizeof tq_fuzz_path, "%s/%s", tq_fuzz_dir, name);
    atexit(tq_fuzz_cleanup);
  }
  FILE *f = fopen(tq_fuzz_path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    perror(tq_fuzz_path);
    abort();
  }
  return tq_fuzz_path;
}

#endif
