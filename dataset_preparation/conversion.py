"""Shared core of `videos_to_tfrecords` and `images_to_tfrecords`.

A *source* is one video: a video file or a folder of frame images. Sources
are read in worker processes (frames resampled to a target fps, resized,
JPEG-encoded), given per-frame labels from an annotation file, and written by
the main process with `tfrecord_io` (sharded, atomic) plus
`dataset_info.json`.

Annotation files give, per video, the key events of the activity:
  JSON: {"<video>": [e1, e2, ...]} or {"<video>": {"events": [...]}} or
        {"<video>": {"frame_labels": [l0, l1, ...]}} (one per source frame).
  CSV:  one row per video, `<video>,e1,e2,...` (a first row starting with
        `name` or `video` is a header).
`<video>` is the file name with or without extension (folder name for image
folders). Events are in seconds or source-frame indices (`annotation_unit`);
frame t gets label = number of key events at or before t.
"""

import csv
import json
import multiprocessing
import os
import re
import time

from absl import flags
from absl import logging
import cv2
import numpy as np

from dataset_preparation import tfrecord_io

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


class SourceError(Exception):
  """A source that cannot be read; it is skipped and reported."""


class LabelError(ValueError):
  """Annotations that do not fit a video; the conversion stops."""


# ----------------------------------------------------------------------------
# Annotations and labels.
# ----------------------------------------------------------------------------


def load_annotations(path):
  """Reads an annotation file (JSON or CSV, see module docstring).

  Returns:
    dict video name -> {'events': list of float} or
    {'frame_labels': list of int}.
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
      raise ValueError('%s: expected a JSON object {video: events}.' % path)
    annotations = {}
    for name, value in raw.items():
      if isinstance(value, list):
        value = {'events': value}
      if not isinstance(value, dict) or not (
          'events' in value or 'frame_labels' in value):
        raise ValueError('%s: entry %r must be a list of events or an object '
                         'with "events" or "frame_labels".' % (path, name))
      annotations[name] = value
    return annotations
  annotations = {}
  with open(path, newline='') as f:
    for line_number, row in enumerate(csv.reader(f), start=1):
      row = [cell.strip() for cell in row if cell.strip()]
      if not row or (line_number == 1 and row[0].lower() in ('name', 'video')):
        continue
      try:
        annotations[row[0]] = {'events': [float(c) for c in row[1:]]}
      except ValueError:
        raise ValueError('%s line %d: events of %r must be numbers, got %s.'
                         % (path, line_number, row[0], row[1:])) from None
  return annotations


def find_annotation(annotations, name):
  """The annotation of a source named `name` (with or without extension)."""
  for key in (name, os.path.splitext(name)[0]):
    if key in annotations:
      return annotations[key]
  return None


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
  """Resample, resize, encode an iterable of RGB frames.

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
    frame = resize_frame(frame, size, options.get('shorter_side'))
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


def read_image_folder(folder, options):
  """Reads one folder of frame images; `options['fps']` is its frame rate.

  Returns:
    (jpegs, source_indices, num_source_frames, source_fps, (H, W)).
  """
  names = list_images(folder)
  if not names:
    raise SourceError('no images (%s) in the folder.' % ', '.join(
        IMAGE_EXTENSIONS))

  def frames():
    for name in names:
      image = cv2.imread(os.path.join(folder, name), cv2.IMREAD_COLOR)
      if image is None:
        raise SourceError('image %s cannot be decoded.' % name)
      yield image[..., ::-1]
  source_fps = float(options['fps'])
  jpegs, indices, num_source, shape = _encode_stream(frames(), source_fps,
                                                     options, folder)
  return jpegs, indices, num_source, source_fps, shape


_READERS = {'video': read_video, 'images': read_image_folder}


