#include "compress/wire.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "compress/quant_ref.h"

tq_status tq_buf_reserve(tq_buf *b, size_t cap, tq_err *e) {
  if (cap <= b->cap) return TQ_OK;
  size_t nc = b->cap ? b->cap : 256;
  while (nc < cap) nc *= 2;
  uint8_t *p = realloc(b->data, nc);
  if (!p) return tq_fail(e, TQ_ENOMEM, "out of memory growing a message buffer to %zu bytes", nc);
  b->data = p;
  b->cap = nc;
  return TQ_OK;
}

void tq_buf_free(tq_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

uint32_t tq_crc32(const uint8_t *p, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  while (n > 0) { /* zlib takes uInt lengths */
    uInt k = n > 0x40000000u ? 0x40000000u : (uInt)n;
    c = crc32(c, p, k);
    p += k;
    n -= k;
  }
  return (uint32_t)c;
}

/* The sparse family's K field (4 bytes after the fixed header); 0 for the others. */
static size_t tq_wire_k_bytes(const tq_wire_hdr *h) {
  return tq_method_family_info(h->method)->wire_sparse ? 4u : 0u;
}

uint32_t tq_wire_nbuckets(const tq_wire_hdr *h) {
  if (!tq_method_family_info(h->method)->wire_scales || h->bucket == 0) return 0;
  return (uint32_t)(((uint64_t)h->count + h->bucket - 1) / h->bucket);
}

size_t tq_wire_payload_words(const tq_wire_hdr *h) {
  if (h->method == TQ_METHOD_NONE) return h->count;
  if (tq_method_family_info(h->method)->wire_sparse) return 2u * (size_t)h->k; /* K, K */
  return tq_packed_words(h->count, h->bits);
}

tq_wire_bits tq_wire_size(const tq_wire_hdr *h) {
  tq_wire_bits b;
  size_t meta = TQ_WIRE_HEADER_BYTES + 4u * (size_t)h->nlev + 4u * (size_t)tq_wire_nbuckets(h) +
                TQ_WIRE_CRC_BYTES + tq_wire_k_bytes(h);
  size_t words = tq_wire_payload_words(h);
  b.header_bits = 8u * (uint64_t)meta;
  b.payload_bits = tq_method_family_info(h->method)->wire_sparse
                       ? 32u * (uint64_t)words /* K indices and K values, no padding */
                       : (uint64_t)h->count * (uint64_t)h->bits;
  b.pad_bits = 32u * (uint64_t)words - b.payload_bits;
  b.total_bytes = meta + 4u * words;
  return b;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

tq_status tq_wire_begin(tq_buf *out, const tq_wire_hdr *h, tq_wire_parts *parts, tq_err *e) {
  tq_wire_bits sz = tq_wire_size(h);
  TQ_TRY(tq_buf_reserve(out, sz.total_bytes, e));
  uint8_t *p = out->data;
  memset(p, 0, TQ_WIRE_HEADER_BYTES);
  put32(p + 0, TQ_WIRE_MAGIC);
  p[4] = TQ_WIRE_VERSION & 0xff;
  p[5] = TQ_WIRE_VERSION >> 8;
  p[6] = (uint8_t)h->method;
  p[7] = (uint8_t)h->bits;
  p[8] = h->flags;
  p[9] = 0;
  p[10] = (uint8_t)h->nlev;
  p[11] = (uint8_t)(h->nlev >> 8);
  put32(p + 12, h->worker);
  put32(p + 16, h->iteration);
  put32(p + 20, h->tensor);
  put32(p + 24, h->count);
  put32(p + 28, h->bucket);
  uint32_t a;
  memcpy(&a, &h->alpha, 4);
  put32(p + 32, a);
  size_t off = TQ_WIRE_HEADER_BYTES;
  parts->levels = (float *)(void *)(p + off);
  off += 4u * (size_t)h->nlev;
  parts->scales = (float *)(void *)(p + off);
  off += 4u * (size_t)tq_wire_nbuckets(h);
  if (tq_wire_k_bytes(h)) {
    put32(p + off, h->k);
    off += 4u;
  }
  parts->payload = p + off;
  out->len = sz.total_bytes;
  /* Pad bits of the last word must be 0 whatever the caller writes into the payload. */
  size_t words = tq_wire_payload_words(h);
  if (words) memset(p + off + 4 * (words - 1), 0, 4);
  return TQ_OK;
}

void tq_wire_hdr_design(tq_wire_hdr *h, const tq_compress_cfg *cfg, const tq_design *d,
                        uint32_t bucket, bool ef) {
  const tq_family_info *f = tq_method_family_info(h->method);
  h->nlev = d->nlev;
  if (f->wire_alpha) {
    h->alpha = d->levels[d->nlev - 1];
    h->flags = (cfg->zero_level ? TQ_WIRE_F_ZERO_LEVEL : 0) | (d->laplace ? TQ_WIRE_F_LAPLACE : 0);
  }
  if (f->wire_scales) h->bucket = bucket;
  if (f->wire_sparse) h->k = tq_sparse_k(h->count, h->bits);
  if (ef) h->flags |= TQ_WIRE_F_EF;
}

void tq_wire_seal(tq_buf *out) {
  put32(out->data + out->len - 4, tq_crc32(out->data, out->len - 4));
}

#define BAD(...) tq_fail(e, TQ_EINPUT, "rejected message: " __VA_ARGS__)

/* The fixed header: magic, version, method, bits for the method, flags; then the fields. */
static tq_status parse_header(const uint8_t *buf, size_t len, tq_wire_hdr *h, tq_err *e) {
  if (!buf || len < TQ_WIRE_HEADER_BYTES + TQ_WIRE_CRC_BYTES)
    return BAD("%zu bytes is shorter than the %d-byte header and checksum", len,
               TQ_WIRE_HEADER_BYTES + TQ_WIRE_CRC_BYTES);
  uint32_t magic = get32(buf);
  if (magic != TQ_WIRE_MAGIC)
    return BAD("bad magic 0x%08x (want 0x%08x, \"TQGM\")", magic, TQ_WIRE_MAGIC);
  unsigned version = buf[4] | (unsigned)buf[5] << 8;
  if (version != TQ_WIRE_VERSION)
    return BAD("unsupported version %u (this build reads version %d)", version, TQ_WIRE_VERSION);
  if (buf[6] >= TQ_METHOD_COUNT) return BAD("unknown method code %u", buf[6]);
  h->method = (tq_method)buf[6];
  h->bits = buf[7];
  if (h->bits < tq_bits_min(h->method, false) || h->bits > tq_bits_max(h->method))
    return BAD("bits %d invalid for method %s", h->bits, tq_method_name(h->method));
  h->flags = buf[8];
  if ((h->flags & ~TQ_WIRE_F_KNOWN) || buf[9] != 0)
    return BAD("unknown flags 0x%02x or reserved byte 0x%02x set", h->flags, buf[9]);
  h->nlev = buf[10] | buf[11] << 8;
  h->worker = get32(buf + 12);
  h->iteration = get32(buf + 16);
  h->tensor = get32(buf + 20);
  h->count = get32(buf + 24);
  h->bucket = get32(buf + 28);
  uint32_t a = get32(buf + 32);
  memcpy(&h->alpha, &a, 4);
  if (tq_method_family_info(h->method)->wire_sparse) { /* K, before anything is sized by it */
    if (len < TQ_WIRE_HEADER_BYTES + 4u + TQ_WIRE_CRC_BYTES)
      return BAD("%zu bytes is shorter than the %d-byte header, K and checksum", len,
                 TQ_WIRE_HEADER_BYTES + 4 + TQ_WIRE_CRC_BYTES);
    h->k = get32(buf + TQ_WIRE_HEADER_BYTES);
  }
  return TQ_OK;
}

/* The header against what the family's wire rules allow: the zero-level flag, the level
 * count, the bucket field. */
static tq_status check_family_rules(const tq_wire_hdr *h, tq_err *e) {
  const tq_family_info *f = tq_method_family_info(h->method);
  bool zl = (h->flags & TQ_WIRE_F_ZERO_LEVEL) != 0;
  if (zl && !f->zero_level)
    return BAD("zero-level flag set on method %s", tq_method_name(h->method));
  if (zl && h->bits < tq_bits_min(h->method, true))
    return BAD("zero-level flag set with %d bit", h->bits);
  int want_lev = tq_levels_count(h->method, h->bits, zl);
  if (h->nlev != want_lev)
    return BAD("%d level-table entries, %s at %d bits%s sends %d", h->nlev,
               tq_method_name(h->method), h->bits, zl ? " with zero level" : "", want_lev);
  if (f->wire_scales ? h->bucket == 0 : h->bucket != 0)
    return BAD("bucket size %u invalid for method %s", h->bucket, tq_method_name(h->method));
  if (f->wire_sparse) {
    uint32_t k = tq_sparse_k(h->count, h->bits);
    if (h->k > h->count) return BAD("K %u exceeds the %u elements", h->k, h->count);
    if (h->k != k)
      return BAD("K %u, %s at %d bits on %u elements sends %u", h->k, tq_method_name(h->method),
                 h->bits, h->count, k);
  }
  return TQ_OK;
}

/* The length the header announces, exactly, and the checksum; then where the parts lie. */
static tq_status check_framing(const uint8_t *buf, size_t len, tq_wire_msg *out, tq_err *e) {
  const tq_wire_hdr *h = &out->h;
  out->nbuckets = tq_wire_nbuckets(h);
  out->payload_words = tq_wire_payload_words(h);
  out->size = tq_wire_size(h);
  if (len < out->size.total_bytes)
    return BAD("truncated: %zu bytes, the header announces %zu", len, out->size.total_bytes);
  if (len > out->size.total_bytes)
    return BAD("%zu trailing bytes after the %zu announced", len - out->size.total_bytes,
               out->size.total_bytes);
  uint32_t crc = get32(buf + len - 4), want = tq_crc32(buf, len - 4);
  if (crc != want) return BAD("bad checksum 0x%08x (computed 0x%08x)", crc, want);
  out->levels = buf + TQ_WIRE_HEADER_BYTES;
  out->scales = out->levels + 4u * (size_t)h->nlev;
  out->payload = out->scales + 4u * (size_t)out->nbuckets + tq_wire_k_bytes(h);
  return TQ_OK;
}

/* alpha (wire_alpha: finite, > 0, the top level; otherwise 0), the level table finite and
 * strictly increasing, the scales finite and >= 0. */
static tq_status check_tables(const tq_wire_msg *out, tq_err *e) {
  const tq_wire_hdr *h = &out->h;
  const bool alpha = tq_method_family_info(h->method)->wire_alpha;
  if (alpha ? !(isfinite(h->alpha) && h->alpha > 0) : h->alpha != 0.0f)
    return BAD("alpha %g invalid for method %s", h->alpha, tq_method_name(h->method));
  for (int k = 0; k < h->nlev; k++) {
    float l = tq_wire_f32(out->levels, (size_t)k);
    if (!isfinite(l)) return BAD("level %d is not finite (%g)", k, l);
    if (k > 0 && !(l > tq_wire_f32(out->levels, (size_t)k - 1)))
      return BAD("level table not increasing at entry %d (%g after %g)", k, l,
                 tq_wire_f32(out->levels, (size_t)k - 1));
  }
  if (alpha && h->alpha != tq_wire_f32(out->levels, h->nlev - 1))
    return BAD("alpha %g disagrees with the top level %g", h->alpha,
               tq_wire_f32(out->levels, h->nlev - 1));
  for (uint32_t i = 0; i < out->nbuckets; i++) {
    float s = tq_wire_f32(out->scales, i);
    if (isinf(s))
      return BAD("scale of bucket %u is inf: the bucket's norm exceeds the float range (values "
                 "near FLT_MAX)", i);
    if (!isfinite(s) || s < 0) return BAD("scale of bucket %u is %g", i, s);
  }
  return TQ_OK;
}

/* Every code < nlev: only a table smaller than the code space (2^b, or 2^(b-1) below a sign
 * bit) can be overrun. */
static tq_status check_codes(const tq_wire_msg *out, tq_err *e) {
  const tq_wire_hdr *h = &out->h;
  const bool sign = tq_method_family_info(h->method)->sign_bit;
  int codespace = 1 << (h->bits - (sign ? 1 : 0));
  uint32_t mask = sign ? (uint32_t)codespace - 1u : 0xffffffffu;
  if (h->nlev >= codespace) return TQ_OK;
  /* Copy to aligned words a block at a time: the payload may sit at any address. */
  uint32_t blk[8 * 33];
  size_t per = 256; /* elements per block: 256 * bits / 32 = 8 * bits words */
  for (size_t i0 = 0; i0 < h->count; i0 += per) {
    size_t n = h->count - i0 < per ? h->count - i0 : per;
    size_t w0 = i0 * (size_t)h->bits / 32, nw = tq_packed_words(n, h->bits);
    memcpy(blk, out->payload + 4 * w0, 4 * nw);
    blk[nw] = 0;
    for (size_t i = 0; i < n; i++) {
      uint32_t code = tq_unpack_code(blk, i, h->bits) & mask;
      if (code >= (uint32_t)h->nlev)
        return BAD("code %u of element %zu is out of range (%d levels)", code, i0 + i, h->nlev);
    }
  }
  return TQ_OK;
}

/* Sparse: K indices strictly increasing and < count, then K finite values. */
static tq_status check_sparse(const tq_wire_msg *out, tq_err *e) {
  const tq_wire_hdr *h = &out->h;
  const uint32_t k = h->k;
  for (uint32_t j = 0; j < k; j++) {
    uint32_t i = get32(out->payload + 4u * (size_t)j);
    if (i >= h->count)
      return BAD("index %u of entry %u is outside the %u elements", i, j, h->count);
    if (j > 0 && i <= get32(out->payload + 4u * ((size_t)j - 1)))
      return BAD("index %u of entry %u does not increase (after %u)", i, j,
                 get32(out->payload + 4u * ((size_t)j - 1)));
  }
  for (uint32_t j = 0; j < k; j++) {
    float v = tq_wire_f32(out->payload + 4u * (size_t)k, j);
    if (!isfinite(v)) return BAD("value of entry %u is not finite (%g)", j, v);
  }
  return TQ_OK;
}

/* fp32: every value finite. Codes: in range, and the pad bits zero (they are part of what the
 * sender declared). */
static tq_status check_payload(const tq_wire_msg *out, tq_err *e) {
  const tq_wire_hdr *h = &out->h;
  if (tq_method_family_info(h->method)->wire_sparse) return check_sparse(out, e);
  if (h->method == TQ_METHOD_NONE) {
    for (uint32_t i = 0; i < h->count; i++) {
      float v = tq_wire_f32(out->payload, i);
      if (!isfinite(v)) return BAD("fp32 element %u is not finite (%g)", i, v);
    }
    return TQ_OK;
  }
  TQ_TRY(check_codes(out, e));
  if (out->size.pad_bits) {
    uint32_t last = get32(out->payload + 4 * (out->payload_words - 1));
    unsigned used = (unsigned)(32 - out->size.pad_bits);
    if (last >> used) return BAD("non-zero pad bits in the last payload word");
  }
  return TQ_OK;
}

tq_status tq_wire_parse(const uint8_t *buf, size_t len, uint32_t expect_tensor,
                        uint32_t expect_count, tq_wire_msg *out, tq_err *e) {
  memset(out, 0, sizeof *out);
  tq_wire_hdr *h = &out->h;
  TQ_TRY(parse_header(buf, len, h, e));
  if (expect_tensor != UINT32_MAX && h->tensor != expect_tensor)
    return BAD("tensor id %u, expected %u", h->tensor, expect_tensor);
  if (h->count != expect_count)
    return BAD("element count %u disagrees with the tensor's %u elements", h->count,
               expect_count);
  TQ_TRY(check_family_rules(h, e));
  TQ_TRY(check_framing(buf, len, out, e));
  TQ_TRY(check_tables(out, e));
  return check_payload(out, e);
}
