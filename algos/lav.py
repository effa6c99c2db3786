"""LAV: soft-DTW alignment + contrastive IDM (Haresh et al., CVPR 2021)."""

import tensorflow as tf

from algos.base import Algorithm
from config import CONFIG
from seqalign import lav


def video_pairs(batch_size):
  """All pairs (i, j), i < j, of a batch: int32 [B (B - 1) / 2, 2]."""
  upper = tf.linalg.band_part(tf.ones([batch_size, batch_size]), 0, -1)
  return tf.cast(tf.where(upper - tf.eye(batch_size) > 0), tf.int32)


def _over_pairs(embs, steps, seq_lens, **lav_args):
  """`seqalign.lav.lav_loss` over every pair of videos of a batch."""
  pairs = video_pairs(tf.shape(embs)[0])
  first, second = pairs[:, 0], pairs[:, 1]
  return lav.lav_loss(
      tf.gather(embs, first), tf.gather(embs, second),
      tf.gather(steps, first), tf.gather(steps, second),
      tf.gather(seq_lens, first), tf.gather(seq_lens, second), **lav_args)


def lav_loss(embs, steps, seq_lens):
  """LAV loss with CONFIG.LAV.* over every pair of videos of the batch.

  Args:
    embs: float [B, S, D]; steps: int [B, S]; seq_lens: int [B].

  Returns:
    float32 scalar, the mean over the B (B - 1) / 2 pairs.
  """
  cfg = CONFIG.LAV
  if cfg.NORMALIZE_EMBEDDINGS:
    embs = tf.math.l2_normalize(embs, axis=-1)
  return _over_pairs(embs, steps, seq_lens, gamma=cfg.SOFT_DTW_GAMMA,
                     alpha=cfg.ALPHA, window=cfg.WINDOW, margin=cfg.MARGIN)


class LAV(Algorithm):
  """Aligns every pair of videos of a batch with soft-DTW (+ IDM)."""

  def compute_loss(self, embs, batch, training):
    loss = lav_loss(embs, batch['steps'], batch['seq_lens'])
    return {'loss': loss, 'lav': loss}
