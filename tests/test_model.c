/* Model files: the shipped models load with the right parameter counts, and each class of bad
 * model file is rejected with the file, line and key. Host-only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layer.h"
#include "nn/model.h"
#include "nn_ref.h"
#include "test_support.h"
#include "tmpfile.h"

static void test_shipped_models(void) {
  struct {
    const char *file;
    size_t params;
  } want[] = {{"lenet5.cfg", 61706}, {"alexnet_small.cfg", 2965386}, {"mlp.cfg", 235146}};
  for (int i = 0; i < 3; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s", TQ_SOURCE_DIR, want[i].file);
    tq_model m;
    tq_err e = {0};
    TQ_ASSERT_OK(tq_model_load(path, &m, &e), &e);
    CU_ASSERT_EQUAL(m.nparams, want[i].params);
    CU_ASSERT_EQUAL(m.classes, 10);
  }
  /* LeNet-5 tensor table: names, offsets contiguous, shapes. */
  tq_model m;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_model_load(TQ_SOURCE_DIR "/models/lenet5.cfg", &m, &e), &e);
  CU_ASSERT_EQUAL(m.ntensors, 10);
  CU_ASSERT_STRING_EQUAL(m.tensors[0].name, "conv1.weight");
  CU_ASSERT_EQUAL(m.tensors[0].count, 150);
  CU_ASSERT_STRING_EQUAL(m.tensors[5].name, "fc1.bias");
  for (int t = 1; t < m.ntensors; t++)
    CU_ASSERT_EQUAL(m.tensors[t].offset, m.tensors[t - 1].offset + m.tensors[t - 1].count);
  CU_ASSERT_EQUAL(m.layers[6].out.c, 400); /* flatten of 16x5x5 */
  /* 0.83 MFLOP per image forward, counting a multiply-add as 2 (docs/performance.md, Platform
   * facts). */
  double mflop = tq_model_flops_per_sample(&m) / 1e6;
  CU_ASSERT(mflop > 0.82 && mflop < 0.85);
}

static const char *base =
    "name = \"t\";\ninput = { channels = 1; height = 8; width = 8; };\nclasses = 3;\n";

/* Loads `layers` under the standard header; expects TQ_EINPUT and every `needles` string. */
static void expect_error(const char *layers, const char *const *needles) {
  char text[2048];
  snprintf(text, sizeof text, "%slayers = (\n%s\n);\n", base, layers);
  const char *path = tq_test_write_tmp("model.cfg", text);
  tq_model m;
  tq_err e = {0};
  CU_ASSERT_EQUAL(tq_model_load(path, &m, &e), TQ_EINPUT);
  CU_ASSERT(strstr(e.msg, path) != NULL);
  for (int i = 0; needles[i]; i++) {
    if (!strstr(e.msg, needles[i])) fprintf(stderr, "\n  '%s' not in: %s\n", needles[i], e.msg);
    CU_ASSERT(strstr(e.msg, needles[i]) != NULL);
  }
}

static void test_bad_models(void) {
  /* unknown key in a layer, with its line */
  expect_error("{ type = \"flatten\"; },\n{ type = \"dense\"; units = 3; colour = 2; }",
               (const char *const[]){":6", "colour", "units", NULL});
  /* wrong type */
  expect_error("{ type = \"flatten\"; },\n{ type = \"dense\"; units = \"three\"; }",
               (const char *const[]){":6", "units", "integer", NULL});
  /* out of range */
  expect_error("{ type = \"conv2d\"; filters = 0; size = 3; },\n{ type = \"flatten\"; },\n"
               "{ type = \"dense\"; units = 3; }",
               (const char *const[]){"filters", "out of range", NULL});
  /* unknown layer type */
  expect_error("{ type = \"convolution\"; }", (const char *const[]){"convolution", "conv2d", NULL});
  /* dense without flatten */
  expect_error("{ type = \"dense\"; units = 3; }", (const char *const[]){":5", "flatten", NULL});
  /* pooling window larger than the image */
  expect_error("{ type = \"maxpool\"; size = 9; },\n{ type = \"flatten\"; },\n{ type = \"dense\"; units = 3; }",
               (const char *const[]){":5", "larger than the input", NULL});
  /* kernel larger than the padded input */
  expect_error("{ type = \"conv2d\"; filters = 2; size = 11; },\n{ type = \"flatten\"; },\n"
               "{ type = \"dense\"; units = 3; }",
               (const char *const[]){"larger than the padded input", NULL});
  /* last layer does not produce `classes` outputs */
  expect_error("{ type = \"flatten\"; },\n{ type = \"dense\"; units = 4; }",
               (const char *const[]){"classes (3)", NULL});
  /* missing required key */
  expect_error("{ type = \"maxpool\"; },\n{ type = \"flatten\"; },\n{ type = \"dense\"; units = 3; }",
               (const char *const[]){"missing key", "size", NULL});
}

