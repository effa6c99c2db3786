"""TimeCycle: differentiable localisation and losses against NumPy."""

import os

import numpy as np
import pytest
import tensorflow as tf

from correspondence import timecycle


def _np_sample(feats, coords):
  """Loop bilinear sampling with border clamping (cell centres at integers,
  x = -1 the left edge of the first cell)."""
  batch, height, width, _ = feats.shape
  out = np.zeros(coords.shape[:3] + (feats.shape[-1],))
  for b in range(batch):
    for i in range(coords.shape[1]):
      for j in range(coords.shape[2]):
        x = (coords[b, i, j, 0] + 1) * width / 2 - 0.5
        y = (coords[b, i, j, 1] + 1) * height / 2 - 0.5
        x = min(max(x, 0), width - 1)
        y = min(max(y, 0), height - 1)
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        x1, y1 = min(x0 + 1, width - 1), min(y0 + 1, height - 1)
        ax, ay = x - x0, y - y0
        out[b, i, j] = ((1 - ay) * ((1 - ax) * feats[b, y0, x0] +
                                    ax * feats[b, y0, x1]) +
                        ay * ((1 - ax) * feats[b, y1, x0] +
                              ax * feats[b, y1, x1]))
  return out


def _np_theta(params, scale):
  angle, tx, ty = params
  return np.array([[scale * np.cos(angle), -scale * np.sin(angle), tx],
                   [scale * np.sin(angle), scale * np.cos(angle), ty]])


def _np_grid(theta, out_h, out_w):
  coords = np.zeros((out_h, out_w, 2))
  for i in range(out_h):
    for j in range(out_w):
      u = (2 * j + 1) / out_w - 1
      v = (2 * i + 1) / out_h - 1
      coords[i, j] = theta @ np.array([u, v, 1.0])
  return coords


def test_bilinear_sample_matches_loop():
  rng = np.random.default_rng(0)
  feats = rng.normal(size=(2, 5, 7, 3))
  coords = rng.uniform(-1.3, 1.3, size=(2, 4, 3, 2))  # some outside
  got = timecycle.bilinear_sample(tf.constant(feats), tf.constant(coords))
  np.testing.assert_allclose(got.numpy(), _np_sample(feats, coords),
                             atol=1e-10)


def test_unrotated_theta_samples_exactly_the_crop():
  rng = np.random.default_rng(1)
  image = rng.normal(size=(1, 12, 12, 2)).astype(np.float32)
  # A 4 x 4 box at rows 3..6, columns 5..8: centre (7, 5) px, side 4/12.
  centre = [2 * 7 / 12 - 1, 2 * 5 / 12 - 1]
  theta = timecycle.params_to_theta(tf.constant([[0.0] + centre]), 4 / 12,
                                    4 / 12)
  crop = timecycle.bilinear_sample(image, timecycle.affine_grid(theta, 4, 4))
  np.testing.assert_allclose(crop.numpy()[0], image[0, 3:7, 5:9], atol=1e-5)


def test_motion_patch_params_follow_the_most_moving_windows():
  grid, size, scale = 9, 36, 1 / 3
  rng = np.random.default_rng(9)
  target = rng.uniform(size=(size, size, 3)).astype(np.float32)
  moved = target.copy()
  moved[20:32, 4:16] = rng.uniform(size=(12, 12, 3))  # cells rows 5-7, cols 1-3
  moved[0:4, 28:36] += 0.5  # a little motion elsewhere (cells row 0, 7-8)
  # Independent window scores: sum of |diff| over 3 x 3 cells of 4 px.
  diff = np.abs(target - moved).sum(-1)
  scores = {(col, row): diff[row * 4:row * 4 + 12, col * 4:col * 4 + 12].sum()
            for row in range(grid - 2) for col in range(grid - 2)}
  top = sorted(scores, key=scores.get)[-10:]
  count = 600
  params = timecycle.motion_patch_params(
      tf.constant(np.repeat(target[None], count, 0)),
      tf.constant(np.repeat(moved[None], count, 0)), scale,
      tf.constant([3, 4]), grid_size=grid).numpy()
  assert np.all(np.abs(params[:, 0]) <= np.pi / 4)
  assert params[:, 0].std() > 0.3  # uniform on [-pi/4, pi/4]: 0.45
  positions = (params[:, 1:] / (1 - scale) + 1) / 2
  nominal = np.array(top, float) / (grid - 3)
  distance = np.abs(positions[:, None] - nominal[None]).max(-1)  # [N, 10]
  assert np.all(distance.min(-1) <= 1 / 12 + 1e-5)
  assert len(set(distance.argmin(-1))) == 10  # every top window is drawn
  # Same seed, same draws; another seed, others.
  def draw(seed):
    return timecycle.motion_patch_params(
        tf.constant(target[None]), tf.constant(moved[None]), scale,
        tf.constant(seed), grid_size=grid).numpy()
  np.testing.assert_array_equal(draw([5, 6]), draw([5, 6]))
  assert not np.array_equal(draw([5, 6]), draw([5, 7]))


