"""Benchmark records: one JSON line per scored run, kept in the repository
(benchmarks/results/), so that tables can join runs measured in different
sessions or on different machines and say which commit measured each."""

import json
import os
import subprocess

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(ROOT, 'benchmarks', 'results')


def commit():
  """The short hash of the checked-out commit, or None outside git."""
  try:
    return subprocess.run(
        ['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, check=True,
        capture_output=True, text=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return None


def read_records(path):
  """list of dicts, one per line of the JSON-lines file ([] if absent)."""
  if not os.path.isfile(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def save_record(path, entry, key):
  """Adds `entry` to the records file, replacing the one with the same
  key(entry) (keys must compare); lines sorted by key, written to a
  temporary name, then renamed."""
  from atomic_files import atomic_open  # pylint: disable=g-import-not-at-top
  entries = [e for e in read_records(path) if key(e) != key(entry)]
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with atomic_open(path) as f:
    for e in sorted(entries + [entry], key=key):
      f.write(json.dumps(e, sort_keys=True) + '\n')


def mean_std(values, width=0):
  """'mean+-std' of the values that are not None ('n/a' if none)."""
  values = [v for v in values if v is not None]
  if not values:
    return 'n/a'.rjust(width)
  return ('%.3f+-%.3f' % (np.mean(values), np.std(values))).rjust(width)
