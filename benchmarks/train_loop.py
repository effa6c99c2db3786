r"""Steps/s of train.py's in-graph loop against one step per call.

Runs `train.train()` with TRAIN.STEPS_PER_LOOP = 1 (one step per tf.function
call, as before the in-graph loop) and with larger values, interleaved
(A, B, C, A, B, C, ...) so that a shared machine's load hits every setting
alike. Each run trains --steps steps into a fresh temporary logdir; the
throughput is train()'s own `steps_per_s` (wall time after the first loop,
which traces; summaries and float conversions included). The input is one
fixed in-memory batch, repeated, so the numbers measure the loop and not the
input pipeline. Prints a table of the median steps/s per setting and its
ratio to STEPS_PER_LOOP=1.

Usage:
  python -m benchmarks.train_loop [--model demo|tiny] [--steps 60]
      [--loops 1,10,50] [--rounds 2] [--override KEY=VALUE ...]

`demo` is the default config (64 px, SmallCNN, batch 4 x 20 frames); `tiny`
is a 32 px model whose step is short, so the per-step host overhead shows.
"""

import os
import tempfile

from absl import app
from absl import flags
import numpy as np


import algos
from config import CONFIG
import tensorflow as tf
from runners import training
import train

flags.DEFINE_enum('model', 'demo', ['demo', 'tiny'], 'Model size.')
flags.DEFINE_integer('steps', 60, 'Training steps per run.')
flags.DEFINE_string('loops', '1,10,50', 'STEPS_PER_LOOP values to compare.')
flags.DEFINE_integer('rounds', 2, 'Runs per setting (interleaved).')
flags.DEFINE_multi_string('override', [], 'KEY.SUB=VALUE config overrides.')
FLAGS = flags.FLAGS

TINY = [
    'IMAGE_SIZE=32', 'TRAIN.BATCH_SIZE=2', 'TRAIN.NUM_FRAMES=4',
    'MODEL.BASE_MODEL.SMALL_CNN_FILTERS=[8, 16]',
    'MODEL.CONV_EMBEDDER_MODEL.CONV_LAYERS=[[8, 3, true]]',
    'MODEL.CONV_EMBEDDER_MODEL.FC_LAYERS=[[8, true]]',
    'MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE=8',
]
# No checkpoints, reports or images inside the timed steps.
QUIET = ['CHECKPOINT.SAVE_INTERVAL=100000', 'LOGGING.REPORT_INTERVAL=100000',
         'TRAIN.VISUALIZE_INTERVAL=0']


def in_memory_dataset(split, mode='train', batch_spec=None,
                      input_context=None):
  """One random batch with the layout of the training batches, repeated."""
  del split, mode, batch_spec
  batch_size = CONFIG.TRAIN.BATCH_SIZE
  if input_context is not None:
    batch_size = input_context.get_per_replica_batch_size(batch_size)
  num_steps = algos.num_steps_per_batch()
  size = CONFIG.IMAGE_SIZE
  rng = np.random.default_rng(0)
  batch = {
      'frames': rng.uniform(-1, 1, [batch_size, num_steps *
                                    CONFIG.DATA.NUM_STEPS, size, size,
                                    3]).astype(np.float32),
      'steps': np.sort(rng.choice(100, [batch_size, num_steps]), 1).astype(
          np.int32),
      'frame_labels': np.zeros([batch_size, num_steps], np.int32),
      'seq_lens': np.full([batch_size], 100, np.int32),
      'video_labels': np.zeros([batch_size], np.int32),
      'names': np.array([b'video'] * batch_size),
  }
  return tf.data.Dataset.from_tensors(batch).repeat()


def measure(steps_per_loop, num_steps, overrides):
  """steps/s of one train() run of `num_steps` steps."""
  with tempfile.TemporaryDirectory() as logdir:
    result = train.train(logdir, overrides=overrides + QUIET + [
        'TRAIN.STEPS_PER_LOOP=%d' % steps_per_loop], max_iters=num_steps)
  return result['steps_per_s']


def main(argv):
  del argv
  training.datasets.create_dataset = in_memory_dataset
  loops = [int(v) for v in FLAGS.loops.split(',')]
  overrides = (TINY if FLAGS.model == 'tiny' else []) + list(FLAGS.override)
  rates = {n: [] for n in loops}
  for _ in range(FLAGS.rounds):
    for n in loops:
      rates[n].append(measure(n, FLAGS.steps, overrides))
  print('model %s, %d steps per run, %d runs per setting, %d CPU threads'
        % (FLAGS.model, FLAGS.steps, FLAGS.rounds, os.cpu_count()))
  print('%-15s %-22s %s' % ('STEPS_PER_LOOP', 'steps/s (median; runs)',
                            'ratio to %d' % loops[0]))
  base = float(np.median(rates[loops[0]]))
  for n in loops:
    median = float(np.median(rates[n]))
    print('%-15d %-22s %.2fx' % (n, '%.2f (%s)' % (median, ', '.join(
        '%.2f' % r for r in rates[n])), median / base))


if __name__ == '__main__':
  app.run(main)
