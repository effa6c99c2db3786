"""Shared test set-up: quiet TensorFlow, the repo on sys.path, fresh CONFIG,
two logical CPU devices, and the CLIs' main functions run in-process."""

import collections
import importlib
import logging as std_logging
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging
import pytest  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import threadpoolctl  # pylint: disable=g-import-not-at-top

import config  # pylint: disable=g-import-not-at-top
from utils import console  # pylint: disable=g-import-not-at-top

# Under pytest-xdist every core runs a worker: one OpenMP/BLAS thread and
# one TensorFlow intra-op thread per worker. (scikit-learn's t-SNE of
# test_visualize_embeddings took 14.7 s beside a busy worker with a thread
# per core, under 3 s with one; the suite on 2 cores 3 min 28 s with
# TensorFlow's default threads, 3 min 9 s with one.)
if os.environ.get('PYTEST_XDIST_WORKER'):
  threadpoolctl.threadpool_limits(1)
  tf.config.threading.set_intra_op_parallelism_threads(1)

# Two logical CPU devices for the whole session, so that MirroredStrategy
# tests run in-process ('/cpu:0', '/cpu:1'); the default strategy and the
# default device (/cpu:0) are unchanged. Only possible before TensorFlow
# initializes its devices, hence here.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices('CPU')[0],
    [tf.config.LogicalDeviceConfiguration()] * 2)


def pytest_addoption(parser, pluginmanager):
  """Without pytest-xdist (`-p no:xdist`, or not installed) pytest.ini's
  --numprocesses and --dist are accepted and ignored: one process."""
  if not pluginmanager.has_plugin('xdist'):
    group = parser.getgroup('xdist', 'pytest-xdist is off: ignored')
    group.addoption('--numprocesses', help='ignored without pytest-xdist')
    group.addoption('--dist', help='ignored without pytest-xdist')


@pytest.fixture(autouse=True)
def fresh_config():
  """Every test starts from the default CONFIG and leaves it that way."""
  config.reset_config()
  yield config.CONFIG
  config.reset_config()


ToolResult = collections.namedtuple('ToolResult',
                                    ['returncode', 'stdout', 'log'])


class _Lines(std_logging.Handler):

  def __init__(self):
    super().__init__(std_logging.INFO)
    self.lines = []

  def emit(self, record):
    self.lines.append(record.getMessage())


@pytest.fixture
def run_tool(capsys):
  """Runs a CLI's `main` in this process: run_tool('train', '--logdir', d).

  The module's flags are defined, parsed from the arguments and removed
  afterwards, as `python <module>.py ARGS` would (less the start-up, which
  tests that need it run as subprocesses). Returns (returncode, stdout, log):
  the exit status (SystemExit's, else 0), what main printed, and its absl
  log lines (messages only), one per line, then the message of a
  SystemExit('text') (which Python would print on stderr).
  """
  def run(module_name, *args):
    module = importlib.import_module(module_name)
    before = set(flags.FLAGS)
    module.define_flags()
    added = set(flags.FLAGS) - before
    lines = _Lines()
    absl_logger = logging.get_absl_logger()
    tf_logger = std_logging.getLogger('tensorflow')
    levels = absl_logger.level, tf_logger.level
    absl_logger.addHandler(lines)
    absl_logger.setLevel(std_logging.INFO)
    # The tools' own lines (utils.console) do not go through absl's logger.
    console_logger = std_logging.getLogger(console.LOGGER_NAME)
    console_logger.addHandler(lines)
    capsys.readouterr()
    try:
      argv = flags.FLAGS([module_name + '.py'] + [str(a) for a in args])
      try:
        module.main(argv)
        returncode = 0
      except SystemExit as e:
        returncode = (e.code if isinstance(e.code, int) else
                      0 if e.code is None else 1)
        if isinstance(e.code, str):
          lines.lines.append(e.code)
    finally:
      stdout = capsys.readouterr().out
      absl_logger.removeHandler(lines)
      console_logger.removeHandler(lines)
      absl_logger.setLevel(levels[0])
      tf_logger.setLevel(levels[1])
      flags.FLAGS.unparse_flags()
      for name in added:
        delattr(flags.FLAGS, name)
    return ToolResult(returncode, stdout, '\n'.join(lines.lines))
  return run


@pytest.fixture(scope='session')
def two_cpu_strategy():
  """One MirroredStrategy over the two logical CPUs, shared by every test:
  two such strategies in one process reuse collective keys and clash."""
  return tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
