#include "cl/cl_tuning.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

#include "util/fileio.h"

void tq_tuning_device_key(const tq_cl_devinfo *d, char *out, size_t cap) {
  char drv[128] = "";
  if (clGetDeviceInfo(d->device, CL_DRIVER_VERSION, sizeof drv, drv, NULL) != CL_SUCCESS)
    snprintf(drv, sizeof drv, "?");
  drv[sizeof drv - 1] = '\0';
  size_t n = strlen(drv);
  while (n > 0 && isspace((unsigned char)drv[n - 1])) drv[--n] = '\0';
  snprintf(out, cap, "%s|%s|%s", d->name, d->platform_name, drv);
}

tq_status tq_tuning_path(const tq_cl_devinfo *d, char *out, size_t cap, tq_err *e) {
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  char base[2048];
  if (xdg && xdg[0] == '/')
    snprintf(base, sizeof base, "%s/tailquant/tuning", xdg);
  else if (home && home[0])
    snprintf(base, sizeof base, "%s/.cache/tailquant/tuning", home);
  else
    return tq_fail(e, TQ_EINPUT, "no cache folder for tuning results: set XDG_CACHE_HOME or HOME");
  char key[512], safe[512];
  tq_tuning_device_key(d, key, sizeof key);
  size_t i = 0;
  for (; key[i] && i + 1 < sizeof safe; i++) {
    unsigned char ch = (unsigned char)key[i];
    safe[i] = (isalnum(ch) || ch == '.' || ch == '-' || ch == '_') ? (char)ch : '_';
  }
  safe[i] = '\0';
  if ((size_t)snprintf(out, cap, "%s/%s.txt", base, safe) >= cap)
    return tq_fail(e, TQ_EINPUT, "tuning cache path under %s is too long", base);
  return TQ_OK;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  return s;
}

static bool ident(const char *s, size_t cap) {
  size_t n = strlen(s);
  if (n == 0 || n >= cap) return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_') return false;
  return true;
}

static tq_status parse_kernel_line(char *rest, const char *name, int line, tq_tuned_kernel *k,
                                   tq_err *e) {
  memset(k, 0, sizeof *k);
  char *hash = strchr(rest, '#');
  if (hash) {
    *hash = '\0';
    snprintf(k->note, sizeof k->note, "%s", trim(hash + 1));
  }
  char *save = NULL, *tok = strtok_r(rest, " \t", &save);
  if (!tok || !ident(tok, sizeof k->kernel))
    return tq_fail(e, TQ_EINPUT, "%s:%d: expected a kernel name after 'kernel'", name, line);
  snprintf(k->kernel, sizeof k->kernel, "%s", tok);
  tok = strtok_r(NULL, " \t", &save);
  if (!tok || (strcmp(tok, "16") && strcmp(tok, "32") && strcmp(tok, "64")))
    return tq_fail(e, TQ_EINPUT, "%s:%d: precision '%s' must be 16, 32 or 64", name, line,
                   tok ? tok : "");
  k->precision = atoi(tok);
  while ((tok = strtok_r(NULL, " \t", &save))) {
    char *eq = strchr(tok, '=');
    if (!eq)
      return tq_fail(e, TQ_EINPUT, "%s:%d: '%s' is not NAME=VALUE", name, line, tok);
    *eq = '\0';
    if (!ident(tok, sizeof k->names[0]))
      return tq_fail(e, TQ_EINPUT, "%s:%d: bad parameter name '%s'", name, line, tok);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(eq + 1, &end, 10);
    if (eq[1] == '\0' || eq[1] == '-' || *end || errno || v > 1u << 30)
      return tq_fail(e, TQ_EINPUT, "%s:%d: parameter %s has value '%s', not an integer 0..2^30",
                     name, line, tok, eq + 1);
    if (k->nparams == TQ_TUNE_MAX_PARAMS)
      return tq_fail(e, TQ_EINPUT, "%s:%d: more than %d parameters", name, line,
                     TQ_TUNE_MAX_PARAMS);
    for (int i = 0; i < k->nparams; i++)
      if (!strcmp(k->names[i], tok))
        return tq_fail(e, TQ_EINPUT, "%s:%d: parameter %s given twice", name, line, tok);
    snprintf(k->names[k->nparams], sizeof k->names[0], "%s", tok);
    k->values[k->nparams++] = (size_t)v;
  }
  if (k->nparams == 0)
    return tq_fail(e, TQ_EINPUT, "%s:%d: kernel %s has no parameters", name, line, k->kernel);
  return TQ_OK;
}

