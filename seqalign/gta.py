"""GTA: global temporal alignment and cycle-consistency (Hadji et al., CVPR 2021).

For sequences X [N, D] and Y [M, D] (L2-normalised embeddings):

  cost     C_xy[i, j] = -log softmax_i(x_i . y_j / gamma_f)   (over the frames
           of X, for each frame of Y, as the official code's axis 0)
  table    R_xy = smoothed DTW of C_xy (see `seqalign.dtw.smoothed_dtw`)
  alignment A_xy[i, j] = softmax_i(-R_xy[i, j])                [N, M]
  cycle    P = (A_xy A_yx)^T  [N, N], rows summing to 1, A_yx from R_yx of C_yx
  loss     CE(I, P) + 0.1 R_xy[N-1, M-1] + 0.1 R_yx[M-1, N-1]

The official code feeds P to a softmax cross-entropy as logits (Keras
`categorical_crossentropy(from_logits=True, label_smoothing=0.1)`); this is
kept, so CE(I, P) = mean_k -sum_l t_kl log softmax(P_k)_l with targets
t = I (1 - eps) + eps / N. Defaults gamma = gamma_f = 0.1, eps = 0.1.
"""

import tensorflow as tf

from seqalign import dtw


def gta_costs(embs_x, embs_y, cost_temperature):
  """C[b, i, j] = -log softmax over i of embs_x[b, i] . embs_y[b, j] / gamma_f.

  Args:
    embs_x: float [B, N, D]; embs_y: float [B, M, D].
    cost_temperature: gamma_f.

  Returns:
    [B, N, M].
  """
  similarities = tf.matmul(embs_x, embs_y, transpose_b=True)
  return -tf.nn.log_softmax(similarities / cost_temperature, axis=1)


def soft_alignment(table):
  """A[b, i, j] = softmax over i of -table[b, i, j] ([B, N, M], columns sum 1)."""
  return tf.nn.softmax(-table, axis=1)


def cycle_matrix(embs_x, embs_y, gamma, cost_temperature):
  """The X -> Y -> X soft cycle and the two alignment costs.

  Args:
    embs_x: float [B, N, D]; embs_y: float [B, M, D].
    gamma: smoothing of the smoothed DTW.
    cost_temperature: gamma_f of `gta_costs`.

  Returns:
    (cycle [B, N, N] with rows summing to 1, cost_xy [B], cost_yx [B]).
  """
  table_xy = dtw.dtw_table(gta_costs(embs_x, embs_y, cost_temperature), gamma,
                           'softmin_weighted_mean')
  table_yx = dtw.dtw_table(gta_costs(embs_y, embs_x, cost_temperature), gamma,
                           'softmin_weighted_mean')
  cycle = tf.matmul(soft_alignment(table_xy), soft_alignment(table_yx))
  return (tf.transpose(cycle, [0, 2, 1]), table_xy[:, -1, -1],
          table_yx[:, -1, -1])


def gta_loss(embs_x, embs_y, gamma=0.1, cost_temperature=0.1,
             label_smoothing=0.1, alignment_weight=0.1):
  """GTA loss of B pairs of sequences.

  Args:
    embs_x: float [B, N, D]; embs_y: float [B, M, D] (L2-normalised).
    gamma: smoothed-DTW smoothing.
    cost_temperature: gamma_f of the cost softmax.
    label_smoothing: eps of the cycle cross-entropy.
    alignment_weight: weight of each mean alignment cost (0.1).

  Returns:
    (loss, cycle_loss, alignment_cost) scalars: loss = cycle_loss +
    alignment_weight * (mean cost_xy + mean cost_yx); alignment_cost is
    mean cost_xy + mean cost_yx.
  """
  embs_x = tf.convert_to_tensor(embs_x)
  embs_y = tf.convert_to_tensor(embs_y, embs_x.dtype)
  cycle, cost_xy, cost_yx = cycle_matrix(embs_x, embs_y, gamma,
                                         cost_temperature)
  num_frames = tf.cast(tf.shape(cycle)[-1], cycle.dtype)
  targets = (tf.eye(tf.shape(cycle)[-1], dtype=cycle.dtype) *
             (1.0 - label_smoothing) + label_smoothing / num_frames)
  cycle_loss = tf.reduce_mean(
      -tf.reduce_sum(targets * tf.nn.log_softmax(cycle, axis=-1), axis=-1))
  alignment_cost = tf.reduce_mean(cost_xy) + tf.reduce_mean(cost_yx)
  return (cycle_loss + alignment_weight * alignment_cost, cycle_loss,
          alignment_cost)
