"""`algo_loss`: the algorithm's training loss on validation batches."""

import numpy as np

import datasets
from evaluation.base import Task


class AlgoLoss(Task):
  """Mean of every loss component over EVAL.VAL_ITERS validation batches.

  Batches come from `datasets.create_dataset('val', mode='eval')` (the
  algorithm's own sampling, no augmentation) and are embedded with
  `training=False`, so dropout and BatchNorm updates are off.
  """

  name = 'algo_loss'
  needs_embeddings = False
  needs_algo = True

  def evaluate(self, context):
    try:
      dataset = datasets.create_dataset(
          'val', mode='eval', batch_spec=context.algo.batch_spec)
    except datasets.DatasetError as e:
      if not context.algo.batch_spec.needs_frame_labels:
        raise
      context.log('algo_loss: skipped, %s' % e)
      return {}
    totals = {}
    num_batches = 0
    for batch in dataset.take(self.cfg.EVAL.VAL_ITERS):
      embs = context.algo.embed(batch['frames'], training=False)
      losses = context.algo.compute_loss(embs, batch, training=False)
      for key, value in losses.items():
        totals[key] = totals.get(key, 0.0) + float(np.asarray(value))
      num_batches += 1
    if not num_batches:
      context.log('algo_loss: the validation split gave no batch, skipped.')
      return {}
    return {key: total / num_batches for key, total in totals.items()}
