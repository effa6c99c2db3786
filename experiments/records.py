"""Experiment records: one JSON line per scored run, kept in the repository.

Every quality study writes its runs to experiments/results/<study>.jsonl, so
that tables join runs measured on different machines, and
`python -m experiments.make_results` turns each file into
docs/results/<study>.md.

A record is a dict with
  method: str, the row's method;
  seed: int, or None for a deterministic run (nothing random to seed);
  metrics: {metric name: float or None};
  version: the project's release number (VERSION) that measured it;
  split: the videos scored ('val', 'train', ...);
and any other keys, which say how the run was configured (steps,
overrides, config, frame_scale, render, ...), except the provenance keys
(PROVENANCE_KEYS), which say who measured it and are left out of tables.
"""

import json
import os
import subprocess

import numpy as np

from utils.atomic_files import atomic_open
from utils import json_lines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(ROOT, 'experiments', 'results')
VERSION_FILE = os.path.join(ROOT, 'VERSION')
# Keys that say who measured a run and when, not what it was; tables
# leave them out.
PROVENANCE_KEYS = ('commit', 'trained_at_commit', 'measured', 'train_seconds')
# Values of records written before the key existed: every such record
# scored the validation videos, with the code of release 0.1.0.
DEFAULTS = {'split': 'val', 'version': '0.1.0'}


def version():
  """The project's release number, from the VERSION file."""
  with open(VERSION_FILE) as f:
    return f.read().strip()


def commit():
  """The short hash of the checked-out commit, or None outside git."""
  try:
    return subprocess.run(
        ['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, check=True,
        capture_output=True, text=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return None


def read_records(path):
  """list of dicts, one per line of the JSON-lines file ([] if absent).

  Raises:
    ValueError: a line is not a JSON object (the message names the line).
  """
  def bad_line(number, reason):
    raise ValueError('%s:%d: not a JSON record (%s); fix or delete the '
                     'line.' % (path, number, reason))
  return json_lines.read_json_lines(path, bad_line)


def with_defaults(entry):
  """The record with DEFAULTS filled in where it has no such key."""
  return {**DEFAULTS, **entry}


def save_record(path, entry, key):
  """Adds `entry` to the records file, replacing the one with the same
  key(entry) (keys must compare); stamps it with the project's version
  unless it has one; lines sorted by key, written to a temporary name, then
  renamed."""
  entry = {'version': version(), **entry}
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
