#include "experiment/config.h"

#include <errno.h>
#include <limits.h>
#include <libconfig.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compress/method.h"
#include "util/cfg.h"
#include "util/fileio.h"

typedef enum key_type { K_INT, K_FLOAT, K_STRING, K_PATH, K_BOOL } key_type;

typedef struct key_def {
  const char *key; /* "group.name" */
  key_type type;
  size_t offset, size;
  double lo, hi;    /* numeric range */
  const char *dflt; /* default, as text in the key's type */
  const char *choices; /* for strings: "a|b|c" (matched exactly), method_table, or NULL: any */
  bool no_fingerprint;  /* true: may change between a run and its --resume */
} key_def;

/* The choices of compression.method: the names of the method table (host/compress/method.c),
 * written out as "a|b|c" where a value is checked (read_key). */
static const char method_table[] = "(the method table)";

#define F(member) offsetof(tq_experiment, member), sizeof(((tq_experiment *)0)->member)
#define FASHION "/usr/share/datasets/fashion-mnist/"

static const key_def schema[] = {
    {"experiment.name", K_STRING, F(name), 0, 0, "default", NULL, true},
    {"experiment.seed", K_INT, F(seed), 0, 2147483647, "1", NULL, false},
    {"data.format", K_STRING, F(data_format), 0, 0, "idx", "idx|cifar10", false},
    {"data.augment", K_BOOL, F(augment), 0, 0, "false", NULL, false},
    {"data.train_images", K_PATH, F(train_images), 0, 0, FASHION "train-images-idx3-ubyte.gz", NULL, false},
    {"data.train_labels", K_PATH, F(train_labels), 0, 0, FASHION "train-labels-idx1-ubyte.gz", NULL, false},
    {"data.test_images", K_PATH, F(test_images), 0, 0, FASHION "t10k-images-idx3-ubyte.gz", NULL, false},
    {"data.test_labels", K_PATH, F(test_labels), 0, 0, FASHION "t10k-labels-idx1-ubyte.gz", NULL, false},
    {"data.classes", K_INT, F(classes), 2, 256, "10", NULL, false},
    {"data.normalize", K_STRING, F(normalize), 0, 0, "auto", "auto|given", false},
    {"data.mean", K_FLOAT, F(mean), -1e6, 1e6, "0.0", NULL, false},
    {"data.std", K_FLOAT, F(std), 1e-9, 1e6, "1.0", NULL, false},
    {"model.file", K_PATH, F(model_file), 0, 0, "../models/lenet5.cfg", NULL, true},
    {"train.batch_size", K_INT, F(batch_size), 1, 65536, "64", NULL, false},
    {"train.epochs", K_INT, F(epochs), 0, 100000, "1", NULL, false},
    {"train.iterations", K_INT, F(iterations), 0, 100000000, "0", NULL, false},
    {"train.eval_every", K_INT, F(eval_every), 0, 100000000, "200", NULL, false},
    {"train.lr", K_FLOAT, F(lr), 0, 100, "0.05", NULL, false},
    {"train.momentum", K_FLOAT, F(momentum), 0, 0.999999, "0.0", NULL, false},
    {"train.weight_decay", K_FLOAT, F(weight_decay), 0, 1, "0.0", NULL, false},
    {"train.lr_schedule", K_STRING, F(lr_schedule), 0, 0, "constant", "constant|step|cosine", false},
    {"train.lr_step_every", K_INT, F(lr_step_every), 1, 100000000, "1000", NULL, false},
    {"train.lr_step_gamma", K_FLOAT, F(lr_step_gamma), 0, 1, "0.1", NULL, false},
    {"train.lr_min", K_FLOAT, F(lr_min), 0, 100, "0.0", NULL, false},
    {"workers.count", K_INT, F(workers), 1, 64, "1", NULL, false},
    {"workers.partition", K_STRING, F(partition), 0, 0, "iid", "iid|label_skew", false},
    {"workers.classes_per_worker", K_INT, F(classes_per_worker), 1, 256, "2", NULL, false},
    {"workers.devices", K_STRING, F(worker_devices), 0, 0, "", NULL, true},
    {"workers.timeout_s", K_FLOAT, F(timeout_s), 0.001, 1e6, "600.0", NULL, true},
    {"workers.on_missing", K_STRING, F(on_missing), 0, 0, "stop", "stop|continue", false},
    {"workers.on_invalid", K_STRING, F(on_invalid), 0, 0, "continue", "stop|continue", false},
    {"compression.method", K_STRING, F(method), 0, 0, "none", method_table, false},
    {"compression.bits", K_INT, F(bits), 1, 32, "3", NULL, false},
    {"compression.bucket", K_INT, F(bucket), 0, 1 << 30, "512", NULL, false},
    {"compression.tail_model", K_STRING, F(tail_model), 0, 0, "powerlaw", "powerlaw|laplace", false},
    {"compression.alpha_rule", K_STRING, F(alpha_rule), 0, 0, "bound", "bound|truevar", false},
    {"compression.zero_level", K_BOOL, F(zero_level), 0, 0, "false", NULL, false},
    {"compression.error_feedback", K_BOOL, F(error_feedback), 0, 0, "false", NULL, false},
    {"compression.design_for_average", K_BOOL, F(design_for_average), 0, 0, "false", NULL, false},
    {"compression.min_elems", K_INT, F(min_elems), 0, 1 << 30, "1024", NULL, false},
    {"compression.refit_every", K_INT, F(refit_every), 1, 1000000, "1", NULL, false},
    {"compression.warmup_iterations", K_INT, F(warmup_iterations), 0, 100000000, "0", NULL, false},
    {"link.bandwidth_mbps", K_FLOAT, F(bandwidth_mbps), 1e-6, 1e9, "100.0", NULL, false},
    {"link.latency_ms", K_FLOAT, F(latency_ms), 0, 1e6, "1.0", NULL, false},
    {"link.downlink", K_BOOL, F(downlink), 0, 0, "false", NULL, false},
    {"metrics.quant_mse", K_BOOL, F(quant_mse), 0, 0, "true", NULL, false},
    {"metrics.target_accuracy", K_FLOAT, F(target_accuracy), 0, 1, "0.8", NULL, false},
    /* -1: not set; resolved to 100 rounded up to a multiple of compression.refit_every */
    {"checkpoint.every", K_INT, F(checkpoint_every), 0, 100000000, "-1", NULL, true},
    {"faults.exit_rank", K_INT, F(exit_rank), -1, 1 << 20, "-1", NULL, true},
    {"faults.exit_iteration", K_INT, F(exit_iteration), 0, 100000000, "0", NULL, true},
    {"faults.crash_worker", K_INT, F(crash_worker), -1, 63, "-1", NULL, true},
    {"faults.crash_iteration", K_INT, F(crash_iteration), 0, 100000000, "0", NULL, true},
    {"faults.stall_worker", K_INT, F(stall_worker), -1, 63, "-1", NULL, true},
    {"faults.stall_iteration", K_INT, F(stall_iteration), 0, 100000000, "0", NULL, true},
    {"faults.stall_seconds", K_FLOAT, F(stall_seconds), 0, 1e6, "0.0", NULL, true},
    {"faults.corrupt_worker", K_INT, F(corrupt_worker), -1, 63, "-1", NULL, true},
    {"faults.corrupt_iteration", K_INT, F(corrupt_iteration), 0, 100000000, "0", NULL, true},
    {"faults.corrupt", K_STRING, F(corrupt), 0, 0, "flip", "flip|truncate", true},
    {"faults.nan_worker", K_INT, F(nan_worker), -1, 63, "-1", NULL, true},
    {"faults.nan_iteration", K_INT, F(nan_iteration), 0, 100000000, "0", NULL, true},
    {"device.spec", K_STRING, F(device), 0, 0, "auto", NULL, true},
    /* How kernels are shaped for the device (host/cl/cl_devprofile.h); any profile computes the
     * same results, so it may change on --resume. */
    {"device.profile", K_STRING, F(device_profile), 0, 0, "auto", "auto|cpu|gpu", true},
    {"output.dir", K_STRING, F(out_dir), 0, 0, "runs", NULL, true},
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

/* Applies "key=value" to the tree, typed by the schema; `where` (e.g. "--set 'k=v'") and
 * `file` (what relative paths in it resolve against; NULL: the working directory) become the
 * new setting's origin. */
static tq_status apply_override(config_t *cfg, const char *arg, const char *where,
                                const char *file, tq_err *e) {
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg)
    return tq_fail(e, TQ_EINPUT, "%s: expected key=value, e.g. --set train.lr=0.1", where);
  char key[128];
  if (eq - arg >= (ptrdiff_t)sizeof key)
    return tq_fail(e, TQ_EINPUT, "%s: unknown key (docs/configuration.md lists them)", where);
  snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
  const char *val = eq + 1;
  const key_def *k = find_key(key);
  if (!k)
    return tq_fail(e, TQ_EINPUT, "%s: unknown key '%s' (docs/configuration.md lists them)", where,
                   key);
  char group[64];
  snprintf(group, sizeof group, "%.*s", (int)(strchr(key, '.') - key), key);
  config_setting_t *root = config_root_setting(cfg);
  config_setting_t *g = config_setting_get_member(root, group);
  if (g && config_setting_type(g) != CONFIG_TYPE_GROUP) return TQ_OK; /* check_structure says */
  if (!g) g = config_setting_add(root, group, CONFIG_TYPE_GROUP);
  const char *member = strchr(key, '.') + 1;
  if (config_setting_get_member(g, member)) config_setting_remove(g, member);
  char *end = NULL;
  errno = 0;
  config_setting_t *set = NULL;
  switch (k->type) {
  case K_INT: {
    long long v = strtoll(val, &end, 10);
    if (!*val || *end || errno == ERANGE)
      return tq_fail(e, TQ_EINPUT, "%s: '%s' is not an integer%s", where, val,
                     errno == ERANGE ? " (beyond 64 bits)" : "");
    set = config_setting_add(g, member, CONFIG_TYPE_INT64);
    config_setting_set_int64(set, v);
    break;
  }
  case K_FLOAT: {
    double v = strtod(val, &end);
    if (!*val || *end || errno)
      return tq_fail(e, TQ_EINPUT, "%s: '%s' is not a number", where, val);
    set = config_setting_add(g, member, CONFIG_TYPE_FLOAT);
    config_setting_set_float(set, v);
    break;
  }
  case K_BOOL:
    if (strcmp(val, "true") && strcmp(val, "false"))
      return tq_fail(e, TQ_EINPUT, "%s: '%s' must be true or false", where, val);
    set = config_setting_add(g, member, CONFIG_TYPE_BOOL);
    config_setting_set_bool(set, !strcmp(val, "true"));
    break;
  case K_STRING:
  case K_PATH:
    set = config_setting_add(g, member, CONFIG_TYPE_STRING);
    config_setting_set_string(set, val);
    break;
  }
  if (set) tq_cfg_set_origin(set, where, file);
  return TQ_OK;
}

