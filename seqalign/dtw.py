"""Soft-DTW and GTA's smoothed DTW on an anti-diagonal wavefront.

Both fill a table R [N, M] over a cost matrix C [N, M] (0-indexed cells):

    R[i, j] = C[i, j] + combine(R[i-1, j], R[i, j-1], R[i-1, j-1])

with R[-1, -1] = 0 and every other cell outside the table at infinity
(represented by `_FAR`, a large finite number, so that gradients stay finite).
The cells of one anti-diagonal (i + j = d) depend only on the two previous
anti-diagonals, so the table is computed in N + M - 1 vectorised steps of a
`tf.scan`, every cell of a diagonal (and every pair of the batch) at once.
Gradients come from automatic differentiation through the scan.

  soft-DTW:     combine = softmin_gamma(a, b, c) = -gamma log sum exp(-x / gamma)
  smoothed DTW: combine = sum_k softmax(-x / gamma)_k x_k  (GTA, "dtw_prob")
"""

import tensorflow as tf

# Stands for +infinity outside the table. exp(-_FAR / gamma) is exactly 0 in
# float32 for any gamma below ~1e8, and it times a zero weight is zero.
_FAR = 1e10


def _softmin(up, left, diag, gamma):
  """-gamma * log(exp(-up/g) + exp(-left/g) + exp(-diag/g)), elementwise."""
  stacked = tf.stack([up, left, diag], axis=0)
  return -gamma * tf.reduce_logsumexp(-stacked / gamma, axis=0)


def _softmin_weighted_mean(up, left, diag, gamma):
  """sum_k w_k x_k with w = softmax(-x / gamma) over the three neighbours."""
  stacked = tf.stack([up, left, diag], axis=0)
  weights = tf.nn.softmax(-stacked / gamma, axis=0)
  return tf.reduce_sum(weights * stacked, axis=0)


def _skew(costs):
  """costs [B, N, M] -> (diagonals [N+M-1, B, N], valid [N+M-1, N]).

  diagonals[d, b, i] = costs[b, i, d - i] where 0 <= d - i < M.
  """
  num_rows, num_cols = tf.shape(costs)[1], tf.shape(costs)[2]
  num_diags = num_rows + num_cols - 1
  rows = tf.range(num_rows)[None, :]                   # [1, N]
  cols = tf.range(num_diags)[:, None] - rows           # [D, N]
  valid = tf.logical_and(cols >= 0, cols < num_cols)
  by_row = tf.transpose(costs, [1, 2, 0])              # [N, M, B]
  gathered = tf.gather(by_row, tf.transpose(tf.clip_by_value(
      cols, 0, num_cols - 1)), axis=1, batch_dims=1)   # [N, D, B]
  return tf.transpose(gathered, [1, 2, 0]), valid


def _unskew(diagonals, num_cols):
  """diagonals [N+M-1, B, N] -> table [B, N, M]: table[b, i, j] = diag[i+j, b, i]."""
  num_rows = tf.shape(diagonals)[2]
  index = tf.range(num_rows)[:, None] + tf.range(num_cols)[None, :]  # [N, M]
  by_row = tf.transpose(diagonals, [2, 0, 1])           # [N, D, B]
  table = tf.gather(by_row, index, axis=1, batch_dims=1)  # [N, M, B]
  return tf.transpose(table, [2, 0, 1])


