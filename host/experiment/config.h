/* Experiment files (libconfig). One schema table (config.c) lists every key with its type,
 * range, default and meaning; it drives validation (unknown keys are errors), defaults,
 * `--set key=value` overrides, and the resolved configuration written beside the results.
 * docs/configuration.md documents the same keys (a test keeps the two in step).
 *
 * Paths in data.* and model.file are relative to the folder of the file that sets them (an
 * included file's own folder for its settings; the working directory for --set; defaults are
 * relative to the experiment file); output.dir is relative to the working directory. Strings
 * longer than their documented limit are refused, never cut. */
#ifndef TQ_EXPERIMENT_CONFIG_H
#define TQ_EXPERIMENT_CONFIG_H

#include <stdbool.h>

#include "util/err.h"

#define TQ_PATH_MAX 1024
#define TQ_NAME_MAX 255 /* experiment.name, a sweep variant's folder name (NAME_MAX) */
#define TQ_SWEEP_VALUE_MAX 255

typedef struct tq_experiment {
  char source[TQ_PATH_MAX]; /* the experiment file */

  /* experiment */
  char name[TQ_NAME_MAX + 1]; /* a folder name: at most TQ_NAME_MAX characters */
  int seed;
  /* data */
  char data_format[16]; /* idx | cifar10 */
  bool augment;         /* random crop (4-pixel padding) and horizontal flip of training batches */
  char train_images[TQ_PATH_MAX], train_labels[TQ_PATH_MAX];
  char test_images[TQ_PATH_MAX], test_labels[TQ_PATH_MAX];
  int classes;
  char normalize[16]; /* "auto" (from the training set) or "given" */
  double mean, std;
  /* model */
  char model_file[TQ_PATH_MAX];
  /* train */
  int batch_size, epochs, iterations, eval_every;
  double lr, momentum, weight_decay;
  char lr_schedule[16]; /* constant | step | cosine */
  int lr_step_every;
  double lr_step_gamma, lr_min;
  /* workers */
  int workers;
  char partition[16]; /* iid | label_skew */
  int classes_per_worker;
  char worker_devices[1024]; /* comma-separated specs; empty: device.spec for all */
  double timeout_s;
  char on_missing[16], on_invalid[16]; /* stop | continue */
  /* compression */
  char method[16];
  int bits, bucket, min_elems, refit_every, warmup_iterations;
  char tail_model[16], alpha_rule[16];
  bool zero_level, error_feedback, design_for_average;
  /* link model */
  double bandwidth_mbps, latency_ms;
  bool downlink;
  /* metrics */
  bool quant_mse;
  double target_accuracy;
  /* checkpoint */
  int checkpoint_every;
  /* faults (for tests and resilience studies) */
  int exit_rank, exit_iteration;
  int crash_worker, crash_iteration, stall_worker, stall_iteration;
  double stall_seconds;
  int corrupt_worker, corrupt_iteration, nan_worker, nan_iteration;
  char corrupt[16]; /* flip | truncate */
  /* device */
  char device[256];
  char device_profile[16]; /* auto | cpu | gpu (host/cl/cl_devprofile.h) */
  /* output */
  char out_dir[TQ_PATH_MAX];
  char variant[TQ_NAME_MAX + 1]; /* the sweep variant's name; empty without a sweep */
} tq_experiment;

/* A sweep: the cartesian product of value lists for some keys. Variant i is the base file with
 * the `--set`-style overrides settings[i][0..nkeys). */
#define TQ_MAX_VARIANTS 256
typedef struct tq_sweep {
  int nvariants, nkeys;
  char key[8][64];  /* the swept keys */
  char where[8][TQ_PATH_MAX + 32]; /* "FILE:LINE" of each key's entry */
  char file[TQ_PATH_MAX];          /* the file holding the sweep: its values' paths resolve there */
  char name[TQ_MAX_VARIANTS][TQ_NAME_MAX + 1];
  char settings[TQ_MAX_VARIANTS][8][64 + TQ_SWEEP_VALUE_MAX + 2];
} tq_sweep;

/* Reads the optional `sweep = ( { key = "group.key"; values = [ ... ]; }, ... );` list of an
 * experiment file. Without one: a single variant with an empty name and no settings. A value
 * longer than TQ_SWEEP_VALUE_MAX, a value listed twice, and two variants whose folder names
 * would be equal are refused; folder names are injective (characters other than letters,
 * digits, '.', '-' and '_' are written %XX). */
tq_status tq_sweep_load(const char *path, tq_sweep *sw, tq_err *e);

/* Reads and validates an experiment file, then applies the overrides ("key=value" strings,
 * e.g. "train.lr=0.1"), then resolves paths. Errors name the file, line and key (or the
 * --set argument). */
tq_status tq_experiment_load(const char *path, const char *const *overrides, int noverrides,
                             tq_experiment *x, tq_err *e);

/* The same for variant v of a sweep: the file, then the variant's swept values, then the
 * command line's overrides, which must not name a swept key (that is an error saying so). */
tq_status tq_experiment_load_variant(const char *path, const char *const *overrides,
                                     int noverrides, const tq_sweep *sw, int v, tq_experiment *x,
                                     tq_err *e);

/* The training-relevant part of a resolved configuration as "key=value" lines (every key but
 * the run's name and place, the device choice, the timeout, checkpoint.every and faults.*),
 * stored in checkpoints so that --resume can name a key that changed since. Returns false if
 * cap is too small. */
bool tq_experiment_fingerprint(const tq_experiment *x, char *out, size_t cap);

/* Writes the fully resolved configuration (every key, defaults included) in libconfig syntax. */
tq_status tq_experiment_write(const tq_experiment *x, const char *path, tq_err *e);

/* The schema, for documentation checks: key i's dotted name, or NULL past the end. */
const char *tq_experiment_key(int i);

#endif