/* choices is "a|b|c": true if v is exactly one of them. */
static bool is_choice(const char *choices, const char *v) {
  size_t vl = strlen(v);
  for (const char *p = choices; *p;) {
    const char *bar = strchr(p, '|');
    size_t l = bar ? (size_t)(bar - p) : strlen(p);
    if (l == vl && !strncmp(p, v, l)) return true;
    if (!bar) break;
    p = bar + 1;
  }
  return false;
}

/* An absolute path for raw: relative to base_dir (NULL: the working directory). */
static bool absolute_path(const char *base_dir, const char *raw, char *dst, size_t cap) {
  char joined[2 * TQ_PATH_MAX], cwd[TQ_PATH_MAX], real[PATH_MAX];
  if (!tq_path_join(joined, sizeof joined, base_dir, raw)) return false;
  if (joined[0] != '/') {
    char rel[2 * TQ_PATH_MAX];
    snprintf(rel, sizeof rel, "%s", joined);
    if (!getcwd(cwd, sizeof cwd) || !tq_path_join(joined, sizeof joined, cwd, rel)) return false;
  }
  const char *out = realpath(joined, real) ? real : joined;
  int n = snprintf(dst, cap, "%s", out);
  return n >= 0 && (size_t)n < cap;
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
  const config_setting_t *s = config_setting_get_member(g, member);
  char where[TQ_PATH_MAX + 600];
  tq_cfg_where(s ? s : g, file, where, sizeof where);
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
    char table[256];
    const char *choices =
        k->choices == method_table ? tq_method_names_join("|", table, sizeof table) : k->choices;
    if (choices && !is_choice(choices, raw)) {
      return tq_fail(e, TQ_EINPUT, "%s: '%s' = \"%s\" is not one of %s (one value, written exactly)",
                     where, k->key, raw, choices);
    }
    /* Keys whose default is empty may stay empty ("not set"); others may not. */
    if (raw[0] == '\0' && k->dflt[0])
      return tq_fail(e, TQ_EINPUT, "%s: '%s' must not be empty", where, k->key);
    if (k->type == K_PATH) {
      /* Absolute, so the resolved file saved beside the results works from anywhere. A path
       * resolves against the folder of the file that sets it; --set's against the working
       * directory; the default against the experiment file's. */
      char base[TQ_PATH_MAX];
      const char *base_dir = dir;
      if (s) {
        const char *of = NULL;
        tq_cfg_origin_file(s, file, &of);
        if (of) {
          tq_path_dir(base, sizeof base, of);
          base_dir = base;
        } else
          base_dir = NULL;
      }
      if (!absolute_path(base_dir, raw, dst, k->size))
        return tq_fail(e, TQ_EINPUT, "%s: '%s' = \"%s\" resolves to a path longer than %zu "
                       "characters", where, k->key, raw, k->size - 1);
    } else {
      if (strlen(raw) >= k->size)
        return tq_fail(e, TQ_EINPUT, "%s: '%s' is %zu characters long; the limit is %zu", where,
                       k->key, strlen(raw), k->size - 1);
      snprintf(dst, k->size, "%s", raw);
    }
    return TQ_OK;
  }
  }
  return TQ_EINTERNAL;
}

