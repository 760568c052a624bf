#include "exp/config.h"

#include <errno.h>
#include <limits.h>
#include <libconfig.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cfg.h"
#include "util/fileio.h"

typedef enum key_type { K_INT, K_FLOAT, K_STRING, K_PATH, K_BOOL } key_type;

typedef struct key_def {
  const char *key; /* "group.name" */
  key_type type;
  size_t offset, size;
  double lo, hi;    /* numeric range */
  const char *dflt; /* default, as text in the key's type */
  const char *choices; /* for strings: "a|b|c", or NULL for any */
} key_def;

#define F(member) offsetof(tq_experiment, member), sizeof(((tq_experiment *)0)->member)
#define FASHION "/usr/share/datasets/fashion-mnist/"

static const key_def schema[] = {
    {"experiment.name", K_STRING, F(name), 0, 0, "default", NULL},
    {"experiment.seed", K_INT, F(seed), 0, 2147483647, "1", NULL},
    {"data.train_images", K_PATH, F(train_images), 0, 0, FASHION "train-images-idx3-ubyte.gz", NULL},
    {"data.train_labels", K_PATH, F(train_labels), 0, 0, FASHION "train-labels-idx1-ubyte.gz", NULL},
    {"data.test_images", K_PATH, F(test_images), 0, 0, FASHION "t10k-images-idx3-ubyte.gz", NULL},
    {"data.test_labels", K_PATH, F(test_labels), 0, 0, FASHION "t10k-labels-idx1-ubyte.gz", NULL},
    {"data.classes", K_INT, F(classes), 2, 256, "10", NULL},
    {"data.normalize", K_STRING, F(normalize), 0, 0, "auto", "auto|given"},
    {"data.mean", K_FLOAT, F(mean), -1e6, 1e6, "0.0", NULL},
    {"data.std", K_FLOAT, F(std), 1e-9, 1e6, "1.0", NULL},
    {"model.file", K_PATH, F(model_file), 0, 0, "../models/lenet5.cfg", NULL},
    {"train.batch_size", K_INT, F(batch_size), 1, 65536, "64", NULL},
    {"train.epochs", K_INT, F(epochs), 0, 100000, "1", NULL},
    {"train.iterations", K_INT, F(iterations), 0, 100000000, "0", NULL},
    {"train.eval_every", K_INT, F(eval_every), 0, 100000000, "200", NULL},
    {"train.lr", K_FLOAT, F(lr), 0, 100, "0.05", NULL},
    {"train.momentum", K_FLOAT, F(momentum), 0, 0.999999, "0.0", NULL},
    {"train.weight_decay", K_FLOAT, F(weight_decay), 0, 1, "0.0", NULL},
    {"train.lr_schedule", K_STRING, F(lr_schedule), 0, 0, "constant", "constant|step|cosine"},
    {"train.lr_step_every", K_INT, F(lr_step_every), 1, 100000000, "1000", NULL},
    {"train.lr_step_gamma", K_FLOAT, F(lr_step_gamma), 0, 1, "0.1", NULL},
    {"train.lr_min", K_FLOAT, F(lr_min), 0, 100, "0.0", NULL},
    {"workers.count", K_INT, F(workers), 1, 64, "1", NULL},
    {"workers.partition", K_STRING, F(partition), 0, 0, "iid", "iid|label_skew"},
    {"workers.classes_per_worker", K_INT, F(classes_per_worker), 1, 256, "2", NULL},
    {"workers.devices", K_STRING, F(worker_devices), 0, 0, "", NULL},
    {"workers.timeout_s", K_FLOAT, F(timeout_s), 0.001, 1e6, "600.0", NULL},
    {"workers.on_missing", K_STRING, F(on_missing), 0, 0, "stop", "stop|continue"},
    {"workers.on_invalid", K_STRING, F(on_invalid), 0, 0, "continue", "stop|continue"},
    {"compression.method", K_STRING, F(method), 0, 0, "none",
     "none|qsgd|qsgdinf|nuqsgd|tqsgd|tnqsgd|tbqsgd"},
    {"compression.bits", K_INT, F(bits), 1, 32, "3", NULL},
    {"compression.bucket", K_INT, F(bucket), 0, 1 << 30, "512", NULL},
    {"compression.tail_model", K_STRING, F(tail_model), 0, 0, "powerlaw", "powerlaw|laplace"},
    {"compression.alpha_rule", K_STRING, F(alpha_rule), 0, 0, "bound", "bound|truevar"},
    {"compression.zero_level", K_BOOL, F(zero_level), 0, 0, "false", NULL},
    {"compression.error_feedback", K_BOOL, F(error_feedback), 0, 0, "false", NULL},
    {"compression.min_elems", K_INT, F(min_elems), 0, 1 << 30, "1024", NULL},
    {"compression.refit_every", K_INT, F(refit_every), 1, 1000000, "1", NULL},
    {"compression.warmup_iterations", K_INT, F(warmup_iterations), 0, 100000000, "0", NULL},
    {"link.bandwidth_mbps", K_FLOAT, F(bandwidth_mbps), 1e-6, 1e9, "100.0", NULL},
    {"link.latency_ms", K_FLOAT, F(latency_ms), 0, 1e6, "1.0", NULL},
    {"link.downlink", K_BOOL, F(downlink), 0, 0, "false", NULL},
    {"metrics.quant_mse", K_BOOL, F(quant_mse), 0, 0, "true", NULL},
    {"metrics.target_accuracy", K_FLOAT, F(target_accuracy), 0, 1, "0.8", NULL},
    {"checkpoint.every", K_INT, F(checkpoint_every), 0, 100000000, "0", NULL},
    {"faults.exit_rank", K_INT, F(exit_rank), -1, 1 << 20, "-1", NULL},
    {"faults.exit_iteration", K_INT, F(exit_iteration), 0, 100000000, "0", NULL},
    {"faults.crash_worker", K_INT, F(crash_worker), -1, 63, "-1", NULL},
    {"faults.crash_iteration", K_INT, F(crash_iteration), 0, 100000000, "0", NULL},
    {"faults.stall_worker", K_INT, F(stall_worker), -1, 63, "-1", NULL},
    {"faults.stall_iteration", K_INT, F(stall_iteration), 0, 100000000, "0", NULL},
    {"faults.stall_seconds", K_FLOAT, F(stall_seconds), 0, 1e6, "0.0", NULL},
    {"faults.corrupt_worker", K_INT, F(corrupt_worker), -1, 63, "-1", NULL},
    {"faults.corrupt_iteration", K_INT, F(corrupt_iteration), 0, 100000000, "0", NULL},
    {"faults.corrupt", K_STRING, F(corrupt), 0, 0, "flip", "flip|truncate"},
    {"faults.nan_worker", K_INT, F(nan_worker), -1, 63, "-1", NULL},
    {"faults.nan_iteration", K_INT, F(nan_iteration), 0, 100000000, "0", NULL},
    {"device.spec", K_STRING, F(device), 0, 0, "auto", NULL},
    {"output.dir", K_STRING, F(out_dir), 0, 0, "runs", NULL},
};
#define NKEYS ((int)(sizeof schema / sizeof schema[0]))

