/* CIFAR-10 binary files (https://www.cs.toronto.edu/~kriz/cifar.html, "binary version"):
 * records of 1 label byte + 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each 32x32
 * row-major: already CHW), with no header. data_batch_1.bin .. data_batch_5.bin hold the 50000
 * training images, test_batch.bin the 10000 test images; batches.meta.txt (the label names) is
 * not read.
 *
 * A path names one such file, or a folder: the training set is then data_batch_1.bin ..
 * data_batch_5.bin in that order, the test set test_batch.bin. Validation (TQ_EINPUT, the
 * message naming the file and the byte offset): a missing batch file, a size that is not a
 * whole number of records (or no record at all), a label >= classes. */
#ifndef TQ_DATA_CIFAR_H
#define TQ_DATA_CIFAR_H

#include <stdbool.h>

#include "data/dataset.h"

#define TQ_CIFAR_SIDE 32u
#define TQ_CIFAR_CHANNELS 3u
#define TQ_CIFAR_RECORD (1u + TQ_CIFAR_CHANNELS * TQ_CIFAR_SIDE * TQ_CIFAR_SIDE) /* 3073 */
#define TQ_CIFAR_TRAIN_FILES 5
/* The most bytes one batch file may have: 2^31, as an IDX file. */
#define TQ_CIFAR_MAX_BYTES ((size_t)1 << 31)

/* Loads a CIFAR-10 file or folder (train: the data_batch files, else test_batch.bin). On
 * failure *out is zeroed. */
tq_status tq_cifar10_load(const char *path, bool train, uint32_t classes, tq_dataset *out,
                          tq_err *e);

#endif
