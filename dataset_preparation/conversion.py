"""Shared core of `videos_to_tfrecords` and `images_to_tfrecords`.

A *source* is one video: a video file or a folder of frame images. Sources
are read in worker processes (frames resampled to a target fps, rotated,
resized, JPEG-encoded), given per-frame labels from an annotation file, and
written by the main process with `tfrecord_io` plus `dataset_info.json`.

A run is staged: every split is written into a hidden folder inside the
output directory and moved into place only when the whole run succeeded, so
an error (e.g. an annotation that does not fit its video) leaves the output
directory as it was.

Annotation files give, per video, its phases:
  CSV:  one row per video, `<video>,e1,e2,...`: key-event times (a first row
        starting with `name` or `video` is a header).
  JSON: {"<video>": [e1, e2, ...]} or {"<video>": {"events": [...]}}: key
        events; frame t gets label = number of key events at or before t.
        Events are in seconds or source-frame indices (`annotation_unit`).
        {"<video>": {"frame_labels": [l0, l1, ...]}}: one label per source
        frame.
        The published TCC format {"<video>": {"<annotator>": {"0": [start,
        end], "1": [...], ...}}}: per annotator, segment k of the activity
        from `start` to `end` in microseconds. See `merge_segment_votes` and
        `labels_from_segments`.
`<video>` is the file name with or without extension (folder name for image
folders). Videos without an entry are skipped and reported; entries that
match no video are reported.
"""

import csv
import fnmatch
import json
import multiprocessing
import os
import re
import shutil
import tempfile
import time

from absl import flags
from absl import logging
import cv2
import numpy as np

from dataset_preparation import tfrecord_io

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')

ANNOTATIONS_HELP = (
    'Per-video phase annotations (videos without an entry are skipped). CSV: '
    'rows "video,e1,e2,..." of key-event times. JSON: {"video": [e1, ...]} '
    'or {"video": {"events": [...]}} (frame label = number of events at or '
    'before the frame; unit: --annotation_unit), {"video": {"frame_labels": '
    '[one per source frame]}}, or the published TCC format {"video": '
    '{"annotator": {"0": [start_us, end_us], "1": ...}}} (segments in '
    'microseconds, averaged over annotators; see --expected_segments). '
    '"video" is the file name with or without extension.')


class SourceError(Exception):
  """A source that cannot be read; it is skipped and reported."""


class LabelError(ValueError):
  """Annotations that do not fit a video; the conversion stops."""


# ----------------------------------------------------------------------------
# Annotations and labels.
# ----------------------------------------------------------------------------


def _is_segment_votes(value):
  """Whether a JSON entry is in the published {annotator: {k: [s, e]}} form."""
  return (isinstance(value, dict) and value and
          'events' not in value and 'frame_labels' not in value and
          all(isinstance(v, dict) for v in value.values()))


def merge_segment_votes(votes, expected_segments, video_name):
  """Merges the segments of several annotators, as the published TCC tools.

  Segment k is the mean over annotators of their [start, end] of segment k
  (microseconds, converted to seconds). Then, taking the segments in order
  of their start, the boundary between two consecutive segments becomes the
  midpoint of the first one's end and the next one's start, closing gaps and
  overlaps.

  Args:
    votes: {annotator: {"0": [start_us, end_us], "1": ..., ...}}.
    expected_segments: number of segments K (keys "0".."K-1"; others are
      ignored); None: every annotator must give the same number.
    video_name: for error messages.

  Returns:
    float64 [K, 2]: [start, end] of each segment in seconds.

  Raises:
    LabelError: missing segments, malformed segments, no annotator.
  """
  if not votes:
    raise LabelError('video %s: no annotator in its entry.' % video_name)
  if expected_segments is None:
    counts = sorted({len(segments) for segments in votes.values()})
    if len(counts) != 1:
      raise LabelError('video %s: annotators give %s segments; pass '
                       '--expected_segments.' % (video_name, counts))
    expected_segments = counts[0]
  if expected_segments < 1:
    raise LabelError('video %s: no segment in its entry.' % video_name)
  merged = np.zeros([int(expected_segments), 2], np.float64)
  for k in range(int(expected_segments)):
    segment_votes = []
    for annotator, segments in votes.items():
      segment = segments.get(str(k))
      if (not isinstance(segment, (list, tuple)) or len(segment) != 2 or
          not all(isinstance(t, (int, float)) for t in segment)):
        raise LabelError(
            'video %s: annotator %s has no segment "%d" as [start_us, end_us] '
            '(got %r); expected_segments=%d.' % (
                video_name, annotator, k, segment, expected_segments))
      segment_votes.append(segment)
    merged[k] = np.mean(np.asarray(segment_votes, np.float64), axis=0) / 1e6
  order = np.argsort(merged[:, 0], kind='stable')
  for previous, following in zip(order[:-1], order[1:]):
    boundary = 0.5 * (merged[previous, 1] + merged[following, 0])
    merged[previous, 1] = boundary
    merged[following, 0] = boundary
  return merged


