/* Dense-layer helpers around the GEMMs: y[B][O] = x[B][I] W[O][I]^T + b[O]. */

/* y[b][o] += bias[o], then max(., 0) when relu != 0 (a ReLU layer that follows is fused here).
 * get_global_id(0) = o, get_global_id(1) = b: no division per element. */
__kernel void nn_add_bias_cols(__global float *y, uint y_off, __global const float *params,
                               uint bias_off, uint B, uint O, uint relu) {
  uint o = get_global_id(0), b = get_global_id(1);
  if (o >= O) return;
  uint i = y_off + b * O + o;
  float v = y[i] + params[bias_off + o];
  y[i] = (relu != 0u && !(v > 0.0f)) ? 0.0f : v;
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
