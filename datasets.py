"""TFRecord decoding, frame sampling, augmentation and tf.data pipelines.

Records follow SPEC section 4 (the published TCC format). Training batches
decode only the JPEGs of the sampled frames: the serialized JPEG list is
parsed, indices are sampled, the strings are gathered and only those are
decoded (each distinct frame once).

Public API:
  create_dataset(split, mode='train')        endless shuffled batches
  create_one_epoch_dataset(dataset, split)   every video once, all frames
  load_videos(tfrecord_paths)                NumPy videos (inspection, tools)
  get_dataset_info(dataset)                  dataset_info.json as a dict
  ensure_dataset(dataset)                    generate synthetic data if needed
  split_tfrecord_paths(dataset, split)       the shard files of one split
"""

import dataclasses
import glob
import os
import struct
from typing import Callable, Optional

from absl import logging
import numpy as np
import tensorflow as tf

import config
from config import CONFIG
from dataset_preparation import tfrecord_io

SAMPLING_STRATEGIES = ('offset_uniform', 'stride', 'all')


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
    clip: None, or a function () -> (length, stride), called when the
      pipeline is built: each video then gives `length` consecutive frames
      `stride` apart from a random start (a clip), without context frames,
      instead of NUM_FRAMES frames sampled by DATA.SAMPLING_STRATEGY.
  """
  positives: Optional[Callable[[tf.Tensor, tf.Tensor], tf.Tensor]] = None
  clip: Optional[Callable[[], tuple]] = None

  def steps_per_video(self, num_frames):
    """Sampled steps per video for `num_frames` (anchor) frames."""
    if self.clip is not None:
      return self.clip()[0]
    return num_frames * (2 if self.positives is not None else 1)


class DatasetError(ValueError):
  """A dataset that is missing, empty or corrupt."""


# ----------------------------------------------------------------------------
# Locating and creating datasets.
# ----------------------------------------------------------------------------


def _split_glob(directory, dataset, split):
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
  return {'num_train': syn.NUM_TRAIN_VIDEOS, 'num_val': syn.NUM_VAL_VIDEOS,
          'image_size': CONFIG.IMAGE_SIZE, 'min_frames': syn.MIN_FRAMES,
          'max_frames': syn.MAX_FRAMES, 'num_views': syn.NUM_VIEWS,
          'seed': syn.SEED, 'variation': float(syn.VARIATION),
          'mirror': syn.MIRROR}


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
    logging.info('Generating the synthetic dataset %r in %s (%s).', dataset,
                 directory, ', '.join('%s=%s' % kv for kv in params.items()))
    from dataset_preparation import synthetic  # pylint: disable=g-import-not-at-top
    synthetic.generate_dataset(directory, dataset_name=dataset, **params)
    return directory
  if not glob.glob(os.path.join(directory, '%s_*' % dataset)):
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
            'frame_labels': tf.io.FixedLenSequenceFeature(
                [], tf.int64, allow_missing=True)})
    return (context['name'], tf.size(sequence['frame_labels']),
            tf.size(sequence['video']))

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
  record whose frame labels do not match its frames would otherwise train
  silently with all-zero labels.

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


# ----------------------------------------------------------------------------
# Parsing and decoding.
# ----------------------------------------------------------------------------


def _parse(serialized, with_labels):
  """One serialized SequenceExample -> dict of tensors.

  Returns:
    `jpegs` string [L], `frame_labels` int32 [L] (zeros when absent or not
    wanted), `name` string [], `video_label` int32 [], `seq_len` int32 [].
  """
  context_features = {
      'name': tf.io.FixedLenFeature([], tf.string, default_value=''),
      'label': tf.io.FixedLenFeature([], tf.int64, default_value=0),
  }
  sequence_features = {
      'video': tf.io.FixedLenSequenceFeature([], tf.string),
  }
  if with_labels:
    sequence_features['frame_labels'] = tf.io.FixedLenSequenceFeature(
        [], tf.int64, allow_missing=True)
  context, sequence = tf.io.parse_single_sequence_example(
      serialized, context_features=context_features,
      sequence_features=sequence_features)
  jpegs = sequence['video']
  seq_len = tf.shape(jpegs)[0]
  if with_labels:
    labels = tf.cast(sequence['frame_labels'], tf.int32)
    labels = tf.cond(tf.equal(tf.size(labels), seq_len), lambda: labels,
                     lambda: tf.zeros([seq_len], tf.int32))
  else:
    labels = tf.zeros([seq_len], tf.int32)
  return {'jpegs': jpegs, 'frame_labels': labels, 'name': context['name'],
          'video_label': tf.cast(context['label'], tf.int32),
          'seq_len': seq_len}


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


def _to_model_range(frames_uint8_or_unit, image_size, already_unit=False):
  """Resizes to [image_size, image_size] and maps to [-1, 1] (float32)."""
  frames = tf.image.resize(frames_uint8_or_unit, [image_size, image_size],
                           method='bilinear')
  if not already_unit:
    frames /= 255.0
  return tf.clip_by_value(frames, 0.0, 1.0) * 2.0 - 1.0


def _augment(jpegs, image_size):
  """Decodes and augments the frames of one video with one set of params.

  Args:
    jpegs: string [N], frames of ONE video.
    image_size: output side.

  Returns:
    float32 [N, image_size, image_size, 3] in [-1, 1].
  """
  aug = CONFIG.AUGMENTATION
  if aug.RANDOM_CROP:
    shape = tf.io.extract_jpeg_shape(jpegs[0])
    height, width = shape[0], shape[1]
    scale = tf.random.uniform([], aug.RANDOM_CROP_MIN_SCALE, 1.0)
    crop_h = tf.maximum(1, tf.cast(tf.cast(height, tf.float32) * scale,
                                   tf.int32))
    crop_w = tf.maximum(1, tf.cast(tf.cast(width, tf.float32) * scale,
                                   tf.int32))
    y = tf.random.uniform([], 0, height - crop_h + 1, dtype=tf.int32)
    x = tf.random.uniform([], 0, width - crop_w + 1, dtype=tf.int32)
    frames = _decode(jpegs, tf.stack([y, x, crop_h, crop_w]))
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


def _warn_short(name, seq_len, needed):
  global _warned_short_video
  if not _warned_short_video:
    _warned_short_video = True
    logging.warning(
        'Video %s has %d frames, fewer than the %d one sample needs; such '
        'videos are sampled with repeated frames (logged once).',
        name.numpy().decode('utf-8', 'replace'), int(seq_len), int(needed))
  return np.int32(0)


def _spread(seq_len, num_steps):
  """[S] sorted indices covering all L frames, repeating some (L < S ok)."""
  return tf.range(num_steps) * seq_len // num_steps


def sample_steps(seq_len, num_steps, strategy, name=''):
  """Sorted frame indices of one video.

  Args:
    seq_len: int32 scalar tensor L.
    num_steps: S, Python int.
    strategy: 'offset_uniform': an offset below DATA.RANDOM_OFFSET, then S
      distinct frames drawn uniformly at random after it; 'stride': S frames
      DATA.STRIDE_STEPS apart from a random offset; 'all': S frames evenly
      spaced over the whole video (first and last included), no randomness.
      A video with too few frames for the strategy gets S evenly spread
      indices with repetitions (and a warning, once).
    name: video name (string tensor) for the warning.

  Returns:
    int32 [S].
  """
  if strategy == 'offset_uniform':
    needed = num_steps
  elif strategy == 'stride':
    needed = (num_steps - 1) * CONFIG.DATA.STRIDE_STEPS + 1
  elif strategy == 'all':
    needed = num_steps
  else:
    raise config.ConfigError(
        'DATA.SAMPLING_STRATEGY %r is unknown; use one of %s.' % (
            strategy, ', '.join(SAMPLING_STRATEGIES)))

  def sample():
    if strategy == 'offset_uniform':
      max_offset = tf.clip_by_value(seq_len - num_steps + 1, 1,
                                    max(1, CONFIG.DATA.RANDOM_OFFSET))
      offset = tf.random.uniform([], 0, max_offset, dtype=tf.int32)
      chosen = tf.random.shuffle(tf.range(offset, seq_len))[:num_steps]
      return tf.sort(chosen)
    if strategy == 'stride':
      offset = tf.random.uniform([], 0, seq_len - needed + 1, dtype=tf.int32)
      return offset + tf.range(num_steps) * CONFIG.DATA.STRIDE_STEPS
    return tf.range(num_steps) * (seq_len - 1) // max(1, num_steps - 1)

  def short():
    warned = tf.py_function(_warn_short, [name, seq_len, needed], tf.int32)
    return _spread(seq_len, num_steps) + warned

  return tf.cond(seq_len >= needed, sample, short)


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


def clip_steps(seq_len, length, stride, name=''):
  """`length` frame indices `stride` apart from a uniform random start.

  A video shorter than (length - 1) * stride + 1 frames gets evenly spread
  indices with repetitions (and a warning, once).

  Returns:
    int32 [length].
  """
  needed = (length - 1) * stride + 1

  def sample():
    start = tf.random.uniform([], 0, seq_len - needed + 1, dtype=tf.int32)
    return start + tf.range(length) * stride

  def short():
    warned = tf.py_function(_warn_short, [name, seq_len, needed], tf.int32)
    return _spread(seq_len, length) + warned

  return tf.cond(seq_len >= needed, sample, short)


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


def _make_sample_fn(mode, batch_spec):
  """Serialized record -> one sample (unbatched) of the training batch."""
  num_frames = _num_frames_per_sample(mode)
  strategy = CONFIG.DATA.SAMPLING_STRATEGY
  num_context, frame_stride = CONFIG.DATA.NUM_STEPS, CONFIG.DATA.FRAME_STRIDE
  image_size = CONFIG.IMAGE_SIZE
  with_labels = CONFIG.DATA.FRAME_LABELS
  num_steps = batch_spec.steps_per_video(num_frames)
  clip = batch_spec.clip() if batch_spec.clip is not None else None
  if clip is not None:
    num_context = 1

  def sample_fn(serialized):
    video = _parse(serialized, with_labels)
    if clip is not None:
      steps = clip_steps(video['seq_len'], clip[0], clip[1], video['name'])
    else:
      steps = sample_steps(video['seq_len'], num_frames, strategy,
                           video['name'])
    if batch_spec.positives is not None:
      positives = batch_spec.positives(steps, video['seq_len'])
      steps = tf.reshape(tf.stack([steps, positives], axis=1), [-1])
    indices = context_indices(steps, num_context, frame_stride)
    # Each distinct frame is decoded and augmented once.
    unique, position = tf.unique(indices)
    jpegs = tf.gather(video['jpegs'], unique)
    if mode == 'train':
      frames = _augment(jpegs, image_size)
    else:
      frames = _to_model_range(_decode(jpegs), image_size)
    frames = tf.gather(frames, position)
    frames = tf.ensure_shape(frames, [num_steps * num_context, image_size,
                                      image_size, 3])
    return {
        'frames': frames,
        'steps': tf.ensure_shape(steps, [num_steps]),
        'frame_labels': tf.ensure_shape(
            tf.gather(video['frame_labels'], steps), [num_steps]),
        'seq_lens': video['seq_len'],
        'video_labels': video['video_label'],
        'names': video['name'],
    }
  return sample_fn


def _num_parallel_calls():
  n = CONFIG.DATA.NUM_PARALLEL_CALLS
  return tf.data.AUTOTUNE if n is None or n < 0 else n


def create_dataset(split, mode='train', batch_spec=None):
  """Endless shuffled batches from every dataset in CONFIG.DATASETS.

  Datasets are mixed evenly (round robin over videos). In 'train' mode the
  frames are augmented (same parameters for all frames of one video) and
  only the first DATA.PER_DATASET_FRACTION of each dataset's videos is used.

  Args:
    split: e.g. 'train' or 'val'.
    mode: 'train' (TRAIN.BATCH_SIZE, TRAIN.NUM_FRAMES, augmentation) or
      'eval' (EVAL.BATCH_SIZE, EVAL.NUM_FRAMES, no augmentation).
    batch_spec: a `BatchSpec`; default that of CONFIG.TRAINING_ALGO.

  Returns:
    `tf.data.Dataset` of dicts: `frames` float32 [B, S * NUM_STEPS, H, W, 3]
    in [-1, 1]; `steps` int32 [B, S]; `frame_labels` int32 [B, S];
    `seq_lens` int32 [B]; `video_labels` int32 [B]; `names` string [B].
    S = `batch_spec.steps_per_video(NUM_FRAMES)` (2 * NUM_FRAMES, anchor and
    positive interleaved, for algorithms that declare positives).
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
  sample_fn = _make_sample_fn(mode, batch_spec)
  per_dataset = []
  for dataset in CONFIG.DATASETS:
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
    buffer = CONFIG.DATA.SHUFFLE_QUEUE_SIZE or min(num_videos, 512)
    records = records.repeat().shuffle(buffer, reshuffle_each_iteration=True)
    per_dataset.append(records.map(sample_fn,
                                   num_parallel_calls=_num_parallel_calls(),
                                   deterministic=False))
  if len(per_dataset) == 1:
    samples = per_dataset[0]
  else:
    order = tf.data.Dataset.range(len(per_dataset)).repeat()
    samples = tf.data.Dataset.choose_from_datasets(per_dataset, order)
  batches = samples.batch(batch_size, drop_remainder=True)
  return batches.prefetch(max(1, CONFIG.DATA.NUM_PREFETCH_BATCHES))