def labels_from_segments(segments, times, video_name):
  """Per-frame labels from merged segments, as the published TCC tools.

  A frame at time t gets the first segment k (in index order) with
  start_k <= t < end_k; a frame at or after the latest end gets the segment
  that ends last; a frame before the earliest start gets the segment that
  starts first.

  Args:
    segments: float [K, 2], [start, end] in seconds (`merge_segment_votes`).
    times: float [L], time of each output frame in seconds.
    video_name: for error messages.

  Returns:
    int64 [L].

  Raises:
    LabelError: a frame falls in no segment (the published tools dropped
      such frames, shifting every later label).
  """
  segments = np.asarray(segments, np.float64)
  times = np.asarray(times, np.float64)
  starts, ends = segments[:, 0], segments[:, 1]
  inside = (starts[None, :] <= times[:, None]) & (times[:, None] < ends[None, :])
  labels = np.where(times >= ends.max(), np.argmax(ends),
                    np.where(times < starts.min(), np.argmin(starts), -1))
  labels = np.where(inside.any(axis=1), np.argmax(inside, axis=1), labels)
  if np.any(labels < 0):
    t = times[np.argmax(labels < 0)]
    raise LabelError('video %s: the frame at %.3f s falls in no segment %s.'
                     % (video_name, t, segments.tolist()))
  return labels.astype(np.int64)


def _check_events(events, video_name):
  if not isinstance(events, list) or not all(
      isinstance(e, (int, float)) for e in events):
    raise LabelError('video %s: key events must be a list of numbers, got %r.'
                     % (video_name, events))
  if any(b < a for a, b in zip(events, events[1:])):
    raise LabelError('video %s: key events %s are not in increasing order.' %
                     (video_name, events))


def _json_entry(path, name, value, expected_segments):
  """One JSON entry as {'events'}, {'frame_labels'} or {'segments'}."""
  if isinstance(value, list):
    value = {'events': value}
  if _is_segment_votes(value):
    return {'segments': merge_segment_votes(value, expected_segments, name)}
  if not isinstance(value, dict) or not ('events' in value or
                                         'frame_labels' in value):
    raise ValueError(
        '%s: entry %r must be a list of events, an object with "events" or '
        '"frame_labels", or {annotator: {"0": [start_us, end_us], ...}}.' %
        (path, name))
  if 'events' in value:
    _check_events(value['events'], name)
  return value