const char *tq_experiment_key(int i) { return i >= 0 && i < NKEYS ? schema[i].key : NULL; }

static const key_def *find_key(const char *key) {
  for (int i = 0; i < NKEYS; i++)
    if (!strcmp(schema[i].key, key)) return &schema[i];
  return NULL;
}

/* The allowed members of a group, collected from the schema. */
static void group_members(const char *group, const char **out, int cap) {
  int n = 0;
  size_t gl = strlen(group);
  for (int i = 0; i < NKEYS && n < cap - 1; i++)
    if (!strncmp(schema[i].key, group, gl) && schema[i].key[gl] == '.')
      out[n++] = schema[i].key + gl + 1;
  out[n] = NULL;
}

static tq_status check_structure(config_t *cfg, const char *file, tq_err *e) {
  const config_setting_t *root = config_root_setting(cfg);
  const char *groups[16];
  int ng = 0;
  for (int i = 0; i < NKEYS; i++) {
    char g[64];
    snprintf(g, sizeof g, "%.*s", (int)(strchr(schema[i].key, '.') - schema[i].key), schema[i].key);
    bool seen = false;
    for (int k = 0; k < ng && !seen; k++) seen = !strcmp(groups[k], g);
    if (!seen && ng < 15) groups[ng++] = strdup(g);
  }
  groups[ng++] = strdup("sweep"); /* read by tq_sweep_load */
  groups[ng] = NULL;
  tq_status s = tq_cfg_only_keys(root, groups, file, e);
  for (int k = 0; s == TQ_OK && k < ng; k++) {
    const config_setting_t *g = config_setting_get_member(root, groups[k]);
    if (!g || !strcmp(groups[k], "sweep")) continue;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
      char where[600];
      tq_cfg_where(g, file, where, sizeof where);
      s = tq_fail(e, TQ_EINPUT, "%s: '%s' must be a group { ... }, not %s", where, groups[k],
                  tq_cfg_type_name(config_setting_type(g)));
      break;
    }
    const char *members[64];
    group_members(groups[k], members, 64);
    s = tq_cfg_only_keys(g, members, file, e);
  }
  for (int k = 0; k < ng; k++) free((void *)groups[k]);
  return s;
}

