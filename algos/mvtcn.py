"""Multi-view Time-Contrastive Networks (Sermanet et al., 2018).

Every training sample holds S time steps of one take seen by two cameras:
for each step the anchor comes from one view and the positive is the same
time step in another view (views drawn per step); the other time steps of the
take are the negatives. The loss is the published n-pairs loss or the triplet
loss with semi-hard negative mining (MVTCN.LOSS).
"""

import tensorflow as tf

from algos.base import Algorithm
from config import CONFIG
from data import sampling
from tcn.losses import npairs_loss
from tcn.losses import triplet_semihard_loss

LOSSES = ('npairs', 'triplet')


def window_sampler(seq_len, num_steps, name):
  """Steps drawn without replacement from a random MVTCN.WINDOW window."""
  return sampling.window_steps(seq_len, num_steps, CONFIG.MVTCN.WINDOW, name)


def split_views(embs):
  """embs [B, 2 * S, D] of a two-view batch -> (anchors, positives) [B, S, D].

  The batch holds view slot 0 (anchors) for all S steps, then slot 1.
  """
  num_steps = embs.shape[1] // 2
  return embs[:, :num_steps], embs[:, num_steps:]


def batch_triplet_loss(anchors, positives, margin):
  """Semi-hard triplet loss per take, averaged over the batch.

  Per take, the 2S embeddings [anchors; positives] have labels
  [0..S-1, 0..S-1]: a positive shares the anchor's time step.

  Args:
    anchors: float [B, S, D].
    positives: float [B, S, D].
    margin: triplet margin.

  Returns:
    float32 scalar.
  """
  num_steps = tf.shape(anchors)[1]
  labels = tf.tile(tf.range(num_steps), [2])

  def per_take(pair):
    return triplet_semihard_loss(labels, tf.concat(pair, axis=0), margin)
  losses = tf.map_fn(per_take, (tf.cast(anchors, tf.float32),
                                tf.cast(positives, tf.float32)),
                     fn_output_signature=tf.float32)
  return tf.reduce_mean(losses)


def mvtcn_loss(anchors, positives):
  """Multi-view TCN loss with CONFIG.MVTCN.* (anchors, positives [B, S, D])."""
  cfg = CONFIG.MVTCN
  if cfg.LOSS == 'npairs':
    return npairs_loss(anchors, positives, cfg.NPAIRS_REG_LAMBDA)
  return batch_triplet_loss(anchors, positives, cfg.TRIPLET_MARGIN)


def check_loss_name(name):
  if name not in LOSSES:
    raise ValueError('MVTCN.LOSS %r is unknown; use one of %s.' % (
        name, ', '.join(LOSSES)))


class MVTCN(Algorithm):
  """Same time step, different views attract; other time steps repel."""

  batch_spec = sampling.BatchSpec(views=2, view_sampling='per_step',
                                  sampler=window_sampler)

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    cfg = CONFIG.MVTCN
    check_loss_name(cfg.LOSS)
    self.l2_normalize = (cfg.NPAIRS_EMBEDDING_L2 if cfg.LOSS == 'npairs' else
                         cfg.TRIPLET_EMBEDDING_L2)

  def embed_context(self, context_features, training):
    embs = super().embed_context(context_features, training)
    return tf.math.l2_normalize(embs, axis=-1) if self.l2_normalize else embs

  def compute_loss(self, embs, batch, training):
    loss = mvtcn_loss(*split_views(embs))
    return {'loss': loss, 'mvtcn': loss}
