"""experiments/records.py: the JSON-lines records that result tables join."""

import json
import os
import runpy

import setuptools

from experiments import records


def _key(entry):
  return (entry['method'], entry['seed'])


def test_save_record_replaces_same_key_sorts_and_stamps_version(tmp_path):
  path = str(tmp_path / 'results' / 'r.jsonl')
  assert records.read_records(path) == []
  records.save_record(path, {'method': 'b', 'seed': 0, 'v': 1}, _key)
  records.save_record(path, {'method': 'a', 'seed': 1, 'v': 2}, _key)
  records.save_record(path, {'method': 'b', 'seed': 0, 'v': 3,
                             'version': '0.0.9'}, _key)
  got = records.read_records(path)
  assert got == [{'method': 'a', 'seed': 1, 'v': 2,
                  'version': records.version()},
                 {'method': 'b', 'seed': 0, 'v': 3, 'version': '0.0.9'}]
  with open(path) as f:
    assert [json.loads(line) for line in f] == got
  assert os.listdir(os.path.dirname(path)) == ['r.jsonl']


def test_version_is_setup_py_version(monkeypatch):
  captured = {}
  monkeypatch.setattr(setuptools, 'setup', captured.update)
  monkeypatch.chdir(records.ROOT)
  runpy.run_path(os.path.join(records.ROOT, 'setup.py'), run_name='__main__')
  assert captured['version'] == records.version()


def test_records_older_than_a_key_get_its_default():
  assert records.with_defaults({'method': 'a'}) == {
      'method': 'a', 'split': 'val', 'version': '0.1.0'}
  assert records.with_defaults({'split': 'train', 'version': '0.2.0'}) == {
      'split': 'train', 'version': '0.2.0'}


def test_mean_std_skips_missing_values():
  assert records.mean_std([1.0, 3.0, None]) == '2.000+-1.000'
  assert records.mean_std([None], 5) == '  n/a'
  assert records.mean_std([0.5], 13) == ' 0.500+-0.000'
