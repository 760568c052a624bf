/* metrics.csv's column table: the header and a row are byte for byte what the training loop
 * wrote before the table existed (one hand-kept format string and name list), including the
 * columns left empty (no evaluation, nothing measured). Host-only. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "experiment/metrics.h"
#include "test_support.h"

static const char *const old_header =
    "iteration,epoch,loss,train_accuracy,test_loss,test_accuracy,lr,bits,bits_total,"
    "compression_ratio,quant_mse,gamma,g_min,alpha,rejected,sim_comm_s,"
    "t_compute,t_encode,t_queue,t_decode,t_update,t_step,sim_wall_s,images_per_s,seconds,mpi_bytes,"
    "workers_used,missing,unusable";

static void fmt_opt(char *out, size_t cap, double v) {
  if (isfinite(v))
    snprintf(out, cap, "%.6g", v);
  else
    out[0] = '\0';
}

/* The row as the loop formatted it before the table. */
static void old_row(const tq_metrics_row *r, char *line, size_t cap) {
  char tl[32] = "", ta[32] = "", mse[32], g[32], gm[32], al[32];
  if (r->evaluated) {
    snprintf(tl, sizeof tl, "%.6f", r->test_loss);
    snprintf(ta, sizeof ta, "%.6f", r->test_accuracy);
  }
  fmt_opt(mse, sizeof mse, r->quant_mse);
  fmt_opt(g, sizeof g, r->gamma);
  fmt_opt(gm, sizeof gm, r->g_min);
  fmt_opt(al, sizeof al, r->alpha);
  snprintf(line, cap,
           "%ld,%u,%.6f,%.6f,%s,%s,%.6g,%.0f,%.0f,%.4f,%s,%s,%s,%s,%ld,%.6f,"
           "%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.4f,%.1f,%.3f,%llu,%d,%d,%d",
           r->iteration, r->epoch, r->loss, r->train_accuracy, tl, ta, r->lr, r->bits,
           r->bits_total, r->compression_ratio, mse, g, gm, al, r->rejected, r->sim_comm_s,
           r->t_compute, r->t_encode, r->t_queue, r->t_decode, r->t_update, r->t_step,
           r->sim_wall_s, r->images_per_s, r->seconds, r->mpi_bytes, r->workers_used, r->missing,
           r->unusable);
}

static void test_header(void) {
  char h[1024];
  CU_ASSERT_FATAL(tq_metrics_header(h, sizeof h));
  CU_ASSERT_STRING_EQUAL(h, old_header);
  CU_ASSERT(!tq_metrics_header(h, 40)); /* too small: refused, not cut */
}

static void test_rows(void) {
  tq_metrics_row r = {
      .iteration = 1234, .epoch = 7, .loss = 2.302585093, .train_accuracy = 0.109375,
      .evaluated = true, .test_loss = 1.98765432, .test_accuracy = 0.4321, .lr = (float)0.05,
      .bits = 123456789, .bits_total = 9.87654321e12, .compression_ratio = 10.6666667,
      .quant_mse = 3.14159e-9, .gamma = 1.75, .g_min = 2.5e-5, .alpha = 0.0123,
      .rejected = 3, .sim_comm_s = 0.0123456789, .t_compute = 0.1, .t_encode = 0.02,
      .t_queue = 0.003, .t_decode = 0.0004, .t_update = 0.00005, .t_step = 0.123456,
      .sim_wall_s = 98765.4321, .images_per_s = 4321.987, .seconds = 12.3456,
      .mpi_bytes = 18446744073709551615ull, .workers_used = 3, .missing = 1, .unusable = 0};
  char want[1024], got[1024];
  old_row(&r, want, sizeof want);
  CU_ASSERT_FATAL(tq_metrics_format(&r, got, sizeof got));
  CU_ASSERT_STRING_EQUAL(got, want);
  /* no evaluation this step, nothing measured: those columns empty */
  r.evaluated = false;
  r.quant_mse = r.gamma = r.g_min = r.alpha = NAN;
  r.g_min = INFINITY;
  old_row(&r, want, sizeof want);
  CU_ASSERT_FATAL(tq_metrics_format(&r, got, sizeof got));
  CU_ASSERT_STRING_EQUAL(got, want);
  CU_ASSERT(strstr(got, ",,,,,") != NULL);
  CU_ASSERT(!tq_metrics_format(&r, got, 20));
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"header: the column names in their order", test_header},
      {"rows: every column's format, empty columns", test_rows},
      {NULL, NULL}};
  tq_test_add_suite("metrics", cases);
  return tq_test_run();
}