def test_localisation_gradients_match_finite_differences():
  """d/d(params) and d/d(feats) of sum(w * sample(feats, grid(theta)))."""
  rng = np.random.default_rng(2)
  feats = rng.normal(size=(1, 6, 6, 2))
  params = np.array([0.3, 0.1, -0.2])
  weights = rng.normal(size=(1, 3, 3, 2))
  scale = 0.4

  def np_objective(p, f):
    coords = _np_grid(_np_theta(p, scale), 3, 3)[None]
    return np.sum(weights * _np_sample(f, coords))

  p_var = tf.Variable(params[None], dtype=tf.float64)
  f_var = tf.Variable(feats, dtype=tf.float64)
  with tf.GradientTape() as tape:
    theta = timecycle.params_to_theta(tf.cast(p_var, tf.float32), scale,
                                      scale)
    coords = timecycle.affine_grid(theta, 3, 3)
    value = tf.reduce_sum(weights * timecycle.bilinear_sample(
        f_var, tf.cast(coords, tf.float64)))
  grad_p, grad_f = tape.gradient(value, [p_var, f_var])
  assert float(value) == pytest.approx(np_objective(params, feats), rel=1e-5)
  eps = 1e-4
  for k in range(3):
    step = np.zeros(3)
    step[k] = eps
    numeric = (np_objective(params + step, feats) -
               np_objective(params - step, feats)) / (2 * eps)
    assert grad_p.numpy()[0, k] == pytest.approx(numeric, rel=2e-3, abs=1e-4)
  for index in [(0, 2, 3, 0), (0, 4, 1, 1), (0, 0, 0, 0)]:
    step = np.zeros_like(feats)
    step[index] = eps
    numeric = (np_objective(params, feats + step) -
               np_objective(params, feats - step)) / (2 * eps)
    assert grad_f.numpy()[index] == pytest.approx(numeric, rel=1e-3,
                                                  abs=1e-6)


def test_transformed_grid_loss_matches_numpy():
  rng = np.random.default_rng(3)
  theta = rng.normal(size=(2, 2, 3))
  theta_true = rng.normal(size=(2, 2, 3))
  line = np.linspace(-1, 1, 20)
  total = []
  for b in range(2):
    for v in line:
      for u in line:
        point = np.array([u, v, 1.0])
        total.append(np.sum((theta[b] @ point - theta_true[b] @ point) ** 2))
  got = timecycle.transformed_grid_loss(tf.constant(theta, tf.float32),
                                        tf.constant(theta_true, tf.float32))
  assert float(got) == pytest.approx(np.mean(total), rel=1e-5)
  assert float(timecycle.transformed_grid_loss(theta_true, theta_true)) == 0


def test_patch_affinity_is_softmax_over_image_cells():
  rng = np.random.default_rng(4)
  image = rng.normal(size=(1, 3, 4, 5))
  patch = rng.normal(size=(1, 2, 2, 5))
  got = timecycle.patch_affinity(tf.constant(image, tf.float32),
                                 tf.constant(patch, tf.float32), 0.5).numpy()
  logits = np.einsum('nc,ijc->ijn', image[0].reshape(12, 5), patch[0]) / 0.5
  expected = np.exp(logits - logits.max(-1, keepdims=True))
  expected /= expected.sum(-1, keepdims=True)
  np.testing.assert_allclose(got[0], expected, rtol=1e-5)


