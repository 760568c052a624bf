#include "util/cfg.h"

#include "util/fileio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* libconfig 1.5 (Debian 12) opens `@include "x"` with fopen and hands the stream to its flex
 * scanner. A directory opens but cannot be read, and the scanner then calls exit(2) ("input in
 * flex scanner failed"): one line in an experiment file killed the process from inside a
 * library call (found by fuzzing; tests/test_fuzz_regressions.c; upstream
 * hyperrealm/libconfig#292). A FIFO or a device (/dev/zero) would block or never end. So before
 * libconfig reads a file, every include in it, and in the files those include, must name a
 * regular file; a missing file is left to libconfig, which reports it. The scan mirrors
 * libconfig's scanner: `^[ \t]*@include[ \t]+"name"`, with \\ and \" escapes in the name, which
 * may span lines; names are relative to the include folder unless absolute. It may also see an
 * include inside a comment or a multi-line string, which only makes it stricter. */
#define TQ_CFG_MAX_INCLUDE_DEPTH 10 /* libconfig's own limit */
/* Each file is scanned once (a file that includes itself several times would otherwise cost
 * n^10 scans); more distinct included files than this is refused. */
#define TQ_CFG_MAX_INCLUDED 64

typedef struct include_scan {
  char *seen[TQ_CFG_MAX_INCLUDED];
  int nseen;
} include_scan;

static tq_status check_includes(include_scan *sc, const char *path, const char *dir, int depth,
                                tq_err *e) {
  for (int i = 0; i < sc->nseen; i++)
    if (strcmp(sc->seen[i], path) == 0) return TQ_OK;
  if (sc->nseen == TQ_CFG_MAX_INCLUDED)
    return tq_fail(e, TQ_EINPUT, "%s: more than %d files included", path, TQ_CFG_MAX_INCLUDED);
  if (!(sc->seen[sc->nseen] = strdup(path)))
    return tq_fail(e, TQ_ENOMEM, "%s: out of memory reading the file", path);
  sc->nseen++;
  FILE *f = fopen(path, "rb");
  if (!f) return TQ_OK; /* libconfig reports it */
  size_t n = 0, cap = 4096;
  char *text = malloc(cap + 1);
  if (!text) {
    fclose(f);
    return tq_fail(e, TQ_ENOMEM, "%s: out of memory reading the file", path);
  }
  for (size_t got; (got = fread(text + n, 1, cap - n, f)) > 0;) {
    n += got;
    if (n == cap) {
      char *t = realloc(text, 2 * cap + 1);
      if (!t) {
        free(text);
        fclose(f);
        return tq_fail(e, TQ_ENOMEM, "%s: out of memory reading the file", path);
      }
      text = t;
      cap *= 2;
    }
  }
  fclose(f);
  text[n] = '\0';
  tq_status s = TQ_OK;
  int line = 0;
  for (size_t i = 0; i < n && s == TQ_OK; i++) { /* i: the start of a line */
    line++;
    size_t eol = i;
    while (eol < n && text[eol] != '\n') eol++;
    size_t j = i;
    while (j < eol && (text[j] == ' ' || text[j] == '\t')) j++;
    size_t k = j + 8;
    if (eol - j > 8 && strncmp(text + j, "@include", 8) == 0 &&
        (text[k] == ' ' || text[k] == '\t')) {
      while (k < eol && (text[k] == ' ' || text[k] == '\t')) k++;
      if (k < eol && text[k] == '"') {
        char name[4096];
        size_t len = 0;
        for (k++; k < n && text[k] != '"'; k++) {
          if (text[k] == '\\' && k + 1 < n && (text[k + 1] == '\\' || text[k + 1] == '"')) k++;
          if (len + 1 < sizeof name) name[len++] = text[k];
        }
        name[len] = '\0';
        char full[8192];
        if (name[0] == '/' || !dir)
          snprintf(full, sizeof full, "%s", name);
        else
          snprintf(full, sizeof full, "%s/%s", dir, name);
        struct stat st;
        if (stat(full, &st) == 0) {
          if (!S_ISREG(st.st_mode))
            s = tq_fail(e, TQ_EINPUT, "%s:%d: @include \"%s\": %s is not a regular file", path,
                        line, name, full);
          else if (depth + 1 < TQ_CFG_MAX_INCLUDE_DEPTH)
            s = check_includes(sc, full, dir, depth + 1, e);
        }
      }
    }
    i = eol;
  }
  free(text);
  return s;
}

tq_status tq_cfg_read_file(config_t *cfg, const char *path, tq_err *e) {
  FILE *f = fopen(path, "r");
  if (!f) return tq_fail(e, TQ_EINPUT, "%s: cannot open file", path);
  fclose(f);
  /* @include "x.cfg" is relative to the including file, as paths inside it are. */
  char dir[4096];
  tq_path_dir(dir, sizeof dir, path);
  config_set_include_dir(cfg, dir);
  include_scan sc = {.nseen = 0};
  tq_status s = check_includes(&sc, path, dir, 0, e);
  for (int i = 0; i < sc.nseen; i++) free(sc.seen[i]);
  if (s != TQ_OK) return s;
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
