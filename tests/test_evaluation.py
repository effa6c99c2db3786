"""Tests of the evaluation metrics against straightforward implementations."""

import os

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
from sklearn.linear_model import LinearRegression
from sklearn.svm import SVC

import config
import evaluation
from evaluation import classification_accuracy
from evaluation import few_shot_accuracy
from evaluation import kendalls_tau
from evaluation import pairwise_kendalls_tau
from evaluation import progression_score
from visualization import figures
from evaluation.kendall import kendall_tau_b_batch


def random_videos(rng, num_videos, min_len, max_len, dim):
  return [rng.normal(size=(rng.randint(min_len, max_len + 1), dim))
          for _ in range(num_videos)]


def reference_pair_taus(embs_list, stride, distance):
  """Per-pair cdist + argmin + scipy kendalltau, the textbook loop."""
  taus = np.full((len(embs_list),) * 2, np.nan)
  for i, query in enumerate(embs_list):
    for j, candidates in enumerate(embs_list):
      if i == j:
        continue
      dists = scipy.spatial.distance.cdist(query[::stride],
                                           candidates[::stride], distance)
      nns = np.argmin(dists, axis=1)
      taus[i, j] = scipy.stats.kendalltau(np.arange(len(nns)), nns)[0]
  return taus


def phase_labels(length, boundaries):
  """Labels 0..len(boundaries) with phase c ending before boundaries[c]."""
  return np.searchsorted(np.asarray(boundaries), np.arange(length),
                         side='right')


# ----------------------------------------------------------------------------
# Kendall's tau.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize('distance', ['sqeuclidean', 'cosine'])
@pytest.mark.parametrize('stride', [1, 3])
def test_kendalls_tau_matches_per_pair_scipy(distance, stride):
  rng = np.random.RandomState(0)
  embs = random_videos(rng, 6, 5, 30, 4)
  expected = reference_pair_taus(embs, stride, distance)
  got = pairwise_kendalls_tau(embs, stride, distance)
  np.testing.assert_allclose(got, expected, atol=1e-6)
  assert kendalls_tau(embs, stride, distance) == pytest.approx(
      np.nanmean(expected), abs=1e-6)


@pytest.mark.parametrize('distance', ['sqeuclidean', 'cosine'])
def test_kendalls_tau_of_float32_embeddings_matches_scipy(distance):
  # float32 inputs are not copied to float64: the float64 recheck reads them.
  rng = np.random.RandomState(8)
  embs = [e.astype(np.float32) for e in random_videos(rng, 6, 20, 40, 16)]
  expected = reference_pair_taus(embs, 1, distance)
  np.testing.assert_allclose(pairwise_kendalls_tau(embs, 1, distance),
                             expected, atol=1e-6)


def test_kendalls_tau_matches_scipy_with_many_ties():
  # Low-dimensional, few distinct embeddings: many frames share a nearest
  # neighbour, exercising the tie correction of tau-b.
  rng = np.random.RandomState(1)
  embs = [np.round(rng.uniform(size=(rng.randint(8, 25), 1)) * 3)
          for _ in range(5)]
  expected = reference_pair_taus(embs, 1, 'sqeuclidean')
  got = pairwise_kendalls_tau(embs, 1, 'sqeuclidean')
  np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize('distance', ['sqeuclidean', 'cosine'])
def test_kendalls_tau_exact_where_float32_is_not(distance):
  # A large common offset and tiny differences: float32 distances cannot
  # order the frames, so every nearest neighbour must come from the float64
  # recomputation to match the float64 reference.
  rng = np.random.RandomState(16)
  embs = [30.0 + 1e-3 * rng.normal(size=(rng.randint(6, 15), 5))
          for _ in range(5)]
  expected = reference_pair_taus(embs, 1, distance)
  np.testing.assert_allclose(pairwise_kendalls_tau(embs, 1, distance),
                             expected, atol=1e-6)