class _RecordingTracker:
  """Records which frame each step localises in (frames are filled with
  their index) and returns the query unchanged."""

  def __init__(self):
    self.visited = []

  def __call__(self, image_feats, query_norm):
    self.visited.append(int(round(float(image_feats[0, 0, 0, 0]))))
    theta = tf.constant([[[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]])
    height, width = image_feats.shape[1], image_feats.shape[2]
    affinity = tf.fill([1, 1, 1, height * width], 1.0 / (height * width))
    return theta, query_norm, affinity


def test_cycles_visit_frames_in_order():
  frames = np.stack([np.full((2, 2, 3), t, np.float32) for t in range(4)])
  patch = np.ones((1, 1, 1, 3), np.float32)
  tracker = _RecordingTracker()
  theta_true = tf.constant([[[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]])
  losses = timecycle.timecycle_losses(tf.constant(frames[None]),
                                      tf.constant(patch), theta_true, tracker,
                                      similarity='cosine')
  # 3 past frames (0, 1, 2), target 3. Per i: long cycle, then skip cycle.
  assert tracker.visited == [
      2, 3, 2, 3,                      # i=1: long 2->3; skip 2->3
      2, 1, 2, 3, 1, 3,                # i=2: long 2,1,2->3; skip 1->3
      2, 1, 0, 1, 2, 3, 0, 3]          # i=3
  assert float(losses['long']) == 0 and float(losses['skip']) == 0
  assert float(losses['similarity']) == pytest.approx(-1.0)


def _np_inlier_score(affinity, theta, height, width):
  """The official weak inlier count, built as the official code does: a
  [h*w, h, w] identity mask (image cell c marks its own position), dilated
  by a 3 x 3 square, sampled at each patch cell's mapped centre, normalised
  to sum 1, multiplied with the affinity and summed."""
  patch_h, patch_w = affinity.shape[:2]
  identity = np.zeros((height * width, height, width))
  for c in range(height * width):
    cy, cx = divmod(c, width)
    identity[c, max(cy - 1, 0):cy + 2, max(cx - 1, 0):cx + 2] = 1.0
  grid = _np_grid(theta, patch_h, patch_w)  # [hp, wp, 2] (x, y)
  mask = np.zeros((patch_h, patch_w, height * width))
  for c in range(height * width):
    mask[..., c] = _np_sample(identity[c][None, ..., None],
                              grid[None])[0, ..., 0]
  mask /= mask.sum()
  return float((mask * affinity).sum())


def test_inlier_score_matches_the_official_construction():
  rng = np.random.default_rng(7)
  height, width, patch_h, patch_w = 5, 6, 2, 3
  logits = rng.normal(size=(2, patch_h, patch_w, height * width)) * 3
  affinity = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  thetas = np.stack([_np_theta(rng.uniform([-0.5, -0.8, -0.8],
                                           [0.5, 0.8, 0.8]), 0.4)
                     for _ in range(2)])
  got = timecycle.inlier_score(tf.constant(affinity, tf.float32),
                               tf.constant(thetas, tf.float32), height,
                               width).numpy()
  expected = [_np_inlier_score(affinity[b], thetas[b], height, width)
              for b in range(2)]
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  # All of each cell's mass on the cell its centre maps to: the score is
  # the mean of 1 / (inlier weight) there, above the uniform affinity's.
  peaked = np.zeros_like(affinity[:1])
  grid = _np_grid(thetas[0], patch_h, patch_w)
  for i in range(patch_h):
    for j in range(patch_w):
      x = (grid[i, j, 0] + 1) * width / 2 - 0.5
      y = (grid[i, j, 1] + 1) * height / 2 - 0.5
      peaked[0, i, j, int(round(y)) * width + int(round(x))] = 1.0
  uniform = np.full_like(peaked, 1.0 / (height * width))
  scores = [timecycle.inlier_score(tf.constant(a, tf.float32),
                                   tf.constant(thetas[:1], tf.float32),
                                   height, width).numpy()[0]
            for a in (peaked, uniform)]
  assert scores[0] == pytest.approx(
      _np_inlier_score(peaked[0], thetas[0], height, width), rel=1e-5)
  assert scores[0] > 3 * scores[1]


def test_inlier_score_gradient_in_theta_matches_finite_differences():
  rng = np.random.default_rng(8)
  height, width = 5, 5
  logits = rng.normal(size=(1, 2, 2, height * width)) * 2
  affinity = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  params = np.array([0.3, 0.1, -0.2])

  def np_score(p):
    return _np_inlier_score(affinity[0], _np_theta(p, 0.4), height, width)

  params_tf = tf.Variable(params[None], dtype=tf.float64)
  with tf.GradientTape() as tape:
    theta = timecycle.params_to_theta(params_tf, 0.4, 0.4)
    score = timecycle.inlier_score(tf.constant(affinity), theta, height,
                                   width)
  got = tape.gradient(score, params_tf).numpy()[0]
  assert float(score[0]) == pytest.approx(np_score(params), rel=1e-4)
  eps = 1e-5
  expected = [(np_score(params + eps * e) - np_score(params - eps * e)) /
              (2 * eps) for e in np.eye(3)]
  np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-6)


def test_inlier_similarity_rewards_affinity_where_the_tracker_looks():
  frames = np.zeros((1, 3, 4, 4, 2), np.float32)
  patch = np.ones((1, 2, 2, 2), np.float32)
  theta_true = tf.constant([[[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]])

  class FixedTracker:

    def __init__(self, affinity):
      self.affinity = tf.constant(affinity, tf.float32)

    def __call__(self, image_feats, query_norm):
      return theta_true, query_norm, self.affinity

  uniform = np.full((1, 2, 2, 16), 1.0 / 16)
  centred = np.zeros((1, 2, 2, 16))
  centred[..., [5, 6, 9, 10]] = 0.25  # the 4 central cells of the 4 x 4
  values = [float(timecycle.timecycle_losses(
      tf.constant(frames), tf.constant(patch), theta_true,
      FixedTracker(a))['similarity']) for a in (uniform, centred)]
  assert values[1] < values[0] < 0
  with pytest.raises(ValueError, match='similarity'):
    timecycle.timecycle_losses(tf.constant(frames), tf.constant(patch),
                               theta_true, FixedTracker(uniform), 'dot')


def _np_localizer(affinity, kernels, linear_kernel, linear_bias, padding):
  """Two convolutions without bias ('valid': no padding; 'same': zero
  padding to keep the size), leaky ReLU 0.1, row-major flatten, linear."""
  x = affinity
  for kernel in kernels:
    size = kernel.shape[0]
    if padding == 'same':
      low = (size - 1) // 2
      x = np.pad(x, [(0, 0), (low, size - 1 - low), (low, size - 1 - low),
                     (0, 0)])
    out_h, out_w = x.shape[1] - size + 1, x.shape[2] - size + 1
    out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[-1]))
    for i in range(out_h):
      for j in range(out_w):
        out[:, i, j] = np.einsum('bhwc,hwcd->bd',
                                 x[:, i:i + size, j:j + size], kernel)
    x = np.where(out > 0, out, 0.1 * out)
  return x.reshape(x.shape[0], -1) @ linear_kernel + linear_bias


