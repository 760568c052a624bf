#include "data/dataset.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/idx.h"
#include "util/philox.h"

/* The first label that is not below classes, or n if all are. */
static size_t first_bad_label(const uint8_t *labels, size_t n, uint32_t classes) {
  for (size_t i = 0; i < n; i++)
    if (labels[i] >= classes) return i;
  return n;
}

tq_status tq_dataset_load(const char *images_path, const char *labels_path, uint32_t classes,
                          tq_dataset *out, tq_err *e) {
  memset(out, 0, sizeof *out);
  if (classes < 1 || classes > TQ_DATASET_MAX_CLASSES)
    return tq_fail(e, TQ_EINPUT, "%s: class count %" PRIu32 " is outside 1..%d (labels are one byte)",
                   labels_path, classes, TQ_DATASET_MAX_CLASSES);
  tq_idx im = {0}, lb = {0};
  TQ_TRY(tq_idx_read_images(images_path, &im, e));
  tq_status s = tq_idx_read_labels(labels_path, &lb, e);
  if (s == TQ_OK && im.dims[0] != lb.dims[0])
    s = tq_fail(e, TQ_EINPUT,
                "count mismatch: %s holds %" PRIu32 " images but %s holds %" PRIu32 " labels",
                images_path, im.dims[0], labels_path, lb.dims[0]);
  if (s == TQ_OK) {
    size_t bad = first_bad_label(lb.data, lb.bytes, classes);
    if (bad < lb.bytes)
      s = tq_fail(e, TQ_EINPUT,
                  "%s: label %u at index %zu is not below the class count %" PRIu32, labels_path,
                  lb.data[bad], bad, classes);
  }
  if (s != TQ_OK) {
    tq_idx_free(&im);
    tq_idx_free(&lb);
    return s;
  }
  /* The buffers move into the dataset: no copy. */
  out->n = im.dims[0];
  out->c = 1;
  out->h = im.dims[1];
  out->w = im.dims[2];
  out->classes = classes;
  out->pixels = im.data;
  out->labels = lb.data;
  return TQ_OK;
}

void tq_dataset_free(tq_dataset *ds) {
  if (!ds) return;
  free(ds->pixels);
  free(ds->labels);
  memset(ds, 0, sizeof *ds);
}

size_t tq_dataset_image_size(const tq_dataset *ds) {
  return (size_t)ds->c * ds->h * ds->w;
}

void tq_dataset_pixel_stats(const tq_dataset *ds, double *mean, double *std) {
  /* Integer sums cannot lose precision: at most 2^31 pixels of at most 255 (sum < 2^39) and
   * 255^2 (sum of squares < 2^47), far inside uint64. */
  size_t total = (size_t)ds->n * tq_dataset_image_size(ds);
  uint64_t s = 0, q = 0;
  for (size_t i = 0; i < total; i++) {
    uint64_t v = ds->pixels[i];
    s += v;
    q += v * v;
  }
  if (total == 0) {
    *mean = 0;
    *std = 0;
    return;
  }
  double m = (double)s / (double)total;           /* in 0..255 */
  double var = (double)q / (double)total - m * m; /* E[v^2] - E[v]^2, both ~1e4: no cancellation
                                                     trouble at double precision */
  *mean = m / 255.0;
  *std = var > 0 ? sqrt(var) / 255.0 : 0.0;
}

void tq_dataset_channel_stats(const tq_dataset *ds, uint32_t c, double *mean, double *std) {
  size_t plane = (size_t)ds->h * ds->w, img = tq_dataset_image_size(ds), total = 0;
  uint64_t s = 0, q = 0;
  for (size_t i = 0; i < ds->n && c < ds->c; i++) {
    const uint8_t *p = ds->pixels + i * img + c * plane;
    for (size_t k = 0; k < plane; k++) {
      uint64_t v = p[k];
      s += v;
      q += v * v;
    }
    total += plane;
  }
  if (total == 0) {
    *mean = *std = 0;
    return;
  }
  double m = (double)s / (double)total, var = (double)q / (double)total - m * m;
  *mean = m / 255.0;
  *std = var > 0 ? sqrt(var) / 255.0 : 0.0;
}

tq_status tq_norm_check(tq_norm norm, const char *what, tq_err *e) {
  for (int c = 0; c < norm.channels && c < TQ_NORM_MAX_CHANNELS; c++) {
    tq_norm one = {norm.ch_mean[c], norm.ch_std[c], 0, {0}, {0}};
    TQ_TRY(tq_norm_check(one, what, e));
  }
  if (!isfinite(norm.mean))
    return tq_fail(e, TQ_EINPUT, "%s: normalisation mean %g is not a finite number", what,
                   norm.mean);
  if (!isfinite(norm.std) || !(norm.std > 0))
    return tq_fail(e, TQ_EINPUT, "%s: normalisation std %g must be a finite number > 0", what,
                   norm.std);
  return TQ_OK;
}

