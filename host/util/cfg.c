#include "util/cfg.h"

#include "util/fileio.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reading a file: tailquant, not libconfig, opens every file and follows every @include, for
 * four reasons found the hard way.
 *  - libconfig 1.5 (Debian 12) fopens an included name and hands it to its flex scanner: a
 *    directory made the scanner call exit(2) from inside the library (found by fuzzing;
 *    tests/test_fuzz_regressions.c; upstream hyperrealm/libconfig#292), a FIFO blocked and
 *    /dev/zero never ended. Here each file must be a regular file of at most TQ_CFG_MAX_BYTES.
 *  - Its scanner reads a plain integer with atoi: 4294967312 became 16 and 10^12 became
 *    -727379968, silently. Here every integer literal is checked as written, before libconfig
 *    sees it (see scan()).
 *  - A key set in an included file and again in the including one was "duplicate setting name",
 *    so a file could not build on another. Here each file is parsed on its own and the trees are
 *    merged: an including file's settings override those of the files it includes (a later
 *    include overrides an earlier one); within one file a key is still set at most once, and the
 *    error names it and both lines.
 *  - "duplicate setting name" named no key, and a file including itself was only stopped by
 *    libconfig's depth limit. Here both are said in words.
 * Every setting of the merged tree carries its origin (file and line) in its hook, so messages
 * and relative paths refer to the file that really holds the setting. */
#define TQ_CFG_MAX_INCLUDE_DEPTH 10 /* libconfig's own limit */
#define TQ_CFG_MAX_INCLUDED 64      /* distinct files in one experiment */

typedef struct origin {
  const char *file; /* NULL: relative paths resolve against the working directory */
  char buf[];       /* where text, then the file name */
} origin;

static void set_origin(config_setting_t *s, const char *where, const char *file) {
  size_t wl = strlen(where) + 1, fl = file ? strlen(file) + 1 : 0;
  origin *o = malloc(sizeof *o + wl + fl);
  if (!o) return;
  memcpy(o->buf, where, wl);
  o->file = NULL;
  if (file) {
    memcpy(o->buf + wl, file, fl);
    o->file = o->buf + wl;
  }
  free(config_setting_get_hook(s));
  config_setting_set_hook(s, o);
}

void tq_cfg_set_origin(config_setting_t *s, const char *where, const char *file) {
  set_origin(s, where, file);
}

void tq_cfg_init(config_t *cfg) {
  config_init(cfg);
  config_set_destructor(cfg, free);
}

/* One key token of a file: its group frame (unique per { ( [), name, line. */
typedef struct key_tok {
  int frame, line;
  char path[256], name[128];
} key_tok;

typedef struct inc_ref {
  int line;
  size_t start, end; /* bytes of `@include "name"` in the text, blanked before parsing */
  char name[4096];
} inc_ref;

typedef struct scan_out {
  key_tok *keys;
  int nkeys, capkeys;
  inc_ref *incs;
  int nincs, capincs;
} scan_out;

static void scan_free(scan_out *o) {
  free(o->keys);
  free(o->incs);
  memset(o, 0, sizeof *o);
}

static bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*';
}
static bool is_ident(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9') || c == '_' || c == '-';
}
static bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The scanner's position in one file: the text, the line, and the stack of group frames
 * (unique id and name per { ( [) that key paths are built from. */
enum { SCAN_MAXF = 64 };
typedef struct scanner {
  const char *path, *t;
  size_t n, i;
  int line, depth, nframes;
  struct {
    int id;
    char name[128];
  } fr[SCAN_MAXF];
  char pending[128];    /* the last key before = or : */
  char last_ident[128]; /* the last identifier read */
  scan_out *o;
} scanner;

/* "group.sub.name" of `name` at the current depth. */
static void key_path(const scanner *sc, const char *name, char *out, size_t cap) {
  size_t used = 0;
  out[0] = '\0';
  for (int d = 1; d <= sc->depth && used < cap; d++)
    if (sc->fr[d].name[0]) used += (size_t)snprintf(out + used, cap - used, "%s.", sc->fr[d].name);
  if (used < cap) snprintf(out + used, cap - used, "%s", name);
}

/* Makes room for element n of the array *p (capacity *cap, doubling from `first`). */
static bool room_for_one(void **p, int n, int *cap, size_t elem, int first) {
  if (n < *cap) return true;
  int nc = *cap ? 2 * *cap : first;
  void *q = realloc(*p, (size_t)nc * elem);
  if (!q) return false;
  *p = q;
  *cap = nc;
  return true;
}

/* Comments (# // and block) and strings: skipped, counting lines. False if t[i] starts none. */
static bool skip_comment_or_string(scanner *sc) {
  const char *t = sc->t;
  size_t n = sc->n, i = sc->i;
  char c = t[i];
  if (c == '#' || (c == '/' && i + 1 < n && t[i + 1] == '/')) {
    while (i < n && t[i] != '\n') i++;
  } else if (c == '/' && i + 1 < n && t[i + 1] == '*') {
    for (i += 2; i < n && !(t[i] == '*' && i + 1 < n && t[i + 1] == '/'); i++)
      if (t[i] == '\n') sc->line++;
    i += 2;
  } else if (c == '"') {
    for (i++; i < n && t[i] != '"'; i++) {
      if (t[i] == '\\' && i + 1 < n) i++;
      if (t[i] == '\n') sc->line++;
    }
    i++;
  } else
    return false;
  sc->i = i;
  return true;
}

/* `@include "name"` at the start of a line: recorded with its byte range. *taken is false if
 * the text there is not an include. */
static tq_status scan_include(scanner *sc, bool *taken, tq_err *e) {
  const char *t = sc->t;
  size_t n = sc->n, i = sc->i;
  *taken = false;
  if (!(n - i > 8 && !strncmp(t + i, "@include", 8) && (t[i + 8] == ' ' || t[i + 8] == '\t')))
    return TQ_OK;
  size_t k = i + 8;
  while (k < n && (t[k] == ' ' || t[k] == '\t')) k++;
  if (!(k < n && t[k] == '"')) return TQ_OK;
  inc_ref r = {.line = sc->line, .start = i};
  size_t len = 0;
  for (k++; k < n && t[k] != '"'; k++) {
    if (t[k] == '\\' && k + 1 < n && (t[k + 1] == '\\' || t[k + 1] == '"')) k++;
    if (t[k] == '\n') sc->line++;
    if (len + 1 < sizeof r.name) r.name[len++] = t[k];
  }
  if (len + 1 >= sizeof r.name)
    return tq_fail(e, TQ_EINPUT, "%s:%d: @include name longer than %zu characters", sc->path,
                   r.line, sizeof r.name - 1);
  r.name[len] = '\0';
  r.end = k < n ? k + 1 : n;
  scan_out *o = sc->o;
  if (!room_for_one((void **)&o->incs, o->nincs, &o->capincs, sizeof *o->incs, 8))
    return tq_fail(e, TQ_ENOMEM, "%s: out of memory", sc->path);
  o->incs[o->nincs++] = r;
  sc->i = r.end;
  *taken = true;
  return TQ_OK;
}

/* At = or :, the last identifier is a key: recorded with its frame, line and path. */
static tq_status scan_key(scanner *sc, tq_err *e) {
  snprintf(sc->pending, sizeof sc->pending, "%s", sc->last_ident);
  scan_out *o = sc->o;
  if (sc->pending[0]) {
    if (!room_for_one((void **)&o->keys, o->nkeys, &o->capkeys, sizeof *o->keys, 64))
      return tq_fail(e, TQ_ENOMEM, "%s: out of memory", sc->path);
    key_tok *k = &o->keys[o->nkeys++];
    k->frame = sc->fr[sc->depth].id;
    k->line = sc->line;
    snprintf(k->name, sizeof k->name, "%s", sc->pending);
    key_path(sc, sc->pending, k->path, sizeof k->path);
  }
  sc->last_ident[0] = '\0';
  sc->i++;
  return TQ_OK;
}

/* A numeric literal at t[i] (sign included): floats are skipped; an integer must fit in 32 bits
 * (libconfig would wrap it), one with an L suffix in 64 bits. */
static tq_status scan_number(scanner *sc, tq_err *e) {
  const char *t = sc->t;
  size_t n = sc->n, i = sc->i;
  char c = t[i];
  size_t j = i + (c == '-' || c == '+');
  bool hex = t[j] == '0' && j + 1 < n && (t[j + 1] == 'x' || t[j + 1] == 'X') && j + 2 < n &&
             is_hex(t[j + 2]);
  size_t d0 = hex ? j + 2 : j, d1 = d0;
  while (d1 < n && (hex ? is_hex(t[d1]) : (t[d1] >= '0' && t[d1] <= '9'))) d1++;
  bool flt = !hex && d1 < n && (t[d1] == '.' || t[d1] == 'e' || t[d1] == 'E');
  if (flt) {
    i = d1 + 1;
    while (i < n && (is_ident(t[i]) || t[i] == '.' ||
                     ((t[i] == '-' || t[i] == '+') && (t[i - 1] == 'e' || t[i - 1] == 'E'))))
      i++;
    sc->i = i;
    return TQ_OK;
  }
  size_t end = d1;
  bool l64 = end < n && t[end] == 'L';
  if (l64) end += (end + 1 < n && t[end + 1] == 'L') ? 2 : 1;
  char lit[96];
  snprintf(lit, sizeof lit, "%.*s", (int)(d1 - i < 90 ? d1 - i : 90), t + i);
  errno = 0;
  bool neg = c == '-';
  unsigned long long mag = strtoull(t + d0 - (hex ? 2 : 0), NULL, hex ? 16 : 10);
  bool over = errno == ERANGE;
  char key[300];
  if (sc->pending[0])
    key_path(sc, sc->pending, key, sizeof key);
  else
    snprintf(key, sizeof key, "(a value)");
  if (l64) {
    if (over || (!hex && mag > (neg ? 9223372036854775808ull : 9223372036854775807ull)))
      return tq_fail(e, TQ_EINPUT, "%s:%d: '%s' = %s is out of range (beyond 64-bit integers)",
                     sc->path, sc->line, key, lit);
  } else {
    unsigned long long lim = hex ? 0x7fffffffull : (neg ? 2147483648ull : 2147483647ull);
    if (over || mag > lim)
      return tq_fail(e, TQ_EINPUT,
                     "%s:%d: '%s' = %s is out of range: a plain integer must lie in "
                     "-2147483648..2147483647 (libconfig would silently wrap it); no "
                     "tailquant key takes a value this large",
                     sc->path, sc->line, key, lit);
  }
  sc->i = end;
  return TQ_OK;
}

/* Group brackets { ( [ push a frame named by the pending key; } ) ] pop one. */
static void scan_bracket(scanner *sc, char c) {
  if (c == '{' || c == '(' || c == '[') {
    if (sc->depth + 1 < SCAN_MAXF) {
      sc->depth++;
      sc->fr[sc->depth].id = ++sc->nframes;
      snprintf(sc->fr[sc->depth].name, sizeof sc->fr[sc->depth].name, "%s", sc->pending);
    }
  } else if (sc->depth > 0)
    sc->depth--;
  sc->pending[0] = sc->last_ident[0] = '\0';
  sc->i++;
}

/* Tokenises libconfig text far enough to find @include lines, key names with their group path,
 * and integer literals, which it checks (scan_number). Strings and comments are skipped; syntax
 * errors are left to libconfig. */
static tq_status scan(const char *path, const char *t, size_t n, scan_out *o, tq_err *e) {
  scanner *sc = calloc(1, sizeof *sc);
  if (!sc) return tq_fail(e, TQ_ENOMEM, "%s: out of memory", path);
  *sc = (scanner){.path = path, .t = t, .n = n, .line = 1, .o = o};
  bool line_start = true;
  tq_status s = TQ_OK;
  while (s == TQ_OK && sc->i < n) {
    char c = t[sc->i];
    if (c == '\n') {
      sc->line++;
      sc->i++;
      line_start = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      sc->i++;
      continue;
    }
    bool at_start = line_start, taken = false;
    line_start = false;
    if (skip_comment_or_string(sc)) continue;
    if (c == '@' && at_start && ((s = scan_include(sc, &taken, e)) != TQ_OK || taken)) continue;
    if (is_ident_start(c)) {
      size_t j = sc->i;
      while (j < n && is_ident(t[j])) j++;
      snprintf(sc->last_ident, sizeof sc->last_ident, "%.*s", (int)(j - sc->i), t + sc->i);
      sc->i = j;
    } else if (c == '=' || c == ':')
      s = scan_key(sc, e);
    else if (c && strchr("{([})]", c))
      scan_bracket(sc, c);
    else if ((c >= '0' && c <= '9') ||
             ((c == '-' || c == '+') && sc->i + 1 < n && t[sc->i + 1] >= '0' && t[sc->i + 1] <= '9'))
      s = scan_number(sc, e);
    else
      sc->i++;
  }
  free(sc);
  return s;
}

static tq_status copy_setting(config_setting_t *dst_parent, const config_setting_t *src,
                              const char *file, tq_err *e);

static tq_status copy_members(config_setting_t *dst, const config_setting_t *src,
                              const char *file, tq_err *e) {
  int n = config_setting_length(src);
  for (int i = 0; i < n; i++)
    TQ_TRY(copy_setting(dst, config_setting_get_elem(src, (unsigned)i), file, e));
  return TQ_OK;
}

/* Deep copy of src under dst_parent, with its origin: src's hook, or (file, src's line). */
static tq_status copy_setting(config_setting_t *dst_parent, const config_setting_t *src,
                              const char *file, tq_err *e) {
  int type = config_setting_type(src);
  bool named = config_setting_type(dst_parent) == CONFIG_TYPE_GROUP;
  config_setting_t *d = config_setting_add(dst_parent, named ? config_setting_name(src) : NULL, type);
  if (!d) return tq_fail(e, TQ_EINTERNAL, "cannot copy setting '%s'", config_setting_name(src));
  d->line = src->line;
  const origin *so = config_setting_get_hook(src);
  if (so)
    set_origin(d, so->buf, so->file);
  else {
    char where[4200];
    snprintf(where, sizeof where, "%s:%u", file, src->line);
    set_origin(d, where, file);
  }
  switch (type) {
  case CONFIG_TYPE_INT: config_setting_set_int(d, config_setting_get_int(src)); break;
  case CONFIG_TYPE_INT64: config_setting_set_int64(d, config_setting_get_int64(src)); break;
  case CONFIG_TYPE_FLOAT: config_setting_set_float(d, config_setting_get_float(src)); break;
  case CONFIG_TYPE_BOOL: config_setting_set_bool(d, config_setting_get_bool(src)); break;
  case CONFIG_TYPE_STRING: config_setting_set_string(d, config_setting_get_string(src)); break;
  default: return copy_members(d, src, file, e);
  }
  return TQ_OK;
}

/* Settings of src override those of dst: groups merge member by member, anything else is
 * replaced whole (a list or an array is one value). */
static tq_status merge_into(config_setting_t *dst, const config_setting_t *src, const char *file,
                            tq_err *e) {
  int n = config_setting_length(src);
  for (int i = 0; i < n; i++) {
    const config_setting_t *m = config_setting_get_elem(src, (unsigned)i);
    const char *name = config_setting_name(m);
    config_setting_t *old = config_setting_get_member(dst, name);
    if (old && config_setting_type(old) == CONFIG_TYPE_GROUP &&
        config_setting_type(m) == CONFIG_TYPE_GROUP) {
      TQ_TRY(merge_into(old, m, file, e));
      continue;
    }
    if (old) config_setting_remove(dst, name);
    TQ_TRY(copy_setting(dst, m, file, e));
  }
  return TQ_OK;
}

typedef struct load_ctx {
  char *stack[TQ_CFG_MAX_INCLUDE_DEPTH + 1];
  int depth;
  int nfiles;
} load_ctx;

static tq_status load_file(load_ctx *lc, config_t *out, const char *path, tq_err *e) {
  char *text = NULL;
  size_t n = 0;
  TQ_TRY(tq_read_file_max(path, "configuration file", TQ_CFG_MAX_BYTES, &text, &n, e));
  if (memchr(text, '\0', n)) {
    free(text);
    return tq_fail(e, TQ_EINPUT, "%s: holds a NUL byte: not a text file", path);
  }
  scan_out so = {0};
  tq_status s = scan(path, text, n, &so, e);
  /* The includes are ours to follow: blank them (newlines kept, so lines still count). */
  for (int i = 0; s == TQ_OK && i < so.nincs; i++)
    for (size_t k = so.incs[i].start; k < so.incs[i].end; k++)
      if (text[k] != '\n') text[k] = ' ';
  config_t own;
  tq_cfg_init(&own);
  config_set_include_dir(&own, "/nonexistent/tailquant-follows-includes-itself");
  if (s == TQ_OK && config_read_string(&own, text) != CONFIG_TRUE) {
    int line = config_error_line(&own);
    const char *why = config_error_text(&own);
    if (why && !strcmp(why, "duplicate setting name")) {
      /* Name the key: the token on that line whose (group, name) came before. */
      const key_tok *dup = NULL, *first = NULL;
      for (int i = 0; i < so.nkeys && !dup; i++) {
        if (so.keys[i].line != line) continue;
        for (int j = 0; j < i && !first; j++)
          if (so.keys[j].frame == so.keys[i].frame && !strcmp(so.keys[j].name, so.keys[i].name))
            first = &so.keys[j];
        if (first) dup = &so.keys[i];
      }
      if (dup)
        s = tq_fail(e, TQ_EINPUT,
                    "%s:%d: '%s' is set twice in this file (first at line %d); a key may be set "
                    "once per file (an including file or --set may override an included one)",
                    path, line, dup->path, first->line);
      else
        s = tq_fail(e, TQ_EINPUT, "%s:%d: a key is set twice in the same group", path, line);
    } else
      s = tq_fail(e, TQ_EINPUT, "%s:%d: %s", path, line, why ? why : "syntax error");
  }
  free(text);
  /* The included files first, in order, then this file's own settings over them. */
  char dir[4096];
  tq_path_dir(dir, sizeof dir, path);
  for (int i = 0; s == TQ_OK && i < so.nincs; i++) {
    const inc_ref *r = &so.incs[i];
    char full[8192], real[PATH_MAX];
    if (!tq_path_join(full, sizeof full, dir, r->name)) {
      s = tq_fail(e, TQ_EINPUT, "%s:%d: @include \"%s\": path too long", path, r->line, r->name);
      break;
    }
    if (!realpath(full, real)) {
      s = tq_fail(e, TQ_EINPUT, "%s:%d: @include \"%s\": cannot open %s: %s", path, r->line,
                  r->name, full, strerror(errno));
      break;
    }
    for (int d = 0; d < lc->depth && s == TQ_OK; d++)
      if (!strcmp(lc->stack[d], real))
        s = tq_fail(e, TQ_EINPUT, "%s:%d: @include \"%s\" %s", path, r->line, r->name,
                    d == lc->depth - 1 ? "includes the file itself"
                                       : "includes a file that includes this one (a cycle)");
    if (s != TQ_OK) break;
    if (lc->depth >= TQ_CFG_MAX_INCLUDE_DEPTH) {
      s = tq_fail(e, TQ_EINPUT, "%s:%d: @include \"%s\": includes nested deeper than %d", path,
                  r->line, r->name, TQ_CFG_MAX_INCLUDE_DEPTH);
      break;
    }
    int fd;
    size_t sz;
    if (tq_open_regular(full, "included file", TQ_CFG_MAX_BYTES, &fd, &sz, e) != TQ_OK) {
      s = tq_wrap(e, "%s:%d: @include \"%s\"", path, r->line, r->name);
      break;
    }
    close(fd);
    if (++lc->nfiles > TQ_CFG_MAX_INCLUDED) {
      s = tq_fail(e, TQ_EINPUT, "%s:%d: more than %d files included", path, r->line,
                  TQ_CFG_MAX_INCLUDED);
      break;
    }
    config_t inc;
    tq_cfg_init(&inc);
    if (!(lc->stack[lc->depth] = strdup(real))) {
      s = tq_fail(e, TQ_ENOMEM, "out of memory");
    } else {
      lc->depth++;
      s = load_file(lc, &inc, full, e);
      lc->depth--;
      free(lc->stack[lc->depth]);
    }
    if (s == TQ_OK) s = merge_into(config_root_setting(out), config_root_setting(&inc), full, e);
    config_destroy(&inc);
  }
  if (s == TQ_OK) s = merge_into(config_root_setting(out), config_root_setting(&own), path, e);
  config_destroy(&own);
  scan_free(&so);
  return s;
}

tq_status tq_cfg_read_file(config_t *cfg, const char *path, tq_err *e) {
  config_set_destructor(cfg, free);
  load_ctx lc = {.depth = 1, .nfiles = 1};
  char real[PATH_MAX];
  lc.stack[0] = strdup(realpath(path, real) ? real : path);
  if (!lc.stack[0]) return tq_fail(e, TQ_ENOMEM, "out of memory");
  tq_status s = load_file(&lc, cfg, path, e);
  free(lc.stack[0]);
  return s;
}

void tq_cfg_where(const config_setting_t *s, const char *fallback_file, char *out, size_t cap) {
  const origin *o = config_setting_get_hook(s);
  if (o) {
    snprintf(out, cap, "%s", o->buf);
    return;
  }
  const char *f = config_setting_source_file(s);
  unsigned line = config_setting_source_line(s);
  if (!f) f = fallback_file ? fallback_file : "(config)";
  if (line)
    snprintf(out, cap, "%s:%u", f, line);
  else
    snprintf(out, cap, "%s", f);
}

bool tq_cfg_origin_file(const config_setting_t *s, const char *fallback_file, const char **file) {
  const origin *o = config_setting_get_hook(s);
  if (o) {
    *file = o->file;
    return true;
  }
  const char *f = config_setting_source_file(s);
  *file = f ? f : fallback_file;
  return f != NULL;
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
    return tq_fail(e, TQ_EINPUT, "%s: '%s' is %zu characters long; the limit is %zu", where, path,
                   strlen(v), cap - 1);
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
