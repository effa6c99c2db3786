"""A new method is its own file plus one registry line: its settings are
declared beside its code and become config keys like any other."""

import copy

import numpy as np
import pytest
import tensorflow as tf

import algos
from algos.base import Algorithm
import config
from config import CONFIG
from test_train import TINY
import train


class ScaledVariance(Algorithm):
  """A toy method: SCALE times the mean per-frame variance of embeddings."""

  config_section = 'SCALED_VARIANCE'
  config_defaults = {'SCALE': 2.0, 'OPTIONS': {'CENTER': True}}

  def compute_loss(self, embs, batch, training):
    del batch, training
    settings = CONFIG.SCALED_VARIANCE
    if settings.OPTIONS.CENTER:
      embs = embs - tf.reduce_mean(embs, axis=1, keepdims=True)
    loss = settings.SCALE * tf.reduce_mean(tf.square(embs))
    return {'loss': loss, 'total_loss': loss}


@pytest.fixture
def registered(monkeypatch):
  monkeypatch.setattr(config, '_DEFAULTS', copy.deepcopy(config._DEFAULTS))  # pylint: disable=protected-access
  monkeypatch.setitem(algos.ALGORITHMS, 'scaled_variance', ScaledVariance)
  algos.register('scaled_variance', ScaledVariance)
  yield


def test_declared_section_is_config_keys(registered):
  del registered
  cfg = config.build_config((), ['TRAINING_ALGO=scaled_variance',
                                 'SCALED_VARIANCE.SCALE=3.5'])
  assert cfg.SCALED_VARIANCE.SCALE == 3.5
  assert cfg.SCALED_VARIANCE.OPTIONS.CENTER is True
  with pytest.raises(config.ConfigError, match='SCALED_VARIANCE.SCALE'):
    config.build_config((), ['SCALED_VARIANCE.SCALE=big'])
  with pytest.raises(config.ConfigError, match='unknown config key'):
    config.build_config((), ['SCALED_VARIANCE.NOPE=1'])
  with pytest.raises(config.ConfigError, match='declared twice'):
    config.declare_section('SCALED_VARIANCE', {'SCALE': 1.0})
  with pytest.raises(config.ConfigError, match='declared twice'):
    config.declare_section('LAV', {'SCALE': 1.0})


def test_registered_method_trains_with_its_settings(registered, tmp_path):
  del registered
  overrides = TINY + ['TRAINING_ALGO=scaled_variance',
                      'SCALED_VARIANCE.SCALE=0.5']
  result = train.train(str(tmp_path / 'run'), overrides=overrides,
                       max_iters=2)
  assert result['step'] == 2 and np.isfinite(result['loss'])
  saved = config.read_config_from_logdir(str(tmp_path / 'run'))
  assert saved.SCALED_VARIANCE.SCALE == 0.5
