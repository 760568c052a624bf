#include "data/cifar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fileio.h"

/* Appends the records of one file to *ds (pixels and labels grown by realloc). */
static tq_status append_file(const char *path, uint32_t classes, tq_dataset *ds, tq_err *e) {
  char *data = NULL;
  size_t len = 0;
  TQ_TRY(tq_read_file_max(path, "CIFAR-10 batch file", TQ_CIFAR_MAX_BYTES, &data, &len, e));
  tq_status s = TQ_OK;
  size_t n = len / TQ_CIFAR_RECORD, img = TQ_CIFAR_RECORD - 1;
  if (len == 0)
    s = tq_fail(e, TQ_EINPUT, "%s: empty: a CIFAR-10 batch file holds records of %u bytes", path,
                TQ_CIFAR_RECORD);
  else if (len % TQ_CIFAR_RECORD)
    s = tq_fail(e, TQ_EINPUT,
                "%s: %zu bytes is not a whole number of %u-byte CIFAR-10 records (1 label byte "
                "+ 3072 pixel bytes): %zu records, then %zu bytes from offset %zu (truncated, or "
                "not a CIFAR-10 binary file; the Python and MATLAB versions are not read)",
                path, len, TQ_CIFAR_RECORD, n, len % TQ_CIFAR_RECORD, n * TQ_CIFAR_RECORD);
  else if ((uint64_t)ds->n + n > ((uint64_t)1 << 31))
    s = tq_fail(e, TQ_EINPUT, "%s: more than 2^31 images in all", path);
  for (size_t r = 0; s == TQ_OK && r < n; r++) {
    uint8_t lab = (uint8_t)data[r * TQ_CIFAR_RECORD];
    if (lab >= classes)
      s = tq_fail(e, TQ_EINPUT,
                  "%s: record %zu (offset %zu): label %u is not below the class count %u", path, r,
                  r * TQ_CIFAR_RECORD, lab, classes);
  }
  if (s == TQ_OK) {
    uint8_t *px = realloc(ds->pixels, ((size_t)ds->n + n) * img);
    if (px) ds->pixels = px;
    uint8_t *lb = px ? realloc(ds->labels, (size_t)ds->n + n) : NULL;
    if (lb) ds->labels = lb;
    if (!px || !lb) s = tq_fail(e, TQ_ENOMEM, "%s: out of memory for %zu images", path, ds->n + n);
  }
  for (size_t r = 0; s == TQ_OK && r < n; r++) {
    const char *rec = data + r * TQ_CIFAR_RECORD;
    ds->labels[ds->n + r] = (uint8_t)rec[0];
    memcpy(ds->pixels + (ds->n + r) * img, rec + 1, img);
  }
  if (s == TQ_OK) ds->n += (uint32_t)n;
  free(data);
  return s;
}

tq_status tq_cifar10_load(const char *path, bool train, uint32_t classes, tq_dataset *out,
                          tq_err *e) {
  memset(out, 0, sizeof *out);
  if (classes < 1 || classes > TQ_DATASET_MAX_CLASSES)
    return tq_fail(e, TQ_EINPUT, "%s: class count %u is outside 1..%d", path, classes,
                   TQ_DATASET_MAX_CLASSES);
  struct stat st;
  if (stat(path, &st) != 0)
    return tq_fail(e, TQ_EINPUT, "%s: cannot open: %s (data.format = \"cifar10\" wants a CIFAR-10 "
                   "binary file or the folder cifar-10-batches-bin; see docs/models.md)",
                   path, strerror(errno));
  out->c = TQ_CIFAR_CHANNELS;
  out->h = out->w = TQ_CIFAR_SIDE;
  out->classes = classes;
  tq_status s = TQ_OK;
  if (S_ISDIR(st.st_mode)) {
    int nfiles = train ? TQ_CIFAR_TRAIN_FILES : 1;
    for (int k = 0; s == TQ_OK && k < nfiles; k++) {
      char file[4200];
      if (train)
        snprintf(file, sizeof file, "%s/data_batch_%d.bin", path, k + 1);
      else
        snprintf(file, sizeof file, "%s/test_batch.bin", path);
      struct stat fs;
      if (stat(file, &fs) != 0)
        s = tq_fail(e, TQ_EINPUT,
                    "%s: missing (%s): a CIFAR-10 folder holds data_batch_1.bin ... "
                    "data_batch_5.bin and test_batch.bin; name one file instead to use just that",
                    file, strerror(errno));
      else
        s = append_file(file, classes, out, e);
    }
  } else {
    s = append_file(path, classes, out, e);
  }
  if (s != TQ_OK) tq_dataset_free(out);
  return s;
}
