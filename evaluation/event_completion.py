"""Phase progression ("event completion") by linear regression."""

import numpy as np
from sklearn.linear_model import LinearRegression

from evaluation.base import Task
from evaluation.base import check_embs_and_labels
from evaluation.base import fraction_key


def progression_targets(frame_labels, event):
  """Signed progress relative to key event `event` of one video.

  `target(t) = (t - t_c) / L`, with `t_c` the last frame labeled `event` and
  `L` the number of frames (t and L count embeddings, so a strided video
  gives the same targets up to rounding).

  Args:
    frame_labels: [L] int per-frame phase labels.
    event: the class c whose last frame is the key event.

  Returns:
    [L] float64 targets, or None when no frame is labeled `event`.
  """
  frame_labels = np.asarray(frame_labels)
  (frames,) = np.nonzero(frame_labels == event)
  if frames.size == 0:
    return None
  length = len(frame_labels)
  return (np.arange(length, dtype=np.float64) - frames[-1]) / length


def _event_frames(embs, labels, event):
  """Frames and targets of the videos in which `event` occurs.

  Returns:
    (frames [M, D], targets [M]) or (None, None) if no video has the event.
  """
  frames, targets = [], []
  for video_embs, video_labels in zip(embs, labels):
    video_targets = progression_targets(video_labels, event)
    if video_targets is not None:
      frames.append(video_embs)
      targets.append(video_targets)
  if not frames:
    return None, None
  return np.concatenate(frames), np.concatenate(targets)


def progression_score(train_embs, train_labels, val_embs, val_labels,
                      num_classes, fractions=(0.1, 0.5, 1.0)):
  """Mean validation R^2 of per-event linear progress regressors.

  With K = `num_classes` phases there are K - 1 key events c = 0..K-2 (the
  end of phase c). For each fraction f and event c, a `LinearRegression` is
  fit on the frames of the first `max(1, int(f * N_train))` training videos
  with target `(t - t_c) / L` and its R^2 is computed on the validation
  frames; the score is the mean R^2 over events.

  A video with no frame labeled c has no `t_c`; it is left out of event c's
  fit (training) or R^2 (validation), and still counts for the other events.
  An event that no selected training video or no validation video has is
  left out of the mean; if every event is left out, the score is NaN.

  Args:
    train_embs: list of N_train arrays [T_i, D].
    train_labels: list of N_train int arrays [T_i] (phase labels 0..K-1).
    val_embs: list of N_val arrays [T_j, D].
    val_labels: list of N_val int arrays [T_j].
    num_classes: K, the number of phase classes (>= 2).
    fractions: iterable of floats in (0, 1].

  Returns:
    {fraction: mean R^2 over events}.
  """
  check_embs_and_labels(train_embs, train_labels, 'event_completion train')
  check_embs_and_labels(val_embs, val_labels, 'event_completion val')
  if num_classes < 2:
    raise ValueError('event_completion needs at least 2 phase classes (one '
                     'key event), got num_classes=%r; check the dataset\'s '
                     'dataset_info.json or DATA.FRAME_LABELS.' % num_classes)
  val_data = [_event_frames(val_embs, val_labels, c)
              for c in range(num_classes - 1)]
  scores = {}
  for fraction in fractions:
    if not 0.0 < fraction <= 1.0:
      raise ValueError('labeled fraction must be in (0, 1] (EVAL.CLASSIFICATION'
                       '_FRACTIONS), got %r.' % fraction)
    num = max(1, int(fraction * len(train_embs)))
    event_scores = []
    for event, (val_frames, val_targets) in enumerate(val_data):
      frames, targets = _event_frames(train_embs[:num], train_labels[:num],
                                      event)
      if frames is None or val_frames is None:
        continue
      regressor = LinearRegression().fit(frames, targets)
      event_scores.append(regressor.score(val_frames, val_targets))
    scores[fraction] = (float(np.mean(event_scores)) if event_scores
                        else float('nan'))
  return scores


class EventCompletion(Task):
  """`event_completion`: r2@<fraction> for EVAL.CLASSIFICATION_FRACTIONS."""

  name = 'event_completion'
  needs_labels = True

  def evaluate(self, context):
    num_classes = context.num_classes
    if num_classes is None:
      num_classes = 1 + max(int(np.max(l)) for l in
                            list(context.train['labels']) +
                            list(context.val['labels']))
    if num_classes < 2:
      context.log('event_completion: the data has a single phase class (no '
                  'frame labels?), skipped.')
      return {}
    scores = progression_score(
        context.train['embs'], context.train['labels'], context.val['embs'],
        context.val['labels'], num_classes,
        self.cfg.EVAL.CLASSIFICATION_FRACTIONS)
    return {'r2@' + fraction_key(f): r2 for f, r2 in scores.items()}
