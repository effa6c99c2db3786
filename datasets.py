"""TFRecord decoding, frame sampling, augmentation and tf.data pipelines.

Records follow the published TCC format (docs/tcc.md). Training batches
decode only the JPEGs of the sampled frames: the serialized JPEG list is
parsed, indices are sampled, the strings are gathered and only those are
decoded (each distinct frame once).

Labels: a record without per-frame labels (no `frame_labels` feature list,
or DATA.FRAME_LABELS false) is unlabelled, never "all class 0": its
`frame_labels` are NO_LABEL (-1) and its `has_labels` flag is False. Every
pipeline carries that flag per video.

Public API:
  create_dataset(split, mode='train')        endless shuffled batches
  create_one_epoch_dataset(dataset, split)   every video once, JPEGs undecoded
  decode_eval_frames(jpegs, image_size)      evaluation frames of some JPEGs
  load_videos(tfrecord_paths)                NumPy videos (inspection, tools)
  video_frame_sequences(paths, names, stride)  lazily decoded frames
  get_dataset_info(dataset)                  dataset_info.json as a dict
  ensure_dataset(dataset)                    generate synthetic data if needed
  split_tfrecord_paths(dataset, split)       the shard files of one split
"""

import dataclasses
import glob
import os
import struct
from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf

import config
from config import CONFIG
from dataset_preparation import tfrecord_io
from utils import console

SAMPLING_STRATEGIES = ('offset_uniform', 'stride', 'all')
# Per-frame label of a frame whose video has no labels.
NO_LABEL = -1
VIEW_SAMPLINGS = ('first', 'per_take', 'per_step')


@dataclasses.dataclass(frozen=True)
class BatchSpec:
  """What each video of a training batch holds.

  An algorithm declares it (`algos.base.Algorithm.batch_spec`) and
  `create_dataset` builds it, so a new method touches only its own module and
  the registry.

  Attributes:
    positives: None, or a function (anchors int32 [S], seq_len int32 []) ->
      positives int32 [S] (called inside tf.data). With it, every sampled
      anchor step is followed by its positive: `steps` interleaves
      anchor_0, positive_0, anchor_1, ... (2 * NUM_FRAMES steps per video).
    needs_frame_labels: the loss reads `frame_labels`; `create_dataset`
      then refuses a split holding unlabelled videos, naming them.
    views: number of camera views per take (>= 1). With V > 1 the same
      time steps are sampled in V views of the take: `steps` holds the S
      steps once per view slot (slot-major, S * V entries) and `frames`
      the context frames of slot 0, then slot 1, ... Needs multi-view
      records (`view0`, `view1`, ...).
    view_sampling: which record views fill the slots: 'first' (views 0..V-1
      in order; with V = 1 the `video` list, as single-view data),
      'per_take' (V distinct random views, drawn once per sample) or
      'per_step' (V distinct random views drawn for every step, as the
      published multi-view TCN draws anchor and positive views per pair).
    sampler: None (DATA.SAMPLING_STRATEGY), or a function (seq_len int32 [],
      num_steps int, name string []) -> sorted steps int32 [num_steps]
      (called inside tf.data).
    num_crops, crop_steps: with `crop_steps`, each video gives `num_crops`
      temporal crops, each augmented with its own parameters (SCL of CARL):
      a function (seq_len int32 [], num_frames int) -> steps int32
      [num_crops, num_frames] (called inside tf.data), each row the sorted
      frames of one crop; `steps` holds crop 0's steps, then crop 1's, ...
    clip: None, or a function () -> frame offsets (increasing ints from 0),
      called when the pipeline is built: each video then gives the frames
      start + offsets from a random start (a clip), without context frames,
      instead of NUM_FRAMES frames sampled by DATA.SAMPLING_STRATEGY.
  """
  positives: Optional[Callable[[tf.Tensor, tf.Tensor], tf.Tensor]] = None
  needs_frame_labels: bool = False
  views: int = 1
  view_sampling: str = 'first'
  sampler: Optional[Callable[[tf.Tensor, int, tf.Tensor], tf.Tensor]] = None
  num_crops: int = 1
  crop_steps: Optional[Callable[[tf.Tensor, int], tf.Tensor]] = None
  clip: Optional[Callable[[], Sequence[int]]] = None

  def __post_init__(self):
    if self.views < 1:
      raise ValueError('BatchSpec.views must be >= 1, got %d.' % self.views)
    if self.view_sampling not in VIEW_SAMPLINGS:
      raise ValueError('BatchSpec.view_sampling %r is unknown; use one of %s.'
                       % (self.view_sampling, ', '.join(VIEW_SAMPLINGS)))

  def steps_per_video(self, num_frames):
    """Sampled steps per video (all view slots) for `num_frames` anchors."""
    if self.clip is not None:
      return len(self.clip())
    if self.crop_steps is not None:
      return num_frames * self.num_crops
    return num_frames * (2 if self.positives is not None else 1) * self.views

  def sequences_per_video(self):
    """Sequences (temporal crops or camera views) each video's steps hold."""
    return self.num_crops * self.views

  def uses_view_lists(self):
    """Whether samples read the `viewN` lists rather than `video`."""
    return self.views > 1 or self.view_sampling != 'first'


class DatasetError(ValueError):
  """A dataset that is missing, empty or corrupt."""


# ----------------------------------------------------------------------------
# Locating and creating datasets.
# ----------------------------------------------------------------------------


def _split_glob(directory, dataset, split):
  """'<dir>/<dataset>_<split>*', or '<dir>/*<split>*' with DATA.PER_CLASS."""
  if CONFIG.DATA.PER_CLASS:
    return os.path.join(directory, '*%s*' % split)
  return os.path.join(directory, '%s_%s*' % (dataset, split))


def split_tfrecord_paths(dataset, split):
  """Sorted shard paths of one split: `<dir>/<dataset>_<split>*`.

  Raises:
    DatasetError: when the split has no files.
  """
  directory = config.tfrecords_dir(dataset)
  paths = sorted(p for p in glob.glob(_split_glob(directory, dataset, split))
                 if not p.endswith('.json'))
  if not paths:
    raise DatasetError(
        'No TFRecords for split %r of dataset %r: nothing matches %s. Convert '
        'the videos with `python -m dataset_preparation.videos_to_tfrecords '
        '--input_dir VIDEOS --output_dir %s --dataset_name %s --split %s` or '
        'set PATH_TO_TFRECORDS.' % (split, dataset, _split_glob(
            directory, dataset, split), directory, dataset, split))
  return paths


