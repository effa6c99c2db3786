"""Label propagation: hand-made examples with known answers, and the
attention against a direct NumPy implementation."""

import os

import numpy as np
import pytest

from correspondence import davis_io
from evaluation import label_propagation as evaluate
from correspondence import propagation


def _two_frame_features():
  """4 x 4 cells, 2 channels. Frame 0: left half 'a', right half 'b'.
  Frame 1: the halves swap places (the scene moved)."""
  a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
  frame0 = np.zeros((4, 4, 2))
  frame0[:, :2], frame0[:, 2:] = a, b
  frame1 = np.zeros((4, 4, 2))
  frame1[:, :2], frame1[:, 2:] = b, a
  return np.stack([frame0, frame1])


def test_two_frames_labels_follow_features():
  feats = _two_frame_features()
  mask0 = np.zeros((4, 4), int)
  mask0[:, :2] = 1  # the object is the 'a' half
  onehot = propagation.mask_to_onehot(mask0)
  soft = propagation.propagate(feats, onehot, num_context=2, topk=3,
                               radius=12, temperature=0.05)
  expected = np.zeros((4, 4), int)
  expected[:, 2:] = 1
  np.testing.assert_array_equal(np.argmax(soft[1], -1), expected)
  # Identical features among the top-k: the labels are copied exactly.
  np.testing.assert_allclose(soft[1].max(-1), 1.0, atol=1e-6)
  np.testing.assert_array_equal(soft[0], onehot)


def test_radius_limits_preceding_frames_not_first():
  """A feature seen only far away in frame 1 is found in frame 2 only via
  frame 0 (long-term memory is not restricted in space)."""
  feats = np.zeros((3, 1, 20, 2))
  feats[..., 1] = 1.0                   # background everywhere
  feats[0, 0, 0] = [1.0, 0.0]           # object at x=0 in frame 0
  feats[1, 0, 0] = [1.0, 0.0]
  feats[2, 0, 19] = [1.0, 0.0]          # jumped to x=19 in frame 2
  mask0 = np.zeros((1, 20), int)
  mask0[0, 0] = 1
  onehot = propagation.mask_to_onehot(mask0)
  soft = propagation.propagate(feats, onehot, num_context=1, topk=1,
                               radius=3, temperature=0.05)
  assert np.argmax(soft[2, 0, 19]) == 1
  # Without frame 0 in the queue (same features but frame 0's object
  # relabelled as background), the far cell cannot see frame 1's object.
  soft_bg = propagation.propagate(feats, propagation.mask_to_onehot(
      np.zeros((1, 20), int), 2), num_context=1, topk=1, radius=3,
                                  temperature=0.05)
  assert np.argmax(soft_bg[2, 0, 19]) == 0


def test_context_frames():
  assert propagation.context_frames(1, 3) == [0, 0, 0, 0]
  assert propagation.context_frames(5, 3) == [0, 2, 3, 4]


def _dense_context_attention(query, context, topk, temperature, radius,
                             height, width):
  """Every context key scored, far keys of frames 1.. masked: the direct
  definition, one query cell at a time."""
  ys, xs = np.divmod(np.arange(height * width), width)
  weights, keys = [], []
  for q in range(height * width):
    near = (ys - ys[q]) ** 2 + (xs - xs[q]) ** 2 < radius ** 2
    scores = []
    for position, frame in enumerate(context):
      frame_scores = frame @ query[q] / temperature
      if position > 0:
        frame_scores = np.where(near, frame_scores, -np.inf)
      scores.append(frame_scores)
    scores = np.concatenate(scores)
    order = np.argsort(-scores)[:topk]
    exp = np.exp(scores[order] - scores[order].max())
    weights.append(exp / exp.sum())
    keys.append(order)
  return weights, keys


