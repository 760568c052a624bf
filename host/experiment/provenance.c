#include "experiment/provenance.h"

#include "data/cifar.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "cl/cl_runtime.h"
#include "util/version.h"

void tq_iso_utc(char *out, size_t cap) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* CRC-32 of a whole file, read in 1 MiB pieces: Fashion-MNIST's four files (30 MB) take tens of
 * milliseconds, and they were just read to load the data anyway. */
static tq_status file_crc_from(const char *path, uLong c, uint32_t *crc, long long *bytes, tq_err *e) {
  FILE *f = fopen(path, "rb");
  if (!f) return tq_fail(e, TQ_EIO, "%s: cannot open for its checksum: %s", path, strerror(errno));
  static _Thread_local unsigned char buf[1 << 20];
  long long n = 0;
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
    c = crc32(c, buf, (uInt)got);
    n += (long long)got;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) return tq_fail(e, TQ_EIO, "%s: read failed computing its checksum", path);
  *crc = (uint32_t)c;
  *bytes = n;
  return TQ_OK;
}

static tq_status file_crc(const char *path, uint32_t *crc, long long *bytes, tq_err *e) {
  return file_crc_from(path, crc32(0L, Z_NULL, 0), crc, bytes, e);
}

/* A CIFAR-10 folder: one CRC-32 over its batch files in the order they are read (cifar.h). */
static tq_status folder_crc(const char *dir, bool train, uint32_t *crc, long long *bytes, tq_err *e) {
  uLong c = crc32(0L, Z_NULL, 0);
  *bytes = 0;
  for (int k = 0; k < (train ? TQ_CIFAR_TRAIN_FILES : 1); k++) {
    char file[TQ_PATH_MAX + 32];
    if (train)
      snprintf(file, sizeof file, "%s/data_batch_%d.bin", dir, k + 1);
    else
      snprintf(file, sizeof file, "%s/test_batch.bin", dir);
    uint32_t part;
    long long n;
    TQ_TRY(file_crc_from(file, c, &part, &n, e));
    c = part;
    *bytes += n;
  }
  *crc = (uint32_t)c;
  return TQ_OK;
}

static void dataset_label(const char *path, char *out, size_t cap) {
  char dir[TQ_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) {
    snprintf(out, cap, ".");
    return;
  }
  *slash = '\0';
  const char *base = strrchr(dir, '/');
  snprintf(out, cap, "%s", base ? base + 1 : dir);
}

static void add_device(tq_provenance *p, const char *spec, bool first) {
  tq_cl_devinfo d;
  tq_err ignore = {0};
  if (tq_cl_select_device(spec, &d, &ignore) != TQ_OK) return;
  char drv[128] = "?", pver[128] = "?";
  clGetDeviceInfo(d.device, CL_DRIVER_VERSION, sizeof drv, drv, NULL);
  clGetPlatformInfo(d.platform, CL_PLATFORM_VERSION, sizeof pver, pver, NULL);
  drv[sizeof drv - 1] = pver[sizeof pver - 1] = '\0';
  char one[512];
  snprintf(one, sizeof one, "%s (%s; driver %s; %s)", d.name, d.platform_name, drv, pver);
  if (strstr(p->devices, one)) return;
  size_t len = strlen(p->devices);
  snprintf(p->devices + len, sizeof p->devices - len, "%s%s", len ? "; " : "", one);
  if (first) snprintf(p->driver, sizeof p->driver, "%s", drv);
}

tq_status tq_provenance_collect(tq_provenance *p, const tq_experiment *x, const char *devices,
                                const char *command, tq_err *e) {
  memset(p, 0, sizeof *p);
  tq_iso_utc(p->started, sizeof p->started);
  snprintf(p->command, sizeof p->command, "%s", command ? command : "");
  dataset_label(x->train_images, p->dataset, sizeof p->dataset);
  const char *keys[TQ_PROV_FILES] = {"train_images", "train_labels", "test_images", "test_labels"};
  const char *paths[TQ_PROV_FILES] = {x->train_images, x->train_labels, x->test_images, x->test_labels};
  bool cifar = !strcmp(x->data_format, "cifar10");
  for (int i = 0; i < TQ_PROV_FILES; i++) {
    p->files[i].key = keys[i];
    if (cifar && (i == 1 || i == 3)) continue; /* labels are inside the image records */
    snprintf(p->files[i].path, sizeof p->files[i].path, "%s", paths[i]);
    struct stat st;
    if (cifar && stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode))
      TQ_TRY(folder_crc(paths[i], i == 0, &p->files[i].crc32, &p->files[i].bytes, e));
    else
      TQ_TRY(file_crc(paths[i], &p->files[i].crc32, &p->files[i].bytes, e));
  }
  char specs[512];
  snprintf(specs, sizeof specs, "%s", devices && *devices ? devices : "auto");
  char *save = NULL;
  bool first = true;
  for (char *s = strtok_r(specs, ",", &save); s; s = strtok_r(NULL, ",", &save), first = false)
    add_device(p, s, first);
  return TQ_OK;
}

tq_status tq_provenance_append_cfg(const tq_provenance *p, const char *path, tq_err *e) {
  FILE *f = fopen(path, "a");
  if (!f) return tq_fail(e, TQ_EIO, "%s: cannot append the provenance: %s", path, strerror(errno));
  fprintf(f, "\n# Provenance (comments; summary.json has the same and the end time)\n");
  fprintf(f, "# tailquant %s, git %s (%s)\n", TQ_VERSION, tq_git_commit, tq_git_describe);
  fprintf(f, "# command: %s\n", p->command[0] ? p->command : "(not recorded)");
  fprintf(f, "# started: %s\n", p->started);
  fprintf(f, "# dataset: %s\n", p->dataset);
  for (int i = 0; i < TQ_PROV_FILES; i++)
    if (p->files[i].path[0])
      fprintf(f, "#   %s: %s (%lld bytes, crc32 %08x)\n", p->files[i].key, p->files[i].path,
            p->files[i].bytes, p->files[i].crc32);
  fprintf(f, "# devices: %s\n", p->devices[0] ? p->devices : "?");
  if (fclose(f) != 0) return tq_fail(e, TQ_EIO, "%s: write failed", path);
  return TQ_OK;
}

void tq_provenance_json(const tq_provenance *p, tq_json *j) {
  char ended[32], key[64], crc[16];
  tq_iso_utc(ended, sizeof ended);
  tq_json_str(j, "tailquant_version", TQ_VERSION);
  tq_json_str(j, "git_commit", tq_git_commit);
  tq_json_str(j, "git_describe", tq_git_describe);
  tq_json_str(j, "command_line", p->command);
  tq_json_str(j, "started_utc", p->started);
  tq_json_str(j, "ended_utc", ended);
  tq_json_str(j, "dataset", p->dataset);
  for (int i = 0; i < TQ_PROV_FILES; i++) {
    if (!p->files[i].path[0]) continue; /* CIFAR-10: no label files */
    snprintf(key, sizeof key, "data_%s", p->files[i].key);
    tq_json_str(j, key, p->files[i].path);
    snprintf(key, sizeof key, "data_%s_bytes", p->files[i].key);
    tq_json_int(j, key, p->files[i].bytes);
    snprintf(key, sizeof key, "data_%s_crc32", p->files[i].key);
    snprintf(crc, sizeof crc, "%08x", p->files[i].crc32);
    tq_json_str(j, key, crc);
  }
  tq_json_str(j, "devices", p->devices);
  tq_json_str(j, "driver_version", p->driver);
}
