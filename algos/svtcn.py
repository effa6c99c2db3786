"""Single-view Time-Contrastive Networks: the published triplet variant.

Each training sample is a window of S consecutive frames of one random view
of a take. Every frame is an anchor; frames within SVTCN.POS_RADIUS steps are
its positives, frames farther than SVTCN.NEG_RADIUS steps its negatives
(semi-hard mining, margin SVTCN.MARGIN), per take, averaged over the batch.
"""

import tensorflow as tf

from algos.base import Algorithm
from config import CONFIG
from data import sampling
from tcn.losses import singleview_tcn_loss


def batch_svtcn_loss(embs, steps, pos_radius, neg_radius, margin):
  """Single-view TCN loss per take, averaged over the batch.

  Args:
    embs: float [B, S, D].
    steps: int [B, S] frame index of each embedding.
    pos_radius, neg_radius, margin: see `tcn.losses.singleview_tcn_loss`.

  Returns:
    float32 scalar.
  """
  def per_take(take):
    return singleview_tcn_loss(take[0], take[1], pos_radius, neg_radius,
                               margin)
  losses = tf.map_fn(per_take, (tf.cast(embs, tf.float32), steps),
                     fn_output_signature=tf.float32)
  return tf.reduce_mean(losses)


def contiguous_sampler(seq_len, num_steps, name):
  return sampling.contiguous_steps(seq_len, num_steps, name)


class SVTCN(Algorithm):
  """Frames within a small window attract, frames far in time repel."""

  batch_spec = sampling.BatchSpec(view_sampling='per_take',
                                  sampler=contiguous_sampler)

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    cfg = CONFIG.SVTCN
    if cfg.NEG_RADIUS <= cfg.POS_RADIUS:
      raise ValueError('SVTCN.NEG_RADIUS (%d) must be larger than '
                       'SVTCN.POS_RADIUS (%d).' % (cfg.NEG_RADIUS,
                                                   cfg.POS_RADIUS))
    self.l2_normalize = cfg.EMBEDDING_L2

  def embed_context(self, context_features, training):
    embs = super().embed_context(context_features, training)
    return tf.math.l2_normalize(embs, axis=-1) if self.l2_normalize else embs

  def compute_loss(self, embs, batch, training):
    cfg = CONFIG.SVTCN
    loss = batch_svtcn_loss(embs, batch['steps'], cfg.POS_RADIUS,
                            cfg.NEG_RADIUS, cfg.MARGIN)
    return {'loss': loss, 'svtcn': loss}
