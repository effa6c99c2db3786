r"""Pictures of label propagation and feature correspondence for one sequence.

    python -m tools.visualize_correspondence --logdir /tmp/crw \
        --sequence synthetic_objects_val_0000 --output_dir /tmp/pictures
    python -m tools.visualize_correspondence --features pixels --davis_root DIR \
        --sequence bear --query_point 40,60 --target_frame 10 --output_dir out

Writes `<sequence>_propagation.png` (propagated masks over evenly spaced
frames; the annotation below when it exists) and `<sequence>_affinity.png`
(a query point on the first frame, and the affinity of its feature cell over
the target frame with the top-5 cells outlined).
"""

from utils import cli  # first: quiets TensorFlow's start-up

from absl import app  # pylint: disable=g-bad-import-order
from absl import flags

import algos
import config
from correspondence import davis_io
from evaluation import label_propagation
from visualization.correspondence import visualize_sequence

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('logdir', None, 'Training logdir (with --features '
                      'model).')
  flags.DEFINE_enum('features', 'model', ['model', 'pixels'], 'model: the '
                    'trained base network; pixels: raw colours.')
  flags.DEFINE_string('davis_root', None, 'DAVIS-layout folder; default '
                      'that of the config (synthetic_objects copy).')
  flags.DEFINE_string('sequence', None, 'Sequence name; default the first of '
                      'the split.')
  flags.DEFINE_string('split', 'val', 'ImageSets/2017/<split>.txt.')
  flags.DEFINE_string('query_point', None, 'y,x pixels on frame 0; default '
                      'the centre of object 1.')
  flags.DEFINE_integer('target_frame', -1, 'Frame of the affinity map '
                       '(negative: from the end).')
  flags.DEFINE_string('output_dir', None, 'Where to write the PNGs.')
  flags.DEFINE_multi_string('override', [], 'KEY.SUB=VALUE config overrides '
                            'on top of the run\'s config (e.g. '
                            'PROPAGATION.FRAME_SCALE=1).')
  flags.mark_flag_as_required('output_dir')


@cli.fails_on(ValueError)
def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  if FLAGS.features == 'model':
    if not FLAGS.logdir:
      raise ValueError('--features model needs --logdir.')
    algo, _, run_config = algos.restore_algo(FLAGS.logdir,
                                             overrides=FLAGS.override)
    base_model = algo.base_model
  else:
    # No run: the defaults.
    run_config = config.build_config((), FLAGS.override)
    base_model = None
  feature_fn = label_propagation.feature_fn_from_config(run_config,
                                                        base_model)
  root = FLAGS.davis_root or label_propagation.davis_root_from_config(
      run_config)
  sequence = FLAGS.sequence or davis_io.list_sequences(root, FLAGS.split)[0]
  query = (tuple(int(v) for v in FLAGS.query_point.split(','))
           if FLAGS.query_point else None)
  paths = visualize_sequence(
      feature_fn, root, sequence, FLAGS.output_dir, query,
      FLAGS.target_frame,
      label_propagation.propagation_args_from_config(run_config))
  print('Wrote %s' % ', '.join(paths))


if __name__ == '__main__':
  cli.run(main, define_flags)
