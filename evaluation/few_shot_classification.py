"""Few-shot per-frame phase classification."""

import numpy as np
import scipy.stats

from evaluation.base import Task
from evaluation.base import check_embs_and_labels
from evaluation.classification import fit_predict_svc

FEW_SHOT_SEED = 42


def few_shot_accuracy(train_embs, train_labels, val_embs, val_labels,
                      num_labeled=(1, 5), num_episodes=20):
  """Mean validation accuracy of SVMs fit on k random training videos.

  For each k, the episodes draw their videos from a NumPy generator seeded
  with 42 (restarted for every k, so the result for one k does not depend on
  the other values listed): episode e uses the videos
  `permutation(N_train)[:k]`, i.e. exactly what `np.random.seed(42)` followed
  by one `np.random.permutation(N_train)` per episode gives. The generator is
  private: the draws that `SVC.fit` makes from NumPy's global generator do
  not shift the episodes, and the global state is left untouched.
  The SVM is the one of `classification_accuracy`, scored on every
  validation frame.

  Args:
    train_embs: list of N_train arrays [T_i, D].
    train_labels: list of N_train int arrays [T_i].
    val_embs: list of N_val arrays [T_j, D].
    val_labels: list of N_val int arrays [T_j].
    num_labeled: iterable of k, each in 1..N_train.
    num_episodes: episodes per k (>= 1).

  Returns:
    {k: (mean accuracy, half-width of the 95% Student-t confidence interval
    of that mean)}; the half-width is NaN with a single episode.
  """
  check_embs_and_labels(train_embs, train_labels, 'few-shot train')
  check_embs_and_labels(val_embs, val_labels, 'few-shot val')
  if num_episodes < 1:
    raise ValueError('few-shot needs at least 1 episode (EVAL.FEW_SHOT_NUM_'
                     'EPISODES), got %r.' % num_episodes)
  num_train = len(train_embs)
  val_frames = np.concatenate(val_embs)
  val_targets = np.concatenate(val_labels)
  results = {}
  for k in num_labeled:
    if not 1 <= k <= num_train:
      raise ValueError('few-shot k=%r labeled videos is not in 1..%d (the '
                       'training videos); fix EVAL.FEW_SHOT_NUM_LABELED.'
                       % (k, num_train))
    rng = np.random.RandomState(FEW_SHOT_SEED)
    accuracies = []
    for _ in range(num_episodes):
      chosen = rng.permutation(num_train)[:k]
      frames = np.concatenate([train_embs[i] for i in chosen])
      targets = np.concatenate([train_labels[i] for i in chosen])
      predictions = fit_predict_svc(frames, targets, val_frames)
      accuracies.append(np.mean(predictions == val_targets))
    accuracies = np.array(accuracies)
    if num_episodes > 1:
      sem = np.std(accuracies, ddof=1) / np.sqrt(num_episodes)
      half_width = scipy.stats.t.ppf(0.975, num_episodes - 1) * sem
    else:
      half_width = np.nan
    results[k] = (float(np.mean(accuracies)), float(half_width))
  return results


class FewShotClassification(Task):
  """`few_shot_classification`: accuracy@<k>shot and ci95@<k>shot.

  Values of EVAL.FEW_SHOT_NUM_LABELED above the number of training videos are
  skipped with a message (a small dataset should not stop the other tasks).
  """

  name = 'few_shot_classification'
  needs_labels = True

  def evaluate(self, context):
    num_train = len(context.train['embs'])
    usable = [k for k in self.cfg.EVAL.FEW_SHOT_NUM_LABELED if k <= num_train]
    for k in sorted(set(self.cfg.EVAL.FEW_SHOT_NUM_LABELED) - set(usable)):
      context.log('few_shot_classification: k=%d exceeds the %d training '
                  'videos, skipped.' % (k, num_train))
    results = few_shot_accuracy(
        context.train['embs'], context.train['labels'], context.val['embs'],
        context.val['labels'], usable, self.cfg.EVAL.FEW_SHOT_NUM_EPISODES)
    metrics = {}
    for k, (mean, half_width) in results.items():
      metrics['accuracy@%dshot' % k] = mean
      metrics['ci95@%dshot' % k] = half_width
    return metrics
