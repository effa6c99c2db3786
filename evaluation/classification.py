"""Per-frame phase classification with an SVM on frozen embeddings."""

import numpy as np
from sklearn.svm import SVC

from evaluation.base import Task
from evaluation.base import check_embs_and_labels
from evaluation.base import first_videos_frames
from evaluation.base import fraction_key


def fit_predict_svc(train_frames, train_targets, val_frames):
  """Fits `SVC(decision_function_shape='ovo')` (default parameters), predicts.

  An SVM cannot be fit on a single class, which happens when the labeled
  videos show one phase only; the prediction is then that class everywhere
  (what any classifier trained on those frames would answer).

  Args:
    train_frames: [M, D] embeddings.
    train_targets: [M] int labels.
    val_frames: [V, D] embeddings.

  Returns:
    [V] predicted labels.
  """
  classes = np.unique(train_targets)
  if len(classes) == 1:
    return np.full(len(val_frames), classes[0])
  svc = SVC(decision_function_shape='ovo')
  svc.fit(train_frames, train_targets)
  return svc.predict(val_frames)


def classification_accuracy(train_embs, train_labels, val_embs, val_labels,
                            fractions=(0.1, 0.5, 1.0)):
  """Validation per-frame accuracy of an SVM fit on a fraction of the videos.

  For each fraction f, an `SVC(decision_function_shape='ovo')` with default
  parameters is fit on all frames of the FIRST `max(1, int(f * N_train))`
  training videos (in the order given) and scored on every validation frame.

  Args:
    train_embs: list of N_train arrays [T_i, D].
    train_labels: list of N_train int arrays [T_i] (per-frame phase labels).
    val_embs: list of N_val arrays [T_j, D].
    val_labels: list of N_val int arrays [T_j].
    fractions: iterable of floats in (0, 1].

  Returns:
    {fraction: accuracy in [0, 1]}.
  """
  check_embs_and_labels(train_embs, train_labels, 'classification train')
  check_embs_and_labels(val_embs, val_labels, 'classification val')
  val_frames = np.concatenate(val_embs)
  val_targets = np.concatenate(val_labels)
  accuracies = {}
  for fraction in fractions:
    frames, targets = first_videos_frames(train_embs, train_labels, fraction)
    predictions = fit_predict_svc(frames, targets, val_frames)
    accuracies[fraction] = float(np.mean(predictions == val_targets))
  return accuracies


class Classification(Task):
  """`classification`: accuracy@<fraction> for EVAL.CLASSIFICATION_FRACTIONS."""

  name = 'classification'
  needs_labels = True

  def evaluate(self, context):
    accuracies = classification_accuracy(
        context.train['embs'], context.train['labels'], context.val['embs'],
        context.val['labels'], self.cfg.EVAL.CLASSIFICATION_FRACTIONS)
    return {'accuracy@' + fraction_key(f): acc
            for f, acc in accuracies.items()}
