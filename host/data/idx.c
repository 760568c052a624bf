#include "data/idx.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "util/fileio.h"

/* gzread takes an unsigned and returns an int, so big reads go in pieces below INT_MAX. */
#define TQ_IDX_CHUNK ((size_t)1 << 30)

static const char *type_name(unsigned t) {
  switch (t) {
  case 0x08: return "unsigned byte";
  case 0x09: return "signed byte";
  case 0x0B: return "int16";
  case 0x0C: return "int32";
  case 0x0D: return "float32";
  case 0x0E: return "float64";
  }
  return "not an IDX type";
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads up to len bytes; *got is what arrived before the end of the data. A read error or a
 * corrupt gzip stream fails; a gzip stream that merely ends early ("unexpected end of file")
 * returns OK with a short *got so the caller can report the truncation in its own terms,
 * and sets *gz_cut so that report can say why. */
static tq_status read_full(gzFile f, const char *path, void *buf, size_t len, size_t *got,
                           int *gz_cut, tq_err *e) {
  *got = 0;
  *gz_cut = 0;
  unsigned char *p = buf;
  while (*got < len) {
    size_t want = len - *got < TQ_IDX_CHUNK ? len - *got : TQ_IDX_CHUNK;
    int n = gzread(f, p + *got, (unsigned)want);
    int zerr = Z_OK;
    const char *zmsg = gzerror(f, &zerr);
    if (n < 0 || (zerr != Z_OK && zerr != Z_BUF_ERROR)) {
      if (zerr == Z_ERRNO)
        return tq_fail(e, TQ_EIO, "%s: read error: %s", path, strerror(errno));
      return tq_fail(e, TQ_EINPUT, "%s: corrupt gzip data: %s", path, zmsg);
    }
    *got += (size_t)n;
    if (zerr == Z_BUF_ERROR) {
      *gz_cut = 1;
      break;
    }
    if (n == 0) break;
  }
  return TQ_OK;
}

/* Checks the four magic bytes against what the caller wants (ubyte, want_dims dimensions). */
static tq_status check_magic(const char *path, const unsigned char m[4], uint32_t want_dims,
                             const char *what, tq_err *e) {
  uint32_t magic = be32(m);
  if (m[0] != 0 || m[1] != 0) {
    const char *hint = (m[0] == 0x1f && m[1] == 0x8b)
                           ? " (this looks like a gzip stream inside a gzip file: decompress once)"
                           : "";
    return tq_fail(e, TQ_EINPUT,
                   "%s: bad magic number 0x%08" PRIX32
                   ": not an IDX file (the first two bytes must be zero)%s",
                   path, magic, hint);
  }
  if (m[2] != TQ_IDX_TYPE_UBYTE)
    return tq_fail(e, TQ_EINPUT,
                   "%s: magic number 0x%08" PRIX32 " has type byte 0x%02X (%s); tailquant reads "
                   "only type 0x08 (unsigned byte)",
                   path, magic, m[2], type_name(m[2]));
  if (m[3] != want_dims)
    return tq_fail(e, TQ_EINPUT,
                   "%s: magic number 0x%08" PRIX32 " says %u dimension%s, but %s need %" PRIu32
                   " (expected magic 0x%08" PRIX32 ")",
                   path, magic, m[3], m[3] == 1 ? "" : "s", what, want_dims,
                   (uint32_t)(TQ_IDX_TYPE_UBYTE << 8 | want_dims));
  return TQ_OK;
}

/* Checks each dimension (zero, then image sides), then computes the data size without
 * overflow: every partial product is compared with the cap by division before it is formed. */
static tq_status check_dims(const char *path, const tq_idx *x, size_t *bytes, tq_err *e) {
  static const char *names[3] = {"item count", "row count", "column count"};
  uint64_t total = 1;
  for (uint32_t i = 0; i < x->ndims; i++) {
    uint32_t d = x->dims[i];
    if (d == 0) return tq_fail(e, TQ_EINPUT, "%s: header dimension %" PRIu32 " (%s) is zero",
                               path, i, names[x->ndims == 1 ? 0 : i]);
    if (i > 0 && d > TQ_IDX_MAX_SIDE)
      return tq_fail(e, TQ_EINPUT,
                     "%s: header %s %" PRIu32 " exceeds the limit of %u pixels per image side",
                     path, names[i], d, TQ_IDX_MAX_SIDE);
  }
  for (uint32_t i = 0; i < x->ndims; i++) {
    uint32_t d = x->dims[i];
    if (d > TQ_IDX_MAX_BYTES / total) {
      if (x->ndims == 3)
        return tq_fail(e, TQ_EINPUT,
                       "%s: header promises %" PRIu32 " images of %" PRIu32 "x%" PRIu32
                       ", more than the limit of %" PRIu64 " bytes of data",
                       path, x->dims[0], x->dims[1], x->dims[2], TQ_IDX_MAX_BYTES);
      return tq_fail(e, TQ_EINPUT,
                     "%s: header promises %" PRIu32 " labels, more than the limit of %" PRIu64
                     " bytes of data",
                     path, x->dims[0], TQ_IDX_MAX_BYTES);
    }
    total *= d;
  }
  *bytes = (size_t)total;
  return TQ_OK;
}

/* "60000 images of 28x28 (47040000 bytes)" or "60000 labels (60000 bytes)". */
static void describe(const tq_idx *x, char *out, size_t cap) {
  if (x->ndims == 3)
    snprintf(out, cap, "%" PRIu32 " images of %" PRIu32 "x%" PRIu32 " (%zu bytes)", x->dims[0],
             x->dims[1], x->dims[2], x->bytes);
  else
    snprintf(out, cap, "%" PRIu32 " labels (%zu bytes)", x->dims[0], x->bytes);
}

static tq_status read_header(gzFile f, const char *path, uint32_t want_dims, const char *what,
                             tq_idx *x, tq_err *e) {
  unsigned char h[4 + 4 * 3];
  size_t got;
  int cut;
  TQ_TRY(read_full(f, path, h, 4, &got, &cut, e));
  if (got < 4)
    return tq_fail(e, TQ_EINPUT, "%s: truncated header: the file holds %zu byte%s, fewer than "
                   "the 4-byte magic number%s", path, got, got == 1 ? "" : "s",
                   cut ? " (the gzip stream ends early)" : "");
  TQ_TRY(check_magic(path, h, want_dims, what, e));
  size_t want = 4 * (size_t)want_dims;
  TQ_TRY(read_full(f, path, h + 4, want, &got, &cut, e));
  if (got < want)
    return tq_fail(e, TQ_EINPUT, "%s: truncated header: %zu bytes expected (magic and %" PRIu32
                   " dimensions) but the file ends after %zu%s", path, 4 + want, want_dims,
                   4 + got, cut ? " (the gzip stream ends early)" : "");
  x->ndims = want_dims;
  for (uint32_t i = 0; i < want_dims; i++) x->dims[i] = be32(h + 4 + 4 * i);
  return check_dims(path, x, &x->bytes, e);
}

/* The data buffer starts at this size and doubles as data actually arrives. */
#define TQ_IDX_FIRST_ALLOC ((size_t)1 << 20)

/* Reads the data the header promises, then makes sure nothing follows it. The buffer grows with
 * the bytes that arrive, not with what the header promises: an 8-byte file announcing 2^31
 * labels used to make us allocate 2 GiB before finding it truncated (found by fuzzing, a
 * libFuzzer out-of-memory; tests/test_fuzz_regressions.c). Memory now follows the file. */
static tq_status read_body(gzFile f, const char *path, tq_idx *x, tq_err *e) {
  size_t cap = x->bytes < TQ_IDX_FIRST_ALLOC ? x->bytes : TQ_IDX_FIRST_ALLOC;
  x->data = malloc(cap);
  if (!x->data)
    return tq_fail(e, TQ_ENOMEM, "%s: out of memory for %zu bytes of data", path, cap);
  size_t got = 0;
  int cut = 0;
  for (size_t have = 0;;) {
    size_t n;
    TQ_TRY(read_full(f, path, x->data + have, cap - have, &n, &cut, e));
    have += n;
    got = have;
    if (have < cap || cap == x->bytes) break; /* the data ended, or all of it is here */
    size_t nc = cap > x->bytes / 2 ? x->bytes : 2 * cap;
    uint8_t *p = realloc(x->data, nc);
    if (!p)
      return tq_fail(e, TQ_ENOMEM, "%s: out of memory for %zu bytes of data", path, nc);
    x->data = p;
    cap = nc;
  }
  char what[128];
  describe(x, what, sizeof what);
  if (got < x->bytes)
    return tq_fail(e, TQ_EINPUT, "%s: truncated: header promises %s but only %zu were read%s",
                   path, what, got, cut ? " (the gzip stream ends early)" : "");
  unsigned char extra[4096];
  TQ_TRY(read_full(f, path, extra, sizeof extra, &got, &cut, e));
  if (got > 0)
    return tq_fail(e, TQ_EINPUT, "%s: trailing data: %s%zu bytes follow the %s the header "
                   "promises (wrong header, or files concatenated?)", path,
                   got == sizeof extra ? "at least " : "", got, what);
  return TQ_OK;
}

static tq_status read_idx(const char *path, uint32_t want_dims, const char *what, tq_idx *out,
                          tq_err *e) {
  memset(out, 0, sizeof *out);
  /* A regular file only (a FIFO would block, /dev/zero never end); what is read from it is
   * bounded by its header (check_dims), whatever the file holds beyond. The file itself may not
   * exceed the data limit plus gzip's worst-case expansion (well under 1/64). */
  int fd;
  size_t fsize;
  TQ_TRY(tq_open_regular(path, "IDX file", (size_t)(TQ_IDX_MAX_BYTES + TQ_IDX_MAX_BYTES / 64), &fd, &fsize, e));
  errno = 0;
  gzFile f = gzdopen(fd, "rb");
  if (!f) {
    close(fd);
    if (errno == 0)
      return tq_fail(e, TQ_ENOMEM, "%s: cannot open: zlib is out of memory", path);
    return tq_fail(e, TQ_EINPUT, "%s: cannot open: %s", path, strerror(errno));
  }
  /* A 64 KiB buffer instead of zlib's 8 KiB default: fewer read calls on big files. */
  gzbuffer(f, 1u << 16);
  tq_idx x = {0};
  tq_status s = read_header(f, path, want_dims, what, &x, e);
  if (s == TQ_OK) s = read_body(f, path, &x, e);
  gzclose(f);
  if (s != TQ_OK) {
    tq_idx_free(&x);
    return s;
  }
  *out = x;
  return TQ_OK;
}

tq_status tq_idx_read_images(const char *path, tq_idx *out, tq_err *e) {
  return read_idx(path, 3, "images (count x rows x cols)", out, e);
}

tq_status tq_idx_read_labels(const char *path, tq_idx *out, tq_err *e) {
  return read_idx(path, 1, "labels (count)", out, e);
}

void tq_idx_free(tq_idx *idx) {
  if (!idx) return;
  free(idx->data);
  memset(idx, 0, sizeof *idx);
}
