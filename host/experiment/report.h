/* Reports over many runs: every complete run under a folder (its summary.json and metrics.csv)
 * grouped by (experiment, dataset, model, method, bits), aggregated over seeds, as a table
 * (Markdown, CSV or JSON) and as curve files (CSV with a header row; tools/plot.sh, pandas). */
#ifndef TQ_EXPERIMENT_REPORT_H
#define TQ_EXPERIMENT_REPORT_H

#include <stdio.h>

#include "util/err.h"

typedef struct tq_run_summary {
  char dir[1024];
  char model[64], method[16], experiment[64], variant[128];
  char dataset[128]; /* summary.json's "dataset"; "-" for runs written before it existed */
  int bits, seed, workers, iterations;
  double final_acc, best_acc, bits_total, ratio, time_to_target, target, mse, seconds;
  double iters_to_target; /* first evaluation at or above target (metrics.csv); NaN: never */
} tq_run_summary;

/* Finds every summary.json under dir (any depth) with "status": "complete". A summary that
 * cannot be read or lacks a field is an error naming the file. */
tq_status tq_report_scan(const char *dir, tq_run_summary **runs, int *n, tq_err *e);

typedef enum tq_report_format { TQ_REPORT_MD, TQ_REPORT_CSV, TQ_REPORT_JSON } tq_report_format;

/* "md", "csv" or "json"; anything else is TQ_EINPUT naming the value. */
tq_status tq_report_format_from_name(const char *name, tq_report_format *out, tq_err *e);

/* The table: one row per (experiment, dataset, model, method, bits) with the runs (seeds), the
 * iterations, and means and sample standard deviations over the runs ("n/a" in Markdown, an
 * empty CSV field, JSON null where there is one run). */
void tq_report_table(const tq_run_summary *runs, int n, tq_report_format f, FILE *out);
/* The same in Markdown (tq_report_table with TQ_REPORT_MD). */
void tq_report_markdown(const tq_run_summary *runs, int n, FILE *out);

/* For each group: DIR/curves_<experiment>_<dataset>_<model>_b<bits>_<method>.csv with a header
 * row and, per iteration, the mean, min and max over seeds of the loss and the test accuracy
 * (empty fields where not evaluated), the mean cumulative uplink Mbit, the number of runs and the
 * group's keys; and DIR/mse.csv (experiment, dataset, model, method, bits, mean per-element
 * quantization MSE). pandas.read_csv reads them as they are. */
tq_status tq_report_curves(const tq_run_summary *runs, int n, const char *dir, tq_err *e);

#endif
