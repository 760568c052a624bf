/* Strict reading of libconfig settings: every error names the file, the line and the full
 * key path, and says what was expected. Shared by model files and experiment files. */
#ifndef TQ_UTIL_CFG_H
#define TQ_UTIL_CFG_H

#include <libconfig.h>
#include <stdbool.h>

#include "util/err.h"

/* Parses a file; a syntax error gives "FILE:LINE: MESSAGE". */
tq_status tq_cfg_read_file(config_t *cfg, const char *path, tq_err *e);

/* "path:line" for a setting (line 0 for settings made in memory, e.g. by --set). */
void tq_cfg_where(const config_setting_t *s, const char *fallback_file, char *out, size_t cap);

/* Full dotted path of a setting ("train.lr", "layers.[3].size"). */
void tq_cfg_path(const config_setting_t *s, char *out, size_t cap);

/* Rejects any member of group g whose name is not in the NULL-terminated list `allowed`. */
tq_status tq_cfg_only_keys(const config_setting_t *g, const char *const *allowed,
                           const char *file, tq_err *e);

/* Typed getters. A missing key gives the default when `required` is false. Ints must be
 * integers; floats accept integers too. Ranges are inclusive. */
tq_status tq_cfg_int(const config_setting_t *g, const char *key, bool required, int dflt, int lo,
                     int hi, int *out, const char *file, tq_err *e);
tq_status tq_cfg_float(const config_setting_t *g, const char *key, bool required, double dflt,
                       double lo, double hi, double *out, const char *file, tq_err *e);
tq_status tq_cfg_string(const config_setting_t *g, const char *key, bool required,
                        const char *dflt, char *out, size_t cap, const char *file, tq_err *e);
tq_status tq_cfg_bool(const config_setting_t *g, const char *key, bool required, bool dflt,
                      bool *out, const char *file, tq_err *e);

const char *tq_cfg_type_name(int type);

#endif