/* A fault plan must name a worker the run has. */
static tq_status check_fault_worker(const char *file, const char *key, int w, int workers,
                                    tq_err *e) {
  if (w >= workers)
    return tq_fail(e, TQ_EINPUT,
                   "%s: %s = %d names a worker the run does not have (workers.count = %d: "
                   "workers 0..%d)",
                   file, key, w, workers, workers - 1);
  return TQ_OK;
}

tq_status tq_experiment_load_variant(const char *path, const char *const *overrides,
                                     int noverrides, const tq_sweep *sw, int v, tq_experiment *x,
                                     tq_err *e) {
  memset(x, 0, sizeof *x);
  if (strlen(path) >= sizeof x->source)
    return tq_fail(e, TQ_EINPUT, "%s: path longer than %zu characters", path, sizeof x->source - 1);
  snprintf(x->source, sizeof x->source, "%s", path);
  config_t cfg;
  tq_cfg_init(&cfg);
  tq_status s = tq_cfg_read_file(&cfg, path, e);
  if (s == TQ_OK) s = check_structure(&cfg, path, e);
  for (int k = 0; s == TQ_OK && sw && k < sw->nkeys; k++) {
    char where[TQ_PATH_MAX + 300];
    snprintf(where, sizeof where, "%s (sweep value %s)", sw->where[k], sw->settings[v][k]);
    s = apply_override(&cfg, sw->settings[v][k], where, sw->file, e);
  }
  for (int i = 0; s == TQ_OK && i < noverrides; i++) {
    char where[600];
    snprintf(where, sizeof where, "--set '%.500s'", overrides[i]);
    const char *eq = strchr(overrides[i], '=');
    for (int k = 0; s == TQ_OK && sw && eq && k < sw->nkeys; k++)
      if (strlen(sw->key[k]) == (size_t)(eq - overrides[i]) &&
          !strncmp(sw->key[k], overrides[i], (size_t)(eq - overrides[i])))
        s = tq_fail(e, TQ_EINPUT,
                    "%s: %s is swept by %s; a --set cannot also set it (change the sweep's "
                    "values, or drop the --set)",
                    where, sw->key[k], sw->where[k]);
    if (s == TQ_OK) s = apply_override(&cfg, overrides[i], where, NULL, e);
  }
  char dir[TQ_PATH_MAX];
  tq_path_dir(dir, sizeof dir, path);
  for (int i = 0; s == TQ_OK && i < NKEYS; i++) s = read_key(&cfg, &schema[i], x, dir, path, e);
  config_destroy(&cfg);
  if (s != TQ_OK) return s;
  if (sw && sw->name[v][0]) snprintf(x->variant, sizeof x->variant, "%s", sw->name[v]);
  for (const char *p = x->name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '-' || *p == '.') || x->name[0] == '.')
      return tq_fail(e, TQ_EINPUT,
                     "%s: experiment.name \"%s\" names a folder under output.dir: use letters, "
                     "digits, '_', '-' and '.' only",
                     path, x->name);
  /* The run folder and the files under it must fit the path buffers: refuse, never cut. */
  size_t rundir = strlen(x->out_dir) + 1 + strlen(x->name) + (x->variant[0] ? 1 + strlen(x->variant) : 0);
  if (rundir > TQ_PATH_MAX - 96)
    return tq_fail(e, TQ_EINPUT,
                   "%s: the run folder output.dir/experiment.name%s would be %zu characters; the "
                   "limit is %d",
                   path, x->variant[0] ? "/variant" : "", rundir, TQ_PATH_MAX - 96);
  if (x->epochs == 0 && x->iterations == 0)
    return tq_fail(e, TQ_EINPUT, "%s: set train.epochs or train.iterations above 0", path);
  if (x->checkpoint_every < 0) /* not set: about every 100 iterations */
    x->checkpoint_every = (100 + x->refit_every - 1) / x->refit_every * x->refit_every;
  if (x->checkpoint_every % x->refit_every != 0)
    return tq_fail(e, TQ_EINPUT,
                   "%s: checkpoint.every (%d) must be a multiple of compression.refit_every (%d), "
                   "so a resumed run redesigns its levels where the uninterrupted one did",
                   path, x->checkpoint_every, x->refit_every);
  const tq_method_info *mi = tq_method_info_by_name(x->method);
  if (mi && mi->family == TQ_FAMILY_NONE && x->bits != 3 && x->bits != 32)
    return tq_fail(e, TQ_EINPUT, "%s: compression.bits = %d has no meaning with method \"none\"",
                   path, x->bits);
  TQ_TRY(check_fault_worker(path, "faults.crash_worker", x->crash_worker, x->workers, e));
  TQ_TRY(check_fault_worker(path, "faults.stall_worker", x->stall_worker, x->workers, e));
  TQ_TRY(check_fault_worker(path, "faults.corrupt_worker", x->corrupt_worker, x->workers, e));
  TQ_TRY(check_fault_worker(path, "faults.nan_worker", x->nan_worker, x->workers, e));
  if (x->exit_rank >= x->workers)
    return tq_fail(e, TQ_EINPUT,
                   "%s: faults.exit_rank = %d names a process the run cannot have (at most one "
                   "rank per worker: ranks 0..%d)",
                   path, x->exit_rank, x->workers - 1);
  return TQ_OK;
}

