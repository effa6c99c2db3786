"""Cached base-network features: the record format, sampling and writing.

With MODEL.TRAIN_BASE 'frozen' the base CNN is a fixed function of each
frame, so training with DATA.CACHE_BASE_FEATURES computes it once for every
frame of every training video and then trains the embedder from the cache:

    <tfrecords dir>/base_features/<key>/<dataset>_train-<video>.tfrecord

one file per video (one tf.train.Example: the per-frame features as raw
bytes, plus name, labels and length) and `cache_info.json`, written last.
`<key>` hashes the base network, its layer, a SHA-256 of its weights, the
image size and the stored dtype, so another base or image size gets its own
cache and an interrupted computation is never used (the directory is renamed
into place when complete).

Augmentation: the cache holds the features of the un-augmented frames
(decoded and resized as in evaluation). Flips, crops and colour changes do
not commute with a CNN, so AUGMENTATION.* is not applied. Temporal sampling
is `data.sampling.sample_indices`, the same code and random draws as for
decoded frames: sampled steps, TCN positives, SCL's temporal crops and
clips all work. Batches that read several camera views are refused
(`check_batch_spec`): the cache stores the single `video` list only.

Config-free: the pipelines that read CONFIG are in `datasets.py`.
"""

import hashlib
import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from data import sampling

CACHE_DIRNAME = 'base_features'
INFO_FILENAME = 'cache_info.json'
DTYPES = ('float32', 'float16')
# Frame augmentations that the cache cannot apply (they do not commute with
# the base CNN).
AUGMENTATIONS = ('RANDOM_CROP', 'RANDOM_FLIP', 'BRIGHTNESS', 'CONTRAST', 'HUE',
                 'SATURATION')
# Bumped when the stored layout or the frame preprocessing changes.
CACHE_VERSION = 2


class FeatureCacheError(ValueError):
  """DATA.CACHE_BASE_FEATURES cannot be used with this configuration."""


def check_batch_spec(batch_spec, algo_name):
  """Raises FeatureCacheError when the cache cannot serve `batch_spec`.

  Args:
    batch_spec: the algorithm's `sampling.BatchSpec`.
    algo_name: TRAINING_ALGO, for the message.
  """
  if batch_spec.uses_view_lists():
    raise FeatureCacheError(
        'DATA.CACHE_BASE_FEATURES cannot serve TRAINING_ALGO %s: its batches '
        'read %d synchronised camera views per take and the cache stores one '
        'view; set DATA.CACHE_BASE_FEATURES=false.' % (algo_name,
                                                       batch_spec.views))


def weights_digest(model):
  """SHA-256 (hex) of every weight of `model`, in order."""
  digest = hashlib.sha256()
  for weight in model.weights:
    value = np.ascontiguousarray(weight.numpy())
    digest.update(str((weight.path, value.shape, value.dtype)).encode())
    digest.update(value.tobytes())
  return digest.hexdigest()


def cache_key(network, layer, base_model, image_size, dtype):
  """The identity of a cache (dict) and its short hash (directory name).

  Args:
    network, layer: MODEL.BASE_MODEL.NETWORK and .LAYER.
    base_model: the Keras base network (its weights are hashed).
    image_size: IMAGE_SIZE.
    dtype: one of DTYPES.
  """
  identity = {
      'version': CACHE_VERSION, 'network': network, 'layer': layer,
      'weights_sha256': weights_digest(base_model), 'image_size': image_size,
      'dtype': dtype,
  }
  text = json.dumps(identity, sort_keys=True)
  return identity, hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_example(video, features, dtype):
  """One video's cache record (bytes).

  Args:
    video: a record of `datasets.create_one_epoch_dataset` (name, seq_len,
      video_label, frame_labels, has_labels).
    features: float32 [L, h, w, c], the base features of every frame.
    dtype: one of DTYPES, the stored precision.
  """
  def int64s(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
  frames = [f.astype(dtype).tobytes() for f in features]
  return tf.train.Example(features=tf.train.Features(feature={
      'name': tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[video['name'].numpy()])),
      'seq_len': int64s([int(video['seq_len'])]),
      'video_label': int64s([int(video['video_label'])]),
      'frame_labels': int64s(video['frame_labels'].numpy().tolist()),
      'has_labels': int64s([int(bool(video['has_labels']))]),
      'feature_shape': int64s(list(features.shape[1:])),
      'features': tf.train.Feature(bytes_list=tf.train.BytesList(
          value=frames)),
  })).SerializeToString()