def test_tau_b_batch_matches_scipy_and_drops_undefined():
  rng = np.random.RandomState(2)
  ranks = rng.randint(0, 4, size=(20, 12))
  lens = rng.randint(0, 13, size=20)
  ranks[0] = 7  # All tied: tau-b undefined.
  lens[0] = 12
  got = kendall_tau_b_batch(ranks, lens)
  for p in range(20):
    n = lens[p]
    if n < 2:
      assert np.isnan(got[p])
      continue
    want = scipy.stats.kendalltau(np.arange(n), ranks[p, :n])[0]
    if np.isnan(want):
      assert np.isnan(got[p])
    else:
      assert got[p] == pytest.approx(want, abs=1e-9)
  assert np.isnan(got[0])


def test_kendalls_tau_identical_videos_is_one():
  rng = np.random.RandomState(3)
  video = rng.normal(size=(40, 8))
  assert kendalls_tau([video, video.copy(), video.copy()], 2) == (
      pytest.approx(1.0))


def test_kendalls_tau_reversed_video_is_minus_one():
  rng = np.random.RandomState(4)
  video = rng.normal(size=(30, 8))
  assert kendalls_tau([video, video[::-1]], 1) == pytest.approx(-1.0)


def test_kendalls_tau_drops_nan_pairs():
  # Video 2 is one repeated embedding: pairs (0, 2) and (1, 2) map every
  # frame to the same index (tau-b undefined), and are dropped. Pairs (2, 0)
  # and (2, 1) then are constant-query: also undefined.
  video = np.arange(20, dtype=np.float64)[:, None] * np.ones((1, 3))
  constant = np.ones((20, 3))
  assert kendalls_tau([video, video.copy(), constant], 1) == pytest.approx(1.0)
  assert np.isnan(kendalls_tau([constant, constant.copy()], 1))


def test_kendalls_tau_bad_input():
  with pytest.raises(ValueError, match='at least 2 videos'):
    kendalls_tau([np.zeros((5, 2))], 1)
  with pytest.raises(ValueError, match='KENDALLS_TAU_DISTANCE'):
    kendalls_tau([np.zeros((5, 2))] * 2, 1, 'manhattan')


@pytest.mark.parametrize('setting, value', [
    ('_MAX_BLOCK_ELEMENTS', 1), ('_TILE_ELEMENTS', 1),
    ('_MAX_TAU_ELEMENTS', 1), ('_COMPARED_BLOCK', 1), ('_COMPARED_BLOCK', 4)])
def test_kendalls_tau_blocks_agree(monkeypatch, setting, value):
  rng = np.random.RandomState(5)
  embs = random_videos(rng, 7, 10, 40, 3)
  whole = pairwise_kendalls_tau(embs, 1)
  monkeypatch.setattr('evaluation.kendall.' + setting, value)
  np.testing.assert_array_equal(pairwise_kendalls_tau(embs, 1), whole)


def test_kendalls_tau_single_core_agrees(monkeypatch):
  rng = np.random.RandomState(6)
  embs = random_videos(rng, 9, 10, 30, 4)
  threaded = pairwise_kendalls_tau(embs, 1)
  monkeypatch.setattr('evaluation.kendall._num_cores', lambda: 1)
  np.testing.assert_array_equal(pairwise_kendalls_tau(embs, 1), threaded)


@pytest.mark.parametrize('compared_block', [1, 2, 16])
def test_tau_b_batch_long_rows_match_scipy(monkeypatch, compared_block):
  # Rows of 100 values (padded to 128): several merge levels above the
  # compared blocks.
  monkeypatch.setattr('evaluation.kendall._COMPARED_BLOCK', compared_block)
  rng = np.random.RandomState(7)
  ranks = rng.randint(0, 40, size=(12, 100))
  lens = rng.randint(2, 101, size=12)
  got = kendall_tau_b_batch(ranks, lens)
  for p in range(12):
    want = scipy.stats.kendalltau(np.arange(lens[p]), ranks[p, :lens[p]])[0]
    assert got[p] == pytest.approx(want, abs=1e-12)


