"""Contact sheets (PNG) and mp4s of the videos of a TFRecord file: each frame
labelled with its index and phase label, the video name on top.
`tools/visualize_tfrecords.py` is the command-line tool."""

import os

import cv2
import numpy as np

from data import records
from utils import atomic_files

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _upscale(frames, min_side):
  """Nearest-neighbour upscaling so that text stays readable on tiny frames."""
  factor = int(np.ceil(min_side / max(1, min(frames.shape[1:3]))))
  if factor <= 1:
    return frames
  return frames.repeat(factor, axis=1).repeat(factor, axis=2)


def _put_text(image, text, origin, scale):
  # A dark outline keeps the text readable on any background.
  cv2.putText(image, text, origin, _FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
  cv2.putText(image, text, origin, _FONT, scale, (255, 255, 255), 1,
              cv2.LINE_AA)


def annotate_frames(video, min_side=128):
  """Frames with `t=<index> phase=<label>` drawn on them.

  Args:
    video: dict from `records.load_videos`.
    min_side: frames smaller than this are upscaled first.

  Returns:
    uint8 [T, H', W', 3] RGB.
  """
  frames = np.ascontiguousarray(_upscale(video['frames'], min_side))
  labels = video['frame_labels']
  scale = frames.shape[2] / 320.0
  for t, frame in enumerate(frames):
    text = 't=%d' % t if labels is None else 't=%d phase=%d' % (t, labels[t])
    _put_text(frame, text, (4, frames.shape[1] - 6), max(0.35, scale))
  return frames


def contact_sheet(video, max_frames=24, columns=6, min_side=128):
  """A grid of evenly spaced frames under a title with the video name.

  Returns:
    uint8 [H, W, 3] RGB.
  """
  frames = annotate_frames(video, min_side)
  count = min(max_frames, len(frames))
  picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
  rows = int(np.ceil(count / columns))
  h, w = frames.shape[1:3]
  title_h = 28
  sheet = np.zeros((title_h + rows * h, min(columns, count) * w, 3), np.uint8)
  _put_text(sheet, '%s (%d frames, video label %d)' % (
      video['name'], video['len'], video['label']), (4, 20), 0.55)
  for i, t in enumerate(picks):
    r, c = divmod(i, columns)
    sheet[title_h + r * h:title_h + (r + 1) * h, c * w:(c + 1) * w] = frames[t]
  return sheet


def write_video(video, path, fps=10.0, min_side=128):
  """Writes the annotated frames (name on top) as an mp4 (atomic rename)."""
  frames = annotate_frames(video, min_side)
  for frame in frames:
    _put_text(frame, video['name'], (4, 16), 0.45)
  h, w = frames.shape[1:3]
  with atomic_files.atomic_path(path) as tmp:
    writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (w, h))
    try:
      for frame in frames:
        writer.write(frame[..., ::-1])
    finally:
      writer.release()


def visualize(tfrecord, output, index=0, name=None, max_frames=24, columns=6,
              fps=10.0):
  """Renders video `index` (or the one called `name`) of `tfrecord`.

  `output` ending in .mp4 gives a video, anything else a PNG contact sheet.

  Returns:
    The video dict rendered (see `records.load_videos`).
  """
  videos = records.load_videos([tfrecord])
  if name is not None:
    matches = [v for v in videos if v['name'] == name]
    if not matches:
      raise ValueError('%s: no video named %r (names: %s).' % (
          tfrecord, name, ', '.join(v['name'] for v in videos[:10])))
    video = matches[0]
  else:
    if not 0 <= index < len(videos):
      raise ValueError('%s: index %d out of range (%d videos).' % (
          tfrecord, index, len(videos)))
    video = videos[index]
  if output.lower().endswith('.mp4'):
    write_video(video, output, fps)
  else:
    sheet = contact_sheet(video, max_frames, columns)
    ok, buf = cv2.imencode(os.path.splitext(output)[1] or '.png',
                           sheet[..., ::-1])
    if not ok:
      raise ValueError('%s: cannot encode an image with this extension.' %
                       output)
    atomic_files.write_bytes(output, buf.tobytes())
  return video


def describe(video, output):
  """One line saying what `visualize` wrote."""
  labels = video['frame_labels']
  return 'Wrote %s: video %r, %d frames, %s.' % (
      output, video['name'], video['len'],
      'no frame labels' if labels is None else 'phases %s' % sorted(
          set(int(l) for l in labels)))
