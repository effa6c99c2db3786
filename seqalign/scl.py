"""SCL, the sequence contrastive loss of CARL (Chen et al., CVPR 2022).

Two augmented views of one video, each a sorted set of frames from its own
temporal crop. For frame i of view 1 (timestamp s_i, the frame index in the
original video of length L1) and frame j of view 2 (s_j, length L2):

    logits_ij = z_i . z_j / tau           (z L2-normalised)
    target_ij = g_ij / sum_j' g_ij',      g_ij = exp(-(s_i L2 / L1 - s_j)^2 / (2 sigma^2))

Loss: KL(target || softmax(logits)) over the frames of the other view, for
every frame of view 1 against view 2 and of view 2 against view 1, averaged
over all those rows. Defaults tau 0.1, sigma^2 10.

CARL's code takes log(softmax + 1e-6); here the exact log-softmax is used.
"""

import tensorflow as tf


def scl_targets(steps_from, steps_to, seq_lens_from, seq_lens_to, variance):
  """Gaussian temporal targets from the frames of one view to another's.

  Args:
    steps_from: [B, S1] frame indices (original video) of the query view.
    steps_to: [B, S2] frame indices of the other view.
    seq_lens_from, seq_lens_to: [B] lengths the indices refer to; the query
      timestamps are rescaled by seq_lens_to / seq_lens_from.
    variance: sigma^2 of the Gaussian, in frames^2.

  Returns:
    float32 [B, S1, S2], each row summing to 1 (a row whose weights all
    underflow is all zeros).
  """
  steps_from = tf.cast(steps_from, tf.float32)
  steps_to = tf.cast(steps_to, tf.float32)
  scale = (tf.cast(seq_lens_to, tf.float32) /
           tf.cast(seq_lens_from, tf.float32))[:, None, None]
  gaps = steps_from[:, :, None] * scale - steps_to[:, None, :]
  weights = tf.exp(-tf.square(gaps) / (2.0 * variance))
  return tf.math.divide_no_nan(weights,
                               tf.reduce_sum(weights, axis=-1, keepdims=True))


def _kl_rows(targets, logits):
  """sum_j p_j (log p_j - log softmax(logits)_j) per row: [B, S1, S2] -> [B, S1]."""
  log_probs = tf.nn.log_softmax(logits, axis=-1)
  return tf.reduce_sum(tf.math.xlogy(targets, targets) - targets * log_probs,
                       axis=-1)


def scl_loss(embs1, embs2, steps1, steps2, seq_lens1, seq_lens2,
             temperature=0.1, variance=10.0, normalize_embeddings=True):
  """Sequence contrastive loss between two views of each of B videos.

  Args:
    embs1: float [B, S1, D] embeddings of view 1.
    embs2: float [B, S2, D] embeddings of view 2.
    steps1, steps2: [B, S1], [B, S2] frame indices in the original video.
    seq_lens1, seq_lens2: [B] video lengths the indices refer to.
    temperature: tau.
    variance: sigma^2 of the Gaussian target (frames^2).
    normalize_embeddings: L2-normalise the embeddings first (as CARL).

  Returns:
    float32 scalar: mean over the B (S1 + S2) rows of KL(target || softmax).
  """
  embs1 = tf.cast(embs1, tf.float32)
  embs2 = tf.cast(embs2, tf.float32)
  if normalize_embeddings:
    embs1 = tf.math.l2_normalize(embs1, axis=-1)
    embs2 = tf.math.l2_normalize(embs2, axis=-1)
  logits = tf.matmul(embs1, embs2, transpose_b=True) / temperature  # [B,S1,S2]
  targets12 = scl_targets(steps1, steps2, seq_lens1, seq_lens2, variance)
  targets21 = scl_targets(steps2, steps1, seq_lens2, seq_lens1, variance)
  rows = tf.concat([
      tf.reshape(_kl_rows(targets12, logits), [-1]),
      tf.reshape(_kl_rows(targets21, tf.transpose(logits, [0, 2, 1])), [-1])],
                   axis=0)
  return tf.reduce_mean(rows)
