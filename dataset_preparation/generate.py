"""Generates the synthetic datasets a config names; the only code that does.

Reading data never writes it: `train.py` and `demo.py` call
`ensure_generated(cfg)` before they read, and this command does the same
for a config without training:

    python -m dataset_preparation.generate --config_path configs/demo/crw_demo.yml

A synthetic dataset (a name in DATASETS starting with 'synthetic') is
(re)generated into `config.tfrecords_dir(name)` when its train or val split
is missing, or when it was generated with other SYNTHETIC.* /
SYNTHETIC_OBJECTS.* parameters; other datasets are left alone.
"""

import glob
import os

from absl import flags

from utils import cli  # first: quiets TensorFlow's start-up
import config
from dataset_preparation import synthetic
from dataset_preparation import synthetic_objects
from dataset_preparation import tfrecord_io
from utils import console


def synthetic_params(cfg):
  """The `synthetic.generate_dataset` keyword arguments set by `cfg`."""
  syn = cfg.SYNTHETIC
  params = {'num_train': syn.NUM_TRAIN_VIDEOS, 'num_val': syn.NUM_VAL_VIDEOS,
            'image_size': cfg.IMAGE_SIZE, 'min_frames': syn.MIN_FRAMES,
            'max_frames': syn.MAX_FRAMES, 'num_views': syn.NUM_VIEWS,
            'seed': syn.SEED, 'variation': float(syn.VARIATION),
            'mirror': syn.MIRROR}
  if syn.TIME_SYMMETRIC:
    params['time_symmetric'] = True
  return params


def _has_split(directory, dataset, split):
  return bool(glob.glob(os.path.join(directory, '%s_%s*' % (dataset, split))))


def ensure_dataset(dataset, cfg):
  """Generates the synthetic `dataset` from `cfg` when missing or stale.

  Args:
    dataset: a dataset name.
    cfg: the config (CONFIG or one from `config.build_config`).

  Returns:
    the dataset's TFRecords directory.
  """
  directory = config.tfrecords_dir(dataset, cfg)
  if dataset.startswith('synthetic_objects'):
    objects = cfg.SYNTHETIC_OBJECTS
    return synthetic_objects.ensure_generated(
        directory, dataset, num_train=objects.NUM_TRAIN_VIDEOS,
        num_val=objects.NUM_VAL_VIDEOS, frame_size=objects.FRAME_SIZE,
        num_frames=objects.NUM_FRAMES, max_objects=objects.MAX_OBJECTS,
        seed=objects.SEED, set_name=objects.SET)
  if not dataset.startswith('synthetic'):
    return directory
  params = synthetic_params(cfg)
  stored = tfrecord_io.read_dataset_info(directory).get('generator')
  if (_has_split(directory, dataset, 'train') and
      _has_split(directory, dataset, 'val') and
      stored == dict(params, version=synthetic.RENDER_VERSION)):
    return directory
  console.info('Generating the synthetic dataset %r in %s (%s).', dataset,
               directory, ', '.join('%s=%s' % kv for kv in params.items()))
  synthetic.generate_dataset(directory, dataset_name=dataset, **params)
  return directory


def ensure_generated(cfg):
  """`ensure_dataset` for every dataset of `cfg.DATASETS`."""
  return {dataset: ensure_dataset(dataset, cfg) for dataset in cfg.DATASETS}


FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags (only when run as a script)."""
  flags.DEFINE_list('config_path', None, 'Config YAML file(s), merged left '
                    'to right over the defaults.')
  flags.DEFINE_multi_string('override', None, 'KEY.SUB=VALUE overrides.')


@cli.fails_on(ValueError)
def main(argv):
  """Takes absl's argv (unused); generates and prints the datasets' dirs."""
  del argv
  cfg = config.build_config(FLAGS.config_path or (), FLAGS.override or ())
  for dataset, directory in ensure_generated(cfg).items():
    print('%s: %s' % (dataset, directory))


if __name__ == '__main__':
  cli.run(main, define_flags)
