r"""Evaluates the checkpoints of a training run.

    python evaluate.py --logdir /tmp/tcc_logs/demo            # follow training
    python evaluate.py --logdir /tmp/tcc_logs/demo --once     # latest only
    python evaluate.py --logdir DIR --checkpoint DIR/ckpt-500

The model and data settings come from `<logdir>/config.yml`, written by
train.py. For each checkpoint, the embeddings of the train and val splits of
every dataset in DATASETS are computed once and shared by the tasks of
EVAL.TASKS. Results go to:

- `<logdir>/eval/results.jsonl`: one JSON object per checkpoint and line,
  with `step`, `checkpoint`, `time` (ISO 8601), `eval_seconds`, `protocol`
  (DATA.PROTOCOL and the datasets, e.g. 'per_class: golf_swing') and every
  metric as `<task>/<metric>` (prefixed `<dataset>/` when DATASETS has
  several entries); undefined values (NaN) are written as null. A checkpoint
  already in this file is not evaluated again.
- TensorBoard scalars under `<logdir>/eval`.
- `<logdir>/eval/similarity_step<N>.png` (frame similarity of the first two
  validation videos, with the nearest-neighbour path) and
  `<logdir>/eval/classification_step<N>.png` (accuracy against the fraction
  of labeled videos).

Label-based tasks (classification, few_shot_classification,
event_completion) use only the videos that have per-frame labels, and are
skipped with one message when fewer than 2 training videos are labelled,
their labels show fewer than 2 classes, or no validation video is labelled
(docs/tcc.md).

In the default --continuous mode the tool polls the logdir every
EVAL.POLL_INTERVAL seconds and evaluates each new checkpoint once, oldest
first. A checkpoint that training deleted (CheckpointManager rotation) or is
still writing is skipped with a message and retried while it is listed. It
stops when training is finished (a checkpoint of step >= TRAIN.MAX_ITERS was
evaluated, or a file `<logdir>/DONE` exists and every checkpoint is scored),
after --max_checkpoints evaluations, or after EVAL.TIMEOUT seconds (or
--timeout) without a new checkpoint.

The command line over `runners.evaluation`.
"""

from utils import cli  # first: quiets TensorFlow's start-up

import os  # pylint: disable=g-bad-import-order

from absl import app
from absl import flags

from runners.evaluation import CheckpointUnavailable
from runners.evaluation import EVAL_DIRNAME
from runners.evaluation import evaluate_continuously
from runners.evaluation import evaluate_once
from runners.evaluation import format_table
from runners.evaluation import results_path
from utils import console

# The full log of every evaluate.py session, in EVAL_DIRNAME (appended).
LOG_FILENAME = 'evaluate.log'

FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags.

  Called only when the file runs as a script, so that importing this module
  next to other tools never defines a flag twice.
  """
  flags.DEFINE_string('logdir', None, 'The --logdir of train.py.')
  flags.DEFINE_bool('continuous', True,
                    'Follow training and evaluate every new checkpoint once.')
  flags.DEFINE_bool('once', False, 'Evaluate the latest checkpoint and exit.')
  flags.DEFINE_string('checkpoint', None,
                      'Evaluate this checkpoint (e.g. LOGDIR/ckpt-500) and '
                      'exit.')
  flags.DEFINE_integer('max_checkpoints', None,
                       'Continuous mode: stop after this many evaluations.')
  flags.DEFINE_float('timeout', None,
                     'Continuous mode: stop after this many seconds without a '
                     'new checkpoint (default EVAL.TIMEOUT).')
  flags.DEFINE_multi_string('override', [],
                            'KEY.SUB=VALUE applied on top of config.yml, for '
                            'EVAL.* keys or PATH_TO_TFRECORDS (not the model).')
  flags.DEFINE_bool('force', False,
                    'Evaluate again a checkpoint already in results.jsonl.')


@cli.fails_on(CheckpointUnavailable, ValueError)
def main(argv):
  """Evaluates as the flags say and prints the table or the count.

  Args:
    argv: absl's argv; nothing beyond the program name.
  """
  console.start()
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  if not FLAGS.logdir:
    raise app.UsageError('--logdir is required (the --logdir of train.py).')
  # No log file (and no directories made) for a logdir that is not there.
  log_path = (os.path.join(FLAGS.logdir, EVAL_DIRNAME, LOG_FILENAME)
              if os.path.isdir(FLAGS.logdir) else None)
  with console.log_file(log_path):
    if FLAGS.once or FLAGS.checkpoint or not FLAGS.continuous:
      record = evaluate_once(FLAGS.logdir, FLAGS.checkpoint, FLAGS.override,
                             FLAGS.force)
      print(format_table(record))
    else:
      records = evaluate_continuously(
          FLAGS.logdir, FLAGS.max_checkpoints, FLAGS.timeout,
          overrides=FLAGS.override)
      print('evaluated %d checkpoint(s); results in %s' % (
          len(records), results_path(FLAGS.logdir)))


if __name__ == '__main__':
  cli.run(main, define_flags)