def write_cache(examples, dataset, directory, identity):
  """Writes a complete cache into `directory`, atomically.

  Args:
    examples: iterable of `cache_example` bytes, one per video.
    dataset: the dataset's name (file prefix).
    directory: the cache directory; it appears only when complete.
    identity: the dict of `cache_key`, stored in cache_info.json.
  """
  parent = os.path.dirname(directory)
  os.makedirs(parent, exist_ok=True)
  partial = tempfile.mkdtemp(dir=parent, prefix='.partial_')
  num_videos = 0
  try:
    for index, example in enumerate(examples):
      path = os.path.join(partial, '%s_train-%05d.tfrecord' % (dataset,
                                                                index))
      with tf.io.TFRecordWriter(path) as writer:
        writer.write(example)
      os.chmod(path, 0o644)
      num_videos += 1
    info = dict(identity, dataset=dataset, num_videos=num_videos)
    with open(os.path.join(partial, INFO_FILENAME), 'w') as f:
      json.dump(info, f, indent=1, sort_keys=True)
    os.chmod(os.path.join(partial, INFO_FILENAME), 0o644)
    os.chmod(partial, 0o755)
    try:
      os.rename(partial, directory)
    except OSError:
      # Another worker finished the same cache first; theirs is identical.
      if not os.path.isfile(os.path.join(directory, INFO_FILENAME)):
        raise
  finally:
    shutil.rmtree(partial, ignore_errors=True)


def is_complete(directory):
  """Whether `directory` holds a finished cache."""
  return os.path.isfile(os.path.join(directory, INFO_FILENAME))


def read_info(directory):
  """cache_info.json of a finished cache, as a dict."""
  with open(os.path.join(directory, INFO_FILENAME)) as f:
    return json.load(f)


def parse_cache_record(serialized):
  """A cache record -> dict with per-frame feature bytes `frames` [L]."""
  parsed = tf.io.parse_single_example(serialized, {
      'name': tf.io.FixedLenFeature([], tf.string),
      'seq_len': tf.io.FixedLenFeature([], tf.int64),
      'video_label': tf.io.FixedLenFeature([], tf.int64),
      'frame_labels': tf.io.VarLenFeature(tf.int64),
      'has_labels': tf.io.FixedLenFeature([], tf.int64),
      'feature_shape': tf.io.FixedLenFeature([3], tf.int64),
      'features': tf.io.VarLenFeature(tf.string),
  })
  return {
      'name': parsed['name'],
      'seq_len': tf.cast(parsed['seq_len'], tf.int32),
      'video_label': tf.cast(parsed['video_label'], tf.int32),
      'frame_labels': tf.cast(tf.sparse.to_dense(parsed['frame_labels']),
                              tf.int32),
      'has_labels': parsed['has_labels'] > 0,
      'feature_shape': tf.cast(parsed['feature_shape'], tf.int32),
      'frames': tf.sparse.to_dense(parsed['features'], default_value=''),
  }


def feature_sample_fn(batch_spec, settings, feature_shape, dtype):
  """Cache record -> one training sample.

  As the decoded-frames samples (same `sampling.sample_indices`, so the same
  seed draws the same frames) but with `features` float32
  [S * K, h, w, c] instead of `frames`.

  Args:
    batch_spec: the algorithm's `sampling.BatchSpec` (see `check_batch_spec`).
    settings: `sampling.SamplingSettings`.
    feature_shape: [h, w, c] of one frame's features.
    dtype: the stored dtype (tf.DType).
  """
  num_steps = batch_spec.steps_per_video(settings.num_frames)
  num_context = sampling.context_frames(batch_spec, settings)

  def sample_fn(serialized):
    video = parse_cache_record(serialized)
    steps, index_groups = sampling.sample_indices(
        video['seq_len'], video['name'], batch_spec, settings)
    indices = tf.concat(index_groups, axis=0)
    raw = tf.io.decode_raw(tf.gather(video['frames'], indices), dtype)
    features = tf.cast(tf.reshape(raw, [-1] + list(feature_shape)),
                       tf.float32)
    return {
        'features': tf.ensure_shape(features, [num_steps * num_context] +
                                    list(feature_shape)),
        'steps': steps,
        'frame_labels': tf.gather(video['frame_labels'], steps),
        'has_labels': video['has_labels'],
        'seq_lens': video['seq_len'],
        'video_labels': video['video_label'],
        'names': video['name'],
    }
  return sample_fn
