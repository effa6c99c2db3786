"""SCL, the sequence contrastive loss of CARL (Chen et al., CVPR 2022)."""

import tensorflow as tf

from algos.base import Algorithm
from config import CONFIG
from data import sampling
from seqalign import scl


def two_temporal_crops(seq_len, num_frames):
  """Steps of two views, each from its own random temporal crop: int32 [2, S]."""
  return tf.stack([sampling.temporal_crop_steps(
      seq_len, num_frames, CONFIG.SCL.MIN_CROP_FRACTION) for _ in range(2)])


def scl_loss(embs, steps, seq_lens):
  """SCL with CONFIG.SCL.* between the two views of each video.

  Args:
    embs: float [B, 2 S, D], view 0's S steps then view 1's.
    steps: int [B, 2 S] frame indices in the video, same layout.
    seq_lens: int [B] video lengths (both views come from the same video).

  Returns:
    float32 scalar.
  """
  cfg = CONFIG.SCL
  num_frames = embs.shape[1] // 2
  return scl.scl_loss(
      embs[:, :num_frames], embs[:, num_frames:], steps[:, :num_frames],
      steps[:, num_frames:], seq_lens, seq_lens,
      temperature=cfg.SOFTMAX_TEMPERATURE, variance=cfg.LABEL_VARIANCE,
      normalize_embeddings=cfg.NORMALIZE_EMBEDDINGS)


class SCL(Algorithm):
  """Two augmented views of each video; Gaussian temporal targets between them."""

  batch_spec = sampling.BatchSpec(num_crops=2, crop_steps=two_temporal_crops)

  def compute_loss(self, embs, batch, training):
    loss = scl_loss(embs, batch['steps'], batch['seq_lens'])
    return {'loss': loss, 'scl': loss}
