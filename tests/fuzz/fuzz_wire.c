/* libFuzzer target: the wire-format parser (tq_wire_parse) and, on every message it accepts,
 * the host reference decoder (tq_ref_decode_accumulate), which trusts the parser.
 *
 * Input: one control byte, then the message.
 *   control & 0x80: the next 8 bytes are the expected tensor id and element count (LE u32),
 *                   arbitrary, so mismatches and UINT32_MAX (any tensor) are reached too;
 *   otherwise:      the expectations come from the message's own header (bytes 20..27), so
 *                   mutations of everything after the id checks are explored; control & 1
 *                   asks for any tensor, control & 2 / & 4 flip the low bit of the expected
 *                   tensor / count.
 *   control & 0x40: keep the message's checksum as it is; otherwise it is recomputed before
 *                   parsing, so that mutations reach the checks behind the CRC (a random
 *                   mutation almost never keeps a valid CRC-32).
 *
 * Oracles beyond the sanitizers: an accepted message must be exactly as long as it announces,
 * must re-encode byte for byte through tq_wire_begin/tq_wire_seal from its parsed header and
 * arrays (the parser read every field the writer writes), and must decode without NaN. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compress/quant_ref.h"
#include "compress/wire.h"

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t ctl = data[0];
  data++, size--;
  uint32_t want_tensor = 0, want_count = 0;
  if (ctl & 0x80) {
    if (size < 8) return 0;
    want_tensor = le32(data);
    want_count = le32(data + 4);
    data += 8, size -= 8;
  } else if (size >= 28) {
    want_tensor = (ctl & 1) ? UINT32_MAX : le32(data + 20) ^ ((ctl >> 1) & 1u);
    want_count = le32(data + 24) ^ ((ctl >> 2) & 1u);
  }
  /* A private copy, so ASan sees any read past the message's end (libFuzzer's own buffer is
   * exact-size too, but the copy also catches writes through the const pointers). */
  uint8_t *msg = malloc(size ? size : 1);
  if (!msg) return 0;
  memcpy(msg, data, size);
  if (!(ctl & 0x40) && size >= 4) {
    uint32_t c = tq_crc32(msg, size - 4);
    for (int i = 0; i < 4; i++) msg[size - 4 + i] = (uint8_t)(c >> (8 * i));
  }
  tq_wire_msg m;
  tq_err e = {0};
  if (tq_wire_parse(msg, size, want_tensor, want_count, &m, &e) == TQ_OK) {
    if (m.size.total_bytes != size) abort();
    if (want_tensor != UINT32_MAX && m.h.tensor != want_tensor) abort();
    if (m.h.count != want_count) abort();
    /* Re-encode from what the parser extracted. */
    tq_buf b = {0};
    tq_wire_parts parts;
    if (tq_wire_begin(&b, &m.h, &parts, &e) != TQ_OK) abort();
    if (b.len != size) abort();
    memcpy(parts.levels, m.levels, 4u * (size_t)m.h.nlev);
    memcpy(parts.scales, m.scales, 4u * (size_t)m.nbuckets);
    memcpy(parts.payload, m.payload, 4u * m.payload_words);
    tq_wire_seal(&b);
    if (memcmp(b.data, msg, size) != 0) abort();
    tq_buf_free(&b);
    /* Decode; an accepted message has finite levels and scales, so no NaN can come out. */
    float *out = calloc(m.h.count ? m.h.count : 1, sizeof *out);
    if (!out) abort();
    tq_ref_decode_accumulate(&m, 0.5f, out);
    for (uint32_t i = 0; i < m.h.count; i++)
      if (isnan(out[i])) abort();
    free(out);
  }
  free(msg);
  return 0;
}
