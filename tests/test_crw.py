"""Contrastive random walk loss against a direct NumPy implementation."""

import os

import numpy as np
import pytest
import tensorflow as tf

from correspondence import crw


def _softmax(x):
  x = x - x.max(-1, keepdims=True)
  e = np.exp(x)
  return e / e.sum(-1, keepdims=True)


def _numpy_crw(q, tau, fwd_drop, bwd_drop, min_k):
  """Per clip, per walk length k: walk = prod_t A(t->t+1) prod_t A(t+1->t);
  cross-entropy of returning to the start node."""
  batch, num_frames, num_nodes, _ = q.shape
  losses = {}
  for k in range(min_k, num_frames):
    xents = []
    for b in range(batch):
      walk = np.eye(num_nodes)
      for t in range(k):
        aff = q[b, t] @ q[b, t + 1].T
        aff = np.where(fwd_drop[b, t], -1e20, aff)
        walk = walk @ _softmax(aff / tau)
      for t in range(k - 1, -1, -1):
        aff = q[b, t + 1] @ q[b, t].T
        aff = np.where(bwd_drop[b, t], -1e20, aff)
        walk = walk @ _softmax(aff / tau)
      for i in range(num_nodes):
        xents.append(-np.log(walk[i, i] + 1e-20))
    losses[k] = np.mean(xents)
  return np.mean(list(losses.values())), losses


def _random_nodes(rng, shape):
  q = rng.normal(size=shape)
  return q / np.linalg.norm(q, axis=-1, keepdims=True)


@pytest.mark.parametrize('min_k', [1, 2])
def test_crw_loss_matches_numpy_with_edge_dropout(min_k):
  rng = np.random.default_rng(0)
  q = _random_nodes(rng, (2, 5, 6, 4))
  fwd = rng.random((2, 4, 6, 6)) < 0.2
  bwd = rng.random((2, 4, 6, 6)) < 0.2
  loss, walks = crw.crw_loss(tf.constant(q, tf.float32), 0.1,
                             min_walk_length=min_k,
                             drop_masks=(tf.constant(fwd), tf.constant(bwd)))
  expected, expected_walks = _numpy_crw(q, 0.1, fwd, bwd, min_k)
  assert sorted(walks) == list(range(min_k, 5))
  for k, value in expected_walks.items():
    assert float(walks[k]) == pytest.approx(value, rel=1e-4)
  assert float(loss) == pytest.approx(expected, rel=1e-4)


def _videowalk_drop_masks(affinity, forward_draws, backward_draws, rate):
  """The published code's edge dropout, emulated with NumPy views: each
  forward step writes -1e20 in place into its slice of the shared affinity
  array; the backward steps then read those slices transposed and drop
  afresh. Returns the (forward, backward) masks of -1e20 entries."""
  shared = affinity.copy()
  forward, backward = [], []
  for t in range(shared.shape[1]):
    step = shared[:, t]  # a view: the write below changes `shared`
    step[forward_draws[:, t] < rate] = -1e20
    forward.append(step == -1e20)
  for t in range(shared.shape[1]):
    step = shared[:, t].swapaxes(-1, -2).copy()
    step[backward_draws[:, t] < rate] = -1e20
    backward.append(step == -1e20)
  return np.stack(forward, 1), np.stack(backward, 1)


def test_backward_dropout_is_the_transposed_forward_plus_fresh():
  rng = np.random.default_rng(3)
  q = _random_nodes(rng, (2, 5, 7, 4))
  affinity = np.einsum('btnd,btmd->btnm', q[:, :-1], q[:, 1:])
  forward_draws = rng.random((2, 4, 7, 7))
  backward_draws = rng.random((2, 4, 7, 7))
  rate = 0.3
  expected = _videowalk_drop_masks(affinity, forward_draws, backward_draws,
                                   rate)
  got = crw.correlated_drop_masks(tf.constant(forward_draws),
                                  tf.constant(backward_draws), rate)
  for mask, want in zip(got, expected):
    np.testing.assert_array_equal(mask.numpy(), want)
  # The loss with those masks is the published code's loss.
  loss, _ = crw.crw_loss(tf.constant(q, tf.float32), 0.1,
                         drop_masks=tuple(got))
  assert float(loss) == pytest.approx(
      _numpy_crw(q, 0.1, *expected, 2)[0], rel=1e-4)


