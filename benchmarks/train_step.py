r"""Where a training step's time goes, on the demo config (the defaults).

A step of train.py is split into:
- input wait: `next(iterator)` in the real loop, i.e. with the tf.data
  pipeline (parallel decode + prefetch) running beside the training steps on
  the same cores, as in train.py (which calls `next` inside its step
  function; here it is called just before the compiled step, to time it);
- forward: `Algorithm.embed` (base CNN + embedder), training mode;
- loss: `compute_loss` + L2 regularization on fixed embeddings;
- backward + optimizer: full train step minus (embed + loss), i.e. the
  gradient computation and `apply_gradients`;
- other: real loop step minus input wait minus the full step on a fixed
  batch: mostly the input pipeline's decode/augment threads taking CPU from
  the step (on a few-core CPU), plus noise.

Every part is its own compiled tf.function, timed per call (the result is
fetched to the host, so each call is complete) over many steps after a
warm-up; medians are reported in ms and as a percentage of the median real
loop step (input wait + train step). Exits with status 1 when a target fails:
input wait < 5 % of the step, loss < 10 % of the step.

Usage:
  python -m benchmarks.train_step [--steps 50] [--warmup 5]
      [--tfrecords_dir DIR] [--override KEY=VALUE ...]

Without --tfrecords_dir the default PATH_TO_TFRECORDS cache is used (the
synthetic dataset is generated there on first use).
"""

import os
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np


import algos
import config
from config import CONFIG
import datasets
from dataset_preparation import generate
import keras
import tensorflow as tf
from runners import training

flags.DEFINE_integer('steps', 50, 'Timed steps per measurement.')
flags.DEFINE_integer('warmup', 5, 'Untimed steps first (tracing, buffers).')
flags.DEFINE_string('tfrecords_dir', None, 'PATH_TO_TFRECORDS (with %s for '
                    'the dataset name); default the config default cache.')
flags.DEFINE_multi_string('override', [], 'KEY.SUB=VALUE config overrides.')
FLAGS = flags.FLAGS

INPUT_WAIT_TARGET = 0.05
LOSS_TARGET = 0.10


