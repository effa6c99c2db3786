r"""The embedded demo, end to end, on a CPU in minutes.

    python demo.py [--logdir demo_run] [--override KEY.SUB=VALUE ...]

1. generates the synthetic pouring dataset (first use only),
2. trains TCC with the default config (`runners.training.train`),
3. evaluates the last checkpoint on every task
   (`runners.evaluation.evaluate_once`),
4. extracts the validation embeddings (`evaluation.embeddings.extract`),
5. renders an alignment video (`alignment_viz.render_alignment`),
then prints the metrics and the paths of everything it wrote. Each step is
the importable body of one of the command-line tools, so the demo does
nothing they would not. Running it again resumes training from the logdir's
checkpoint (so a finished run is only evaluated and rendered again).
"""

from utils import cli  # first: quiets TensorFlow's start-up

import os  # pylint: disable=g-bad-import-order
import time

from absl import app
from absl import flags

from evaluation import embeddings as embeddings_io
from runners.evaluation import evaluate_once
from runners.evaluation import format_table
from runners.evaluation import results_path
from runners.training import train
from utils import console
from visualization import alignment as alignment_viz

FLAGS = flags.FLAGS
# The full log of every stage, in the logdir (appended); training's own part
# is in runners.training.LOG_FILENAME too.
LOG_FILENAME = 'demo.log'


def define_flags():
  flags.DEFINE_string('logdir', 'demo_run', 'Where everything is written.')
  flags.DEFINE_string('config_path', '', 'Comma-separated YAML config files '
                      '(default: none, i.e. the embedded demo).')
  flags.DEFINE_multi_string('override', [], 'KEY.SUB=VALUE config overrides.')


def run_demo(logdir, config_paths=(), overrides=()):
  """Runs the five stages; returns (metrics record, {what: path})."""
  timings = []

  def stage(name, fn, *args, **kwargs):
    print('==> %s' % name, flush=True)
    start = time.time()
    result = fn(*args, **kwargs)
    timings.append((name, time.time() - start))
    return result

  stage('training (data is generated on first use)', train, logdir,
        config_paths, overrides)
  record = stage('evaluating the last checkpoint', evaluate_once,
                 logdir)
  embs_path = os.path.join(logdir, 'val_embeddings.npy')
  stage('extracting validation embeddings', embeddings_io.extract,
        logdir, None, 'val', embs_path, keep_frames=True)
  video_path = os.path.join(logdir, 'alignment.mp4')
  similarity_path = os.path.join(logdir, 'alignment_similarity.png')
  data = embeddings_io.load_embeddings(embs_path)
  stage('rendering the alignment video', alignment_viz.render_alignment,
        data, video_path, reference=0, grid=True,
        candidates=list(range(1, min(len(data['embs']), 6))),
        similarity_path=similarity_path)

  print()
  print(format_table(record))
  print()
  for name, seconds in timings:
    print('%-45s %6.1f s' % (name, seconds))
  paths = {
      'checkpoints and config.yml': logdir,
      'TensorBoard (tensorboard --logdir)': logdir,
      'metrics (one JSON line per checkpoint)': results_path(logdir),
      'full log': os.path.join(logdir, LOG_FILENAME),
      'validation embeddings': embs_path,
      'alignment video': video_path,
      'similarity matrix': similarity_path,
  }
  print()
  for what, path in paths.items():
    print('%-40s %s' % (what, os.path.abspath(path)))
  return record, paths


@cli.fails_on(ValueError)
def main(argv):
  console.start()
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  with console.log_file(os.path.join(FLAGS.logdir, LOG_FILENAME)):
    run_demo(FLAGS.logdir, FLAGS.config_path, FLAGS.override)


if __name__ == '__main__':
  cli.run(main, define_flags)