/* Residual syntax: names, input = / from = references, add's shape check. */
static void test_residual_syntax(void) {
  const char *tail = ",\n{ type = \"avgpool\"; },\n{ type = \"dense\"; units = 3; }";
  char buf[1024];
  /* from names no layer */
  snprintf(buf, sizeof buf, "{ type = \"relu\"; name = \"a\"; },\n{ type = \"add\"; from = \"nope\"; }%s", tail);
  expect_error(buf, (const char *const[]){":6", "from", "nope", "no earlier layer", NULL});
  /* a name used before its layer */
  snprintf(buf, sizeof buf, "{ type = \"relu\"; input = \"b\"; },\n{ type = \"relu\"; name = \"b\"; }%s", tail);
  expect_error(buf, (const char *const[]){":5", "comes later", NULL});
  /* the same name twice */
  snprintf(buf, sizeof buf, "{ type = \"relu\"; name = \"a\"; },\n{ type = \"relu\"; name = \"a\"; }%s", tail);
  expect_error(buf, (const char *const[]){":6", "already the name", "line 5", NULL});
  /* add of two different shapes names both sides and the line */
  snprintf(buf, sizeof buf,
           "{ type = \"relu\"; name = \"a\"; },\n{ type = \"conv2d\"; filters = 2; size = 3; },\n"
           "{ type = \"add\"; from = \"a\"; }%s", tail);
  expect_error(buf, (const char *const[]){":7", "add", "2x6x6", "1x8x8", "'a'", "must be equal", NULL});
  /* add without from */
  snprintf(buf, sizeof buf, "{ type = \"relu\"; },\n{ type = \"add\"; }%s", tail);
  expect_error(buf, (const char *const[]){"from", NULL});
  /* a branch nobody reads */
  snprintf(buf, sizeof buf,
           "{ type = \"relu\"; name = \"a\"; },\n{ type = \"conv2d\"; filters = 2; size = 1; },\n"
           "{ type = \"relu\"; input = \"a\"; }%s", tail);
  expect_error(buf, (const char *const[]){":6", "never used", NULL});
  /* add reading its own input twice */
  snprintf(buf, sizeof buf, "{ type = \"relu\"; name = \"a\"; },\n{ type = \"add\"; from = \"a\"; }%s", tail);
  expect_error(buf, (const char *const[]){":6", "its own input", NULL});
  /* batchnorm's keys are checked like any other */
  snprintf(buf, sizeof buf, "{ type = \"batchnorm\"; momentum = 0.0; }%s", tail);
  expect_error(buf, (const char *const[]){":5", "momentum", NULL});
}

/* ResNet-20: the CIFAR network of He et al. with projection shortcuts. */
static void test_resnet20(void) {
  tq_model m;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_model_load(TQ_SOURCE_DIR "/models/resnet20.cfg", &m, &e), &e);
  /* 19 convolutions + 2 projections (no biases), 21 batchnorms, fc: the count of
   * tools/peer_torch.py's torch ResNet-20, layer for layer. */
  CU_ASSERT_EQUAL(m.nparams, 272474);
  CU_ASSERT_EQUAL(m.nstates, 42);
  CU_ASSERT_EQUAL(m.nstate, 2 * (7 * 16 + 7 * 32 + 7 * 64));
  const tq_layer *last = &m.layers[m.nlayers - 1];
  CU_ASSERT_EQUAL(last->in.c, 64);
  CU_ASSERT_EQUAL(m.layers[m.nlayers - 2].in.h, 8);
  /* about 41 MFLOP per image forward (multiply-add 2) */
  double mflop = tq_model_flops_per_sample(&m) / 1e6;
  CU_ASSERT(mflop > 80 && mflop < 84);
  float *p = malloc(m.nparams * sizeof *p);
  tq_model_init_params(&m, 1, p);
  /* batchnorm gamma starts at 1, beta at 0 */
  int bn1 = -1;
  for (int t = 0; t < m.ntensors; t++)
    if (!strcmp(m.tensors[t].name, "bn1.weight")) bn1 = t;
  CU_ASSERT_FATAL(bn1 >= 0);
  CU_ASSERT_EQUAL(p[m.tensors[bn1].offset], 1.0f);
  CU_ASSERT_EQUAL(p[m.tensors[bn1 + 1].offset], 0.0f);
  free(p);
}

