r"""Trains an embedder with one of the algorithms of `algos/`.

    python train.py                                  # the CPU demo
    python train.py --logdir /tmp/pouring \
        --config_path configs/published/pouring.yml --override TRAIN.BATCH_SIZE=4

Which configuration a run uses:
- with --config_path: the defaults, then those YAML files, then --override;
- otherwise, when <logdir>/config.yml exists (a restart): that file, then
  --override (so `--override TRAIN.MAX_ITERS=...` extends a finished run);
- otherwise: the defaults, then --override.
The result is written to <logdir>/config.yml, which evaluate.py and the other
tools read. Training resumes from the latest checkpoint in the logdir.

The command line over `runners.training.train`.
"""

from utils import cli  # first: quiets TensorFlow's start-up

import time  # pylint: disable=g-bad-import-order

from absl import app
from absl import flags

from config import CONFIG
from runners.training import NonFiniteLossError
from runners.training import run_summary
from runners.training import train
from utils import console

FLAGS = flags.FLAGS


def define_flags():
  """Defines the flags; only when run as a script, so other tools can import
  this module beside their own flags."""
  flags.DEFINE_string('logdir', None, 'Directory for checkpoints, summaries and '
                      'config.yml; default CONFIG.LOGDIR.')
  flags.DEFINE_string('config_path', '', 'Comma-separated YAML config files, '
                      'merged left to right.')
  flags.DEFINE_multi_string('override', [], 'KEY.SUB=VALUE config overrides, '
                            'applied after the YAML files (repeatable).')


@cli.fails_on(NonFiniteLossError, ValueError)
def main(argv):
  """Trains with the flags' settings, then prints `run_summary`.

  Args:
    argv: absl's argv; nothing beyond the program name.
  """
  console.start()
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  start = time.time()
  result = train(FLAGS.logdir, FLAGS.config_path, FLAGS.override)
  print(run_summary(CONFIG.LOGDIR, result['step'], CONFIG.TRAIN.MAX_ITERS,
                    time.time() - start), flush=True)


if __name__ == '__main__':
  cli.run(main, define_flags)
