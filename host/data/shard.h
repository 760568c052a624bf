/* Partitioning a dataset across data-parallel workers: per-worker lists of image indices.
 *
 * iid: shuffle all n indices with the seed (tq_shuffle_in_place, stream TQ_SHARD_STREAM,
 *   epoch 0), then cut into `workers` contiguous shards; the first n % workers shards get one
 *   index more, so sizes differ by at most 1. Needs workers <= n.
 *
 * label_skew with k classes per worker (each worker sees exactly k distinct classes):
 *   1. P = the classes that occur in the labels, in increasing order: present[0..P).
 *   2. Worker w owns the k "slots" w*k .. w*k+k-1; slot s holds class present[s mod P]. The k
 *      slots of a worker are consecutive mod P, hence k distinct classes when k <= P.
 *   3. Each class's images, in seeded random order (the same shuffle as iid, then a stable
 *      bucketing by label), are cut into as many contiguous, equal (within 1, larger parts
 *      first) parts as slots hold that class; the parts go to those slots in increasing worker
 *      order.
 *   Needs 1 <= k <= P (so a worker's classes are distinct), workers * k >= P (so every class
 *   has a holder and the shards cover the dataset), and every class at least as many images
 *   as holders (so each part is non-empty and each worker really sees k classes).
 *   Example, 10 classes, 5 workers, k = 2: worker w gets all of classes 2w and 2w+1. With 8
 *   workers, k = 2: workers 0..4 get {0,1} .. {8,9}, workers 5..7 get {0,1} {2,3} {4,5}; classes
 *   0..5 are split in halves, so shard sizes differ (label_skew does not balance sizes).
 *
 * Either way the shards are disjoint and together cover 0..n-1, and each worker's list is
 * sorted ascending: the order within a shard is the per-epoch shuffle's job
 * (tq_shuffle_in_place with stream = worker number). */
#ifndef TQ_DATA_SHARD_H
#define TQ_DATA_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "util/err.h"

/* Generator stream (worker word) of the partition shuffle: no worker has this number. */
#define TQ_SHARD_STREAM 0xFFFFFFFFu

typedef enum tq_partition {
  TQ_PARTITION_IID = 0,
  TQ_PARTITION_LABEL_SKEW = 1,
} tq_partition;

typedef struct tq_shards {
  uint32_t workers;
  uint32_t *index; /* all n indices, worker-major */
  size_t *start;   /* workers + 1 offsets: worker w owns index[start[w] .. start[w+1]) */
} tq_shards;

/* "iid" or "label_skew" (what config files and the command line say); what names the source
 * in the error message. */
tq_status tq_partition_parse(const char *name, const char *what, tq_partition *out, tq_err *e);
const char *tq_partition_name(tq_partition p);

/* Partitions ds across workers (>= 1) by the rule of kind; classes_per_worker is k for
 * label_skew and ignored for iid. Impossible requests are TQ_EINPUT with the numbers that
 * conflict. On failure *out is zeroed. */
tq_status tq_shard(const tq_dataset *ds, tq_partition kind, uint32_t workers,
                   uint32_t classes_per_worker, uint32_t seed, tq_shards *out, tq_err *e);

/* Worker w's indices (sorted ascending) and their count. */
const uint32_t *tq_shard_list(const tq_shards *s, uint32_t w, size_t *count);

/* Frees the lists and zeroes the struct; safe on a zeroed or already freed tq_shards. */
void tq_shards_free(tq_shards *s);

#endif