tq_status tq_tuning_parse(const char *text, const char *name, tq_tuning *t, tq_err *e) {
  memset(t, 0, sizeof *t);
  char *copy = strdup(text);
  if (!copy) return tq_fail(e, TQ_ENOMEM, "out of memory reading %s", name);
  tq_status s = TQ_OK;
  int line = 0;
  bool magic = false, dev = false;
  /* strtok would merge empty lines and lose the line numbers: split by hand. */
  for (char *p = copy; s == TQ_OK && p && *p;) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = '\0';
    line++;
    char *l = trim(p);
    p = nl ? nl + 1 : NULL;
    if (*l == '\0' || *l == '#') continue;
    if (!magic) {
      if (strcmp(l, "tailquant-tuning 1"))
        s = tq_fail(e, TQ_EINPUT, "%s:%d: not a tailquant tuning file (expected 'tailquant-tuning 1')",
                    name, line);
      magic = true;
    } else if (!strncmp(l, "device ", 7)) {
      snprintf(t->device_key, sizeof t->device_key, "%s", trim(l + 7));
      dev = true;
    } else if (!strncmp(l, "kernel ", 7)) {
      tq_tuned_kernel k;
      s = parse_kernel_line(l + 7, name, line, &k, e);
      if (s == TQ_OK) s = tq_tuning_set(t, &k, e);
    } else {
      s = tq_fail(e, TQ_EINPUT, "%s:%d: unknown line '%.60s' (expected device or kernel)", name,
                  line, l);
    }
  }
  if (s == TQ_OK && !magic)
    s = tq_fail(e, TQ_EINPUT, "%s: empty tuning file", name);
  if (s == TQ_OK && !dev)
    s = tq_fail(e, TQ_EINPUT, "%s: no 'device' line", name);
  free(copy);
  return s;
}

tq_status tq_tuning_load(const char *path, tq_tuning *t, tq_err *e) {
  char *text = NULL;
  size_t len = 0;
  TQ_TRY(tq_read_file(path, &text, &len, e));
  tq_status s = TQ_OK;
  if (memchr(text, '\0', len))
    s = tq_fail(e, TQ_EINPUT, "%s: binary data in a tuning file", path);
  if (s == TQ_OK) s = tq_tuning_parse(text, path, t, e);
  free(text);
  return s;
}

tq_status tq_tuning_set(tq_tuning *t, const tq_tuned_kernel *k, tq_err *e) {
  for (int i = 0; i < t->nkernels; i++)
    if (!strcmp(t->k[i].kernel, k->kernel) && t->k[i].precision == k->precision) {
      t->k[i] = *k;
      return TQ_OK;
    }
  if (t->nkernels == TQ_TUNE_MAX_KERNELS)
    return tq_fail(e, TQ_EINPUT, "more than %d tuned kernels", TQ_TUNE_MAX_KERNELS);
  t->k[t->nkernels++] = *k;
  return TQ_OK;
}

static tq_status mkdirs(const char *path, tq_err *e) {
  char buf[2048];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return tq_fail(e, TQ_EIO, "cannot create folder %s: %s", buf, strerror(errno));
    *p = '/';
  }
  return TQ_OK;
}

tq_status tq_tuning_save(const char *path, const tq_tuning *t, tq_err *e) {
  TQ_TRY(mkdirs(path, e));
  char tmp[2100];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) return tq_fail(e, TQ_EIO, "cannot write %s: %s", tmp, strerror(errno));
  fprintf(f, "tailquant-tuning 1\n# written by `tailquant tune`; applied with "
             "CLBlastOverrideParameters when the device is opened\n");
  fprintf(f, "device %s\n", t->device_key);
  for (int i = 0; i < t->nkernels; i++) {
    const tq_tuned_kernel *k = &t->k[i];
    fprintf(f, "kernel %s %d", k->kernel, k->precision);
    for (int j = 0; j < k->nparams; j++) fprintf(f, " %s=%zu", k->names[j], k->values[j]);
    if (k->note[0]) fprintf(f, " # %s", k->note);
    fprintf(f, "\n");
  }
  bool bad = ferror(f) != 0;
  if (fclose(f) != 0) bad = true;
  if (bad || rename(tmp, path) != 0) {
    int err = errno;
    remove(tmp);
    return tq_fail(e, TQ_EIO, "cannot write %s: %s", path, strerror(err));
  }
  return TQ_OK;
}

tq_status tq_tuning_override(cl_device_id dev, const tq_tuning *t, const char *origin, FILE *warn,
                             int *applied, tq_err *e) {
  *applied = 0;
  for (int i = 0; i < t->nkernels; i++) {
    const tq_tuned_kernel *k = &t->k[i];
    const char *names[TQ_TUNE_MAX_PARAMS];
    for (int j = 0; j < k->nparams; j++) names[j] = k->names[j];
    CLBlastStatusCode rc = CLBlastOverrideParameters(dev, k->kernel, (CLBlastPrecision)k->precision,
                                                     (size_t)k->nparams, names, k->values);
    if (rc == CLBlastSuccess) {
      (*applied)++;
    } else if (warn) {
      fprintf(warn, "tailquant: warning: %s: CLBlast refused the parameters of kernel %s (%s); "
                    "using its defaults for it (run `tailquant tune` again)\n",
              origin, k->kernel, tq_clblast_error_name(rc));
    }
  }
  (void)e;
  return TQ_OK;
}