tq_status tq_norm_from_dataset(const tq_dataset *ds, const char *what, tq_norm *out,
                               tq_err *e) {
  memset(out, 0, sizeof *out);
  tq_dataset_pixel_stats(ds, &out->mean, &out->std);
  if (!(out->std > 0))
    return tq_fail(e, TQ_EINPUT,
                   "%s: every pixel has the same value (mean %g): the standard deviation is zero,"
                   " so the data cannot be normalised",
                   what, out->mean);
  if (ds->c > 1 && ds->c <= TQ_NORM_MAX_CHANNELS) {
    out->channels = (int)ds->c;
    for (uint32_t c = 0; c < ds->c; c++) {
      tq_dataset_channel_stats(ds, c, &out->ch_mean[c], &out->ch_std[c]);
      if (!(out->ch_std[c] > 0))
        return tq_fail(e, TQ_EINPUT,
                       "%s: every pixel of channel %u has the same value (mean %g): it cannot be "
                       "normalised", what, c, out->ch_mean[c]);
    }
  }
  return TQ_OK;
}

tq_status tq_dataset_fill_batch(const tq_dataset *ds, const uint32_t *idx, size_t count,
                                tq_norm norm, float *x, int32_t *y, tq_err *e) {
  return tq_dataset_fill_batch_aug(ds, idx, count, norm, NULL, x, y, e);
}

tq_status tq_dataset_fill_batch_aug(const tq_dataset *ds, const uint32_t *idx, size_t count,
                                    tq_norm norm, const tq_augment *aug, float *x, int32_t *y,
                                    tq_err *e) {
  TQ_TRY(tq_norm_check(norm, "batch", e));
  for (size_t b = 0; b < count; b++)
    if (idx[b] >= ds->n)
      return tq_fail(e, TQ_EINTERNAL, "batch index %zu is %" PRIu32 ", beyond the %" PRIu32
                     " images of the dataset", b, idx[b], ds->n);
  bool per_channel = norm.channels > 0;
  if (per_channel && (uint32_t)norm.channels != ds->c)
    return tq_fail(e, TQ_EINTERNAL, "normalisation for %d channels, images of %" PRIu32,
                   norm.channels, ds->c);
  /* A pixel has only 256 values: normalise each once per channel, in double, then look them up. */
  float lut[TQ_NORM_MAX_CHANNELS][256];
  int nl = per_channel ? norm.channels : 1;
  for (int c = 0; c < nl; c++) {
    double m = per_channel ? norm.ch_mean[c] : norm.mean, sd = per_channel ? norm.ch_std[c] : norm.std;
    for (int v = 0; v < 256; v++) lut[c][v] = (float)(((double)v / 255.0 - m) / sd);
  }
  size_t img = tq_dataset_image_size(ds), plane = (size_t)ds->h * ds->w;
  const int H = (int)ds->h, W = (int)ds->w, P = TQ_AUGMENT_PAD;
  for (size_t b = 0; b < count; b++) {
    const uint8_t *src = ds->pixels + (size_t)idx[b] * img;
    float *dst = x + b * img;
    if (y) y[b] = ds->labels[idx[b]];
    if (!aug || !aug->on) {
      for (uint32_t c = 0; c < ds->c; c++) {
        const float *l = lut[per_channel ? c : 0];
        for (size_t i = 0; i < plane; i++) dst[c * plane + i] = l[src[c * plane + i]];
      }
      continue;
    }
    uint32_t u = tq_rng_draw(aug->seed, aug->worker, aug->iteration, 0, TQ_RNG_AUGMENT, 2u * (uint32_t)b);
    uint32_t v = tq_rng_draw(aug->seed, aug->worker, aug->iteration, 0, TQ_RNG_AUGMENT, 2u * (uint32_t)b + 1u);
    int ox = (int)(u % (2u * P + 1)) - P, oy = (int)((u / (2u * P + 1)) % (2u * P + 1)) - P;
    bool flip = v >> 31;
    for (uint32_t c = 0; c < ds->c; c++) {
      const float *l = lut[per_channel ? c : 0];
      const uint8_t *sp = src + c * plane;
      float *dp = dst + c * plane;
      for (int r = 0; r < H; r++)
        for (int q = 0; q < W; q++) {
          int sr = r + oy, sq = (flip ? W - 1 - q : q) + ox;
          dp[r * W + q] = (sr < 0 || sr >= H || sq < 0 || sq >= W) ? l[0] : l[sp[sr * W + sq]];
        }
    }
  }
  return TQ_OK;
}
