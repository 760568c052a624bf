/* The table of layer kinds: one row per tq_layer_kind, each kind's ops in its layer file. */
#include "nn/layer.h"

#include <stdio.h>
#include <string.h>

static const tq_layer_ops *const table[TQ_LAYER_KINDS] = {
    [TQ_LAYER_CONV2D] = &tq_conv2d_ops,       [TQ_LAYER_MAXPOOL] = &tq_maxpool_ops,
    [TQ_LAYER_RELU] = &tq_relu_ops,           [TQ_LAYER_DENSE] = &tq_dense_ops,
    [TQ_LAYER_DROPOUT] = &tq_dropout_ops,     [TQ_LAYER_FLATTEN] = &tq_flatten_ops,
    [TQ_LAYER_BATCHNORM] = &tq_batchnorm_ops, [TQ_LAYER_ADD] = &tq_add_ops,
    [TQ_LAYER_AVGPOOL] = &tq_avgpool_ops,
};

/* For a kind outside the enum (a corrupt tq_layer): named "?", does nothing. */
static const char *const no_keys[] = {NULL};
static const tq_layer_ops unknown = {.name = "?", .keys = no_keys};

const tq_layer_ops *tq_layer_ops_of(tq_layer_kind k) {
  return (unsigned)k < TQ_LAYER_KINDS && table[k] ? table[k] : &unknown;
}

const char *tq_layer_kind_name(tq_layer_kind k) { return tq_layer_ops_of(k)->name; }

bool tq_layer_kind_named(const char *type, tq_layer_kind *out) {
  for (int k = 0; k < TQ_LAYER_KINDS; k++)
    if (!strcmp(tq_layer_ops_of((tq_layer_kind)k)->name, type)) {
      *out = (tq_layer_kind)k;
      return true;
    }
  return false;
}

void tq_layer_kind_names(char *out, size_t cap) {
  size_t used = 0;
  out[0] = '\0';
  for (int k = 0; k < TQ_LAYER_KINDS && used < cap; k++)
    used += (size_t)snprintf(out + used, cap - used, "%s%s", k ? ", " : "",
                             tq_layer_ops_of((tq_layer_kind)k)->name);
}

bool tq_model_relu_follows(const tq_model *m, int li) {
  return li >= 0 && li + 1 < m->nlayers && m->layers[li + 1].kind == TQ_LAYER_RELU &&
         m->layers[li + 1].src == li && m->layers[li].uses == 1 &&
         tq_layer_ops_of(m->layers[li].kind)->fuses_relu;
}

void tq_gemm_shape_set(tq_gemm_shape *g, const char *layer, int i, tq_gemm_pass pass, bool ta,
                       bool tb, size_t m, size_t n, size_t k) {
  static const char *const pass_name[] = {"forward", "weight gradient", "input gradient"};
  snprintf(g->what, sizeof g->what, "%s %s", layer, pass_name[pass]);
  g->ta = ta;
  g->tb = tb;
  g->m = m;
  g->n = n;
  g->k = k;
  g->layer = i;
  g->pass = pass;
}
