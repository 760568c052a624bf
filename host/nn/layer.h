/* One operations table per layer kind: everything the program knows about a kind is reached
 * through its tq_layer_ops, defined in the kind's own layer file (layer_conv2d.c,
 * layer_dense.c, layer_pool_act.c, layer_norm.c). model.c (parsing, shapes), net.c (buffers,
 * forward, backward), memory.c (the buffer plan) and gemm.c (the GEMM list) dispatch through
 * tq_layer_ops_of; none of them switches on the kind. The double-precision reference of each
 * kind, being test-only, has its own table beside it in tests/support/nn_ref.c.
 *
 * Adding a layer kind: a TQ_LAYER_* value (model.h), its ops in a layer file, one row in
 * layer.c's table, its kernels (kernels/nn_*.cl and make_kernels in net.c), its reference row
 * (tests/support/nn_ref.c) and a case in tests/test_layers.c; tests/test_model.c checks that
 * every kind has both rows. */
#ifndef TQ_NN_LAYER_H
#define TQ_NN_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/gemm.h"
#include "nn/net.h"
#include "util/cfg.h"

/* What a pass asks of a layer. */
typedef struct tq_pass {
  bool train;         /* forward: dropout on, batchnorm on batch statistics */
  bool need_dx;       /* backward: the input gradient is read (false for the first layer) */
  uint32_t iteration; /* the dropout stream's counter */
} tq_pass;

/* A device buffer a layer needs besides its activations and their gradients. */
typedef struct tq_layer_buffer {
  const char *what; /* for messages: "im2col columns" */
  size_t count;     /* elements; 0: none */
  size_t elem;      /* bytes per element */
  size_t field;     /* offsetof(tq_net, the cl_mem array it is kept in), indexed by layer */
} tq_layer_buffer;

typedef struct tq_layer_ops {
  const char *name;        /* the model file's type, and messages: "conv2d" */
  const char *const *keys; /* the keys a layer of this kind may have (NULL-terminated) */
  /* Reads the kind's hyper-parameters from its group s (keys already checked); NULL: none. */
  tq_status (*parse)(const config_setting_t *s, tq_layer *l, const char *file, tq_err *e);
  /* add: a second input, named by `from`; its backward adds its gradient into both inputs
   * itself rather than through tq_net_layer_dinput. */
  bool reads_from;
  /* Layer i's output shape into l->out from l->in (set), adding its tensors and states to m;
   * a shape that does not fit is TQ_EINPUT naming the layer's line. */
  tq_status (*shape)(tq_model *m, int i, tq_err *e);
  /* Once the whole graph is known (every layer's uses counted): a rule about layer i's readers
   * (flatten); NULL: none. */
  tq_status (*check)(const tq_model *m, int i, tq_err *e);
  /* Whether layer i's output and output gradient are its input's buffers (flatten, a view; a
   * ReLU right after a layer that fuses it): then it allocates none of its own. NULL: never. */
  bool (*shares_input)(const tq_model *m, int i);
  /* A ReLU right after a layer of this kind runs inside its forward kernels (fuses_relu) and
   * also inside its backward (fuses_relu_grad) when tq_net.fuse_relu is on. */
  bool fuses_relu, fuses_relu_grad;
  /* The layer's own device buffer at batch B (own->count 0: none) and the floats of the
   * shared scratch buffer it needs (0: none); NULL: neither. */
  void (*buffers)(const tq_model *m, int i, size_t B, tq_layer_buffer *own, size_t *scratch);
  /* Queue the passes. A backward that writes tq_net_layer_dinput ends with
   * tq_net_add_dinput. NULL: nothing to run (flatten). */
  tq_status (*forward)(tq_net *n, int i, const tq_pass *p, tq_err *e);
  tq_status (*backward)(tq_net *n, int i, const tq_pass *p, tq_err *e);
  /* The GEMM calls layer i makes for a batch of B, in pass order, into out (at most
   * TQ_LAYER_MAX_GEMMS); returns how many. The layer's passes issue exactly these (they take
   * their shapes from here), and tq_gemm_shapes lists them. NULL: none. */
  int (*gemms)(const tq_model *m, int i, size_t B, tq_gemm_shape *out);
  /* Forward FLOPs per sample (multiply-adds count 2); NULL: none counted. */
  double (*flops)(const tq_layer *l);
} tq_layer_ops;

const tq_layer_ops *tq_layer_ops_of(tq_layer_kind k);
/* The kind whose name is `type`; false if none. */
bool tq_layer_kind_named(const char *type, tq_layer_kind *out);
/* "conv2d, maxpool, ...": every kind's name in enum order, for messages. */
void tq_layer_kind_names(char *out, size_t cap);

extern const tq_layer_ops tq_conv2d_ops, tq_dense_ops, tq_maxpool_ops, tq_relu_ops,
    tq_dropout_ops, tq_flatten_ops, tq_batchnorm_ops, tq_add_ops, tq_avgpool_ops;

/* Helpers of the shape ops (model.c). */
int tq_model_add_tensor(tq_model *m, const char *name, const int *dims, int ndims, int fan_in);
int tq_model_add_state(tq_model *m, const char *name, int c, int fan_in);
/* 1 + how many layers before i are of layer i's kind: conv2d's "conv2", dense's "fc1". */
int tq_model_kind_index(const tq_model *m, int i);
/* "layer 7 'name' (kind, line 30)", or "the network input" for j < 0. */
void tq_model_layer_ref(const tq_model *m, int j, char *out, size_t cap);
/* TQ_EINPUT "FILE:LINE: layer I (KIND) with input CxHxW: why". */
tq_status tq_model_shape_error(const tq_model *m, int i, const char *why, tq_err *e);

/* Whether layer li (of a kind that fuses a ReLU) is followed by a ReLU reading only it, which
 * then shares its buffers (net.h). */
bool tq_model_relu_follows(const tq_model *m, int li);

/* Fills shape g: layer i's GEMM of this pass, named "<layer> <pass>". */
void tq_gemm_shape_set(tq_gemm_shape *g, const char *layer, int i, tq_gemm_pass pass, bool ta,
                       bool tb, size_t m, size_t n, size_t k);

#endif
