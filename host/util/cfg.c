#include "util/cfg.h"

#include "util/fileio.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

tq_status tq_cfg_read_file(config_t *cfg, const char *path, tq_err *e) {
  FILE *f = fopen(path, "r");
  if (!f) return tq_fail(e, TQ_EINPUT, "%s: cannot open file", path);
  fclose(f);
  /* @include "x.cfg" is relative to the including file, as paths inside it are. */
  char dir[4096];
  tq_path_dir(dir, sizeof dir, path);
  config_set_include_dir(cfg, dir);
  if (config_read_file(cfg, path) != CONFIG_TRUE)
    return tq_fail(e, TQ_EINPUT, "%s:%d: %s", config_error_file(cfg) ? config_error_file(cfg) : path,
                   config_error_line(cfg), config_error_text(cfg));
  return TQ_OK;
}

void tq_cfg_where(const config_setting_t *s, const char *fallback_file, char *out, size_t cap) {
  const char *f = config_setting_source_file(s);
  unsigned line = config_setting_source_line(s);
  if (!f) f = fallback_file ? fallback_file : "(config)";
  if (line)
    snprintf(out, cap, "%s:%u", f, line);
  else
    snprintf(out, cap, "%s (--set)", f);
}

void tq_cfg_path(const config_setting_t *s, char *out, size_t cap) {
  const config_setting_t *chain[32];
  int n = 0;
  for (const config_setting_t *p = s; p && !config_setting_is_root(p) && n < 32;
       p = config_setting_parent(p))
    chain[n++] = p;
  size_t used = 0;
  out[0] = '\0';
  for (int i = n - 1; i >= 0 && used < cap; i--) {
    const char *name = config_setting_name(chain[i]);
    if (name)
      used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? "." : "", name);
    else
      used += (size_t)snprintf(out + used, cap - used, "%s[%d]", used ? "." : "",
                               config_setting_index(chain[i]));
  }
}

const char *tq_cfg_type_name(int type) {
  switch (type) {
  case CONFIG_TYPE_GROUP: return "a group { ... }";
  case CONFIG_TYPE_INT: return "an integer";
  case CONFIG_TYPE_INT64: return "a 64-bit integer";
  case CONFIG_TYPE_FLOAT: return "a number";
  case CONFIG_TYPE_STRING: return "a string";
  case CONFIG_TYPE_BOOL: return "true or false";
  case CONFIG_TYPE_ARRAY: return "an array [ ... ]";
  case CONFIG_TYPE_LIST: return "a list ( ... )";
  }
  return "nothing";
}

tq_status tq_cfg_only_keys(const config_setting_t *g, const char *const *allowed,
                           const char *file, tq_err *e) {
  int n = config_setting_length(g);
  for (int i = 0; i < n; i++) {
    const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
    const char *name = config_setting_name(m);
    if (!name) continue;
    bool ok = false;
    for (int k = 0; allowed[k] && !ok; k++) ok = strcmp(allowed[k], name) == 0;
    if (!ok) {
      char where[600], path[256], list[512] = "";
      size_t used = 0;
      tq_cfg_where(m, file, where, sizeof where);
      tq_cfg_path(m, path, sizeof path);
      for (int k = 0; allowed[k] && used < sizeof list; k++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", allowed[k]);
      return tq_fail(e, TQ_EINPUT, "%s: unknown key '%s' (allowed here: %s)", where, path, list);
    }
  }
  return TQ_OK;
}

static tq_status missing(const config_setting_t *g, const char *key, const char *what,
                         const char *file, tq_err *e) {
  char where[600], path[256];
  tq_cfg_where(g, file, where, sizeof where);
  tq_cfg_path(g, path, sizeof path);
  return tq_fail(e, TQ_EINPUT, "%s: missing key '%s%s%s' (%s)", where, path, path[0] ? "." : "",
                 key, what);
}

static tq_status wrong(const config_setting_t *s, const char *what, const char *file, tq_err *e) {
  char where[600], path[256];
  tq_cfg_where(s, file, where, sizeof where);
  tq_cfg_path(s, path, sizeof path);
  return tq_fail(e, TQ_EINPUT, "%s: '%s' must be %s, not %s", where, path, what,
                 tq_cfg_type_name(config_setting_type(s)));
}

tq_status tq_cfg_int(const config_setting_t *g, const char *key, bool required, int dflt, int lo,
                     int hi, int *out, const char *file, tq_err *e) {
  const config_setting_t *s = config_setting_get_member(g, key);
  char what[96];
  snprintf(what, sizeof what, "an integer from %d to %d", lo, hi);
  if (!s) {
    if (required) return missing(g, key, what, file, e);
    *out = dflt;
    return TQ_OK;
  }
  int t = config_setting_type(s);
  if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) return wrong(s, what, file, e);
  long long v = config_setting_get_int64(s);
  if (v < lo || v > hi) {
    char where[600], path[256];
    tq_cfg_where(s, file, where, sizeof where);
    tq_cfg_path(s, path, sizeof path);
    return tq_fail(e, TQ_EINPUT, "%s: '%s' = %lld is out of range (%s)", where, path, v, what);
  }
  *out = (int)v;
  return TQ_OK;
}