def _synthetic_params():
  syn = CONFIG.SYNTHETIC
  params = {'num_train': syn.NUM_TRAIN_VIDEOS, 'num_val': syn.NUM_VAL_VIDEOS,
           'image_size': CONFIG.IMAGE_SIZE, 'min_frames': syn.MIN_FRAMES,
           'max_frames': syn.MAX_FRAMES, 'num_views': syn.NUM_VIEWS,
           'seed': syn.SEED, 'variation': float(syn.VARIATION),
           'mirror': syn.MIRROR}
  if syn.TIME_SYMMETRIC:
    params['time_symmetric'] = True
  return params


def _synthetic_matches(stored, params):
  from dataset_preparation import synthetic  # pylint: disable=g-import-not-at-top
  return stored == dict(params, version=synthetic.RENDER_VERSION)


def ensure_dataset(dataset):
  """Makes sure the TFRecords of `dataset` exist; returns their directory.

  A dataset whose name starts with 'synthetic' is generated into
  `config.tfrecords_dir(dataset)` from CONFIG.SYNTHETIC.* and
  CONFIG.IMAGE_SIZE when its train or val split is missing, or when it was
  generated with other parameters.

  Raises:
    DatasetError: a non-synthetic dataset without any TFRecords.
  """
  directory = config.tfrecords_dir(dataset)
  if dataset.startswith('synthetic_objects'):
    from dataset_preparation import synthetic_objects  # pylint: disable=g-import-not-at-top
    return synthetic_objects.ensure_from_config(directory, dataset)
  has_split = lambda s: bool(glob.glob(_split_glob(directory, dataset, s)))
  if dataset.startswith('synthetic'):
    params = _synthetic_params()
    stored = tfrecord_io.read_dataset_info(directory).get('generator')
    if has_split('train') and has_split('val') and _synthetic_matches(stored, params):
      return directory
    console.info('Generating the synthetic dataset %r in %s (%s).', dataset,
                 directory, ', '.join('%s=%s' % kv for kv in params.items()))
    from dataset_preparation import synthetic  # pylint: disable=g-import-not-at-top
    synthetic.generate_dataset(directory, dataset_name=dataset, **params)
    return directory
  if not glob.glob(_split_glob(directory, dataset, '')):
    raise DatasetError(
        'Dataset %r not found: no %s_*.tfrecord files in %s. Create them with '
        '`python -m dataset_preparation.videos_to_tfrecords --input_dir '
        'VIDEOS --output_dir %s --dataset_name %s` (or images_to_tfrecords), '
        'or point PATH_TO_TFRECORDS at them.' % (dataset, dataset, directory,
                                                 directory, dataset))
  return directory


def get_dataset_info(dataset):
  """`dataset_info.json` of `dataset` as a dict.

  Keys: 'num_classes' (phase classes), 'fps', 'image_size' ([H, W] or None),
  'num_views', 'splits': {split: {'num_videos', 'num_frames'}}. Without a
  dataset_info.json (e.g. published TCC TFRecords) the counts are computed
  from the records and 'fps' and 'image_size' are None.
  """
  directory = ensure_dataset(dataset)
  info = tfrecord_io.read_dataset_info(directory)
  if info:
    return info
  splits = {}
  num_classes = 0
  for path in sorted(glob.glob(os.path.join(directory, '%s_*' % dataset))):
    split = os.path.basename(path)[len(dataset) + 1:].split('-')[0].split(
        '.')[0]
    entry = splits.setdefault(split, {'num_videos': 0, 'num_frames': 0})
    for video in _iterate_examples(path):
      entry['num_videos'] += 1
      entry['num_frames'] += len(video['jpegs'])
      if video['frame_labels'] is not None and len(video['frame_labels']):
        num_classes = max(num_classes, int(max(video['frame_labels'])) + 1)
  return {'dataset': dataset, 'num_classes': num_classes, 'fps': None,
          'image_size': None, 'num_views': 1, 'splits': splits}


# Paths already read through once, keyed by (path, size, mtime) -> records.
_CHECKED_FILES = {}


def _check_framing(path):
  """Walks the record headers; TensorFlow silently stops at a cut header.

  TFRecord framing per record: uint64 length, uint32 CRC, data, uint32 CRC.
  """
  with open(path, 'rb') as f:
    size = os.fstat(f.fileno()).st_size
    position = 0
    while position < size:
      f.seek(position)
      header = f.read(8)
      end = (position + 16 + struct.unpack('<Q', header)[0]
             if len(header) == 8 else size + 1)
      if end > size:
        raise DatasetError(
            '%s: truncated TFRecord file (record at byte %d ends past the end '
            'of the file, %d bytes); delete it and convert the dataset again.'
            % (path, position, size))
      position = end


def _count_records(path):
  """Counts the records of `path` and finds the first with bad labels.

  Only the string lists are parsed, no JPEG is decoded.

  Returns:
    (num_records, mismatch): `mismatch` is None, or (record index, video
    name, number of frame labels, number of frames) of the first record
    whose non-empty `frame_labels` list does not have one label per frame.
  """
  def summarize(serialized):
    context, sequence = tf.io.parse_single_sequence_example(
        serialized, context_features={'name': tf.io.FixedLenFeature(
            [], tf.string, default_value='')},
        sequence_features={
            'video': tf.io.FixedLenSequenceFeature([], tf.string,
                                                   allow_missing=True),
            'view0': tf.io.FixedLenSequenceFeature([], tf.string,
                                                   allow_missing=True),
            'frame_labels': tf.io.FixedLenSequenceFeature(
                [], tf.int64, allow_missing=True)})
    # Published multi-view records have no `video` list: view 0 is the video.
    num_frames = tf.maximum(tf.size(sequence['video']),
                            tf.size(sequence['view0']))
    return context['name'], tf.size(sequence['frame_labels']), num_frames

  def step(state, record):
    count, bad_index, bad_name, bad_labels, bad_frames = state
    name, num_labels, num_frames = record
    first_bad = tf.logical_and(
        bad_index < 0, tf.logical_and(num_labels > 0,
                                      num_labels != num_frames))
    pick = lambda new, old: tf.where(first_bad, new, old)
    return (count + 1, pick(count, bad_index), pick(name, bad_name),
            pick(num_labels, bad_labels), pick(num_frames, bad_frames))

  initial = (tf.constant(0, tf.int64), tf.constant(-1, tf.int64),
             tf.constant(''), tf.constant(0), tf.constant(0))
  count, bad_index, bad_name, bad_labels, bad_frames = (
      tf.data.TFRecordDataset(path).map(summarize).reduce(initial, step))
  mismatch = None
  if int(bad_index) >= 0:
    mismatch = (int(bad_index), bad_name.numpy().decode('utf-8', 'replace'),
                int(bad_labels), int(bad_frames))
  return int(count), mismatch


