/* A model replica on one device: the flat parameter, gradient and momentum buffers, every
 * layer's activations, scratch space and this replica's own kernel objects. One per worker
 * thread; a replica is never shared between threads.
 *
 * Buffers, for batch B and layer i with per-sample output size S_i:
 *   params, grads, momentum  [nparams]           flat, views given by model->tensors
 *   input                    [B][C][H][W]        normalised images
 *   labels                   [B] int
 *   act[i], dact[i]          [B][S_i]            output of layer i and the loss gradient
 *   col[i] (conv2d)          [C*kh*kw][B*OH*OW]  kept from forward for the weight gradient
 *   argmax[i] (maxpool)      [B][S_i] int        flat input index of each maximum
 *   bn_stat[i] (batchnorm)   [4C]                mean, 1/std, and the backward's channel sums
 *   scratch                  [K][B*OH*OW]        conv GEMM output / gradient, the largest
 *   dtmp                     the largest input   a shared input's gradient (below)
 *   state                    [nstate]            running means and variances (batch
 *                                                statistics in training forwards move them;
 *                                                evaluation forwards use them)
 * Which buffers, and their sizes, come from one plan (memory.h: tq_net_plan_make, from each
 * layer kind's buffers and shares_input ops, layer.h); tq_net_create allocates exactly it.
 *
 * A ReLU layer right after a conv2d or dense layer shares that layer's act and dact buffers
 * (like flatten), so after the forward pass act[i] of such a layer holds the ReLU's output, and
 * dact[i] the gradient after the ReLU's backward. With fuse_relu (the default) the ReLU runs
 * inside the layer's kernels (conv: bias scatter and dY gather; dense: bias add); without it
 * the ReLU kernels run in place. tq_net_relu_fused says which.
 *
 * A layer may read an earlier layer than the previous one (model.h: src, and add's from), so a
 * layer's output can have several readers. In the backward pass the last of them (the first to
 * run) writes dact of that layer and the others add to it: add through nn_grad_acc, any other
 * kind by writing its input gradient to dtmp first (then tq_net_add_dinput). Summation order
 * is the layer order: fixed. */
#ifndef TQ_NN_NET_H
#define TQ_NN_NET_H

#include <stdbool.h>

#include "cl/cl_runtime.h"
#include "nn/gemm.h"
#include "nn/model.h"

typedef struct tq_net_kernels {
  cl_kernel im2col, im2col_s1, col2im, col2im_k3s1, col2im_k5s1, knp_to_nchw_bias, nchw_to_knp, row_sums;
  cl_kernel add_bias_cols, col_sums;
  cl_kernel relu_fwd, relu_bwd, maxpool_fwd, maxpool_bwd, maxpool_fwd_2x2, maxpool_bwd_2x2;
  cl_kernel dropout_fwd, dropout_bwd;
  cl_kernel softmax_xent, sgd;
  cl_kernel bn_mean, bn_var, bn_eval_stat, bn_apply, bn_bwd_reduce, bn_bwd_dx;
  cl_kernel avgpool_fwd, avgpool_bwd, add_fwd, grad_acc;
} tq_net_kernels;

typedef struct tq_net {
  const tq_model *model;
  tq_cl cl; /* a copy: its queue may be this replica's own */
  int batch;
  uint32_t seed, worker; /* dropout stream */
  cl_mem params, grads, momentum;
  cl_mem input, labels;
  cl_mem act[TQ_MAX_LAYERS], dact[TQ_MAX_LAYERS];
  /* Each layer kind's own buffer (NULL for the other kinds), see above. */
  cl_mem col[TQ_MAX_LAYERS];     /* conv2d: im2col columns, floats */
  cl_mem argmax[TQ_MAX_LAYERS];  /* maxpool: argmax, ints */
  cl_mem bn_stat[TQ_MAX_LAYERS]; /* batchnorm: batch statistics, floats */
  cl_mem scratch;  /* conv GEMM output / gradient in [K][B*P] layout, sized for the largest */
  cl_mem loss, correct;        /* [B] float, [B] int */
  cl_mem state;    /* [nstate] running statistics (model->states), updated by training forwards */
  cl_mem dtmp;     /* a layer's input gradient when another layer also reads that input:
                      written here, then added to the input's dact (tq_net_grad_acc) */
  int count;       /* real samples of the current batch (set by tq_net_set_batch) */
  int first_use[TQ_MAX_LAYERS]; /* the last layer reading layer i's output: the first one in
                                   the backward pass, which writes dact[i]; the others add */
  float *host_loss;
  int *host_correct;
  tq_net_kernels k;
  tq_gemm gemm;   /* this device's GEMM routing and this replica's GEMM kernels */
  bool fuse_relu; /* true after tq_net_create; may be switched between steps */
} tq_net;

