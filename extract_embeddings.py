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

from evaluation.embeddings import extract
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