@pytest.mark.parametrize('head,cells,out_cells', [('valid4x4', 10, 4),
                                                   ('same3x3', 4, 4)])
def test_localizer_heads_match_numpy(head, cells, out_cells):
  rng = np.random.default_rng(11)
  affinity = rng.uniform(size=(2, cells, cells, 7)).astype(np.float32)
  localizer = timecycle.Localizer(filters=(6, 5), head=head)
  got = localizer(tf.constant(affinity)).numpy()
  kernels = [conv.kernel.numpy() for conv in localizer.convs]
  assert [k.shape[:2] for k in kernels] == [
      (int(head[-1]),) * 2, (int(head[-1]),) * 2]
  assert all(not conv.use_bias for conv in localizer.convs)
  linear_kernel = localizer.linear.kernel.numpy()
  assert linear_kernel.shape == (out_cells * out_cells * 5, 3)
  want = _np_localizer(affinity, kernels, linear_kernel,
                       localizer.linear.bias.numpy(), LOCALIZER_PADDING[head])
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


LOCALIZER_PADDING = {'valid4x4': 'valid', 'same3x3': 'same'}


def test_localizer_init_is_the_official_one():
  """kaiming_normal_(mode='fan_out'): std sqrt(2 / (k * k * filters)), not
  truncated; the linear layer N(0, 0.01), zero bias."""
  localizer = timecycle.Localizer(head='valid4x4')
  localizer(tf.zeros([1, 10, 10, 900]))
  first = localizer.convs[0].kernel.numpy()
  assert first.shape == (4, 4, 900, 128)
  std = np.sqrt(2.0 / (4 * 4 * 128))
  assert first.std() == pytest.approx(std, rel=0.01)
  assert np.abs(first).max() > 3 * std  # a truncated normal stops at 2 std
  assert localizer.linear.kernel.numpy().std() == pytest.approx(0.01,
                                                                rel=0.05)
  np.testing.assert_array_equal(localizer.linear.bias.numpy(), 0.0)


