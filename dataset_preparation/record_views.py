r"""Records one take from several synchronised cameras (or files, or streams).

Like the published TCN webcam.py: N OpenCV sources are read in lockstep and
written as one video per view, `<output_dir>/<take>_view<i>.mp4`, the layout
that `multiview_videos_to_tfrecords.py` groups into takes. Sources are camera
indices (`0`), video files or stream URLs (`rtsp://...`).

Synchronisation by timestamp: output frame k is at time t0 + k / fps, and
each view shows its latest frame at or before that time (t0: the moment every
source has delivered a frame). Timestamps are the file's own frame times for
video files and the capture clock for cameras and streams, so files of
different frame rates stay aligned and live cameras are sampled together.
Recording stops at --max_frames, --duration seconds, the end of any file
source, Ctrl-C, or `q` in the preview window. A live preview grid of all views
is shown when a display and an OpenCV build with windows exist; otherwise it
is skipped with one message. Videos are written under temporary names and
renamed at the end.

Example (two webcams, then conversion):
  python -m dataset_preparation.record_views --sources 0,1 \
      --output_dir ~/tcn/videos/mydata/train --fps 15 --size 320x240
  python -m dataset_preparation.multiview_videos_to_tfrecords \
      --input_dir ~/tcn/videos/mydata/train --output_dir ~/tcn/tfrecords \
      --dataset_name mydata --split train
"""

from utils import cli  # first: quiets TensorFlow's start-up

import math
import os
import re
import time

from absl import flags
from absl import logging
import cv2
import numpy as np

from utils import atomic_files
from dataset_preparation import conversion

PREVIEW_WINDOW = 'record_views (q: stop)'


class SourceError(ValueError):
  """A source that cannot be opened or read."""


def _is_live(spec):
  return spec.isdigit() or '://' in spec


class TimedSource:
  """One OpenCV source yielding (timestamp in seconds, RGB frame)."""

  def __init__(self, spec):
    self.spec = spec
    self.live = _is_live(spec)
    if not self.live and not os.path.isfile(spec):
      raise SourceError('%s: no such video file (a source is a camera index, '
                        'a video file or a stream URL).' % spec)
    self.capture = cv2.VideoCapture(int(spec) if spec.isdigit() else spec)
    if not self.capture.isOpened():
      raise SourceError('%s: OpenCV cannot open this source; check the camera '
                        'index (ls /dev/video*), the file or the URL.' % spec)
    self.fps = self.capture.get(cv2.CAP_PROP_FPS)
    if not self.fps or not np.isfinite(self.fps) or self.fps > 1000:
      self.fps = 30.0
    self.index = 0
    self.start = time.monotonic()

  def read(self):
    """(timestamp, RGB frame), or None at the end of the source."""
    ok, frame = self.capture.read()
    if not ok:
      return None
    if self.live:
      stamp = time.monotonic() - self.start
    else:
      # The file's time of the frame just read; some backends report 0.
      msec = self.capture.get(cv2.CAP_PROP_POS_MSEC)
      stamp = msec / 1000.0 if msec > 0 or self.index == 0 else (
          self.index / self.fps)
    self.index += 1
    return stamp, frame[..., ::-1]

  def release(self):
    self.capture.release()


def synchronized_frames(sources, fps, max_frames=None, duration=None):
  """Yields lists of one RGB frame per source at times t0 + k / fps.

  Args:
    sources: list of objects with `read()` -> (timestamp, frame) or None.
    fps: output frame rate.
    max_frames: stop after this many output frames.
    duration: stop after this many seconds of output.

  Yields:
    list of uint8 [H_i, W_i, 3] RGB frames, one per source.
  """
  current = [s.read() for s in sources]
  if any(c is None for c in current):
    return
  pending = [s.read() for s in sources]
  start = max(c[0] for c in current)
  count = 0
  while max_frames is None or count < max_frames:
    target = start + count / fps
    if duration is not None and count / fps >= duration:
      return
    for i, source in enumerate(sources):
      # Advance to the latest frame at or before the target time.
      while pending[i] is not None and pending[i][0] <= target + 1e-9:
        current[i] = pending[i]
        pending[i] = source.read()
      period = 1.0 / getattr(source, 'fps', fps)
      if pending[i] is None and target - current[i][0] >= period - 1e-9:
        return  # A source has ended: its last frame's time is over.
    yield [c[1] for c in current]
    count += 1
    if all(p is None for p in pending):
      return


def next_take_name(output_dir):
  """'0', or one more than the largest integer take name in `output_dir`."""
  numbers = [int(m.group(1)) for m in (
      re.match(r'(\d+)_view\d+\.', f) for f in (
          os.listdir(output_dir) if os.path.isdir(output_dir) else []))
             if m]
  return str(max(numbers) + 1) if numbers else '0'


def preview_grid(frames, tile_height=240):
  """All views side by side (near-square grid) as one BGR image."""
  cols = int(math.ceil(math.sqrt(len(frames))))
  rows = int(math.ceil(len(frames) / cols))
  tiles = []
  for frame in frames:
    width = max(1, int(round(frame.shape[1] * tile_height / frame.shape[0])))
    tiles.append(cv2.resize(frame, (width, tile_height)))
  width = max(t.shape[1] for t in tiles)
  canvas = np.zeros((rows * tile_height, cols * width, 3), np.uint8)
  for k, tile in enumerate(tiles):
    r, c = divmod(k, cols)
    canvas[r * tile_height:(r + 1) * tile_height,
           c * width:c * width + tile.shape[1]] = tile
  return cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR)


