"""Writing videos as TFRecords in the published TCC format.

Shared by every tool that writes a dataset (`videos_to_tfrecords`,
`images_to_tfrecords`, `synthetic`):

- `encode_jpeg` / `make_sequence_example`: one `tf.train.SequenceExample` per
  video (context `name`, `len`, `label`; feature lists `video`,
  `frame_labels`, and for multi-view data `view0`, `view1`, ... plus context
  `num_views`).
- `ShardedTFRecordWriter`: round-robin over `<dataset>_<split>-NNNNN-of-MMMMM
  .tfrecord`, written under hidden temporary names and renamed only once every
  shard is complete, so an interrupted run never leaves a half-written shard
  under a final name. Only shards that received a record are kept: fewer
  records than shards give fewer (never empty) shards.
- `publish_split`: moves the shards of one split from a staging directory
  into the dataset directory (the converters stage a whole run first).
- `update_dataset_info`: merges per-split counts into `dataset_info.json`.
"""

import glob
import json
import os

import cv2
import numpy as np
import tensorflow as tf

from utils import atomic_files

DATASET_INFO_FILENAME = 'dataset_info.json'


def shard_filename(dataset_name, split, shard_index, num_shards):
  """`<dataset>_<split>-NNNNN-of-MMMMM.tfrecord` (a name, not a path)."""
  return '%s_%s-%05d-of-%05d.tfrecord' % (dataset_name, split, shard_index,
                                         num_shards)


def split_file_pattern(output_dir, dataset_name, split):
  """Glob pattern matching every shard of one split."""
  return os.path.join(output_dir, '%s_%s-*-of-*.tfrecord' % (dataset_name,
                                                             split))


