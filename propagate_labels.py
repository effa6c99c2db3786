r"""Propagates first-frame masks (and keypoints) through DAVIS-format videos.

    # With a trained model (its logdir), on a DAVIS-layout folder:
    python propagate_labels.py --logdir /tmp/crw --davis_root /data/DAVIS \
        --split val --output_dir /tmp/crw_masks
    # The raw-colour baseline, no model:
    python propagate_labels.py --features pixels --davis_root /data/DAVIS \
        --output_dir /tmp/pixel_masks

Writes palette PNGs `<output_dir>/<sequence>/<frame>.png` (the layout the
DAVIS-2017 evaluation reads) and prints the J&F table; --no_score skips
scoring (sequences whose later frames have no annotation).
"""

from utils import quiet_tf  # first: quiets TensorFlow's start-up

import json
import os

from absl import app
from absl import flags
from absl import logging

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


def propagate_labels(logdir, features, davis_root, split, output_dir,
                     overrides=(), score=True):
  """Runs propagation over a split; returns the DAVIS summary (or {}).

  Args:
    logdir: training logdir (features 'model'); None for 'pixels'.
    features: 'model' or 'pixels'.
    davis_root: DAVIS-layout folder or None (config default).
    split: split name or None (config default).
    output_dir: where masks go (None: not written).
    overrides: config overrides applied on top of the logdir's config (of
      the defaults for 'pixels'); the caller's CONFIG is not changed.
    score: whether to score against the annotations.
  """
  import config  # pylint: disable=g-import-not-at-top
  from evaluation import label_propagation  # pylint: disable=g-import-not-at-top
  if features == 'model':
    if not logdir:
      raise ValueError('--features model needs --logdir (a training logdir).')
    import algos  # pylint: disable=g-import-not-at-top
    algo, step, run_config = algos.restore_algo(logdir, overrides=overrides)
    base_model = algo.base_model
    logging.info('Features of %s at step %d.', logdir, step)
  else:
    run_config = config.build_config((), overrides)
    base_model = None
  # The features and the propagation settings read CONFIG: the run's (the
  # defaults plus overrides for 'pixels'), for this call only.
  with config.use_config(run_config):
    return _propagate_split(
        label_propagation.feature_fn_from_config(base_model), davis_root,
        split, output_dir, score)


def _propagate_split(feature_fn, davis_root, split, output_dir, score):
  """`propagate_labels` once the features are chosen; reads CONFIG."""
  from config import CONFIG  # pylint: disable=g-import-not-at-top
  from correspondence import davis_io  # pylint: disable=g-import-not-at-top
  from correspondence import evaluate  # pylint: disable=g-import-not-at-top
  from correspondence import propagation  # pylint: disable=g-import-not-at-top
  from evaluation import label_propagation  # pylint: disable=g-import-not-at-top
  root = davis_root or label_propagation.davis_root_from_config()
  split = split or CONFIG.PROPAGATION.SPLIT
  args = label_propagation.propagation_args_from_config()
  if score:
    return evaluate.evaluate_davis_root(feature_fn, root, split, output_dir,
                                        log=logging.info, **args)
  for name in davis_io.list_sequences(root, split):
    frames = davis_io.read_frames(root, name)
    first = davis_io.read_annotations(root, name, first_only=True)[0]
    masks = propagation.propagate_mask(feature_fn(frames), first,
                                       first.shape, **args)
    if output_dir:
      davis_io.write_masks(output_dir, name, davis_io.frame_paths(root, name),
                           masks)
    logging.info('%s: %d frames propagated.', name, len(frames))
  return {}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  try:
    summary = propagate_labels(FLAGS.logdir, FLAGS.features, FLAGS.davis_root,
                               FLAGS.split, FLAGS.output_dir, FLAGS.override,
                               FLAGS.score)
  except ValueError as e:
    quiet_tf.fail(e)
  if summary:
    summary.pop('per_object')
    print(json.dumps({k: round(v, 4) for k, v in summary.items()}, indent=1))
  if FLAGS.output_dir:
    print('Masks written to %s' % os.path.abspath(FLAGS.output_dir))


if __name__ == '__main__':
  define_flags()
  flags.adopt_module_key_flags(quiet_tf)
  app.run(main)
