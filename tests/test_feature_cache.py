"""Cached base features (data/features.py): the same sampler, the same loss
as from the frames, and a clear refusal where the cache cannot serve."""

import glob
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import algos
import config
from config import CONFIG
from data import features
from data import sampling
import datasets
from dataset_preparation import generate
from test_train import TINY
import train

DATASET = 'synthetic_cache'
OVERRIDES = TINY + [
    'MODEL.TRAIN_BASE=frozen', 'DATA.CACHE_BASE_FEATURES=true',
    'DATASETS=[%s]' % DATASET, 'SYNTHETIC.NUM_TRAIN_VIDEOS=3',
    'SYNTHETIC.NUM_VAL_VIDEOS=1', 'SYNTHETIC.MIN_FRAMES=10',
    'SYNTHETIC.MAX_FRAMES=12', 'TRAIN.VISUALIZE_INTERVAL=1',
]


@pytest.fixture(scope='module')
def tfrecords_root(tmp_path_factory):
  """The tiny synthetic dataset (and its caches), shared by the tests."""
  root = str(tmp_path_factory.mktemp('tfrecords'))
  config.load_config((), OVERRIDES + ['PATH_TO_TFRECORDS=%s/%%s' % root])
  generate.ensure_generated(CONFIG)
  return root


@pytest.fixture
def overrides(tfrecords_root):
  values = OVERRIDES + ['PATH_TO_TFRECORDS=%s/%%s' % tfrecords_root]
  config.load_config((), values)
  return values


def _built_algo():
  keras.utils.set_random_seed(CONFIG.SEED)
  algo = algos.get_algo()
  algo.build_all()
  return algo


def _ensure_cache(algo):
  return datasets.ensure_feature_cache(
      algo.base_model, algo._frame_features, algo.batch_spec)  # pylint: disable=protected-access


def test_cached_batch_gives_the_loss_of_its_frames(overrides):
  del overrides
  algo = _built_algo()
  directories = _ensure_cache(algo)
  directory = directories[DATASET]
  assert len(glob.glob(os.path.join(directory, '*.tfrecord'))) == 3
  with open(os.path.join(directory, features.INFO_FILENAME)) as f:
    info = json.load(f)
  assert (info['network'], info['image_size'], info['num_videos']) == (
      'SmallCNN', 32, 3)

  batch = next(iter(datasets.create_feature_dataset(
      directories, algo.batch_spec)))
  videos = {v['name'].numpy(): datasets.decode_eval_frames(
      v['jpegs'], CONFIG.IMAGE_SIZE, False)
            for v in datasets.create_one_epoch_dataset(DATASET, 'train')}
  frames = tf.stack([
      tf.gather(videos[name.numpy()], sampling.context_indices(
          steps, CONFIG.DATA.NUM_STEPS, CONFIG.DATA.FRAME_STRIDE))
      for name, steps in zip(batch['names'], batch['steps'])])
  from_frames = algo.embed(frames, training=True)
  from_cache = algo.embed_features(batch['features'], training=True)
  np.testing.assert_allclose(from_cache, from_frames, rtol=1e-5, atol=1e-6)
  loss_frames = algo.compute_loss(from_frames, batch, training=True)['loss']
  loss_cache = algo.compute_loss(from_cache, batch, training=True)['loss']
  np.testing.assert_allclose(float(loss_cache), float(loss_frames),
                             rtol=1e-6)


def test_another_base_gets_another_cache(overrides):
  del overrides
  algo = _built_algo()
  first = _ensure_cache(algo)[DATASET]
  assert _ensure_cache(algo)[DATASET] == first
  kernel = algo.base_model.weights[0]
  kernel.assign(kernel + 0.01)
  second = _ensure_cache(algo)[DATASET]
  CONFIG.DATA.CACHE_BASE_FEATURES_DTYPE = 'float16'
  third = _ensure_cache(algo)[DATASET]
  assert len({first, second, third}) == 3
  assert all(os.path.isfile(os.path.join(d, features.INFO_FILENAME))
             for d in (first, second, third))
  # No partial directory is left behind.
  assert not glob.glob(os.path.join(os.path.dirname(first), '.partial_*'))


def test_flipping_feature_maps_is_not_flipping_frames(overrides):
  """Why the cache does not augment: a CNN does not commute with flips."""
  del overrides
  algo = _built_algo()
  frames = tf.random.uniform([2, 32, 32, 3], -1, 1, seed=1)
  flipped_then_cnn = algo.base_features(tf.reverse(frames, [2]), False)
  cnn_then_flipped = tf.reverse(algo.base_features(frames, False), [2])
  assert not np.allclose(flipped_then_cnn, cnn_then_flipped, atol=1e-3)


def test_train_py_trains_from_the_cache(overrides, tmp_path):
  result = train.train(str(tmp_path / 'run'), overrides=overrides,
                       max_iters=2)
  assert result['step'] == 2 and np.isfinite(result['total_loss'])
  assert glob.glob(os.path.join(config.tfrecords_dir(DATASET),
                                features.CACHE_DIRNAME, '*',
                                features.INFO_FILENAME))