tq_status tq_cfg_float(const config_setting_t *g, const char *key, bool required, double dflt,
                       double lo, double hi, double *out, const char *file, tq_err *e) {
  const config_setting_t *s = config_setting_get_member(g, key);
  char what[96];
  snprintf(what, sizeof what, "a number from %g to %g", lo, hi);
  if (!s) {
    if (required) return missing(g, key, what, file, e);
    *out = dflt;
    return TQ_OK;
  }
  int t = config_setting_type(s);
  double v;
  if (t == CONFIG_TYPE_FLOAT)
    v = config_setting_get_float(s);
  else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
    v = (double)config_setting_get_int64(s);
  else
    return wrong(s, what, file, e);
  if (!isfinite(v) || v < lo || v > hi) {
    char where[600], path[256];
    tq_cfg_where(s, file, where, sizeof where);
    tq_cfg_path(s, path, sizeof path);
    return tq_fail(e, TQ_EINPUT, "%s: '%s' = %g is out of range (%s)", where, path, v, what);
  }
  *out = v;
  return TQ_OK;
}

tq_status tq_cfg_string(const config_setting_t *g, const char *key, bool required,
                        const char *dflt, char *out, size_t cap, const char *file, tq_err *e) {
  const config_setting_t *s = config_setting_get_member(g, key);
  if (!s) {
    if (required) return missing(g, key, "a string", file, e);
    snprintf(out, cap, "%s", dflt ? dflt : "");
    return TQ_OK;
  }
  if (config_setting_type(s) != CONFIG_TYPE_STRING) return wrong(s, "a string in quotes", file, e);
  const char *v = config_setting_get_string(s);
  if (strlen(v) >= cap) {
    char where[600], path[256];
    tq_cfg_where(s, file, where, sizeof where);
    tq_cfg_path(s, path, sizeof path);
    return tq_fail(e, TQ_EINPUT, "%s: '%s' is longer than %zu characters", where, path, cap - 1);
  }
  snprintf(out, cap, "%s", v);
  return TQ_OK;
}

tq_status tq_cfg_bool(const config_setting_t *g, const char *key, bool required, bool dflt,
                      bool *out, const char *file, tq_err *e) {
  const config_setting_t *s = config_setting_get_member(g, key);
  if (!s) {
    if (required) return missing(g, key, "true or false", file, e);
    *out = dflt;
    return TQ_OK;
  }
  if (config_setting_type(s) != CONFIG_TYPE_BOOL) return wrong(s, "true or false", file, e);
  *out = config_setting_get_bool(s) != 0;
  return TQ_OK;
}