def test_random_edge_dropout_is_correlated():
  rate, shape = 0.3, (2, 3, 16, 16)
  tf.random.set_seed(4)
  forward, backward = (m.numpy() for m in crw.random_drop_masks(shape, rate))
  shared = forward.swapaxes(-1, -2)
  # Every edge dropped forward is dropped on the way back (transposed) ...
  assert backward[shared].all() and shared.sum() > 100
  # ... and the others are dropped afresh at the same rate.
  assert backward[~shared].mean() == pytest.approx(rate, abs=0.06)
  assert forward.mean() == pytest.approx(rate, abs=0.06)
  # crw_loss draws its masks this way.
  q = tf.constant(_random_nodes(np.random.default_rng(5), (2, 4, 16, 3)),
                  tf.float32)
  tf.random.set_seed(6)
  loss, _ = crw.crw_loss(q, 0.1, edge_dropout=rate)
  tf.random.set_seed(6)
  masks = crw.random_drop_masks((2, 3, 16, 16), rate)
  assert float(loss) == pytest.approx(
      float(crw.crw_loss(q, 0.1, drop_masks=masks)[0]), rel=1e-6)


def test_palindrome_target_is_the_start_node():
  """Nodes that map one-to-one between frames (a permutation) make every
  palindrome return to its start: loss ~ 0; a shuffled identity does not."""
  rng = np.random.default_rng(1)
  base = np.eye(6)[:, :6]
  perms = [rng.permutation(6) for _ in range(4)]
  q = np.stack([base[p] for p in perms])[None]  # [1, 4, 6, 6]
  loss, _ = crw.crw_loss(tf.constant(q, tf.float32), 0.05)
  assert float(loss) < 1e-6
  # Identical nodes everywhere: the walk is uniform, loss = log N.
  flat = np.ones((1, 4, 6, 3)) / np.sqrt(3)
  loss, _ = crw.crw_loss(tf.constant(flat, tf.float32), 0.05)
  assert float(loss) == pytest.approx(np.log(6), rel=1e-5)


def test_crw_gradient_matches_finite_differences():
  rng = np.random.default_rng(2)
  q = tf.Variable(_random_nodes(rng, (1, 3, 4, 3)), dtype=tf.float64)
  with tf.GradientTape() as tape:
    loss, _ = crw.crw_loss(q, 0.5, min_walk_length=1)
  grad = tape.gradient(loss, q).numpy()
  base = q.numpy()
  eps = 1e-6
  for index in [(0, 0, 0, 0), (0, 1, 2, 1), (0, 2, 3, 2)]:
    plus, minus = base.copy(), base.copy()
    plus[index] += eps
    minus[index] -= eps
    numeric = (_numpy_crw(plus, 0.5, np.zeros((1, 2, 4, 4), bool),
                          np.zeros((1, 2, 4, 4), bool), 1)[0] -
               _numpy_crw(minus, 0.5, np.zeros((1, 2, 4, 4), bool),
                          np.zeros((1, 2, 4, 4), bool), 1)[0]) / (2 * eps)
    assert grad[index] == pytest.approx(numeric, rel=1e-4, abs=1e-8)


def test_short_clip_is_a_clear_error():
  with pytest.raises(ValueError, match='at least 3 frames'):
    crw.crw_loss(tf.zeros([1, 2, 4, 3]), 0.1, min_walk_length=2)


def test_grid_patches_layout():
  frames = np.arange(2 * 1 * 8 * 8 * 3, dtype=np.float32).reshape(
      2, 1, 8, 8, 3)
  patches = crw.grid_patches(tf.constant(frames), 4, 2).numpy()
  assert patches.shape == (2, 1, 9, 4, 4, 3)
  # Patch 4 is row 1, column 1 of the 3 x 3 grid: origin (2, 2).
  np.testing.assert_array_equal(patches[1, 0, 4], frames[1, 0, 2:6, 2:6])
  np.testing.assert_array_equal(patches[0, 0, 2], frames[0, 0, 0:4, 4:8])


