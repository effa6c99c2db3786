"""Weighted sum of TCC, SaL and TCN losses, SPEC 5.5."""

from algos.alignment import alignment_loss
from algos.base import Algorithm
from algos.sal import SaLClassifier
from algos.sal import sal_loss
from algos.tcn import TCN
from algos.tcn import tcn_loss
from config import CONFIG


class AlignmentSaLTCN(Algorithm):
  """w_a * TCC + w_s * SaL + (1 - w_a - w_s) * TCN.

  Batches hold interleaved anchor/positive steps (S = 2 * NUM_FRAMES). TCC and
  SaL see the anchors only; TCN sees the pairs. A loss with weight 0 is not
  computed.
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
    self.sal_classifier = (SaLClassifier(CONFIG.SAL.FC_LAYERS,
                                         CONFIG.SAL.DROPOUT_RATE,
                                         name='sal_classifier')
                           if self.sal_weight > 0 else None)

  batch_spec = TCN.batch_spec
  pairwise_loss = True

  def min_num_steps(self):
    return 5 if self.sal_weight > 0 else 2

  def compute_loss(self, embs, batch, training):
    anchor_embs = embs[:, ::2]
    losses = {}
    total = 0.0
    if self.alignment_weight > 0:
      losses['alignment'] = alignment_loss(anchor_embs, batch['steps'][:, ::2],
                                           batch['seq_lens'],
                                           batch.get('loss_seed'))
      total += self.alignment_weight * losses['alignment']
    if self.sal_weight > 0:
      losses['sal'] = sal_loss(self.sal_classifier, anchor_embs, training)
      total += self.sal_weight * losses['sal']
    if self.tcn_weight > 0:
      losses['tcn'] = tcn_loss(embs)
      total += self.tcn_weight * losses['tcn']
    losses['loss'] = total
    return losses
