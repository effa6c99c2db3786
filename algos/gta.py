"""GTA: global temporal alignment + cycle-consistency (Hadji et al., CVPR 2021)."""

import tensorflow as tf

from algos.base import Algorithm
from config import CONFIG
from seqalign import gta


def gta_losses(embs):
  """GTA loss with CONFIG.GTA.* of the first video against each other one.

  As the official code, the pairs are (0, j), j = 1 .. B - 1.

  Args:
    embs: float [B, S, D].

  Returns:
    (loss, cycle_loss, alignment_cost) float32 scalars (see seqalign.gta).
  """
  cfg = CONFIG.GTA
  embs = tf.cast(embs, tf.float32)
  if cfg.NORMALIZE_EMBEDDINGS:
    embs = tf.math.l2_normalize(embs, axis=-1)
  others = embs[1:]
  first = tf.broadcast_to(embs[:1], tf.shape(others))
  return gta.gta_loss(first, others, gamma=cfg.GAMMA,
                      cost_temperature=cfg.COST_TEMPERATURE,
                      label_smoothing=cfg.LABEL_SMOOTHING,
                      alignment_weight=cfg.ALIGNMENT_WEIGHT)


class GTA(Algorithm):
  """Smoothed-DTW alignments of video pairs, cycled back to the identity."""

  def compute_loss(self, embs, batch, training):
    loss, cycle_loss, alignment_cost = gta_losses(embs)
    return {'loss': loss, 'gta_cycle': cycle_loss,
            'gta_alignment': alignment_cost}
