"""DAVIS-2017 region (J) and boundary (F) measures, and JHMDB-style PCK.

The definitions follow the DAVIS-2017 evaluation code (semi-supervised task):

- J, region similarity: IoU of the predicted and annotated masks of one
  object in one frame; a frame where both are empty scores 1.
- F, boundary accuracy: both masks become 1-pixel-wide boundary maps
  (`seg2bmap`); each boundary is dilated by a disk of radius
  ceil(bound_th * image diagonal) pixels (bound_th = 0.008); precision = the
  fraction of predicted boundary pixels within the dilated annotated
  boundary, recall = the converse; F = 2PR / (P + R). An empty prediction
  against a non-empty annotation has P = 1, R = 0; the converse P = 0,
  R = 1; both empty P = R = 1.
- Frames scored: all but the first and the last of each sequence. The first
  frame's annotation is the input of the semi-supervised task, so scoring it
  would reward copying the input. The last frame is left out "for
  historical reasons" (the DAVIS maintainers, davis2017-evaluation issue
  #10): some methods benchmarked in the DAVIS-2016 paper produced no result
  for it, and later editions kept the protocol so that scores stay
  comparable.
- Objects: ids 1..max id of the first frame's annotation; each object is
  scored separately (a missing prediction is an empty mask).
- Averaging: per object, the mean over its scored frames (NaN frames
  ignored); J-Mean / F-Mean = mean over all objects of all sequences (every
  object counts once, so a sequence weighs by its number of objects);
  J&F-Mean = (J-Mean + F-Mean) / 2. Recall = fraction of frames above 0.5;
  decay = mean of the first quarter of frames minus mean of the last.
"""

import cv2
import numpy as np


def db_eval_iou(annotation, segmentation, void_pixels=None):
  """Region similarity J (IoU) per frame.

  Args:
    annotation: bool-like [H, W] or [T, H, W], the ground-truth mask.
    segmentation: same shape, the predicted mask.
    void_pixels: optional, same shape; pixels left out of both counts.

  Returns:
    float (for [H, W]) or float64 [T]; 1 where both masks are empty.
  """
  annotation = np.asarray(annotation).astype(bool)
  segmentation = np.asarray(segmentation).astype(bool)
  if annotation.shape != segmentation.shape:
    raise ValueError('db_eval_iou: annotation %s and segmentation %s differ '
                     'in shape.' % (annotation.shape, segmentation.shape))
  valid = (np.ones_like(annotation) if void_pixels is None else
           ~np.asarray(void_pixels).astype(bool))
  intersection = np.sum(annotation & segmentation & valid, axis=(-2, -1))
  union = np.sum((annotation | segmentation) & valid, axis=(-2, -1))
  with np.errstate(divide='ignore', invalid='ignore'):
    iou = intersection / np.asarray(union, np.float64)
  iou = np.where(union == 0, 1.0, iou)
  return float(iou) if iou.ndim == 0 else iou


def seg2bmap(seg):
  """One-pixel-wide boundary map of a binary mask (DAVIS / BSDS convention).

  A pixel is on the boundary when it differs from its east, south or
  south-east neighbour (outside the image counts as background for the
  shifted copies; the last row compares only east, the last column only
  south, and the bottom-right pixel is never a boundary).

  Args:
    seg: bool-like [H, W].

  Returns:
    bool [H, W].
  """
  seg = np.asarray(seg).astype(bool)
  east = np.zeros_like(seg)
  south = np.zeros_like(seg)
  south_east = np.zeros_like(seg)
  east[:, :-1] = seg[:, 1:]
  south[:-1, :] = seg[1:, :]
  south_east[:-1, :-1] = seg[1:, 1:]
  boundary = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
  boundary[-1, :] = seg[-1, :] ^ east[-1, :]
  boundary[:, -1] = seg[:, -1] ^ south[:, -1]
  boundary[-1, -1] = False
  return boundary


def disk(radius):
  """uint8 [2r+1, 2r+1] structuring element: 1 where x^2 + y^2 <= r^2."""
  radius = int(radius)
  offsets = np.arange(-radius, radius + 1)
  return (offsets[:, None] ** 2 + offsets[None, :] ** 2 <=
          radius ** 2).astype(np.uint8)


def boundary_tolerance(shape, bound_th=0.008):
  """Match tolerance in pixels: bound_th itself when >= 1, else
  ceil(bound_th * sqrt(H^2 + W^2)) for an [H, W] image."""
  if bound_th >= 1:
    return int(bound_th)
  return int(np.ceil(bound_th * np.linalg.norm(shape[-2:])))


