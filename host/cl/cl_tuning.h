/* CLBlast tuning parameters per device: the cache `tailquant tune` writes and every
 * tq_cl_open applies with CLBlastOverrideParameters.
 *
 * One text file per device, $XDG_CACHE_HOME/tailquant/tuning/<device key>.txt (or
 * ~/.cache/tailquant/...), where the key is the device name, platform name and driver version
 * with every character outside [A-Za-z0-9._-] turned into '_'. A new driver is a new key, so
 * parameters measured on an old one are not applied to it. Format (version 1):
 *
 *     tailquant-tuning 1
 *     device <device name>|<platform name>|<driver version>
 *     # free comments
 *     kernel <CLBlast kernel name> <precision 16|32|64> <NAME=VALUE> ...  [# measurement]
 *
 * e.g. "kernel Xgemm 32 GEMMK=0 KREG=1 KWG=32 ... VWN=4 # 41.7 GFLOPS at 256x1024x1024".
 * Values are non-negative integers, as CLBlast's parameters are.
 *
 * TAILQUANT_TUNING=off skips loading (to measure the untuned speed). */
#ifndef TQ_CL_TUNING_H
#define TQ_CL_TUNING_H

#include <stdbool.h>
#include <stdio.h>

#include "cl/cl_runtime.h"

#define TQ_TUNE_MAX_KERNELS 16
#define TQ_TUNE_MAX_PARAMS 24

typedef struct tq_tuned_kernel {
  char kernel[32];
  int precision;
  int nparams;
  char names[TQ_TUNE_MAX_PARAMS][24];
  size_t values[TQ_TUNE_MAX_PARAMS];
  char note[160]; /* the measurement that chose it, for humans */
} tq_tuned_kernel;

typedef struct tq_tuning {
  char device_key[512];
  int nkernels;
  tq_tuned_kernel k[TQ_TUNE_MAX_KERNELS];
} tq_tuning;

/* "<device>|<platform>|<driver version>" of an OpenCL device. */
void tq_tuning_device_key(const tq_cl_devinfo *d, char *out, size_t cap);

/* The cache file of a device (the folder is not created). TQ_EINPUT when neither
 * XDG_CACHE_HOME nor HOME is set. */
tq_status tq_tuning_path(const tq_cl_devinfo *d, char *out, size_t cap, tq_err *e);

/* Parses a cache file. A malformed file is TQ_EINPUT naming the file and line; a missing one
 * is TQ_EIO. */
tq_status tq_tuning_load(const char *path, tq_tuning *t, tq_err *e);
/* Parses text already in memory (name is used in messages). */
tq_status tq_tuning_parse(const char *text, const char *name, tq_tuning *t, tq_err *e);

/* Writes the file atomically (temporary file + rename), creating its folders. */
tq_status tq_tuning_save(const char *path, const tq_tuning *t, tq_err *e);

/* Adds or replaces the entry for (kernel, precision). */
tq_status tq_tuning_set(tq_tuning *t, const tq_tuned_kernel *k, tq_err *e);

/* Applies every entry with CLBlastOverrideParameters. Entries CLBlast refuses (a parameter set
 * that does not match its kernel) are skipped with a warning naming them. */
tq_status tq_tuning_override(cl_device_id dev, const tq_tuning *t, const char *origin, FILE *warn,
                             int *applied, tq_err *e);

/* Loads the device's cache and applies it. No cache: nothing happens. A corrupt or
 * mismatching cache: one warning on `warn` naming the file, and CLBlast's defaults. Returns
 * the number of kernels overridden; *xgemm (may be NULL) says whether the whole cache,
 * including an Xgemm entry, was accepted. Thread-safe. */
int tq_tuning_apply(const tq_cl_devinfo *d, FILE *warn, bool *xgemm);

/* For `tailquant devices`: "yes (N kernels)", "no", or "corrupt" (with the reason in why). */
void tq_tuning_describe(const tq_cl_devinfo *d, char *out, size_t cap);

/* One result row of a CLBlast tuner's table ("|  12 | 578 |  0 64 ... | ... | 41.2 | results
 * match |"): fills values (n of them) and the performance figure (GFLOPS or GB/s). False for
 * any other line, or a row whose results did not match the reference. */
bool tq_tuning_parse_row(const char *line, size_t *values, int *n, int cap, double *perf);

#endif
