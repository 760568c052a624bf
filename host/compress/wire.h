/* The wire format of one compressed tensor (docs/wire-format.md describes it byte by byte):
 * a 36-byte little-endian header, the level table, the per-bucket scales, the packed payload
 * and a CRC32 of everything before it. The parser trusts nothing: every field is checked
 * against the method, the caller's expectations and the buffer length before anything is read
 * through it, and each failure is a TQ_EINPUT with its own message. */
#ifndef TQ_COMPRESS_WIRE_H
#define TQ_COMPRESS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compress/levels.h"
#include "compress/method.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the wire code copies float and u32 arrays as they lie in memory: little-endian hosts only"
#endif

#define TQ_WIRE_MAGIC 0x4D475154u /* bytes "TQGM" */
#define TQ_WIRE_VERSION 1
#define TQ_WIRE_HEADER_BYTES 36
#define TQ_WIRE_CRC_BYTES 4

/* flags byte */
#define TQ_WIRE_F_ZERO_LEVEL 0x01u /* truncated family: the table holds a level at 0 */
#define TQ_WIRE_F_LAPLACE 0x02u    /* the design used the Laplace rule (informational) */
#define TQ_WIRE_F_EF 0x04u         /* the sender uses error feedback (informational) */
#define TQ_WIRE_F_KNOWN 0x07u

/* A growable byte buffer the encoders write messages into (grown, never shrunk, so a buffer
 * reused across iterations stops allocating). */
typedef struct tq_buf {
  uint8_t *data;
  size_t len, cap;
} tq_buf;
tq_status tq_buf_reserve(tq_buf *b, size_t cap, tq_err *e);
void tq_buf_free(tq_buf *b);

/* What a message says about itself. */
typedef struct tq_wire_hdr {
  tq_method method;
  int bits;       /* 1..8; 32 for none */
  uint8_t flags;
  int nlev;       /* level-table entries (0 for none) */
  uint32_t worker, iteration, tensor;
  uint32_t count;  /* elements */
  uint32_t bucket; /* bucketed: elements per scale (>= 1); otherwise 0 */
  float alpha;     /* truncated: = levels[nlev-1]; otherwise 0 */
  uint32_t k;      /* sparse: entries (the u32 after the fixed header); otherwise 0 */
} tq_wire_hdr;

/* Sizes of a message: header_bits counts everything but the payload (fixed header, level
 * table, scales, CRC); payload_bits = count * bits (sparse: 64 K, and K's
 * own field counts as header); pad_bits fill the last
 * payload word. */
typedef struct tq_wire_bits {
  uint64_t header_bits, payload_bits, pad_bits;
  size_t total_bytes;
} tq_wire_bits;

uint32_t tq_wire_nbuckets(const tq_wire_hdr *h);
size_t tq_wire_payload_words(const tq_wire_hdr *h); /* u32 words (none: count floats) */
tq_wire_bits tq_wire_size(const tq_wire_hdr *h);

/* Writes the header into out (grown to the full message size, len set) and returns where the
 * caller puts the level table (nlev floats), the scales (nbuckets floats) and the payload;
 * then tq_wire_seal() appends the CRC. */
typedef struct tq_wire_parts {
  float *levels, *scales;
  void *payload;
} tq_wire_parts;
tq_status tq_wire_begin(tq_buf *out, const tq_wire_hdr *h, tq_wire_parts *parts, tq_err *e);
void tq_wire_seal(tq_buf *out);

/* The header fields a design decides, by the family's wire rules (tq_family_info): the level
 * count; the bucket size (wire_scales); alpha = the top level and the zero-level and Laplace
 * flags (wire_alpha); the error-feedback flag. h->method must be set. */
void tq_wire_hdr_design(tq_wire_hdr *h, const tq_compress_cfg *cfg, const tq_design *d,
                        uint32_t bucket, bool ef);

uint32_t tq_crc32(const uint8_t *p, size_t n);

/* A validated message: the header plus pointers into the caller's buffer. The arrays may be
 * unaligned; read them with memcpy (tq_wire_level etc.). */
typedef struct tq_wire_msg {
  tq_wire_hdr h;
  uint32_t nbuckets;
  size_t payload_words;
  const uint8_t *levels, *scales, *payload;
  tq_wire_bits size;
} tq_wire_msg;

/* Checks, in order: length >= header + CRC, magic, version, method, bits for the method,
 * flags/reserved, tensor id (unless expect_tensor == UINT32_MAX), element count (must equal
 * expect_count), level count for method and bits, bucket, exact length (truncated / trailing
 * bytes), CRC, alpha, level table finite and strictly increasing, alpha == last level, scales
 * finite and >= 0, every code < nlev (for tables smaller than the code space), fp32 payload
 * finite; sparse: K = tq_sparse_k(count, bits) (<= count), indices strictly increasing and
 * < count, values finite. Never reads outside buf[0..len). */
tq_status tq_wire_parse(const uint8_t *buf, size_t len, uint32_t expect_tensor,
                        uint32_t expect_count, tq_wire_msg *out, tq_err *e);

static inline float tq_wire_f32(const uint8_t *p, size_t i) {
  float v;
  __builtin_memcpy(&v, p + 4 * i, 4);
  return v;
}

#endif