/* Applies "key=value" to the tree, typed by the schema. */
static tq_status apply_override(config_t *cfg, const char *arg, tq_err *e) {
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg)
    return tq_fail(e, TQ_EINPUT, "--set '%s': expected key=value, e.g. --set train.lr=0.1", arg);
  char key[128];
  snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
  const char *val = eq + 1;
  const key_def *k = find_key(key);
  if (!k)
    return tq_fail(e, TQ_EINPUT, "--set '%s': unknown key '%s' (docs/configuration.md lists them)",
                   arg, key);
  char group[64];
  snprintf(group, sizeof group, "%.*s", (int)(strchr(key, '.') - key), key);
  config_setting_t *root = config_root_setting(cfg);
  config_setting_t *g = config_setting_get_member(root, group);
  if (!g) g = config_setting_add(root, group, CONFIG_TYPE_GROUP);
  const char *member = strchr(key, '.') + 1;
  if (config_setting_get_member(g, member)) config_setting_remove(g, member);
  char *end = NULL;
  errno = 0;
  switch (k->type) {
  case K_INT: {
    long long v = strtoll(val, &end, 10);
    if (!*val || *end || errno)
      return tq_fail(e, TQ_EINPUT, "--set '%s': '%s' is not an integer", arg, val);
    config_setting_set_int64(config_setting_add(g, member, CONFIG_TYPE_INT64), v);
    break;
  }
  case K_FLOAT: {
    double v = strtod(val, &end);
    if (!*val || *end || errno)
      return tq_fail(e, TQ_EINPUT, "--set '%s': '%s' is not a number", arg, val);
    config_setting_set_float(config_setting_add(g, member, CONFIG_TYPE_FLOAT), v);
    break;
  }
  case K_BOOL:
    if (strcmp(val, "true") && strcmp(val, "false"))
      return tq_fail(e, TQ_EINPUT, "--set '%s': '%s' must be true or false", arg, val);
    config_setting_set_bool(config_setting_add(g, member, CONFIG_TYPE_BOOL), !strcmp(val, "true"));
    break;
  case K_STRING:
  case K_PATH:
    config_setting_set_string(config_setting_add(g, member, CONFIG_TYPE_STRING), val);
    break;
  }
  return TQ_OK;
}

static tq_status read_key(const config_t *cfg, const key_def *k, tq_experiment *x,
                          const char *dir, const char *file, tq_err *e) {
  char group[64];
  snprintf(group, sizeof group, "%.*s", (int)(strchr(k->key, '.') - k->key), k->key);
  const char *member = strchr(k->key, '.') + 1;
  const config_setting_t *g = config_setting_get_member(config_root_setting(cfg), group);
  const config_setting_t *empty = config_root_setting(cfg); /* has none of the members */
  if (!g) g = empty;
  char *dst = (char *)x + k->offset;
  switch (k->type) {
  case K_INT:
    return tq_cfg_int(g, member, false, atoi(k->dflt), (int)k->lo, (int)k->hi, (int *)dst, file, e);
  case K_FLOAT:
    return tq_cfg_float(g, member, false, atof(k->dflt), k->lo, k->hi, (double *)dst, file, e);
  case K_BOOL: return tq_cfg_bool(g, member, false, !strcmp(k->dflt, "true"), (bool *)dst, file, e);
  case K_STRING:
  case K_PATH: {
    char raw[TQ_PATH_MAX];
    TQ_TRY(tq_cfg_string(g, member, false, k->dflt, raw, sizeof raw, file, e));
    if (k->choices) {
      char opts[128];
      snprintf(opts, sizeof opts, "|%s|", k->choices);
      char probe[140];
      snprintf(probe, sizeof probe, "|%s|", raw);
      if (!strstr(opts, probe)) {
        char where[600];
        const config_setting_t *s = config_setting_get_member(g, member);
        tq_cfg_where(s ? s : g, file, where, sizeof where);
        return tq_fail(e, TQ_EINPUT, "%s: '%s' = \"%s\" is not one of %s", where, k->key, raw,
                       k->choices);
      }
    }
    /* Keys whose default is empty may stay empty ("not set"); others may not. */
    if (raw[0] == '\0' && k->dflt[0]) return tq_fail(e, TQ_EINPUT, "%s: '%s' must not be empty", file, k->key);
    if (k->type == K_PATH) {
      /* Absolute, so the resolved file saved beside the results works from anywhere. */
      char joined[TQ_PATH_MAX], real[PATH_MAX];
      tq_path_join(joined, sizeof joined, dir, raw);
      snprintf(dst, k->size, "%s", realpath(joined, real) ? real : joined);
    } else
      snprintf(dst, k->size, "%s", raw);
    return TQ_OK;
  }
  }
  return TQ_EINTERNAL;
}

