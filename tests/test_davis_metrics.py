"""DAVIS J / F and JHMDB PCK against independent loop-based implementations."""

import warnings

import numpy as np
import pytest
from scipy import ndimage

from evaluation import davis


def _reference_boundary(mask):
  """Loop version of the BSDS seg2bmap rule: a pixel differs from its east,
  south or south-east neighbour (missing neighbours are background); the
  last row looks east only, the last column south only, the corner never."""
  h, w = mask.shape
  out = np.zeros_like(mask, bool)
  get = lambda y, x: bool(mask[y, x]) if y < h and x < w else False
  for y in range(h):
    for x in range(w):
      if y == h - 1 and x == w - 1:
        continue
      if y == h - 1:
        out[y, x] = get(y, x) != get(y, x + 1)
      elif x == w - 1:
        out[y, x] = get(y, x) != get(y + 1, x)
      else:
        out[y, x] = (get(y, x) != get(y, x + 1) or get(y, x) != get(y + 1, x)
                     or get(y, x) != get(y + 1, x + 1))
  return out


def _reference_f(pred, gt, bound_th=0.008):
  """Boundary F with an exact Euclidean distance transform."""
  radius = (bound_th if bound_th >= 1 else
            np.ceil(bound_th * np.hypot(*gt.shape)))
  pb, gb = _reference_boundary(pred), _reference_boundary(gt)
  if not pb.any() and not gb.any():
    return 1.0
  if not pb.any():
    p, r = 1.0, 0.0
  elif not gb.any():
    p, r = 0.0, 1.0
  else:
    dist_to_gt = ndimage.distance_transform_edt(~gb)
    dist_to_pred = ndimage.distance_transform_edt(~pb)
    p = np.mean(dist_to_gt[pb] <= radius)
    r = np.mean(dist_to_pred[gb] <= radius)
  return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _random_blobs(rng, shape, num):
  """Random masks with smooth boundaries (thresholded blurred noise)."""
  noise = rng.normal(size=(num,) + shape)
  smooth = ndimage.gaussian_filter(noise, sigma=(0, 3, 3))
  return smooth > rng.uniform(-0.05, 0.1, size=(num, 1, 1))


def test_seg2bmap_matches_loop():
  rng = np.random.default_rng(0)
  for mask in list(_random_blobs(rng, (23, 31), 4)) + [rng.random((9, 7)) > .5]:
    np.testing.assert_array_equal(davis.seg2bmap(mask),
                                  _reference_boundary(mask))


def test_boundary_f_matches_distance_transform():
  rng = np.random.default_rng(1)
  # 480 x 854 would give a 8-px tolerance; 120 x 200 gives ceil(1.87) = 2.
  gt = _random_blobs(rng, (120, 200), 6)
  pred = _random_blobs(rng, (120, 200), 6)
  pred[1] = ndimage.binary_dilation(gt[1], iterations=2)  # near-perfect
  pred[2] = gt[2]                                         # perfect
  expected = np.array([_reference_f(p, g) for p, g in zip(pred, gt)])
  got = davis.db_eval_boundary(gt, pred)
  np.testing.assert_allclose(got, expected, atol=1e-12)
  assert got[2] == 1.0 and got[1] > got[0]
  # 2-D input returns a float; bound_th >= 1 is a pixel count.
  assert davis.db_eval_boundary(gt[0], pred[0]) == pytest.approx(expected[0])
  assert davis.db_eval_boundary(gt[0], pred[0], bound_th=5) == pytest.approx(
      _reference_f(pred[0], gt[0], bound_th=5))


def test_boundary_f_empty_conventions():
  empty = np.zeros((10, 10), bool)
  square = empty.copy()
  square[3:6, 3:6] = True
  assert davis.db_eval_boundary(empty, empty) == 1.0
  assert davis.db_eval_boundary(square, empty) == 0.0  # P=1, R=0
  assert davis.db_eval_boundary(empty, square) == 0.0  # P=0, R=1


def test_iou_matches_loop_and_empty_is_one():
  rng = np.random.default_rng(2)
  gt = _random_blobs(rng, (20, 30), 5)
  pred = _random_blobs(rng, (20, 30), 5)
  gt[4] = False
  pred[4] = False
  expected = []
  for g, p in zip(gt, pred):
    inter = sum(1 for y in range(20) for x in range(30) if g[y, x] and p[y, x])
    union = sum(1 for y in range(20) for x in range(30) if g[y, x] or p[y, x])
    expected.append(1.0 if union == 0 else inter / union)
  np.testing.assert_allclose(davis.db_eval_iou(gt, pred), expected)
  assert davis.db_eval_iou(gt[4], pred[4]) == 1.0


