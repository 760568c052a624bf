/* Built by check_install.sh against the installed tailquant.pc: the whole public API on the
 * host path, as a user program would call it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tailquant.h>

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "roundtrip.c:%d: %s failed (%s)\n", __LINE__, #cond, tailquant_last_error()); \
      return 1;                                                                      \
    }                                                                                \
  } while (0)

int main(void) {
  enum { N = 5000 };
  static float g[N], sum[N];
  unsigned s = 12345;
  for (int i = 0; i < N; i++) { /* heavy-tailed: a power-law tail of index 2 */
    s = s * 1103515245u + 12345u;
    float u = ((s >> 8) + 1) / 16777217.0f;
    g[i] = (i % 2 ? 1 : -1) * 0.001f * (1.0f / sqrtf(u) - 1.0f);
  }
  printf("libtailquant %s\n", tailquant_version());
  tailquant_codec *c = NULL;
  CHECK(tailquant_codec_create("method=tnqsgd bits=3 seed=7", &c) == TAILQUANT_OK);
  CHECK(!strcmp(tailquant_codec_device(c), "host"));
  const uint8_t *msg;
  size_t len;
  CHECK(tailquant_encode(c, g, N, 4, 10, &msg, &len) == TAILQUANT_OK);
  tailquant_header h;
  CHECK(tailquant_message_info(msg, len, &h) == TAILQUANT_OK);
  CHECK(!strcmp(h.method, "tnqsgd") && h.bits == 3 && h.count == N && h.tensor == 4 &&
        h.iteration == 10 && h.levels == 8 && h.alpha > 0);
  CHECK(h.header_bits + h.payload_bits + h.pad_bits == 8 * len);
  memset(sum, 0, sizeof sum);
  CHECK(tailquant_decode(c, msg, len, sum, N, 1.0f, NULL) == TAILQUANT_OK);
  double se = 0, ss = 0;
  for (int i = 0; i < N; i++) {
    CHECK(fabsf(sum[i]) <= h.alpha * 1.0001f);
    se += (sum[i] - g[i]) * (double)(sum[i] - g[i]);
    ss += (double)g[i] * g[i];
  }
  printf("tnqsgd 3 bits: %zu bytes for %d floats, relative squared error %.3g\n", len, N, se / ss);
  CHECK(se / ss < 1.0);
  /* a flipped byte: rejected, named, and out untouched */
  uint8_t *bad = malloc(len);
  memcpy(bad, msg, len);
  bad[len / 2] ^= 0x40;
  float keep = sum[0];
  CHECK(tailquant_decode(c, bad, len, sum, N, 1.0f, NULL) == TAILQUANT_EINPUT);
  CHECK(strstr(tailquant_last_error(), "rejected message") != NULL);
  CHECK(sum[0] == keep);
  free(bad);
  /* wrong element count, unknown option, bad bits */
  CHECK(tailquant_decode(c, msg, len, sum, N - 1, 1.0f, NULL) == TAILQUANT_EINPUT);
  tailquant_codec_free(c);
  CHECK(tailquant_codec_create("method=qsgd bits=1", &c) == TAILQUANT_EINPUT);
  CHECK(strstr(tailquant_last_error(), "bits") != NULL);
  CHECK(tailquant_codec_create("colour=red", &c) == TAILQUANT_EINPUT);
  CHECK(strstr(tailquant_last_error(), "colour") != NULL);
  /* fp32 is lossless */
  CHECK(tailquant_codec_create("method=none", &c) == TAILQUANT_OK);
  CHECK(tailquant_encode(c, g, N, 0, 1, &msg, &len) == TAILQUANT_OK);
  memset(sum, 0, sizeof sum);
  CHECK(tailquant_decode(c, msg, len, sum, N, 1.0f, NULL) == TAILQUANT_OK);
  CHECK(memcmp(sum, g, sizeof g) == 0);
  tailquant_codec_free(c);
  puts("roundtrip: ok");
  return 0;
}