tq_status tq_experiment_load(const char *path, const char *const *overrides, int noverrides,
                             tq_experiment *x, tq_err *e) {
  memset(x, 0, sizeof *x);
  snprintf(x->source, sizeof x->source, "%s", path);
  config_t cfg;
  config_init(&cfg);
  tq_status s = tq_cfg_read_file(&cfg, path, e);
  if (s == TQ_OK) s = check_structure(&cfg, path, e);
  for (int i = 0; s == TQ_OK && i < noverrides; i++) s = apply_override(&cfg, overrides[i], e);
  char dir[TQ_PATH_MAX];
  tq_path_dir(dir, sizeof dir, path);
  for (int i = 0; s == TQ_OK && i < NKEYS; i++) s = read_key(&cfg, &schema[i], x, dir, path, e);
  config_destroy(&cfg);
  if (s != TQ_OK) return s;
  for (const char *p = x->name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '-' || *p == '.') || x->name[0] == '.')
      return tq_fail(e, TQ_EINPUT,
                     "%s: experiment.name \"%s\" names a folder under output.dir: use letters, "
                     "digits, '_', '-' and '.' only",
                     path, x->name);
  if (x->epochs == 0 && x->iterations == 0)
    return tq_fail(e, TQ_EINPUT, "%s: set train.epochs or train.iterations above 0", path);
  if (x->checkpoint_every % x->refit_every != 0)
    return tq_fail(e, TQ_EINPUT,
                   "%s: checkpoint.every (%d) must be a multiple of compression.refit_every (%d), "
                   "so a resumed run redesigns its levels where the uninterrupted one did",
                   path, x->checkpoint_every, x->refit_every);
  if (!strcmp(x->method, "none") && x->bits != 3 && x->bits != 32)
    return tq_fail(e, TQ_EINPUT, "%s: compression.bits = %d has no meaning with method \"none\"",
                   path, x->bits);
  return TQ_OK;
}

/* A setting's value as the text --set would take. */
static tq_status value_text(const config_setting_t *v, char *out, size_t cap, const char *file,
                            tq_err *e) {
  switch (config_setting_type(v)) {
  case CONFIG_TYPE_INT:
  case CONFIG_TYPE_INT64: snprintf(out, cap, "%lld", config_setting_get_int64(v)); return TQ_OK;
  case CONFIG_TYPE_FLOAT: snprintf(out, cap, "%.17g", config_setting_get_float(v)); return TQ_OK;
  case CONFIG_TYPE_BOOL: snprintf(out, cap, "%s", config_setting_get_bool(v) ? "true" : "false"); return TQ_OK;
  case CONFIG_TYPE_STRING: snprintf(out, cap, "%s", config_setting_get_string(v)); return TQ_OK;
  }
  char where[600];
  tq_cfg_where(v, file, where, sizeof where);
  return tq_fail(e, TQ_EINPUT, "%s: sweep values must be numbers, strings or booleans", where);
}

