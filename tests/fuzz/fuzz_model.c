/* libFuzzer target: the model-file loader (tq_model_load) on its own, through a file in a private
 * temporary folder (fuzz_tmp.h): libconfig text as the fuzzer writes it, including integers
 * beyond 32 bits, includes, duplicate keys and shapes that do not fit.
 *
 * Oracle beyond the sanitizers: a model that loads is consistent: its tensors tile the flat
 * parameter buffer exactly (offsets in order, no gap, no overlap), every count is the product of
 * its dimensions, the last layer is dense with `classes` units, and the FLOP count is finite. */
#include <math.h>
#include <stdlib.h>

#include "fuzz_tmp.h"
#include "nn/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = tq_fuzz_write("model.cfg", data, size);
  static tq_model m;
  tq_err e = {0};
  if (tq_model_load(path, &m, &e) != TQ_OK) {
    if (e.code == TQ_OK || !e.msg[0]) abort(); /* a failure always says why */
    return 0;
  }
  size_t off = 0;
  for (int t = 0; t < m.ntensors; t++) {
    const tq_tensor *tt = &m.tensors[t];
    size_t c = 1;
    for (int d = 0; d < tt->ndims; d++) c *= (size_t)tt->dims[d];
    if (tt->offset != off || tt->count != c || c == 0) abort();
    off += c;
  }
  if (off != m.nparams) abort();
  const tq_layer *last = &m.layers[m.nlayers - 1];
  if (last->kind != TQ_LAYER_DENSE || last->out.c != m.classes) abort();
  if (!isfinite(tq_model_flops_per_sample(&m))) abort();
  return 0;
}
