/* Reports over many runs: every complete run under a folder (its summary.json and metrics.csv)
 * grouped by (experiment, model, method, bits), aggregated over seeds, as a Markdown table and as curve
 * files for gnuplot (tools/plot.sh). */
#ifndef TQ_EXP_REPORT_H
#define TQ_EXP_REPORT_H

#include <stdio.h>

#include "util/err.h"

typedef struct tq_run_summary {
  char dir[1024];
  char model[64], method[16], experiment[64], variant[128];
  int bits, seed, workers, iterations;
  double final_acc, best_acc, bits_total, ratio, time_to_target, target, mse, seconds;
} tq_run_summary;

/* Finds every summary.json under dir (any depth) with "status": "complete". A summary that
 * cannot be read or lacks a field is an error naming the file. */
tq_status tq_report_scan(const char *dir, tq_run_summary **runs, int *n, tq_err *e);

/* The Markdown table: one row per (experiment, model, method, bits), means and standard deviations over
 * the runs (seeds) of each. */
void tq_report_markdown(const tq_run_summary *runs, int n, FILE *out);

/* For each group: DIR/curves_<experiment>_<model>_b<bits>_<method>.tsv with, per
 * iteration, the mean, min and max over seeds of the loss and (where evaluated) the test
 * accuracy, and the mean cumulative uplink bits; and DIR/mse.tsv (experiment, model, method,
 * bits, mean per-element quantization MSE). */
tq_status tq_report_curves(const tq_run_summary *runs, int n, const char *dir, tq_err *e);

#endif