def dtw_table(costs, gamma, combine):
  """The full recursion table R of a batch of cost matrices.

  Args:
    costs: float [B, N, M].
    gamma: smoothing (> 0), Python float or scalar tensor.
    combine: 'softmin' (soft-DTW) or 'softmin_weighted_mean' (GTA).

  Returns:
    R: [B, N, M], same dtype as `costs`; R[:, N-1, M-1] is the alignment cost.
  """
  costs = tf.convert_to_tensor(costs)
  if costs.shape.rank != 3:
    raise ValueError('costs must be [B, N, M], got shape %s.' % costs.shape)
  if combine == 'softmin':
    combine_fn = _softmin
  elif combine == 'softmin_weighted_mean':
    combine_fn = _softmin_weighted_mean
  else:
    raise ValueError("combine must be 'softmin' or 'softmin_weighted_mean', "
                     'got %r.' % combine)
  gamma = tf.cast(gamma, costs.dtype)
  diagonals, valid = _skew(costs)
  batch, num_rows = tf.shape(costs)[0], tf.shape(costs)[1]
  far = tf.cast(_FAR, costs.dtype)
  # Diagonals are stored with one leading entry for row i = -1.
  far_column = tf.fill([batch, 1], far)
  prev1 = tf.fill([batch, num_rows + 1], far)                     # d = -1
  prev2 = tf.concat([tf.zeros([batch, 1], costs.dtype),
                     tf.fill([batch, num_rows], far)], axis=1)    # d = -2

  def step(state, inputs):
    prev1, prev2 = state
    diag_costs, diag_valid = inputs
    up = prev1[:, :-1]     # R[i-1, j]   on diagonal d-1
    left = prev1[:, 1:]    # R[i, j-1]   on diagonal d-1
    corner = prev2[:, :-1]  # R[i-1, j-1] on diagonal d-2
    value = diag_costs + combine_fn(up, left, corner, gamma)
    value = tf.where(diag_valid[None, :], value, far)
    return tf.concat([far_column, value], axis=1), prev1

  padded, _ = tf.scan(step, (diagonals, valid), initializer=(prev1, prev2))
  return _unskew(padded[:, :, 1:], tf.shape(costs)[2])


def _final_cell(costs, gamma, combine):
  costs = tf.convert_to_tensor(costs)
  single = costs.shape.rank == 2
  if single:
    costs = costs[None]
  table = dtw_table(costs, gamma, combine)
  value = table[:, -1, -1]
  return value[0] if single else value


def soft_dtw(costs, gamma):
  """Soft-DTW value of each cost matrix (Cuturi and Blondel, 2017).

  R[i, j] = C[i, j] + softmin_gamma(R[i-1, j], R[i, j-1], R[i-1, j-1]),
  softmin_gamma(x) = -gamma log sum_k exp(-x_k / gamma), R[-1, -1] = 0, other
  borders +inf; the value is R[N-1, M-1]. Differentiable: the gradient with
  respect to `costs` is the expected alignment matrix.

  Args:
    costs: float [B, N, M] (or [N, M]) pairwise costs, e.g. squared
      Euclidean distances between the frames of two sequences.
    gamma: smoothing > 0 (0.1 in LAV).

  Returns:
    float [B] (or scalar for a [N, M] input).
  """
  return _final_cell(costs, gamma, 'softmin')


def smoothed_dtw(costs, gamma):
  """GTA's smoothed DTW value of each cost matrix (Hadji et al., 2021).

  R[i, j] = C[i, j] + sum_k w_k x_k over the neighbours
  x = (R[i-1, j], R[i, j-1], R[i-1, j-1]), w = softmax(-x / gamma);
  R[-1, -1] = 0, other borders +inf; the value is R[N-1, M-1].

  Args:
    costs: float [B, N, M] (or [N, M]).
    gamma: smoothing > 0 (0.1 in GTA).

  Returns:
    float [B] (or scalar for a [N, M] input).
  """
  return _final_cell(costs, gamma, 'softmin_weighted_mean')


def squared_distances(x, y):
  """x [B, N, D], y [B, M, D] -> squared Euclidean distances [B, N, M]."""
  x2 = tf.reduce_sum(tf.square(x), axis=-1)[:, :, None]
  y2 = tf.reduce_sum(tf.square(y), axis=-1)[:, None, :]
  return tf.maximum(x2 + y2 - 2.0 * tf.matmul(x, y, transpose_b=True), 0.0)
