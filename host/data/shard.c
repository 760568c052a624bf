#include "data/shard.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "data/shuffle.h"

tq_status tq_partition_parse(const char *name, const char *what, tq_partition *out, tq_err *e) {
  if (strcmp(name, "iid") == 0) {
    *out = TQ_PARTITION_IID;
    return TQ_OK;
  }
  if (strcmp(name, "label_skew") == 0) {
    *out = TQ_PARTITION_LABEL_SKEW;
    return TQ_OK;
  }
  return tq_fail(e, TQ_EINPUT, "%s: unknown partition \"%s\" (expected \"iid\" or \"label_skew\")",
                 what, name);
}

const char *tq_partition_name(tq_partition p) {
  return p == TQ_PARTITION_LABEL_SKEW ? "label_skew" : "iid";
}

/* Size of part `part` when n items are cut into `parts` contiguous parts, larger ones first. */
static size_t part_size(size_t n, size_t parts, size_t part) {
  return n / parts + (part < n % parts ? 1 : 0);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static void sort_each(tq_shards *s) {
  for (uint32_t w = 0; w < s->workers; w++)
    qsort(s->index + s->start[w], s->start[w + 1] - s->start[w], sizeof *s->index, cmp_u32);
}

static tq_status alloc_shards(tq_shards *s, uint32_t workers, uint32_t n, tq_err *e) {
  s->workers = workers;
  s->index = malloc((n ? n : 1) * sizeof *s->index);
  s->start = calloc((size_t)workers + 1, sizeof *s->start);
  if (!s->index || !s->start)
    return tq_fail(e, TQ_ENOMEM, "sharding %" PRIu32 " images over %" PRIu32
                   " workers: out of memory", n, workers);
  return TQ_OK;
}

/* The seeded order both rules start from. */
static void partition_order(uint32_t *perm, uint32_t n, uint32_t seed) {
  for (uint32_t i = 0; i < n; i++) perm[i] = i;
  tq_shuffle_in_place(perm, n, seed, TQ_SHARD_STREAM, 0);
}

static tq_status shard_iid(const tq_dataset *ds, uint32_t workers, uint32_t seed, tq_shards *s,
                           tq_err *e) {
  if (workers > ds->n)
    return tq_fail(e, TQ_EINPUT, "iid partition: %" PRIu32 " workers but only %" PRIu32
                   " images: some workers would get none", workers, ds->n);
  TQ_TRY(alloc_shards(s, workers, ds->n, e));
  partition_order(s->index, ds->n, seed);
  for (uint32_t w = 0; w < workers; w++) s->start[w + 1] = s->start[w] + part_size(ds->n, workers, w);
  sort_each(s);
  return TQ_OK;
}

/* Working state of label_skew, per class (256 at most). */
typedef struct skew_plan {
  uint32_t present[TQ_DATASET_MAX_CLASSES]; /* classes that occur, increasing */
  uint32_t npresent;
  size_t count[TQ_DATASET_MAX_CLASSES];   /* images per class */
  size_t first[TQ_DATASET_MAX_CLASSES];   /* where the class starts in the bucketed order */
  size_t holders[TQ_DATASET_MAX_CLASSES]; /* slots holding the class */
} skew_plan;

static tq_status plan_skew(const tq_dataset *ds, uint32_t workers, uint32_t k, skew_plan *p,
                           tq_err *e) {
  memset(p, 0, sizeof *p);
  for (uint32_t i = 0; i < ds->n; i++) p->count[ds->labels[i]]++;
  for (uint32_t c = 0; c < TQ_DATASET_MAX_CLASSES; c++)
    if (p->count[c]) p->present[p->npresent++] = c;
  uint32_t np = p->npresent;
  if (k < 1 || k > np)
    return tq_fail(e, TQ_EINPUT, "label_skew partition: %" PRIu32 " classes per worker, but the "
                   "data has %" PRIu32 " classes (need 1..%" PRIu32 ")", k, np, np);
  if ((uint64_t)workers * k < np)
    return tq_fail(e, TQ_EINPUT, "label_skew partition: %" PRIu32 " workers x %" PRIu32
                   " classes each = %" PRIu64 " < %" PRIu32 " classes in the data: some classes "
                   "would belong to no worker", workers, k, (uint64_t)workers * k, np);
  for (uint64_t slot = 0; slot < (uint64_t)workers * k; slot++)
    p->holders[p->present[slot % np]]++;
  for (uint32_t j = 0; j < np; j++) {
    uint32_t c = p->present[j];
    if (p->count[c] < p->holders[c])
      return tq_fail(e, TQ_EINPUT, "label_skew partition: class %" PRIu32 " has %zu images but "
                     "%zu workers share it: some would get none of it", c, p->count[c],
                     p->holders[c]);
  }
  size_t at = 0;
  for (uint32_t c = 0; c < TQ_DATASET_MAX_CLASSES; c++) {
    p->first[c] = at;
    at += p->count[c];
  }
  return TQ_OK;
}

static tq_status shard_label_skew(const tq_dataset *ds, uint32_t workers, uint32_t k,
                                  uint32_t seed, tq_shards *s, tq_err *e) {
  skew_plan *p = malloc(sizeof *p);
  uint32_t *perm = malloc((ds->n ? ds->n : 1) * sizeof *perm);
  uint32_t *bucketed = malloc((ds->n ? ds->n : 1) * sizeof *bucketed);
  tq_status st = (!p || !perm || !bucketed)
                     ? tq_fail(e, TQ_ENOMEM, "label_skew partition: out of memory")
                     : plan_skew(ds, workers, k, p, e);
  if (st == TQ_OK) st = alloc_shards(s, workers, ds->n, e);
  if (st == TQ_OK) {
    /* Stable bucketing of the shuffled order by label: random order within each class. */
    partition_order(perm, ds->n, seed);
    size_t fill[TQ_DATASET_MAX_CLASSES];
    memcpy(fill, p->first, sizeof fill);
    for (uint32_t i = 0; i < ds->n; i++) bucketed[fill[ds->labels[perm[i]]]++] = perm[i];
    /* Walk the slots worker by worker; each takes the next part of its class. */
    size_t parts_taken[TQ_DATASET_MAX_CLASSES] = {0}, taken[TQ_DATASET_MAX_CLASSES] = {0};
    size_t out = 0;
    for (uint32_t w = 0; w < workers; w++) {
      for (uint32_t j = 0; j < k; j++) {
        uint32_t c = p->present[((uint64_t)w * k + j) % p->npresent];
        size_t len = part_size(p->count[c], p->holders[c], parts_taken[c]++);
        memcpy(s->index + out, bucketed + p->first[c] + taken[c], len * sizeof *s->index);
        taken[c] += len;
        out += len;
      }
      s->start[w + 1] = out;
    }
    sort_each(s);
  }
  free(p);
  free(perm);
  free(bucketed);
  return st;
}

tq_status tq_shard(const tq_dataset *ds, tq_partition kind, uint32_t workers,
                   uint32_t classes_per_worker, uint32_t seed, tq_shards *out, tq_err *e) {
  memset(out, 0, sizeof *out);
  if (workers < 1)
    return tq_fail(e, TQ_EINPUT, "%s partition: the worker count must be at least 1",
                   tq_partition_name(kind));
  tq_status s = kind == TQ_PARTITION_LABEL_SKEW
                    ? shard_label_skew(ds, workers, classes_per_worker, seed, out, e)
                    : shard_iid(ds, workers, seed, out, e);
  if (s != TQ_OK) tq_shards_free(out);
  return s;
}

const uint32_t *tq_shard_list(const tq_shards *s, uint32_t w, size_t *count) {
  *count = s->start[w + 1] - s->start[w];
  return s->index + s->start[w];
}

void tq_shards_free(tq_shards *s) {
  if (!s) return;
  free(s->index);
  free(s->start);
  memset(s, 0, sizeof *s);
}
