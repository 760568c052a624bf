/* Plain-C reference of every layer, in double precision, for the tests: device results are
 * compared with these, and finite differences of ref_net's loss (grads NULL) check both the
 * reference's and the device's gradients.
 * Same layouts as the device (NCHW, weights [K][C][kh][kw] and [O][I]). Not fast; not part
 * of the program: it is built into the tests' support library only (tests/CMakeLists.txt).
 * ref_net dispatches through a table of one row per layer kind (nn_ref.c), beside the device's
 * table of layer operations (host/nn/layer.h). */
#ifndef TQ_NN_REF_H
#define TQ_NN_REF_H

#include <stdbool.h>
#include <stdint.h>

#include "nn/layer.h"

/* x [B][C][H][W], w [K][C][ks][ks], b [K] -> y [B][K][OH][OW] */
void ref_conv2d_fwd(const double *x, const double *w, const double *b, int B, int C, int H, int W,
                    int K, int ks, int S, int P, int OH, int OW, double *y);
/* dy [B][K][OH][OW] -> dx (may be NULL), dw, db (overwritten) */
void ref_conv2d_bwd(const double *x, const double *w, const double *dy, int B, int C, int H,
                    int W, int K, int ks, int S, int P, int OH, int OW, double *dx, double *dw,
                    double *db);
/* x [B][I], w [O][I], b [O] -> y [B][O] */
void ref_dense_fwd(const double *x, const double *w, const double *b, int B, int I, int O,
                   double *y);
void ref_dense_bwd(const double *x, const double *w, const double *dy, int B, int I, int O,
                   double *dx, double *dw, double *db);
/* x [BC][H][W] -> y [BC][OH][OW]; arg holds the flat index of each window's first maximum */
void ref_maxpool_fwd(const double *x, int BC, int H, int W, int size, int stride, int OH, int OW,
                     double *y, int *arg);
void ref_maxpool_bwd(const double *dy, const int *arg, int BC, int H, int W, int OH, int OW,
                     double *dx);
/* dropout keeps element i when u >= p, with u drawn exactly as the kernel draws it */
void ref_dropout(const double *x, long n, float p, uint32_t seed, uint32_t worker,
                 uint32_t iteration, uint32_t layer, double *y);
/* logits [B][C], labels [B]; rows >= count ignored. Returns the summed loss; dz [B][C] is the
 * gradient of the mean loss over count rows. */
double ref_softmax_xent(const double *z, const int *labels, int B, int C, int count, double *dz,
                        int *correct);

/* batchnorm over x [B][C][HW] with the statistics of the first count samples (train) or the
 * given running mean and variance (rm, rv non-NULL: evaluation); y for all B samples. */
void ref_batchnorm_fwd(const double *x, const double *gamma, const double *beta, int B, int C,
                       int HW, int count, double eps, const double *rm, const double *rv,
                       double *y);
/* The training-mode backward: dx (may be NULL; 0 for samples >= count), dgamma, dbeta. */
void ref_batchnorm_bwd(const double *x, const double *gamma, const double *dy, int B, int C,
                       int HW, int count, double eps, double *dx, double *dgamma, double *dbeta);
/* The batch mean and unbiased variance of each channel over count samples (the running
 * statistics' update: running = (1 - momentum) running + momentum batch). */
void ref_batchnorm_stats(const double *x, int C, int HW, int count, double *mean, double *var_unbiased);

/* The whole network (training mode: batchnorm on batch statistics): forward, loss, and (if
 * grads != NULL) the parameter gradients of the mean loss. acts/dacts, if non-NULL, receive
 * every layer's output and output gradient (arrays of nlayers pointers, each sized batch * out
 * size). Returns the summed loss. */
double ref_net(const tq_model *m, const double *params, const double *x, const int *labels,
               int batch, int count, uint32_t seed, uint32_t worker, uint32_t iteration,
               double *grads, double **acts, double **dacts);

/* Whether the reference has a row for layer kind k (every kind must). */
bool ref_has_kind(tq_layer_kind k);

#endif
