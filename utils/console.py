"""The lines a user reads on the terminal, and the full log behind them.

The tools speak through `info`, `warning` and `error`. Each call is one plain
line on stderr (`step 50/1500 loss 0.41 ... | 11.2 steps/s`; warnings start
with `Warning: `, errors with `Error: `), without absl's prefix of level,
time, thread and source line. Summaries and tables that a tool prints on
stdout are not log lines and do not come here.

`start()` (first thing in a tool's `main`) sets this up for the process:
it attaches the plain handler, keeps these lines out of absl's own handler
and lets absl's handler show the terminal only what other libraries log at
WARNING or above (their INFO lines, e.g. TensorFlow's checkpoint notes,
then only reach the log files).

`log_file(path)` is a context manager: while it is open every record that
Python logging receives, ours included, is appended to `path` in absl's full
format (`I1205 16:22:05.498 140556904876928 train.py:468] ...`).

Config-free: imports nothing of the project.
"""

import contextlib
import logging as std_logging
import os
import sys

from absl import logging

LOGGER_NAME = 'tcc.console'
_LOGGER = std_logging.getLogger(LOGGER_NAME)
_LOGGER.setLevel(std_logging.INFO)
_PREFIXES = ((std_logging.ERROR, 'Error: '), (std_logging.WARNING, 'Warning: '))


class PlainFormatter(std_logging.Formatter):
  """The message alone, after 'Error: ' or 'Warning: ' for those levels."""

  def format(self, record):
    message = record.getMessage()
    for level, prefix in _PREFIXES:
      if record.levelno >= level:
        return prefix + message
    return message


def _not_console(record):
  return record.name != LOGGER_NAME


class _StderrHandler(std_logging.StreamHandler):
  """Writes to the sys.stderr of the moment (which tests may replace)."""

  def __init__(self):
    super().__init__(sys.stderr)

  def emit(self, record):
    # Not setStream: it flushes the previous stream, which a test's captured
    # stderr may have closed since.
    self.stream = sys.stderr
    super().emit(record)


def start():
  """Plain terminal lines for this process (idempotent)."""
  if any(isinstance(h, _StderrHandler) for h in _LOGGER.handlers):
    return
  handler = _StderrHandler()
  handler.setFormatter(PlainFormatter())
  _LOGGER.addHandler(handler)
  logging.use_absl_handler()
  absl_handler = logging.get_absl_handler()
  absl_handler.addFilter(_not_console)
  absl_handler.setLevel(std_logging.WARNING)


@contextlib.contextmanager
def log_file(path):
  """Appends every log record, in absl's full format, to `path` meanwhile.

  Missing directories of `path` are made; `path` None writes no file.
  """
  if path is None:
    yield None
    return
  directory = os.path.dirname(path)
  if directory:
    os.makedirs(directory, exist_ok=True)
  handler = std_logging.FileHandler(path)
  handler.setFormatter(logging.PythonFormatter())
  handler.setLevel(std_logging.INFO)
  root = std_logging.getLogger()
  root.addHandler(handler)
  try:
    yield path
  finally:
    root.removeHandler(handler)
    handler.close()


def info(message, *args):
  _LOGGER.info(message, *args, stacklevel=2)


def warning(message, *args):
  _LOGGER.warning(message, *args, stacklevel=2)


def error(message, *args):
  _LOGGER.error(message, *args, stacklevel=2)
