"""Pictures of correspondence: propagated masks over frames, and where one
query point's features match in another frame. NumPy + OpenCV; no config."""

import os

import cv2
import numpy as np

from correspondence import davis_io
from correspondence import propagation


def overlay_masks(frame, mask, alpha=0.5):
  """uint8 [H, W, 3] frame with object ids [H, W] blended in the DAVIS
  palette, object outlines in white."""
  colors = davis_io.davis_palette()[np.asarray(mask, np.int64)]
  blended = frame.astype(np.float32)
  objects = mask > 0
  blended[objects] = ((1 - alpha) * blended[objects] +
                      alpha * colors[objects].astype(np.float32))
  out = blended.astype(np.uint8)
  for obj in np.unique(mask[objects]):
    contours, _ = cv2.findContours((mask == obj).astype(np.uint8),
                                   cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
  return out


def _label(image, text):
  out = image.copy()
  cv2.putText(out, text, (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3,
              (255, 255, 255), 1, cv2.LINE_AA)
  return out


def propagation_strip(frames, predicted, annotated=None, num_columns=6,
                      scale=2):
  """A strip of evenly spaced frames: predicted masks over the frames (top
  row) and, when given, the annotation (bottom row).

  Args:
    frames: uint8 [T, H, W, 3].
    predicted: int [T, H, W] object ids.
    annotated: optional int [T, H, W].
    num_columns: frames shown (first and last included).
    scale: integer upscaling of the picture.

  Returns:
    uint8 [rows * H * scale, num_columns * W * scale, 3] RGB.
  """
  steps = np.unique(np.linspace(0, len(frames) - 1, num_columns).round()
                    .astype(int))
  rows = [np.concatenate([_label(overlay_masks(frames[t], predicted[t]),
                                 'pred t=%d' % t) for t in steps], 1)]
  if annotated is not None:
    rows.append(np.concatenate([_label(overlay_masks(frames[t], annotated[t]),
                                       'truth t=%d' % t) for t in steps], 1))
  picture = np.concatenate(rows, 0)
  return cv2.resize(picture, None, fx=scale, fy=scale,
                    interpolation=cv2.INTER_NEAREST)


def affinity_map(feats_source, feats_target, query_cell, temperature=0.05):
  """softmax over target cells of cos(query, cell) / temperature.

  Args:
    feats_source: float [h, w, C] features of the query frame.
    feats_target: float [h, w, C] features of the other frame.
    query_cell: (row, column) in feature cells.
    temperature: as in label propagation.

  Returns:
    float32 [h, w], sums to 1.
  """
  source = propagation.l2_normalize(feats_source)
  target = propagation.l2_normalize(feats_target)
  logits = target @ source[query_cell[0], query_cell[1]] / temperature
  weights = np.exp(logits - logits.max())
  return (weights / weights.sum()).astype(np.float32)


def affinity_figure(frame_source, frame_target, feats_source, feats_target,
                    query_point, temperature=0.05, topk=5, scale=3):
  """Query point on the source frame | affinity heatmap over the target frame
  with its top-k cells boxed (the nearest-neighbour patches).

  Args:
    frame_source, frame_target: uint8 [H, W, 3].
    feats_source, feats_target: float [h, w, C].
    query_point: (y, x) in source pixels.
    temperature: softmax temperature.
    topk: cells outlined on the target (best in green, others in yellow).
    scale: integer upscaling.

  Returns:
    uint8 RGB picture [H * scale, 2 * W * scale, 3].
  """
  height, width = frame_source.shape[:2]
  cells_h, cells_w = feats_source.shape[:2]
  stride_y, stride_x = height / cells_h, width / cells_w
  cell = (min(int(query_point[0] / stride_y), cells_h - 1),
          min(int(query_point[1] / stride_x), cells_w - 1))
  weights = affinity_map(feats_source, feats_target, cell, temperature)
  heat = cv2.resize(weights / weights.max(), (width, height),
                    interpolation=cv2.INTER_NEAREST)
  colored = cv2.applyColorMap((heat * 255).astype(np.uint8),
                              cv2.COLORMAP_JET)[..., ::-1]
  target = (0.5 * frame_target + 0.5 * colored).astype(np.uint8)
  source = frame_source.copy()
  source = cv2.resize(source, None, fx=scale, fy=scale,
                      interpolation=cv2.INTER_NEAREST)
  target = cv2.resize(target, None, fx=scale, fy=scale,
                      interpolation=cv2.INTER_NEAREST)
  y0, x0 = int(cell[0] * stride_y * scale), int(cell[1] * stride_x * scale)
  cv2.rectangle(source, (x0, y0), (int(x0 + stride_x * scale) - 1,
                                   int(y0 + stride_y * scale) - 1),
                (0, 255, 0), 1)
  cv2.circle(source, (int(query_point[1] * scale),
                      int(query_point[0] * scale)), 3, (255, 0, 0), -1)
  order = np.argsort(-weights.reshape(-1))[:topk]
  for rank, index in enumerate(order):
    row, col = divmod(int(index), cells_w)
    y0, x0 = int(row * stride_y * scale), int(col * stride_x * scale)
    cv2.rectangle(target, (x0, y0), (int(x0 + stride_x * scale) - 1,
                                     int(y0 + stride_y * scale) - 1),
                  (0, 255, 0) if rank == 0 else (255, 255, 0), 1)
  return np.concatenate([_label(source, 'query'),
                         _label(target, 'affinity, top-%d' % topk)], 1)


def write_png(path, rgb):
  """Writes an RGB picture as PNG, atomically (0644)."""
  ok, data = cv2.imencode('.png', np.ascontiguousarray(rgb[..., ::-1]))
  if not ok:
    raise ValueError('%s: PNG encoding failed.' % path)
  davis_io.write_bytes(path, data.tobytes())


def visualize_sequence(feature_fn, root, sequence, output_dir, query_point,
                       target_frame, propagation_args):
  """Writes the two pictures; returns their paths.

  Args:
    feature_fn: uint8 frames [T, H, W, 3] -> features [T, h, w, C].
    root: DAVIS-layout folder.
    sequence: its name.
    output_dir: destination folder.
    query_point: (y, x) on frame 0, or None for the centre of object 1.
    target_frame: frame index of the affinity picture.
    propagation_args: num_context, topk, radius, temperature.
  """
  frames = davis_io.read_frames(root, sequence)
  first = davis_io.read_annotations(root, sequence, first_only=True)[0]
  try:
    annotated = davis_io.read_annotations(root, sequence)
  except ValueError:
    annotated = None
  feats = np.asarray(feature_fn(frames))
  predicted = propagation.propagate_mask(feats, first, first.shape,
                                         **propagation_args)
  strip_path = os.path.join(output_dir, sequence + '_propagation.png')
  write_png(strip_path, propagation_strip(
      frames, predicted, annotated))
  if query_point is None:
    ys, xs = np.nonzero(first == 1) if (first == 1).any() else (
        [first.shape[0] // 2], [first.shape[1] // 2])
    query_point = (int(np.mean(ys)), int(np.mean(xs)))
  affinity_path = os.path.join(output_dir, sequence + '_affinity.png')
  write_png(affinity_path, affinity_figure(
      frames[0], frames[target_frame], feats[0], feats[target_frame],
      query_point, propagation_args['temperature']))
  return strip_path, affinity_path