tq_status tq_experiment_load(const char *path, const char *const *overrides, int noverrides,
                             tq_experiment *x, tq_err *e) {
  return tq_experiment_load_variant(path, overrides, noverrides, NULL, 0, x, e);
}

bool tq_experiment_fingerprint(const tq_experiment *x, char *out, size_t cap) {
  size_t used = 0;
  out[0] = '\0';
  for (int i = 0; i < NKEYS; i++) {
    const key_def *k = &schema[i];
    if (k->no_fingerprint) continue;
    const char *src = (const char *)x + k->offset;
    int n = 0;
    switch (k->type) {
    case K_INT: n = snprintf(out + used, cap - used, "%s=%d\n", k->key, *(const int *)src); break;
    case K_FLOAT: n = snprintf(out + used, cap - used, "%s=%.17g\n", k->key, *(const double *)src); break;
    case K_BOOL:
      n = snprintf(out + used, cap - used, "%s=%s\n", k->key, *(const bool *)src ? "true" : "false");
      break;
    case K_STRING:
    case K_PATH: n = snprintf(out + used, cap - used, "%s=%s\n", k->key, src); break;
    }
    if (n < 0 || (size_t)n >= cap - used) return false;
    used += (size_t)n;
  }
  return true;
}

/* A setting's value as the text --set would take. */
static tq_status value_text(const config_setting_t *v, char *out, size_t cap, const char *file,
                            tq_err *e) {
  char where[TQ_PATH_MAX + 600];
  tq_cfg_where(v, file, where, sizeof where);
  int n = 0;
  switch (config_setting_type(v)) {
  case CONFIG_TYPE_INT:
  case CONFIG_TYPE_INT64: n = snprintf(out, cap, "%lld", config_setting_get_int64(v)); break;
  case CONFIG_TYPE_FLOAT: n = snprintf(out, cap, "%.17g", config_setting_get_float(v)); break;
  case CONFIG_TYPE_BOOL: n = snprintf(out, cap, "%s", config_setting_get_bool(v) ? "true" : "false"); break;
  case CONFIG_TYPE_STRING: n = snprintf(out, cap, "%s", config_setting_get_string(v)); break;
  default:
    return tq_fail(e, TQ_EINPUT, "%s: sweep values must be numbers, strings or booleans", where);
  }
  if (n < 0 || (size_t)n >= cap)
    return tq_fail(e, TQ_EINPUT, "%s: a sweep value is %d characters long; the limit is %zu",
                   where, n, cap - 1);
  return TQ_OK;
}

