"""benchmarks/records.py: the JSON-lines records that benchmark tables join."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import records  # pylint: disable=g-import-not-at-top,wrong-import-position


def _key(entry):
  return (entry['method'], entry['seed'])


def test_save_record_replaces_same_key_and_sorts(tmp_path):
  path = str(tmp_path / 'results' / 'r.jsonl')
  assert records.read_records(path) == []
  records.save_record(path, {'method': 'b', 'seed': 0, 'v': 1}, _key)
  records.save_record(path, {'method': 'a', 'seed': 1, 'v': 2}, _key)
  records.save_record(path, {'method': 'b', 'seed': 0, 'v': 3}, _key)
  got = records.read_records(path)
  assert got == [{'method': 'a', 'seed': 1, 'v': 2},
                 {'method': 'b', 'seed': 0, 'v': 3}]
  with open(path) as f:
    assert [json.loads(line) for line in f] == got
  assert os.listdir(os.path.dirname(path)) == ['r.jsonl']


def test_mean_std_skips_missing_values():
  assert records.mean_std([1.0, 3.0, None]) == '2.000+-1.000'
  assert records.mean_std([None], 5) == '  n/a'
  assert records.mean_std([0.5], 13) == ' 0.500+-0.000'