def test_random_resized_boxes_follow_scale_and_ratio():
  tf.random.set_seed(3)
  boxes = crw.random_resized_boxes(4000, (0.7, 0.9), (3 / 4, 4 / 3)).numpy()
  y0, x0, y1, x1 = boxes.T
  assert (y0 >= 0).all() and (x0 >= 0).all()
  assert (y1 <= 1 + 1e-6).all() and (x1 <= 1 + 1e-6).all()
  height, width = y1 - y0, x1 - x0
  inside = (height < 1 - 1e-6) & (width < 1 - 1e-6)
  # Sides that fit: area and aspect ratio in range; clipped ones are rare.
  assert inside.mean() > 0.6
  area, aspect = (height * width)[inside], (width / height)[inside]
  assert area.min() >= 0.7 - 1e-5 and area.max() <= 0.9 + 1e-5
  assert aspect.min() >= 3 / 4 - 1e-5 and aspect.max() <= 4 / 3 + 1e-5
  # Uniform positions: both ends of the free range are reached.
  free = 1 - width[inside]
  offset = x0[inside] / np.maximum(free, 1e-6)
  assert offset.min() < 0.05 and offset.max() > 0.95


def test_random_resized_crops_resample_a_window_of_each_image():
  # Channel 0 holds the pixel's x, channel 1 its y: every crop resized back
  # to 16 x 16 must be an affine ramp in each, with slope = the box side (as
  # a fraction of the image; crop_and_resize samples the box ends at the
  # first and last output pixel), inside the image.
  size, num = 16, 50
  ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
  images = np.repeat(np.stack([xs, ys], -1)[None], num, 0)
  tf.random.set_seed(0)
  crops = crw.random_resized_crops(tf.constant(images), (0.5, 0.9),
                                   (0.7, 1.3)).numpy()
  assert crops.shape == (num, size, size, 2)
  slopes_x = np.diff(crops[..., 0], axis=2)
  slopes_y = np.diff(crops[..., 1], axis=1)
  widths, heights = [], []
  for i in range(num):
    assert np.ptp(slopes_x[i]) < 1e-3 and np.ptp(slopes_y[i]) < 1e-3
    assert np.abs(np.diff(crops[i, ..., 0], axis=0)).max() < 1e-3
    assert np.abs(np.diff(crops[i, ..., 1], axis=1)).max() < 1e-3
    width, height = slopes_x[i].mean(), slopes_y[i].mean()
    if max(width, height) < 1 - 1e-3:
      assert 0.5 - 1e-3 <= width * height <= 0.9 + 1e-3
      assert 0.7 - 1e-3 <= width / height <= 1.3 + 1e-3
    assert crops[i].min() >= -1e-3 and crops[i].max() <= size - 1 + 1e-3
    widths.append(width)
    heights.append(height)
  # Every image gets its own crop.
  assert len({round(float(w), 4) for w in widths}) > num // 2
  # Scale (1, 1): the images themselves.
  same = crw.random_resized_crops(tf.constant(images), (1.0, 1.0), (0.7, 1.3))
  np.testing.assert_array_equal(same.numpy(), images)


