"""Training algorithms, keyed by CONFIG.TRAINING_ALGO.

    import algos
    algo = algos.get_algo()              # built from CONFIG
    algo, step, run_config = algos.restore_algo(logdir)
    with config.use_config(run_config):
      ...  # use algo
"""

import os

import tensorflow as tf

from algos.alignment import Alignment
from algos.base import Algorithm
from algos.classification import Classification
from algos.combined import AlignmentMVTCN
from algos.combined import AlignmentSaLTCN
from algos.combined import AlignmentSVTCN
from algos.crw import CRW
from algos.gta import GTA
from algos.lav import LAV
from algos.mvtcn import MVTCN
from algos.sal import SaL
from algos.scl import SCL
from algos.svtcn import SVTCN
from algos.tcn import TCN
from algos.timecycle import TimeCycle
import config
from config import CONFIG

ALGORITHMS = {
    'alignment': Alignment,
    'sal': SaL,
    'tcn': TCN,
    'alignment_sal_tcn': AlignmentSaLTCN,
    'classification': Classification,
    'mvtcn': MVTCN,
    'svtcn': SVTCN,
    'alignment_mvtcn': AlignmentMVTCN,
    'alignment_svtcn': AlignmentSVTCN,
    'lav': LAV,
    'scl': SCL,
    'gta': GTA,
    'crw': CRW,
    'timecycle': TimeCycle,
}

__all__ = ['ALGORITHMS', 'Algorithm', 'get_algo', 'get_batch_spec',
           'next_commands', 'num_steps_per_batch', 'register', 'restore_algo',
           'make_checkpoint']


def register(name, algorithm_class):
  """Makes `algorithm_class` the TRAINING_ALGO `name`.

  Its own config section (`config_section`, `config_defaults`), if it
  declares one, becomes keys of the config. Every entry of ALGORITHMS is
  registered when this module is imported.
  """
  if algorithm_class.config_defaults is not None:
    config.declare_section(algorithm_class.config_section,
                           algorithm_class.config_defaults)
  ALGORITHMS[name] = algorithm_class


for _name, _algorithm_class in list(ALGORITHMS.items()):
  register(_name, _algorithm_class)


def _algo_class(name):
  name = name or CONFIG.TRAINING_ALGO
  if name not in ALGORITHMS:
    raise ValueError('TRAINING_ALGO %r is unknown; known algorithms: %s.' %
                     (name, ', '.join(ALGORITHMS)))
  return ALGORITHMS[name]


def get_batch_spec(name=None):
  """The `sampling.BatchSpec` of algorithm `name` (default TRAINING_ALGO)."""
  return _algo_class(name).batch_spec


def next_commands(logdir, name=None):
  """Commands to run after training algorithm `name` into `logdir`."""
  return _algo_class(name).next_commands(logdir)


def num_steps_per_batch(name=None):
  """Sampled steps S per video in a training batch of algorithm `name`."""
  return get_batch_spec(name).steps_per_video(CONFIG.TRAIN.NUM_FRAMES)


def get_algo(name=None, pretrained_weights=None):
  """A new (unbuilt) algorithm built from CONFIG.

  Args:
    name: a key of ALGORITHMS; default CONFIG.TRAINING_ALGO.
    pretrained_weights: of the base CNN (see `models.get_base_model`);
      None: those of CONFIG, '': none.

  Raises:
    ValueError: unknown name (the message lists the known ones).
  """
  name = name or CONFIG.TRAINING_ALGO
  return _algo_class(name)(name=name, pretrained_weights=pretrained_weights)


def make_checkpoint(algo, optimizer=None, step=None):
  """The tf.train.Checkpoint layout shared by train.py and restore_algo."""
  objects = {'model': algo}
  if optimizer is not None:
    objects['optimizer'] = optimizer
  if step is not None:
    objects['step'] = step
  return tf.train.Checkpoint(**objects)


def restore_checkpoint(checkpoint, path, model, advice):
  """Restores `path` into `checkpoint`; a mismatch is one ValueError line.

  Args:
    checkpoint: a `make_checkpoint` checkpoint.
    path: checkpoint prefix, e.g. '<logdir>/ckpt-1000'.
    model: what the model was built from, for the message.
    advice: what to do about a mismatch, for the message.

  Raises:
    ValueError: '<path>: checkpoint does not match <model> (...); <advice>.'
  """
  try:
    status = checkpoint.restore(path)
    # Silences TensorFlow's unrestored-value warnings, which would bury the
    # error below; the assertion still raises on a mismatch.
    status.expect_partial()
    status.assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.OpError) as e:
    detail = str(e).strip().splitlines()[0][:200]
    raise ValueError('%s: checkpoint does not match %s (%s); %s.' % (
        path, model, detail, advice)) from None


def restore_algo(logdir, checkpoint_path=None, overrides=()):
  """Rebuilds the algorithm trained in `logdir` and restores a checkpoint.

  The model is built from <logdir>/config.yml, so it matches training. The
  caller's CONFIG is left exactly as it was: the algorithm's methods and the
  datasets read CONFIG when called, so use the algorithm under
  `config.use_config(run_config)`.

  Args:
    logdir: the --logdir of train.py.
    checkpoint_path: e.g. '<logdir>/ckpt-1000'; default the latest one.
    overrides: 'KEY.SUB=VALUE' strings applied to `run_config` after the
      model is built (data paths, EVAL.* keys); they cannot change the model.

  Returns:
    (algo, step, run_config): the built Algorithm, the training step (int)
    of the checkpoint, and a new EasyDict holding config.yml plus
    `overrides`.

  Raises:
    ValueError: no checkpoint, or a checkpoint of a different model.
    config.ConfigError: no config.yml in `logdir`, or a bad override.
  """
  run_config = config.read_config_from_logdir(logdir)
  if checkpoint_path is None:
    checkpoint_path = tf.train.latest_checkpoint(logdir)
    if checkpoint_path is None:
      raise ValueError('%s: no checkpoint (ckpt-N.index) in this logdir yet; '
                       'train first or wait for train.py to save one.' %
                       logdir)
  elif not tf.io.gfile.exists(checkpoint_path + '.index'):
    raise ValueError('%s: checkpoint not found (no %s.index); pass a path '
                     'like %s.' % (checkpoint_path, checkpoint_path,
                                   os.path.join(logdir, 'ckpt-N')))
  with config.use_config(run_config):
    # The checkpoint holds every weight: pretrained weights are not needed.
    algo = get_algo(pretrained_weights='')
    algo.build_all()
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    restore_checkpoint(make_checkpoint(algo, step=step), checkpoint_path,
                       'the model of %s/config.yml' % logdir,
                       'pass the logdir this checkpoint was trained in')
  for override in overrides:
    config.apply_override(override, run_config)
  return algo, int(step.numpy()), run_config
