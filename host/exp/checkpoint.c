#include "exp/checkpoint.h"

#include <stdlib.h>
#include <string.h>

#include "compress/wire.h"
#include "util/fileio.h"

static const char magic[8] = {'T', 'Q', 'C', 'K', 'P', 'T', 0, 1};

static size_t file_size(const tq_ckpt_header *h) {
  size_t np = (size_t)h->nparams, w = h->workers;
  return sizeof magic + sizeof *h + 2 * np * sizeof(float) + w * sizeof(tq_ckpt_worker) +
         (h->has_residuals ? w * np * sizeof(float) : 0) + 4;
}

tq_status tq_checkpoint_write(const char *path, const tq_checkpoint *c, tq_err *e) {
  size_t n = file_size(&c->h), np = (size_t)c->h.nparams, w = c->h.workers;
  uint8_t *buf = malloc(n), *p = buf;
  if (!buf) return tq_fail(e, TQ_ENOMEM, "%s: out of memory for a %zu-byte checkpoint", path, n);
#define PUT(src, bytes)                                                                            \
  do {                                                                                             \
    memcpy(p, (src), (bytes));                                                                     \
    p += (bytes);                                                                                  \
  } while (0)
  PUT(magic, sizeof magic);
  PUT(&c->h, sizeof c->h);
  PUT(c->params, np * sizeof(float));
  PUT(c->momentum, np * sizeof(float));
  PUT(c->workers, w * sizeof(tq_ckpt_worker));
  if (c->h.has_residuals) PUT(c->residuals, w * np * sizeof(float));
  uint32_t crc = tq_crc32(buf, (size_t)(p - buf));
  PUT(&crc, 4);
#undef PUT
  tq_status s = tq_write_file_atomic(path, buf, n, e);
  free(buf);
  return s;
}

tq_status tq_checkpoint_read(const char *path, uint64_t expect_nparams, uint32_t expect_workers,
                             tq_checkpoint *c, tq_err *e) {
  memset(c, 0, sizeof *c);
  char *data = NULL;
  size_t len = 0;
  TQ_TRY(tq_read_file(path, &data, &len, e));
  const uint8_t *p = (const uint8_t *)data;
  tq_status s = TQ_OK;
  if (len < sizeof magic + sizeof c->h + 4 || memcmp(p, magic, 6) != 0)
    s = tq_fail(e, TQ_EINPUT, "%s: not a tailquant checkpoint", path);
  else if (memcmp(p + 6, magic + 6, 2) != 0)
    s = tq_fail(e, TQ_EINPUT, "%s: checkpoint format version %u.%u, this build reads %u.%u", path,
                p[6], p[7], magic[6], magic[7]);
  if (s == TQ_OK) {
    memcpy(&c->h, p + sizeof magic, sizeof c->h);
    if (c->h.nparams != expect_nparams || c->h.workers != expect_workers)
      s = tq_fail(e, TQ_EINPUT,
                  "%s: checkpoint of %llu parameters and %u workers, but the run has %llu and %u",
                  path, (unsigned long long)c->h.nparams, c->h.workers,
                  (unsigned long long)expect_nparams, expect_workers);
    else if (len != file_size(&c->h))
      s = tq_fail(e, TQ_EINPUT, "%s: %zu bytes, expected %zu (truncated or corrupt)", path, len,
                  file_size(&c->h));
  }
  if (s == TQ_OK) {
    uint32_t crc;
    memcpy(&crc, p + len - 4, 4);
    if (crc != tq_crc32(p, len - 4)) s = tq_fail(e, TQ_EINPUT, "%s: checksum mismatch (corrupt)", path);
  }
  if (s == TQ_OK) {
    size_t np = (size_t)c->h.nparams, w = c->h.workers;
    c->params = malloc(np * sizeof(float));
    c->momentum = malloc(np * sizeof(float));
    c->workers = malloc(w * sizeof(tq_ckpt_worker));
    if (c->h.has_residuals) c->residuals = malloc(w * np * sizeof(float));
    if (!c->params || !c->momentum || !c->workers || (c->h.has_residuals && !c->residuals)) {
      s = tq_fail(e, TQ_ENOMEM, "%s: out of memory", path);
    } else {
      const uint8_t *q = p + sizeof magic + sizeof c->h;
      memcpy(c->params, q, np * sizeof(float));
      q += np * sizeof(float);
      memcpy(c->momentum, q, np * sizeof(float));
      q += np * sizeof(float);
      memcpy(c->workers, q, w * sizeof(tq_ckpt_worker));
      q += w * sizeof(tq_ckpt_worker);
      if (c->h.has_residuals) memcpy(c->residuals, q, w * np * sizeof(float));
    }
  }
  free(data);
  if (s != TQ_OK) tq_checkpoint_free(c);
  return s;
}

void tq_checkpoint_free(tq_checkpoint *c) {
  free(c->params);
  free(c->momentum);
  free(c->workers);
  free(c->residuals);
  memset(c, 0, sizeof *c);
}
