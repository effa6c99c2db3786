"""Weighted sum of TCC and multi-view TCN losses."""

from algos.alignment import alignment_loss
from algos.mvtcn import MVTCN
from algos.mvtcn import mvtcn_loss
from algos.mvtcn import split_views
from config import CONFIG


class AlignmentMVTCN(MVTCN):
  """w * TCC + (1 - w) * multi-view TCN, w = ALIGNMENT_LOSS_WEIGHT.

  Batches are those of `mvtcn` (two view slots of the same steps). TCC sees
  the anchor slot (each step from its anchor view); the multi-view TCN loss
  sees anchors and positives. A loss with weight 0 is not computed.
  """

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.alignment_weight = CONFIG.ALIGNMENT_MVTCN.ALIGNMENT_LOSS_WEIGHT
    if not 0.0 <= self.alignment_weight <= 1.0:
      raise ValueError('ALIGNMENT_MVTCN.ALIGNMENT_LOSS_WEIGHT must be in '
                       '[0, 1], got %g.' % self.alignment_weight)

  def compute_loss(self, embs, batch, training):
    anchors, positives = split_views(embs)
    num_steps = anchors.shape[1]
    losses = {}
    total = 0.0
    if self.alignment_weight > 0:
      losses['alignment'] = alignment_loss(
          anchors, batch['steps'][:, :num_steps], batch['seq_lens'])
      total += self.alignment_weight * losses['alignment']
    if self.alignment_weight < 1:
      losses['mvtcn'] = mvtcn_loss(anchors, positives)
      total += (1.0 - self.alignment_weight) * losses['mvtcn']
    losses['loss'] = total
    return losses
