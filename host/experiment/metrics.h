/* Run outputs: metrics.csv (one row per iteration) and summary.json.
 * While a run is going, rows go to metrics.csv.partial; only a run that finishes renames it to
 * metrics.csv, so a half-written file is never taken for a complete one. */
#ifndef TQ_EXPERIMENT_METRICS_H
#define TQ_EXPERIMENT_METRICS_H

#include <stdio.h>

#include "util/err.h"

typedef struct tq_metrics {
  FILE *f;
  char partial[1100], final[1100];
} tq_metrics;

/* Opens DIR/metrics.csv.partial and writes the header (comma-separated column names). */
tq_status tq_metrics_open(tq_metrics *m, const char *dir, const char *header, tq_err *e);
/* Continues a stopped run: truncates DIR/metrics.csv.partial to `bytes` (the length recorded
 * with the checkpoint) and appends from there. */
tq_status tq_metrics_resume(tq_metrics *m, const char *dir, long long bytes, tq_err *e);
/* Bytes written so far (flushed), to record in a checkpoint. */
tq_status tq_metrics_tell(tq_metrics *m, long long *bytes, tq_err *e);
/* Writes one row (already formatted, without the newline). */
tq_status tq_metrics_row(tq_metrics *m, const char *row, tq_err *e);
/* Flushes, closes and renames to metrics.csv. */
tq_status tq_metrics_finish(tq_metrics *m, tq_err *e);
/* Closes without renaming (a failed run keeps metrics.csv.partial). */
void tq_metrics_abandon(tq_metrics *m);

/* Minimal JSON object writer for summary.json. */
typedef struct tq_json {
  char *buf;
  size_t len, cap;
  int fields;
} tq_json;
void tq_json_begin(tq_json *j);
void tq_json_str(tq_json *j, const char *key, const char *value);
void tq_json_num(tq_json *j, const char *key, double value);
void tq_json_int(tq_json *j, const char *key, long long value);
/* Closes the object and writes it atomically to path; frees the buffer. */
tq_status tq_json_write(tq_json *j, const char *path, tq_err *e);

#endif
