/* libFuzzer target: the IDX reader. The readers take a path, so each input is written to one
 * reused file in a private temporary folder (on /dev/shm when it exists: no disk traffic), then
 * read as images and as labels. zlib's gzopen reads plain files transparently, so the same
 * target covers gzipped input whenever the input starts with the gzip magic (the seeds include
 * gzipped files, and libFuzzer keeps what reaches new inflate paths).
 *
 * Oracle beyond the sanitizers: an accepted file's data size is the product of its dimensions,
 * within TQ_IDX_MAX_BYTES. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/idx.h"
#include "fuzz_tmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = tq_fuzz_write("input.idx", data, size);
  tq_idx x;
  tq_err e = {0};
  if (tq_idx_read_images(path, &x, &e) == TQ_OK) {
    uint64_t n = (uint64_t)x.dims[0] * x.dims[1] * x.dims[2];
    if (x.ndims != 3 || n != x.bytes || n > TQ_IDX_MAX_BYTES || !x.data) abort();
    tq_idx_free(&x);
  }
  if (tq_idx_read_labels(path, &x, &e) == TQ_OK) {
    if (x.ndims != 1 || x.dims[0] != x.bytes || !x.data) abort();
    tq_idx_free(&x);
  }
  return 0;
}
