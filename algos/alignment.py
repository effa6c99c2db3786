"""Temporal Cycle-Consistency (TCC) training, SPEC 5.1/5.2."""

import tensorflow as tf

from algos.base import Algorithm
from algos.lav import soft_dtw_term
from config import CONFIG
from tcc.alignment import compute_alignment_loss


def select_fraction(embs, steps, fraction):
  """Keeps a random sorted subset of round(fraction * S) steps (>= 2).

  Args:
    embs: [B, S, D]; steps: [B, S]; fraction: float in (0, 1].

  Returns:
    (embs [B, S', D], steps [B, S']), the same positions for every video.
  """
  if fraction >= 1.0:
    return embs, steps
  num_steps = embs.shape[1]
  num_kept = max(2, int(round(fraction * num_steps)))
  _, positions = tf.math.top_k(tf.random.uniform([num_steps]), num_kept)
  positions = tf.sort(positions)
  return tf.gather(embs, positions, axis=1), tf.gather(steps, positions, axis=1)


def alignment_loss(embs, steps, seq_lens):
  """TCC loss with CONFIG.ALIGNMENT.* of embs [B, S, D], steps [B, S]."""
  cfg = CONFIG.ALIGNMENT
  embs, steps = select_fraction(embs, steps, cfg.FRACTION)
  batch_size = embs.shape[0] if embs.shape[0] is not None else tf.shape(embs)[0]
  return compute_alignment_loss(
      embs, batch_size, steps=steps, seq_lens=seq_lens,
      stochastic_matching=cfg.STOCHASTIC_MATCHING,
      normalize_embeddings=cfg.NORMALIZE_EMBEDDINGS,
      loss_type=cfg.LOSS_TYPE, similarity_type=cfg.SIMILARITY_TYPE,
      num_cycles=cfg.NUM_CYCLES, cycle_length=cfg.CYCLE_LENGTH,
      temperature=cfg.SOFTMAX_TEMPERATURE,
      label_smoothing=cfg.LABEL_SMOOTHING,
      variance_lambda=cfg.VARIANCE_LAMBDA, huber_delta=cfg.HUBER_DELTA,
      normalize_indices=cfg.NORMALIZE_INDICES)


class Alignment(Algorithm):
  """Cycle-back classification/regression between pairs of videos."""

  def compute_loss(self, embs, batch, training):
    loss = alignment_loss(embs, batch['steps'], batch['seq_lens'])
    losses = {'loss': loss, 'alignment': loss}
    if CONFIG.ALIGNMENT.SOFT_DTW_WEIGHT:
      term = soft_dtw_term(embs, batch['steps'], batch['seq_lens'],
                           CONFIG.LAV.SOFT_DTW_GAMMA)
      losses['soft_dtw'] = term
      losses['loss'] = loss + CONFIG.ALIGNMENT.SOFT_DTW_WEIGHT * term
    return losses