@pytest.mark.parametrize('radius', [1.0, 2.0, 2.5, 30.0])
def test_context_attention_matches_dense_definition(radius):
  rng = np.random.default_rng(0)
  height, width = 5, 7
  query = propagation.l2_normalize(rng.normal(size=(height * width, 6)))
  frames = propagation.l2_normalize(rng.normal(size=(3, height * width, 6)))
  context = frames[[0, 0, 1, 2]]  # frame 0 again as padding, as at t < n
  weights, indices = propagation.context_attention(
      query, context, 4, 0.07, radius, height, width, chunk_size=4)
  dense_weights, dense_keys = _dense_context_attention(
      query, context, 4, 0.07, radius, height, width)
  frame_ids = np.array([0, 0, 1, 2])

  def frame_cells(keys, key_weights):
    # Frame 0 twice gives tied keys; compare (frame, cell) -> weight.
    pairs = sorted(zip(frame_ids[keys // (height * width)],
                       keys % (height * width), key_weights))
    return [(f, c) for f, c, _ in pairs], np.array([w for _, _, w in pairs])

  for q in range(height * width):
    got_keys, got_weights = frame_cells(indices[q], weights[q])
    want_keys, want_weights = frame_cells(dense_keys[q], dense_weights[q])
    assert got_keys == want_keys
    np.testing.assert_allclose(got_weights, want_weights, rtol=1e-5)


def _timecycle_reference(feats, first_labels, num_context, topk, tau):
  """TimeCycle's test_davis.py loop: the video is preceded by
  num_context + 1 copies of frame 0; target frame `it` (padded index
  it + num_context + 1) reads padded frame 0 and the num_context padded
  frames before it, each with a softmax over its cells, its top-k, summed
  and divided by the number of context frames, then min-max scaled per
  label. (Frame 0 keeps its given labels: the published loop re-predicts
  it from its copies.)"""
  num_frames, height, width, _ = feats.shape
  cells = [feats[t].reshape(height * width, -1) for t in range(num_frames)]
  cells = [c / np.linalg.norm(c, axis=1, keepdims=True) for c in cells]
  pad = num_context + 1
  padded_feats = [cells[0]] * pad + cells
  padded_labels = [first_labels.reshape(height * width, -1)] * (pad + 1)
  out = [padded_labels[-1]]
  for it in range(1, num_frames):
    target = padded_feats[it + pad]
    pred = np.zeros_like(padded_labels[0], dtype=np.float64)
    for t in [0] + list(range(it + 1, it + pad)):
      for q in range(height * width):
        sims = np.array([target[q] @ key for key in padded_feats[t]]) / tau
        soft = np.exp(sims - sims.max())
        soft /= soft.sum()
        for key in np.argsort(-soft)[:topk]:
          pred[q] += soft[key] * padded_labels[t][key]
    pred /= pad
    for label in range(pred.shape[1]):
      pred[:, label] -= pred[:, label].min()
      if pred[:, label].max() > 0:
        pred[:, label] /= pred[:, label].max()
    padded_labels.append(pred)
    out.append(pred)
  return np.stack(out).reshape(num_frames, height, width, -1)


@pytest.mark.parametrize('num_context,topk', [(7, 5), (2, 3)])
def test_timecycle_protocol_matches_the_published_loop(num_context, topk):
  rng = np.random.default_rng(7)
  feats = rng.normal(size=(11, 3, 4, 5))
  first = propagation.mask_to_onehot(rng.integers(0, 3, size=(3, 4)), 3)
  got = propagation.propagate(feats, first, num_context=num_context,
                              topk=topk, radius=1.0, temperature=512 ** -0.5,
                              protocol='timecycle')
  want = _timecycle_reference(feats, first, num_context, topk, 512 ** -0.5)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  # Scaled per label over each frame: every label spans [0, 1].
  np.testing.assert_allclose(got[1:].min(axis=(1, 2)), 0.0, atol=1e-6)
  np.testing.assert_allclose(got[1:].max(axis=(1, 2)), 1.0, atol=1e-6)


def test_unknown_protocol_is_a_clear_error():
  with pytest.raises(ValueError, match='PROPAGATION.PROTOCOL'):
    propagation.propagate(np.ones((2, 2, 2, 3)), np.ones((2, 2, 1)),
                          protocol='davis')


def test_neighbour_cells_are_strict_euclidean():
  neighbours, inside = propagation.neighbour_cells(3, 4, 2.0)
  near_origin = set(neighbours[0][inside[0]])
  # cell (0, 0) vs (0, 2): distance 2, not < 2; (1, 1): sqrt 2 is.
  assert near_origin == {0, 1, 4, 5}
  # 3 x 3 offsets minus none: every offset with dy^2 + dx^2 < 4 is listed.
  assert neighbours.shape == (12, 9)
  assert inside[5].all() and not inside[0].all()


def test_keypoint_heatmaps_round_trip():
  coords = np.array([[16.0, 8.0], [40.0, 24.0]])
  maps = propagation.keypoint_heatmaps(coords, 6, 8, stride=8)
  assert maps.shape == (6, 8, 3)
  assert maps[1, 2, 1] == pytest.approx(1.0) and maps[3, 5, 2] == 1.0
  assert maps[0, 0, 0] == 1.0 and maps[1, 2, 0] == 0.0
  np.testing.assert_allclose(
      propagation.heatmaps_to_keypoints(maps, stride=8, topk=1), coords)
  # Top-3 read-out: the peak and two (tied) neighbours, value-weighted.
  got = propagation.heatmaps_to_keypoints(maps, stride=8)
  weights = np.array([1.0, np.exp(-2), np.exp(-2)])
  weights /= weights.sum()
  cell_x = (np.array([2, 2, 1]) * weights).sum()   # peak, up, left
  cell_y = (np.array([1, 0, 1]) * weights).sum()
  np.testing.assert_allclose(got[0], [cell_x * 8, cell_y * 8])


def test_mask_up_and_down_sampling():
  mask = np.zeros((16, 16), int)
  mask[:, :8] = 2  # a half plane survives 8x bilinear down and up exactly
  soft = propagation.downsample_labels(propagation.mask_to_onehot(mask), 2, 2)
  np.testing.assert_array_equal(propagation.labels_to_mask(soft, 16, 16),
                                mask)


def test_pixel_features_average_cells():
  frames = np.zeros((1, 10, 10, 3), np.uint8)
  frames[0, :8, :8] = 255
  feats = evaluate.pixel_features(frames, stride=8)
  assert feats.shape == (1, 2, 2, 3)
  np.testing.assert_allclose(feats[0, 0, 0], 1.0)
  np.testing.assert_allclose(feats[0, 1, 1], -1.0)


def test_scaled_feature_fn_resizes_frames_first():
  rng = np.random.default_rng(1)
  frames = rng.integers(0, 255, size=(2, 10, 12, 3), dtype=np.uint8)
  seen = []

  def record(batch):
    seen.append(batch)
    return evaluate.pixel_features(batch, stride=2)
  assert evaluate.scaled_feature_fn(record, 1.0) is record
  feats = evaluate.scaled_feature_fn(record, 2.0)(frames)
  assert seen[0].shape == (2, 20, 24, 3) and seen[0].dtype == np.uint8
  # Bilinear, independently: the centre of output pixel (i, j) samples the
  # input at ((i + 0.5) / 2 - 0.5, (j + 0.5) / 2 - 0.5), clamped.
  def bilinear(image, out_h, out_w):
    ys = np.clip((np.arange(out_h) + 0.5) / 2 - 0.5, 0, image.shape[0] - 1)
    xs = np.clip((np.arange(out_w) + 0.5) / 2 - 0.5, 0, image.shape[1] - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1 = np.minimum(y0 + 1, image.shape[0] - 1)
    x1 = np.minimum(x0 + 1, image.shape[1] - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    image = image.astype(np.float64)
    top = image[y0][:, x0] * (1 - wx) + image[y0][:, x1] * wx
    bottom = image[y1][:, x0] * (1 - wx) + image[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy
  np.testing.assert_allclose(seen[0][1], bilinear(frames[1], 20, 24), atol=1)
  assert feats.shape == (2, 10, 12, 3)


def test_davis_layout_round_trip_and_scoring(tmp_path):
  root = str(tmp_path / 'davis')
  rng = np.random.default_rng(0)
  frames = rng.integers(0, 255, size=(3, 16, 24, 3), dtype=np.uint8)
  masks = np.zeros((3, 16, 24), np.uint8)
  masks[:, 4:12, 4:12] = 1
  masks[:, 2:6, 16:22] = 2
  for t in range(3):
    davis_io.write_jpeg(os.path.join(root, 'JPEGImages', '480p', 'seq',
                                     '%05d.jpg' % t), frames[t])
    davis_io.write_palette_png(os.path.join(root, 'Annotations', '480p',
                                            'seq', '%05d.png' % t), masks[t])
  davis_io.write_sequence_list(root, 'val', ['seq'])
  np.testing.assert_array_equal(davis_io.read_annotations(root, 'seq'), masks)
  from PIL import Image
  assert Image.open(os.path.join(root, 'Annotations', '480p', 'seq',
                                 '00000.png')).mode == 'P'
  # Features that are the ground-truth one-hot masks: a perfect propagation.
  def oracle(unused_frames):
    return np.stack([propagation.downsample_labels(
        propagation.mask_to_onehot(m, 3), 16, 24) for m in masks])
  out = str(tmp_path / 'results')
  summary = evaluate.evaluate_davis_root(oracle, root, 'val', output_dir=out,
                                         log=lambda m: None, topk=5)
  assert summary['J&F-Mean'] == pytest.approx(1.0)
  written = davis_io.read_palette_png(os.path.join(out, 'seq', '00001.png'))
  np.testing.assert_array_equal(written, masks[1])
  assert oct(os.stat(os.path.join(out, 'seq', '00001.png')).st_mode & 0o777
             ) == '0o644'


def test_no_feature_fn_holds_first_labels_still(tmp_path):
  """feature_fn=None scores the first frame's mask and keypoints copied to
  every frame: J is the IoU of each mask with the first one."""
  root = str(tmp_path / 'davis')
  frames = np.zeros((3, 20, 20, 3), np.uint8)
  masks = np.zeros((3, 20, 20), np.uint8)
  coords = np.zeros((3, 2, 2))
  for t in range(3):
    masks[t, 4:12, 2 + 2 * t:10 + 2 * t] = 1  # an 8 x 8 square moving right
    # (x, y): keypoint 0 moves 2 px a frame with the square, 1 stays put.
    coords[t] = [(6.0 + 2 * t, 4.0), (2.0, 18.0)]
    davis_io.write_jpeg(os.path.join(root, 'JPEGImages', '480p', 's',
                                     '%05d.jpg' % t), frames[t])
    davis_io.write_palette_png(os.path.join(root, 'Annotations', '480p', 's',
                                            '%05d.png' % t), masks[t])
  davis_io.write_keypoints(root, 's', coords, np.ones((3, 2), bool))
  davis_io.write_sequence_list(root, 'val', ['s'])
  summary = evaluate.evaluate_davis_root(None, root, 'val', log=lambda m: None)
  # DAVIS scores frames 1..T-2 (the first and last are left out): frame 1
  # only, where the square has moved 2 px: IoU 48 / 80.
  assert summary['J-Mean'] == pytest.approx(48 / 80)
  # Keypoint 0 is 2 and 4 px off (over 0.2 x a box size of about 9 px),
  # keypoint 1 exact: PCK is 0.5 at both thresholds.
  assert summary['PCK@0.1'] == pytest.approx(0.5)
  assert summary['PCK@0.2'] == pytest.approx(0.5)


def test_propagate_labels_cli_function_pixels(tmp_path):
  from evaluation import label_propagation as propagate_labels  # pylint: disable=g-import-not-at-top
  root = str(tmp_path / 'davis')
  frames = np.zeros((3, 48, 48, 3), np.uint8)
  masks = np.zeros((3, 48, 48), np.uint8)
  for t in range(3):
    frames[t, 8:32, 4 + 4 * t:28 + 4 * t] = (250, 30, 30)  # a red square
    masks[t, 8:32, 4 + 4 * t:28 + 4 * t] = 1
    davis_io.write_jpeg(os.path.join(root, 'JPEGImages', '480p', 's',
                                     '%05d.jpg' % t), frames[t])
    davis_io.write_palette_png(os.path.join(root, 'Annotations', '480p', 's',
                                            '%05d.png' % t), masks[t])
  davis_io.write_sequence_list(root, 'val', ['s'])
  out = str(tmp_path / 'out')
  summary = propagate_labels.propagate_labels(
      None, 'pixels', root, 'val', out, ['PROPAGATION.NUM_CONTEXT=2'])
  assert summary['J-Mean'] > 0.5
  assert sorted(os.listdir(os.path.join(out, 's'))) == [
      '00000.png', '00001.png', '00002.png']
  # Frames resized x2 before the features: cells of 4 stored pixels, masks
  # still written and scored at the stored 48 x 48; the 4-px steps of the
  # square are followed more closely than with 8-px cells.
  finer = propagate_labels.propagate_labels(
      None, 'pixels', root, 'val', out, ['PROPAGATION.NUM_CONTEXT=2',
                                         'PROPAGATION.FRAME_SCALE=2'])
  assert davis_io.read_palette_png(
      os.path.join(out, 's', '00002.png')).shape == (48, 48)
  assert finer['J-Mean'] > summary['J-Mean']
  assert propagate_labels.propagate_labels(
      None, 'pixels', root, 'val', out, [], score=False) == {}
