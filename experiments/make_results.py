r"""Result pages from the experiment records: docs/results/<study>.md.

    python -m experiments.make_results [--results_dir DIR] [--out_dir DIR] \
        [--check]

Reads every experiments/results/<study>.jsonl (records of
experiments/records.py) and writes one page per file, plus an index, each
atomically; pages whose records file is gone are removed. --check writes
nothing and exits 1 if a page differs from what would be written.

On a page, the records are grouped into sections by split, task (what a
study measures, where it measures several things), config and extra
overrides, and into rows by every other key that says how a run was
configured (method, steps, frame scale, render, ...; not the provenance
keys, records.PROVENANCE_KEYS); the validation split comes first. A row
gives, per metric, the mean ± the standard deviation (population, ddof 0)
over its seeds, the number of seeds and the release numbers that measured
them. Rows with fewer than
MIN_SEEDS seeds are listed apart, as single runs rather than results; a
deterministic run (seed None) is complete on its own.
"""

import argparse
import ast
import collections
import os
import re
import sys

import numpy as np

from utils.atomic_files import write_text
from experiments import records

OUT_DIR = os.path.join(records.ROOT, 'docs', 'results')
MIN_SEEDS = 3
# Keys that group records into sections, in this order, when present.
SECTION_KEYS = ('split', 'task', 'config', 'overrides')
# Keys that are not configuration.
NON_CONFIG_KEYS = ('seed', 'metrics', 'version') + records.PROVENANCE_KEYS
INDEX = 'index.md'


def study_title(stem, results_dir):
  """The first docstring line of experiments/<stem>.py, or the stem."""
  path = os.path.join(os.path.dirname(os.path.abspath(results_dir)),
                      stem + '.py')
  if not os.path.isfile(path):
    return stem
  with open(path) as f:
    doc = ast.get_docstring(ast.parse(f.read())) or ''
  return doc.split('\n')[0].rstrip('.') or stem


def cell(value):
  """A configuration value as table text."""
  if value is None:
    return '-'
  if isinstance(value, (list, tuple)):
    return ' '.join(str(v) for v in value) or 'none'
  if isinstance(value, float):
    return '%g' % value
  return str(value)


def sort_key(value):
  """Orders None and empty lists, then numbers, then the rest as text."""
  if value is None or value == ():
    return (0, 0, '')
  if isinstance(value, (int, float)) and not isinstance(value, bool):
    return (1, value, '')
  return (2, 0, cell(value))


def mean_spread(values):
  """'mean ± std' of the values that are not None; 'n/a' if none; the
  value alone for one."""
  values = [v for v in values if v is not None]
  if not values:
    return 'n/a'
  if len(values) == 1:
    return '%.3f' % values[0]
  return '%.3f ± %.3f' % (np.mean(values), np.std(values))


def seeds_cell(runs):
  seeds = [r['seed'] for r in runs]
  return '- (deterministic)' if seeds == [None] else str(len(seeds))


def is_complete(runs):
  """At least MIN_SEEDS seeds, or one deterministic run."""
  return len(runs) >= MIN_SEEDS or [r['seed'] for r in runs] == [None]


def table(rows, row_keys, metric_names):
  """Markdown table of {row values: [records]}."""
  head = ['method'] + [k for k in row_keys if k != 'method'] + [
      'seeds', 'version'] + ['`%s`' % m for m in metric_names]
  lines = ['| ' + ' | '.join(head) + ' |',
           '|' + '---|' * len(head)]
  for values, runs in rows:
    config = dict(zip(row_keys, values))
    versions = sorted({r['version'] for r in runs})
    line = [cell(config['method'])] + [
        cell(config[k]) for k in row_keys if k != 'method'] + [
            seeds_cell(runs), ', '.join(versions)] + [
                mean_spread([r['metrics'].get(m) for r in runs])
                for m in metric_names]
    lines.append('| ' + ' | '.join(line) + ' |')
  return lines


def group(path, entries):
  """{section values: {row values: [records]}}, and the row keys."""
  present = set().union(*(e.keys() for e in entries))
  section_keys = [k for k in SECTION_KEYS if k in present]
  row_keys = ['method'] + sorted(
      present - set(section_keys) - set(NON_CONFIG_KEYS) - {'method'})
  sections = collections.defaultdict(lambda: collections.defaultdict(list))
  for e in entries:
    section = tuple(tuple(v) if isinstance(v, list) else v
                    for v in (e.get(k) for k in section_keys))
    row = tuple(tuple(v) if isinstance(v, list) else v
                for v in (e.get(k) for k in row_keys))
    runs = sections[section][row]
    if any(r['seed'] == e['seed'] for r in runs):
      raise ValueError(
          '%s: two records of method %r, seed %r with the same configuration '
          '%s; delete one of them.' % (path, e['method'], e['seed'],
                                       dict(zip(row_keys, row))))
    runs.append(e)
  return section_keys, row_keys, sections