static bool tuning_disabled(void) {
  const char *v = getenv("TAILQUANT_TUNING");
  return v && (!strcmp(v, "off") || !strcmp(v, "0"));
}

/* Reads and checks the device's cache. TQ_EIO: there is none. */
static tq_status load_for(const tq_cl_devinfo *d, tq_tuning *t, char *path, size_t cap,
                          tq_err *e) {
  TQ_TRY(tq_tuning_path(d, path, cap, e));
  if (access(path, F_OK) != 0) return tq_fail(e, TQ_EIO, "%s does not exist", path);
  TQ_TRY(tq_tuning_load(path, t, e));
  char key[512];
  tq_tuning_device_key(d, key, sizeof key);
  if (strcmp(key, t->device_key))
    return tq_fail(e, TQ_EINPUT, "%s: made for device '%s', not '%s'", path, t->device_key, key);
  return TQ_OK;
}

int tq_tuning_apply(const tq_cl_devinfo *d, FILE *warn, bool *xgemm) {
  bool had_xgemm = false;
  if (xgemm) *xgemm = false;
  if (tuning_disabled()) return 0;
  static tq_tuning t; /* large; guarded by the lock below */
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static bool warned;
  char path[2048];
  tq_err e = {0};
  int applied = 0;
  pthread_mutex_lock(&mu);
  tq_status s = load_for(d, &t, path, sizeof path, &e);
  if (s == TQ_OK) {
    tq_tuning_override(d->device, &t, path, warned ? NULL : warn, &applied, &e);
    warned = warned || applied < t.nkernels;
    for (int i = 0; i < t.nkernels; i++)
      if (!strcmp(t.k[i].kernel, "Xgemm")) had_xgemm = applied == t.nkernels;
  } else if (s != TQ_EIO && !warned && warn) {
    /* A broken cache must not stop training: say so once and run untuned. */
    fprintf(warn, "tailquant: warning: ignoring the CLBlast tuning cache: %s\n", e.msg);
    warned = true;
  }
  pthread_mutex_unlock(&mu);
  if (xgemm) *xgemm = had_xgemm;
  return applied;
}

void tq_tuning_describe(const tq_cl_devinfo *d, char *out, size_t cap) {
  tq_tuning *t = malloc(sizeof *t);
  char path[2048];
  tq_err e = {0};
  if (!t) {
    snprintf(out, cap, "?");
    return;
  }
  tq_status s = load_for(d, t, path, sizeof path, &e);
  if (s == TQ_OK)
    snprintf(out, cap, "yes (%d kernel%s)", t->nkernels, t->nkernels == 1 ? "" : "s");
  else if (s == TQ_EIO)
    snprintf(out, cap, "no");
  else
    snprintf(out, cap, "corrupt");
  free(t);
}

/* Copies line without ANSI colour sequences (the tuners print them). */
static void strip_ansi(const char *in, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; in[i] && o + 1 < cap; i++) {
    if (in[i] == '\x1b' && in[i + 1] == '[') {
      i += 2;
      while (in[i] && !isalpha((unsigned char)in[i])) i++;
      if (!in[i]) break;
      continue;
    }
    out[o++] = in[i];
  }
  out[o] = '\0';
}

bool tq_tuning_parse_row(const char *line, size_t *values, int *n, int cap, double *perf) {
  char buf[1024];
  strip_ansi(line, buf, sizeof buf);
  if (!strstr(buf, "results match")) return false;
  char *field[16];
  int nf = 0;
  char *p = buf;
  if (*p != '|') return false;
  while (p && nf < 16) {
    char *bar = strchr(p + 1, '|');
    if (!bar) break;
    *bar = '\0';
    field[nf++] = p + 1;
    p = bar;
  }
  /* ID | total | params | ... | perf | status */
  if (nf < 5) return false;
  char *end;
  strtol(trim(field[0]), &end, 10);
  if (*trim(field[0]) == '\0' || *end) return false;
  *perf = strtod(trim(field[nf - 2]), &end);
  if (*end || !(*perf > 0)) return false;
  *n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(field[2], " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
    if (*n == cap) return false;
    unsigned long v = strtoul(tok, &end, 10);
    if (*end) return false;
    values[(*n)++] = (size_t)v;
  }
  return *n > 0;
}
