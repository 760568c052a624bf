/* Softmax cross-entropy over logits[B][C] and the SGD step. */

/* Rows b < count are real samples; rows beyond (padding of a last, short batch) give no loss
 * and no gradient. dlogits = (softmax - onehot) / count, the gradient of the mean loss. */
__kernel void nn_softmax_xent(__global const float *logits, __global const int *labels, uint B,
                              uint C, uint count, __global float *loss, __global int *correct,
                              __global float *dlogits) {
  uint b = get_global_id(0);
  if (b >= B) return;
  __global const float *z = logits + b * C;
  __global float *dz = dlogits + b * C;
  if (b >= count) {
    for (uint c = 0; c < C; c++) dz[c] = 0.0f;
    loss[b] = 0.0f;
    correct[b] = 0;
    return;
  }
  float m = z[0];
  uint am = 0;
  for (uint c = 1; c < C; c++)
    if (z[c] > m) {
      m = z[c];
      am = c;
    }
  float s = 0.0f;
  for (uint c = 0; c < C; c++) s += exp(z[c] - m);
  int y = labels[b];
  float inv = 1.0f / (float)count;
  for (uint c = 0; c < C; c++) dz[c] = (exp(z[c] - m) / s - (c == (uint)y ? 1.0f : 0.0f)) * inv;
  loss[b] = log(s) + m - z[y];
  correct[b] = am == (uint)y;
}

/* PyTorch's SGD: d = g + wd*theta; m = mu*m + d; theta -= lr*m. With m starting at 0 the first
 * step gives m = d, as torch does. */
__kernel void nn_sgd(__global float *theta, __global const float *grad, __global float *mom, uint n,
                     float lr, float mu, float wd) {
  uint i = get_global_id(0);
  if (i >= n) return;
  float d = grad[i] + wd * theta[i];
  float m = mu * mom[i] + d;
  mom[i] = m;
  theta[i] -= lr * m;
}
