#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

tq_status tq_read_file(const char *path, char **data, size_t *len, tq_err *e) {
  *data = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return tq_fail(e, TQ_EINPUT, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) break;
    if (n + 1 == cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf) return tq_fail(e, TQ_ENOMEM, "%s: out of memory reading the file", path);
  if (bad) {
    free(buf);
    return tq_fail(e, TQ_EIO, "%s: read error", path);
  }
  buf[n] = '\0';
  *data = buf;
  *len = n;
  return TQ_OK;
}

tq_status tq_write_file_atomic(const char *path, const void *data, size_t len, tq_err *e) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return tq_fail(e, TQ_EINPUT, "%s: path too long", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return tq_fail(e, TQ_EIO, "%s: cannot create: %s", tmp, strerror(errno));
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int err = errno;
      close(fd);
      unlink(tmp);
      return tq_fail(e, TQ_EIO, "%s: write failed: %s", tmp, strerror(err));
    }
    p += w;
    left -= (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp);
    return tq_fail(e, TQ_EIO, "%s: sync failed: %s", tmp, strerror(errno));
  }
  if (rename(tmp, path) != 0) {
    int err = errno;
    unlink(tmp);
    return tq_fail(e, TQ_EIO, "%s: rename failed: %s", path, strerror(err));
  }
  return TQ_OK;
}

tq_status tq_mkdirs(const char *path, tq_err *e) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return tq_fail(e, TQ_EINPUT, "%s: path too long", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return tq_fail(e, TQ_EIO, "%s: cannot create folder: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST)
    return tq_fail(e, TQ_EIO, "%s: cannot create folder: %s", buf, strerror(errno));
  return TQ_OK;
}

void tq_path_join(char *out, size_t cap, const char *dir, const char *rel) {
  if (rel[0] == '/' || !dir || !dir[0] || strcmp(dir, ".") == 0)
    snprintf(out, cap, "%s", rel);
  else
    snprintf(out, cap, "%s/%s", dir, rel);
}

void tq_path_dir(char *out, size_t cap, const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(out, cap, ".");
  else if (slash == path)
    snprintf(out, cap, "/");
  else
    snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

double tq_now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