tq_status tq_sweep_load(const char *path, tq_sweep *sw, tq_err *e) {
  memset(sw, 0, sizeof *sw);
  sw->nvariants = 1;
  config_t cfg;
  config_init(&cfg);
  tq_status s = tq_cfg_read_file(&cfg, path, e);
  const config_setting_t *list = s == TQ_OK ? config_lookup(&cfg, "sweep") : NULL;
  static const char *const entry_keys[] = {"key", "values", NULL};
  if (s == TQ_OK && list && config_setting_type(list) != CONFIG_TYPE_LIST) {
    char where[600];
    tq_cfg_where(list, path, where, sizeof where);
    s = tq_fail(e, TQ_EINPUT, "%s: sweep must be a list ( { key = \"group.key\"; values = [...]; }, ... )", where);
  }
  int nkeys = (s == TQ_OK && list) ? config_setting_length(list) : 0;
  if (nkeys > 8) s = tq_fail(e, TQ_EINPUT, "%s: a sweep may vary at most 8 keys", path);
  for (int k = 0; s == TQ_OK && k < nkeys; k++) {
    const config_setting_t *entry = config_setting_get_elem(list, (unsigned)k);
    char where[600], key[128];
    tq_cfg_where(entry, path, where, sizeof where);
    if (config_setting_type(entry) != CONFIG_TYPE_GROUP) {
      s = tq_fail(e, TQ_EINPUT, "%s: each sweep entry must be { key = ...; values = [...]; }", where);
      break;
    }
    s = tq_cfg_only_keys(entry, entry_keys, path, e);
    if (s == TQ_OK) s = tq_cfg_string(entry, "key", true, NULL, key, sizeof key, path, e);
    if (s != TQ_OK) break;
    if (!find_key(key)) {
      s = tq_fail(e, TQ_EINPUT, "%s: sweep key '%s' is not a configuration key", where, key);
      break;
    }
    const config_setting_t *vals = config_setting_get_member(entry, "values");
    int nv = vals ? config_setting_length(vals) : 0;
    if (!vals || (config_setting_type(vals) != CONFIG_TYPE_ARRAY &&
                  config_setting_type(vals) != CONFIG_TYPE_LIST) || nv == 0) {
      s = tq_fail(e, TQ_EINPUT, "%s: sweep entry for '%s' needs a non-empty values = [ ... ]", where, key);
      break;
    }
    if (sw->nvariants * nv > TQ_MAX_VARIANTS) {
      s = tq_fail(e, TQ_EINPUT, "%s: the sweep expands to more than %d runs", where, TQ_MAX_VARIANTS);
      break;
    }
    /* Cartesian product: each existing variant is repeated for every value of this key. */
    int old = sw->nvariants;
    for (int vi = nv - 1; vi >= 0 && s == TQ_OK; vi--) {
      char text[128];
      s = value_text(config_setting_get_elem(vals, (unsigned)vi), text, sizeof text, path, e);
      for (int i = 0; i < old && s == TQ_OK; i++) {
        int dst = vi * old + i;
        if (vi > 0) {
          memcpy(sw->settings[dst], sw->settings[i], sizeof sw->settings[i]);
          memcpy(sw->name[dst], sw->name[i], sizeof sw->name[i]);
        }
        snprintf(sw->settings[dst][k], sizeof sw->settings[dst][k], "%s=%s", key, text);
        const char *leaf = strrchr(key, '.') + 1;
        char part[160];
        snprintf(part, sizeof part, "%s%s-%s", sw->name[dst][0] ? "_" : "", leaf, text);
        for (char *p = part; *p; p++)
          if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '_' || *p == '-' || *p == '.'))
            *p = '_';
        size_t used = strlen(sw->name[dst]);
        snprintf(sw->name[dst] + used, sizeof sw->name[dst] - used, "%s", part);
      }
    }
    sw->nvariants = old * nv;
    sw->nkeys = k + 1;
  }
  config_destroy(&cfg);
  return s;
}

tq_status tq_experiment_write(const tq_experiment *x, const char *path, tq_err *e) {
  config_t cfg;
  config_init(&cfg);
  config_setting_t *root = config_root_setting(&cfg);
  for (int i = 0; i < NKEYS; i++) {
    const key_def *k = &schema[i];
    char group[64];
    snprintf(group, sizeof group, "%.*s", (int)(strchr(k->key, '.') - k->key), k->key);
    config_setting_t *g = config_setting_get_member(root, group);
    if (!g) g = config_setting_add(root, group, CONFIG_TYPE_GROUP);
    const char *member = strchr(k->key, '.') + 1;
    const char *src = (const char *)x + k->offset;
    switch (k->type) {
    case K_INT: config_setting_set_int(config_setting_add(g, member, CONFIG_TYPE_INT), *(const int *)src); break;
    case K_FLOAT:
      config_setting_set_float(config_setting_add(g, member, CONFIG_TYPE_FLOAT), *(const double *)src);
      break;
    case K_BOOL: config_setting_set_bool(config_setting_add(g, member, CONFIG_TYPE_BOOL), *(const bool *)src); break;
    case K_STRING:
    case K_PATH: config_setting_set_string(config_setting_add(g, member, CONFIG_TYPE_STRING), src); break;
    }
  }
  char tmp[TQ_PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int ok = config_write_file(&cfg, tmp);
  config_destroy(&cfg);
  if (ok != CONFIG_TRUE) return tq_fail(e, TQ_EIO, "%s: cannot write the resolved configuration", tmp);
  if (rename(tmp, path) != 0) return tq_fail(e, TQ_EIO, "%s: cannot rename into place", path);
  return TQ_OK;
}
