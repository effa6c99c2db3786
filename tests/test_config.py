"""Tests of config.py: defaults, YAML merging, overrides, errors, logdir."""

import os

import pytest
import yaml

import config
from config import CONFIG


def _write_yaml(tmp_path, name, values):
  path = tmp_path / name
  path.write_text(yaml.safe_dump(values))
  return str(path)


def test_defaults_have_every_spec_section():
  for section in ['TRAIN', 'EVAL', 'MODEL', 'ALIGNMENT', 'SAL', 'TCN',
                  'ALIGNMENT_SAL_TCN', 'CLASSIFICATION', 'OPTIMIZER', 'DATA',
                  'AUGMENTATION', 'LOGGING', 'CHECKPOINT']:
    assert isinstance(CONFIG[section], dict), section
  for key in ['LOGDIR', 'DATASETS', 'PATH_TO_TFRECORDS', 'TRAINING_ALGO',
              'IMAGE_SIZE']:
    assert key in CONFIG
  for key in ['BASE_MODEL', 'EMBEDDER_TYPE', 'CONV_EMBEDDER_MODEL',
              'CONVGRU_EMBEDDER_MODEL', 'TRAIN_BASE', 'L2_REG_WEIGHT']:
    assert key in CONFIG.MODEL
  assert 'LR' in CONFIG.OPTIMIZER


def test_yaml_files_merge_left_to_right(tmp_path):
  a = _write_yaml(tmp_path, 'a.yml', {'TRAIN': {'BATCH_SIZE': 8,
                                                 'NUM_FRAMES': 32},
                                       'TRAINING_ALGO': 'sal'})
  b = _write_yaml(tmp_path, 'b.yml', {'TRAIN': {'BATCH_SIZE': 2}})
  config.load_config(a + ',' + b)
  assert CONFIG.TRAIN.BATCH_SIZE == 2  # later file wins
  assert CONFIG.TRAIN.NUM_FRAMES == 32  # untouched by b
  assert CONFIG.TRAINING_ALGO == 'sal'
  # Keys neither file names keep their defaults.
  assert CONFIG.TRAIN.MAX_ITERS == config._DEFAULTS.TRAIN.MAX_ITERS


def test_overrides_apply_after_files_and_are_typed_like_yaml(tmp_path):
  a = _write_yaml(tmp_path, 'a.yml', {'TRAIN': {'BATCH_SIZE': 8}})
  config.load_config([a], ['TRAIN.BATCH_SIZE=3',
                           'OPTIMIZER.LR.INITIAL_LR=1e-4',
                           'DATASETS=[pouring, penn_action]',
                           'MODEL.CONV_EMBEDDER_MODEL.L2_NORMALIZE=true',
                           'ALIGNMENT.LOSS_TYPE=classification'])
  assert CONFIG.TRAIN.BATCH_SIZE == 3
  assert CONFIG.OPTIMIZER.LR.INITIAL_LR == pytest.approx(1e-4)
  assert isinstance(CONFIG.OPTIMIZER.LR.INITIAL_LR, float)
  assert CONFIG.DATASETS == ['pouring', 'penn_action']
  assert CONFIG.MODEL.CONV_EMBEDDER_MODEL.L2_NORMALIZE is True
  assert CONFIG.ALIGNMENT.LOSS_TYPE == 'classification'


def test_int_is_accepted_for_float_key():
  config.load_config(overrides=['OPTIMIZER.LR.INITIAL_LR=1'])
  assert CONFIG.OPTIMIZER.LR.INITIAL_LR == 1.0
  assert isinstance(CONFIG.OPTIMIZER.LR.INITIAL_LR, float)


def test_unknown_key_names_key_and_closest_known(tmp_path):
  with pytest.raises(config.ConfigError) as err:
    config.load_config(overrides=['TRAIN.BATCH_SIZ=4'])
  msg = str(err.value)
  assert 'TRAIN.BATCH_SIZ' in msg
  assert 'TRAIN.BATCH_SIZE' in msg
  assert '\n' not in msg

  bad = _write_yaml(tmp_path, 'bad.yml', {'ALIGNMENT': {'TEMPERATURE': 0.1}})
  with pytest.raises(config.ConfigError) as err:
    config.load_config([bad])
  msg = str(err.value)
  assert bad in msg and 'ALIGNMENT.TEMPERATURE' in msg
  assert 'ALIGNMENT.SOFTMAX_TEMPERATURE' in msg


