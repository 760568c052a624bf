/* A network's architecture: layers, shapes and the table of named parameter tensors inside
 * one flat parameter buffer (llm.c style). Host-only and immutable once built; device state
 * (buffers, kernels) lives in tq_net, one per replica. */
#ifndef TQ_NN_MODEL_H
#define TQ_NN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define TQ_MAX_LAYERS 128
#define TQ_MAX_TENSORS (2 * TQ_MAX_LAYERS)
/* Running statistics: two per batchnorm layer (mean, variance). */
#define TQ_MAX_STATES (2 * TQ_MAX_LAYERS)
#define TQ_LAYER_NAME_MAX 31

typedef enum tq_layer_kind {
  TQ_LAYER_CONV2D,
  TQ_LAYER_MAXPOOL,
  TQ_LAYER_RELU,
  TQ_LAYER_DENSE,
  TQ_LAYER_DROPOUT,
  TQ_LAYER_FLATTEN,
  TQ_LAYER_BATCHNORM,
  TQ_LAYER_ADD,
  TQ_LAYER_AVGPOOL,
  TQ_LAYER_KINDS /* how many there are (nn/layer.c has one row of operations for each) */
} tq_layer_kind;

/* Per-sample activation shape; dense outputs are c x 1 x 1. */
typedef struct tq_shape {
  int c, h, w;
} tq_shape;

static inline size_t tq_shape_size(tq_shape s) { return (size_t)s.c * s.h * s.w; }

typedef struct tq_layer {
  tq_layer_kind kind;
  tq_shape in, out;
  int size, stride, pad; /* conv2d, maxpool */
  int units;             /* conv2d filters, dense outputs */
  float drop_p;          /* dropout */
  int w_tensor, b_tensor; /* indices into the tensor table, -1 if none (batchnorm: gamma,
                             beta; conv2d with bias = false: no b_tensor) */
  bool no_bias;           /* conv2d: bias = false */
  int line;               /* line in the model file, for messages */
  /* The graph. Layers run in file order; a layer reads the previous layer's output unless
   * `input = "NAME"` names an earlier one, and `add` also reads the layer named by `from`.
   * in_ref and from_ref (set by the loader, or by hand) are 1 + the layer index named, 0 for
   * the default (in) or none (from); tq_model_finish resolves them into src and from. */
  char name[TQ_LAYER_NAME_MAX + 1];
  int in_ref, from_ref;
  int src;   /* the input: a layer index, or -1 for the network input */
  int from;  /* add: the second operand's layer index (-1 for the network input) */
  int uses;  /* how many inputs of later layers read this layer's output (src and from) */
  int state_off; /* batchnorm: running mean at state_off, running variance at state_off + C */
  float bn_momentum, bn_eps; /* batchnorm (0.1 and 1e-5 by default, as PyTorch) */
} tq_layer;

/* A named view into the flat parameter (and gradient) buffer. */
typedef struct tq_tensor {
  char name[48];   /* "conv1.weight" */
  size_t offset;   /* in elements */
  size_t count;
  int dims[4];     /* shape, unused dims 0; weights [K][C][kh][kw] or [O][I] */
  int ndims;
  int fan_in;      /* He initialisation N(0, 2/fan_in) if > 0; 0: zeros (biases, beta);
                      -1: ones (batchnorm gamma, running variance) */
} tq_tensor;

typedef struct tq_model {
  char name[64];
  char path[1024]; /* = TQ_PATH_MAX: any model.file fits */
  tq_shape input;
  int classes;
  int nlayers;
  tq_layer layers[TQ_MAX_LAYERS];
  int ntensors;
  tq_tensor tensors[TQ_MAX_TENSORS];
  size_t nparams;
  /* State that is not trained by gradients: batchnorm running statistics ("bn1.running_mean",
   * "bn1.running_var", ...), views into one flat state buffer of nstate floats. */
  int nstates;
  tq_tensor states[TQ_MAX_STATES];
  size_t nstate;
} tq_model;

/* Loads a libconfig model file (see docs/models.md). Errors name the file, the line and the
 * key; a model whose shapes do not fit (a pool larger than its input, a dense layer after an
 * unflattened image, ...) is rejected with the layer's line. */
tq_status tq_model_load(const char *path, tq_model *m, tq_err *e);

/* Builds the shapes and tensor table of m->layers (kinds and hyper-parameters already set). */
tq_status tq_model_finish(tq_model *m, tq_err *e);

/* The kind's name as model files spell it ("conv2d"); "?" for a value outside the enum. */
const char *tq_layer_kind_name(tq_layer_kind k);

/* Seeded He initialisation into host memory (nparams floats): weights N(0, 2/fan_in) drawn
 * from the Philox stream (seed, domain INIT), biases 0. Same seed, same parameters, anywhere. */
void tq_model_init_params(const tq_model *m, uint32_t seed, float *params);

/* The initial running statistics (nstate floats): means 0, variances 1. */
void tq_model_init_state(const tq_model *m, float *state);

/* Forward FLOPs per sample (multiply-adds count 2), for throughput reports. */
double tq_model_flops_per_sample(const tq_model *m);

#endif