def test_evaluate_sequence_scores_middle_frames_per_object():
  gt = np.zeros((5, 8, 8), np.uint8)
  gt[:, :4, :4] = 1
  gt[:, 4:, 4:] = 2
  pred = gt.copy()
  pred[2] = 0              # frame 2: both objects lost
  pred[4] = 0              # last frame: not scored
  pred[0] = 0              # first frame: not scored
  j, f = davis.evaluate_sequence(gt, pred)
  assert j.shape == (2, 3)
  np.testing.assert_allclose(j, [[1, 0, 1], [1, 0, 1]])
  summary = davis.davis_summary({'a': (j, f)})
  assert summary['J-Mean'] == pytest.approx(2 / 3)
  assert summary['J&F-Mean'] == pytest.approx(
      (summary['J-Mean'] + summary['F-Mean']) / 2)
  assert set(summary['per_object']) == {'a_1', 'a_2'}


def test_summary_averages_over_objects_not_sequences():
  one = (np.ones((1, 3)), np.ones((1, 3)))
  three = (np.zeros((3, 3)), np.zeros((3, 3)))
  summary = davis.davis_summary({'a': one, 'b': three})
  assert summary['J-Mean'] == pytest.approx(0.25)  # 1 of 4 objects


def test_db_statistics_decay_and_recall():
  values = np.array([1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0])
  mean, recall, decay = davis.db_statistics(values)
  assert mean == pytest.approx(values.mean())
  assert recall == pytest.approx(4 / 8)
  # 4 bins over 8 frames: round(linspace(1, 8, 5)) - 1 = 0, 2, 4, 5, 7
  # (4.5 rounds up).
  ids = [0, 2, 4, 5, 7]
  assert decay == pytest.approx(values[ids[0]:ids[1] + 1].mean() -
                                values[ids[3]:ids[4] + 1].mean())


def test_pck_matches_loop():
  rng = np.random.default_rng(3)
  num_frames, num_joints = 6, 5
  gt = rng.uniform(0, 100, size=(num_frames, num_joints, 2))
  pred = gt + rng.normal(scale=8, size=gt.shape)
  visible = rng.random((num_frames, num_joints)) > 0.2
  visible[2] = [False, False, True, False, False]  # one keypoint: no box
  got = davis.pck(pred, gt, visible, thresholds=(0.1, 0.2))
  for alpha in (0.1, 0.2):
    per_joint = []
    for j in range(num_joints):
      correct = total = 0
      for t in range(1, num_frames):
        if not visible[t, j]:
          continue
        xs = [gt[t, k, 0] for k in range(num_joints) if visible[t, k]]
        ys = [gt[t, k, 1] for k in range(num_joints) if visible[t, k]]
        box = 0.6 * np.hypot(max(xs) - min(xs), max(ys) - min(ys))
        if box == 0:
          continue
        d = np.hypot(*(pred[t, j] - gt[t, j]))
        correct += d <= alpha * box
        total += 1
      if total:
        per_joint.append(correct / total)
    assert got[alpha] == pytest.approx(np.mean(per_joint))
  assert 0 < got[0.1] < got[0.2] < 1


def test_pck_skips_frames_without_a_box():
  gt = np.array([[[0., 0.], [10., 0.]],
                 [[5., 5.], [50., 50.]],     # only joint 0 visible: no box
                 [[0., 0.], [30., 40.]]])    # box 0.6 x 50 = 30
  pred = gt + [[[0., 0.], [0., 0.]],
               [[0., 0.], [0., 0.]],
               [[2., 0.], [3., 4.]]]
  visible = np.array([[True, True], [True, False], [True, True]])
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    got = davis.pck(pred, gt, visible, thresholds=(0.1, 0.2))
  # Frame 2 alone is scored: joint 0 is 2 px off (<= 3 and 6), joint 1
  # 5 px (> 3, <= 6). Scoring frame 1 would add a miss (or a NaN) to joint 0.
  assert got[0.1] == pytest.approx(0.5)
  assert got[0.2] == pytest.approx(1.0)
