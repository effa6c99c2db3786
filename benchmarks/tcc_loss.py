"""Forward+backward time of the batched TCC loss vs a per-pair loop.

    python -m benchmarks.tcc_loss [--quick]

The baseline is the straightforward implementation of the TCC definition: a Python loop
over the N(N-1) ordered pairs calling `align_pair_of_sequences`, logits stacked,
then the same loss; it is wrapped in `tf.function` (and compiled with XLA in
the `jit` rows) exactly like the batched version. The two are timed alternately
in one process and medians are reported; ratio = baseline / batched.
"""

import argparse
import itertools
import os
import statistics
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from tcc import alignment  # pylint: disable=g-import-not-at-top
from tcc import losses  # pylint: disable=g-import-not-at-top

BATCH_SIZES = (2, 8, 16, 32)
NUM_FRAMES = (20, 32)
EMBEDDING_DIM = 128
LOSS_TYPE = 'regression_mse_var'
SIMILARITY_TYPE = 'l2'
TEMPERATURE = 0.1


def per_pair_loss(embs):
  """Baseline: the TCC definition pair by pair; embs float32 [N, T, D] -> scalar."""
  num_videos, num_frames, _ = embs.shape
  logits, labels, steps = [], [], []
  frame_range = tf.range(num_frames, dtype=tf.float32)
  for i, j in itertools.permutations(range(num_videos), 2):
    pair_logits, pair_labels = alignment.align_pair_of_sequences(
        embs[i], embs[j], SIMILARITY_TYPE, TEMPERATURE)
    logits.append(pair_logits)
    labels.append(pair_labels)
    steps.append(tf.tile(frame_range[None, :], [num_frames, 1]))
  logits = tf.concat(logits, axis=0)
  seq_lens = tf.fill([tf.shape(logits)[0]], float(num_frames))
  return losses.loss_from_logits(
      logits, tf.concat(labels, axis=0), tf.concat(steps, axis=0), seq_lens,
      LOSS_TYPE, label_smoothing=0.1, normalize_indices=True,
      variance_lambda=0.001, huber_delta=0.1)


def batched_loss(embs):
  """The library: all pairs at once; embs float32 [N, T, D] -> scalar."""
  return alignment.compute_alignment_loss(
      embs, embs.shape[0], loss_type=LOSS_TYPE,
      similarity_type=SIMILARITY_TYPE, temperature=TEMPERATURE)


def forward_backward(loss_fn, jit_compile):
  """tf.function returning (loss, d loss / d embs) for embs [N, T, D]."""
  def step(embs):
    with tf.GradientTape() as tape:
      tape.watch(embs)
      loss = loss_fn(embs)
    return loss, tape.gradient(loss, embs)
  return tf.function(step, jit_compile=jit_compile)


def time_call(fn, embs):
  """Wall time in seconds of one call, results fetched to the host."""
  start = time.perf_counter()
  loss, grad = fn(embs)
  loss.numpy()
  grad.numpy()
  return time.perf_counter() - start


def benchmark(batch_size, num_frames, jit_compile, repetitions,
              run_baseline=True):
  """Median times (ms) of baseline and batched, alternated; checks agreement.

  Returns `(baseline_ms, batched_ms)`; baseline_ms is None when not run.
  """
  embs = tf.constant(np.random.default_rng(0).normal(
      size=(batch_size, num_frames, EMBEDDING_DIM)).astype(np.float32) * 0.1)
  ours = forward_backward(batched_loss, jit_compile)
  if not run_baseline:
    ours(embs)
    return None, 1e3 * statistics.median(
        [time_call(ours, embs) for _ in range(repetitions)])
  baseline = forward_backward(per_pair_loss, jit_compile)
  base_loss, base_grad = baseline(embs)
  our_loss, our_grad = ours(embs)
  np.testing.assert_allclose(our_loss.numpy(), base_loss.numpy(), rtol=1e-4)
  np.testing.assert_allclose(our_grad.numpy(), base_grad.numpy(), rtol=1e-2,
                             atol=1e-3 * np.abs(base_grad.numpy()).max())
  for _ in range(2):
    time_call(baseline, embs)
    time_call(ours, embs)
  base_times, our_times = [], []
  for _ in range(repetitions):
    base_times.append(time_call(baseline, embs))
    our_times.append(time_call(ours, embs))
  return 1e3 * statistics.median(base_times), 1e3 * statistics.median(our_times)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--quick', action='store_true',
                      help='fewer repetitions (a rough table in a minute)')
  parser.add_argument('--max_jit_baseline_pairs', type=int, default=300,
                      help='skip the XLA-compiled per-pair baseline above this '
                      'many pairs (compiling its unrolled graph of 992 pairs '
                      'takes over 5 minutes on 2 cores)')
  args = parser.parse_args()
  repetitions = 5 if args.quick else 30
  print(f'TCC loss forward+backward, D={EMBEDDING_DIM}, {LOSS_TYPE}, '
        f'{SIMILARITY_TYPE}, median of {repetitions} interleaved runs, '
        f'{os.cpu_count()} CPU cores, TF {tf.__version__}')
  header = (f'{"batch":>5} {"frames":>6} {"jit":>5} {"pairs":>5} '
            f'{"per-pair ms":>12} {"batched ms":>11} {"ratio":>7}')
  print(header)
  print('-' * len(header))
  for jit_compile in (False, True):
    for batch_size in BATCH_SIZES:
      for num_frames in NUM_FRAMES:
        num_pairs = batch_size * (batch_size - 1)
        base_ms, our_ms = benchmark(
            batch_size, num_frames, jit_compile, repetitions,
            run_baseline=(not jit_compile
                          or num_pairs <= args.max_jit_baseline_pairs))
        base_text = 'skipped' if base_ms is None else f'{base_ms:.2f}'
        ratio_text = '-' if base_ms is None else f'{base_ms / our_ms:.1f}x'
        print(f'{batch_size:>5} {num_frames:>6} {str(jit_compile):>5} '
              f'{num_pairs:>5} {base_text:>12} {our_ms:>11.2f} '
              f'{ratio_text:>7}', flush=True)


if __name__ == '__main__':
  main()