def test_wrong_type_is_an_error():
  with pytest.raises(config.ConfigError, match='TRAIN.BATCH_SIZE'):
    config.load_config(overrides=['TRAIN.BATCH_SIZE=abc'])
  with pytest.raises(config.ConfigError, match='TRAIN.BATCH_SIZE'):
    config.load_config(overrides=['TRAIN.BATCH_SIZE=2.5'])
  with pytest.raises(config.ConfigError, match='DATASETS'):
    config.load_config(overrides=['DATASETS=7'])
  with pytest.raises(config.ConfigError, match='a section'):
    config.load_config(overrides=['TRAIN=3'])


def test_bad_override_syntax_and_missing_file(tmp_path):
  with pytest.raises(config.ConfigError, match='KEY.SUB=VALUE'):
    config.load_config(overrides=['TRAIN.BATCH_SIZE'])
  missing = str(tmp_path / 'nope.yml')
  with pytest.raises(config.ConfigError, match='nope.yml'):
    config.load_config([missing])


def test_failed_load_does_not_leak_into_next_load():
  with pytest.raises(config.ConfigError):
    config.load_config(overrides=['TRAIN.BATCH_SIZE=5', 'TRAIN.NOPE=1'])
  config.load_config()
  assert CONFIG.TRAIN.BATCH_SIZE == config._DEFAULTS.TRAIN.BATCH_SIZE


def test_round_trip_through_logdir(tmp_path):
  config.load_config(overrides=['TRAINING_ALGO=tcn', 'TRAIN.BATCH_SIZE=7',
                                'SAL.FC_LAYERS=[[32, true], [2, false]]',
                                'OPTIMIZER.LR.INITIAL_LR=0.0003'])
  saved = config.to_plain(CONFIG)
  logdir = str(tmp_path / 'run')
  path = config.save_config(logdir)
  assert path == os.path.join(logdir, 'config.yml')
  assert not [f for f in os.listdir(logdir) if f.endswith('.tmp')]

  config.reset_config()
  defaults = config.to_plain(CONFIG)
  assert CONFIG.TRAINING_ALGO != 'tcn'
  run_config = config.read_config_from_logdir(logdir)
  assert config.to_plain(run_config) == saved
  assert config.to_plain(CONFIG) == defaults  # Reading installs nothing.
  with_override = config.read_config_from_logdir(logdir, ['TRAIN.BATCH_SIZE=3'])
  assert (with_override.TRAINING_ALGO, with_override.TRAIN.BATCH_SIZE) == (
      'tcn', 3)
  assert run_config.TRAIN.BATCH_SIZE == 7


def test_old_logdir_config_with_removed_keys_at_their_old_values_loads(
    tmp_path):
  """A config.yml of a release that still had the removed keys."""
  logdir = str(tmp_path / 'old_run')
  config.load_config(overrides=['TRAIN.BATCH_SIZE=7'])
  old = config.to_plain(CONFIG)
  # As that release saved them (floats and ints as YAML writes them).
  old['ALIGNMENT']['SOFT_DTW_WEIGHT'] = 0.0
  old['CRW']['MIN_WALK_LENGTH'] = 2
  old['TIMECYCLE']['SIMILARITY'] = 'inlier'
  os.makedirs(logdir)
  _write_yaml(tmp_path / 'old_run', 'config.yml', old)
  run_config = config.read_config_from_logdir(logdir)
  assert run_config.TRAIN.BATCH_SIZE == 7
  for key in config.REMOVED_KEYS:
    section, name = key.split('.')
    assert name not in run_config[section]
  # An int where the old key was a float, and an override, also load.
  config.build_config(overrides=['ALIGNMENT.SOFT_DTW_WEIGHT=0'])


@pytest.mark.parametrize('key, value', [('ALIGNMENT.SOFT_DTW_WEIGHT', 0.5),
                                        ('CRW.MIN_WALK_LENGTH', 1),
                                        ('CRW.MIN_WALK_LENGTH', True),
                                        ('TIMECYCLE.SIMILARITY', 'cosine')])
