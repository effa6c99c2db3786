"""Generated result pages, and README/docs free of lab-notebook lines."""

import glob
import json
import os
import re
import statistics
import subprocess
import sys

import pytest

from experiments import make_results
from experiments import records

ROOT = records.ROOT
README = os.path.join(ROOT, 'README.md')
MAX_README_LINES = 200

# A commit hash: 7 to 40 hex digits with at least one digit and one letter
# a-f, standing alone (not inside a longer word or a 64-digit checksum), or
# any 7-40 hex run after "commit", "at", "in", "rev" or in backticks.
HASH = re.compile(
    r'(?<![\w.])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}(?![\w])'
    r'|\b(?:commit|commits|at|in|rev)\s+`?[0-9a-f]{7,40}\b'
    r'|`[0-9a-f]{7,40}`')
DATE = re.compile(r'\b(?:19|20)\d\d-[01]\d-[0-3]\d\b')
DIARY = re.compile(r'\bsession \d+|re-?measured|measured (?:again )?on \d',
                   re.IGNORECASE)


def test_committed_pages_are_what_the_command_generates():
  pages = make_results.render_all(records.RESULTS_DIR)
  assert set(pages) >= {'index.md', 'alignment_methods_quality.md',
                        'correspondence_quality.md'}
  for name, text in pages.items():
    path = os.path.join(make_results.OUT_DIR, name)
    assert os.path.isfile(path), (
        '%s missing: run python -m experiments.make_results' % path)
    with open(path) as f:
      assert f.read() == text, (
          '%s is out of date: run python -m experiments.make_results' % path)
  assert not make_results.stale_pages(make_results.OUT_DIR, pages)


def _write(path, entries):
  with open(path, 'w') as f:
    for e in entries:
      f.write(json.dumps(e) + '\n')


def _row(page, *cells):
  """The table line that starts with these cells."""
  start = '| ' + ' | '.join(cells) + ' |'
  rows = [line for line in page.split('\n') if line.startswith(start)]
  assert len(rows) == 1, (start, page)
  return [c.strip() for c in rows[0].strip('|').split('|')]


def test_page_of_synthetic_records(tmp_path):
  results = tmp_path / 'results'
  results.mkdir()
  acc = [0.9, 0.8, 0.6]
  tau = [0.5, None, 0.7]
  entries = [{'method': 'a', 'seed': s, 'steps': 10, 'overrides': [],
              'commit': 'abc1234', 'measured': '2026-01-01',
              'metrics': {'acc': acc[s], 'tau': tau[s]}} for s in range(3)]
  entries += [
      # Deterministic, on the development split, from another release.
      {'method': 'b', 'seed': None, 'steps': None, 'overrides': [],
       'split': 'train', 'version': '0.0.1', 'metrics': {'acc': 0.25}},
      # Two seeds only: listed apart.
      {'method': 'c', 'seed': 0, 'steps': 10, 'overrides': ['X.Y=1'],
       'metrics': {'acc': 0.5}},
      {'method': 'c', 'seed': 1, 'steps': 10, 'overrides': ['X.Y=1'],
       'metrics': {'acc': 0.7}}]
  _write(str(results / 'study.jsonl'), entries)
  pages = make_results.render_all(str(results))
  assert set(pages) == {'index.md', 'study.md'}
  page = pages['study.md']
  # Independent mean and population standard deviation.
  row = _row(page, 'a', '10')
  assert row[2:4] == ['3', '0.1.0']
  mean, std = statistics.fmean(acc), statistics.pstdev(acc)
  assert row[4] == '%.3f ± %.3f' % (mean, std) == '0.767 ± 0.125'
  assert row[5] == '%.3f ± %.3f' % (0.6, 0.1)
  assert _row(page, 'b', '-')[2:5] == ['- (deterministic)', '0.0.1', '0.250']
  # Validation split first, then the others; the two-seed row apart.
  sections = re.findall(r'^## (.*)$', page, re.MULTILINE)
  assert sections == ['split val, overrides none', 'split val, overrides '
                      'X.Y=1', 'split train, overrides none']
  partial = page.split('## split val, overrides X.Y=1')[1]
  assert partial.lstrip().startswith('Fewer than 3 seeds')
  assert _row(page, 'c', '10')[4] == '0.600 ± 0.100'
  # Provenance never reaches the page.
  assert 'abc1234' not in page and '2026' not in page
  assert '(study.md)' in pages['index.md']


def test_duplicate_seed_and_bad_line_are_one_clear_error(tmp_path):
  results = tmp_path / 'results'
  results.mkdir()
  entry = {'method': 'a', 'seed': 0, 'metrics': {'acc': 1.0}}
  _write(str(results / 'dup.jsonl'), [entry, dict(entry, commit='x')])
  with pytest.raises(ValueError, match='dup.jsonl.*seed 0'):
    make_results.render_all(str(results))
  (results / 'dup.jsonl').write_text('{"method": "a"\n')
  with pytest.raises(ValueError, match=r'dup.jsonl:1: not a JSON record'):
    make_results.render_all(str(results))


def test_command_writes_pages_removes_stale_and_checks(tmp_path):
  results, out = tmp_path / 'results', tmp_path / 'pages'
  results.mkdir()
  out.mkdir()
  _write(str(results / 'study.jsonl'),
         [{'method': 'a', 'seed': None, 'metrics': {'acc': 1.0}}])
  (out / 'gone.md').write_text('old')
  command = [sys.executable, '-m', 'experiments.make_results',
             '--results_dir', str(results), '--out_dir', str(out)]
  check = subprocess.run(command + ['--check'], cwd=ROOT, capture_output=True,
                         text=True, check=False)
  assert check.returncode == 1 and 'out of date' in check.stderr
  subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
  assert sorted(os.listdir(out)) == ['index.md', 'study.md']
  subprocess.run(command + ['--check'], cwd=ROOT, check=True,
                 capture_output=True)


@pytest.mark.parametrize('line', [
    'measured at 2ac6411 on the shared machine',
    'see commit deadbeef12',
    'the fix (`f9e978b`)',
    'records of 46b9069 and 2db2f40',
    'Measured 2026-12-04 on 2 cores',
    'not re-measured for this release',
    'in session 11 we tried',
])
def test_lint_flags_hashes_dates_and_diary(line):
  assert HASH.search(line) or DATE.search(line) or DIARY.search(line)


@pytest.mark.parametrize('line', [
    'conv4_block3_out, feedback, accepted, decade, effaced words',
    'sha256 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    'a learning rate of 1e-4 over 1500000 steps, 0.1234567',
    'measured on the validation split',
])
def test_lint_passes_ordinary_text(line):
  assert not (HASH.search(line) or DATE.search(line) or DIARY.search(line))


def test_readme_and_docs_have_no_hashes_dates_or_diary():
  paths = [README] + sorted(glob.glob(os.path.join(ROOT, 'docs', '**',
                                                   '*.md'), recursive=True))
  bad = []
  for path in paths:
    with open(path) as f:
      for number, line in enumerate(f, 1):
        for pattern in (HASH, DATE, DIARY):
          match = pattern.search(line)
          if match:
            bad.append('%s:%d: %r' % (os.path.relpath(path, ROOT), number,
                                      match.group(0)))
  assert not bad, '\n'.join(bad)


def test_readme_is_short():
  with open(README) as f:
    assert len(f.read().splitlines()) <= MAX_README_LINES
