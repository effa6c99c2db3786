"""Base class of evaluation tasks and the data they share.

A task turns frozen embeddings (and, for `algo_loss`, the algorithm) into a
dict of scalar metrics. The metric functions themselves are plain NumPy
functions in the task modules; the task classes only read their settings
from the config they are built with (`Task(cfg)`) and pick the split(s)
to score; nothing here reads the global CONFIG.
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
      [T_i, D] float32), `labels` (list of [T_i] int per-frame phase labels,
      -1 for unlabelled videos), `has_labels` ([N] bool), `video_labels`
      ([N] int), `names` (list of str), `num_frames` ([N] int, frames per
      video before striding); None when no task needs embeddings.
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

  Subclasses set `name` and implement `evaluate`, reading their settings
  from `self.cfg` (EVAL.*, DATA.*, PROPAGATION.*).
  """

  name = None
  # Whether `evaluate` reads `context.train` / `context.val`.
  needs_embeddings = True
  # Whether `evaluate` reads `context.algo`.
  needs_algo = False
  # Whether the task scores per-frame phase labels. `run` then gives
  # `evaluate` only the labelled videos, and skips the task when there are
  # too few of them (see `labelled_context`).
  needs_labels = False

  def __init__(self, cfg):
    """`cfg`: the run's config (an EasyDict such as CONFIG)."""
    self.cfg = cfg

  @abc.abstractmethod
  def evaluate(self, context):
    """Returns {metric name: float} for `context` (names without task prefix).

    Args:
      context: an `EvalContext`.
    """

  def run(self, context):
    """`evaluate` with every metric name prefixed by `<task name>/`.

    A task that `needs_labels` sees only the labelled videos; it is skipped
    with one message (and no metric) when `labelled_context` finds too few.
    """
    if self.needs_labels:
      labelled, reason = labelled_context(context)
      if labelled is None:
        context.log('%s: skipped, %s.' % (self.name, reason))
        return {}
      context = labelled
    return {'%s/%s' % (self.name, key): float(value)
            for key, value in self.evaluate(context).items()}


def labelled_videos(split_data):
  """The labelled videos of one split's embeddings dict (see EvalContext).

  Returns:
    a copy of `split_data` whose per-video entries (`embs`, `labels`,
    `names`, ...) keep only the videos with `has_labels`; a dict without
    `has_labels` is taken as fully labelled.
  """
  if 'has_labels' not in split_data:
    return split_data
  keep = np.flatnonzero(np.asarray(split_data['has_labels'], bool))
  num_videos = len(split_data['embs'])
  subset = {}
  for key, value in split_data.items():
    if isinstance(value, (list, np.ndarray)) and len(value) == num_videos:
      subset[key] = ([value[i] for i in keep] if isinstance(value, list)
                     else np.asarray(value)[keep])
    else:
      subset[key] = value
  return subset


def labelled_context(context):
  """`context` restricted to labelled videos, or why a label task can't run.

  A label-based task needs at least 2 labelled training videos, at least 2
  phase classes among their frames and at least 1 labelled validation video.

  Returns:
    (EvalContext, None), or (None, the reason as a str).
  """
  train = labelled_videos(context.train)
  val = labelled_videos(context.val)
  num_train, num_val = len(train['embs']), len(val['embs'])
  classes = (np.unique(np.concatenate(train['labels'])) if num_train
             else np.zeros(0))
  reason = None
  if num_train < 2:
    reason = ('%d labelled training video(s) of %d, needs at least 2' %
              (num_train, len(context.train['embs'])))
  elif len(classes) < 2:
    reason = ('the labelled training videos show %d phase class(es), needs '
              'at least 2' % len(classes))
  elif num_val < 1:
    reason = 'no labelled validation video (of %d)' % len(context.val['embs'])
  if reason is not None:
    return None, reason
  return dataclasses.replace(context, train=train, val=val), None


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