def test_removed_key_at_another_value_is_one_clear_error(tmp_path, key,
                                                         value):
  section, name = key.split('.')
  path = _write_yaml(tmp_path, 'old.yml', {section: {name: value}})
  with pytest.raises(config.ConfigError) as error:
    config.build_config([path])
  message = str(error.value)
  assert '\n' not in message
  assert message.startswith(path + ': config key %s was removed' % key)
  assert repr(config.REMOVED_KEYS[key]) in message and 'delete' in message
  with pytest.raises(config.ConfigError, match='--override %s: .*removed'
                     % key):
    config.build_config(overrides=['%s=%s' % (key, yaml.safe_dump(value).split('\n')[0])])


def test_read_from_logdir_without_config_is_clear_error(tmp_path):
  with pytest.raises(config.ConfigError, match='config.yml'):
    config.read_config_from_logdir(str(tmp_path))


def test_build_config_leaves_config_alone(tmp_path):
  path = _write_yaml(tmp_path, 'a.yml', {'TRAIN': {'BATCH_SIZE': 6}})
  cfg = config.build_config([path], ['IMAGE_SIZE=48'])
  assert (cfg.TRAIN.BATCH_SIZE, cfg.IMAGE_SIZE) == (6, 48)
  assert config.to_plain(CONFIG) == config.to_plain(config._DEFAULTS)
  # A rejected file leaves CONFIG as it was, also through load_config.
  CONFIG.IMAGE_SIZE = 40
  with pytest.raises(config.ConfigError):
    config.load_config([path], ['TRAIN.NOPE=1'])
  assert CONFIG.IMAGE_SIZE == 40


def test_use_config_installs_in_place_and_restores(tmp_path):
  CONFIG.IMAGE_SIZE = 40
  callers = config.to_plain(CONFIG)
  eval_section = CONFIG.EVAL
  run_config = config.build_config((), ['IMAGE_SIZE=48', 'EVAL.BATCH_SIZE=3',
                                        'DATASETS=[a, b]'])
  with config.use_config(run_config) as installed:
    assert installed is CONFIG
    assert (CONFIG.IMAGE_SIZE, CONFIG.EVAL.BATCH_SIZE) == (48, 3)
    assert CONFIG.DATASETS == ['a', 'b']
    CONFIG.EVAL.BATCH_SIZE = 5  # Changes inside do not reach run_config.
  assert run_config.EVAL.BATCH_SIZE == 3
  assert config.to_plain(CONFIG) == callers
  assert CONFIG.EVAL is eval_section
  # Restored also when the block raises.
  with pytest.raises(RuntimeError, match='inside'):
    with config.use_config(run_config):
      assert CONFIG.IMAGE_SIZE == 48
      raise RuntimeError('inside')
  assert config.to_plain(CONFIG) == callers
  # Nested: each block hands back what it found.
  with config.use_config(run_config):
    with config.use_config(config.build_config()):
      assert CONFIG.IMAGE_SIZE == config._DEFAULTS.IMAGE_SIZE
    assert CONFIG.IMAGE_SIZE == 48
  assert config.to_plain(CONFIG) == callers


def test_tfrecords_dir_substitutes_dataset_and_home():
  config.load_config(overrides=['PATH_TO_TFRECORDS=~/data/%s_tf/'])
  assert config.tfrecords_dir('pouring') == os.path.expanduser(
      '~/data/pouring_tf/')


def test_published_keys_added_and_new_keys_have_their_defaults():
  assert CONFIG.DATA.STRIDE == 16 and 'STRIDE_STEPS' not in CONFIG.DATA
  assert CONFIG.DATA.PER_CLASS is False
  assert CONFIG.MODEL.VGGM.USE_BN is True
  assert 'NUM_CYCLES' not in CONFIG.ALIGNMENT
  assert CONFIG.MODEL.CONVGRU_EMBEDDER_MODEL.CONV_LAYERS == [[512, 3, True]] * 2
  # The CPU demo keeps BatchNorm after FC layers, under keys of its own.
  assert CONFIG.MODEL.CONV_EMBEDDER_MODEL.FC_BATCH_NORM is True
  assert CONFIG.SAL.FC_BATCH_NORM is True
  assert (CONFIG.MODEL.BASE_MODEL.WEIGHTS,
          CONFIG.MODEL.BASE_MODEL.PREPROCESSING) == ('imagenet', 'auto')
  config.load_config(overrides=['MODEL.BASE_MODEL.LAYER=',
                                'MODEL.BASE_MODEL.NETWORK=/data/cnn.keras'])
  assert CONFIG.MODEL.BASE_MODEL.LAYER == ''
  assert CONFIG.MODEL.BASE_MODEL.NETWORK == '/data/cnn.keras'
