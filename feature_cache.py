"""Base CNN features computed once, for training with a frozen base.

With MODEL.TRAIN_BASE 'frozen' the base CNN is a fixed function of each
frame, so `train.py` with DATA.CACHE_BASE_FEATURES computes it once for every
frame of every training video and then trains the embedder from the cache:

    <tfrecords dir>/base_features/<key>/<dataset>_train-<video>.tfrecord

one file per video (one tf.train.Example: the per-frame features as raw
bytes, plus name, labels and length) and `cache_info.json`, written last.
`<key>` hashes the base network, its layer, a SHA-256 of its weights, the
image size and the stored dtype, so another base or image size gets its own
cache (computed when missing) and an interrupted computation is never used
(the directory is renamed into place when complete).

Augmentation: the cache holds the features of the un-augmented frames
(decoded and resized as in evaluation). Flips, crops and colour changes do
not commute with a CNN (a horizontally flipped feature map is not the
feature map of the flipped frame unless every kernel is symmetric), so
AUGMENTATION.* is not applied. Temporal sampling (which frames, DATA.*
sampling strategy, TCN positives) is done on the cached frames exactly as on
the decoded ones.
"""

import glob
import hashlib
import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

import config
from config import CONFIG
import datasets
from utils import console

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


def check_config():
  """Raises FeatureCacheError unless the base is frozen and the dtype known."""
  if CONFIG.MODEL.TRAIN_BASE != 'frozen':
    raise FeatureCacheError(
        'DATA.CACHE_BASE_FEATURES needs a frozen base network (the cache '
        'holds fixed features); set MODEL.TRAIN_BASE=frozen or '
        'DATA.CACHE_BASE_FEATURES=false (MODEL.TRAIN_BASE is %r).' %
        CONFIG.MODEL.TRAIN_BASE)
  if CONFIG.DATA.CACHE_BASE_FEATURES_DTYPE not in DTYPES:
    raise FeatureCacheError(
        'DATA.CACHE_BASE_FEATURES_DTYPE %r is unknown; use one of: %s.' %
        (CONFIG.DATA.CACHE_BASE_FEATURES_DTYPE, ', '.join(DTYPES)))


def weights_digest(model):
  """SHA-256 (hex) of every weight of `model`, in order."""
  digest = hashlib.sha256()
  for weight in model.weights:
    value = np.ascontiguousarray(weight.numpy())
    digest.update(str((weight.path, value.shape, value.dtype)).encode())
    digest.update(value.tobytes())
  return digest.hexdigest()


def cache_key(base_model):
  """The identity of the cached features: dict and its short hash."""
  identity = {
      'version': CACHE_VERSION,
      'network': CONFIG.MODEL.BASE_MODEL.NETWORK,
      'layer': CONFIG.MODEL.BASE_MODEL.LAYER,
      'weights_sha256': weights_digest(base_model),
      'image_size': CONFIG.IMAGE_SIZE,
      'dtype': CONFIG.DATA.CACHE_BASE_FEATURES_DTYPE,
  }
  text = json.dumps(identity, sort_keys=True)
  return identity, hashlib.sha256(text.encode()).hexdigest()[:16]


def _example(video, features, dtype):
  """One video's cache record; features float32 [L, h, w, c]."""
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


def _write_cache(algo, dataset, directory, identity):
  """Computes and writes the cache of `dataset` into `directory`."""
  parent = os.path.dirname(directory)
  os.makedirs(parent, exist_ok=True)
  partial = tempfile.mkdtemp(dir=parent, prefix='.partial_')
  chunk = CONFIG.EVAL.FRAMES_PER_BATCH
  image_size = CONFIG.IMAGE_SIZE
  dtype = CONFIG.DATA.CACHE_BASE_FEATURES_DTYPE
  num_videos = 0
  try:
    for index, video in enumerate(
        datasets.create_one_epoch_dataset(dataset, 'train')):
      # Whole frames, as training without augmentation sees them.
      features = np.concatenate([
          algo._frame_features(datasets.decode_eval_frames(  # pylint: disable=protected-access
              video['jpegs'][i:i + chunk], image_size, False)).numpy()
          for i in range(0, int(video['seq_len']), chunk)], axis=0)
      path = os.path.join(partial, '%s_train-%05d.tfrecord' % (dataset,
                                                                index))
      with tf.io.TFRecordWriter(path) as writer:
        writer.write(_example(video, features, dtype))
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


