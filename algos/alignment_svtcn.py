"""Weighted sum of TCC and single-view TCN losses."""

from algos.alignment import alignment_loss
from algos.svtcn import SVTCN
from algos.svtcn import batch_svtcn_loss
from config import CONFIG


class AlignmentSVTCN(SVTCN):
  """w * TCC + (1 - w) * single-view TCN, w = ALIGNMENT_LOSS_WEIGHT.

  Batches are those of `svtcn`: a window of S consecutive frames of one view
  per take. Both losses see the whole window: TCC aligns the windows of the
  batch's takes (as the published `stride` sampling does), the single-view
  triplet pulls together frames of a window within SVTCN.POS_RADIUS steps.
  A loss with weight 0 is not computed.
  """

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.alignment_weight = CONFIG.ALIGNMENT_SVTCN.ALIGNMENT_LOSS_WEIGHT
    if not 0.0 <= self.alignment_weight <= 1.0:
      raise ValueError('ALIGNMENT_SVTCN.ALIGNMENT_LOSS_WEIGHT must be in '
                       '[0, 1], got %g.' % self.alignment_weight)

  def compute_loss(self, embs, batch, training):
    losses = {}
    total = 0.0
    if self.alignment_weight > 0:
      losses['alignment'] = alignment_loss(embs, batch['steps'],
                                           batch['seq_lens'])
      total += self.alignment_weight * losses['alignment']
    if self.alignment_weight < 1:
      cfg = CONFIG.SVTCN
      losses['svtcn'] = batch_svtcn_loss(embs, batch['steps'], cfg.POS_RADIUS,
                                         cfg.NEG_RADIUS, cfg.MARGIN)
      total += (1.0 - self.alignment_weight) * losses['svtcn']
    losses['loss'] = total
    return losses
