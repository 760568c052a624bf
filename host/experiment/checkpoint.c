#include "experiment/checkpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compress/wire.h"
#include "util/fileio.h"

static const char magic[8] = {'T', 'Q', 'C', 'K', 'P', 'T', 0, 3};

uint64_t tq_fnv1a64(const void *data, size_t len) {
  const uint8_t *p = data;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

/* The file's size from its header; false if it would not fit in a size_t. */
static bool file_size(const tq_ckpt_header *h, size_t *out) {
  uint64_t np = h->nparams, w = h->workers, ns = h->nstate;
  if (np > (SIZE_MAX / 8) / (w + 2) || ns > (SIZE_MAX / 8) / 4) return false;
  uint64_t n = sizeof magic + sizeof *h + h->config_bytes + 2 * np * sizeof(float) +
               ns * sizeof(float) +
               w * sizeof(tq_ckpt_worker) + (h->has_residuals ? w * np * sizeof(float) : 0) + 4;
  *out = (size_t)n;
  return true;
}

tq_status tq_checkpoint_write(const char *path, const tq_checkpoint *c, tq_err *e) {
  tq_ckpt_header h = c->h;
  const char *text = c->config_text ? c->config_text : "";
  size_t tl = strlen(text);
  if (tl > TQ_CKPT_MAX_CONFIG)
    return tq_fail(e, TQ_EINTERNAL, "%s: fingerprint text of %zu bytes", path, tl);
  h.config_bytes = (uint32_t)tl;
  h.fingerprint = tq_fnv1a64(text, tl);
  size_t n, np = (size_t)h.nparams, w = h.workers;
  if (!file_size(&h, &n)) return tq_fail(e, TQ_ENOMEM, "%s: checkpoint too large", path);
  uint8_t *buf = malloc(n), *p = buf;
  if (!buf) return tq_fail(e, TQ_ENOMEM, "%s: out of memory for a %zu-byte checkpoint", path, n);
#define PUT(src, bytes)                                                                            \
  do {                                                                                             \
    memcpy(p, (src), (bytes));                                                                     \
    p += (bytes);                                                                                  \
  } while (0)
  PUT(magic, sizeof magic);
  PUT(&h, sizeof h);
  PUT(text, tl);
  PUT(c->params, np * sizeof(float));
  PUT(c->momentum, np * sizeof(float));
  if (h.nstate) PUT(c->state, (size_t)h.nstate * sizeof(float));
  PUT(c->workers, w * sizeof(tq_ckpt_worker));
  if (h.has_residuals) PUT(c->residuals, w * np * sizeof(float));
  uint32_t crc = tq_crc32(buf, (size_t)(p - buf));
  PUT(&crc, 4);
#undef PUT
  tq_status s = tq_write_file_atomic(path, buf, n, e);
  free(buf);
  return s;
}

static tq_status read_exact(int fd, const char *path, void *buf, size_t len, size_t at, tq_err *e) {
  size_t got = 0;
  while (got < len) {
    ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(at + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return tq_fail(e, TQ_EIO, "%s: read error: %s", path, strerror(errno));
    if (r == 0) return tq_fail(e, TQ_EIO, "%s: the file shrank while being read", path);
    got += (size_t)r;
  }
  return TQ_OK;
}

/* The magic, the version, and the header against the run and the file's length: *want is
 * the length the header gives, which must be the file's. */
static tq_status read_header(int fd, const char *path, size_t len, uint64_t expect_nparams,
                             uint32_t expect_workers, tq_ckpt_header *h, size_t *want, tq_err *e) {
  uint8_t head[sizeof magic + sizeof(tq_ckpt_header)];
  const size_t need = sizeof head + 4;
  if (len < sizeof magic)
    return tq_fail(e, TQ_EINPUT, "%s: truncated: %zu bytes, fewer than the 8-byte magic of a "
                   "tailquant checkpoint", path, len);
  TQ_TRY(read_exact(fd, path, head, len < sizeof head ? sizeof magic : sizeof head, 0, e));
  if (memcmp(head, magic, 6) != 0)
    return tq_fail(e, TQ_EINPUT, "%s: not a tailquant checkpoint (it does not start with TQCKPT)",
                   path);
  if (memcmp(head + 6, magic + 6, 2) != 0)
    return tq_fail(e, TQ_EINPUT, "%s: checkpoint format version %u.%u, this build reads %u.%u",
                   path, head[6], head[7], magic[6], magic[7]);
  if (len < need)
    return tq_fail(e, TQ_EINPUT, "%s: truncated: %zu bytes, fewer than the %zu of a checkpoint's "
                   "header", path, len, need);
  memcpy(h, head + sizeof magic, sizeof *h);
  if (h->nparams != expect_nparams || h->workers != expect_workers)
    return tq_fail(e, TQ_EINPUT,
                   "%s: checkpoint of %llu parameters and %u workers, but the run has %llu and %u",
                   path, (unsigned long long)h->nparams, h->workers,
                   (unsigned long long)expect_nparams, expect_workers);
  if (h->has_residuals > 1 || h->config_bytes > TQ_CKPT_MAX_CONFIG)
    return tq_fail(e, TQ_EINPUT, "%s: corrupt header (residual flag %u, fingerprint text %u bytes)",
                   path, h->has_residuals, h->config_bytes);
  if (!file_size(h, want)) return tq_fail(e, TQ_EINPUT, "%s: corrupt header (sizes overflow)", path);
  if (len < *want)
    return tq_fail(e, TQ_EINPUT, "%s: truncated: %zu bytes of the %zu a checkpoint of %llu "
                   "parameters and %u workers takes (cut short, e.g. by a full disk or a copy)",
                   path, len, *want, (unsigned long long)h->nparams, h->workers);
  if (len > *want)
    return tq_fail(e, TQ_EINPUT, "%s: %zu bytes, %zu more than the %zu its header gives (corrupt)",
                   path, len, len - *want, *want);
  return TQ_OK;
}

/* The sections after the header, from the whole file's bytes (checksum already verified). */
static tq_status unpack(const char *path, const uint8_t *data, tq_checkpoint *c, tq_err *e) {
  size_t np = (size_t)c->h.nparams, w = c->h.workers, tl = c->h.config_bytes;
  const uint8_t *q = data + sizeof magic + sizeof c->h;
  c->config_text = malloc(tl + 1);
  c->params = malloc(np * sizeof(float) + 1);
  c->momentum = malloc(np * sizeof(float) + 1);
  c->state = malloc((size_t)c->h.nstate * sizeof(float) + 1);
  c->workers = malloc(w * sizeof(tq_ckpt_worker) + 1);
  if (c->h.has_residuals) c->residuals = malloc(w * np * sizeof(float) + 1);
  if (!c->config_text || !c->params || !c->momentum || !c->state || !c->workers ||
      (c->h.has_residuals && !c->residuals))
    return tq_fail(e, TQ_ENOMEM, "%s: out of memory", path);
  tq_status s = TQ_OK;
  memcpy(c->config_text, q, tl);
  c->config_text[tl] = '\0';
  q += tl;
  if (strlen(c->config_text) != tl || tq_fnv1a64(c->config_text, tl) != c->h.fingerprint)
    s = tq_fail(e, TQ_EINPUT, "%s: corrupt fingerprint", path);
  memcpy(c->params, q, np * sizeof(float));
  q += np * sizeof(float);
  memcpy(c->momentum, q, np * sizeof(float));
  q += np * sizeof(float);
  memcpy(c->state, q, (size_t)c->h.nstate * sizeof(float));
  q += (size_t)c->h.nstate * sizeof(float);
  memcpy(c->workers, q, w * sizeof(tq_ckpt_worker));
  q += w * sizeof(tq_ckpt_worker);
  if (c->h.has_residuals) memcpy(c->residuals, q, w * np * sizeof(float));
  return s;
}

tq_status tq_checkpoint_read(const char *path, uint64_t expect_nparams, uint32_t expect_workers,
                             tq_checkpoint *c, tq_err *e) {
  memset(c, 0, sizeof *c);
  int fd;
  size_t len, want = 0;
  TQ_TRY(tq_open_regular(path, "checkpoint", SIZE_MAX, &fd, &len, e));
  tq_status s = read_header(fd, path, len, expect_nparams, expect_workers, &c->h, &want, e);
  uint8_t *data = NULL;
  if (s == TQ_OK) {
    data = malloc(want);
    if (!data) s = tq_fail(e, TQ_ENOMEM, "%s: out of memory for %zu bytes", path, want);
  }
  if (s == TQ_OK) s = read_exact(fd, path, data, want, 0, e);
  close(fd);
  if (s == TQ_OK) {
    uint32_t crc;
    memcpy(&crc, data + want - 4, 4);
    if (crc != tq_crc32(data, want - 4))
      s = tq_fail(e, TQ_EINPUT, "%s: checksum mismatch (corrupt)", path);
  }
  if (s == TQ_OK) s = unpack(path, data, c, e);
  free(data);
  if (s != TQ_OK) tq_checkpoint_free(c);
  return s;
}

void tq_checkpoint_free(tq_checkpoint *c) {
  free(c->config_text);
  free(c->params);
  free(c->momentum);
  free(c->state);
  free(c->workers);
  free(c->residuals);
  memset(c, 0, sizeof *c);
}

bool tq_checkpoint_state_span(const void *buf, size_t len, size_t *off, size_t *n) {
  tq_ckpt_header h;
  size_t head = sizeof magic + sizeof h;
  if (len < head + 4 || memcmp(buf, magic, sizeof magic) != 0) return false;
  memcpy(&h, (const uint8_t *)buf + sizeof magic, sizeof h);
  if (len < head + h.config_bytes + 4) return false;
  *off = head + h.config_bytes;
  *n = len - *off - 4;
  return true;
}