def f_measure(foreground_mask, gt_mask, void_pixels=None, bound_th=0.008):
  """Boundary F-measure of one predicted mask against one annotation.

  Args:
    foreground_mask: bool-like [H, W], the prediction.
    gt_mask: bool-like [H, W], the annotation.
    void_pixels: optional bool-like [H, W], removed from both masks.
    bound_th: tolerance as a fraction of the image diagonal (< 1) or in
      pixels (>= 1).

  Returns:
    float in [0, 1].
  """
  foreground_mask = np.asarray(foreground_mask).astype(bool)
  gt_mask = np.asarray(gt_mask).astype(bool)
  if void_pixels is not None:
    valid = ~np.asarray(void_pixels).astype(bool)
    foreground_mask = foreground_mask & valid
    gt_mask = gt_mask & valid
  kernel = disk(boundary_tolerance(foreground_mask.shape, bound_th))
  fg_boundary = seg2bmap(foreground_mask)
  gt_boundary = seg2bmap(gt_mask)
  fg_dilated = cv2.dilate(fg_boundary.astype(np.uint8), kernel) > 0
  gt_dilated = cv2.dilate(gt_boundary.astype(np.uint8), kernel) > 0
  num_fg = int(fg_boundary.sum())
  num_gt = int(gt_boundary.sum())
  if num_fg == 0 and num_gt == 0:
    precision, recall = 1.0, 1.0
  elif num_fg == 0:
    precision, recall = 1.0, 0.0
  elif num_gt == 0:
    precision, recall = 0.0, 1.0
  else:
    precision = np.sum(fg_boundary & gt_dilated) / float(num_fg)
    recall = np.sum(gt_boundary & fg_dilated) / float(num_gt)
  if precision + recall == 0:
    return 0.0
  return float(2 * precision * recall / (precision + recall))


def db_eval_boundary(annotation, segmentation, void_pixels=None,
                     bound_th=0.008):
  """Boundary accuracy F per frame.

  Args:
    annotation: bool-like [H, W] or [T, H, W], the ground-truth mask.
    segmentation: same shape, the predicted mask.
    void_pixels: optional, same shape.
    bound_th: tolerance, a fraction of the image diagonal (default 0.008).

  Returns:
    float (for [H, W]) or float64 [T].
  """
  annotation = np.asarray(annotation)
  segmentation = np.asarray(segmentation)
  if annotation.shape != segmentation.shape:
    raise ValueError('db_eval_boundary: annotation %s and segmentation %s '
                     'differ in shape.' % (annotation.shape,
                                           segmentation.shape))
  if annotation.ndim == 2:
    return f_measure(segmentation, annotation, void_pixels, bound_th)
  if annotation.ndim != 3:
    raise ValueError('db_eval_boundary: masks must be [H, W] or [T, H, W], '
                     'got %s.' % (annotation.shape,))
  return np.array([
      f_measure(segmentation[t], annotation[t],
                None if void_pixels is None else void_pixels[t], bound_th)
      for t in range(annotation.shape[0])])


def db_statistics(per_frame_values):
  """(mean, recall, decay) of one object's per-frame J or F values [T].

  mean ignores NaN; recall = fraction of frames > 0.5; decay = mean of the
  first of 4 equal bins of frames minus mean of the last bin.
  """
  values = np.asarray(per_frame_values, np.float64)
  mean = float(np.nanmean(values))
  recall = float(np.nanmean(values > 0.5))
  ids = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(int)
  bins = [values[ids[i]:ids[i + 1] + 1] for i in range(4)]
  decay = float(np.nanmean(bins[0]) - np.nanmean(bins[3]))
  return mean, recall, decay


def scored_frames(num_frames):
  """Indices of the frames DAVIS-2017 scores: all but the first and last."""
  return np.arange(1, num_frames - 1)


def evaluate_sequence(gt_labels, pred_labels, bound_th=0.008):
  """Per-object, per-frame J and F of one sequence.

  Args:
    gt_labels: int [T, H, W] annotated object ids (0 background; 255, if
      present, is void).
    pred_labels: int [T, H, W] predicted object ids.
    bound_th: boundary tolerance (fraction of the diagonal).

  Returns:
    (j, f): float64 [num_objects, T - 2] each, over frames 1..T-2, objects
    1..max id of gt_labels[0].
  """
  gt_labels = np.asarray(gt_labels)
  pred_labels = np.asarray(pred_labels)
  if gt_labels.shape != pred_labels.shape:
    raise ValueError('Prediction %s and annotation %s differ in shape.' % (
        pred_labels.shape, gt_labels.shape))
  # Void pixels (255) count as background: the semi-supervised protocol
  # does not pass them to the measures.
  gt = np.where(gt_labels == 255, 0, gt_labels)
  frames = scored_frames(gt.shape[0])
  num_objects = int(gt[0].max())
  j = np.zeros((num_objects, len(frames)))
  f = np.zeros((num_objects, len(frames)))
  for obj in range(1, num_objects + 1):
    gt_obj = gt[frames] == obj
    pred_obj = pred_labels[frames] == obj
    j[obj - 1] = db_eval_iou(gt_obj, pred_obj)
    f[obj - 1] = db_eval_boundary(gt_obj, pred_obj, None, bound_th)
  return j, f


