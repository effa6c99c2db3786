"""Time-Contrastive Networks, single view (Sermanet et al., 2018), SPEC 5.4."""

import tensorflow as tf

from algos.base import Algorithm
from config import CONFIG
import datasets


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


def tcn_loss(embs):
  """TCN loss of interleaved embs [B, 2T, D] (anchor_0, positive_0, ...)."""
  return npairs_loss(embs[:, ::2], embs[:, 1::2], CONFIG.TCN.REG_LAMBDA)


def window_positives(anchors, seq_len):
  """Positives drawn within TCN.POSITIVE_WINDOW frames before each anchor."""
  del seq_len  # The window lies before the anchor, inside the video.
  return datasets.tcn_positives(anchors, CONFIG.TCN.POSITIVE_WINDOW)


class TCN(Algorithm):
  """Frames close in time attract, other frames of the video repel."""

  batch_spec = datasets.BatchSpec(positives=window_positives)

  def compute_loss(self, embs, batch, training):
    loss = tcn_loss(embs)
    return {'loss': loss, 'tcn': loss}
