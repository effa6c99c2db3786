"""Metric-learning losses of Time-Contrastive Networks (Sermanet et al., 2018).

The definitions follow the published TCN code, which used the n-pairs and the
semi-hard triplet losses of `tf.contrib.losses.metric_learning` and its own
single-view triplet loss:

- `npairs_loss`: softmax cross-entropy of the anchor/positive similarity
  matrix `A P^T` (pair k's target is positive k) plus
  `0.25 * reg_lambda * (mean ||a||^2 + mean ||p||^2)`.
- `triplet_semihard_loss`: on squared Euclidean distances d; for every
  (anchor a, positive p) pair (same label, a != p) the negative distance is
  the smallest d(a, n) over negatives n (other label) with d(a, n) > d(a, p)
  (semi-hard), or, when there is none, the largest d(a, n) over all
  negatives; loss = mean over pairs of max(0, margin + d(a, p) - d(a, n)).
- `singleview_tcn_loss`: the same mining with time-based positives
  (|t_a - t_p| <= pos_radius) and negatives (|t_a - t_n| > neg_radius).

An anchor without any negative (all frames of a short window lie within
neg_radius) uses the smallest distance of its row, which is 0 (its own
distance), exactly as the published masked maximum does. A batch without any
positive pair has loss 0 (the published division would give NaN).
"""

import tensorflow as tf


def npairs_loss(anchors, positives, reg_lambda):
  """N-pairs loss per video, averaged over the batch.

  Pair k of a video has label k, so the targets are the identity.

  Args:
    anchors: float [B, T, D] anchor embeddings.
    positives: float [B, T, D] embeddings of each anchor's positive.
    reg_lambda: weight of 0.25 * (mean ||a||^2 + mean ||p||^2).

  Returns:
    float32 scalar.
  """
  anchors = tf.cast(anchors, tf.float32)
  positives = tf.cast(positives, tf.float32)
  similarities = tf.einsum('btd,bsd->bts', anchors, positives)  # [B, T, T]
  num_pairs = tf.shape(anchors)[1]
  targets = tf.eye(num_pairs, batch_shape=[tf.shape(anchors)[0]])
  cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
      labels=targets, logits=similarities), axis=1)  # [B]
  regularization = 0.25 * reg_lambda * (
      tf.reduce_mean(tf.reduce_sum(tf.square(anchors), -1), axis=1) +
      tf.reduce_mean(tf.reduce_sum(tf.square(positives), -1), axis=1))
  return tf.reduce_mean(cross_entropy + regularization)


def pairwise_squared_distances(embeddings):
  """Squared Euclidean distances, clipped at 0, with an exact zero diagonal.

  Args:
    embeddings: float [N, D].

  Returns:
    float [N, N].
  """
  squared_norms = tf.reduce_sum(tf.square(embeddings), axis=1)
  distances = (squared_norms[:, None] + squared_norms[None, :] -
               2.0 * tf.matmul(embeddings, embeddings, transpose_b=True))
  distances = tf.maximum(distances, 0.0)
  num = tf.shape(embeddings)[0]
  return distances * (1.0 - tf.eye(num, dtype=distances.dtype))


def semihard_triplet_loss_from_masks(distances, positive_mask, negative_mask,
                                     margin):
  """Triplet loss with semi-hard negative mining on a distance matrix.

  Args:
    distances: float [N, N], d(a, x) in row a.
    positive_mask: bool [N, N], True where column p is a positive of anchor
      a (the diagonal must be False).
    negative_mask: bool [N, N], True where column n is a negative of a.
    margin: float triplet margin.

  Returns:
    scalar of the dtype of `distances`: mean over positive pairs of
    max(0, margin + d(a, p) - d_semihard(a, p)).
  """
  row_max = tf.reduce_max(distances, axis=1, keepdims=True)  # [N, 1]
  row_min = tf.reduce_min(distances, axis=1, keepdims=True)
  d_ap = distances[:, :, None]  # [a, p, 1]
  d_an = distances[:, None, :]  # [a, 1, n]
  # harder[a, p, n]: n is a negative of a farther from a than p is.
  harder = tf.logical_and(negative_mask[:, None, :], d_an > d_ap)
  has_semihard = tf.reduce_any(harder, axis=2)  # [a, p]
  semihard = tf.reduce_min(tf.where(harder, d_an, row_max[:, :, None]),
                           axis=2)
  hardest_easy = tf.reduce_max(tf.where(negative_mask, distances, row_min),
                               axis=1, keepdims=True)  # [a, 1]
  negative = tf.where(has_semihard, semihard,
                      tf.broadcast_to(hardest_easy, tf.shape(distances)))
  losses = tf.maximum(margin + distances - negative, 0.0)
  positive = tf.cast(positive_mask, distances.dtype)
  return tf.math.divide_no_nan(tf.reduce_sum(losses * positive),
                               tf.reduce_sum(positive))


def triplet_semihard_loss(labels, embeddings, margin=1.0):
  """Triplet loss with semi-hard negative mining over one batch.

  Positives of an anchor are the other embeddings with its label, negatives
  those with another label. The published multi-view TCN uses margin 0.2 on
  L2-normalised embeddings.

  Args:
    labels: int [N].
    embeddings: float [N, D].
    margin: float.

  Returns:
    scalar of the dtype of `embeddings`.
  """
  labels = tf.reshape(labels, [-1])
  same = tf.equal(labels[:, None], labels[None, :])
  num = tf.shape(labels)[0]
  not_self = tf.logical_not(tf.eye(num, dtype=tf.bool))
  return semihard_triplet_loss_from_masks(
      pairwise_squared_distances(embeddings), tf.logical_and(same, not_self),
      tf.logical_not(same), margin)


def singleview_tcn_loss(embeddings, timesteps, pos_radius, neg_radius,
                        margin=1.0, sequence_ids=None):
  """Single-view TCN triplet loss with semi-hard negative mining.

  Every embedding is an anchor. Its positives are the other embeddings with
  |t - t_a| <= pos_radius (of the same sequence), its negatives those with
  |t - t_a| > neg_radius or (with `sequence_ids`) of another sequence.

  Args:
    embeddings: float [N, D].
    timesteps: int [N] frame index of each embedding.
    pos_radius: int, positive window radius in frames.
    neg_radius: int > pos_radius, negatives lie farther than this.
    margin: float.
    sequence_ids: optional int [N]; frames of different sequences are
      negatives of each other.

  Returns:
    scalar of the dtype of `embeddings`.
  """
  if neg_radius <= pos_radius:
    raise ValueError('neg_radius (%d) must be larger than pos_radius (%d).' %
                     (neg_radius, pos_radius))
  timesteps = tf.reshape(tf.cast(timesteps, tf.int32), [-1])
  gap = tf.abs(timesteps[:, None] - timesteps[None, :])
  in_pos_range = gap <= pos_radius
  in_neg_range = gap > neg_radius
  if sequence_ids is not None:
    sequence_ids = tf.reshape(sequence_ids, [-1])
    same_sequence = tf.equal(sequence_ids[:, None], sequence_ids[None, :])
    in_pos_range = tf.logical_and(in_pos_range, same_sequence)
    in_neg_range = tf.logical_or(in_neg_range, tf.logical_not(same_sequence))
  num = tf.shape(timesteps)[0]
  not_self = tf.logical_not(tf.eye(num, dtype=tf.bool))
  return semihard_triplet_loss_from_masks(
      pairwise_squared_distances(embeddings),
      tf.logical_and(in_pos_range, not_self), in_neg_range, margin)