def load_annotations(path, expected_segments=None):
  """Reads and checks an annotation file (JSON or CSV, see the module doc).

  Every entry is checked here, before any video is read: malformed entries,
  events out of order and incomplete segment votes stop the run at once.

  Args:
    path: .json or .csv file.
    expected_segments: segments per video of the published format (None:
      the number the annotators give).

  Returns:
    dict video key -> {'events': list of float} or {'frame_labels': list of
    int} or {'segments': float [K, 2] in seconds}.
  """
  if not os.path.isfile(path):
    raise ValueError('%s: annotation file not found.' % path)
  if path.lower().endswith('.json'):
    with open(path) as f:
      try:
        raw = json.load(f)
      except json.JSONDecodeError as e:
        raise ValueError('%s: not valid JSON (%s).' % (path, e)) from None
    if not isinstance(raw, dict):
      raise ValueError('%s: expected a JSON object {video: annotation}.' %
                       path)
    return {name: _json_entry(path, name, value, expected_segments)
            for name, value in raw.items()}
  annotations = {}
  with open(path, newline='') as f:
    for line_number, row in enumerate(csv.reader(f), start=1):
      row = [cell.strip() for cell in row if cell.strip()]
      if not row or (line_number == 1 and row[0].lower() in ('name', 'video')):
        continue
      try:
        events = [float(c) for c in row[1:]]
      except ValueError:
        raise ValueError('%s line %d: events of %r must be numbers, got %s.'
                         % (path, line_number, row[0], row[1:])) from None
      _check_events(events, row[0])
      annotations[row[0]] = {'events': events}
  return annotations


def match_annotations(annotations, sources):
  """Pairs sources with annotation entries.

  A source matches the entry keyed by its file name (e.g. "clip2.mp4"), its
  name, or its file name without extension, in that order.

  Args:
    annotations: dict from `load_annotations`.
    sources: dict name -> path.

  Returns:
    (dict name -> annotation for the sources that have one, sorted list of
    the annotation keys that match no source).

  Raises:
    LabelError: one entry matches two sources.
  """
  matched, used_by = {}, {}
  for name, path in sources.items():
    base = os.path.basename(os.path.normpath(path))
    for key in (base, name, os.path.splitext(base)[0]):
      if key in annotations:
        if key in used_by:
          raise LabelError(
              'annotation %r matches both %s and %s; key it by the file name '
              'with its extension.' % (key, used_by[key], name))
        used_by[key] = name
        matched[name] = annotations[key]
        break
  return matched, sorted(set(annotations) - set(used_by))


def labels_from_events(events, source_indices, source_fps, unit,
                       num_source_frames, video_name):
  """Per-frame labels: number of key events at or before each frame.

  Args:
    events: key events, seconds (`unit`='seconds') or source frame indices
      (`unit`='frames'), non-decreasing.
    source_indices: int [L], source frame of each output frame.
    source_fps: frame rate of the source (frames per second).
    unit: 'seconds' or 'frames'.
    num_source_frames: frames in the source, for the range check.
    video_name: for error messages.

  Returns:
    int64 [L].

  Raises:
    LabelError: events out of order or after the end of the video.
  """
  events = np.asarray(events, np.float64)
  if np.any(np.diff(events) < 0):
    raise LabelError('video %s: key events %s are not in increasing order.' %
                     (video_name, events.tolist()))
  source_indices = np.asarray(source_indices)
  if unit == 'seconds':
    duration = num_source_frames / source_fps
    if events.size and events[-1] >= duration:
      raise LabelError(
          'video %s: key event at %.3f s is not before the end of the video '
          '(%d frames at %.3f fps = %.3f s); fix the annotation or the '
          'annotation unit.' % (video_name, events[-1], num_source_frames,
                                source_fps, duration))
    # A tolerance of a thousandth of a frame absorbs float rounding.
    times = source_indices / source_fps + 1e-3 / source_fps
    return np.searchsorted(events, times, side='right').astype(np.int64)
  if unit == 'frames':
    if events.size and events[-1] >= num_source_frames:
      raise LabelError(
          'video %s: key event at frame %d but the video has %d frames; fix '
          'the annotation or the annotation unit.' % (
              video_name, events[-1], num_source_frames))
    return np.searchsorted(events, source_indices, side='right').astype(
        np.int64)
  raise ValueError("annotation unit must be 'seconds' or 'frames', got %r."
                   % unit)