def _process_source(job):
  """Worker: one source -> dict with frames and labels, or the skip reason."""
  kind, path, name, options, annotation = job
  cv2.setNumThreads(1)
  try:
    jpegs, indices, num_source, fps, shape = _READERS[kind](path, options)
  except SourceError as e:
    return {'name': name, 'error': str(e)}
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
            shorter_side=None, jpeg_quality=95, num_shards=1, num_workers=1,
            annotation_path=None, annotation_unit='seconds', fps=None,
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
    jpeg_quality: 1..100.
    num_shards: shards per split (at most one per video).
    num_workers: reader processes (1 reads in this process).
    annotation_path: optional JSON/CSV with key events per video.
    annotation_unit: 'seconds' or 'frames'.
    fps: frame rate of image folders (kind 'images').
    default_fps: frame rate of videos whose file reports none.
    require_annotations: with an annotation file, skip (and report) videos
      without an entry; otherwise they would be written without labels.

  Returns:
    dict: 'written' {split: num_videos}, 'frames' {split: num_frames},
    'skipped' list of (name, reason).

  Raises:
    LabelError: labels that do not fit a video (nothing is written for
      that split).
  """
  annotations = load_annotations(annotation_path) if annotation_path else None
  options = {'target_fps': target_fps, 'resize': resize,
             'shorter_side': shorter_side, 'jpeg_quality': jpeg_quality,
             'annotation_unit': annotation_unit, 'fps': fps,
             'default_fps': default_fps}
  parse_resize(resize)
  if kind == 'images' and not fps:
    raise ValueError('image folders need --fps (images per second).')
  summary = {'written': {}, 'frames': {}, 'skipped': []}
  if not sources:
    raise ValueError('no sources to convert in the input directory.')
  splits = assign_splits(sources, split, val_fraction, seed)
  context = multiprocessing.get_context('spawn')
  pool = context.Pool(num_workers) if num_workers > 1 else None
  try:
    for split_name, names in splits.items():
      jobs = []
      for name in names:
        annotation = None
        if annotations is not None:
          annotation = find_annotation(annotations, name)
          if annotation is None and require_annotations:
            summary['skipped'].append((name, 'no entry in %s' %
                                       annotation_path))
            continue
        jobs.append((kind, sources[name], name, options, annotation))
      _convert_split(jobs, pool, output_dir, dataset_name, split_name,
                     num_shards, options, summary)
  finally:
    if pool is not None:
      pool.terminate()
      pool.join()
  logging.info('Done: wrote %s; skipped %d.', ', '.join(
      '%d %s videos (%d frames)' % (n, s, summary['frames'][s])
      for s, n in summary['written'].items()) or 'nothing',
               len(summary['skipped']))
  for name, reason in summary['skipped']:
    logging.warning('Skipped %s: %s', name, reason)
  return summary


def _convert_split(jobs, pool, output_dir, dataset_name, split, num_shards,
                   options, summary):
  """Reads the jobs of one split and writes its shards."""
  results = (pool.imap(_process_source, jobs) if pool is not None
             else map(_process_source, jobs))
  start = last_report = time.time()
  written = frames = 0
  max_label = -1
  shapes, rates = set(), set()
  if not jobs:
    logging.warning('Split %s: no videos to convert.', split)
    return
  with tfrecord_io.ShardedTFRecordWriter(
      output_dir, dataset_name, split, max(1, min(num_shards,
                                                  len(jobs)))) as writer:
    for done, result in enumerate(results, start=1):
      if result['error']:
        summary['skipped'].append((result['name'], result['error']))
        logging.warning('Skipping %s: %s', result['name'], result['error'])
      else:
        labels = result['frame_labels']
        writer.write(tfrecord_io.make_sequence_example(
            result['name'], result['jpegs'], labels).SerializeToString())
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
      raise ValueError('split %s: none of the %d sources could be read (%s).'
                       % (split, len(jobs), '; '.join(
                           '%s: %s' % s for s in summary['skipped'])))
  summary['written'][split] = written
  summary['frames'][split] = frames
  image_size = list(shapes.pop()) if len(shapes) == 1 else None
  fps = rates.pop() if len(rates) == 1 else None
  tfrecord_io.update_dataset_info(output_dir, dataset_name, split, written,
                                  frames, max_label + 1, fps, image_size)


# ----------------------------------------------------------------------------
# Flags shared by the CLIs.
# ----------------------------------------------------------------------------


def define_common_flags():
  """Flags of both conversion CLIs (call once, before app.run)."""
  flags.DEFINE_string('input_dir', None, 'Folder of sources.')
  flags.DEFINE_string('output_dir', None, 'Where the TFRecords go.')
  flags.DEFINE_string('dataset_name', None, 'Dataset name (file prefix).')
  flags.DEFINE_string('split', None, 'Write every source to this split.')
  flags.DEFINE_float('val_fraction', 0.0, 'Without --split: fraction of the '
                     'sources (seeded) written to val, the rest to train.')
  flags.DEFINE_integer('seed', 0, 'Seed of the train/val assignment.')
  flags.DEFINE_float('target_fps', None, 'Resample to this frame rate.')
  flags.DEFINE_string('resize', None, 'SIZE (square) or WIDTHxHEIGHT.')
  flags.DEFINE_integer('shorter_side', None, 'Resize keeping aspect ratio.')
  flags.DEFINE_integer('jpeg_quality', 95, 'JPEG quality 1..100.')
  flags.DEFINE_integer('num_shards', 1, 'Shards per split.')
  flags.DEFINE_integer('num_workers', 1, 'Reader processes.')
  flags.DEFINE_string('annotations', None, 'JSON or CSV of key events.')
  flags.DEFINE_enum('annotation_unit', 'seconds', ['seconds', 'frames'],
                    'Unit of the key events.')
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
          'jpeg_quality': flag_values.jpeg_quality,
          'num_shards': flag_values.num_shards,
          'num_workers': flag_values.num_workers,
          'annotation_path': flag_values.annotations,
          'annotation_unit': flag_values.annotation_unit}
