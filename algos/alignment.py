"""Temporal Cycle-Consistency (TCC) training."""

import tensorflow as tf

from algos.base import Algorithm
from config import CONFIG
from tcc.alignment import compute_alignment_loss


def num_cycles(batch_size, num_steps, fraction):
  """Stochastic TCC cycles: int(batch_size * num_steps * fraction), >= 1."""
  return max(1, int(batch_size * num_steps * fraction))


def alignment_loss(embs, steps, seq_lens, seed=None):
  """TCC loss with CONFIG.ALIGNMENT.* of embs [B, S, D], steps [B, S].

  Stochastic matching draws int(B * S * ALIGNMENT.FRACTION) cycles, as the
  published code does (B, S: the static shape of `embs`).

  `seed`: None, or an int32 [2] seed that makes the stochastic cycles
  stateless, e.g. the batch's 'loss_seed' shared by all replicas (see
  algos/cross_replica.py).
  """
  cfg = CONFIG.ALIGNMENT
  batch_size, num_steps = embs.shape[0], embs.shape[1]
  cycles = 1
  if cfg.STOCHASTIC_MATCHING:
    if batch_size is None or num_steps is None:
      raise ValueError('Stochastic TCC needs embeddings of a static shape '
                       '[B, S, D] to count its cycles, got %s.' % (embs.shape,))
    cycles = num_cycles(batch_size, num_steps, cfg.FRACTION)
  if batch_size is None:
    batch_size = tf.shape(embs)[0]
  return compute_alignment_loss(
      embs, batch_size, steps=steps, seq_lens=seq_lens,
      stochastic_matching=cfg.STOCHASTIC_MATCHING,
      normalize_embeddings=cfg.NORMALIZE_EMBEDDINGS,
      loss_type=cfg.LOSS_TYPE, similarity_type=cfg.SIMILARITY_TYPE,
      num_cycles=cycles,
      cycle_length=cfg.CYCLE_LENGTH,
      temperature=cfg.SOFTMAX_TEMPERATURE,
      label_smoothing=cfg.LABEL_SMOOTHING,
      variance_lambda=cfg.VARIANCE_LAMBDA, huber_delta=cfg.HUBER_DELTA,
      normalize_indices=cfg.NORMALIZE_INDICES, seed=seed)


class Alignment(Algorithm):
  """Cycle-back classification/regression between pairs of videos."""

  pairwise_loss = True

  def compute_loss(self, embs, batch, training):
    loss = alignment_loss(embs, batch['steps'], batch['seq_lens'],
                          batch.get('loss_seed'))
    return {'loss': loss, 'alignment': loss}
