#include "experiment/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"

tq_status tq_metrics_open(tq_metrics *m, const char *dir, const char *header, tq_err *e) {
  snprintf(m->partial, sizeof m->partial, "%s/metrics.csv.partial", dir);
  snprintf(m->final, sizeof m->final, "%s/metrics.csv", dir);
  remove(m->final); /* a previous run's file must not pass for this run's */
  m->f = fopen(m->partial, "w");
  if (!m->f) return tq_fail(e, TQ_EIO, "%s: cannot create: %s", m->partial, strerror(errno));
  fprintf(m->f, "%s\n", header);
  return TQ_OK;
}

tq_status tq_metrics_resume(tq_metrics *m, const char *dir, long long bytes, tq_err *e) {
  snprintf(m->partial, sizeof m->partial, "%s/metrics.csv.partial", dir);
  snprintf(m->final, sizeof m->final, "%s/metrics.csv", dir);
  /* Truncating a shorter file would pad it with zero bytes up to the checkpoint's length and
   * lose the rows cut off: a cut or edited metrics file cannot be resumed faithfully. */
  struct stat st;
  if (stat(m->partial, &st) != 0)
    return tq_fail(e, TQ_EINPUT, "%s: cannot resume: %s", m->partial, strerror(errno));
  if (!S_ISREG(st.st_mode) || st.st_size < (off_t)bytes)
    return tq_fail(e, TQ_EINPUT,
                   "%s: %lld bytes, shorter than the %lld the checkpoint recorded: the metrics "
                   "were cut or edited after the run stopped, so resuming would lose rows; "
                   "restore the file or start the run again",
                   m->partial, (long long)st.st_size, bytes);
  if (truncate(m->partial, (off_t)bytes) != 0)
    return tq_fail(e, TQ_EINPUT, "%s: cannot truncate to the checkpoint's %lld bytes: %s",
                   m->partial, bytes, strerror(errno));
  m->f = fopen(m->partial, "a");
  if (!m->f) return tq_fail(e, TQ_EIO, "%s: cannot open: %s", m->partial, strerror(errno));
  return TQ_OK;
}

tq_status tq_metrics_tell(tq_metrics *m, long long *bytes, tq_err *e) {
  /* On disk before the checkpoint that records this length: after a power cut, truncating to
   * it must not extend the file with zeros. */
  if (fflush(m->f) != 0 || fsync(fileno(m->f)) != 0)
    return tq_fail(e, TQ_EIO, "%s: write failed", m->partial);
  long pos = ftell(m->f);
  if (pos < 0) return tq_fail(e, TQ_EIO, "%s: cannot tell position", m->partial);
  *bytes = pos;
  return TQ_OK;
}

tq_status tq_metrics_row(tq_metrics *m, const char *row, tq_err *e) {
  if (fprintf(m->f, "%s\n", row) < 0) return tq_fail(e, TQ_EIO, "%s: write failed", m->partial);
  return TQ_OK;
}

tq_status tq_metrics_finish(tq_metrics *m, tq_err *e) {
  int bad = fflush(m->f) != 0 || ferror(m->f);
  bad |= fclose(m->f) != 0;
  m->f = NULL;
  if (bad) return tq_fail(e, TQ_EIO, "%s: write failed", m->partial);
  if (rename(m->partial, m->final) != 0)
    return tq_fail(e, TQ_EIO, "%s: cannot rename to metrics.csv: %s", m->partial, strerror(errno));
  return TQ_OK;
}

void tq_metrics_abandon(tq_metrics *m) {
  if (m->f) fclose(m->f);
  m->f = NULL;
}

static void jappend(tq_json *j, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (j->len + (size_t)n + 1 > j->cap) {
    size_t nc = j->cap ? j->cap * 2 : 1024;
    while (nc < j->len + (size_t)n + 1) nc *= 2;
    char *nb = realloc(j->buf, nc);
    if (!nb) return;
    j->buf = nb;
    j->cap = nc;
  }
  va_start(ap, fmt);
  vsnprintf(j->buf + j->len, j->cap - j->len, fmt, ap);
  va_end(ap);
  j->len += (size_t)n;
}

void tq_json_begin(tq_json *j) {
  memset(j, 0, sizeof *j);
  jappend(j, "{");
}

static void key(tq_json *j, const char *k) { jappend(j, "%s\n  \"%s\": ", j->fields++ ? "," : "", k); }

void tq_json_str(tq_json *j, const char *k, const char *v) {
  key(j, k);
  jappend(j, "\"");
  for (const char *p = v; *p; p++) {
    if (*p == '"' || *p == '\\')
      jappend(j, "\\%c", *p);
    else if ((unsigned char)*p < 0x20)
      jappend(j, "\\u%04x", (unsigned char)*p);
    else
      jappend(j, "%c", *p);
  }
  jappend(j, "\"");
}

void tq_json_num(tq_json *j, const char *k, double v) {
  key(j, k);
  if (isfinite(v))
    jappend(j, "%.9g", v);
  else
    jappend(j, "null"); /* JSON has no NaN: an unmeasured value */
}

void tq_json_int(tq_json *j, const char *k, long long v) {
  key(j, k);
  jappend(j, "%lld", v);
}

tq_status tq_json_write(tq_json *j, const char *path, tq_err *e) {
  jappend(j, "\n}\n");
  tq_status s = j->buf ? tq_write_file_atomic(path, j->buf, j->len, e)
                       : tq_fail(e, TQ_ENOMEM, "out of memory writing %s", path);
  free(j->buf);
  memset(j, 0, sizeof *j);
  return s;
}
