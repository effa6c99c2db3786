"""Quiet TensorFlow for the command-line tools; import it before TensorFlow.

Importing TensorFlow prints about nine lines on stderr before any tool can
speak (CUDA driver probes, CPU feature notes, an error-level `cuInit` line
on machines without a GPU, absl's "log messages before
absl::InitializeLog()" notice). No environment variable silences the
earliest of them, so this module imports TensorFlow, and lets it probe the
devices, with stderr pointed at /dev/null, and sets TF_CPP_MIN_LOG_LEVEL=2
(C++ errors only) for the rest of the run. Python exceptions raised during
the import still surface.

Show everything with `--tf_verbose` on any tool, or TCC_TF_VERBOSE=1; a
TF_CPP_MIN_LOG_LEVEL already set in the environment is kept.

`fail` ends a tool on its one error line: TensorFlow's warnings about
objects torn down after the failure (e.g. "unrestored values" of a
checkpoint that did not match the model) would otherwise bury it.
"""

import logging as std_logging
import os
import sys

from absl import flags

from utils import console

VERBOSE_ENV = 'TCC_TF_VERBOSE'

flags.DEFINE_bool('tf_verbose', False, "Show TensorFlow's start-up and C++ "
                  'log lines (or set %s=1).' % VERBOSE_ENV)


def wants_verbose(argv, environ):
  """Whether --tf_verbose is on the command line or TCC_TF_VERBOSE is set."""
  if environ.get(VERBOSE_ENV, '').lower() in ('1', 'true', 'yes'):
    return True
  return any(arg in ('--tf_verbose', '--tf_verbose=true', '--tf_verbose=1',
                     '--tf_verbose=True') for arg in argv)


def import_tensorflow_quietly():
  """Imports TensorFlow and initializes its devices with stderr silenced."""
  sys.stderr.flush()
  saved_stderr = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, 2)
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.config.list_physical_devices()
  finally:
    sys.stderr.flush()
    os.dup2(saved_stderr, 2)
    os.close(saved_stderr)
    os.close(devnull)


def quiet_start(argv=None, environ=None):
  """Applies the quiet start-up unless verbose output was asked for."""
  argv = sys.argv if argv is None else argv
  environ = os.environ if environ is None else environ
  if wants_verbose(argv, environ) or 'tensorflow' in sys.modules:
    return
  if not environ.get('TF_CPP_MIN_LOG_LEVEL'):
    environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
  import_tensorflow_quietly()


def fail(message):
  """Logs `message` as the tool's error and exits with status 1."""
  console.error('%s', message)
  std_logging.getLogger('tensorflow').setLevel(std_logging.ERROR)
  raise SystemExit(1)


quiet_start()
