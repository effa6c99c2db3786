r"""Per-frame embeddings of every video of a split, to .npz or .npy.

    python extract_embeddings.py --logdir /tmp/tcc_logs/demo --split val \
        --output /tmp/val_embs.npz [--keep_frames] [--checkpoint ...] \
        [--stride 5] [--override PATH_TO_TFRECORDS=/data/%s_tfrecords/]

Every `DATA.SAMPLE_ALL_STRIDE`-th frame (--stride) is embedded with the model
of the checkpoint (default: the latest in --logdir), as `evaluate.py` does:
only the frames embedded (and their context frames) are decoded, a chunk of
EVAL.FRAMES_PER_BATCH at a time, so long videos fit in memory.

The file formats (.npz, and .npy as the published code writes it) are
described in evaluation/embeddings.py, which reads and writes them.

Files are written under a temporary name and renamed, so a crash never
leaves a partial file at --output.
"""

from utils import cli  # first: quiets TensorFlow's start-up

from absl import app  # pylint: disable=g-bad-import-order
from absl import flags
import tensorflow as tf

import algos
import config
from evaluation.embeddings import check_extension
from evaluation.embeddings import embed_split
from evaluation.embeddings import save_embeddings
from utils import console


FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags.

  Called only when the file runs as a script, so that importing this module
  next to other tools never defines a flag twice.
  """
  flags.DEFINE_string('logdir', None, 'The --logdir of train.py.')
  flags.DEFINE_string('checkpoint', None,
                      'Checkpoint prefix (default: latest in --logdir).')
  flags.DEFINE_string('dataset', None,
                      'Dataset name (default: the first of DATASETS).')
  flags.DEFINE_string('split', 'val', 'Split to embed.')
  flags.DEFINE_string('output', None,
                      'Output file: .npz (no pickle, recommended) or .npy '
                      '(pickled dict in the published TCC layout).')
  flags.DEFINE_bool('keep_frames', False,
                    'Also store the embedded frames, e.g. for '
                    'visualize_alignment.py.')
  flags.DEFINE_integer('stride', None,
                       'Embed every N-th frame (DATA.SAMPLE_ALL_STRIDE; '
                       'default: that of config.yml).')
  flags.DEFINE_multi_string('override', [],
                            'KEY.SUB=VALUE applied on top of config.yml '
                            '(repeatable), e.g. PATH_TO_TFRECORDS or '
                            'EVAL.FRAMES_PER_BATCH; not the model.')


def extract(logdir, dataset, split, output, checkpoint=None,
            keep_frames=False, stride=None, overrides=()):
  """Embeds every video of a split with a trained model and writes `output`.

  Args:
    logdir: the --logdir of train.py (its config.yml defines the model).
    dataset: dataset name; None for the first of DATASETS.
    split: 'train', 'val', ...
    output: path ending in .npz or .npy.
    checkpoint: checkpoint prefix; None for the latest in `logdir`.
    keep_frames: also store the embedded frames.
    stride: embed every `stride`-th frame (DATA.SAMPLE_ALL_STRIDE); None
      keeps that of config.yml (and `overrides`).
    overrides: 'KEY.SUB=VALUE' strings applied on top of config.yml after
      the model is restored (data paths, strides, EVAL.FRAMES_PER_BATCH).

  Returns:
    `output`.
  """
  check_extension(output)
  if stride is not None and stride < 1:
    raise ValueError('--stride must be >= 1, got %d.' % stride)
  checkpoint = checkpoint or tf.train.latest_checkpoint(logdir)
  if checkpoint is None:
    raise ValueError('%s: no checkpoint in this logdir; train first or pass '
                     '--checkpoint.' % logdir)
  algo, step, run_config = algos.restore_algo(logdir, checkpoint, overrides)
  if stride is not None:
    run_config.DATA.SAMPLE_ALL_STRIDE = stride
  dataset = dataset or run_config.DATASETS[0]
  console.info('Embedding %s/%s with %s (step %d), every %d-th frame.',
               dataset, split, checkpoint, step,
               run_config.DATA.SAMPLE_ALL_STRIDE)
  # The embedding and the data read CONFIG: the run's, for this call only.
  with config.use_config(run_config):
    data = embed_split(algo, dataset, split, run_config,
                       keep_frames=keep_frames)
  data['step'] = step
  data['checkpoint'] = checkpoint
  save_embeddings(data, output)
  console.info('Wrote %d videos (%d embeddings of size %d) to %s.',
               len(data['embs']), sum(len(e) for e in data['embs']),
               data['embs'][0].shape[1] if data['embs'] else 0, output)
  return output


@cli.fails_on(ValueError)
def main(argv):
  console.start()
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  if not FLAGS.logdir or not FLAGS.output:
    raise app.UsageError('--logdir and --output are required.')
  extract(FLAGS.logdir, FLAGS.dataset, FLAGS.split, FLAGS.output,
          FLAGS.checkpoint, FLAGS.keep_frames, FLAGS.stride,
          FLAGS.override)


if __name__ == '__main__':
  cli.run(main, define_flags)
