#include "experiment/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"

/* How a column's value is written. */
typedef enum col_kind {
  COL_LONG,       /* long, with the column's format */
  COL_UINT,       /* unsigned */
  COL_INT,        /* int */
  COL_ULL,        /* unsigned long long */
  COL_DOUBLE,     /* double, with the column's format */
  COL_AT_EVAL,    /* double, written only when the row's `evaluated` is set, else empty */
  COL_IF_FINITE,  /* double as %.6g, empty when NaN or infinite (not measured) */
} col_kind;

typedef struct column {
  const char *name;
  col_kind kind;
  const char *fmt;
  size_t offset; /* of the value in tq_metrics_row */
} column;

#define COL(name, kind, fmt, field) {name, kind, fmt, offsetof(tq_metrics_row, field)}

/* metrics.csv, left to right: report.c, tools/ and people read the columns by name, so a new
 * one goes at the end. */
static const column columns[] = {
    COL("iteration", COL_LONG, "%ld", iteration),
    COL("epoch", COL_UINT, "%u", epoch),
    COL("loss", COL_DOUBLE, "%.6f", loss),
    COL("train_accuracy", COL_DOUBLE, "%.6f", train_accuracy),
    COL("test_loss", COL_AT_EVAL, "%.6f", test_loss),
    COL("test_accuracy", COL_AT_EVAL, "%.6f", test_accuracy),
    COL("lr", COL_DOUBLE, "%.6g", lr),
    COL("bits", COL_DOUBLE, "%.0f", bits),
    COL("bits_total", COL_DOUBLE, "%.0f", bits_total),
    COL("compression_ratio", COL_DOUBLE, "%.4f", compression_ratio),
    COL("quant_mse", COL_IF_FINITE, "%.6g", quant_mse),
    COL("gamma", COL_IF_FINITE, "%.6g", gamma),
    COL("g_min", COL_IF_FINITE, "%.6g", g_min),
    COL("alpha", COL_IF_FINITE, "%.6g", alpha),
    COL("rejected", COL_LONG, "%ld", rejected),
    COL("sim_comm_s", COL_DOUBLE, "%.6f", sim_comm_s),
    COL("t_compute", COL_DOUBLE, "%.6f", t_compute),
    COL("t_encode", COL_DOUBLE, "%.6f", t_encode),
    COL("t_queue", COL_DOUBLE, "%.6f", t_queue),
    COL("t_decode", COL_DOUBLE, "%.6f", t_decode),
    COL("t_update", COL_DOUBLE, "%.6f", t_update),
    COL("t_step", COL_DOUBLE, "%.6f", t_step),
    COL("sim_wall_s", COL_DOUBLE, "%.4f", sim_wall_s),
    COL("images_per_s", COL_DOUBLE, "%.1f", images_per_s),
    COL("seconds", COL_DOUBLE, "%.3f", seconds),
    COL("mpi_bytes", COL_ULL, "%llu", mpi_bytes),
    COL("workers_used", COL_INT, "%d", workers_used),
    COL("missing", COL_INT, "%d", missing),
    COL("unusable", COL_INT, "%d", unusable),
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

/* One value as the column writes it; the number of characters, or < 0. */
static int format_value(const column *c, const tq_metrics_row *row, char *buf, size_t cap) {
  const char *p = (const char *)row + c->offset;
  switch (c->kind) {
  case COL_LONG: return snprintf(buf, cap, c->fmt, *(const long *)p);
  case COL_UINT: return snprintf(buf, cap, c->fmt, *(const unsigned *)p);
  case COL_INT: return snprintf(buf, cap, c->fmt, *(const int *)p);
  case COL_ULL: return snprintf(buf, cap, c->fmt, *(const unsigned long long *)p);
  case COL_DOUBLE: return snprintf(buf, cap, c->fmt, *(const double *)p);
  case COL_AT_EVAL:
    return row->evaluated ? snprintf(buf, cap, c->fmt, *(const double *)p)
                          : snprintf(buf, cap, "%s", "");
  case COL_IF_FINITE:
    return isfinite(*(const double *)p) ? snprintf(buf, cap, c->fmt, *(const double *)p)
                                        : snprintf(buf, cap, "%s", "");
  }
  return -1;
}

bool tq_metrics_header(char *buf, size_t cap) {
  size_t used = 0;
  for (size_t i = 0; i < NCOLUMNS; i++) {
    int n = snprintf(buf + used, cap - used, "%s%s", i ? "," : "", columns[i].name);
    if (n < 0 || (size_t)n >= cap - used) return false;
    used += (size_t)n;
  }
  return true;
}

bool tq_metrics_format(const tq_metrics_row *row, char *buf, size_t cap) {
  size_t used = 0;
  for (size_t i = 0; i < NCOLUMNS; i++) {
    if (i) {
      if (used + 1 >= cap) return false;
      buf[used++] = ',';
      buf[used] = '\0';
    }
    int n = format_value(&columns[i], row, buf + used, cap - used);
    if (n < 0 || (size_t)n >= cap - used) return false;
    used += (size_t)n;
  }
  return true;
}

tq_status tq_metrics_open(tq_metrics *m, const char *dir, tq_err *e) {
  char header[1024];
  if (!tq_metrics_header(header, sizeof header))
    return tq_fail(e, TQ_EINTERNAL, "metrics.csv: the header is over %zu characters",
                   sizeof header);
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

tq_status tq_metrics_write(tq_metrics *m, const tq_metrics_row *row, tq_err *e) {
  char line[1024];
  if (!tq_metrics_format(row, line, sizeof line))
    return tq_fail(e, TQ_EINTERNAL, "%s: a row over %zu characters", m->partial, sizeof line);
  if (fprintf(m->f, "%s\n", line) < 0) return tq_fail(e, TQ_EIO, "%s: write failed", m->partial);
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
