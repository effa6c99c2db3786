"""Base class of evaluation tasks and the data they share.

A task turns frozen embeddings (and, for `algo_loss`, the algorithm) into a
dict of scalar metrics. The metric functions themselves are plain NumPy
functions in the task modules; the task classes only read their settings
from CONFIG and pick the split(s) to score.
"""

import abc
import dataclasses
from typing import Any, Callable, Optional

import numpy as np


@dataclasses.dataclass
class EvalContext:
  """What one evaluation of one checkpoint on one dataset provides to tasks.

  Attributes:
    train: embeddings of the training split, a dict with `embs` (list of
      [T_i, D] float32), `labels` (list of [T_i] int per-frame phase labels),
      `video_labels` ([N] int), `names` (list of str), `seq_lens` ([N] int,
      frames per video before striding); None when no task needs embeddings.
    val: the same for the validation split.
    algo: the restored `algos.base.Algorithm`, or None.
    num_classes: number of per-frame phase classes (from dataset_info.json).
    dataset: the dataset name.
    log: function taking one message string (progress and skips).
  """
  train: Optional[dict] = None
  val: Optional[dict] = None
  algo: Any = None
  num_classes: Optional[int] = None
  dataset: str = ''
  log: Callable[[str], None] = print


class Task(abc.ABC):
  """One evaluation task of the registry (`CONFIG.EVAL.TASKS`).

  Subclasses set `name` and implement `evaluate`.
  """

  name = None
  # Whether `evaluate` reads `context.train` / `context.val`.
  needs_embeddings = True
  # Whether `evaluate` reads `context.algo`.
  needs_algo = False
  # Whether the task scores per-frame phase labels (meaningless without them,
  # i.e. with DATA.FRAME_LABELS false).
  needs_labels = False

  @abc.abstractmethod
  def evaluate(self, context):
    """Returns {metric name: float} for `context` (names without task prefix).

    Args:
      context: an `EvalContext`.
    """

  def run(self, context):
    """`evaluate` with every metric name prefixed by `<task name>/`."""
    return {'%s/%s' % (self.name, key): float(value)
            for key, value in self.evaluate(context).items()}


def first_videos_frames(embs, labels, fraction):
  """Frames of the first `max(1, int(fraction * N))` videos, concatenated.

  Args:
    embs: list of N arrays [T_i, D].
    labels: list of N arrays [T_i] (per-frame targets).
    fraction: float in (0, 1].

  Returns:
    (frames [sum T_i, D], targets [sum T_i]) over the selected videos.
  """
  if not 0.0 < fraction <= 1.0:
    raise ValueError('labeled fraction must be in (0, 1] (EVAL.CLASSIFICATION_'
                     'FRACTIONS), got %r.' % fraction)
  num = max(1, int(fraction * len(embs)))
  return np.concatenate(embs[:num]), np.concatenate(labels[:num])


def fraction_key(fraction):
  """Metric-name suffix for a labeled fraction: 0.1 -> '0.1', 1.0 -> '1'."""
  return '%g' % fraction


def check_embs_and_labels(embs, labels, what):
  """Raises ValueError unless `embs` and `labels` are matching per-video lists.

  Args:
    embs: list of arrays [T_i, D].
    labels: list of arrays [T_i].
    what: name used in the message, e.g. 'train'.
  """
  if len(embs) == 0:
    raise ValueError('%s: no videos given.' % what)
  if len(embs) != len(labels):
    raise ValueError('%s: %d embedding arrays but %d label arrays; give one '
                     'of each per video.' % (what, len(embs), len(labels)))
  for n, (e, l) in enumerate(zip(embs, labels)):
    if np.ndim(e) != 2 or np.ndim(l) != 1 or len(e) != len(l):
      raise ValueError('%s video %d: embeddings %s and labels %s must be '
                       '[T, D] and [T].' % (what, n, np.shape(e), np.shape(l)))