def frame_labels_for(annotation, source_indices, source_fps, unit,
                     num_source_frames, video_name):
  """Labels [L] of the output frames from one annotation entry."""
  if 'frame_labels' in annotation:
    labels = np.asarray(annotation['frame_labels'], np.int64)
    if len(labels) != num_source_frames:
      raise LabelError(
          'video %s: %d frame labels in the annotation but the video has %d '
          'frames.' % (video_name, len(labels), num_source_frames))
    return labels[np.asarray(source_indices)]
  if 'segments' in annotation:
    return labels_from_segments(
        annotation['segments'], np.asarray(source_indices) / source_fps,
        video_name)
  return labels_from_events(annotation['events'], source_indices, source_fps,
                            unit, num_source_frames, video_name)


# ----------------------------------------------------------------------------
# Frames.
# ----------------------------------------------------------------------------


def parse_resize(resize):
  """'224' -> (224, 224); '320x240' -> (320, 240) (width, height); '' -> None."""
  if not resize:
    return None
  match = re.fullmatch(r'(\d+)(?:x(\d+))?', str(resize).strip())
  if not match:
    raise ValueError('resize must be SIZE or WIDTHxHEIGHT, got %r.' % resize)
  width = int(match.group(1))
  return (width, int(match.group(2)) if match.group(2) else width)


def resize_frame(frame, size=None, shorter_side=None):
  """Resizes uint8 [H, W, 3] to `size` (width, height) or a shorter side."""
  if size is not None:
    width, height = size
  elif shorter_side:
    h, w = frame.shape[:2]
    scale = shorter_side / min(h, w)
    width, height = max(1, round(w * scale)), max(1, round(h * scale))
  else:
    return frame
  if (width, height) == (frame.shape[1], frame.shape[0]):
    return frame
  shrinking = width < frame.shape[1]
  return cv2.resize(frame, (width, height), interpolation=(
      cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR))


class _Resampler:
  """Streams source frames to output frames at `target_fps` (nearest frame).

  Output frame k is at time k / target_fps and takes the source frame
  nearest to it; without a target fps every source frame is kept.
  """

  def __init__(self, source_fps, target_fps):
    self.ratio = None if not target_fps else source_fps / target_fps
    self.next_output = 0

  def repeats(self, source_index):
    """How many output frames source frame `source_index` becomes."""
    if self.ratio is None:
      return 1
    count = 0
    while int(np.floor(self.next_output * self.ratio + 0.5)) == source_index:
      self.next_output += 1
      count += 1
    return count


def _encode_stream(frames, source_fps, options, source_name):
  """Resample, rotate, resize, encode an iterable of RGB frames.

  `options['rotate']` turns frames 90 degrees clockwise (before resizing),
  like the published converters' --rotate.

  Returns:
    (jpegs list [L], source_indices int [L], num_source_frames, (H, W)).
  """
  resampler = _Resampler(source_fps, options.get('target_fps'))
  size = parse_resize(options.get('resize'))
  jpegs, source_indices = [], []
  shape = None
  num_source = 0
  for index, frame in enumerate(frames):
    num_source += 1
    repeats = resampler.repeats(index)
    if not repeats:
      continue
    if options.get('rotate'):
      frame = np.rot90(frame, k=-1)
    frame = resize_frame(np.ascontiguousarray(frame), size,
                         options.get('shorter_side'))
    if shape is not None and frame.shape != shape:
      raise SourceError('frame %d is %s, earlier frames are %s; resize them '
                        'to one size (--resize).' % (index, frame.shape[:2],
                                                     shape[:2]))
    shape = frame.shape
    jpeg = tfrecord_io.encode_jpeg(frame, options.get('jpeg_quality', 95))
    jpegs.extend([jpeg] * repeats)
    source_indices.extend([index] * repeats)
  if not jpegs:
    raise SourceError('no frames could be decoded from %s.' % source_name)
  return jpegs, np.array(source_indices), num_source, shape[:2]


