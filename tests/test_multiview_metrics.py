"""Tests of evaluation/multiview.py against hand computations and loops."""

import collections

import numpy as np
import pytest

from evaluation import cross_view_alignment_error
from evaluation import cross_view_kendalls_tau
from evaluation import knn_classification_error
from evaluation import multiview_alignment_error


def test_alignment_error_hand_computation():
  embs_a = np.array([[0.0], [1.0], [2.0], [3.0]])
  embs_b = np.array([[0.0], [3.0], [1.1], [2.1]])
  # Nearest frames of b: 0 -> 0, 1 -> 2, 2 -> 3, 3 -> 1:
  # (|0-0| + |1-2| + |2-3| + |3-1|) / 4 / 4 = 4 / 16.
  assert cross_view_alignment_error(embs_a, embs_b) == pytest.approx(0.25)
  assert cross_view_alignment_error(embs_a, embs_a) == 0.0


def _alignment_reference(a, b):
  total = 0.0
  for t, query in enumerate(a):
    distances = [(i, np.linalg.norm(query - target)) for i, target in
                 enumerate(b)]
    nearest = sorted(distances, key=lambda x: x[1])[0][0]
    total += abs(t - nearest) / float(len(a))
  return total / len(a)


def test_alignment_error_matches_loop_and_averages_view_pairs():
  rng = np.random.default_rng(0)
  takes = [[rng.normal(size=[n, 3]) for _ in range(3)] for n in (7, 9)]
  for views in takes:
    assert cross_view_alignment_error(views[0], views[1]) == pytest.approx(
        _alignment_reference(views[0], views[1]))
  expected = np.mean([_alignment_reference(v[i], v[j]) for v in takes
                      for i in range(3) for j in range(i + 1, 3)])
  assert multiview_alignment_error(takes) == pytest.approx(expected)
  with pytest.raises(ValueError, match='>= 2 views'):
    multiview_alignment_error([[takes[0][0]]])


def test_cross_view_tau():
  rng = np.random.default_rng(1)
  view = np.cumsum(rng.normal(size=[12, 2]), axis=0)
  assert cross_view_kendalls_tau([[view, view + 1e-3]]) == pytest.approx(1.0)
  assert cross_view_kendalls_tau([[view, view[::-1]]]) == pytest.approx(-1.0)


def _knn_reference(embs, labels, takes, k):
  """The published loops: sorted cross-take neighbours, per-class recall
  over the classes that are matched at least once."""
  matches, counts = collections.defaultdict(float), collections.defaultdict(
      float)
  for i in range(len(embs)):
    distances = sorted((np.sum((embs[i] - embs[j]) ** 2), j)
                       for j in range(len(embs)) if takes[j] != takes[i])
    retrieved = [labels[j] for _, j in distances[:k]]
    if labels[i] in retrieved:
      matches[labels[i]] += 1
    counts[labels[i]] += 1
  return 1.0 - np.mean([matches[l] / counts[l] for l in matches])


def test_knn_error_matches_published_loop():
  rng = np.random.default_rng(2)
  embs = rng.normal(size=[30, 4])
  labels = rng.integers(0, 3, 30)
  takes = np.repeat(['a', 'b', 'c'], 10)
  got = knn_classification_error(embs, labels, takes, (1, 3))
  for k in (1, 3):
    assert got[k] == pytest.approx(_knn_reference(embs, labels, takes, k))


def test_knn_error_ignores_classes_never_retrieved():
  # Class 2 only exists in take 'a' and is never a neighbour's label.
  embs = np.array([[0.0], [10.0], [0.1], [10.1], [50.0]])
  labels = np.array([0, 1, 0, 1, 2])
  takes = np.array(['a', 'a', 'b', 'b', 'a'])
  assert knn_classification_error(embs, labels, takes)[1] == pytest.approx(
      _knn_reference(embs, labels, takes, 1))
  assert knn_classification_error(embs, labels, takes)[1] == pytest.approx(
      0.0)


def test_multiview_metrics_pools_all_views_for_knn():
  from evaluation.multiview import multiview_metrics  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(3)
  takes = [[rng.normal(size=[6, 2]) for _ in range(2)] for _ in range(3)]
  labels = [np.array([0, 0, 1, 1, 2, 2])] * 3
  metrics = multiview_metrics(takes, labels, ['a', 'b', 'c'])
  embs = np.concatenate([v for views in takes for v in views])
  frame_labels = np.tile(labels[0], 6)
  frame_takes = np.repeat(['a', 'b', 'c'], 12)
  assert metrics['knn_error@1'] == pytest.approx(
      _knn_reference(embs, frame_labels, frame_takes, 1))
  assert metrics['alignment_error'] == pytest.approx(
      multiview_alignment_error(takes))
  assert set(multiview_metrics(takes)) == {'alignment_error', 'kendalls_tau'}
