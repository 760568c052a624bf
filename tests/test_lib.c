/* libtailquant (include/tailquant.h): the host path and the device path write the same bytes
 * for the QSGD family and fp32, and for the truncated family the same design up to the order
 * |g| is summed in (alpha within 1e-5); either decodes the other's messages to the same values;
 * the device keeps error-feedback residuals across a new tensor id (which rebuilds its state);
 * bad options and messages give a code and a message. The installed library is tested from outside by tests/install/check_install.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tailquant.h"
#include "test_support.h"

#define N 20000

static float g[N];

static const char *device_spec(void) {
  const char *d = getenv("TQ_TEST_DEVICE");
  return d && *d ? d : "auto";
}

static void fill(unsigned seed) {
  tq_test_rng r = {seed};
  for (int i = 0; i < N; i++) {
    double u = tq_test_uniform(&r) + 1e-9;
    g[i] = (float)((tq_test_uniform(&r) < 0.5 ? -1 : 1) * 1e-3 * (pow(u, -0.4) - 1.0));
  }
}

static tailquant_codec *make(const char *opts, bool device) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s device=%s", opts, device ? device_spec() : "host");
  tailquant_codec *c = NULL;
  tailquant_status s = tailquant_codec_create(buf, &c);
  if (s) fprintf(stderr, "\n  %s: %s\n", buf, tailquant_last_error());
  CU_ASSERT_EQUAL_FATAL(s, TAILQUANT_OK);
  return c;
}

static void test_host_equals_device(void) {
  fill(11);
  const char *methods[] = {"none", "qsgd", "qsgdinf", "nuqsgd", "tqsgd", "tnqsgd", "tbqsgd",
                           "tpqsgd", "efsign", "topk"};
  for (int m = 0; m < (int)(sizeof methods / sizeof methods[0]); m++)
    for (int bits = 2; bits <= 8; bits += 3) {
      char opts[128];
      int width = !m ? 32 : !strcmp(methods[m], "efsign") ? 1 : bits; /* efsign: 1 bit only */
      snprintf(opts, sizeof opts, "method=%s bits=%d seed=3 worker=2", methods[m], width);
      tailquant_codec *h = make(opts, false), *d = make(opts, true);
      CU_ASSERT(strcmp(tailquant_codec_device(d), "host") != 0);
      const uint8_t *mh, *md;
      size_t lh, ld;
      CU_ASSERT_EQUAL_FATAL(tailquant_encode(h, g, N, 5, 9, &mh, &lh), TAILQUANT_OK);
      CU_ASSERT_EQUAL_FATAL(tailquant_encode(d, g, N, 5, 9, &md, &ld), TAILQUANT_OK);
      CU_ASSERT_EQUAL(lh, ld);
      /* The truncated family designs from sum|g|, a float sum whose order differs between the
       * host and the device; every other method's message is the same to the byte. */
      bool truncated = !strcmp(methods[m], "tqsgd") || !strcmp(methods[m], "tnqsgd") ||
                       !strcmp(methods[m], "tbqsgd");
      if (!truncated) {
        bool same = lh == ld && !memcmp(mh, md, lh);
        if (!same) fprintf(stderr, "\n  %s: host and device messages differ\n", opts);
        CU_ASSERT(same);
      } else {
        tailquant_header a, b;
        CU_ASSERT_EQUAL_FATAL(tailquant_message_info(mh, lh, &a), TAILQUANT_OK);
        CU_ASSERT_EQUAL_FATAL(tailquant_message_info(md, ld, &b), TAILQUANT_OK);
        CU_ASSERT(a.levels == b.levels && a.bits == b.bits && a.count == b.count);
        double rel = fabs((double)a.alpha / b.alpha - 1);
        if (rel >= 1e-5) fprintf(stderr, "\n  %s: alpha %g on the host, %g on the device\n", opts, a.alpha, b.alpha);
        CU_ASSERT(rel < 1e-5);
      }
      static float oh[N], od[N];
      for (int i = 0; i < N; i++) oh[i] = od[i] = (float)i * 1e-6f;
      tailquant_header hh;
      CU_ASSERT_EQUAL(tailquant_decode(h, mh, lh, oh, N, 0.25f, &hh), TAILQUANT_OK);
      CU_ASSERT_EQUAL(tailquant_decode(d, mh, lh, od, N, 0.25f, NULL), TAILQUANT_OK);
      CU_ASSERT(hh.worker == 2 && hh.tensor == 5 && hh.iteration == 9 && hh.count == N);
      CU_ASSERT(tq_test_max_rel_diff(od, oh, N, 1e-6, NULL) < 1e-6);
      tailquant_codec_free(h);
      tailquant_codec_free(d);
      if (m == 0) break;
    }
}

