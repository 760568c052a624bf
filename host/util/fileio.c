#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO (named pipe)";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "something else";
}

tq_status tq_open_regular(const char *path, const char *what, size_t max_bytes, int *fd,
                          size_t *size, tq_err *e) {
  *fd = -1;
  *size = 0;
  /* O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever. */
  int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (f < 0) return tq_fail(e, TQ_EINPUT, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(f, &st) != 0) {
    int err = errno;
    close(f);
    return tq_fail(e, TQ_EIO, "%s: cannot stat %s: %s", path, what, strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    close(f);
    return tq_fail(e, TQ_EINPUT, "%s: the %s is not a regular file but %s; tailquant reads "
                   "regular files only", path, what, kind_of(st.st_mode));
  }
  if ((unsigned long long)st.st_size > (unsigned long long)max_bytes) {
    close(f);
    return tq_fail(e, TQ_EINPUT, "%s: the %s is %lld bytes, more than the limit of %zu bytes",
                   path, what, (long long)st.st_size, max_bytes);
  }
  int fl = fcntl(f, F_GETFL);
  if (fl >= 0) fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
  *fd = f;
  *size = (size_t)st.st_size;
  return TQ_OK;
}

tq_status tq_read_file_max(const char *path, const char *what, size_t max_bytes, char **data,
                           size_t *len, tq_err *e) {
  *data = NULL;
  *len = 0;
  int fd;
  size_t size;
  TQ_TRY(tq_open_regular(path, what, max_bytes, &fd, &size, e));
  char *buf = malloc(size + 1);
  if (!buf) {
    close(fd);
    return tq_fail(e, TQ_ENOMEM, "%s: out of memory reading %zu bytes", path, size);
  }
  /* Read what stat promised and no more: a file that grows meanwhile is read to its size then,
   * one that shrinks is reported. */
  size_t n = 0;
  while (n < size) {
    ssize_t got = read(fd, buf + n, size - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int err = errno;
      free(buf);
      close(fd);
      return tq_fail(e, TQ_EIO, "%s: read error: %s", path, strerror(err));
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  close(fd);
  if (n < size) {
    free(buf);
    return tq_fail(e, TQ_EIO, "%s: the file shrank from %zu to %zu bytes while being read", path,
                   size, n);
  }
  buf[n] = '\0';
  *data = buf;
  *len = n;
  return TQ_OK;
}

tq_status tq_read_file(const char *path, char **data, size_t *len, tq_err *e) {
  return tq_read_file_max(path, "file", TQ_READ_MAX_BYTES, data, len, e);
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

bool tq_path_join(char *out, size_t cap, const char *dir, const char *rel) {
  int n;
  if (rel[0] == '/' || !dir || !dir[0] || strcmp(dir, ".") == 0)
    n = snprintf(out, cap, "%s", rel);
  else
    n = snprintf(out, cap, "%s/%s", dir, rel);
  return n >= 0 && (size_t)n < cap;
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
