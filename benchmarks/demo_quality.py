r"""Demo quality: every method with the same budget on the synthetic data.

    python -m benchmarks.demo_quality [--steps N] [--methods a,b,...] \
        [--root /tmp/demo_quality] [--override KEY.SUB=VALUE ...]

Trains each method with the demo config (the defaults) for the same number of
steps, evaluates its last checkpoint with every evaluation task, and prints
one table, with the same network untrained (TRAIN.MAX_ITERS=0) as the floor.
Each run is a pair of subprocesses (`train.py`, `evaluate.py --once`), exactly
what a user runs; results are read back from each logdir's results.jsonl.
Prints PASS/FAIL for the demo's bar: TCC reaches validation Kendall's tau
>= 0.9 and phase classification >= 90 %, and beats the untrained network on
every metric.
"""

import argparse
import json
import os
import subprocess
import sys
import time

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


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=None,
                      help='training steps per method (default: the demo '
                      'config TRAIN.MAX_ITERS)')
  parser.add_argument('--methods', default=','.join(METHODS))
  parser.add_argument('--root', default='/tmp/demo_quality')
  parser.add_argument('--override', action='append', default=[])
  args = parser.parse_args()
  import config  # pylint: disable=g-import-not-at-top
  steps = args.steps or config.CONFIG.TRAIN.MAX_ITERS
  os.makedirs(args.root, exist_ok=True)
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