/* Appends s to a folder name, injectively: letters, digits, '.', '-' and '_' stay, anything
 * else (and '%') becomes %XX, so two different values never give the same name. */
static bool name_append(char *name, size_t cap, const char *s) {
  size_t used = strlen(name);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '_' || *p == '-' || *p == '.';
    int n = keep ? snprintf(name + used, cap - used, "%c", *p)
                 : snprintf(name + used, cap - used, "%%%02X", *p);
    if (n < 0 || (size_t)n >= cap - used) return false;
    used += (size_t)n;
  }
  return true;
}

/* The sweep list of the file, if any (NULL: none); sw->file becomes the file that holds it. */
static tq_status sweep_list(const config_t *cfg, const char *path, tq_sweep *sw,
                            const config_setting_t **out, tq_err *e) {
  const config_setting_t *list = config_lookup(cfg, "sweep");
  *out = NULL;
  if (!list) return TQ_OK;
  if (config_setting_type(list) != CONFIG_TYPE_LIST) {
    char where[TQ_PATH_MAX + 600];
    tq_cfg_where(list, path, where, sizeof where);
    return tq_fail(e, TQ_EINPUT,
                   "%s: sweep must be a list ( { key = \"group.key\"; values = [...]; }, ... )",
                   where);
  }
  /* Values' paths resolve against the file that holds the sweep. */
  const char *of = NULL;
  if (tq_cfg_origin_file(list, path, &of) && of) snprintf(sw->file, sizeof sw->file, "%s", of);
  *out = list;
  return TQ_OK;
}

