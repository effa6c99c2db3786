"""Label propagation on every sequence of a DAVIS-layout folder, scored.

    from correspondence import evaluate
    scores = evaluate.evaluate_davis_root(feature_fn, '/data/DAVIS', 'val')

`feature_fn` maps uint8 frames [T, H, W, 3] to feature maps [T, h, w, C] (any
encoder; `pixel_features` is the raw-colour baseline). Imports no config.
"""

import cv2
import numpy as np

from correspondence import davis_io
from correspondence import propagation
from evaluation import davis


def pixel_features(frames, stride=8):
  """Raw-colour baseline: RGB mapped to [-1, 1], averaged over stride x stride
  cells. uint8 [T, H, W, 3] -> float32 [T, ceil(H/s), ceil(W/s), 3]."""
  frames = np.asarray(frames, np.float32) / 127.5 - 1.0
  num, height, width, _ = frames.shape
  out_h = propagation.feature_size(height, stride)
  out_w = propagation.feature_size(width, stride)
  padded = np.zeros((num, out_h * stride, out_w * stride, 3), np.float32)
  counts = np.zeros((1, out_h * stride, out_w * stride, 1), np.float32)
  padded[:, :height, :width] = frames
  counts[:, :height, :width] = 1
  sums = padded.reshape(num, out_h, stride, out_w, stride, 3).sum((2, 4))
  cells = counts.reshape(1, out_h, stride, out_w, stride, 1).sum((2, 4))
  return sums / cells


def scaled_feature_fn(feature_fn, frame_scale):
  """`feature_fn` applied to frames resized by `frame_scale` (bilinear).

  The feature maps then have frame_scale times more cells per side, and
  everything downstream (propagation, keypoint strides, pictures) reads the
  cell size from the shapes. frame_scale 1 returns `feature_fn` itself.
  """
  if frame_scale == 1:
    return feature_fn

  def scaled(frames):
    frames = np.asarray(frames)
    height, width = frames.shape[1:3]
    size = (max(1, int(round(width * frame_scale))),
            max(1, int(round(height * frame_scale))))
    return feature_fn(np.stack([
        cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        for frame in frames]))
  return scaled


def evaluate_davis_root(feature_fn, root, split='val', output_dir=None,
                        max_sequences=None, log=print, **propagation_args):
  """Propagates each sequence's first mask (and keypoints) and scores them.

  Args:
    feature_fn: uint8 [T, H, W, 3] -> float [T, h, w, C]; None holds the
      first frame's mask and keypoints still in every frame (the no-motion
      baseline: what a tracker scores that never moves anything).
    root: a DAVIS-layout folder (see `davis_io`).
    split: name of the ImageSets/2017/<split>.txt list.
    output_dir: when set, predicted masks are written there as palette PNGs
      (`<output_dir>/<seq>/<frame>.png`, the layout of DAVIS results).
    max_sequences: score only the first N sequences.
    log: progress messages.
    **propagation_args: num_context, topk, radius, temperature.

  Returns:
    dict: the DAVIS global table of `evaluation.davis.davis_summary`
    ('J&F-Mean', 'J-Mean', ...), 'per_object', and when keypoint tracks
    exist 'PCK@0.1' and 'PCK@0.2'.
  """
  sequences = davis_io.list_sequences(root, split)[:max_sequences]
  per_sequence = {}
  joint_distances = {}
  for name in sequences:
    frames = davis_io.read_frames(root, name)
    gt = davis_io.read_annotations(root, name)
    if gt.shape[0] != frames.shape[0]:
      raise ValueError('%s: %d frames but %d annotations; scoring needs one '
                       'mask per frame.' % (name, frames.shape[0],
                                            gt.shape[0]))
    first = np.where(gt[0] == 255, 0, gt[0])
    if feature_fn is None:
      pred = np.repeat(first[None], len(gt), axis=0)
    else:
      feats = np.asarray(feature_fn(frames))
      pred = propagation.propagate_mask(feats, first, gt.shape[1:],
                                        **propagation_args)
    if output_dir:
      davis_io.write_masks(output_dir, name, davis_io.frame_paths(root, name),
                           pred)
    per_sequence[name] = davis.evaluate_sequence(gt, pred)
    keypoints = davis_io.read_keypoints(root, name)
    if keypoints is not None:
      coords, visible = keypoints
      if feature_fn is None:
        pred_coords = np.repeat(coords[:1], len(coords), axis=0)
      else:
        stride = frames.shape[1] / float(feats.shape[1])
        pred_coords = propagation.propagate_keypoints(
            feats, coords[0], stride, **propagation_args)
      for j, d in enumerate(davis.pck_normalized_distances(
          pred_coords, coords, visible)):
        joint_distances.setdefault(j, []).append(d)
    j, f = per_sequence[name]
    log('%s: J %.3f F %.3f (%d objects, %d frames)' % (
        name, j.mean() if j.size else float('nan'),
        f.mean() if f.size else float('nan'), j.shape[0], len(frames)))
  summary = davis.davis_summary(per_sequence)
  if joint_distances:
    pooled = [np.concatenate(d) for _, d in sorted(joint_distances.items())]
    for alpha in (0.1, 0.2):
      summary['PCK@%g' % alpha] = davis.pck_from_distances(pooled, alpha)
  return summary