# ----------------------------------------------------------------------------
# Classification.
# ----------------------------------------------------------------------------


def labeled_videos(rng, num_videos, dim=6, noise=1.0, num_classes=3):
  embs, labels = [], []
  for _ in range(num_videos):
    length = rng.randint(15, 30)
    cuts = np.sort(rng.choice(np.arange(1, length), num_classes - 1,
                              replace=False))
    video_labels = phase_labels(length, cuts)
    centers = np.eye(num_classes, dim)[video_labels] * 3.0
    embs.append(centers + noise * rng.normal(size=(length, dim)))
    labels.append(video_labels)
  return embs, labels


def test_classification_matches_sklearn_on_first_videos():
  rng = np.random.RandomState(6)
  train_embs, train_labels = labeled_videos(rng, 10, noise=2.0)
  val_embs, val_labels = labeled_videos(rng, 4, noise=2.0)
  fractions = [0.1, 0.35, 1.0]
  got = classification_accuracy(train_embs, train_labels, val_embs,
                                val_labels, fractions)
  for fraction in fractions:
    num = max(1, int(fraction * 10))
    svc = SVC(decision_function_shape='ovo').fit(
        np.concatenate(train_embs[:num]), np.concatenate(train_labels[:num]))
    want = svc.score(np.concatenate(val_embs), np.concatenate(val_labels))
    assert got[fraction] == pytest.approx(want)
  assert got[0.1] != got[1.0]  # The fractions really use different videos.


def test_classification_separable_classes_is_perfect():
  rng = np.random.RandomState(7)
  train_embs, train_labels = labeled_videos(rng, 5, noise=0.05)
  val_embs, val_labels = labeled_videos(rng, 3, noise=0.05)
  got = classification_accuracy(train_embs, train_labels, val_embs,
                                val_labels, [1.0])
  assert got == {1.0: 1.0}


def test_classification_single_class_predicts_it():
  train_embs = [np.zeros((5, 2))]
  train_labels = [np.full(5, 2)]
  val_labels = [np.array([2, 2, 0, 1])]
  got = classification_accuracy(train_embs, train_labels, [np.ones((4, 2))],
                                val_labels, [1.0])
  assert got[1.0] == pytest.approx(0.5)


def test_classification_bad_input():
  with pytest.raises(ValueError, match='label arrays'):
    classification_accuracy([np.zeros((3, 2))], [], [np.zeros((3, 2))],
                            [np.zeros(3)], [1.0])
  with pytest.raises(ValueError, match='CLASSIFICATION_FRACTIONS'):
    classification_accuracy([np.zeros((3, 2))], [np.zeros(3)],
                            [np.zeros((3, 2))], [np.zeros(3)], [1.5])


# ----------------------------------------------------------------------------
# Few-shot classification.
# ----------------------------------------------------------------------------


def test_few_shot_matches_reference_loop():
  rng = np.random.RandomState(8)
  train_embs, train_labels = labeled_videos(rng, 8, noise=2.5)
  val_embs, val_labels = labeled_videos(rng, 3, noise=2.5)
  got = few_shot_accuracy(train_embs, train_labels, val_embs, val_labels,
                          [1, 3], 6)
  val_x = np.concatenate(val_embs)
  val_y = np.concatenate(val_labels)
  for k in (1, 3):
    # Drawn before fitting: SVC.fit itself draws from the global generator.
    np.random.seed(42)
    permutations = [np.random.permutation(8) for _ in range(6)]
    accuracies = []
    for permutation in permutations:
      chosen = permutation[:k]
      train_y = np.concatenate([train_labels[i] for i in chosen])
      svc = SVC(decision_function_shape='ovo').fit(
          np.concatenate([train_embs[i] for i in chosen]), train_y)
      accuracies.append(svc.score(val_x, val_y))
    mean, half_width = got[k]
    assert mean == pytest.approx(np.mean(accuracies))
    low, high = scipy.stats.t.interval(0.95, 5, loc=np.mean(accuracies),
                                       scale=scipy.stats.sem(accuracies))
    assert half_width == pytest.approx((high - low) / 2)
    assert half_width > 0


