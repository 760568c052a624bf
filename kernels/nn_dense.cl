/* Dense-layer helpers around the GEMMs: y[B][O] = x[B][I] W[O][I]^T + b[O]. */

/* y[b][o] += bias[o] */
__kernel void nn_add_bias_cols(__global float *y, uint y_off, __global const float *params,
                               uint bias_off, uint B, uint O) {
  uint gid = get_global_id(0);
  if (gid >= B * O) return;
  y[y_off + gid] += params[bias_off + gid % O];
}

/* grads[db_off + o] = sum_b dy[b][o] */
__kernel void nn_col_sums(__global const float *dy, uint dy_off, uint B, uint O,
                          __global float *grads, uint db_off) {
  uint o = get_global_id(0);
  if (o >= O) return;
  float acc = 0.0f;
  for (uint b = 0; b < B; b++) acc += dy[dy_off + b * O + o];
  grads[db_off + o] = acc;
}
