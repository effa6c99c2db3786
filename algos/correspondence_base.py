"""Base class of the space-time correspondence algorithms (crw, timecycle).

They train on clips of consecutive frames (no context frames) and learn the
base network's feature maps, which label propagation uses directly; they
have no per-frame embedder.
"""

import os

from algos.base import Algorithm

EMBEDDING_TASKS_MESSAGE = (
    '%s learns feature maps for label propagation, not per-frame embeddings: '
    'use EVAL.TASKS [algo_loss, label_propagation].')


class CorrespondenceAlgorithm(Algorithm):
  """An Algorithm whose batches are clips and whose output is feature maps."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    # Clips carry no context frames; the embedder of the base class is unused.
    self.num_context_steps = 1
    self.embedder = None

  @classmethod
  def next_commands(cls, logdir):
    """Propagation and its pictures, on the run's DAVIS folder."""
    return [
        'python -m tools.propagate_labels --logdir %s --output_dir %s' % (
            logdir, os.path.join(logdir, 'propagated_masks')),
        'python -m tools.visualize_correspondence --logdir %s --output_dir %s' % (
            logdir, os.path.join(logdir, 'pictures'))]

  def embed_video(self, frames, stride=1, frames_per_batch=40):
    """Not defined: there are no per-frame embeddings (raises ValueError)."""
    raise ValueError(EMBEDDING_TASKS_MESSAGE % self.name)