def _video_frames(path):
  """Yields RGB frames of a video file; raises SourceError when truncated."""
  capture = cv2.VideoCapture(path)
  if not capture.isOpened():
    raise SourceError('cannot be opened (unknown format or corrupt file).')
  header_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
  read = 0
  try:
    while True:
      ok, frame = capture.read()
      if not ok:
        break
      read += 1
      yield frame[..., ::-1]
  finally:
    capture.release()
  if read == 0:
    raise SourceError('no frame could be decoded (corrupt or empty video).')
  # Container headers can be off by a frame or two; more means truncation.
  if header_count > 0 and read < header_count - max(2, 0.02 * header_count):
    raise SourceError('truncated: decoded %d of the %d frames its header '
                      'announces.' % (read, header_count))


def read_video(path, options):
  """Reads one video file.

  Args:
    path: video file.
    options: dict with optional `target_fps`, `resize`, `shorter_side`,
      `jpeg_quality`, `default_fps` (used when the file reports none).

  Returns:
    (jpegs, source_indices, num_source_frames, source_fps, (H, W)).

  Raises:
    SourceError: unreadable or truncated video.
  """
  capture = cv2.VideoCapture(path)
  source_fps = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
  capture.release()
  if not source_fps or not np.isfinite(source_fps) or source_fps > 1000:
    source_fps = options.get('default_fps') or 30.0
  jpegs, indices, num_source, shape = _encode_stream(
      _video_frames(path), source_fps, options, path)
  return jpegs, indices, num_source, source_fps, shape


def _natural_key(name):
  return [int(part) if part.isdigit() else part.lower()
          for part in re.split(r'(\d+)', name)]


def list_images(folder):
  """Image files of a frame folder, sorted by name (numbers numerically)."""
  return sorted((f for f in os.listdir(folder)
                 if f.lower().endswith(IMAGE_EXTENSIONS)), key=_natural_key)


def _image_frames(folder):
  """Yields the RGB frames of a folder of images, sorted by name."""
  names = list_images(folder)
  if not names:
    raise SourceError('no images (%s) in the folder.' % ', '.join(
        IMAGE_EXTENSIONS))
  for name in names:
    image = cv2.imread(os.path.join(folder, name), cv2.IMREAD_COLOR)
    if image is None:
      raise SourceError('image %s cannot be decoded.' % name)
    yield image[..., ::-1]


def read_image_folder(folder, options):
  """Reads one folder of frame images; `options['fps']` is its frame rate.

  Returns:
    (jpegs, source_indices, num_source_frames, source_fps, (H, W)).
  """
  source_fps = float(options['fps'])
  jpegs, indices, num_source, shape = _encode_stream(
      _image_frames(folder), source_fps, options, folder)
  return jpegs, indices, num_source, source_fps, shape


_READERS = {'video': read_video, 'images': read_image_folder}
_FRAME_STREAMS = {'video': _video_frames, 'images': _image_frames}


def _process_source(job):
  """Worker: one source -> dict with frames and labels, or the skip reason.

  `job` is (kind, path, name, options, annotation, skip_reason). With a
  skip reason (no annotation entry) only the first frame is decoded, so that
  an unreadable source is reported as such rather than as unannotated.
  """
  kind, path, name, options, annotation, skip_reason = job
  cv2.setNumThreads(1)
  try:
    if skip_reason:
      frames = _FRAME_STREAMS[kind](path)
      try:
        next(frames)
      finally:
        frames.close()
      return {'name': name, 'error': skip_reason}
    jpegs, indices, num_source, fps, shape = _READERS[kind](path, options)
  except (SourceError, StopIteration) as e:
    return {'name': name, 'error': str(e) or 'no frame could be decoded.'}
  except cv2.error as e:
    return {'name': name, 'error': 'OpenCV error: %s' % str(e).strip()}
  labels = None
  if annotation is not None:
    labels = frame_labels_for(annotation, indices, fps,
                              options.get('annotation_unit', 'seconds'),
                              num_source, name)
  return {'name': name, 'jpegs': jpegs, 'frame_labels': labels,
          'shape': tuple(shape), 'fps': options.get('target_fps') or fps,
          'error': None}