def test_few_shot_is_deterministic_and_checks_k():
  rng = np.random.RandomState(9)
  train_embs, train_labels = labeled_videos(rng, 4)
  val_embs, val_labels = labeled_videos(rng, 2)
  first = few_shot_accuracy(train_embs, train_labels, val_embs, val_labels,
                            [2], 3)
  second = few_shot_accuracy(train_embs, train_labels, val_embs, val_labels,
                             [1, 2], 3)
  assert first[2] == second[2]
  single = few_shot_accuracy(train_embs, train_labels, val_embs, val_labels,
                             [1], 1)
  assert np.isnan(single[1][1])
  with pytest.raises(ValueError, match='FEW_SHOT_NUM_LABELED'):
    few_shot_accuracy(train_embs, train_labels, val_embs, val_labels, [5], 3)


# ----------------------------------------------------------------------------
# Event completion (progression).
# ----------------------------------------------------------------------------


def reference_progression(train_embs, train_labels, val_embs, val_labels,
                          num_classes, fraction):
  num = max(1, int(fraction * len(train_embs)))
  scores = []
  for c in range(num_classes - 1):
    def frames_targets(embs, labels):
      xs, ys = [], []
      for e, l in zip(embs, labels):
        hits = [t for t in range(len(l)) if l[t] == c]
        if hits:
          xs.append(e)
          ys.append([(t - hits[-1]) / len(l) for t in range(len(l))])
      return np.concatenate(xs), np.concatenate(ys)
    x, y = frames_targets(train_embs[:num], train_labels[:num])
    vx, vy = frames_targets(val_embs, val_labels)
    scores.append(LinearRegression().fit(x, y).score(vx, vy))
  return np.mean(scores)


def test_progression_matches_reference():
  rng = np.random.RandomState(10)
  train_embs, train_labels = labeled_videos(rng, 6, dim=8, num_classes=4)
  val_embs, val_labels = labeled_videos(rng, 3, dim=8, num_classes=4)
  got = progression_score(train_embs, train_labels, val_embs, val_labels, 4,
                          [0.5, 1.0])
  for fraction in (0.5, 1.0):
    assert got[fraction] == pytest.approx(reference_progression(
        train_embs, train_labels, val_embs, val_labels, 4, fraction))


def test_progression_linear_target_is_perfect():
  # Embedding = [t / L, 1 / L, (labels one-hot) / L, noise]: every target
  # (t - t_c) / L is linear in it only through the first coordinates that
  # encode t / L and t_c / L, so put t_c / L in explicitly.
  rng = np.random.RandomState(11)
  def make(num_videos):
    embs, labels = [], []
    for _ in range(num_videos):
      length = rng.randint(20, 40)
      cuts = np.sort(rng.choice(np.arange(1, length), 2, replace=False))
      video_labels = phase_labels(length, cuts)
      last = [np.nonzero(video_labels == c)[0][-1] for c in range(2)]
      t = np.arange(length)
      embs.append(np.stack([t / length, np.full(length, last[0] / length),
                            np.full(length, last[1] / length),
                            rng.normal(size=length)], axis=1))
      labels.append(video_labels)
    return embs, labels
  train_embs, train_labels = make(5)
  val_embs, val_labels = make(3)
  got = progression_score(train_embs, train_labels, val_embs, val_labels, 3,
                          [1.0])
  assert got[1.0] == pytest.approx(1.0, abs=1e-9)