def _display_available():
  if not (os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')):
    return False, 'no display (DISPLAY is not set)'
  try:
    cv2.namedWindow(PREVIEW_WINDOW, cv2.WINDOW_NORMAL)
  except cv2.error:
    return False, 'this OpenCV build has no window support (headless)'
  return True, ''


def record_views(sources, output_dir, take=None, fps=None, size=None,
                 max_frames=None, duration=None, preview=True, log=print):
  """Records one take; returns the paths of its per-view videos.

  Args:
    sources: list of source strings (camera index, file, URL).
    output_dir: where `<take>_view<i>.mp4` go.
    take: take name (default: the next integer, as the published webcam.py).
    fps: output frame rate (default: that of the first source).
    size: 'WIDTHxHEIGHT' or 'SIZE' to resize every view (default: each
      source's own size).
    max_frames, duration: when to stop (see `synchronized_frames`).
    preview: show a live grid of the views when a display exists.
    log: function taking one message.

  Returns:
    dict: `paths` list of the V video paths, `num_frames` int, `fps` float.
  """
  if len(sources) < 2:
    raise SourceError('give at least 2 sources (--sources 0,1), got %d.' %
                      len(sources))
  resize = conversion.parse_resize(size)
  opened = []
  try:
    for spec in sources:
      opened.append(TimedSource(spec))
    fps = fps or opened[0].fps
    os.makedirs(output_dir, exist_ok=True)
    take = take or next_take_name(output_dir)
    paths = [os.path.join(output_dir, '%s_view%d.mp4' % (take, i))
             for i in range(len(sources))]
    existing = [p for p in paths if os.path.exists(p)]
    if existing:
      raise SourceError('%s already exists; choose another --take.' %
                        existing[0])
    show = False
    if preview:
      show, reason = _display_available()
      if not show:
        log('preview skipped: %s.' % reason)
    log('recording %d views at %.1f fps to %s' % (
        len(sources), fps, ', '.join(paths)))
    num_frames = _write_views(opened, paths, fps, resize, max_frames,
                              duration, show)
  finally:
    for source in opened:
      source.release()
  log('wrote %d synchronised frames per view (%.1f s at %.1f fps): %s' % (
      num_frames, num_frames / fps, fps, ', '.join(paths)))
  return {'paths': paths, 'num_frames': num_frames, 'fps': fps}


def _write_views(sources, paths, fps, resize, max_frames, duration, show):
  """Writes the synchronised frames; returns their number per view."""
  temps, writers = [], []
  num_frames = 0
  try:
    for path in paths:
      temps.append(atomic_files.reserve_temp_path(path))
    try:
      for frames in synchronized_frames(sources, fps, max_frames, duration):
        if resize is not None:
          frames = [conversion.resize_frame(f, resize) for f in frames]
        if not writers:
          for tmp, frame in zip(temps, frames):
            writers.append(cv2.VideoWriter(
                tmp, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                (frame.shape[1], frame.shape[0])))
            if not writers[-1].isOpened():
              raise SourceError('%s: OpenCV cannot write an mp4v video here.'
                                % tmp)
        for writer, frame in zip(writers, frames):
          writer.write(np.ascontiguousarray(frame[..., ::-1]))
        num_frames += 1
        if show:
          cv2.imshow(PREVIEW_WINDOW, preview_grid(frames))
          if cv2.waitKey(1) & 0xFF == ord('q'):
            break
    except KeyboardInterrupt:
      logging.info('Stopped by Ctrl-C.')
    for writer in writers:
      writer.release()
    if num_frames == 0:
      raise SourceError('no synchronised frame could be read from %s.' %
                        ', '.join(s.spec for s in sources))
    for tmp, path in zip(temps, paths):
      os.replace(tmp, path)
  finally:
    for writer in writers:
      writer.release()
    for tmp in temps:
      atomic_files.remove_if_exists(tmp)
    if show:
      cv2.destroyAllWindows()
  return num_frames


FLAGS = flags.FLAGS


def _define_flags():
  flags.DEFINE_list('sources', None, 'Comma-separated sources, one per view: '
                    'camera indices, video files or stream URLs.')
  flags.DEFINE_string('output_dir', None, 'Where <take>_view<i>.mp4 go.')
  flags.DEFINE_string('take', None, 'Take name (default: next integer).')
  flags.DEFINE_float('fps', None, 'Output frame rate (default: first '
                     'source).')
  flags.DEFINE_string('size', None, 'Resize views to SIZE or WIDTHxHEIGHT.')
  flags.DEFINE_integer('max_frames', None, 'Stop after this many frames.')
  flags.DEFINE_float('duration', None, 'Stop after this many seconds.')
  flags.DEFINE_bool('preview', True, 'Show a live grid of the views when a '
                    'display exists.')
  flags.mark_flags_as_required(['sources', 'output_dir'])


@cli.fails_on(SourceError, ValueError)
def main(argv):
  del argv
  record_views(FLAGS.sources, FLAGS.output_dir, FLAGS.take, FLAGS.fps,
               FLAGS.size, FLAGS.max_frames, FLAGS.duration, FLAGS.preview)


if __name__ == '__main__':
  cli.run(main, _define_flags)
