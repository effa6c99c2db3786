r"""Training steps/s with and without cached base features (frozen base).

ResNet50V2 (random weights, cut at conv4_block3_out) at 224 px, frozen,
with the demo's embedder, on a small synthetic dataset generated at 224 px
into --tfrecords_dir. Both settings run `train.train()` with the real input
pipeline and augmentation off (the cache cannot augment frames, see
data/features.py), so they do the same work except the base CNN. Runs
alternate (no cache, cache, no cache, cache, ...) so that a shared machine's
load hits both alike; the throughput is train()'s `steps_per_s` (after the
first step, which traces). The one-off cost of computing the cache is timed
first and reported separately.

Usage:
  python -m benchmarks.feature_cache --tfrecords_dir /tmp/cache_bench/%s \
      [--steps 6] [--rounds 2] [--override KEY=VALUE ...]
"""

import os
import tempfile
import time

from absl import app
from absl import flags
import keras
import numpy as np


import algos
import config
from config import CONFIG
import datasets
from dataset_preparation import generate
import train

flags.DEFINE_string('tfrecords_dir', '/tmp/tcc_feature_cache_bench/%s',
                    'PATH_TO_TFRECORDS (with %s for the dataset name).')
flags.DEFINE_integer('steps', 6, 'Training steps per run.')
flags.DEFINE_integer('rounds', 2, 'Runs per setting (alternating).')
flags.DEFINE_multi_string('override', [], 'KEY.SUB=VALUE config overrides.')
FLAGS = flags.FLAGS

SETUP = [
    'IMAGE_SIZE=224', 'MODEL.BASE_MODEL.NETWORK=Resnet50_pretrained',
    'MODEL.BASE_MODEL.LAYER=conv4_block3_out',
    'MODEL.TRAIN_BASE=frozen',
    'TRAIN.BATCH_SIZE=2', 'TRAIN.NUM_FRAMES=4', 'TRAIN.STEPS_PER_LOOP=1',
    'DATASETS=[synthetic_cache_bench]', 'SYNTHETIC.NUM_TRAIN_VIDEOS=4',
    'SYNTHETIC.NUM_VAL_VIDEOS=1', 'SYNTHETIC.MIN_FRAMES=16',
    'SYNTHETIC.MAX_FRAMES=20', 'AUGMENTATION.RANDOM_FLIP=false',
    'AUGMENTATION.RANDOM_CROP=false', 'AUGMENTATION.BRIGHTNESS=false',
    'AUGMENTATION.CONTRAST=false', 'CHECKPOINT.SAVE_INTERVAL=100000',
    'LOGGING.REPORT_INTERVAL=100000', 'TRAIN.VISUALIZE_INTERVAL=0',
]


def build_cache(overrides):
  """Computes the cache (if missing); returns (seconds, frames cached)."""
  config.load_config((), overrides + ['DATA.CACHE_BASE_FEATURES=true'])
  generate.ensure_generated(CONFIG)
  keras.utils.set_random_seed(CONFIG.SEED)
  algo = algos.get_algo()
  algo.build_all()
  start = time.time()
  directories = datasets.ensure_feature_cache(
      algo.base_model, algo._frame_features, algo.batch_spec)  # pylint: disable=protected-access
  seconds = time.time() - start
  num_frames = sum(int(v['seq_len']) for v in
                   datasets.create_one_epoch_dataset(CONFIG.DATASETS[0],
                                                     'train'))
  return seconds, num_frames, directories


def measure(cached, overrides):
  with tempfile.TemporaryDirectory() as logdir:
    result = train.train(logdir, overrides=overrides + [
        'DATA.CACHE_BASE_FEATURES=%s' % str(cached).lower()],
                         max_iters=FLAGS.steps)
  return result['steps_per_s']


def main(argv):
  del argv
  overrides = SETUP + ['PATH_TO_TFRECORDS=%s' % FLAGS.tfrecords_dir] + list(
      FLAGS.override)
  seconds, num_frames, directories = build_cache(overrides)
  rates = {False: [], True: []}
  for _ in range(FLAGS.rounds):
    for cached in (False, True):
      rates[cached].append(measure(cached, overrides))
  print('ResNet50V2 (random weights) to conv4_block3_out, 224 px, frozen; '
        'batch 2 x 4 steps x 2 context frames; %d CPU threads' %
        os.cpu_count())
  print('cache: %s (%d frames) computed in %.1f s (%.2f frames/s; 0 s when '
        'it already existed)' % (list(directories.values())[0], num_frames,
                                 seconds, num_frames / max(seconds, 1e-9)))
  print('%-12s %s' % ('setting', 'steps/s (median; runs)'))
  for cached in (False, True):
    print('%-12s %.3f (%s)' % ('cache' if cached else 'no cache',
                               float(np.median(rates[cached])), ', '.join(
                                   '%.3f' % r for r in rates[cached])))
  print('ratio cache / no cache: %.1fx' % (float(np.median(rates[True])) /
                                           float(np.median(rates[False]))))


if __name__ == '__main__':
  app.run(main)