/* Whether layer li (conv2d or dense) is followed by a ReLU whose buffers it shares (always the
 * case for such a pair), and whether that ReLU currently runs fused into the layer. */
bool tq_net_relu_follows(const tq_net *n, int li);
bool tq_net_relu_fused(const tq_net *n, int li);

/* Allocates every buffer and kernel for batch size `batch` on cl's device. Parameters are
 * initialised from `seed` (tq_model_init_params) and momentum is zero. */
tq_status tq_net_create(tq_net *n, const tq_model *m, const tq_cl *cl, int batch, uint32_t seed,
                        uint32_t worker, tq_err *e);
void tq_net_destroy(tq_net *n);

/* Uploads `count` <= batch samples (x: count*C*H*W floats, y: count labels). Rows past count
 * are zero and are ignored by the loss. */
tq_status tq_net_set_batch(tq_net *n, const float *x, const int *y, int count, tq_err *e);

/* Queues the forward pass and the loss for the current batch (train: dropout on, batchnorm on
 * batch statistics, moving the running statistics; else batchnorm on the running ones). */
tq_status tq_net_forward(tq_net *n, bool train, uint32_t iteration, tq_err *e);

/* Queues the backward pass: grads = d(mean loss over the count real samples)/d(params). */
tq_status tq_net_backward(tq_net *n, uint32_t iteration, tq_err *e);

/* Reads back the summed loss and number of correct predictions over the real samples; this
 * is the one synchronisation point of a step. */
tq_status tq_net_read_loss(tq_net *n, int count, double *loss_sum, int *correct, tq_err *e);

/* Queues one SGD step over the flat buffers (torch semantics, see kernels/nn_loss_optim.cl). */
tq_status tq_net_sgd(tq_net *n, float lr, float momentum, float weight_decay, tq_err *e);

/* GEMM s (from the layer's gemms op, layer.h) on the replica's queue (gemm.h). */
tq_status tq_net_gemm(tq_net *n, const tq_gemm_shape *s, cl_mem A, size_t a_off, size_t lda,
                      cl_mem B, size_t b_off, size_t ldb, cl_mem C, size_t c_off, size_t ldc,
                      tq_err *e);

/* The layer input and output buffers (the network input for layer 0). */
cl_mem tq_net_layer_input(const tq_net *n, int layer);
cl_mem tq_net_layer_dinput(const tq_net *n, int layer);

/* After a layer's backward wrote tq_net_layer_dinput: when that was dtmp (the layer is not
 * its input's first reader in the backward pass), adds it into the input's gradient. */
tq_status tq_net_add_dinput(tq_net *n, int layer, tq_err *e);

/* The loss: softmax cross-entropy over the last layer's output, count real rows. */
tq_status tq_softmax_xent(tq_net *n, int count, tq_err *e);
/* dst = src (acc false) or dst += src, count floats. */
tq_status tq_net_grad_acc(tq_net *n, cl_mem dst, cl_mem src, size_t count, bool acc, tq_err *e);

/* For tests: every device buffer tq_net_create allocates calls hook(ctx, what, bytes) first.
 * Process-wide and unsynchronised: set it while no replica is being made. NULL: none. */
typedef void (*tq_net_alloc_hook)(void *ctx, const char *what, size_t bytes);
void tq_net_set_alloc_hook(tq_net_alloc_hook hook, void *ctx);

/* The running statistics (model->nstate floats), to and from the host. */
tq_status tq_net_read_state(tq_net *n, float *state, tq_err *e);
tq_status tq_net_write_state(tq_net *n, const float *state, tq_err *e);

#endif