static void test_bad_files(void) {
  tq_model m;
  tq_err e = {0};
  CU_ASSERT_EQUAL(tq_model_load("/nonexistent/model.cfg", &m, &e), TQ_EINPUT);
  CU_ASSERT(strstr(e.msg, "/nonexistent/model.cfg") != NULL);
  /* syntax error: file and line from libconfig */
  const char *path = tq_test_write_tmp("syntax.cfg", "name = \"x\";\nclasses = 3\ninput = {;\n");
  tq_err e2 = {0};
  CU_ASSERT_EQUAL(tq_model_load(path, &m, &e2), TQ_EINPUT);
  CU_ASSERT(strstr(e2.msg, path) != NULL);
  CU_ASSERT(strstr(e2.msg, ":3") != NULL);
  /* unknown top-level key */
  path = tq_test_write_tmp("top.cfg", "name = \"x\";\nclases = 3;\n");
  tq_err e3 = {0};
  CU_ASSERT_EQUAL(tq_model_load(path, &m, &e3), TQ_EINPUT);
  CU_ASSERT(strstr(e3.msg, "clases") != NULL && strstr(e3.msg, ":2") != NULL);
}

static void test_init_is_seeded_he(void) {
  tq_model m;
  tq_err e = {0};
  TQ_ASSERT_OK(tq_model_load(TQ_SOURCE_DIR "/models/mlp.cfg", &m, &e), &e);
  float *a = malloc(m.nparams * sizeof *a), *b = malloc(m.nparams * sizeof *b);
  tq_model_init_params(&m, 5, a);
  tq_model_init_params(&m, 5, b);
  CU_ASSERT(memcmp(a, b, m.nparams * sizeof *a) == 0);
  tq_model_init_params(&m, 6, b);
  CU_ASSERT(memcmp(a, b, m.nparams * sizeof *a) != 0);
  /* fc1.weight: 256 x 784, std sqrt(2/784) = 0.0505; 200k samples give 0.2 % precision. */
  const tq_tensor *w = &m.tensors[0];
  double s2 = 0, mean = 0;
  for (size_t i = 0; i < w->count; i++) mean += a[w->offset + i];
  mean /= (double)w->count;
  for (size_t i = 0; i < w->count; i++) s2 += (a[w->offset + i] - mean) * (a[w->offset + i] - mean);
  double sd = sqrt(s2 / (double)w->count);
  CU_ASSERT(fabs(sd - sqrt(2.0 / 784)) < 0.01 * sqrt(2.0 / 784));
  CU_ASSERT(fabs(mean) < 0.001);
  /* biases start at zero */
  for (size_t i = 0; i < m.tensors[1].count; i++) CU_ASSERT_EQUAL(a[m.tensors[1].offset + i], 0.0f);
  free(a);
  free(b);
}

/* Every layer kind has its row of operations (nn/layer.c) and of reference (nn_ref.c), and its
 * name parses back to it. */
static void test_every_kind_has_ops(void) {
  for (int k = 0; k < TQ_LAYER_KINDS; k++) {
    const tq_layer_ops *ops = tq_layer_ops_of((tq_layer_kind)k);
    CU_ASSERT_STRING_NOT_EQUAL(ops->name, "?");
    CU_ASSERT_PTR_NOT_NULL(ops->keys);
    tq_layer_kind back;
    CU_ASSERT(tq_layer_kind_named(ops->name, &back) && back == (tq_layer_kind)k);
    CU_ASSERT(ref_has_kind((tq_layer_kind)k));
  }
  CU_ASSERT_STRING_EQUAL(tq_layer_kind_name(TQ_LAYER_KINDS), "?");
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"shipped models: parameter counts and tensor table", test_shipped_models},
      {"bad model definitions name file, line and key", test_bad_models},
      {"missing file, syntax error, unknown top-level key", test_bad_files},
      {"residual syntax: names, references, add shapes", test_residual_syntax},
      {"resnet20: parameters, running statistics, shapes", test_resnet20},
      {"seeded He initialisation", test_init_is_seeded_he},
      {"every layer kind has its operations and its reference", test_every_kind_has_ops},
      {NULL, NULL}};
  tq_test_add_suite("model files", cases);
  return tq_test_run();
}