def section_order(section_keys):
  """Sorts sections with the validation split first, then by value."""
  def key(values):
    split = dict(zip(section_keys, values)).get('split')
    return [split != 'val'] + [sort_key(v) for v in values]
  return key


def metric_order(name):
  """Natural order: map@5 before map@10."""
  return [(0, int(part), '') if part.isdigit() else (1, 0, part)
          for part in re.split(r'(\d+)', name)]


def section_title(section_keys, values):
  return ', '.join('%s %s' % (k, cell(v)) for k, v in zip(section_keys,
                                                           values))


def row_order(row_keys):
  """Sorts rows by every key but method and steps, then by those."""
  last = [i for i, k in enumerate(row_keys) if k in ('method', 'steps')]
  first = [i for i in range(len(row_keys)) if i not in last]
  return lambda item: [sort_key(item[0][i]) for i in first + last]


def render_page(path, results_dir):
  """Markdown text of the page of one records file."""
  stem = os.path.splitext(os.path.basename(path))[0]
  entries = [records.with_defaults(e) for e in records.read_records(path)]
  for number, e in enumerate(entries, 1):
    missing = [k for k in ('method', 'seed', 'metrics') if k not in e]
    if missing:
      raise ValueError('%s: record %d has no %s; every record needs method, '
                       'seed and metrics.' % (path, number, ', '.join(missing)))
  lines = ['# %s' % study_title(stem, results_dir), '',
           'Generated by `python -m experiments.make_results` from '
           '`experiments/results/%s.jsonl` (%d records); do not edit by hand.'
           % (stem, len(entries)),
           'The study: `python -m experiments.%s --help`.' % stem, '',
           'Each cell is the mean ± standard deviation (population) over the '
           'seeds of runs that share every other column; `seeds` counts '
           'them; `version` is the release that measured them.', '']
  if not entries:
    return '\n'.join(lines + ['No records yet.', ''])
  section_keys, row_keys, sections = group(path, entries)
  for section in sorted(sections, key=section_order(section_keys)):
    rows = sorted(sections[section].items(), key=row_order(row_keys))
    metric_names = sorted(set().union(
        *(r['metrics'] for _, runs in rows for r in runs)), key=metric_order)
    complete = [(v, runs) for v, runs in rows if is_complete(runs)]
    partial = [(v, runs) for v, runs in rows if not is_complete(runs)]
    if section_keys:
      lines += ['## %s' % section_title(section_keys, section), '']
    if complete:
      lines += table(complete, row_keys, metric_names) + ['']
    if partial:
      lines += ['Fewer than %d seeds (single runs, not results):' % MIN_SEEDS,
                ''] + table(partial, row_keys, metric_names) + ['']
  return '\n'.join(lines)


def render_all(results_dir):
  """{page file name: markdown text} for every records file, and the
  index."""
  stems = sorted(os.path.splitext(name)[0] for name in os.listdir(results_dir)
                 if name.endswith('.jsonl'))
  pages = {stem + '.md': render_page(
      os.path.join(results_dir, stem + '.jsonl'), results_dir)
           for stem in stems}
  index = ['# Results', '',
           'Generated by `python -m experiments.make_results` from the '
           'records in `experiments/results/`; one page per study.', '']
  index += ['- [%s](%s.md): %s' % (stem, stem, study_title(stem, results_dir))
            for stem in stems]
  pages[INDEX] = '\n'.join(index + [''])
  return pages


def stale_pages(out_dir, pages):
  """Markdown files in out_dir that no records file makes."""
  if not os.path.isdir(out_dir):
    return []
  return sorted(name for name in os.listdir(out_dir)
                if name.endswith('.md') and name not in pages)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--results_dir', default=records.RESULTS_DIR)
  parser.add_argument('--out_dir', default=OUT_DIR)
  parser.add_argument('--check', action='store_true',
                      help='write nothing; exit 1 if a page is out of date')
  args = parser.parse_args()
  try:
    pages = render_all(args.results_dir)
  except ValueError as e:
    sys.exit(str(e))
  stale = stale_pages(args.out_dir, pages)
  changed = []
  for name, text in pages.items():
    path = os.path.join(args.out_dir, name)
    if os.path.isfile(path):
      with open(path) as f:
        if f.read() == text:
          continue
    changed.append(name)
    if not args.check:
      write_text(path, text)
  if not args.check:
    for name in stale:
      os.remove(os.path.join(args.out_dir, name))
  verb = 'out of date' if args.check else 'written'
  print('%d pages in %s; %s: %s; removed: %s' % (
      len(pages), os.path.relpath(args.out_dir), verb,
      ', '.join(changed) or 'none',
      ', '.join(stale) if not args.check and stale else 'none'))
  if args.check and (changed or stale):
    sys.exit('%s: pages out of date; run python -m experiments.make_results'
             % os.path.relpath(args.out_dir))


if __name__ == '__main__':
  main()