def test_walk_nodes_diagnostic_per_node_losses_and_kinds():
  from experiments import crw_walk_nodes  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(3)
  q = _random_nodes(rng, (2, 4, 5, 6))
  losses = crw_walk_nodes.node_walk_losses(q, 0.1)
  # Per node: -log of returning along 0 -> 3 -> 0, no edge dropout.
  expected = np.zeros((2, 5))
  for b in range(2):
    walk = np.eye(5)
    for t in range(3):
      walk = walk @ _softmax(q[b, t] @ q[b, t + 1].T / 0.1)
    for t in range(2, -1, -1):
      walk = walk @ _softmax(q[b, t + 1] @ q[b, t].T / 0.1)
    expected[b] = -np.log(np.diag(walk))
  np.testing.assert_allclose(losses, expected, rtol=1e-4)
  # Its mean is the CRW loss of that walk length alone.
  no_drop = np.zeros((2, 3, 5, 5), bool)
  _, by_length = _numpy_crw(q, 0.1, no_drop, no_drop, 3)
  np.testing.assert_allclose(losses.mean(), by_length[3], rtol=1e-4)
  # Identical nodes: a uniform walk, log N per node.
  np.testing.assert_allclose(
      crw_walk_nodes.node_walk_losses(np.ones((1, 3, 4, 2)) / np.sqrt(2), 0.1),
      np.log(4), rtol=1e-5)
  # 4 x 4 masks, 2 x 2 patches every 2 px: nodes row-major.
  masks = np.zeros((1, 4, 4), bool)
  masks[0, :2, :2] = True  # node 0 all object
  masks[0, 0, 2] = True  # node 1 a quarter
  masks[0, 2:, 2:] = [[True, True], [True, False]]  # node 3 three quarters
  np.testing.assert_array_equal(
      crw_walk_nodes.node_kinds(masks, 2, 2), [[2, 1, 0, 2]])
  summary = crw_walk_nodes.summarize(np.array([[1.0, 2.0, 3.0, 5.0]]),
                                     np.array([[2, 1, 0, 2]]))
  assert summary == {'all': (2.75, 4), 'background': (3.0, 1),
                     'mixed': (2.0, 1), 'object': (3.0, 2)}
  # Raw-pixel nodes: flattened patches, mean removed, unit length.
  patches = rng.uniform(-1, 1, (1, 2, 4, 2, 2, 3)).astype(np.float32)
  nodes = crw_walk_nodes.pixel_nodes(patches).numpy()
  patch = patches[0, 1, 2].reshape(-1)
  patch = patch - patch.mean()
  np.testing.assert_allclose(nodes[0, 1, 2], patch / np.linalg.norm(patch),
                             rtol=1e-5, atol=1e-6)
  # Colour-histogram nodes: sqrt of the fraction of pixels per RGB cell.
  patches = rng.uniform(-1, 1, (2, 3, 4, 5, 5, 3)).astype(np.float32)
  patches[0, 0, 0, 0, 0] = [1.0, -1.0, 0.0]  # the edges of the range
  bins = 3
  nodes = crw_walk_nodes.histogram_nodes(patches, bins).numpy()
  assert nodes.shape == (2, 3, 4, bins ** 3)
  for c, t, n in [(0, 0, 0), (1, 2, 3)]:
    counts = np.zeros((bins, bins, bins))
    for pixel in patches[c, t, n].reshape(-1, 3):
      r, g, b = [min(int((v + 1) / 2 * bins), bins - 1) for v in pixel]
      counts[r, g, b] += 1
    expected = np.sqrt(counts.reshape(-1) / 25)
    np.testing.assert_allclose(nodes[c, t, n],
                               expected / np.linalg.norm(expected), rtol=1e-5)


def test_overlap_demo_config_has_7x7_half_stride_nodes():
  """configs/demo/crw_overlap_demo.yml: the paper's geometry (patches every
  half patch side, 7 x 7 nodes) on the demo's frames; crw_demo.yml: 3 x 3
  nodes that do not overlap."""
  import config  # pylint: disable=g-import-not-at-top
  demo = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))), 'configs', 'demo')
  for name, side in [('crw_overlap_demo.yml', 7), ('crw_demo.yml', 3)]:
    cfg = config.build_config([os.path.join(demo, name)])
    size = cfg.IMAGE_SIZE
    patches = crw.grid_patches(tf.zeros([1, 1, size, size, 3]),
                               cfg.CRW.PATCH_SIZE, cfg.CRW.PATCH_STRIDE)
    assert patches.shape[2] == side * side, name
    overlap = cfg.CRW.PATCH_STRIDE * 2 == cfg.CRW.PATCH_SIZE
    assert overlap == (side == 7), name