# ----------------------------------------------------------------------------
# Driver.
# ----------------------------------------------------------------------------


def assign_splits(names, split=None, val_fraction=0.0, seed=0,
                  train_split='train', val_split='val'):
  """Maps each name to a split.

  Either all names go to `split`, or a deterministic (seeded, independent of
  listing order) `val_fraction` of them goes to `val_split` and the rest to
  `train_split`.

  Returns:
    dict split -> sorted list of names.
  """
  names = sorted(names)
  if split:
    return {split: names}
  if not 0.0 <= val_fraction < 1.0:
    raise ValueError('val_fraction must be in [0, 1), got %r.' % val_fraction)
  order = np.random.default_rng(seed).permutation(len(names))
  num_val = int(round(val_fraction * len(names)))
  if val_fraction > 0 and len(names) > 1:
    num_val = min(max(1, num_val), len(names) - 1)
  val = {names[i] for i in order[:num_val]}
  splits = {train_split: [n for n in names if n not in val]}
  if val:
    splits[val_split] = sorted(val)
  return splits


def convert(kind, sources, output_dir, dataset_name, split=None,
            val_fraction=0.0, seed=0, target_fps=None, resize=None,
            shorter_side=None, rotate=False, jpeg_quality=95, num_shards=1,
            num_workers=1, annotation_path=None, annotation_unit='seconds',
            expected_segments=None, action_label=0, fps=None,
            default_fps=None, require_annotations=True):
  """Converts sources to TFRecords; the body of both conversion CLIs.

  Args:
    kind: 'video' (video files) or 'images' (frame folders).
    sources: dict name -> path.
    output_dir: where shards and dataset_info.json go.
    dataset_name: file-name prefix.
    split, val_fraction, seed: see `assign_splits`.
    target_fps: resample to this frame rate (None keeps every frame).
    resize: 'SIZE' or 'WIDTHxHEIGHT' (None keeps the size).
    shorter_side: resize keeping the aspect ratio (ignored with `resize`).
    rotate: turn frames 90 degrees clockwise (before resizing).
    jpeg_quality: 1..100.
    num_shards: shards per split (at most one per written video).
    num_workers: reader processes (1 reads in this process).
    annotation_path: optional JSON/CSV of phases per video (module doc).
    annotation_unit: 'seconds' or 'frames' (key events).
    expected_segments: segments per video of the published JSON format.
    action_label: video-level class written in every record (context
      `label`).
    fps: frame rate of image folders (kind 'images').
    default_fps: frame rate of videos whose file reports none.
    require_annotations: with an annotation file, skip (and report) videos
      without an entry; otherwise they are written without labels.

  Returns:
    dict: 'written' {split: num_videos}, 'frames' {split: num_frames},
    'skipped' list of (name, reason), 'unmatched_annotations' list of keys.

  Raises:
    LabelError: labels that do not fit a video; nothing is written.
    ValueError: bad options, or a split none of whose sources could be read.
  """
  annotations = (load_annotations(annotation_path, expected_segments)
                 if annotation_path else None)
  options = {'target_fps': target_fps, 'resize': resize,
             'shorter_side': shorter_side, 'rotate': rotate,
             'jpeg_quality': jpeg_quality, 'annotation_unit': annotation_unit,
             'fps': fps, 'default_fps': default_fps}
  parse_resize(resize)
  if kind == 'images' and not fps:
    raise ValueError('image folders need --fps (images per second).')
  if not sources:
    raise ValueError('no sources to convert in the input directory.')
  summary = {'written': {}, 'frames': {}, 'skipped': [],
             'unmatched_annotations': []}
  matched = {}
  if annotations is not None:
    matched, summary['unmatched_annotations'] = match_annotations(
        annotations, sources)
    if summary['unmatched_annotations']:
      logging.warning(
          '%d entries of %s match no %s in the input: %s (keys are file '
          'names, with or without extension).',
          len(summary['unmatched_annotations']), annotation_path,
          'video' if kind == 'video' else 'frame folder',
          ', '.join(summary['unmatched_annotations'][:20]))
  no_entry = None
  if annotations is not None and require_annotations:
    no_entry = ('no entry in %s (videos missing from the annotation file are '
                'skipped)' % annotation_path)
  jobs_per_split = {
      split_name: [(kind, sources[name], name, options, matched.get(name),
                    no_entry if name not in matched else None)
                   for name in names]
      for split_name, names in assign_splits(sources, split, val_fraction,
                                             seed).items()}
  os.makedirs(output_dir, exist_ok=True)
  staging = tempfile.mkdtemp(dir=output_dir, prefix='.staging-')
  context = multiprocessing.get_context('spawn')
  pool = context.Pool(num_workers) if num_workers > 1 else None
  try:
    split_infos = [_convert_split(jobs, pool, staging, dataset_name,
                                  split_name, num_shards, action_label,
                                  summary)
                   for split_name, jobs in jobs_per_split.items()]
    for split_name, info in zip(jobs_per_split, split_infos):
      if info is None:
        continue
      tfrecord_io.publish_split(staging, output_dir, dataset_name, split_name)
      tfrecord_io.update_dataset_info(output_dir, dataset_name, split_name,
                                      **info)
  finally:
    if pool is not None:
      pool.terminate()
      pool.join()
    shutil.rmtree(staging, ignore_errors=True)
  logging.info('Done: wrote %s; skipped %d.', ', '.join(
      '%d %s videos (%d frames)' % (n, s, summary['frames'][s])
      for s, n in summary['written'].items()) or 'nothing',
               len(summary['skipped']))
  for name, reason in summary['skipped']:
    logging.warning('Skipped %s: %s', name, reason)
  return summary


