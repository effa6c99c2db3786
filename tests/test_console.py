"""utils/console: plain terminal lines, full lines in the log file."""

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# absl's prefix: level letter, date, time, thread id, file:line].
ABSL_PREFIX = re.compile(r'^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] ')

_SCRIPT = r'''
import logging as std_logging
import sys
from absl import app
from absl import logging
from utils import console

def main(argv):
  console.start()
  console.info('before the file')
  with console.log_file(sys.argv[1]):
    console.info('step %d/%d', 5, 10)
    console.warning('careful')
    logging.info('an absl INFO line of another module')
    std_logging.getLogger('tensorflow').warning('a library warning')
  console.error('after the file')

app.run(main)
'''


def test_terminal_lines_are_plain_and_log_file_full(tmp_path):
  log_path = str(tmp_path / 'sub' / 'run.log')
  result = subprocess.run(
      [sys.executable, '-c', _SCRIPT, log_path], cwd=REPO,
      capture_output=True, text=True, timeout=60, check=True,
      env=dict(os.environ, PYTHONPATH=REPO))
  lines = result.stderr.splitlines()
  ours = ['before the file', 'step 5/10', 'Warning: careful',
          'Error: after the file']
  assert [l for l in lines if not ABSL_PREFIX.match(l)] == ours, lines
  # Other libraries: INFO stays off the terminal, warnings keep their prefix.
  assert [l for l in lines if ABSL_PREFIX.match(l)] == [
      l for l in lines if l.endswith('] a library warning')]
  assert len(lines) == 5
  assert result.stdout == ''
  with open(log_path) as f:
    logged = f.read().splitlines()
  assert all(ABSL_PREFIX.match(l) for l in logged), logged
  assert [l.split('] ', 1)[1] for l in logged] == [
      'step 5/10', 'careful', 'an absl INFO line of another module',
      'a library warning']
  assert logged[0].startswith('I') and logged[1].startswith('W')
  assert '<string>:12] ' in logged[0]  # The caller's line, not console.py's.
