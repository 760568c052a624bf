/* Strict reading of libconfig settings: every error names the file, the line and the full
 * key path, and says what was expected. Shared by model files and experiment files. */
#ifndef TQ_UTIL_CFG_H
#define TQ_UTIL_CFG_H

#include <libconfig.h>
#include <stdbool.h>

#include "util/err.h"

/* The largest experiment or model file read (each included file too). */
#define TQ_CFG_MAX_BYTES ((size_t)1 << 20)

/* config_init, plus the destructor that frees the origins tq_cfg_* keep in setting hooks. */
void tq_cfg_init(config_t *cfg);

/* Parses a file into cfg (initialised, empty). Only regular files of at most TQ_CFG_MAX_BYTES
 * are read; every integer literal must fit its type as written (libconfig 1.5 would wrap it);
 * `@include "x"` is followed by tailquant, relative to the including file, and the settings of
 * an including file override those of the files it includes (a later include overrides an
 * earlier one); a key set twice within one file is an error naming it. A syntax error gives
 * "FILE:LINE: MESSAGE". Every setting carries its origin (see tq_cfg_where). */
tq_status tq_cfg_read_file(config_t *cfg, const char *path, tq_err *e);

/* Records where a setting came from: `where` is the text messages show ("--set train.lr=5",
 * "exp.cfg:12 (sweep)"), `file` the file relative paths in it resolve against (NULL: the working
 * directory). */
void tq_cfg_set_origin(config_setting_t *s, const char *where, const char *file);

/* "path:line" of a setting, or the origin recorded for it ("--set key=value"); the fallback
 * file for settings with neither. */
void tq_cfg_where(const config_setting_t *s, const char *fallback_file, char *out, size_t cap);

/* The file a setting's relative paths resolve against: *file = its origin's file (NULL for the
 * working directory). Returns false when the setting has no origin and fallback_file was used. */
bool tq_cfg_origin_file(const config_setting_t *s, const char *fallback_file, const char **file);

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
