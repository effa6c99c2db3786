"""The published TCC configuration: every key loads with its published value,
and configs/published/pouring.yml and configs/published/penn_action.yml reproduce it."""

import json
import os

import pytest
import yaml

import config
import datasets

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every key of the published config.py, flattened, with its default (the
# paper's Pouring setup).
with open(os.path.join(REPO, 'tests', 'data', 'published_tcc_config.json')) as f:
  PUBLISHED = json.load(f)['keys']
# Keys a setup file may set to local values: paths, logging, checkpointing.
LOCAL_KEYS = ('LOGDIR', 'PATH_TO_TFRECORDS', 'MODEL.RESNET_PRETRAINED_WEIGHTS')
# The Penn Action actions, named as in the published code.
PENN_ACTION_ACTIONS = (
    'baseball_pitch', 'baseball_swing', 'bench_press', 'bowling',
    'clean_and_jerk', 'golf_swing', 'jumping_jacks', 'pushups', 'pullups',
    'situp', 'squats', 'tennis_forehand', 'tennis_serve')
# This project's keys that change the published model; setup files turn
# them off.
VARIANT_KEYS = {'MODEL.CONV_EMBEDDER_MODEL.FC_BATCH_NORM': False,
                'SAL.FC_BATCH_NORM': False}


def _get(cfg, key):
  for part in key.split('.'):
    cfg = cfg[part]
  return config.to_plain(cfg)


def _nested(flat):
  nested = {}
  for key, value in flat.items():
    *sections, leaf = key.split('.')
    node = nested
    for section in sections:
      node = node.setdefault(section, {})
    node[leaf] = value
  return nested


def _shared_key_differences(path, exceptions):
  cfg = config.load_config([os.path.join(REPO, 'configs', path)])
  return {key: (_get(cfg, key), value) for key, value in PUBLISHED.items()
          if key not in exceptions and not key.startswith(
              ('LOGGING.', 'CHECKPOINT.')) and _get(cfg, key) != value}


def test_every_published_key_loads_with_its_published_value(tmp_path):
  published = PUBLISHED
  for key, value in published.items():
    cfg = config.load_config(overrides=['%s=%s' % (key, json.dumps(value))])
    assert _get(cfg, key) == value, key
  # All of them at once, as a YAML file of the published layout.
  path = tmp_path / 'published.yml'
  path.write_text(yaml.safe_dump(_nested(published)))
  cfg = config.load_config([str(path)])
  assert {key: _get(cfg, key) for key in published} == published


def test_pouring_yml_is_the_published_pouring_setup():
  assert _shared_key_differences('pouring.yml', LOCAL_KEYS) == {}
  cfg = config.load_config([os.path.join(REPO, 'configs', 'published', 'pouring.yml')])
  for key, value in VARIANT_KEYS.items():
    assert _get(cfg, key) == value, key


def test_penn_action_yml_is_the_published_setup_with_its_protocol():
  exceptions = LOCAL_KEYS + ('DATASETS', 'EVAL.KENDALLS_TAU_STRIDE')
  assert _shared_key_differences('penn_action.yml', exceptions) == {}
  path = os.path.join(REPO, 'configs', 'published', 'penn_action.yml')
  cfg = config.load_config([path])
  assert cfg.EVAL.KENDALLS_TAU_STRIDE == 2
  assert len(cfg.DATASETS) == 1 and cfg.DATASETS[0] in PENN_ACTION_ACTIONS
  for key, value in VARIANT_KEYS.items():
    assert _get(cfg, key) == value, key
  text = open(path).read()
  assert all(name in text for name in PENN_ACTION_ACTIONS)


def test_demo_yml_is_the_published_demo():
  """Published demo: the defaults with a short run at 112 px on 5 frames."""
  demo_changes = {'IMAGE_SIZE': 112, 'TRAIN.MAX_ITERS': 10,
                  'TRAIN.NUM_FRAMES': 5, 'DATA.SAMPLE_ALL_STRIDE': 20,
                  'EVAL.CLASSIFICATION_FRACTIONS': [0.1],
                  'EVAL.FEW_SHOT_NUM_LABELED': [1], 'EVAL.VAL_ITERS': 10,
                  'LOGDIR': '/tmp/alignment_logs'}
  cfg = config.load_config([os.path.join(REPO, 'configs', 'published', 'demo.yml')])
  expected = dict(PUBLISHED, **demo_changes)
  assert {key: _get(cfg, key) for key in expected} == expected
  for key, value in VARIANT_KEYS.items():
    assert _get(cfg, key) == value, key


def test_renamed_and_dropped_keys_point_to_the_published_ones():
  with pytest.raises(config.ConfigError, match='DATA.STRIDE_STEPS.*DATA.STRIDE'):
    config.load_config(overrides=['DATA.STRIDE_STEPS=15'])
  with pytest.raises(config.ConfigError, match='ALIGNMENT.NUM_CYCLES'):
    config.load_config(overrides=['ALIGNMENT.NUM_CYCLES=20'])


@pytest.mark.parametrize('per_class', [False, True])
def test_per_class_finds_every_file_of_the_split(tmp_path, per_class):
  """PER_CLASS: '<dir>/*<split>*' (e.g. one shard set per class)."""
  for name in ('golf_swing_train-00000-of-00001.tfrecord',
               'squats_train-00000-of-00001.tfrecord',
               'squats_val-00000-of-00001.tfrecord', 'dataset_info.json'):
    (tmp_path / name).write_bytes(b'')
  config.load_config(overrides=['PATH_TO_TFRECORDS=%s' % tmp_path,
                                'DATA.PER_CLASS=%s' % str(per_class).lower()])
  paths = [os.path.basename(p) for p in
           datasets.split_tfrecord_paths('squats', 'train')]
  if per_class:
    assert paths == ['golf_swing_train-00000-of-00001.tfrecord',
                     'squats_train-00000-of-00001.tfrecord']
  else:
    assert paths == ['squats_train-00000-of-00001.tfrecord']
  assert datasets.dataset_directory('squats') == str(tmp_path)