def test_progression_video_without_event_is_left_out():
  rng = np.random.RandomState(12)
  train_embs, train_labels = labeled_videos(rng, 5, dim=8, num_classes=3)
  val_embs, val_labels = labeled_videos(rng, 2, dim=8, num_classes=3)
  # Labels 0 then 2: no frame of phase 1, so no t_1 in these videos.
  train_embs.append(rng.normal(size=(20, 8)))
  train_labels.append(np.array([0] * 10 + [2] * 10))
  val_embs.append(rng.normal(size=(16, 8)))
  val_labels.append(np.array([0] * 8 + [2] * 8))
  got = progression_score(train_embs, train_labels, val_embs, val_labels, 3,
                          [1.0])[1.0]
  assert np.isfinite(got)
  assert got == pytest.approx(reference_progression(
      train_embs, train_labels, val_embs, val_labels, 3, 1.0))
  with pytest.raises(ValueError, match='num_classes'):
    progression_score(train_embs, train_labels, val_embs, val_labels, 1,
                      [1.0])


# ----------------------------------------------------------------------------
# Registry, tasks and figures.
# ----------------------------------------------------------------------------


def test_registry_names_and_unknown_task():
  assert {'algo_loss', 'classification', 'few_shot_classification',
          'event_completion', 'kendalls_tau'} <= set(evaluation.TASKS)
  with pytest.raises(ValueError, match='known tasks'):
    evaluation.get_tasks(['kendals_tau'], config.CONFIG)


def test_tasks_on_context_give_prefixed_metrics(fresh_config):
  fresh_config.EVAL.CLASSIFICATION_FRACTIONS = [0.5, 1.0]
  fresh_config.EVAL.FEW_SHOT_NUM_LABELED = [1, 10]
  fresh_config.EVAL.FEW_SHOT_NUM_EPISODES = 3
  rng = np.random.RandomState(13)
  train_embs, train_labels = labeled_videos(rng, 4)
  val_embs, val_labels = labeled_videos(rng, 3)
  messages = []
  context = evaluation.EvalContext(
      train={'embs': train_embs, 'labels': train_labels},
      val={'embs': val_embs, 'labels': val_labels}, num_classes=3,
      log=messages.append)
  names = ['classification', 'few_shot_classification', 'event_completion',
           'kendalls_tau']
  metrics = {}
  for task in evaluation.get_tasks(names, config.CONFIG):
    metrics.update(task.run(context))
  assert sorted(metrics) == sorted([
      'classification/accuracy@0.5', 'classification/accuracy@1',
      'few_shot_classification/accuracy@1shot',
      'few_shot_classification/ci95@1shot',
      'event_completion/r2@0.5', 'event_completion/r2@1',
      'kendalls_tau/train', 'kendalls_tau/val'])
  assert any('k=10' in m for m in messages)
  assert metrics['kendalls_tau/val'] == pytest.approx(
      kendalls_tau(val_embs, 2, 'sqeuclidean'))


def test_figures_are_written(tmp_path):
  rng = np.random.RandomState(14)
  sim_path = figures.plot_similarity_matrix(
      rng.normal(size=(12, 3)), rng.normal(size=(9, 3)),
      str(tmp_path / 'sim.png'), names=('a', 'b'))
  acc_path = figures.plot_accuracy_vs_fraction({0.1: 0.5, 1.0: 0.9},
                                               str(tmp_path / 'acc.png'))
  for path in (sim_path, acc_path):
    with open(path, 'rb') as f:
      assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  assert sorted(os.listdir(tmp_path)) == ['acc.png', 'sim.png']


def test_distance_matrix_matches_cdist():
  rng = np.random.RandomState(15)
  a, b = rng.normal(size=(7, 4)), rng.normal(size=(5, 4))
  for distance in ('sqeuclidean', 'cosine'):
    np.testing.assert_allclose(
        figures.distance_matrix(a, b, distance),
        scipy.spatial.distance.cdist(a, b, distance), atol=1e-10)


# ----------------------------------------------------------------------------
# Labels policy: label-based tasks see labelled videos only.
# ----------------------------------------------------------------------------

