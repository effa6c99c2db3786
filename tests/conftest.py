"""Shared test set-up: quiet TensorFlow, the repo on sys.path, fresh CONFIG."""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pytest  # pylint: disable=g-import-not-at-top

import config  # pylint: disable=g-import-not-at-top


@pytest.fixture(autouse=True)
def fresh_config():
  """Every test starts from the default CONFIG and leaves it that way."""
  config.reset_config()
  yield config.CONFIG
  config.reset_config()