def create_one_epoch_dataset(dataset, split):
  """Every video of one split once, in file order, all frames, no augmentation.

  Returns:
    `tf.data.Dataset` of dicts (unbatched): `frames` float32 [L, H, W, 3] in
    [-1, 1] (H = W = IMAGE_SIZE); `frame_labels` int32 [L]; `seq_len` int32
    []; `name` string []; `video_label` int32 [].
  """
  ensure_dataset(dataset)
  paths = split_tfrecord_paths(dataset, split)
  if _check_files(paths) == 0:
    raise DatasetError('Split %r of dataset %r has no videos (%s).' % (
        split, dataset, ', '.join(paths)))
  image_size = CONFIG.IMAGE_SIZE
  with_labels = CONFIG.DATA.FRAME_LABELS

  def video_fn(serialized):
    video = _parse(serialized, with_labels)
    return {
        'frames': _to_model_range(_decode(video['jpegs']), image_size),
        'frame_labels': video['frame_labels'],
        'seq_len': video['seq_len'],
        'name': video['name'],
        'video_label': video['video_label'],
    }
  return tf.data.TFRecordDataset(paths).map(
      video_fn, num_parallel_calls=_num_parallel_calls()).prefetch(1)


# ----------------------------------------------------------------------------
# NumPy access.
# ----------------------------------------------------------------------------


