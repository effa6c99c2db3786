r"""Demo time and quality, and every method with the same budget.

    python -m benchmarks.demo_quality [--seeds 0,1,2] [--root DIR] \
        [--override KEY.SUB=VALUE ...]
    python -m benchmarks.demo_quality --methods a,b,... [--steps N] ...

Without --methods: runs `python demo.py` (training, evaluation, embeddings,
alignment video: what README command 1 runs after the install) once per
seed (`--override SEED=N`) in a subprocess, and prints per seed the wall
time of demo.py, its training time, phase accuracy (classification/
accuracy@1, all training videos labelled) and validation Kendall's tau, then
their mean and std over the seeds. PASS/FAIL lines check the demo's bar: mean
accuracy@1 >= 0.9 and mean validation tau >= 0.95. The time bar (3 minutes
for README command 1 on 2 cores, the install's ~55 s included, so about
125 s for demo.py) holds on an idle machine only; the time is printed, not
checked.

With --methods: trains each method with the demo config for the same number
of steps, evaluates its last checkpoint with every evaluation task, and
prints one table, with the same network untrained (TRAIN.MAX_ITERS=0) as the
floor. Each run is a pair of subprocesses (`train.py`, `evaluate.py
--once`), exactly what a user runs; results are read back from each logdir's
results.jsonl. Prints PASS/FAIL: TCC reaches validation Kendall's tau >= 0.9
and phase classification >= 90 %, and beats the untrained network on every
metric.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ('untrained', 'alignment', 'sal', 'tcn', 'alignment_sal_tcn',
           'classification')
# (column title, results.jsonl key, higher is better)
METRICS = (
    ('phase acc', 'classification/accuracy@1'),
    ('acc 10% vids', 'classification/accuracy@0.1'),
    ('5-shot acc', 'few_shot_classification/accuracy@5shot'),
    ('progress R2', 'event_completion/r2@1'),
    ('tau val', 'kendalls_tau/val'),
)


def run(cmd, log_path):
  with open(log_path, 'w') as log:
    proc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'),
                          check=False)
  if proc.returncode:
    sys.exit('%s failed (exit %d); see %s' % (' '.join(cmd[1:3]),
                                               proc.returncode, log_path))


def last_record(logdir, steps):
  """The last results.jsonl record of `logdir`; exits unless at `steps`.

  A run whose training stopped early (SIGTERM, Ctrl-C: train.py saves and
  stops) is never reported as one of `steps` steps.
  """
  with open(os.path.join(logdir, 'eval', 'results.jsonl')) as f:
    records = [json.loads(line) for line in f if line.strip()]
  if records[-1]['step'] != steps:
    sys.exit('%s: scored at step %d, not %d (training stopped early?); '
             'run the benchmark again.' % (logdir, records[-1]['step'],
                                            steps))
  return records[-1]


def train_and_score(logdir, train_args, steps, log_prefix):
  """`train.py` then `evaluate.py --once` in subprocesses.

  Args:
    logdir: the run's logdir.
    train_args: train.py arguments besides --logdir.
    steps: training steps the run must reach (0: untrained).
    log_prefix: `<log_prefix>_train.log` / `_eval.log` get the output.

  Returns:
    (last results record, training seconds).
  """
  start = time.time()
  run([sys.executable, 'train.py', '--logdir', logdir] + train_args,
      log_prefix + '_train.log')
  seconds = time.time() - start
  run([sys.executable, 'evaluate.py', '--logdir', logdir, '--once'],
      log_prefix + '_eval.log')
  return last_record(logdir, steps), seconds


def train_and_evaluate(method, steps, root, overrides):
  """Returns (last results record, training seconds) of one method."""
  steps = 0 if method == 'untrained' else steps
  algo = 'alignment' if method == 'untrained' else method
  args = ['--override=TRAINING_ALGO=%s' % algo,
          '--override=TRAIN.MAX_ITERS=%d' % steps]
  args += ['--override=%s' % o for o in overrides]
  return train_and_score(os.path.join(root, method), args, steps,
                         os.path.join(root, method))


def format_row(name, record, seconds):
  cells = ['%-18s' % name] + [
      '%12s' % ('%.3f' % record[key] if record.get(key) is not None else 'n/a')
      for _, key in METRICS] + ['%9.0f' % seconds]
  return ' '.join(cells)


# The demo's bar: (title, results.jsonl key, lowest mean over the seeds).
DEMO_BARS = (('accuracy@1', 'classification/accuracy@1', 0.9),
             ('tau val', 'kendalls_tau/val', 0.95))
# README command 1 within 3 minutes on 2 cores, the install's ~55 s included.
DEMO_SECONDS = 125


def children_cpu_seconds():
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def run_demo(logdir, seed, overrides):
  """`python demo.py` for `seed`.

  Returns:
    (last results record, wall s, CPU s (user + system), training wall s).
  """
  shutil.rmtree(logdir, ignore_errors=True)
  log_path = logdir + '_demo.log'
  start, cpu_start = time.time(), children_cpu_seconds()
  run([sys.executable, 'demo.py', '--logdir', logdir,
       '--override=SEED=%d' % seed] + ['--override=%s' % o for o in overrides],
      log_path)
  seconds, cpu_seconds = time.time() - start, children_cpu_seconds() - cpu_start
  with open(log_path) as f:
    # demo.py ends with a line of seconds per stage; training is the first.
    training = [float(line.split()[-2]) for line in f
                if line.startswith('training ') and line.endswith(' s\n')]
  with open(os.path.join(logdir, 'eval', 'results.jsonl')) as f:
    record = json.loads(f.read().splitlines()[-1])
  return record, seconds, cpu_seconds, training[-1]


def demo_bar(seeds, root, overrides):
  """Runs the demo for every seed; prints the table and the PASS/FAIL lines."""
  print('Demo time and quality: python demo.py, seeds %s.' %
        ', '.join(map(str, seeds)), flush=True)
  rows = []
  for seed in seeds:
    print('... seed %d' % seed, flush=True)
    record, *seconds = run_demo(os.path.join(root, 'demo_seed%d' % seed),
                                seed, overrides)
    rows.append(seconds + [record[key] for _, key, _ in DEMO_BARS])
  titles = (['demo.py s', 'demo.py CPU s', 'training s'] +
            [title for title, _, _ in DEMO_BARS])
  header = '%-6s' % 'seed' + ''.join('%15s' % t for t in titles)
  print()
  print(header)
  print('-' * len(header))
  for seed, row in zip(seeds, rows):
    print('%-6d' % seed + ''.join('%15.3f' % v for v in row))
  values = np.array(rows)
  print('%-6s' % 'mean' + ''.join('%15.3f' % v for v in values.mean(0)))
  print('%-6s' % 'std' + ''.join('%15.3f' % v for v in values.std(0)))
  print()
  print('demo.py took %.0f s (%.0f CPU s) on average; the bar is %d s on an '
        'idle 2-core machine (3 minutes with the install).' % (
            values[:, 0].mean(), values[:, 1].mean(), DEMO_SECONDS))
  for column, (title, _, bar) in enumerate(DEMO_BARS, 3):
    mean = values[:, column].mean()
    print('%s: mean %s %.3f >= %.2f' % ('PASS' if mean >= bar else 'FAIL',
                                        title, mean, bar))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seeds', default='0,1,2',
                      help='seeds of the demo runs (without --methods)')
  parser.add_argument('--steps', type=int, default=None,
                      help='training steps per method (default: the demo '
                      'config TRAIN.MAX_ITERS)')
  parser.add_argument('--methods', default='',
                      help='compare these methods (%s) instead of timing the '
                      'demo' % ','.join(METHODS))
  parser.add_argument('--root', default='/tmp/demo_quality')
  parser.add_argument('--override', action='append', default=[])
  args = parser.parse_args()
  os.makedirs(args.root, exist_ok=True)
  if not args.methods:
    demo_bar([int(s) for s in args.seeds.split(',') if s], args.root,
             args.override)
    return
  import config  # pylint: disable=g-import-not-at-top
  steps = args.steps or config.CONFIG.TRAIN.MAX_ITERS
  methods = [m for m in args.methods.split(',') if m]
  unknown = sorted(set(methods) - set(METHODS))
  if unknown:
    sys.exit('unknown methods %s; known: %s' % (unknown, ', '.join(METHODS)))

  header = ' '.join(['%-18s' % 'method'] + ['%12s' % t for t, _ in METRICS]
                    + ['%9s' % 'train s'])
  print('Demo quality: %d training steps per method, demo config, '
        'validation split.' % steps, flush=True)
  results = {}
  for method in methods:
    print('... %s' % method, flush=True)
    results[method] = train_and_evaluate(method, steps, args.root,
                                         args.override)
  print()
  print(header)
  print('-' * len(header))
  for method in methods:
    print(format_row(method, *results[method]))

  if 'alignment' in results:
    tcc = results['alignment'][0]
    checks = [('TCC tau val >= 0.9', tcc['kendalls_tau/val'] >= 0.9),
              ('TCC phase accuracy >= 0.9',
               tcc['classification/accuracy@1'] >= 0.9)]
    if 'untrained' in results:
      floor = results['untrained'][0]
      for title, key in METRICS:
        checks.append(('TCC beats untrained on %s' % title,
                       tcc[key] > floor[key]))
    print()
    for text, ok in checks:
      print('%s: %s' % ('PASS' if ok else 'FAIL', text))


if __name__ == '__main__':
  main()
