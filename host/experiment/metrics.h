/* Run outputs: metrics.csv (one row per iteration) and summary.json.
 * While a run is going, rows go to metrics.csv.partial; only a run that finishes renames it to
 * metrics.csv, so a half-written file is never taken for a complete one. */
#ifndef TQ_EXPERIMENT_METRICS_H
#define TQ_EXPERIMENT_METRICS_H

#include <stdbool.h>
#include <stdio.h>

#include "util/err.h"

typedef struct tq_metrics {
  FILE *f;
  char partial[1100], final[1100];
} tq_metrics;

/* What one iteration measured: one row of metrics.csv. The columns, their order and how each
 * value is written are one table in metrics.c, which writes both the header and the rows. */
typedef struct tq_metrics_row {
  long iteration;
  unsigned epoch;
  double loss, train_accuracy;
  bool evaluated; /* test_loss and test_accuracy are written only at evaluations */
  double test_loss, test_accuracy, lr;
  double bits, bits_total, compression_ratio;
  double quant_mse, gamma, g_min, alpha; /* NaN: not measured (written empty) */
  long rejected;
  double sim_comm_s, t_compute, t_encode, t_queue, t_decode, t_update, t_step, sim_wall_s;
  double images_per_s, seconds;
  unsigned long long mpi_bytes;
  int workers_used, missing, unusable;
} tq_metrics_row;

/* Opens DIR/metrics.csv.partial and writes the header (the table's column names). */
tq_status tq_metrics_open(tq_metrics *m, const char *dir, tq_err *e);
/* Continues a stopped run: truncates DIR/metrics.csv.partial to `bytes` (the length recorded
 * with the checkpoint) and appends from there. */
tq_status tq_metrics_resume(tq_metrics *m, const char *dir, long long bytes, tq_err *e);
/* Bytes written so far (flushed), to record in a checkpoint. */
tq_status tq_metrics_tell(tq_metrics *m, long long *bytes, tq_err *e);
/* Writes one row, formatted column by column by the table. */
tq_status tq_metrics_write(tq_metrics *m, const tq_metrics_row *row, tq_err *e);
/* The header line and a row as metrics.csv holds them (no newline), into buf; false if cap
 * is too small. */
bool tq_metrics_header(char *buf, size_t cap);
bool tq_metrics_format(const tq_metrics_row *row, char *buf, size_t cap);
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