LABEL_TASKS = ['classification', 'few_shot_classification',
               'event_completion']


def _split(embs, labels, has_labels):
  labels = [l if h else np.full(len(l), -1) for l, h in zip(labels,
                                                            has_labels)]
  return {'embs': embs, 'labels': labels, 'names': [
      'v%d' % i for i in range(len(embs))],
          'has_labels': np.array(has_labels)}


def test_label_tasks_use_only_labelled_videos(fresh_config):
  fresh_config.EVAL.CLASSIFICATION_FRACTIONS = [1.0]
  fresh_config.EVAL.FEW_SHOT_NUM_LABELED = [2]
  fresh_config.EVAL.FEW_SHOT_NUM_EPISODES = 3
  rng = np.random.RandomState(21)
  train_embs, train_labels = labeled_videos(rng, 6, noise=2.0)
  val_embs, val_labels = labeled_videos(rng, 4, noise=2.0)
  train_has = [True, False, True, True, False, True]
  val_has = [True, True, False, True]
  context = evaluation.EvalContext(
      train=_split(train_embs, train_labels, train_has),
      val=_split(val_embs, val_labels, val_has), num_classes=3,
      log=lambda m: None)
  keep_train = [i for i, h in enumerate(train_has) if h]
  keep_val = [i for i, h in enumerate(val_has) if h]
  sub = lambda xs, keep: [xs[i] for i in keep]
  args = (sub(train_embs, keep_train), sub(train_labels, keep_train),
          sub(val_embs, keep_val), sub(val_labels, keep_val))
  metrics = {}
  for task in evaluation.get_tasks(LABEL_TASKS, config.CONFIG):
    metrics.update(task.run(context))
  assert metrics['classification/accuracy@1'] == pytest.approx(
      classification_accuracy(*args, [1.0])[1.0])
  assert metrics['few_shot_classification/accuracy@2shot'] == pytest.approx(
      few_shot_accuracy(*args, [2], 3)[2][0])
  assert metrics['event_completion/r2@1'] == pytest.approx(
      progression_score(*args, 3, [1.0])[1.0])
  # Scored on everything (unlabelled as -1) the numbers would differ.
  assert metrics['classification/accuracy@1'] != pytest.approx(
      classification_accuracy(train_embs, context.train['labels'], val_embs,
                              context.val['labels'], [1.0])[1.0])


@pytest.mark.parametrize('case', ['one_labelled', 'one_class', 'no_val'])
def test_label_tasks_skipped_with_one_message(fresh_config, case):
  fresh_config.EVAL.FEW_SHOT_NUM_LABELED = [1]
  rng = np.random.RandomState(22)
  train_embs, train_labels = labeled_videos(rng, 4)
  val_embs, val_labels = labeled_videos(rng, 2)
  train_has, val_has = [True] * 4, [True] * 2
  if case == 'one_labelled':
    train_has = [False, True, False, False]
  elif case == 'one_class':
    train_labels = [np.full(len(l), 1) for l in train_labels]
  else:
    val_has = [False, False]
  messages = []
  context = evaluation.EvalContext(
      train=_split(train_embs, train_labels, train_has),
      val=_split(val_embs, val_labels, val_has), num_classes=3,
      log=messages.append)
  for task in evaluation.get_tasks(LABEL_TASKS, config.CONFIG):
    assert task.run(context) == {}
  assert len(messages) == len(LABEL_TASKS)
  for task, message in zip(LABEL_TASKS, messages):
    assert message.startswith(task + ': skipped, ')
  expected = {'one_labelled': '1 labelled training video(s) of 4',
              'one_class': '1 phase class(es)',
              'no_val': 'no labelled validation video'}[case]
  assert expected in messages[0]
  # kendalls_tau needs no labels and still runs.
  assert evaluation.get_tasks(['kendalls_tau'], config.CONFIG)[0].run(context)
