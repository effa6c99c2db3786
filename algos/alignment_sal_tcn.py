"""Weighted sum of TCC, SaL and TCN losses."""

import tensorflow as tf

from algos.alignment import alignment_loss
from algos.base import Algorithm
from algos.sal import make_sal_classifier
from algos.sal import sal_loss
from algos.tcn import TCN
from algos.tcn import tcn_loss
from config import CONFIG


def draw_use_positives(batch_size):
  """bool [B]: per video, True (probability 0.5) to use its positives."""
  return tf.random.uniform([batch_size]) < 0.5


def anchors_or_positives(embs, steps, use_positives):
  """Per video, its anchors or its positives from an interleaved batch.

  Args:
    embs: [B, 2S, D], anchor_0, positive_0, anchor_1, ... per video.
    steps: int [B, 2S], their frame indices.
    use_positives: bool [B].

  Returns:
    (embs [B, S, D], steps [B, S]): the odd positions of the videos with
    `use_positives`, the even positions of the others.
  """
  num_pairs = embs.shape[1] // 2
  positions = (tf.cast(use_positives, tf.int32)[:, None] +
               2 * tf.range(num_pairs)[None])
  return (tf.gather(embs, positions, batch_dims=1),
          tf.gather(steps, positions, batch_dims=1))


class AlignmentSaLTCN(Algorithm):
  """w_a * TCC + w_s * SaL + (1 - w_a - w_s) * TCN.

  Batches hold interleaved anchor/positive steps (S = 2 * NUM_FRAMES). TCN
  sees the pairs. TCC and SaL see, per video, either its anchors or its
  positives, drawn at random with probability 0.5 (as the published code
  does). A loss with weight 0 is not computed.
  """

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    cfg = CONFIG.ALIGNMENT_SAL_TCN
    self.alignment_weight = cfg.ALIGNMENT_LOSS_WEIGHT
    self.sal_weight = cfg.SAL_LOSS_WEIGHT
    self.tcn_weight = 1.0 - self.alignment_weight - self.sal_weight
    if min(self.alignment_weight, self.sal_weight, self.tcn_weight) < 0:
      raise ValueError(
          'ALIGNMENT_SAL_TCN.ALIGNMENT_LOSS_WEIGHT (%g) and SAL_LOSS_WEIGHT '
          '(%g) must be >= 0 and sum to at most 1.' %
          (self.alignment_weight, self.sal_weight))
    self.sal_classifier = (make_sal_classifier() if self.sal_weight > 0 else
                           None)

  batch_spec = TCN.batch_spec
  pairwise_loss = True

  def min_num_steps(self):
    return 5 if self.sal_weight > 0 else 2

  def compute_loss(self, embs, batch, training):
    losses = {}
    total = 0.0
    if self.alignment_weight > 0 or self.sal_weight > 0:
      batch_size = (embs.shape[0] if embs.shape[0] is not None else
                    tf.shape(embs)[0])
      half_embs, half_steps = anchors_or_positives(
          embs, batch['steps'], draw_use_positives(batch_size))
    if self.alignment_weight > 0:
      losses['alignment'] = alignment_loss(half_embs, half_steps,
                                           batch['seq_lens'],
                                           batch.get('loss_seed'))
      total += self.alignment_weight * losses['alignment']
    if self.sal_weight > 0:
      losses['sal'] = sal_loss(self.sal_classifier, half_embs, training)
      total += self.sal_weight * losses['sal']
    if self.tcn_weight > 0:
      losses['tcn'] = tcn_loss(embs)
      total += self.tcn_weight * losses['tcn']
    losses['loss'] = total
    return losses