def _iterate_examples(path):
  """Yields per record of `path`: name, len, label, jpegs, frame_labels."""
  _check_framing(path)
  try:
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
      example = tf.train.SequenceExample.FromString(record)
      context = example.context.feature
      lists = example.feature_lists.feature_list
      if 'video' not in lists:
        raise DatasetError('%s: record %r has no `video` feature list; is it '
                           'a TCC TFRecord (SPEC section 4)?' % (
                               path, context['name'].bytes_list.value))
      jpegs = [f.bytes_list.value[0] for f in lists['video'].feature]
      labels = None
      if 'frame_labels' in lists:
        labels = np.array([f.int64_list.value[0]
                           for f in lists['frame_labels'].feature], np.int64)
      name = (context['name'].bytes_list.value[0].decode('utf-8')
              if 'name' in context else '')
      label = (int(context['label'].int64_list.value[0])
               if 'label' in context else 0)
      yield {'name': name, 'jpegs': jpegs, 'frame_labels': labels,
             'label': label}
  except tf.errors.DataLossError as e:
    raise DatasetError('%s: corrupt or truncated TFRecord file (%s). Delete '
                       'it and convert the dataset again.' % (
                           path, e.message.split('[Op:')[0].split(
                               '}}')[-1].strip())) from None


def load_videos(tfrecord_paths):
  """Decodes whole videos into NumPy.

  Args:
    tfrecord_paths: a path or a list of TFRecord paths.

  Returns:
    list of dicts: `name` str, `frames` uint8 [T, H, W, 3] (RGB),
    `frame_labels` int64 [T] or None, `len` int T, `label` int.
  """
  if isinstance(tfrecord_paths, str):
    tfrecord_paths = [tfrecord_paths]
  videos = []
  for path in tfrecord_paths:
    if not os.path.isfile(path):
      raise DatasetError('%s: no such TFRecord file.' % path)
    for video in _iterate_examples(path):
      frames = np.stack([tf.io.decode_jpeg(j, channels=3).numpy()
                         for j in video['jpegs']]) if video['jpegs'] else (
                             np.zeros((0, 0, 0, 3), np.uint8))
      videos.append({'name': video['name'], 'frames': frames,
                     'frame_labels': video['frame_labels'],
                     'len': len(video['jpegs']), 'label': video['label']})
  return videos