def _median_ms(fn, steps, warmup):
  """Median wall time (ms) of `fn()` over `steps` calls after `warmup`."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return 1000.0 * float(np.median(times))


def _fetch(tensors):
  """Copies every tensor to the host, so that the timed call has finished."""
  return tf.nest.map_structure(lambda t: t.numpy(), tensors)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  overrides = list(FLAGS.override)
  if FLAGS.tfrecords_dir:
    overrides.append('PATH_TO_TFRECORDS=%s' % FLAGS.tfrecords_dir)
  config.load_config((), overrides)
  generate.ensure_generated(CONFIG)
  keras.utils.set_random_seed(CONFIG.SEED)
  training.set_precision_policy()

  # The same set-up as training.train: dataset without names, built model and
  # optimizer, the step as a tf.function.
  dataset = datasets.create_dataset('train', mode='train',
                                    batch_spec=algos.get_batch_spec())
  dataset = dataset.map(lambda b: {k: v for k, v in b.items() if k != 'names'})
  algo = algos.get_algo()
  algo.build_all()
  optimizer = training.get_optimizer(training.get_lr_schedule())
  optimizer.build(algo.trainable_variables)
  train_step = tf.function(algo.train_one_iter,
                           jit_compile=CONFIG.TRAIN.JIT_COMPILE)

  @tf.function(jit_compile=CONFIG.TRAIN.JIT_COMPILE)
  def embed(batch):
    return algo.embed(batch['frames'], training=True)

  @tf.function(jit_compile=CONFIG.TRAIN.JIT_COMPILE)
  def loss_only(embs, batch):
    return algo.compute_loss(embs, batch, training=True)['loss'] + (
        algo.regularization_loss())

  @tf.function(jit_compile=CONFIG.TRAIN.JIT_COMPILE)
  def embed_and_loss(batch):
    embs = algo.embed(batch['frames'], training=True)
    return algo.compute_loss(embs, batch, training=True)['loss'] + (
        algo.regularization_loss())

  steps, warmup = FLAGS.steps, FLAGS.warmup

  # 1. The real loop: input wait beside the running train step.
  iterator = iter(dataset)
  waits, step_times = [], []
  for i in range(warmup + steps):
    start = time.perf_counter()
    batch = next(iterator)
    got = time.perf_counter()
    _fetch(train_step(batch, optimizer)['total_loss'])
    end = time.perf_counter()
    if i >= warmup:
      waits.append(got - start)
      step_times.append(end - start)
  wait_ms = 1000.0 * float(np.median(waits))
  loop_ms = 1000.0 * float(np.median(step_times))

  # 2. Compute parts on one fixed batch (the pipeline idle, prefetch full).
  batch = next(iterator)
  embs = embed(batch)
  forward_ms = _median_ms(lambda: _fetch(embed(batch)), steps, warmup)
  loss_ms = _median_ms(lambda: _fetch(loss_only(embs, batch)), steps, warmup)
  forward_loss_ms = _median_ms(lambda: _fetch(embed_and_loss(batch)), steps,
                               warmup)
  full_ms = _median_ms(
      lambda: _fetch(train_step(batch, optimizer)['total_loss']), steps,
      warmup)
  backward_ms = max(0.0, full_ms - forward_loss_ms)

  frames = batch['frames'].shape
  print('Demo config: %s, %s, batch %d x %d steps x %d context frames at %d '
        'px; %d timed steps after %d warm-up; %d CPU threads visible.' % (
            CONFIG.TRAINING_ALGO, CONFIG.MODEL.BASE_MODEL.NETWORK, frames[0],
            frames[1] // CONFIG.DATA.NUM_STEPS, CONFIG.DATA.NUM_STEPS,
            frames[2], steps, warmup, os.cpu_count()))
  print('Real loop step (next(iterator) + train step): median %.1f ms '
        '(%.2f steps/s)' % (loop_ms, 1000.0 / loop_ms))
  print('Full train step alone (fixed batch):          median %.1f ms' %
        full_ms)
  print('Forward + loss (fixed batch):                 median %.1f ms' %
        forward_loss_ms)
  print('Input wait in the real loop: mean %.2f ms, max %.2f ms (stalls the '
        'median hides)' % (1000.0 * np.mean(waits), 1000.0 * np.max(waits)))
  print()
  print('%-24s %10s %10s' % ('part', 'median ms', '% of step'))
  rows = [('input wait (real loop)', wait_ms),
          ('forward (embed)', forward_ms),
          ('loss (+ L2 reg.)', loss_ms),
          ('backward + optimizer', backward_ms),
          # The decode/augment threads share the cores with the step: the
          # real step is slower than the same step on a fixed batch.
          ('other (pipeline CPU)', max(0.0, loop_ms - wait_ms - full_ms))]
  for name, ms in rows:
    print('%-24s %10.2f %9.1f%%' % (name, ms, 100.0 * ms / loop_ms))
  print()
  input_ok = wait_ms < INPUT_WAIT_TARGET * loop_ms
  loss_ok = loss_ms < LOSS_TARGET * loop_ms
  print('%s: input wait %.1f%% of the step (target < %.0f%%)' % (
      'PASS' if input_ok else 'FAIL', 100.0 * wait_ms / loop_ms,
      100.0 * INPUT_WAIT_TARGET))
  print('%s: loss %.1f%% of the step (target < %.0f%%)' % (
      'PASS' if loss_ok else 'FAIL', 100.0 * loss_ms / loop_ms,
      100.0 * LOSS_TARGET))
  if not (input_ok and loss_ok):
    raise SystemExit(1)


if __name__ == '__main__':
  app.run(main)
