/* A model replica on one device: the flat parameter, gradient and momentum buffers, every
 * layer's activations, scratch space and this replica's own kernel objects. One per worker
 * thread; a replica is never shared between threads.
 *
 * Buffers, for batch B and layer i with per-sample output size S_i:
 *   params, grads, momentum  [nparams]           flat, views given by model->tensors
 *   input                    [B][C][H][W]        normalised images
 *   labels                   [B] int
 *   act[i], dact[i]          [B][S_i]            output of layer i and the loss gradient
 *   col[i] (conv)            [C*kh*kw][B*OH*OW]  kept from forward for the weight gradient
 *   argmax[i] (maxpool)      [B][S_i] int        flat input index of each maximum
 */
#ifndef TQ_NN_NET_H
#define TQ_NN_NET_H

#include <stdbool.h>

#include "cl/cl_runtime.h"
#include "nn/model.h"

typedef struct tq_net_kernels {
  cl_kernel im2col, col2im, knp_to_nchw_bias, nchw_to_knp, row_sums;
  cl_kernel add_bias_cols, col_sums;
  cl_kernel relu_fwd, relu_bwd, maxpool_fwd, maxpool_bwd, dropout_fwd, dropout_bwd;
  cl_kernel softmax_xent, sgd;
} tq_net_kernels;

typedef struct tq_net {
  const tq_model *model;
  tq_cl cl; /* a copy: its queue may be this replica's own */
  int batch;
  uint32_t seed, worker; /* dropout stream */
  cl_mem params, grads, momentum;
  cl_mem input, labels;
  cl_mem act[TQ_MAX_LAYERS], dact[TQ_MAX_LAYERS], aux[TQ_MAX_LAYERS];
  cl_mem scratch;  /* conv GEMM output / gradient in [K][B*P] layout, sized for the largest */
  cl_mem loss, correct;        /* [B] float, [B] int */
  float *host_loss;
  int *host_correct;
  tq_net_kernels k;
} tq_net;

/* Allocates every buffer and kernel for batch size `batch` on cl's device. Parameters are
 * initialised from `seed` (tq_model_init_params) and momentum is zero. */
tq_status tq_net_create(tq_net *n, const tq_model *m, const tq_cl *cl, int batch, uint32_t seed,
                        uint32_t worker, tq_err *e);
void tq_net_destroy(tq_net *n);

/* Uploads `count` <= batch samples (x: count*C*H*W floats, y: count labels). Rows past count
 * are zero and are ignored by the loss. */
tq_status tq_net_set_batch(tq_net *n, const float *x, const int *y, int count, tq_err *e);

/* Queues the forward pass and the loss for the current batch (train: dropout on). */
tq_status tq_net_forward(tq_net *n, bool train, uint32_t iteration, tq_err *e);

/* Queues the backward pass: grads = d(mean loss over the count real samples)/d(params). */
tq_status tq_net_backward(tq_net *n, uint32_t iteration, tq_err *e);

/* Reads back the summed loss and number of correct predictions over the real samples; this
 * is the one synchronisation point of a step. */
tq_status tq_net_read_loss(tq_net *n, int count, double *loss_sum, int *correct, tq_err *e);

/* Queues one SGD step over the flat buffers (torch semantics, see kernels/nn_loss_optim.cl). */
tq_status tq_net_sgd(tq_net *n, float lr, float momentum, float weight_decay, tq_err *e);

/* The layer input and output buffers (the network input for layer 0). */
cl_mem tq_net_layer_input(const tq_net *n, int layer);
cl_mem tq_net_layer_dinput(const tq_net *n, int layer);

/* Per-layer passes, one file per layer kind (layer_*.c). need_dx is false for the first layer,
 * whose input gradient nobody reads. */
tq_status tq_conv2d_forward(tq_net *n, int li, tq_err *e);
tq_status tq_conv2d_backward(tq_net *n, int li, bool need_dx, tq_err *e);
tq_status tq_dense_forward(tq_net *n, int li, tq_err *e);
tq_status tq_dense_backward(tq_net *n, int li, bool need_dx, tq_err *e);
tq_status tq_maxpool_forward(tq_net *n, int li, tq_err *e);
tq_status tq_maxpool_backward(tq_net *n, int li, tq_err *e);
tq_status tq_relu_forward(tq_net *n, int li, tq_err *e);
tq_status tq_relu_backward(tq_net *n, int li, tq_err *e);
tq_status tq_dropout_forward(tq_net *n, int li, bool train, uint32_t iteration, tq_err *e);
tq_status tq_dropout_backward(tq_net *n, int li, uint32_t iteration, tq_err *e);
tq_status tq_softmax_xent(tq_net *n, int count, tq_err *e);

#endif