def _convert_split(jobs, pool, staging_dir, dataset_name, split, num_shards,
                   action_label, summary):
  """Reads the jobs of one split and writes its shards into `staging_dir`.

  Returns:
    The `update_dataset_info` keyword arguments of the split, or None when it
    has no job.
  """
  if not jobs:
    logging.warning('Split %s: no videos to convert.', split)
    return None
  results = (pool.imap(_process_source, jobs) if pool is not None
             else map(_process_source, jobs))
  start = last_report = time.time()
  written = frames = 0
  max_label = -1
  shapes, rates = set(), set()
  with tfrecord_io.ShardedTFRecordWriter(
      staging_dir, dataset_name, split, min(num_shards, len(jobs))) as writer:
    for done, result in enumerate(results, start=1):
      if result['error']:
        summary['skipped'].append((result['name'], result['error']))
        logging.warning('Skipping %s: %s', result['name'], result['error'])
      else:
        labels = result['frame_labels']
        writer.write(tfrecord_io.make_sequence_example(
            result['name'], result['jpegs'], labels,
            label=action_label).SerializeToString())
        written += 1
        frames += len(result['jpegs'])
        shapes.add(result['shape'])
        rates.add(round(result['fps'], 3))
        if labels is not None and len(labels):
          max_label = max(max_label, int(labels.max()))
      now = time.time()
      if now - last_report > 10 or done == len(jobs):
        last_report = now
        elapsed = max(now - start, 1e-6)
        logging.info('%s: %d/%d sources (%d written, %d skipped), %.1f '
                     'videos/s, %.0f frames/s.', split, done, len(jobs),
                     written, done - written, done / elapsed,
                     frames / elapsed)
    if written == 0:
      raise ValueError('split %s: none of the %d sources could be converted '
                       '(%s).' % (split, len(jobs), '; '.join(
                           '%s: %s' % s for s in summary['skipped'])))
  summary['written'][split] = written
  summary['frames'][split] = frames
  return {'num_videos': written, 'num_frames': frames,
          'num_classes': max_label + 1,
          'fps': rates.pop() if len(rates) == 1 else None,
          'image_size': list(shapes.pop()) if len(shapes) == 1 else None}


