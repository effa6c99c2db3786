"""Cached base features (feature_cache.py): same loss as from the frames."""

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
import datasets
import feature_cache
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
  datasets.ensure_dataset(DATASET)
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


def test_cached_batch_gives_the_loss_of_its_frames(overrides):
  del overrides
  algo = _built_algo()
  directories = feature_cache.ensure_cache(algo)
  directory = directories[DATASET]
  assert len(glob.glob(os.path.join(directory, '*.tfrecord'))) == 3
  with open(os.path.join(directory, feature_cache.INFO_FILENAME)) as f:
    info = json.load(f)
  assert (info['network'], info['image_size'], info['num_videos']) == (
      'SmallCNN', 32, 3)

  batch = next(iter(feature_cache.create_feature_dataset(
      directories, algo.batch_spec)))
  videos = {v['name'].numpy(): datasets.decode_eval_frames(
      v['jpegs'], CONFIG.IMAGE_SIZE, False)
            for v in datasets.create_one_epoch_dataset(DATASET, 'train')}
  frames = tf.stack([
      tf.gather(videos[name.numpy()], datasets.context_indices(
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
  first = feature_cache.ensure_cache(algo)[DATASET]
  assert feature_cache.ensure_cache(algo)[DATASET] == first
  kernel = algo.base_model.weights[0]
  kernel.assign(kernel + 0.01)
  second = feature_cache.ensure_cache(algo)[DATASET]
  CONFIG.DATA.CACHE_BASE_FEATURES_DTYPE = 'float16'
  third = feature_cache.ensure_cache(algo)[DATASET]
  assert len({first, second, third}) == 3
  assert all(os.path.isfile(os.path.join(d, feature_cache.INFO_FILENAME))
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
                                feature_cache.CACHE_DIRNAME, '*',
                                feature_cache.INFO_FILENAME))


def test_cache_needs_a_frozen_base(overrides):
  del overrides
  CONFIG.MODEL.TRAIN_BASE = 'only_bn'
  with pytest.raises(feature_cache.FeatureCacheError,
                     match='MODEL.TRAIN_BASE=frozen'):
    feature_cache.check_config()