def encode_jpeg(frame_rgb, quality=95):
  """JPEG bytes of one frame.

  Args:
    frame_rgb: uint8 [H, W, 3], RGB.
    quality: JPEG quality, 1..100.

  Returns:
    bytes.
  """
  ok, buf = cv2.imencode('.jpg', np.ascontiguousarray(frame_rgb[..., ::-1]),
                         [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
  if not ok:
    raise ValueError('cv2 could not JPEG-encode a frame of shape %s.' %
                     (frame_rgb.shape,))
  return buf.tobytes()


def _bytes_feature(value):
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64_feature(value):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _bytes_feature_list(values):
  return tf.train.FeatureList(feature=[_bytes_feature(v) for v in values])


def make_sequence_example(name, jpeg_frames, frame_labels=None, label=0,
                          views=None):
  """One video as a `tf.train.SequenceExample`.

  Args:
    name: video name, str (unique within a split).
    jpeg_frames: list of L JPEG `bytes`, one per frame (view 0 when `views`).
    frame_labels: optional int sequence [L], per-frame phase labels.
    label: video-level class (0 when unknown).
    views: optional list of V >= 2 lists of L JPEG `bytes` (synchronized
      cameras); written as `view0`..`view{V-1}` plus context `num_views`.

  Returns:
    `tf.train.SequenceExample`.
  """
  num_frames = len(jpeg_frames)
  if frame_labels is not None and len(frame_labels) != num_frames:
    raise ValueError('video %s: %d frame labels for %d frames.' %
                     (name, len(frame_labels), num_frames))
  context = {
      'name': _bytes_feature(name.encode('utf-8') if isinstance(name, str)
                             else name),
      'len': _int64_feature(num_frames),
      'label': _int64_feature(label),
  }
  feature_lists = {'video': _bytes_feature_list(jpeg_frames)}
  if frame_labels is not None:
    feature_lists['frame_labels'] = tf.train.FeatureList(
        feature=[_int64_feature(l) for l in frame_labels])
  if views is not None:
    for i, view in enumerate(views):
      if len(view) != num_frames:
        raise ValueError('video %s: view %d has %d frames, view 0 has %d.' %
                         (name, i, len(view), num_frames))
      feature_lists['view%d' % i] = _bytes_feature_list(view)
    context['num_views'] = _int64_feature(len(views))
  return tf.train.SequenceExample(
      context=tf.train.Features(feature=context),
      feature_lists=tf.train.FeatureLists(feature_list=feature_lists))


class ShardedTFRecordWriter:
  """Writes serialized records round-robin into the shards of one split.

  Use as a context manager. Shards are written as hidden temporary files; on
  a clean exit the first min(records, num_shards) of them are renamed to
  `<dataset>_<split>-NNNNN-of-MMMMM.tfrecord` (MMMMM = shards kept; no
  shard is ever empty, no shard is written without records) and older shards
  of the same split (e.g. from a run with another shard count) are removed.
  On an exception the temporary files are deleted and nothing under a final
  name is touched.
  """

  def __init__(self, output_dir, dataset_name, split, num_shards=1):
    if num_shards < 1:
      raise ValueError('num_shards must be >= 1, got %d.' % num_shards)
    self.output_dir = output_dir
    self.dataset_name = dataset_name
    self.split = split
    self.num_shards = num_shards
    self.num_written = 0
    self.final_paths = []
    self._writers = []
    self._tmp_paths = []

  def __enter__(self):
    for i in range(self.num_shards):
      tmp = atomic_files.reserve_temp_path(os.path.join(
          self.output_dir, shard_filename(self.dataset_name, self.split, i,
                                          self.num_shards)))
      self._tmp_paths.append(tmp)
      self._writers.append(tf.io.TFRecordWriter(tmp))
    return self

  def write(self, serialized):
    """Appends one serialized record (bytes) to the next shard."""
    self._writers[self.num_written % self.num_shards].write(serialized)
    self.num_written += 1

  def __exit__(self, exc_type, exc, tb):
    for writer in self._writers:
      writer.close()
    num_kept = 0 if exc_type is not None else min(self.num_written,
                                                  self.num_shards)
    try:
      if num_kept:
        self.final_paths = [os.path.join(self.output_dir, shard_filename(
            self.dataset_name, self.split, i, num_kept))
                            for i in range(num_kept)]
        _remove_other_shards(self.output_dir, self.dataset_name, self.split,
                             self.final_paths)
        for tmp, final in zip(self._tmp_paths, self.final_paths):
          os.replace(tmp, final)
    finally:
      for tmp in self._tmp_paths:
        atomic_files.remove_if_exists(tmp)
    return False


def _remove_other_shards(directory, dataset_name, split, keep):
  for old in glob.glob(split_file_pattern(directory, dataset_name, split)):
    if old not in keep:
      os.remove(old)


def publish_split(staging_dir, output_dir, dataset_name, split):
  """Moves the shards of `split` from `staging_dir` into `output_dir`.

  Older shards of the split in `output_dir` are removed first, so the split
  holds exactly the new shards. Both directories must be on one file system
  (the converters stage inside `output_dir`).

  Returns:
    The new shard paths.
  """
  staged = sorted(glob.glob(split_file_pattern(staging_dir, dataset_name,
                                               split)))
  finals = [os.path.join(output_dir, os.path.basename(p)) for p in staged]
  _remove_other_shards(output_dir, dataset_name, split, finals)
  for path, final in zip(staged, finals):
    os.replace(path, final)
  return finals


def _write_json_atomic(path, data):
  with atomic_files.atomic_open(path, 'w') as f:
    json.dump(data, f, indent=2, sort_keys=True)


def read_dataset_info(output_dir):
  """The dict in `<output_dir>/dataset_info.json` ({} if there is none)."""
  path = os.path.join(output_dir, DATASET_INFO_FILENAME)
  if not os.path.isfile(path):
    return {}
  with open(path) as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError('%s: not valid JSON (%s); delete it and convert the '
                       'dataset again.' % (path, e)) from None


def update_dataset_info(output_dir, dataset_name, split, num_videos,
                        num_frames, num_classes, fps, image_size,
                        num_views=1, extra=None):
  """Records one split in `dataset_info.json`, keeping the other splits.

  Layout: {'dataset': str, 'num_classes': int, 'fps': float,
  'image_size': [height, width] or None (mixed sizes), 'num_views': int,
  'splits': {split: {'num_videos': int, 'num_frames': int}}}.
  `num_classes` (phase classes, 0 without labels) and `image_size` keep the
  largest value / the common value over the splits written so far. `extra`
  (a dict) adds top-level keys, e.g. the synthetic generator's parameters.

  Returns:
    The merged dict that was written.
  """
  info = read_dataset_info(output_dir)
  other_splits = {k: v for k, v in info.get('splits', {}).items()
                  if k != split}
  if other_splits:
    if image_size is None or info.get('image_size') is None or (
        list(info['image_size']) != list(image_size)):
      image_size = None
    num_classes = max(int(num_classes), int(info.get('num_classes', 0)))
  splits = dict(other_splits)
  splits[split] = {'num_videos': int(num_videos), 'num_frames': int(num_frames)}
  info.update({
      'dataset': dataset_name,
      'num_classes': int(num_classes),
      'fps': float(fps) if fps else None,
      'image_size': list(image_size) if image_size is not None else None,
      'num_views': int(num_views),
      'splits': splits,
  })
  info.update(extra or {})
  _write_json_atomic(os.path.join(output_dir, DATASET_INFO_FILENAME), info)
  return info
