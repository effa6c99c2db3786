r"""Frames per second the input pipeline delivers (decode + augment).

Generates a small synthetic dataset at each image size in a temporary
directory, then times `datasets.create_dataset` (train mode: sampling,
JPEG decoding of the sampled frames, identical-per-video augmentation,
resize, batching) and `create_one_epoch_dataset` plus
`decode_eval_frames` (every frame decoded, no augmentation). A delivered frame is one [H, W, 3] image of a batch, context
frames included.

Usage:
  python -m benchmarks.input_pipeline [--sizes 64,224] [--num_batches 30]
"""

import os
import tempfile
import time

from absl import app
from absl import flags
from absl import logging


import algos
import config
import datasets
from config import CONFIG
from dataset_preparation import synthetic

flags.DEFINE_list('sizes', ['64', '224'], 'Image sizes (pixels).')
flags.DEFINE_integer('num_batches', 30, 'Timed training batches per size.')
flags.DEFINE_integer('num_videos', 16, 'Synthetic training videos per size.')
FLAGS = flags.FLAGS


def _time_train(num_batches):
  iterator = iter(datasets.create_dataset('train', mode='train',
                                          batch_spec=algos.get_batch_spec()))
  for _ in range(3):  # Warm-up: tracing and filling the prefetch buffer.
    next(iterator)
  start = time.perf_counter()
  for _ in range(num_batches):
    batch = next(iterator)
  elapsed = time.perf_counter() - start
  frames_per_batch = int(batch['frames'].shape[0] * batch['frames'].shape[1])
  return frames_per_batch, num_batches / elapsed, (
      frames_per_batch * num_batches / elapsed)


def _time_epoch(dataset):
  start = time.perf_counter()
  num_frames = sum(int(datasets.decode_eval_frames(
      v['jpegs'], CONFIG.IMAGE_SIZE, CONFIG.AUGMENTATION.RANDOM_CROP).shape[0])
                   for v in datasets.create_one_epoch_dataset(dataset, 'train'))
  return num_frames / (time.perf_counter() - start)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  rows = []
  with tempfile.TemporaryDirectory() as root:
    for size in [int(s) for s in FLAGS.sizes]:
      config.reset_config()
      CONFIG.PATH_TO_TFRECORDS = os.path.join(root, '%s')
      CONFIG.IMAGE_SIZE = size
      dataset = 'synthetic_bench%d' % size
      CONFIG.DATASETS = [dataset]
      start = time.perf_counter()
      synthetic.generate_dataset(config.tfrecords_dir(dataset), dataset,
                                 num_train=FLAGS.num_videos, num_val=0,
                                 image_size=size)
      generate_s = time.perf_counter() - start
      frames_per_batch, batches_s, train_fps = _time_train(FLAGS.num_batches)
      epoch_fps = _time_epoch(dataset)
      rows.append((size, generate_s, frames_per_batch, batches_s, train_fps,
                   epoch_fps))
  print('Input pipeline, %d CPU cores, TF %s, batch %d videos x %d steps x '
        '%d context frames, default augmentation.' % (
            os.cpu_count(), datasets.tf.__version__, CONFIG.TRAIN.BATCH_SIZE,
            CONFIG.TRAIN.NUM_FRAMES, CONFIG.DATA.NUM_STEPS))
  print('%6s | %16s | %12s | %10s | %18s | %20s' % (
      'size', 'generate %d vids' % FLAGS.num_videos, 'frames/batch',
      'batches/s', 'train frames/s', 'one-epoch frames/s'))
  for size, generate_s, fpb, bps, train_fps, epoch_fps in rows:
    print('%6d | %14.1f s | %12d | %10.2f | %18.0f | %20.0f' % (
        size, generate_s, fpb, bps, train_fps, epoch_fps))


if __name__ == '__main__':
  app.run(main)
