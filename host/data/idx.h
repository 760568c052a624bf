/* IDX files (the MNIST format, http://yann.lecun.com/exdb/mnist/), gzipped or plain.
 *
 * Layout: a 4-byte magic {0, 0, type, ndims}, then ndims big-endian uint32 dimensions, then
 * the product of the dimensions in bytes of data, row-major. tailquant reads only unsigned-byte
 * files (type 0x08): idx3 images (magic 0x00000803: count x rows x cols) and idx1 labels
 * (magic 0x00000801: count).
 *
 * Validation (every failure is TQ_EINPUT with a message that starts with the path):
 *   - magic: the first two bytes are zero, the type byte is 0x08, ndims is what the caller wants;
 *   - dimensions: each non-zero, image sides at most TQ_IDX_MAX_SIDE, and the data size
 *     (computed without overflow) at most TQ_IDX_MAX_BYTES, so a hostile header cannot make us
 *     allocate absurd memory;
 *   - truncation: a file shorter than its header, or with fewer data bytes than it promises;
 *   - trailing data: bytes after the promised data are REJECTED, not ignored: they mean the
 *     header and the data disagree (a wrong header, two files concatenated), and training on a
 *     silently misread file is worse than stopping. (zlib itself skips non-gzip garbage after
 *     the end of a gzip stream; what we reject is extra *decompressed* data.)
 * Reading goes through zlib's gzopen/gzread, which read plain files transparently. */
#ifndef TQ_DATA_IDX_H
#define TQ_DATA_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define TQ_IDX_MAGIC_IMAGES 0x00000803u /* unsigned byte, 3 dimensions */
#define TQ_IDX_MAGIC_LABELS 0x00000801u /* unsigned byte, 1 dimension */
#define TQ_IDX_TYPE_UBYTE 0x08u

/* Largest data section accepted: 2^31 bytes (Fashion-MNIST's training images are 47 MB). */
#define TQ_IDX_MAX_BYTES ((uint64_t)1 << 31)
/* Largest image side accepted, in pixels. */
#define TQ_IDX_MAX_SIDE 16384u

/* One IDX file held in memory. */
typedef struct tq_idx {
  uint32_t ndims;   /* 1 (labels) or 3 (images) */
  uint32_t dims[3]; /* dims[0] = item count; images: dims[1] = rows (H), dims[2] = cols (W) */
  uint8_t *data;    /* bytes = product of dims, row-major as stored: [count][rows][cols] */
  size_t bytes;
} tq_idx;

/* Reads an idx3-ubyte image file: out->dims = {count, rows, cols}, pixels 0..255. */
tq_status tq_idx_read_images(const char *path, tq_idx *out, tq_err *e);

/* Reads an idx1-ubyte label file: out->dims[0] = count, one byte per label. The range of the
 * values is checked by the dataset loader, which knows the number of classes. */
tq_status tq_idx_read_labels(const char *path, tq_idx *out, tq_err *e);

/* Frees out->data and zeroes the struct; safe on a zeroed or already freed tq_idx. */
void tq_idx_free(tq_idx *idx);

#endif
