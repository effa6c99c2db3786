"""Shuffle and Learn (Misra et al., 2016)."""

import tensorflow as tf

from algos.base import Algorithm
from config import CONFIG
import models


def sample_sal_triplets(batch_size, num_steps, num_samples, shuffle_fraction):
  """Samples SaL triplets of positions, vectorized over videos and samples.

  Per sample: 5 distinct sorted positions a < b < c < d < e among
  `num_steps`, reversed as a whole with probability 0.5. The first
  round(shuffle_fraction * num_samples) samples of each video are negatives,
  (b, a, d) or (b, e, d) with equal probability; the rest are positives
  (b, c, d). Samples are i.i.d., so which ones are negatives does not matter.

  Args:
    batch_size: int (or int32 scalar tensor) B.
    num_steps: int S >= 5.
    num_samples: int N.
    shuffle_fraction: float in [0, 1].

  Returns:
    positions: int32 [B, N, 3] positions of the triplet's frames.
    labels: int32 [B, N], 1 for in-order (positive), 0 for shuffled.
  """
  if num_steps < 5:
    raise ValueError('SAL needs at least 5 sampled frames per video, got %d; '
                     'raise TRAIN.NUM_FRAMES.' % num_steps)
  _, positions = tf.math.top_k(
      tf.random.uniform([batch_size, num_samples, num_steps]), 5)
  positions = tf.sort(positions, axis=-1)
  reverse = tf.random.uniform([batch_size, num_samples, 1]) < 0.5
  positions = tf.where(reverse, tf.reverse(positions, axis=[-1]), positions)
  a, b, c, d, e = tf.unstack(positions, axis=-1)
  num_negatives = int(round(shuffle_fraction * num_samples))
  negative = tf.tile(tf.range(num_samples)[None] < num_negatives,
                     [batch_size, 1])
  use_a = tf.random.uniform([batch_size, num_samples]) < 0.5
  middle = tf.where(negative, tf.where(use_a, a, e), c)
  triplets = tf.stack([b, middle, d], axis=-1)
  labels = tf.cast(tf.logical_not(negative), tf.int32)
  return triplets, labels


def make_sal_classifier():
  """The SaL head from CONFIG.SAL: [N, 3 * D] triplet features -> logits [N, 2].

  A `models.Classifier` of SAL.FC_LAYERS ([units, activate] each, dropout
  SAL.DROPOUT_RATE before every layer, BatchNorm when SAL.FC_BATCH_NORM).
  """
  fc_layers = [list(layer) for layer in CONFIG.SAL.FC_LAYERS]
  if not fc_layers or fc_layers[-1][0] != 2:
    raise ValueError('SAL.FC_LAYERS must end with a 2-unit layer '
                     '(in order / shuffled), got %r.' % (fc_layers,))
  return models.Classifier(fc_layers, CONFIG.SAL.DROPOUT_RATE,
                           batch_norm=CONFIG.SAL.FC_BATCH_NORM,
                           l2_reg_weight=CONFIG.MODEL.L2_REG_WEIGHT,
                           name='sal_classifier')


def smoothed_cross_entropy(logits, labels, num_classes, label_smoothing):
  """Mean softmax cross-entropy; targets y (1 - eps) + eps / num_classes."""
  targets = tf.one_hot(labels, num_classes)
  targets = targets * (1.0 - label_smoothing) + label_smoothing / num_classes
  return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
      labels=targets, logits=tf.cast(logits, tf.float32)))


def sal_loss(classifier, embs, training):
  """SaL loss of embs [B, S, D] with CONFIG.SAL.* and `classifier`."""
  cfg = CONFIG.SAL
  batch_size = embs.shape[0] if embs.shape[0] is not None else tf.shape(embs)[0]
  triplets, labels = sample_sal_triplets(batch_size, embs.shape[1],
                                         cfg.NUM_SAMPLES, cfg.SHUFFLE_FRACTION)
  triplet_embs = tf.gather(embs, triplets, batch_dims=1)  # [B, N, 3, D]
  features = tf.reshape(triplet_embs, [-1, 3 * embs.shape[-1]])
  logits = classifier(features, training=training)
  return smoothed_cross_entropy(logits, tf.reshape(labels, [-1]), 2,
                                cfg.LABEL_SMOOTHING)


class SaL(Algorithm):
  """Is a triplet of frames in temporal order (either direction) or not."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.sal_classifier = make_sal_classifier()

  def min_num_steps(self):
    return 5

  def compute_loss(self, embs, batch, training):
    loss = sal_loss(self.sal_classifier, embs, training)
    return {'loss': loss, 'sal': loss}
