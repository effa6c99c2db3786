r"""Propagates first-frame masks (and keypoints) through DAVIS-format videos.

    # With a trained model (its logdir), on a DAVIS-layout folder:
    python -m tools.propagate_labels --logdir /tmp/crw --davis_root /data/DAVIS \
        --split val --output_dir /tmp/crw_masks
    # The raw-colour baseline, no model:
    python -m tools.propagate_labels --features pixels --davis_root /data/DAVIS \
        --output_dir /tmp/pixel_masks

Writes palette PNGs `<output_dir>/<sequence>/<frame>.png` (the layout the
DAVIS-2017 evaluation reads) and prints the J&F table; --no_score skips
scoring (sequences whose later frames have no annotation).
"""

from utils import cli  # first: quiets TensorFlow's start-up

import json  # pylint: disable=g-bad-import-order
import os

from absl import app
from absl import flags

from evaluation.label_propagation import propagate_labels

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('logdir', None, 'Training logdir of the model whose '
                      'base network gives the features (with --features '
                      'model).')
  flags.DEFINE_enum('features', 'model', ['model', 'pixels'], 'model: the '
                    'trained base network; pixels: raw colours (baseline).')
  flags.DEFINE_string('davis_root', None, 'A DAVIS-layout folder; default '
                      'PROPAGATION.DAVIS_ROOT of the model config (or the '
                      'synthetic_objects copy).')
  flags.DEFINE_string('split', None, 'ImageSets/2017/<split>.txt; default '
                      'PROPAGATION.SPLIT.')
  flags.DEFINE_string('output_dir', None, 'Where to write predicted masks.')
  flags.DEFINE_multi_string('override', [], 'KEY.SUB=VALUE config overrides '
                            '(e.g. PROPAGATION.TOPK=5).')
  flags.DEFINE_bool('score', True, 'Score against Annotations/ (J&F, PCK).')


@cli.fails_on(ValueError)
def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  summary = propagate_labels(FLAGS.logdir, FLAGS.features, FLAGS.davis_root,
                             FLAGS.split, FLAGS.output_dir, FLAGS.override,
                             FLAGS.score)
  if summary:
    summary.pop('per_object')
    print(json.dumps({k: round(v, 4) for k, v in summary.items()}, indent=1))
  if FLAGS.output_dir:
    print('Masks written to %s' % os.path.abspath(FLAGS.output_dir))


if __name__ == '__main__':
  cli.run(main, define_flags)