def _check_files(paths):
  """Reads every record once so that corruption is reported with its file.

  TensorFlow's own error for a bad record does not name the file, and a
  record whose frame labels do not match its frames would otherwise be
  silently read as unlabelled.

  Returns:
    Number of records in all `paths`.

  Raises:
    DatasetError: naming the corrupt or truncated file, or (with
      DATA.FRAME_LABELS) the file and video whose labels do not match its
      frames.
  """
  total = 0
  for path in paths:
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime)
    if key not in _CHECKED_FILES:
      _check_framing(path)
      try:
        _CHECKED_FILES[key] = _count_records(path)
      except (tf.errors.DataLossError, tf.errors.OutOfRangeError) as e:
        raise DatasetError('%s: corrupt or truncated TFRecord file (%s). '
                           'Delete it and convert the dataset again.' % (
                               path, e.message.split('[Op:')[0].split(
                                   '}}')[-1].strip())) from None
    count, mismatch = _CHECKED_FILES[key]
    if mismatch is not None and CONFIG.DATA.FRAME_LABELS:
      index, name, num_labels, num_frames = mismatch
      raise DatasetError(
          '%s: record %d (video %r) has %d frame labels for %d frames; fix '
          'its labels and convert it again, or set DATA.FRAME_LABELS=false '
          'to train without labels.' % (path, index, name, num_labels,
                                        num_frames))
    total += count
  return total


def unlabelled_videos(paths):
  """Videos of `paths` that have no per-frame labels (only strings parsed).

  Returns:
    list of (path, video name) in file order; every video when
    DATA.FRAME_LABELS is false (labels are then never read).
  """
  def summarize(serialized):
    context, sequence = tf.io.parse_single_sequence_example(
        serialized, context_features={'name': tf.io.FixedLenFeature(
            [], tf.string, default_value='')},
        sequence_features={'frame_labels': tf.io.FixedLenSequenceFeature(
            [], tf.int64, allow_missing=True)})
    return context['name'], tf.size(sequence['frame_labels'])

  found = []
  for path in paths:
    for name, num_labels in tf.data.TFRecordDataset(path).map(
        summarize).as_numpy_iterator():
      if num_labels == 0 or not CONFIG.DATA.FRAME_LABELS:
        found.append((path, name.decode('utf-8', 'replace')))
  return found


def refuse_unlabelled(dataset, split):
  """Raises DatasetError naming the unlabelled videos of a split, if any.

  For methods whose loss reads per-frame labels (`BatchSpec.
  needs_frame_labels`).
  """
  found = unlabelled_videos(split_tfrecord_paths(dataset, split))
  if not found:
    return
  shown = ', '.join('%s (%s)' % (name, os.path.basename(path))
                    for path, name in found[:10])
  more = ' and %d more' % (len(found) - 10) if len(found) > 10 else ''
  reason = ('DATA.FRAME_LABELS is false' if not CONFIG.DATA.FRAME_LABELS
            else 'they have no frame_labels')
  raise DatasetError(
      '%s needs per-frame labels, but %d video(s) of split %r of dataset %r '
      'are unlabelled (%s): %s%s. Convert them with --annotations, leave them '
      'out, or train a self-supervised method.' % (
          CONFIG.TRAINING_ALGO, len(found), split, dataset, reason, shown,
          more))


# ----------------------------------------------------------------------------
# Parsing and decoding.
# ----------------------------------------------------------------------------


def _parse(serialized, with_labels, num_views=0):
  """One serialized SequenceExample -> dict of tensors.

  Reads the TCC layout (`video`, context `name`) and the published TCN
  layout (`view0`, `view1`, ..., context `task`); a record without `video`
  uses `view0` as its video.

  Args:
    serialized: string [].
    with_labels: parse `frame_labels`.
    num_views: 0 (single-view use), or the number of views V of the records
      (see `record_num_views`); then `view_jpegs` holds every view, cut to
      their common length (1: the `video` list is the only view).

  Returns:
    `jpegs` string [L], `frame_labels` int32 [L] (NO_LABEL everywhere when
    the record has no labels or `with_labels` is False), `has_labels` bool
    [], `name` string [], `video_label` int32 [], `seq_len` int32 [];
    with num_views, `view_jpegs` string [V, L] and `seq_len` the common
    length of the views.
  """
  context_features = {
      'name': tf.io.FixedLenFeature([], tf.string, default_value=''),
      'task': tf.io.FixedLenFeature([], tf.string, default_value=''),
      'label': tf.io.FixedLenFeature([], tf.int64, default_value=0),
  }
  view_keys = ['view%d' % i for i in range(max(1, num_views))]
  sequence_features = {
      key: tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True)
      for key in ['video'] + view_keys}
  if with_labels:
    sequence_features['frame_labels'] = tf.io.FixedLenSequenceFeature(
        [], tf.int64, allow_missing=True)
  context, sequence = tf.io.parse_single_sequence_example(
      serialized, context_features=context_features,
      sequence_features=sequence_features)
  jpegs = tf.cond(tf.size(sequence['video']) > 0,
                  lambda: sequence['video'], lambda: sequence['view0'])
  seq_len = tf.shape(jpegs)[0]
  no_labels = tf.fill([seq_len], NO_LABEL)
  if with_labels:
    labels = tf.cast(sequence['frame_labels'], tf.int32)
    has_labels = tf.logical_and(tf.equal(tf.size(labels), seq_len),
                                seq_len > 0)
    labels = tf.cond(has_labels, lambda: labels, lambda: no_labels)
  else:
    labels, has_labels = no_labels, tf.constant(False)
  name = tf.where(tf.strings.length(context['name']) > 0, context['name'],
                  context['task'])
  parsed = {'jpegs': jpegs, 'frame_labels': labels, 'has_labels': has_labels,
            'name': name, 'video_label': tf.cast(context['label'], tf.int32),
            'seq_len': seq_len}
  if num_views == 1:
    parsed['view_jpegs'] = jpegs[None]
  elif num_views > 1:
    views = [sequence[key] for key in view_keys]
    common = tf.reduce_min(tf.stack([tf.shape(v)[0] for v in views]))
    parsed['view_jpegs'] = tf.stack([v[:common] for v in views])
    parsed['seq_len'] = common
  return parsed


def _decode(jpegs, crop_window=None):
  """JPEG strings [N] -> uint8 [N, h, w, 3] (all frames of one video).

  `crop_window` = [y, x, height, width] decodes only that window.
  """
  if crop_window is None:
    fn = lambda s: tf.io.decode_jpeg(s, channels=3)
  else:
    fn = lambda s: tf.io.decode_and_crop_jpeg(s, crop_window, channels=3)
  return tf.map_fn(fn, jpegs, fn_output_signature=tf.TensorSpec(
      [None, None, 3], tf.uint8))