/* Entry k of the sweep: { key = "group.key"; values = [...]; } naming a configuration key not
 * swept already, with a non-empty list of values; records the key and where it is set. */
static tq_status sweep_entry(const config_setting_t *entry, int k, const char *path, tq_sweep *sw,
                             const config_setting_t **vals_out, tq_err *e) {
  static const char *const entry_keys[] = {"key", "values", NULL};
  char where[TQ_PATH_MAX + 600], key[64];
  tq_cfg_where(entry, path, where, sizeof where);
  if (config_setting_type(entry) != CONFIG_TYPE_GROUP)
    return tq_fail(e, TQ_EINPUT, "%s: each sweep entry must be { key = ...; values = [...]; }",
                   where);
  TQ_TRY(tq_cfg_only_keys(entry, entry_keys, path, e));
  TQ_TRY(tq_cfg_string(entry, "key", true, NULL, key, sizeof key, path, e));
  if (!find_key(key))
    return tq_fail(e, TQ_EINPUT, "%s: sweep key '%s' is not a configuration key", where, key);
  for (int j = 0; j < k; j++)
    if (!strcmp(sw->key[j], key))
      return tq_fail(e, TQ_EINPUT, "%s: sweep key '%s' is already swept by %s", where, key,
                     sw->where[j]);
  snprintf(sw->key[k], sizeof sw->key[k], "%s", key);
  snprintf(sw->where[k], sizeof sw->where[k], "%s", where);
  const config_setting_t *vals = config_setting_get_member(entry, "values");
  int nv = vals ? config_setting_length(vals) : 0;
  if (!vals || (config_setting_type(vals) != CONFIG_TYPE_ARRAY &&
                config_setting_type(vals) != CONFIG_TYPE_LIST) || nv == 0)
    return tq_fail(e, TQ_EINPUT, "%s: sweep entry for '%s' needs a non-empty values = [ ... ]",
                   where, key);
  if (sw->nvariants * nv > TQ_MAX_VARIANTS)
    return tq_fail(e, TQ_EINPUT, "%s: the sweep expands to more than %d runs", where,
                   TQ_MAX_VARIANTS);
  *vals_out = vals;
  return TQ_OK;
}