/* Error feedback over several iterations, with a second tensor id that appears later on one of
 * two device codecs: that one rebuilds its compressor then and must carry tensor 0's residual
 * over, so tensor 0's messages stay those of the codec that never saw tensor 1. */
static void test_error_feedback_across_ids(void) {
  fill(12);
  tailquant_codec *a = make("method=tnqsgd bits=3 error_feedback=1", true);
  tailquant_codec *b = make("method=tnqsgd bits=3 error_feedback=1", true);
  static uint8_t first[N * 4 + 4096];
  size_t flen = 0;
  for (uint32_t it = 1; it <= 4; it++) {
    const uint8_t *ma, *mb;
    size_t la, lb;
    CU_ASSERT_EQUAL_FATAL(tailquant_encode(a, g, N, 0, it, &ma, &la), TAILQUANT_OK);
    if (it == 1) memcpy(first, ma, flen = la);
    if (it > 1) CU_ASSERT(la != flen || memcmp(ma, first, la) != 0); /* the residual is used */
    CU_ASSERT_EQUAL_FATAL(tailquant_encode(b, g, N, 0, it, &mb, &lb), TAILQUANT_OK);
    bool same = la == lb && !memcmp(ma, mb, la);
    if (!same) fprintf(stderr, "\n  iteration %u: tensor 0 differs after tensor 1 appeared\n", it);
    CU_ASSERT(same);
    if (it >= 2) CU_ASSERT_EQUAL_FATAL(tailquant_encode(b, g, N / 2, 1, it, &mb, &lb), TAILQUANT_OK);
  }
  tailquant_codec_free(a);
  tailquant_codec_free(b);
}

static void test_errors(void) {
  fill(13);
  tailquant_codec *c = NULL;
  CU_ASSERT_EQUAL(tailquant_codec_create("method=tnqsgd bits=9", &c), TAILQUANT_EINPUT);
  CU_ASSERT(strstr(tailquant_last_error(), "9") != NULL);
  CU_ASSERT_EQUAL(tailquant_codec_create("bits", &c), TAILQUANT_EINPUT);
  CU_ASSERT(strstr(tailquant_last_error(), "key=value") != NULL);
  CU_ASSERT_EQUAL(tailquant_codec_create("method=zip", &c), TAILQUANT_EINPUT);
  CU_ASSERT(strstr(tailquant_last_error(), "zip") != NULL);
  CU_ASSERT_EQUAL(tailquant_codec_create("refit_every=4", &c), TAILQUANT_EINPUT);
  CU_ASSERT_EQUAL(tailquant_codec_create("device=no-such-device-xyz", &c), TAILQUANT_EINPUT);
  CU_ASSERT(c == NULL);
  c = make("", false); /* the defaults: tnqsgd at 3 bits */
  const uint8_t *msg;
  size_t len;
  CU_ASSERT_EQUAL(tailquant_encode(c, g, N, 70000, 1, &msg, &len), TAILQUANT_EINPUT);
  CU_ASSERT(strstr(tailquant_last_error(), "70000") != NULL);
  CU_ASSERT_EQUAL_FATAL(tailquant_encode(c, g, N, 0, 1, &msg, &len), TAILQUANT_OK);
  tailquant_header h;
  CU_ASSERT_EQUAL(tailquant_message_info(msg, len, &h), TAILQUANT_OK);
  CU_ASSERT_STRING_EQUAL(h.method, "tnqsgd");
  CU_ASSERT_EQUAL(h.bits, 3);
  CU_ASSERT_EQUAL(tailquant_message_info(msg, 10, &h), TAILQUANT_EINPUT);
  CU_ASSERT(strstr(tailquant_last_error(), "rejected message") != NULL);
  CU_ASSERT_EQUAL(tailquant_encode(c, g, N - 1, 0, 2, &msg, &len), TAILQUANT_EINPUT);
  CU_ASSERT_EQUAL(tailquant_codec_reset(c), TAILQUANT_OK);
  CU_ASSERT_EQUAL(tailquant_encode(c, g, N - 1, 0, 2, &msg, &len), TAILQUANT_OK);
  tailquant_codec_free(c);
  CU_ASSERT(strstr(tailquant_version(), "git") != NULL);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"host path == device path, every method, bytes and decoded values", test_host_equals_device},
      {"error feedback across iterations and a late tensor id", test_error_feedback_across_ids},
      {"bad options, ids, counts and messages: code and message", test_errors},
      {NULL, NULL}};
  tq_test_add_suite("libtailquant", cases);
  return tq_test_run();
}
