"""Time-Contrastive Networks, single view (Sermanet et al., 2018)."""

from algos.base import Algorithm
from config import CONFIG
from data import sampling
from tcn.losses import npairs_loss


def tcn_loss(embs):
  """TCN loss of interleaved embs [B, 2T, D] (anchor_0, positive_0, ...)."""
  return npairs_loss(embs[:, ::2], embs[:, 1::2], CONFIG.TCN.REG_LAMBDA)


def window_positives(anchors, seq_len):
  """Positives drawn within TCN.POSITIVE_WINDOW frames before each anchor."""
  del seq_len  # The window lies before the anchor, inside the video.
  return sampling.tcn_positives(anchors, CONFIG.TCN.POSITIVE_WINDOW)


class TCN(Algorithm):
  """Frames close in time attract, other frames of the video repel."""

  batch_spec = sampling.BatchSpec(positives=window_positives)

  def compute_loss(self, embs, batch, training):
    loss = tcn_loss(embs)
    return {'loss': loss, 'tcn': loss}
