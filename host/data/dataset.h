/* A labelled image dataset held in memory as raw bytes, its normalisation, and batches.
 *
 * Pixels stay uint8 (1 byte per pixel: 47 MB for Fashion-MNIST's training set instead of
 * 188 MB as float); a batch is converted to normalised float32 only when it is filled. */
#ifndef TQ_DATA_DATASET_H
#define TQ_DATA_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* The default data: Fashion-MNIST from Debian's dataset-fashion-mnist package. Any
 * MNIST-format IDX files work in its place. */
#define TQ_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define TQ_FASHION_MNIST_TRAIN_IMAGES TQ_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz"
#define TQ_FASHION_MNIST_TRAIN_LABELS TQ_FASHION_MNIST_DIR "/train-labels-idx1-ubyte.gz"
#define TQ_FASHION_MNIST_TEST_IMAGES TQ_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz"
#define TQ_FASHION_MNIST_TEST_LABELS TQ_FASHION_MNIST_DIR "/t10k-labels-idx1-ubyte.gz"
#define TQ_FASHION_MNIST_CLASSES 10

/* The most classes a dataset may have: labels are stored as one byte. */
#define TQ_DATASET_MAX_CLASSES 256

typedef struct tq_dataset {
  uint32_t n;       /* number of images (at most 2^31: the IDX size cap) */
  uint32_t c, h, w; /* shape of one image: channels x height x width (c = 1 for IDX) */
  uint32_t classes; /* every label is < classes */
  uint8_t *pixels;  /* n x c x h x w bytes, raw intensities 0..255, image-major (NCHW) */
  uint8_t *labels;  /* n class indices */
} tq_dataset;

/* Normalisation: x = (pixel / 255 - mean) / std. mean and std are in units of pixels scaled
 * to [0, 1], one pair for all channels, as torchvision's Normalize((0.2860,), (0.3530,)); with
 * channels > 0, one pair per channel (ch_mean, ch_std) for images of that many channels, as
 * Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)) for CIFAR-10. */
#define TQ_NORM_MAX_CHANNELS 4
typedef struct tq_norm {
  double mean;
  double std; /* > 0 */
  int channels; /* 0: mean and std for every channel */
  double ch_mean[TQ_NORM_MAX_CHANNELS], ch_std[TQ_NORM_MAX_CHANNELS];
} tq_norm;

/* Augmentation of training batches (CIFAR's standard one): pad 4 pixels of value 0 on every
 * side, crop back at a random offset (0..8 in each direction), then flip left-right with
 * probability 1/2. Each image's draw is Philox (seed, worker, iteration, domain AUGMENT,
 * position in the batch): the same step gets the same augmentation, on resume too. */
typedef struct tq_augment {
  bool on;
  uint32_t seed, worker, iteration;
} tq_augment;
#define TQ_AUGMENT_PAD 4

/* Loads an (images, labels) pair of IDX files, gzipped or plain. Beyond the per-file checks of
 * idx.h it checks that the image and label counts agree and that every label is < classes
 * (1..TQ_DATASET_MAX_CLASSES); errors are TQ_EINPUT and name the file at fault. On failure
 * *out is left zeroed. */
tq_status tq_dataset_load(const char *images_path, const char *labels_path, uint32_t classes,
                          tq_dataset *out, tq_err *e);

/* Frees the buffers and zeroes the struct; safe on a zeroed or already freed dataset. */
void tq_dataset_free(tq_dataset *ds);

/* Bytes of one image (c*h*w) and floats of one image in a batch (the same count). */
size_t tq_dataset_image_size(const tq_dataset *ds);

/* Mean and population standard deviation over all pixels of all images, scaled to [0, 1].
 * Exact: the sums are integers (uint64), converted to double once. */
void tq_dataset_pixel_stats(const tq_dataset *ds, double *mean, double *std);

/* The same over channel c only. */
void tq_dataset_channel_stats(const tq_dataset *ds, uint32_t c, double *mean, double *std);

/* tq_dataset_pixel_stats as a tq_norm (and, for images of 2..TQ_NORM_MAX_CHANNELS channels,
 * each channel's pair); TQ_EINPUT if every pixel (of a channel) is the same (std = 0). */
tq_status tq_norm_from_dataset(const tq_dataset *ds, const char *what, tq_norm *out,
                               tq_err *e);

/* TQ_EINPUT unless mean is finite and std finite and > 0; what names the source in the
 * message (e.g. "config data.std"). */
tq_status tq_norm_check(tq_norm norm, const char *what, tq_err *e);

/* Fills a batch from count dataset indices:
 *   x: count x c x h x w float32 (NCHW), x = (pixel / 255 - mean) / std;
 *   y: count int32 labels (may be NULL when only the images are wanted).
 * Every index must be < ds->n: one that is not is a caller bug (TQ_EINTERNAL), checked before
 * anything is written. */
tq_status tq_dataset_fill_batch(const tq_dataset *ds, const uint32_t *idx, size_t count,
                                tq_norm norm, float *x, int32_t *y, tq_err *e);

/* The same with augmentation (aug NULL or off: exactly tq_dataset_fill_batch). */
tq_status tq_dataset_fill_batch_aug(const tq_dataset *ds, const uint32_t *idx, size_t count,
                                    tq_norm norm, const tq_augment *aug, float *x, int32_t *y,
                                    tq_err *e);

#endif
