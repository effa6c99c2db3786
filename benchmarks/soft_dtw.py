"""Forward+backward time of the wavefront soft-DTW vs a Python double loop.

    python -m benchmarks.soft_dtw [--sizes 10,20,40] [--batch 6] [--repeats 5]

Both compute soft-DTW of a batch of [N, N] cost matrices and its gradient
with tf.GradientTape. The baseline fills the table cell by cell in a Python
double loop (each cell one softmin over [B] vectors, eager TensorFlow); the
wavefront (`seqalign.soft_dtw`) fills one anti-diagonal per step of a
`tf.scan`, timed eagerly and inside `tf.function`. Values and gradients of
the two are checked to agree. Medians over `--repeats` runs (after one
warm-up run) are printed; ratio = loop / wavefront.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from seqalign import soft_dtw  # pylint: disable=g-import-not-at-top

GAMMA = 0.1


def double_loop_soft_dtw(costs, gamma):
  """Baseline: costs [B, N, M] -> [B], one Python iteration per cell."""
  batch, rows, cols = costs.shape
  far = tf.fill([batch], tf.constant(1e10, costs.dtype))
  table = {(-1, -1): tf.zeros([batch], costs.dtype)}
  cell = lambda i, j: table.get((i, j), far)
  for i in range(rows):
    for j in range(cols):
      neighbours = tf.stack([cell(i - 1, j), cell(i, j - 1),
                             cell(i - 1, j - 1)])
      table[(i, j)] = costs[:, i, j] - gamma * tf.reduce_logsumexp(
          -neighbours / gamma, axis=0)
  return table[(rows - 1, cols - 1)]


def value_and_grad(fn, costs):
  with tf.GradientTape() as tape:
    tape.watch(costs)
    value = tf.reduce_sum(fn(costs, GAMMA))
  return value, tape.gradient(value, costs)


def median_time(fn, repeats):
  fn()  # warm-up (and tracing for tf.function)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--sizes', default='10,20,40')
  parser.add_argument('--batch', type=int, default=6)
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args()
  compiled = tf.function(lambda c: value_and_grad(soft_dtw, c))
  print('soft-DTW forward+backward, batch %d, gamma %g, float32, CPU; '
        'median of %d runs' % (args.batch, GAMMA, args.repeats))
  print('%6s %12s %14s %16s %10s %10s %12s' % (
      'N=M', 'loop (s)', 'wavefront (s)', 'wavefront tf.fn', 'ratio',
      'ratio tf.fn', 'max |diff|'))
  for size in [int(s) for s in args.sizes.split(',')]:
    costs = tf.constant(np.random.RandomState(size).rand(
        args.batch, size, size).astype(np.float32))
    loop_value, loop_grad = value_and_grad(double_loop_soft_dtw, costs)
    wave_value, wave_grad = value_and_grad(soft_dtw, costs)
    diff = max(abs(float(loop_value - wave_value)),
               float(tf.reduce_max(tf.abs(loop_grad - wave_grad))))
    loop_time = median_time(lambda: value_and_grad(double_loop_soft_dtw,
                                                   costs), args.repeats)
    wave_time = median_time(lambda: value_and_grad(soft_dtw, costs),
                            args.repeats)
    compiled_time = median_time(lambda: compiled(costs), args.repeats)
    print('%6d %12.4f %14.4f %16.4f %10.1f %10.1f %12.2e' % (
        size, loop_time, wave_time, compiled_time, loop_time / wave_time,
        loop_time / compiled_time, diff))


if __name__ == '__main__':
  main()