def test_valid_localizer_on_a_small_patch_is_a_clear_error():
  with pytest.raises(ValueError, match='TIMECYCLE.LOCALIZER valid4x4 needs '
                     'patch features of at least 7 x 7'):
    timecycle.Localizer(head='valid4x4')(tf.zeros([1, 4, 4, 144]))
  with pytest.raises(ValueError, match='TIMECYCLE.LOCALIZER'):
    timecycle.Localizer(head='valid5x5')


def test_published_config_builds_the_published_tracker():
  """configs/methods/timecycle.yml: 80 px patches of 240 px frames (10 x 10
  cells), the valid 4x4 head, a 512-d projection of stage 3 (the stage
  propagated), Adam 2e-4 with beta_1 0.5, clipping at 10."""
  import algos  # pylint: disable=g-import-not-at-top
  import config  # pylint: disable=g-import-not-at-top
  from runners import training  # pylint: disable=g-import-not-at-top
  config.load_config([os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), 'configs', 'methods', 'timecycle.yml')],
                     ['FC_RESNET18.WIDTH=4', 'TIMECYCLE.CLIP_LENGTH=2',
                      'TIMECYCLE.TARGET_DISTANCE=1'])
  algo = algos.get_algo()
  assert algo.patch_side == 80
  batch = algo.dummy_batch(batch_size=1)
  batch['frames'] = tf.random.stateless_uniform(batch['frames'].shape,
                                                [3, 4], -1, 1)
  embs = algo.embed(batch['frames'], training=True)
  assert embs.shape[2:] == (30, 30, 512)
  losses = algo.compute_loss(embs, batch, training=True)
  assert all(np.isfinite(float(v)) for v in losses.values())
  # Stage 3 of a width-4 FCResNet18 has 16 channels.
  assert algo.projection.kernel.shape == (1, 1, 16, 512)
  assert algo.localizer.convs[0].kernel.shape == (4, 4, 900, 128)
  assert algo.localizer.linear.kernel.shape == (4 * 4 * 64, 3)
  optimizer = training.get_optimizer(1e-3)
  assert float(optimizer.beta_1) == 0.5
  assert algo.grad_clip_norm == 10.0
  assert config.CONFIG.OPTIMIZER.LR.INITIAL_LR == pytest.approx(2e-4)


def test_projection_reads_the_propagated_stage():
  """A 4-stage FCResNet18 with PROPAGATION.ENCODER_STAGES 3: the projection
  reads stage 3 (4 * width channels), not stage 4; 0 reads stage 4."""
  import algos  # pylint: disable=g-import-not-at-top
  import config  # pylint: disable=g-import-not-at-top
  from runners import training  # pylint: disable=g-import-not-at-top
  base = ['MODEL.BASE_MODEL.NETWORK=FCResNet18', 'FC_RESNET18.WIDTH=4',
          'IMAGE_SIZE=32', 'TIMECYCLE.LOCALIZER=same3x3']
  for stages, channels in [(3, 16), (0, 32)]:
    config.load_config([], base + ['PROPAGATION.ENCODER_STAGES=%d' % stages])
    algo = algos.get_algo('timecycle')
    feats = algo.features(tf.zeros([1, 32, 32, 3]), training=False)
    assert feats.shape == (1, 4, 4, config.CONFIG.TIMECYCLE.FEATURE_DIM)
    assert algo.projection.kernel.shape[2] == channels
  # Other methods keep Adam's default beta_1.
  assert float(training.get_optimizer(1e-3).beta_1) == 0.9
