r"""Pictures of label propagation and feature correspondence for one sequence.

    python visualize_correspondence.py --logdir /tmp/crw \
        --sequence synthetic_objects_val_0000 --output_dir /tmp/pictures
    python visualize_correspondence.py --features pixels --davis_root DIR \
        --sequence bear --query_point 40,60 --target_frame 10 --output_dir out

Writes `<sequence>_propagation.png` (propagated masks over evenly spaced
frames; the annotation below when it exists) and `<sequence>_affinity.png`
(a query point on the first frame, and the affinity of its feature cell over
the target frame with the top-5 cells outlined).
"""

from utils import quiet_tf  # first: quiets TensorFlow's start-up

import os

from absl import app
from absl import flags
import numpy as np

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


def visualize_sequence(feature_fn, root, sequence, output_dir, query_point,
                       target_frame, propagation_args):
  """Writes the two pictures; returns their paths.

  Args:
    feature_fn: uint8 frames [T, H, W, 3] -> features [T, h, w, C].
    root: DAVIS-layout folder.
    sequence: its name.
    output_dir: destination folder.
    query_point: (y, x) on frame 0, or None for the centre of object 1.
    target_frame: frame index of the affinity picture.
    propagation_args: num_context, topk, radius, temperature.
  """
  from correspondence import davis_io  # pylint: disable=g-import-not-at-top
  from correspondence import propagation  # pylint: disable=g-import-not-at-top
  from correspondence import visualize  # pylint: disable=g-import-not-at-top
  frames = davis_io.read_frames(root, sequence)
  first = davis_io.read_annotations(root, sequence, first_only=True)[0]
  try:
    annotated = davis_io.read_annotations(root, sequence)
  except ValueError:
    annotated = None
  feats = np.asarray(feature_fn(frames))
  predicted = propagation.propagate_mask(feats, first, first.shape,
                                         **propagation_args)
  strip_path = os.path.join(output_dir, sequence + '_propagation.png')
  visualize.write_png(strip_path, visualize.propagation_strip(
      frames, predicted, annotated))
  if query_point is None:
    ys, xs = np.nonzero(first == 1) if (first == 1).any() else (
        [first.shape[0] // 2], [first.shape[1] // 2])
    query_point = (int(np.mean(ys)), int(np.mean(xs)))
  affinity_path = os.path.join(output_dir, sequence + '_affinity.png')
  visualize.write_png(affinity_path, visualize.affinity_figure(
      frames[0], frames[target_frame], feats[0], feats[target_frame],
      query_point, propagation_args['temperature']))
  return strip_path, affinity_path


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  import config  # pylint: disable=g-import-not-at-top
  from correspondence import davis_io  # pylint: disable=g-import-not-at-top
  from evaluation import label_propagation  # pylint: disable=g-import-not-at-top
  try:
    if FLAGS.features == 'model':
      if not FLAGS.logdir:
        raise ValueError('--features model needs --logdir.')
      import algos  # pylint: disable=g-import-not-at-top
      algo, _, run_config = algos.restore_algo(FLAGS.logdir,
                                               overrides=FLAGS.override)
      base_model = algo.base_model
    else:
      # No run: the defaults.
      run_config = config.build_config((), FLAGS.override)
      base_model = None
    # The features and the propagation settings read CONFIG: the run's.
    with config.use_config(run_config):
      feature_fn = label_propagation.feature_fn_from_config(base_model)
      root = FLAGS.davis_root or label_propagation.davis_root_from_config()
      sequence = FLAGS.sequence or davis_io.list_sequences(root,
                                                           FLAGS.split)[0]
      query = (tuple(int(v) for v in FLAGS.query_point.split(','))
               if FLAGS.query_point else None)
      paths = visualize_sequence(
          feature_fn, root, sequence, FLAGS.output_dir, query,
          FLAGS.target_frame,
          label_propagation.propagation_args_from_config())
  except ValueError as e:
    quiet_tf.fail(e)
  print('Wrote %s' % ', '.join(paths))


if __name__ == '__main__':
  define_flags()
  flags.adopt_module_key_flags(quiet_tf)
  app.run(main)