def test_cache_needs_a_frozen_base(overrides):
  del overrides
  CONFIG.MODEL.TRAIN_BASE = 'only_bn'
  with pytest.raises(features.FeatureCacheError,
                     match='MODEL.TRAIN_BASE=frozen'):
    datasets.check_feature_cache(sampling.BatchSpec())


def _first_video(dataset):
  """(serialized frames record, its parsed one-epoch record)."""
  path = datasets.split_tfrecord_paths(dataset, 'train')[0]
  serialized = next(iter(tf.data.TFRecordDataset(path)))
  video = next(iter(datasets.create_one_epoch_dataset(dataset, 'train')))
  return serialized, video


@pytest.mark.parametrize('name', sorted(algos.ALGORITHMS))
def test_same_seed_same_frames_with_and_without_the_cache(overrides, name):
  """Every registered algorithm: the cache samples exactly the frames the
  decoded pipeline samples (same steps, same context frames), or the
  algorithm is refused before training in one line."""
  del overrides
  spec = algos.get_batch_spec(name)
  CONFIG.TRAINING_ALGO = name
  if spec.uses_view_lists():
    with pytest.raises(features.FeatureCacheError) as error:
      datasets.check_feature_cache(spec)
    message = str(error.value)
    assert '\n' not in message and name in message
    assert 'DATA.CACHE_BASE_FEATURES=false' in message
    return
  datasets.check_feature_cache(spec)
  serialized, video = _first_video(DATASET)
  seq_len = int(video['seq_len'])
  # Frame t's cached "feature" is the number t, so the features read back
  # are the frame indices the sampler chose.
  per_frame = np.arange(seq_len, dtype=np.float32).reshape(seq_len, 1, 1, 1)
  cache_record = features.cache_example(video, per_frame, 'float32')
  settings = datasets.sampling_settings('train')
  frame_fn = datasets.frame_sample_fn('train', spec)
  cache_fn = features.feature_sample_fn(spec, settings, [1, 1, 1],
                                        tf.float32)
  for seed in (0, 1, 2):
    tf.random.set_seed(seed)
    from_frames = frame_fn(serialized)
    tf.random.set_seed(seed)
    from_cache = cache_fn(tf.constant(cache_record))
    np.testing.assert_array_equal(from_cache['steps'], from_frames['steps'])
    np.testing.assert_array_equal(from_cache['frame_labels'],
                                  from_frames['frame_labels'])
    num_context = sampling.context_frames(spec, settings)
    assert (from_cache['features'].shape[0] ==
            from_frames['frames'].shape[0] ==
            spec.steps_per_video(settings.num_frames) * num_context)
    # The frames read are the context frames of the sampled steps.
    steps = from_cache['steps'].numpy()
    offsets = np.arange(num_context - 1, -1, -1) * settings.frame_stride
    expected = np.maximum(0, steps[:, None] - offsets[None]).reshape(-1)
    if spec.crop_steps is None:
      np.testing.assert_array_equal(
          from_cache['features'].numpy().reshape(-1), expected)
    else:  # SCL: one group of context frames per temporal crop, in order.
      np.testing.assert_array_equal(
          np.sort(from_cache['features'].numpy().reshape(-1)),
          np.sort(expected))


def test_scl_trains_from_the_cache(overrides, tmp_path):
  """SCL's two temporal crops are served by the cache (they were silently
  dropped before, and the batch shapes then failed in tf.data)."""
  result = train.train(str(tmp_path / 'scl'),
                       overrides=overrides + ['TRAINING_ALGO=scl'],
                       max_iters=2)
  assert result['step'] == 2 and np.isfinite(result['total_loss'])


def test_multiview_is_refused_before_training(overrides, tmp_path):
  with pytest.raises(features.FeatureCacheError,
                     match='cannot serve TRAINING_ALGO mvtcn'):
    train.train(str(tmp_path / 'mv'),
                overrides=overrides + ['TRAINING_ALGO=mvtcn'], max_iters=1)
  assert not glob.glob(str(tmp_path / 'mv' / 'ckpt-*'))


def test_one_dataset_per_batch_with_the_cache(tfrecords_root):
  """Two datasets: every cached batch comes from ONE of them (the
  published policy), unless DATA.MIX_DATASETS_IN_BATCH."""
  second = DATASET + '_b'
  values = OVERRIDES + ['PATH_TO_TFRECORDS=%s/%%s' % tfrecords_root,
                        'DATASETS=[%s,%s]' % (DATASET, second),
                        'TRAIN.BATCH_SIZE=2']
  config.load_config((), values)
  generate.ensure_generated(CONFIG)
  algo = _built_algo()
  directories = _ensure_cache(algo)
  for mix, want_mixed in ((False, False), (True, True)):
    CONFIG.DATA.MIX_DATASETS_IN_BATCH = mix
    batches = datasets.create_feature_dataset(directories, algo.batch_spec)
    kinds = set()
    for batch in batches.take(12):
      prefixes = {n.numpy().decode().startswith(second) for n in
                  batch['names']}
      kinds.add(len(prefixes))
    assert (2 in kinds) == want_mixed