# ----------------------------------------------------------------------------
# Flags shared by the CLIs.
# ----------------------------------------------------------------------------


def define_common_flags():
  """Flags of both conversion CLIs (call once, before app.run).

  The names of the published converters are kept where they mean the same:
  --rotate, --file_pattern, --action_label, --expected_segments, and
  --label_file / --name as aliases of --annotations / --dataset_name.
  """
  flags.DEFINE_string('input_dir', None, 'Folder of sources.')
  flags.DEFINE_string('output_dir', None, 'Where the TFRecords go.')
  flags.DEFINE_string('dataset_name', None, 'Dataset name (file prefix).')
  flags.DEFINE_string('file_pattern', None, 'Glob of the sources to convert '
                      'inside --input_dir (e.g. "*.mp4", "pour_*"); default: '
                      'every source.')
  flags.DEFINE_string('split', None, 'Write every source to this split.')
  flags.DEFINE_float('val_fraction', 0.0, 'Without --split: fraction of the '
                     'sources (seeded) written to val, the rest to train.')
  flags.DEFINE_integer('seed', 0, 'Seed of the train/val assignment.')
  flags.DEFINE_float('target_fps', None, 'Resample to this frame rate.')
  flags.DEFINE_string('resize', None, 'SIZE (square) or WIDTHxHEIGHT; '
                      'changes the aspect ratio when it differs.')
  flags.DEFINE_integer('shorter_side', None, 'Resize so that the shorter side '
                       'has this length, keeping the aspect ratio.')
  flags.DEFINE_bool('rotate', False, 'Rotate frames 90 degrees clockwise '
                    '(before resizing).')
  flags.DEFINE_integer('jpeg_quality', 95, 'JPEG quality 1..100.')
  flags.DEFINE_integer('num_shards', 1, 'Shards per split (fewer when fewer '
                       'videos are written).')
  flags.DEFINE_integer('num_workers', 1, 'Reader processes.')
  flags.DEFINE_string('annotations', None, ANNOTATIONS_HELP)
  flags.DEFINE_enum('annotation_unit', 'seconds', ['seconds', 'frames'],
                    'Unit of the key events of --annotations.')
  flags.DEFINE_integer('expected_segments', None, 'Published JSON format: '
                       'segments per video (keys "0".."N-1"); default: as '
                       'many as the annotators give.')
  flags.DEFINE_integer('action_label', 0, 'Video-level class written in every '
                       'record (context "label").')
  flags.DEFINE_alias('label_file', 'annotations')
  flags.DEFINE_alias('name', 'dataset_name')
  flags.mark_flags_as_required(['input_dir', 'output_dir', 'dataset_name'])


def common_kwargs(flag_values):
  """`convert` keyword arguments from the parsed common flags."""
  return {'output_dir': flag_values.output_dir,
          'dataset_name': flag_values.dataset_name,
          'split': flag_values.split,
          'val_fraction': flag_values.val_fraction,
          'seed': flag_values.seed,
          'target_fps': flag_values.target_fps,
          'resize': flag_values.resize,
          'shorter_side': flag_values.shorter_side,
          'rotate': flag_values.rotate,
          'jpeg_quality': flag_values.jpeg_quality,
          'num_shards': flag_values.num_shards,
          'num_workers': flag_values.num_workers,
          'annotation_path': flag_values.annotations,
          'annotation_unit': flag_values.annotation_unit,
          'expected_segments': flag_values.expected_segments,
          'action_label': flag_values.action_label}


def select_sources(names, file_pattern):
  """The names matching the glob `file_pattern` (all when it is empty)."""
  if not file_pattern:
    return list(names)
  return [n for n in names if fnmatch.fnmatch(n, file_pattern)]