def ensure_cache(algo):
  """The cache directory of every dataset in CONFIG.DATASETS, computed when
  missing or made with another base, layer, weights, image size or dtype.

  Args:
    algo: the built Algorithm whose (frozen) `base_model` makes the features.

  Returns:
    dict: dataset name -> cache directory.
  """
  check_config()
  augmentation = [k for k in AUGMENTATIONS if CONFIG.AUGMENTATION[k]]
  if augmentation:
    console.warning('DATA.CACHE_BASE_FEATURES: the cached features are of '
                    'un-augmented frames; AUGMENTATION.%s not applied.',
                    ', '.join(augmentation))
  identity, key = cache_key(algo.base_model)
  directories = {}
  for dataset in CONFIG.DATASETS:
    datasets.ensure_dataset(dataset)
    directory = os.path.join(config.tfrecords_dir(dataset), CACHE_DIRNAME,
                             key)
    if not os.path.isfile(os.path.join(directory, INFO_FILENAME)):
      console.info('Computing the base features of %s (train) into %s.',
                   dataset, directory)
      _write_cache(algo, dataset, directory, identity)
    directories[dataset] = directory
  return directories


def _parse(serialized):
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


def _make_sample_fn(batch_spec, feature_shape, dtype):
  """Cache record -> one training sample, as datasets' train samples but
  with `features` [S * NUM_STEPS, h, w, c] float32 instead of `frames`."""
  num_frames = CONFIG.TRAIN.NUM_FRAMES
  num_context, frame_stride = CONFIG.DATA.NUM_STEPS, CONFIG.DATA.FRAME_STRIDE
  num_steps = batch_spec.steps_per_video(num_frames)

  def sample_fn(serialized):
    video = _parse(serialized)
    steps = datasets.sample_steps(video['seq_len'], num_frames,
                                  name=video['name'],
                                  **datasets.sampling_options())
    if batch_spec.positives is not None:
      positives = batch_spec.positives(steps, video['seq_len'])
      steps = tf.reshape(tf.stack([steps, positives], axis=1), [-1])
    indices = datasets.context_indices(steps, num_context, frame_stride)
    raw = tf.io.decode_raw(tf.gather(video['frames'], indices), dtype)
    features = tf.cast(tf.reshape(raw, [-1] + feature_shape), tf.float32)
    return {
        'features': tf.ensure_shape(features, [num_steps * num_context] +
                                    feature_shape),
        'steps': tf.ensure_shape(steps, [num_steps]),
        'frame_labels': tf.gather(video['frame_labels'], steps),
        'has_labels': video['has_labels'],
        'seq_lens': video['seq_len'],
        'video_labels': video['video_label'],
        'names': video['name'],
    }
  return sample_fn


def _read_info(directory):
  with open(os.path.join(directory, INFO_FILENAME)) as f:
    return json.load(f)


def create_feature_dataset(directories, batch_spec, input_context=None):
  """Endless shuffled training batches read from the caches.

  Like `datasets.create_dataset('train')` (datasets mixed round robin,
  DATA.PER_DATASET_FRACTION, sharding across workers, per-replica batches
  with `input_context`) but without augmentation and with `features`
  float32 [B, S * NUM_STEPS, h, w, c] (base CNN features) instead of
  `frames`. Videos are shuffled by file, so memory holds only the videos
  being sampled.

  Args:
    directories: dict dataset -> cache directory (from `ensure_cache`).
    batch_spec: the algorithm's `datasets.BatchSpec`.
    input_context: a `tf.distribute.InputContext` or None.
  """
  batch_size = CONFIG.TRAIN.BATCH_SIZE
  if input_context is not None:
    batch_size = input_context.get_per_replica_batch_size(batch_size)
  per_dataset = []
  for dataset, directory in directories.items():
    info = _read_info(directory)
    dtype = tf.as_dtype(info['dtype'])
    paths = sorted(glob.glob(os.path.join(directory, '*.tfrecord')))
    first = next(iter(tf.data.TFRecordDataset(paths[:1])))
    feature_shape = _parse(first)['feature_shape'].numpy().tolist()
    num_videos = len(paths)
    if CONFIG.DATA.PER_DATASET_FRACTION < 1.0:
      num_videos = max(1, int(round(CONFIG.DATA.PER_DATASET_FRACTION *
                                    num_videos)))
      paths = paths[:num_videos]
    files = tf.data.Dataset.from_tensor_slices(paths)
    if input_context is not None:
      files, num_videos = datasets.shard_records(files, num_videos,
                                                 input_context, dataset)
    files = files.repeat().shuffle(num_videos, reshuffle_each_iteration=True)
    records = files.interleave(tf.data.TFRecordDataset, cycle_length=1)
    per_dataset.append(records.map(
        _make_sample_fn(batch_spec, feature_shape, dtype),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=False))
  if len(per_dataset) == 1:
    samples = per_dataset[0]
  else:
    order = tf.data.Dataset.range(len(per_dataset)).repeat()
    samples = tf.data.Dataset.choose_from_datasets(per_dataset, order)
  batches = samples.batch(batch_size, drop_remainder=True)
  return batches.prefetch(max(1, CONFIG.DATA.NUM_PREFETCH_BATCHES))
