"""Tests of tcn/ (TCN losses) and the mvtcn, svtcn, alignment_mvtcn algorithms.

Every loss is compared with an independent NumPy loop written here.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import algos
from algos.alignment import alignment_loss
from config import CONFIG
from tcn import losses


# ----------------------------------------------------------------------------
# NumPy references.
# ----------------------------------------------------------------------------


def _sq_dists(x):
  return np.array([[np.sum((a - b) ** 2) for b in x] for a in x])


def _semihard_reference(x, is_positive, is_negative, margin):
  """Loop over (anchor, positive) pairs; is_positive/is_negative(a, j)."""
  d = _sq_dists(x)
  n = len(x)
  total, count = 0.0, 0
  for a in range(n):
    negatives = [j for j in range(n) if is_negative(a, j)]
    for p in range(n):
      if p == a or not is_positive(a, p):
        continue
      farther = [d[a, j] for j in negatives if d[a, j] > d[a, p]]
      if farther:
        d_neg = min(farther)
      elif negatives:
        d_neg = max(d[a, j] for j in negatives)
      else:
        d_neg = 0.0  # the smallest distance of the row: the anchor's own
      total += max(0.0, margin + d[a, p] - d_neg)
      count += 1
  return total / count if count else 0.0


def _triplet_reference(labels, x, margin):
  return _semihard_reference(x, lambda a, p: labels[a] == labels[p],
                             lambda a, j: labels[a] != labels[j], margin)


def _svtcn_reference(x, times, pos_radius, neg_radius, margin, seqs=None):
  seqs = np.zeros(len(x), int) if seqs is None else seqs
  return _semihard_reference(
      x, lambda a, p: abs(times[a] - times[p]) <= pos_radius and
      seqs[a] == seqs[p],
      lambda a, j: abs(times[a] - times[j]) > neg_radius or seqs[a] != seqs[j],
      margin)


def _npairs_reference(anchors, positives, reg_lambda):
  out = []
  for a, p in zip(anchors, positives):
    total = 0.0
    for k in range(len(a)):
      logits = np.array([a[k] @ p[j] for j in range(len(p))])
      total += -(logits[k] - np.log(np.sum(np.exp(logits))))
    reg = 0.25 * reg_lambda * (np.mean(np.sum(a * a, 1)) +
                               np.mean(np.sum(p * p, 1)))
    out.append(total / len(a) + reg)
  return np.mean(out)


def _numeric_grad(fn, x, eps=1e-6):
  grad = np.zeros_like(x)
  for idx in np.ndindex(*x.shape):
    up, down = x.copy(), x.copy()
    up[idx] += eps
    down[idx] -= eps
    grad[idx] = (fn(up) - fn(down)) / (2 * eps)
  return grad


def _tf_grad(fn, x):
  x = tf.constant(x)
  with tf.GradientTape() as tape:
    tape.watch(x)
    value = fn(x)
  return tape.gradient(value, x).numpy()


# ----------------------------------------------------------------------------
# Losses.
# ----------------------------------------------------------------------------


def test_pairwise_squared_distances():
  x = np.random.default_rng(0).normal(size=[7, 3])
  np.testing.assert_allclose(losses.pairwise_squared_distances(x).numpy(),
                             _sq_dists(x), atol=1e-12)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_triplet_semihard_matches_reference(seed):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 4, 12)
  x = rng.normal(size=[12, 3]) * 0.5
  got = losses.triplet_semihard_loss(labels, x, margin=0.2).numpy()
  np.testing.assert_allclose(got, _triplet_reference(labels, x, 0.2),
                             rtol=1e-10)


def test_triplet_semihard_without_semihard_negative_uses_largest_negative():
  # Anchor 0 and positive 1 are far apart; both negatives are closer to the
  # anchor than the positive: the loss uses the farthest negative (d = 4).
  x = np.array([[0.0], [10.0], [1.0], [2.0]])
  labels = np.array([0, 0, 1, 1])
  got = losses.triplet_semihard_loss(labels, x, margin=0.2).numpy()
  expected = _triplet_reference(labels, x, 0.2)
  np.testing.assert_allclose(got, expected, rtol=1e-12)
  # Pair (0, 1): margin + 100 - 4; pair (1, 0): semi-hard negatives of 1 are
  # none either (64 and 81 < 100): margin + 100 - 81; pairs (2, 3), (3, 2):
  # d = 1, semi-hard negatives at d = 81 (anchor x=1) and d = 4 (anchor x=2):
  # both 0 after the hinge.
  np.testing.assert_allclose(expected, (96.2 + 19.2) / 4, rtol=1e-12)


def test_triplet_semihard_gradient_matches_finite_differences():
  rng = np.random.default_rng(3)
  labels = np.array([0, 0, 1, 1, 2, 2])
  x = rng.normal(size=[6, 2]) * 0.3
  fn = lambda e: losses.triplet_semihard_loss(labels, e, margin=0.5)
  np.testing.assert_allclose(
      _tf_grad(fn, x), _numeric_grad(lambda e: fn(e).numpy(), x), atol=1e-6)


@pytest.mark.parametrize('seed', [0, 1])
def test_singleview_tcn_loss_matches_reference(seed):
  rng = np.random.default_rng(seed)
  times = np.arange(20)
  x = rng.normal(size=[20, 4]) * 0.4
  got = losses.singleview_tcn_loss(x, times, 3, 6, margin=0.2).numpy()
  np.testing.assert_allclose(got, _svtcn_reference(x, times, 3, 6, 0.2),
                             rtol=1e-10)


def test_singleview_tcn_loss_anchor_without_negatives():
  # 8 frames, neg_radius 5: the middle frames have no negative at all.
  rng = np.random.default_rng(4)
  x = rng.normal(size=[8, 3])
  times = np.arange(8)
  got = losses.singleview_tcn_loss(x, times, 2, 5, margin=0.2).numpy()
  np.testing.assert_allclose(got, _svtcn_reference(x, times, 2, 5, 0.2),
                             rtol=1e-10)


def test_singleview_tcn_loss_multiple_sequences():
  rng = np.random.default_rng(5)
  x = rng.normal(size=[12, 3])
  times = np.tile(np.arange(6), 2)
  seqs = np.repeat([0, 1], 6)
  got = losses.singleview_tcn_loss(x, times, 1, 3, margin=0.3,
                                   sequence_ids=seqs).numpy()
  np.testing.assert_allclose(
      got, _svtcn_reference(x, times, 1, 3, 0.3, seqs), rtol=1e-10)


def test_singleview_tcn_gradient_matches_finite_differences():
  rng = np.random.default_rng(6)
  x = rng.normal(size=[10, 2]) * 0.3
  fn = lambda e: losses.singleview_tcn_loss(e, np.arange(10), 1, 3, 0.5)
  np.testing.assert_allclose(
      _tf_grad(fn, x), _numeric_grad(lambda e: fn(e).numpy(), x), atol=1e-6)


def test_singleview_tcn_loss_rejects_bad_radii():
  with pytest.raises(ValueError, match='neg_radius'):
    losses.singleview_tcn_loss(np.zeros([4, 2]), np.arange(4), 3, 3)


def test_npairs_matches_reference_and_gradient():
  rng = np.random.default_rng(7)
  anchors = rng.normal(size=[2, 5, 3]).astype(np.float32)
  positives = rng.normal(size=[2, 5, 3]).astype(np.float32)
  got = losses.npairs_loss(anchors, positives, 0.3).numpy()
  np.testing.assert_allclose(got, _npairs_reference(anchors, positives, 0.3),
                             rtol=1e-5)
  a64 = anchors.astype(np.float64)
  fn = lambda a: losses.npairs_loss(a, positives, 0.3)
  np.testing.assert_allclose(
      _tf_grad(fn, a64),
      _numeric_grad(lambda a: _npairs_reference(a, positives, 0.3), a64,
                    eps=1e-5), atol=1e-4)


# ----------------------------------------------------------------------------
# Algorithms.
# ----------------------------------------------------------------------------


@pytest.fixture
def tiny(fresh_config):
  cfg = fresh_config
  cfg.IMAGE_SIZE = 16
  cfg.TRAIN.NUM_FRAMES = 4
  cfg.DATA.NUM_STEPS = 2
  cfg.DATA.FRAME_STRIDE = 1
  cfg.MODEL.BASE_MODEL.SMALL_CNN_FILTERS = [4]
  cfg.MODEL.CONV_EMBEDDER_MODEL.CONV_LAYERS = [[4, 3, True]]
  cfg.MODEL.CONV_EMBEDDER_MODEL.FC_LAYERS = [[8, True]]
  cfg.MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE = 4
  cfg.MODEL.CONV_EMBEDDER_MODEL.FC_DROPOUT_RATE = 0.0
  keras.utils.set_random_seed(0)
  return cfg


def test_batch_specs():
  assert algos.num_steps_per_batch('mvtcn') == 2 * CONFIG.TRAIN.NUM_FRAMES
  assert algos.get_batch_spec('mvtcn').views == 2
  assert algos.get_batch_spec('alignment_mvtcn') == algos.get_batch_spec(
      'mvtcn')
  assert algos.num_steps_per_batch('svtcn') == CONFIG.TRAIN.NUM_FRAMES
  assert algos.get_batch_spec('alignment_svtcn') == algos.get_batch_spec(
      'svtcn')


@pytest.mark.parametrize('loss', ['npairs', 'triplet'])
def test_mvtcn_loss_on_view_slots(tiny, loss):
  CONFIG.MVTCN.LOSS = loss
  algo = algos.get_algo('mvtcn')
  rng = np.random.default_rng(8)
  embs = rng.normal(size=[3, 8, 4]).astype(np.float32)  # slots of 4 steps
  got = float(algo.compute_loss(tf.constant(embs), {}, training=True)['loss'])
  anchors, positives = embs[:, :4], embs[:, 4:]
  if loss == 'npairs':
    expected = _npairs_reference(anchors, positives, 0.002)
  else:
    labels = np.tile(np.arange(4), 2)
    expected = np.mean([_triplet_reference(
        labels, np.concatenate([a, p]), 0.2) for a, p in zip(anchors,
                                                              positives)])
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_mvtcn_embedding_is_normalised_for_triplet_only(tiny):
  frames = tf.random.uniform([1, 4 * 2, 16, 16, 3], -1, 1)
  CONFIG.MVTCN.LOSS = 'triplet'
  embs = algos.get_algo('mvtcn').embed(frames, training=False).numpy()
  np.testing.assert_allclose(np.linalg.norm(embs, axis=-1), 1.0, rtol=1e-5)
  CONFIG.MVTCN.LOSS = 'npairs'
  embs = algos.get_algo('mvtcn').embed(frames, training=False).numpy()
  assert not np.allclose(np.linalg.norm(embs, axis=-1), 1.0, rtol=1e-3)


def test_svtcn_loss_per_take(tiny):
  algo = algos.get_algo('svtcn')
  rng = np.random.default_rng(9)
  embs = rng.normal(size=[2, 16, 4]).astype(np.float32)
  steps = np.stack([np.arange(16), np.arange(5, 21)]).astype(np.int32)
  CONFIG.SVTCN.POS_RADIUS, CONFIG.SVTCN.NEG_RADIUS = 2, 5
  got = float(algo.compute_loss(tf.constant(embs),
                                {'steps': tf.constant(steps)},
                                training=True)['loss'])
  expected = np.mean([_svtcn_reference(e, s, 2, 5, 0.2)
                      for e, s in zip(embs, steps)])
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_alignment_mvtcn_is_the_weighted_sum(tiny):
  CONFIG.ALIGNMENT_MVTCN.ALIGNMENT_LOSS_WEIGHT = 0.3
  algo = algos.get_algo('alignment_mvtcn')
  rng = np.random.default_rng(10)
  embs = tf.constant(rng.normal(size=[3, 8, 4]).astype(np.float32))
  steps = tf.constant(np.tile(np.sort(rng.choice(30, [3, 4])), [1, 2]),
                      tf.int32)
  batch = {'steps': steps, 'seq_lens': tf.fill([3], 30)}
  out = algo.compute_loss(embs, batch, training=True)
  tcc = float(alignment_loss(embs[:, :4], steps[:, :4], batch['seq_lens']))
  mv = _npairs_reference(embs.numpy()[:, :4], embs.numpy()[:, 4:], 0.002)
  np.testing.assert_allclose(float(out['alignment']), tcc, rtol=1e-5)
  np.testing.assert_allclose(float(out['mvtcn']), mv, rtol=1e-5)
  np.testing.assert_allclose(float(out['loss']), 0.3 * tcc + 0.7 * mv,
                             rtol=1e-5)


@pytest.mark.parametrize('weight', [0.3, 0.0, 1.0])
def test_alignment_svtcn_is_the_weighted_sum(tiny, weight):
  CONFIG.ALIGNMENT_SVTCN.ALIGNMENT_LOSS_WEIGHT = weight
  CONFIG.SVTCN.POS_RADIUS, CONFIG.SVTCN.NEG_RADIUS = 2, 5
  algo = algos.get_algo('alignment_svtcn')
  rng = np.random.default_rng(12)
  embs = tf.constant(rng.normal(size=[2, 16, 4]).astype(np.float32))
  steps = tf.constant(np.stack([np.arange(16), np.arange(5, 21)]), tf.int32)
  batch = {'steps': steps, 'seq_lens': tf.fill([2], 30)}
  out = algo.compute_loss(embs, batch, training=True)
  tcc = float(alignment_loss(embs, steps, batch['seq_lens']))
  sv = np.mean([_svtcn_reference(e, s, 2, 5, 0.2)
                for e, s in zip(embs.numpy(), steps.numpy())])
  assert ('alignment' in out) == (weight > 0)
  assert ('svtcn' in out) == (weight < 1)
  if weight > 0:
    np.testing.assert_allclose(float(out['alignment']), tcc, rtol=1e-5)
  if weight < 1:
    np.testing.assert_allclose(float(out['svtcn']), sv, rtol=1e-5)
  np.testing.assert_allclose(float(out['loss']),
                             weight * tcc + (1 - weight) * sv, rtol=1e-5)


def test_alignment_svtcn_weight_out_of_range(tiny):
  CONFIG.ALIGNMENT_SVTCN.ALIGNMENT_LOSS_WEIGHT = 1.5
  with pytest.raises(ValueError, match='ALIGNMENT_SVTCN'):
    algos.get_algo('alignment_svtcn')


@pytest.mark.parametrize('name', ['mvtcn', 'svtcn', 'alignment_mvtcn',
                                  'alignment_svtcn'])
def test_train_step_runs(tiny, name):
  algo = algos.get_algo(name)
  num_steps = algos.num_steps_per_batch(name)
  views = algos.get_batch_spec(name).views
  rng = np.random.default_rng(11)
  batch = {
      'frames': tf.constant(rng.uniform(-1, 1, [2, num_steps * 2, 16, 16, 3]),
                            tf.float32),
      'steps': tf.constant(np.tile(np.arange(num_steps // views), [2, views]),
                           tf.int32),
      'seq_lens': tf.fill([2], 20),
  }
  out = algo.train_one_iter(batch, keras.optimizers.Adam(1e-3))
  assert np.isfinite(float(out['total_loss']))