def _to_model_range(frames_uint8, image_size):
  """uint8 frames -> [image_size, image_size] float32 in [-1, 1] (bilinear)."""
  frames = tf.image.resize(frames_uint8, [image_size, image_size],
                           method='bilinear') / 255.0
  return tf.clip_by_value(frames, 0.0, 1.0) * 2.0 - 1.0


def central_square_window(height, width):
  """[y, x, side, side]: the largest square at the centre of a frame."""
  side = tf.minimum(height, width)
  return tf.stack([(height - side) // 2, (width - side) // 2, side, side])


def random_square_window(height, width, min_scale):
  """[y, x, side, side]: a square of side `min(h, w) * U(min_scale, 1)` at a
  uniformly random position (the published random crop)."""
  scale = tf.random.uniform([], min_scale, 1.0)
  side = tf.maximum(1, tf.cast(
      tf.cast(tf.minimum(height, width), tf.float32) * scale, tf.int32))
  y = tf.random.uniform([], 0, height - side + 1, dtype=tf.int32)
  x = tf.random.uniform([], 0, width - side + 1, dtype=tf.int32)
  return tf.stack([y, x, side, side])


def _jpeg_height_width(jpeg):
  shape = tf.io.extract_jpeg_shape(jpeg)
  return shape[0], shape[1]


def decode_eval_frames(jpegs, image_size, central_crop):
  """Evaluation frames (no augmentation) of some JPEGs of ONE video.

  As published: when training crops at random (AUGMENTATION.RANDOM_CROP),
  evaluation takes the largest central square of every frame; otherwise
  the whole frame. Then the frame is resized to [image_size, image_size].

  Args:
    jpegs: string [N] (N may be 0).
    image_size: output side.
    central_crop: take the central square first.

  Returns:
    float32 [N, image_size, image_size, 3] in [-1, 1].
  """
  jpegs = tf.convert_to_tensor(jpegs, tf.string)
  if central_crop:
    window = tf.cond(
        tf.size(jpegs) > 0,
        lambda: central_square_window(*_jpeg_height_width(jpegs[0])),
        lambda: tf.constant([0, 0, 1, 1]))
    frames = _decode(jpegs, window)
  else:
    frames = _decode(jpegs)
  return tf.ensure_shape(_to_model_range(frames, image_size),
                         [None, image_size, image_size, 3])


def _augment(jpegs, image_size):
  """Decodes and augments the frames of one video with one set of params.

  The random crop is the published one: a square of side
  `min(h, w) * U(RANDOM_CROP_MIN_SCALE, 1)` at a random position.

  Args:
    jpegs: string [N], frames of ONE video.
    image_size: output side.

  Returns:
    float32 [N, image_size, image_size, 3] in [-1, 1].
  """
  aug = CONFIG.AUGMENTATION
  if aug.RANDOM_CROP:
    frames = _decode(jpegs, random_square_window(
        *_jpeg_height_width(jpegs[0]), aug.RANDOM_CROP_MIN_SCALE))
  else:
    frames = _decode(jpegs)
  frames = tf.image.resize(frames, [image_size, image_size]) / 255.0
  if aug.RANDOM_FLIP:
    flip = tf.random.uniform([]) < 0.5
    frames = tf.cond(flip, lambda: tf.reverse(frames, axis=[2]),
                     lambda: frames)
  if aug.BRIGHTNESS:
    frames += tf.random.uniform([], -aug.BRIGHTNESS_MAX_DELTA,
                                aug.BRIGHTNESS_MAX_DELTA)
  if aug.CONTRAST:
    frames = tf.image.adjust_contrast(frames, tf.random.uniform(
        [], aug.CONTRAST_LOWER, aug.CONTRAST_UPPER))
  if aug.HUE or aug.SATURATION:
    frames = tf.clip_by_value(frames, 0.0, 1.0)
  if aug.HUE:
    frames = tf.image.adjust_hue(frames, tf.random.uniform(
        [], -aug.HUE_MAX_DELTA, aug.HUE_MAX_DELTA))
  if aug.SATURATION:
    frames = tf.image.adjust_saturation(frames, tf.random.uniform(
        [], aug.SATURATION_LOWER, aug.SATURATION_UPPER))
  return tf.clip_by_value(frames, 0.0, 1.0) * 2.0 - 1.0


# ----------------------------------------------------------------------------
# Sampling.
# ----------------------------------------------------------------------------

_warned_short_video = False


def _warn_short(name, seq_len, needed, spread):
  global _warned_short_video
  if not _warned_short_video:
    _warned_short_video = True
    console.warning(
        'Video %s has %d frames, fewer than the %d one sample needs; such '
        'videos are sampled with repeated frames (%s; logged once).',
        name.numpy().decode('utf-8', 'replace'), int(seq_len), int(needed),
        'spread over the video' if spread else 'padded with the last frame')
  return np.int32(0)


def _spread(seq_len, num_steps):
  """[S] sorted indices covering all L frames, repeating some (L < S ok)."""
  return tf.range(num_steps) * seq_len // num_steps


def _frames_needed(strategy, num_steps, stride, random_offset, draw_offset):
  """Fewest frames a video needs to be sampled without repeated frames."""
  if strategy == 'offset_uniform':
    return num_steps + (0 if draw_offset else random_offset)
  if strategy == 'stride':
    return (num_steps - 1) * stride + 1
  if strategy == 'all':
    return 1
  raise config.ConfigError(
      'DATA.SAMPLING_STRATEGY %r is unknown; use one of %s.' % (
          strategy, ', '.join(SAMPLING_STRATEGIES)))


def sample_steps(seq_len, num_steps, strategy, stride=1, random_offset=1,
                 draw_offset=False, spread_short=False, name=''):
  """Sorted frame indices of one video, as the published pipeline samples.

  Args:
    seq_len: int32 scalar tensor L.
    num_steps: S, Python int.
    strategy: 'offset_uniform': S distinct frames drawn uniformly at random
      among frames `random_offset`..L-1 (the offset is fixed; with
      `draw_offset` it is drawn uniformly in [0, random_offset) instead);
      a video with fewer than S + offset frames gets 0..S-1 with every
      index past the end replaced by the last frame.
      'stride': frames `offset + k * stride`, k < S, with `offset` uniform in
      [0, max(1, L - stride * S)); indices past the end are replaced by the
      last frame (short videos are padded with it).
      'all': S frames evenly spaced over the whole video (first and last
      included), no randomness (not in the published code).
    stride: DATA.STRIDE, frames between steps of 'stride'.
    random_offset: DATA.RANDOM_OFFSET.
    draw_offset: DATA.DRAW_RANDOM_OFFSET.
    spread_short: DATA.SPREAD_SHORT_VIDEOS: a video too short for the
      strategy gets S indices spread evenly over all its frames (with
      repetitions) instead of being padded with its last frame.
    name: video name (string tensor) for the warning logged (once) when a
      video is too short.

  Returns:
    int32 [S], every index in 0..L-1.
  """
  needed = _frames_needed(strategy, num_steps, stride, random_offset,
                          draw_offset)

  def sample():
    if strategy == 'offset_uniform':
      offset = random_offset
      if draw_offset:
        max_offset = tf.clip_by_value(seq_len - num_steps + 1, 1,
                                      max(1, random_offset))
        offset = tf.random.uniform([], 0, max_offset, dtype=tf.int32)
      chosen = tf.random.shuffle(tf.range(offset, seq_len))[:num_steps]
      return tf.sort(chosen)
    if strategy == 'stride':
      offset = tf.random.uniform(
          [], 0, tf.maximum(1, seq_len - stride * num_steps), dtype=tf.int32)
      return tf.minimum(seq_len - 1, offset + tf.range(num_steps) * stride)
    return tf.range(num_steps) * (seq_len - 1) // max(1, num_steps - 1)

  def short():
    warned = tf.py_function(_warn_short, [name, seq_len, needed,
                                          spread_short], tf.int32)
    if spread_short:
      return _spread(seq_len, num_steps) + warned
    if strategy == 'stride':
      return sample() + warned
    return tf.minimum(tf.range(num_steps), seq_len - 1) + warned

  return tf.cond(seq_len >= needed, sample, short)


def _sample_or_spread(seq_len, num_steps, needed, sample, name):
  """`sample()` when the video has `needed` frames, else spread indices."""
  def short():
    warned = tf.py_function(_warn_short, [name, seq_len, needed, True],
                            tf.int32)
    return _spread(seq_len, num_steps) + warned

  return tf.cond(seq_len >= needed, sample, short)


def window_steps(seq_len, num_steps, window, name=''):
  """S distinct sorted steps inside a random window of `window` frames.

  The published multi-view TCN draws its pairs without replacement from a
  random window of `window` consecutive frames (the whole video when it is
  not longer than `window`).

  Args:
    seq_len: int32 scalar tensor L.
    num_steps: S, Python int.
    window: window length in frames, Python int.
    name: video name (string tensor) for the short-video warning.

  Returns:
    int32 [S].
  """
  def sample():
    length = tf.minimum(seq_len, window)
    start = tf.random.uniform([], 0, seq_len - length + 1, dtype=tf.int32)
    chosen = tf.random.shuffle(tf.range(start, start + length))[:num_steps]
    return tf.sort(chosen)
  return _sample_or_spread(seq_len, num_steps, num_steps, sample, name)


def contiguous_steps(seq_len, num_steps, name=''):
  """S consecutive steps from a random start (published single-view TCN).

  Args:
    seq_len: int32 scalar tensor L.
    num_steps: S, Python int.
    name: video name (string tensor) for the short-video warning.

  Returns:
    int32 [S].
  """
  def sample():
    start = tf.random.uniform([], 0, seq_len - num_steps + 1, dtype=tf.int32)
    return start + tf.range(num_steps)
  return _sample_or_spread(seq_len, num_steps, num_steps, sample, name)


def view_slots(num_record_views, num_slots, num_steps, view_sampling):
  """Record view of every (view slot, step) of a multi-view sample.

  Args:
    num_record_views: V, views in the record (Python int).
    num_slots: V' <= V view slots per sample (Python int).
    num_steps: S, steps per slot (Python int).
    view_sampling: 'first', 'per_take' or 'per_step' (see `BatchSpec`).

  Returns:
    int32 [V', S]; the views of one step are distinct.
  """
  if view_sampling == 'first':
    views = tf.range(num_slots)[:, None]
  elif view_sampling == 'per_take':
    views = tf.random.shuffle(tf.range(num_record_views))[:num_slots, None]
  else:
    order = tf.argsort(tf.random.uniform([num_steps, num_record_views]),
                       axis=1)
    return tf.cast(tf.transpose(order[:, :num_slots]), tf.int32)
  return tf.tile(views, [1, num_steps])


def tcn_positives(anchors, window):
  """Positive of anchor t: uniform in [t - window, t) clipped at 0; t if t=0.

  Args:
    anchors: int32 [S].
    window: TCN.POSITIVE_WINDOW (frames).

  Returns:
    int32 [S].
  """
  low = tf.maximum(0, anchors - window)
  u = tf.random.uniform(tf.shape(anchors))
  return low + tf.cast(u * tf.cast(anchors - low, tf.float32), tf.int32)


def temporal_crop_steps(seq_len, num_frames, min_fraction):
  """Sorted frames of one random temporal crop (own start and rate).

  The crop covers round(f * L) frames, f uniform in [min_fraction, 1], at a
  uniform random start; `num_frames` distinct frames are drawn uniformly from
  it (evenly spread with repetition when the crop is shorter).

  Args:
    seq_len: int32 scalar tensor L.
    num_frames: S, Python int.
    min_fraction: smallest crop, as a fraction of the video.

  Returns:
    int32 [S], indices into the video.
  """
  fraction = tf.random.uniform([], min_fraction, 1.0)
  crop_len = tf.clip_by_value(tf.cast(tf.round(
      fraction * tf.cast(seq_len, tf.float32)), tf.int32), 1, seq_len)
  start = tf.random.uniform([], 0, seq_len - crop_len + 1, dtype=tf.int32)
  within = tf.cond(
      crop_len >= num_frames,
      lambda: tf.sort(tf.random.shuffle(tf.range(crop_len))[:num_frames]),
      lambda: _spread(crop_len, num_frames))
  return start + within


def _frames_of_indices(jpegs, indices, mode, image_size, central_crop):
  """Frames `indices` [N] of the JPEGs of ONE video, decoded and prepared.

  Each distinct frame is decoded (and, in 'train' mode, augmented with one
  set of parameters for the whole call) once; in 'eval' mode frames are not
  augmented (central square when `central_crop`).

  Returns:
    float32 [N, image_size, image_size, 3] in [-1, 1].
  """
  unique, position = tf.unique(indices)
  jpegs = tf.gather(jpegs, unique)
  if mode == 'train':
    frames = _augment(jpegs, image_size)
  else:
    frames = decode_eval_frames(jpegs, image_size, central_crop)
  return tf.gather(frames, position)


def _sample_record(video, frames, steps, num_context, image_size):
  """One (unbatched) sample of a training batch from its frames and steps."""
  num_steps = steps.shape[0]
  return {
      'frames': tf.ensure_shape(frames, [num_steps * num_context, image_size,
                                         image_size, 3]),
      'steps': tf.ensure_shape(steps, [num_steps]),
      'frame_labels': tf.ensure_shape(
          tf.gather(video['frame_labels'], steps), [num_steps]),
      'has_labels': video['has_labels'],
      'seq_lens': video['seq_len'],
      'video_labels': video['video_label'],
      'names': video['name'],
  }


def clip_steps(seq_len, offsets, name=''):
  """Frame indices start + offsets from a uniform random start.

  Args:
    seq_len: int32 [] frames in the video.
    offsets: increasing ints, the first 0 (e.g. range(0, 8, 2)).
    name: the video's name, for the warning.

  A video shorter than offsets[-1] + 1 frames gets evenly spread indices
  with repetitions (and a warning, once).

  Returns:
    int32 [len(offsets)].
  """
  offsets = [int(o) for o in offsets]
  needed = offsets[-1] + 1

  def sample():
    start = tf.random.uniform([], 0, seq_len - needed + 1, dtype=tf.int32)
    return start + tf.constant(offsets, tf.int32)

  return _sample_or_spread(seq_len, len(offsets), needed, sample, name)


def context_indices(steps, num_context, frame_stride):
  """[S] steps -> [S * num_context]: t-(K-1)*stride, ..., t, clipped at 0."""
  offsets = tf.range(num_context - 1, -1, -1) * frame_stride
  return tf.reshape(tf.maximum(0, steps[:, None] - offsets[None, :]), [-1])


# ----------------------------------------------------------------------------
# Pipelines.
# ----------------------------------------------------------------------------


def _num_frames_per_sample(mode):
  num_frames = (CONFIG.TRAIN.NUM_FRAMES if mode == 'train' else
                CONFIG.EVAL.NUM_FRAMES)
  return num_frames


def record_num_views(path):
  """Views of the first record of `path`: the number of `viewN` lists (>= 2),
  or 1 for a single-view record (`video` only, or `view0` only)."""
  _check_framing(path)
  for record in tf.data.TFRecordDataset(path).take(1).as_numpy_iterator():
    lists = tf.train.SequenceExample.FromString(record).feature_lists
    num = len([k for k in lists.feature_list if k.startswith('view') and
               k[4:].isdigit()])
    return max(1, num)
  return 1


def _view_indices(video, steps, indices, batch_spec, num_record_views,
                  steps_per_slot):
  """Flat indices into the [V * L] JPEGs of all views, and the slot steps.

  Args:
    video: parsed record with `view_jpegs` [V, L].
    steps: int32 [S] sampled steps.
    indices: int32 [S * K] context frame indices of `steps`.
    batch_spec: the `BatchSpec` (views, view_sampling).
    num_record_views: V.
    steps_per_slot: S (Python int).

  Returns:
    (flat_indices int32 [V' * S * K], slot_steps int32 [V' * S]).
  """
  views = view_slots(num_record_views, batch_spec.views, steps_per_slot,
                     batch_spec.view_sampling)  # [V', S]
  num_context = tf.shape(indices)[0] // steps_per_slot
  context_views = tf.repeat(views, num_context, axis=1)  # [V', S * K]
  seq_len = tf.shape(video['view_jpegs'])[1]
  flat = tf.reshape(context_views * seq_len + indices[None], [-1])
  return flat, tf.tile(steps, [batch_spec.views])


def sampling_options():
  """The keyword arguments of `sample_steps` set by CONFIG.DATA."""
  data = CONFIG.DATA
  return dict(strategy=data.SAMPLING_STRATEGY, stride=data.STRIDE,
              random_offset=data.RANDOM_OFFSET,
              draw_offset=data.DRAW_RANDOM_OFFSET,
              spread_short=data.SPREAD_SHORT_VIDEOS)


def _make_sample_fn(mode, batch_spec, num_record_views=0):
  """Serialized record -> one sample (unbatched) of the training batch.

  `num_record_views` (from `record_num_views`) is needed when the spec reads
  the view lists (`batch_spec.uses_view_lists()`).
  """
  num_frames = _num_frames_per_sample(mode)
  data = CONFIG.DATA
  num_context, frame_stride = data.NUM_STEPS, data.FRAME_STRIDE
  image_size = CONFIG.IMAGE_SIZE
  central_crop = CONFIG.AUGMENTATION.RANDOM_CROP
  num_steps = batch_spec.steps_per_video(num_frames)
  sampling = sampling_options()
  use_views = batch_spec.uses_view_lists()
  clip = batch_spec.clip() if batch_spec.clip is not None else None
  if clip is not None:
    num_context = 1

  def sample_fn(serialized):
    video = _parse(serialized, data.FRAME_LABELS,
                   num_record_views if use_views else 0)
    if batch_spec.crop_steps is not None:
      crop_steps = tf.ensure_shape(batch_spec.crop_steps(
          video['seq_len'], num_frames), [batch_spec.num_crops, num_frames])
      frames = [_frames_of_indices(
          video['jpegs'], context_indices(crop, num_context, frame_stride),
          mode, image_size, central_crop) for crop in tf.unstack(crop_steps)]
      return _sample_record(video, tf.concat(frames, axis=0),
                            tf.reshape(crop_steps, [-1]), num_context,
                            image_size)
    if clip is not None:
      steps = clip_steps(video['seq_len'], clip, video['name'])
    elif batch_spec.sampler is not None:
      steps = batch_spec.sampler(video['seq_len'], num_frames, video['name'])
    else:
      steps = sample_steps(video['seq_len'], num_frames, name=video['name'],
                           **sampling)
    if batch_spec.positives is not None:
      positives = batch_spec.positives(steps, video['seq_len'])
      steps = tf.reshape(tf.stack([steps, positives], axis=1), [-1])
    indices = context_indices(steps, num_context, frame_stride)
    all_jpegs = video['jpegs']
    if use_views:
      indices, steps = _view_indices(video, steps, indices, batch_spec,
                                     num_record_views,
                                     num_steps // batch_spec.views)
      all_jpegs = tf.reshape(video['view_jpegs'], [-1])
    frames = _frames_of_indices(all_jpegs, indices, mode, image_size,
                                central_crop)
    return _sample_record(video, frames, tf.ensure_shape(steps, [num_steps]),
                          num_context, image_size)
  return sample_fn


def _check_num_views(paths, num_slots):
  """Views V of the records of `paths` (all must agree), >= `num_slots`.

  Raises:
    DatasetError: naming the file whose records have too few or different
      views.
  """
  counts = [record_num_views(p) for p in paths]
  for path, count in zip(paths, counts):
    if count < num_slots:
      raise DatasetError(
          '%s: records have %d view(s) but the training algorithm needs %d '
          'synchronised views per take; convert multi-view videos with '
          '`python -m dataset_preparation.multiview_videos_to_tfrecords` or '
          'generate SYNTHETIC.NUM_VIEWS >= %d.' % (path, count, num_slots,
                                                   num_slots))
    if count != counts[0]:
      raise DatasetError('%s: records have %d views but %s has %d; keep one '
                         'number of views per dataset.' % (
                             path, count, paths[0], counts[0]))
  return counts[0]


def _num_parallel_calls():
  n = CONFIG.DATA.NUM_PARALLEL_CALLS
  return tf.data.AUTOTUNE if n is None or n < 0 else n


def _dataset_records(dataset, split, mode, input_context=None):
  """Endless shuffled serialized records (strings) of one dataset's split.

  With an `input_context` of several input pipelines, only this pipeline's
  share of the videos (`shard_records`).
  """
  ensure_dataset(dataset)
  paths = split_tfrecord_paths(dataset, split)
  num_videos = _check_files(paths)
  if num_videos == 0:
    raise DatasetError('Split %r of dataset %r has no videos (%s).' % (
        split, dataset, ', '.join(paths)))
  records = tf.data.TFRecordDataset(paths)
  if mode == 'train' and CONFIG.DATA.PER_DATASET_FRACTION < 1.0:
    num_videos = max(1, int(round(CONFIG.DATA.PER_DATASET_FRACTION *
                                  num_videos)))
    records = records.take(num_videos)
  if input_context is not None:
    records, num_videos = shard_records(records, num_videos, input_context,
                                        dataset)
  buffer = CONFIG.DATA.SHUFFLE_QUEUE_SIZE or min(num_videos, 512)
  return records.repeat().shuffle(buffer, reshuffle_each_iteration=True)


def create_dataset(split, mode='train', batch_spec=None, input_context=None):
  """Endless shuffled batches from the datasets in CONFIG.DATASETS.

  As published, every batch comes from ONE dataset, the dataset of each
  batch being drawn uniformly at random, so that e.g. TCC never aligns
  videos of two different actions. With DATA.MIX_DATASETS_IN_BATCH the
  datasets are mixed inside batches instead (round robin over videos). In
  'train' mode the frames are augmented (same parameters for all frames of
  one video) and only the first DATA.PER_DATASET_FRACTION of each dataset's
  videos is used.

  Args:
    split: e.g. 'train' or 'val'.
    mode: 'train' (TRAIN.BATCH_SIZE, TRAIN.NUM_FRAMES, augmentation) or
      'eval' (EVAL.BATCH_SIZE, EVAL.NUM_FRAMES, no augmentation; central
      square crop when AUGMENTATION.RANDOM_CROP).
    batch_spec: a `BatchSpec`; default that of CONFIG.TRAINING_ALGO.
    input_context: a `tf.distribute.InputContext` (from
      `Strategy.distribute_datasets_from_function`), or None: batches are
      then per replica (B = the batch size divided by the replicas in sync)
      and, with several input pipelines (one per worker), each pipeline reads
      only its own share of every dataset's videos (`shard_records`).

  Returns:
    `tf.data.Dataset` of dicts: `frames` float32 [B, S * NUM_STEPS, H, W, 3]
    in [-1, 1]; `steps` int32 [B, S]; `frame_labels` int32 [B, S] (NO_LABEL
    for unlabelled videos); `has_labels` bool [B]; `seq_lens` int32 [B];
    `video_labels` int32 [B]; `names` string [B].
    S = `batch_spec.steps_per_video(NUM_FRAMES)` (2 * NUM_FRAMES, anchor and
    positive interleaved, for algorithms that declare positives).

  Raises:
    DatasetError: a missing or corrupt dataset, or unlabelled videos while
      `batch_spec.needs_frame_labels`.
  """
  if mode not in ('train', 'eval'):
    raise ValueError("mode must be 'train' or 'eval', got %r." % mode)
  if not CONFIG.DATASETS:
    raise config.ConfigError('DATASETS is empty; name at least one dataset.')
  batch_size = (CONFIG.TRAIN.BATCH_SIZE if mode == 'train' else
                CONFIG.EVAL.BATCH_SIZE)
  if batch_spec is None:
    import algos  # pylint: disable=g-import-not-at-top (algos imports datasets)
    batch_spec = algos.get_batch_spec()
  if input_context is not None:
    batch_size = input_context.get_per_replica_batch_size(batch_size)
  per_dataset = []
  for dataset in CONFIG.DATASETS:
    records = _dataset_records(dataset, split, mode, input_context)
    if batch_spec.needs_frame_labels:
      refuse_unlabelled(dataset, split)
    num_views = (_check_num_views(split_tfrecord_paths(dataset, split),
                                  batch_spec.views)
                 if batch_spec.uses_view_lists() else 0)
    sample_fn = _make_sample_fn(mode, batch_spec, num_views)
    per_dataset.append(records.map(sample_fn,
                                   num_parallel_calls=_num_parallel_calls(),
                                   deterministic=False))
  if len(per_dataset) == 1:
    batches = per_dataset[0].batch(batch_size, drop_remainder=True)
  elif CONFIG.DATA.MIX_DATASETS_IN_BATCH:
    order = tf.data.Dataset.range(len(per_dataset)).repeat()
    batches = tf.data.Dataset.choose_from_datasets(per_dataset, order).batch(
        batch_size, drop_remainder=True)
  else:
    batches = tf.data.Dataset.choose_from_datasets(
        [d.batch(batch_size, drop_remainder=True) for d in per_dataset],
        _dataset_draws(len(per_dataset), input_context))
  return batches.prefetch(max(1, CONFIG.DATA.NUM_PREFETCH_BATCHES))


def _dataset_draws(num_datasets, input_context):
  """Endless int64 dataset indices, uniform, one draw per training step.

  A pipeline feeds its replicas consecutive batches in every step, so each
  draw is repeated once per replica of the pipeline; every pipeline draws the
  same sequence (from TensorFlow's global seed, the same on every worker).
  All replicas of a step therefore hold batches of one dataset, and a loss
  gathered across replicas still never mixes datasets.

  Args:
    num_datasets: number of datasets.
    input_context: a `tf.distribute.InputContext` or None (one replica).
  """
  draws = tf.data.Dataset.random().map(lambda x: x % num_datasets)
  replicas = 1
  if input_context is not None:
    replicas = max(1, input_context.num_replicas_in_sync //
                   input_context.num_input_pipelines)
  if replicas > 1:
    draws = draws.flat_map(
        lambda d: tf.data.Dataset.from_tensors(d).repeat(replicas))
  return draws


def shard_records(records, num_videos, input_context, dataset):
  """This input pipeline's share of a dataset's records (videos).

  Pipeline i of n keeps records i, i + n, i + 2n, ..., so that no two
  workers read the same video.

  Args:
    dataset: dataset name.
    split: split name.
    all_views: also decode every camera view of each take (`views`).

  Returns:
    (records, number of videos kept).

  Raises:
    DatasetError: fewer videos than input pipelines.
  """
  num_shards = input_context.num_input_pipelines
  index = input_context.input_pipeline_id
  if num_shards == 1:
    return records, num_videos
  if num_videos < num_shards:
    raise DatasetError(
        'Dataset %r has %d training videos, fewer than the %d workers; each '
        'worker needs its own videos: use fewer workers or more videos.'
        % (dataset, num_videos, num_shards))
  return (records.shard(num_shards, index),
          len(range(index, num_videos, num_shards)))


def create_one_epoch_dataset(dataset, split, all_views=False):
  """Every video of one split once, in file order, frames NOT decoded.

  Long videos stay cheap: only the JPEG strings are held; decode the frames
  you embed, a chunk at a time, with `decode_eval_frames`.

  Args:
    dataset: dataset name.
    split: split name.
    all_views: also hold every camera view of each take: `view_jpegs`
      string [V, L_c] (L_c: the common length of the views, then also
      `seq_len`; V = 1 for single-view records).

  Returns:
    `tf.data.Dataset` of dicts (unbatched): `jpegs` string [L];
    `frame_labels` int32 [L] (NO_LABEL when unlabelled); `has_labels` bool
    []; `seq_len` int32 []; `name` string []; `video_label` int32 [].
  """
  ensure_dataset(dataset)
  paths = split_tfrecord_paths(dataset, split)
  if _check_files(paths) == 0:
    raise DatasetError('Split %r of dataset %r has no videos (%s).' % (
        split, dataset, ', '.join(paths)))
  with_labels = CONFIG.DATA.FRAME_LABELS
  num_views = _check_num_views(paths, 1) if all_views else 0
  return tf.data.TFRecordDataset(paths).map(
      lambda record: _parse(record, with_labels, num_views)).prefetch(1)


# ----------------------------------------------------------------------------
# NumPy access.
# ----------------------------------------------------------------------------


def _view_list_names(lists):
  """Names `view0`, `view1`, ... of a record's feature lists, in view order."""
  names = [k for k in lists if k.startswith('view') and k[4:].isdigit()]
  return sorted(names, key=lambda k: int(k[4:]))


def _iterate_examples(path):
  """Yields per record of `path`: name, len, label, jpegs, frame_labels.

  Reads the TCC layout (`video`, context `name`) and the published TCN
  layout (`view0`, ..., context `task`); `jpegs` is `video` or else `view0`;
  `view_jpegs` is the list of view lists (None for single-view records).
  """
  _check_framing(path)
  try:
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
      example = tf.train.SequenceExample.FromString(record)
      context = example.context.feature
      lists = example.feature_lists.feature_list
      view_names = _view_list_names(lists)
      if 'video' not in lists and not view_names:
        raise DatasetError('%s: record %r has neither a `video` nor a `view0` '
                           'feature list; convert the videos with '
                           'dataset_preparation (videos_to_tfrecords or '
                           'multiview_videos_to_tfrecords).' % (
                               path, context['name'].bytes_list.value or
                               context['task'].bytes_list.value))
      view_jpegs = [[f.bytes_list.value[0] for f in lists[k].feature]
                    for k in view_names]
      jpegs = ([f.bytes_list.value[0] for f in lists['video'].feature]
               if 'video' in lists else view_jpegs[0])
      labels = None
      if 'frame_labels' in lists:
        labels = np.array([f.int64_list.value[0]
                           for f in lists['frame_labels'].feature], np.int64)
      name_key = 'name' if 'name' in context else 'task'
      name = (context[name_key].bytes_list.value[0].decode('utf-8')
              if name_key in context else '')
      label = (int(context['label'].int64_list.value[0])
               if 'label' in context else 0)
      yield {'name': name, 'jpegs': jpegs, 'frame_labels': labels,
             'label': label,
             'view_jpegs': view_jpegs if len(view_jpegs) > 1 else None}
  except tf.errors.DataLossError as e:
    raise DatasetError('%s: corrupt or truncated TFRecord file (%s). Delete '
                       'it and convert the dataset again.' % (
                           path, e.message.split('[Op:')[0].split(
                               '}}')[-1].strip())) from None


def load_videos(tfrecord_paths):
  """Decodes whole videos into NumPy (small videos, inspection tools).

  For long videos use `video_frame_sequences`, which decodes on access.

  Args:
    tfrecord_paths: a path or a list of TFRecord paths.

  Returns:
    list of dicts: `name` str, `frames` uint8 [T, H, W, 3] (RGB),
    `frame_labels` int64 [T] or None (unlabelled), `has_labels` bool, `len`
    int T, `label` int; for a multi-view record also `views`, a list of V
    uint8 [T_v, H, W, 3] arrays (one per camera; `frames` is view 0).
  """
  decode = lambda jpegs: (np.stack([tf.io.decode_jpeg(j, channels=3).numpy()
                                    for j in jpegs]) if jpegs else
                          np.zeros((0, 0, 0, 3), np.uint8))
  if isinstance(tfrecord_paths, str):
    tfrecord_paths = [tfrecord_paths]
  videos = []
  for path in tfrecord_paths:
    if not os.path.isfile(path):
      raise DatasetError('%s: no such TFRecord file.' % path)
    for video in _iterate_examples(path):
      frames = decode(video['jpegs'])
      labels = video['frame_labels']
      has_labels = labels is not None and 0 < len(labels) == len(frames)
      entry = {'name': video['name'], 'frames': frames,
               'frame_labels': labels if has_labels else None,
               'has_labels': has_labels,
               'len': len(video['jpegs']), 'label': video['label']}
      if video['view_jpegs'] is not None:
        entry['views'] = [decode(v) for v in video['view_jpegs']]
      videos.append(entry)
  return videos


class JpegFrames:
  """Frames `0, stride, 2 * stride, ...` of one video, decoded on access.

  Holds only the JPEG strings, so a long video costs its compressed size;
  `frames[i]` decodes one uint8 [H, W, 3] RGB frame.
  """

  def __init__(self, jpegs, stride=1):
    self._jpegs = list(jpegs)[::stride]

  def __len__(self):
    return len(self._jpegs)

  def __getitem__(self, index):
    return tf.io.decode_jpeg(self._jpegs[index], channels=3).numpy()


def video_frame_sequences(tfrecord_paths, names, stride=1):
  """Lazily decoded frames of the named videos.

  Args:
    tfrecord_paths: list of TFRecord paths.
    names: video names wanted.
    stride: keep frames 0, stride, 2 * stride, ...

  Returns:
    {name: JpegFrames} for the wanted names found in the files.
  """
  wanted = set(names)
  found = {}
  for path in tfrecord_paths:
    if not os.path.isfile(path):
      raise DatasetError('%s: no such TFRecord file.' % path)
    for video in _iterate_examples(path):
      if video['name'] in wanted:
        found[video['name']] = JpegFrames(video['jpegs'], stride)
  return found
