/* libFuzzer target: the checkpoint reader (tq_checkpoint_read), through a file in a private
 * temporary folder (fuzz_tmp.h).
 *
 * Input: a control byte, then the file. Control bit 0: take the expected parameter and worker
 * counts from the file's own header (else 1..255 parameters from the next byte and 1..4
 * workers from bits 1-2), so that inputs get past the size check; bit 3: recompute the
 * fingerprint hash and the CRC after mutation, so that inputs reach the checks behind them.
 *
 * Oracle beyond the sanitizers: a checkpoint that reads written back by tq_checkpoint_write is
 * the same file, byte for byte. */
#include <stdlib.h>
#include <string.h>

#include "compress/wire.h"
#include "experiment/checkpoint.h"
#include "fuzz_tmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  uint8_t ctl = data[0];
  const uint8_t *file = data + 1;
  size_t n = size - 1;
  uint8_t *buf = malloc(n + 1);
  if (!buf) return 0;
  memcpy(buf, file, n);
  const size_t head = 8 + sizeof(tq_ckpt_header);
  tq_ckpt_header h;
  uint64_t np = 1 + file[0] % 255;
  uint32_t w = 1 + ((ctl >> 1) & 3);
  if (n >= head) {
    memcpy(&h, buf + 8, sizeof h);
    if (ctl & 1) {
      np = h.nparams;
      w = h.workers;
    }
    if ((ctl & 8) && n >= head + 4 && h.config_bytes <= n - head - 4) {
      h.fingerprint = tq_fnv1a64(buf + head, h.config_bytes);
      memcpy(buf + 8, &h, sizeof h);
      uint32_t crc = tq_crc32(buf, n - 4);
      memcpy(buf + n - 4, &crc, 4);
    }
  }
  const char *path = tq_fuzz_write("checkpoint.bin", buf, n);
  tq_checkpoint c;
  tq_err e = {0};
  if (tq_checkpoint_read(path, np, w, &c, &e) == TQ_OK) {
    static char back[600];
    snprintf(back, sizeof back, "%s.back", path);
    if (tq_checkpoint_write(back, &c, &e) != TQ_OK) abort();
    FILE *f = fopen(back, "rb");
    uint8_t *again = malloc(n + 1);
    size_t got = f && again ? fread(again, 1, n + 1, f) : 0;
    if (f) fclose(f);
    unlink(back);
    if (got != n || memcmp(again, buf, n) != 0) {
      fprintf(stderr, "checkpoint read then written differs (%zu vs %zu bytes)\n", got, n);
      abort();
    }
    free(again);
    tq_checkpoint_free(&c);
  } else if (!e.msg[0]) {
    abort(); /* a refusal always says why */
  }
  free(buf);
  return 0;
}
