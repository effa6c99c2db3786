"""The TFRecord format: parsing, framing checks and NumPy access.

Records follow the published TCC format (docs/tcc.md): a SequenceExample per
video, the TCC layout (`video` JPEG list, context `name`) or the published
TCN layout (`view0`, `view1`, ... one JPEG list per camera, context `task`);
a record without `video` uses `view0` as its video.

Labels: a record without per-frame labels (no `frame_labels` feature list,
or `with_labels` false) is unlabelled, never "all class 0": its
`frame_labels` are NO_LABEL (-1) and its `has_labels` flag is False.

Config-free: settings are arguments; `datasets.py` passes those of CONFIG.
"""

import os
import struct

import numpy as np
import tensorflow as tf

# Per-frame label of a frame whose video has no labels.
NO_LABEL = -1


class DatasetError(ValueError):
  """A dataset that is missing, empty or corrupt."""


def _corrupt_file_error(path, error):
  """DatasetError naming `path` for TensorFlow's `error` reading it."""
  return DatasetError('%s: corrupt or truncated TFRecord file (%s). Delete '
                      'it and convert the dataset again.' % (
                          path, error.message.split('[Op:')[0].split(
                              '}}')[-1].strip()))


def check_framing(path):
  """Walks the record headers; TensorFlow silently stops at a cut header.

  TFRecord framing per record: uint64 length, uint32 CRC, data, uint32 CRC.

  Raises:
    DatasetError: a record of `path` ends past the end of the file.
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


def count_records(path):
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


# Paths already read through once, keyed by (path, size, mtime) -> records.
_CHECKED_FILES = {}


def check_files(paths, with_labels):
  """Reads every record once so that corruption is reported with its file.

  TensorFlow's own error for a bad record does not name the file, and a
  record whose frame labels do not match its frames would otherwise be
  silently read as unlabelled. A file unchanged since it was last checked
  (same size and mtime) is not read again.

  Args:
    paths: list of TFRecord paths.
    with_labels: frame labels are read (DATA.FRAME_LABELS); then a record
      whose labels do not match its frames is an error.

  Returns:
    Number of records in all `paths`.

  Raises:
    DatasetError: naming the corrupt or truncated file, or (with
      `with_labels`) the file and video whose labels do not match its
      frames.
  """
  total = 0
  for path in paths:
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime)
    if key not in _CHECKED_FILES:
      check_framing(path)
      try:
        _CHECKED_FILES[key] = count_records(path)
      except (tf.errors.DataLossError, tf.errors.OutOfRangeError) as e:
        raise _corrupt_file_error(path, e) from None
    count, mismatch = _CHECKED_FILES[key]
    if mismatch is not None and with_labels:
      index, name, num_labels, num_frames = mismatch
      raise DatasetError(
          '%s: record %d (video %r) has %d frame labels for %d frames; fix '
          'its labels and convert it again, or set DATA.FRAME_LABELS=false '
          'to train without labels.' % (path, index, name, num_labels,
                                        num_frames))
    total += count
  return total


def unlabelled_videos(paths, with_labels):
  """Videos of `paths` that have no per-frame labels (only strings parsed).

  Args:
    paths: list of TFRecord paths.
    with_labels: labels are read at all (DATA.FRAME_LABELS).

  Returns:
    list of (path, video name) in file order; every video when
    `with_labels` is false (labels are then never read).
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
      if num_labels == 0 or not with_labels:
        found.append((path, name.decode('utf-8', 'replace')))
  return found


def parse(serialized, with_labels, num_views=0):
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


def _view_list_names(lists):
  """Names `view0`, `view1`, ... of a record's feature lists, in view order."""
  names = [k for k in lists if k.startswith('view') and k[4:].isdigit()]
  return sorted(names, key=lambda k: int(k[4:]))


def record_num_views(path):
  """Views of the first record of `path`: the number of `viewN` lists (>= 2),
  or 1 for a single-view record (`video` only, or `view0` only)."""
  check_framing(path)
  for record in tf.data.TFRecordDataset(path).take(1).as_numpy_iterator():
    lists = tf.train.SequenceExample.FromString(record).feature_lists
    return max(1, len(_view_list_names(lists.feature_list)))
  return 1


def check_num_views(paths, num_slots):
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


def iterate_examples(path):
  """Yields per record of `path`: name, len, label, jpegs, frame_labels.

  Reads the TCC layout (`video`, context `name`) and the published TCN
  layout (`view0`, ..., context `task`); `jpegs` is `video` or else `view0`
  (a list of JPEG bytes); `frame_labels` int64 [L] or None; `view_jpegs` is
  the list of view lists (None for single-view records).

  Raises:
    DatasetError: a corrupt or truncated file, or a record with no frames.
  """
  check_framing(path)
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
    raise _corrupt_file_error(path, e) from None


def _existing_examples(tfrecord_paths):
  """`iterate_examples` of every path in turn, each of which must exist."""
  for path in tfrecord_paths:
    if not os.path.isfile(path):
      raise DatasetError('%s: no such TFRecord file.' % path)
    yield from iterate_examples(path)


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
  for video in _existing_examples(tfrecord_paths):
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
  for video in _existing_examples(tfrecord_paths):
    if video['name'] in wanted:
      found[video['name']] = JpegFrames(video['jpegs'], stride)
  return found
