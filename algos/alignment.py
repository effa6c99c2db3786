"""Temporal Cycle-Consistency (TCC) training, SPEC 5.1/5.2."""

import tensorflow as tf

from algos.base import Algorithm
from config import CONFIG
from tcc.alignment import compute_alignment_loss


def select_fraction(embs, steps, fraction, seed=None):
  """Keeps a random sorted subset of round(fraction * S) steps (>= 2).

  Args:
    embs: [B, S, D]; steps: [B, S]; fraction: float in (0, 1].
    seed: None (stateful draw) or an int32 [2] stateless seed.

  Returns:
    (embs [B, S', D], steps [B, S']), the same positions for every video.
  """
  if fraction >= 1.0:
    return embs, steps
  num_steps = embs.shape[1]
  num_kept = max(2, int(round(fraction * num_steps)))
  scores = (tf.random.uniform([num_steps]) if seed is None else
            tf.random.stateless_uniform([num_steps], seed))
  _, positions = tf.math.top_k(scores, num_kept)
  positions = tf.sort(positions)
  return tf.gather(embs, positions, axis=1), tf.gather(steps, positions, axis=1)


def alignment_loss(embs, steps, seq_lens, seed=None):
  """TCC loss with CONFIG.ALIGNMENT.* of embs [B, S, D], steps [B, S].

  `seed`: None, or an int32 [2] seed that makes the random draws (FRACTION,
  stochastic cycles) stateless, e.g. the batch's 'loss_seed' shared by all
  replicas (see algos/cross_replica.py).
  """
  cfg = CONFIG.ALIGNMENT
  fraction_seed = cycles_seed = None
  if seed is not None:
    fraction_seed, cycles_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 2))
  embs, steps = select_fraction(embs, steps, cfg.FRACTION, fraction_seed)
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
      normalize_indices=cfg.NORMALIZE_INDICES, seed=cycles_seed)


class Alignment(Algorithm):
  """Cycle-back classification/regression between pairs of videos."""

  pairwise_loss = True

  def compute_loss(self, embs, batch, training):
    loss = alignment_loss(embs, batch['steps'], batch['seq_lens'],
                          batch.get('loss_seed'))
    return {'loss': loss, 'alignment': loss}