def davis_summary(per_sequence):
  """The DAVIS-2017 global table from per-sequence results.

  Args:
    per_sequence: dict {sequence name: (j, f)} as returned by
      `evaluate_sequence`.

  Returns:
    dict: 'J&F-Mean', 'J-Mean', 'J-Recall', 'J-Decay', 'F-Mean', 'F-Recall',
    'F-Decay' (means over all objects of all sequences) and 'per_object'
    {'<seq>_<id>': (J-Mean, F-Mean)}.
  """
  stats = {'J': [], 'F': []}
  per_object = {}
  for name, (j, f) in per_sequence.items():
    for obj in range(j.shape[0]):
      j_stats, f_stats = db_statistics(j[obj]), db_statistics(f[obj])
      stats['J'].append(j_stats)
      stats['F'].append(f_stats)
      per_object['%s_%d' % (name, obj + 1)] = (j_stats[0], f_stats[0])
  if not per_object:
    raise ValueError('davis_summary: no objects to score.')
  j_arr, f_arr = np.array(stats['J']), np.array(stats['F'])
  summary = {
      'J-Mean': j_arr[:, 0].mean(), 'J-Recall': j_arr[:, 1].mean(),
      'J-Decay': j_arr[:, 2].mean(), 'F-Mean': f_arr[:, 0].mean(),
      'F-Recall': f_arr[:, 1].mean(), 'F-Decay': f_arr[:, 2].mean()}
  summary['J&F-Mean'] = (summary['J-Mean'] + summary['F-Mean']) / 2.0
  summary = {k: float(v) for k, v in summary.items()}
  summary['per_object'] = per_object
  return summary


def pck_box_sizes(gt_coords, visible):
  """JHMDB person box size per frame: 0.6 x the diagonal of the bounding box
  of the visible annotated keypoints.

  Args:
    gt_coords: float [T, J, 2] (x, y) in pixels.
    visible: bool [T, J].

  Returns:
    float64 [T] (NaN for a frame without visible keypoints).
  """
  sizes = np.full(gt_coords.shape[0], np.nan)
  for t in range(gt_coords.shape[0]):
    points = gt_coords[t][visible[t]]
    if len(points):
      sizes[t] = 0.6 * np.linalg.norm(points.max(0) - points.min(0))
  return sizes


def pck(pred_coords, gt_coords, visible=None, thresholds=(0.1, 0.2)):
  """Percentage of correct keypoints, as the JHMDB protocol of TimeCycle/CRW.

  A keypoint of frame t is correct when its distance to the annotation is
  at most alpha x the box size of frame t (`pck_box_sizes`). The first frame
  (the given one) is not scored, nor are frames whose box has no size (a
  single visible keypoint, or all at one point: no threshold to score by;
  JHMDB annotates every joint, so its frames never have one). PCK is
  computed per keypoint index over frames (and videos, when several are
  concatenated along T by the caller), then averaged over keypoint indices.

  Args:
    pred_coords: float [T, J, 2] predicted (x, y) pixels.
    gt_coords: float [T, J, 2] annotated (x, y) pixels.
    visible: optional bool [T, J] (default all visible); invisible
      annotations are not scored.
    thresholds: the alphas.

  Returns:
    dict {alpha: PCK in [0, 1]}.
  """
  pred_coords = np.asarray(pred_coords, np.float64)
  gt_coords = np.asarray(gt_coords, np.float64)
  if visible is None:
    visible = np.ones(gt_coords.shape[:2], bool)
  dist = pck_normalized_distances(pred_coords, gt_coords, visible)
  return {alpha: pck_from_distances(dist, alpha) for alpha in thresholds}


def pck_normalized_distances(pred_coords, gt_coords, visible):
  """Per keypoint index j, the distances / box size of its scored frames.

  Returns:
    list (length J) of float64 arrays.
  """
  boxes = pck_box_sizes(gt_coords, visible)
  scored = visible & (boxes[:, None] > 0)  # False for NaN boxes too
  scored[0] = False
  dist = np.linalg.norm(pred_coords - gt_coords, axis=-1) / np.where(
      boxes > 0, boxes, 1.0)[:, None]
  return [dist[scored[:, j], j] for j in range(gt_coords.shape[1])]


def pck_from_distances(distances, alpha):
  """Mean over keypoint indices of the fraction of distances <= alpha."""
  per_joint = [np.mean(d <= alpha) for d in distances if len(d)]
  return float(np.mean(per_joint)) if per_joint else float('nan')