/* The same value twice would train the same run twice into one folder. */
static tq_status sweep_values_distinct(const config_setting_t *vals, const char *key,
                                       const char *where, const char *path, tq_err *e) {
  int nv = config_setting_length(vals);
  for (int a = 0; a < nv; a++) {
    char ta[TQ_SWEEP_VALUE_MAX + 1], tb[TQ_SWEEP_VALUE_MAX + 1];
    TQ_TRY(value_text(config_setting_get_elem(vals, (unsigned)a), ta, sizeof ta, path, e));
    for (int b = 0; b < a; b++) {
      TQ_TRY(value_text(config_setting_get_elem(vals, (unsigned)b), tb, sizeof tb, path, e));
      if (!strcmp(ta, tb))
        return tq_fail(e, TQ_EINPUT,
                       "%s: sweep values of '%s' list \"%s\" twice (values %d and %d)", where,
                       key, ta, b + 1, a + 1);
    }
  }
  return TQ_OK;
}

/* Cartesian product: each existing variant is repeated for every value of key k, its setting
 * and folder name extended. */
static tq_status sweep_expand(tq_sweep *sw, int k, const config_setting_t *vals, const char *path,
                              tq_err *e) {
  const char *key = sw->key[k], *where = sw->where[k];
  const int nv = config_setting_length(vals), old = sw->nvariants;
  for (int vi = nv - 1; vi >= 0; vi--) {
    char text[TQ_SWEEP_VALUE_MAX + 1];
    TQ_TRY(value_text(config_setting_get_elem(vals, (unsigned)vi), text, sizeof text, path, e));
    for (int i = 0; i < old; i++) {
      int dst = vi * old + i;
      if (vi > 0) {
        memcpy(sw->settings[dst], sw->settings[i], sizeof sw->settings[i]);
        memcpy(sw->name[dst], sw->name[i], sizeof sw->name[i]);
      }
      snprintf(sw->settings[dst][k], sizeof sw->settings[dst][k], "%s=%s", key, text);
      const char *leaf = strrchr(key, '.') + 1;
      char *nm = sw->name[dst];
      size_t cap = sizeof sw->name[dst];
      if (!((nm[0] ? name_append(nm, cap, "_") : true) && name_append(nm, cap, leaf) &&
            name_append(nm, cap, "-") && name_append(nm, cap, text)))
        return tq_fail(e, TQ_EINPUT,
                       "%s: the variant folder name for %s=%s would be longer than %d characters "
                       "(shorten the values or sweep fewer keys)",
                       where, key, text, TQ_NAME_MAX);
    }
  }
  sw->nvariants = old * nv;
  sw->nkeys = k + 1;
  return TQ_OK;
}

/* Every key of the sweep list, one after the other. */
static tq_status sweep_read(const config_t *cfg, const char *path, tq_sweep *sw, tq_err *e) {
  const config_setting_t *list = NULL;
  TQ_TRY(sweep_list(cfg, path, sw, &list, e));
  int nkeys = list ? config_setting_length(list) : 0;
  if (nkeys > 8) return tq_fail(e, TQ_EINPUT, "%s: a sweep may vary at most 8 keys", path);
  for (int k = 0; k < nkeys; k++) {
    const config_setting_t *vals = NULL;
    TQ_TRY(sweep_entry(config_setting_get_elem(list, (unsigned)k), k, path, sw, &vals, e));
    TQ_TRY(sweep_values_distinct(vals, sw->key[k], sw->where[k], path, e));
    TQ_TRY(sweep_expand(sw, k, vals, path, e));
  }
  /* A backstop: the names are injective by construction, and two variants must never share a
   * folder. */
  for (int a = 0; a < sw->nvariants; a++)
    for (int b = 0; b < a; b++)
      if (!strcmp(sw->name[a], sw->name[b]))
        return tq_fail(e, TQ_EINPUT, "%s: sweep variants %d and %d would share the folder %s",
                       path, b + 1, a + 1, sw->name[a]);
  return TQ_OK;
}

tq_status tq_sweep_load(const char *path, tq_sweep *sw, tq_err *e) {
  memset(sw, 0, sizeof *sw);
  sw->nvariants = 1;
  snprintf(sw->file, sizeof sw->file, "%s", path);
  config_t cfg;
  tq_cfg_init(&cfg);
  tq_status s = tq_cfg_read_file(&cfg, path, e);
  if (s == TQ_OK) s = sweep_read(&cfg, path, sw, e);
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
  if (ok != CONFIG_TRUE)
    return tq_fail(e, TQ_EIO, "%s: cannot write the resolved configuration: %s", tmp, strerror(errno));
  if (rename(tmp, path) != 0)
    return tq_fail(e, TQ_EIO, "%s: cannot rename into place: %s", path, strerror(errno));
  return TQ_OK;
}
