r"""Multi-view quality: TCN variants and TCC with the same budget, 3 seeds.

    python -m experiments.multiview_quality [--steps N] [--seeds 0,1,2] \
        [--methods a,b,...] [--root /tmp/multiview_quality] \
        [--override KEY.SUB=VALUE ...] [--records FILE]

Trains each method with configs/methods/multiview_tcn.yml (synthetic takes filmed by
two cameras) for the same number of steps and seeds, evaluates its last
checkpoint on the validation takes, and prints mean and standard deviation
over the seeds of: the published cross-view alignment error (lower is
better), cross-view Kendall's tau, phase accuracy (SVM on view 0) and the
published 1-NN classification error over all views. `untrained` is the same
network with TRAIN.MAX_ITERS=0. Each run is `train.py` then
`evaluate.py --once` in subprocesses; results are read from results.jsonl.
Every scored run is also kept as one line of --records (by default
experiments/results/multiview_quality.jsonl): method, seed, steps, embedded
steps per take, config, extra overrides and the metrics.
Prints PASS/FAIL for: mvtcn beats the untrained network on alignment error,
tau and phase accuracy, and beats svtcn on alignment error.
"""

import argparse
import os
import sys

import numpy as np

from benchmarks.demo_quality import train_and_score
from experiments import records

ROOT = records.ROOT
RECORDS = os.path.join(records.RESULTS_DIR, 'multiview_quality.jsonl')
CONFIG_PATH = os.path.join(ROOT, 'configs', 'methods', 'multiview_tcn.yml')
# method -> (TRAINING_ALGO, extra overrides). `mvtcn` is the published
# n-pairs loss; `mvtcn_triplet` the published triplet loss with semi-hard
# mining.
METHODS = {'untrained': ('mvtcn', []), 'mvtcn': ('mvtcn', []),
           'mvtcn_triplet': ('mvtcn', ['MVTCN.LOSS=triplet']),
           'alignment': ('alignment', []),
           'alignment_mvtcn': ('alignment_mvtcn', []),
           'svtcn': ('svtcn', [])}
# Views per sampled step of each training algorithm: a run embeds
# --steps_per_take / views steps of each take, so every method embeds the
# same number of frames per training step.
VIEWS = {'mvtcn': 2, 'alignment': 1, 'alignment_mvtcn': 2, 'svtcn': 1}
# (column title, results.jsonl key)
METRICS = (
    ('align err', 'multiview/alignment_error'),
    ('x-view tau', 'multiview/kendalls_tau'),
    ('phase acc', 'classification/accuracy@1'),
    ('1-NN err', 'multiview/knn_error@1'),
)


def train_and_evaluate(method, seed, steps, steps_per_take, root,
                       overrides):
  """Returns (last results record, training seconds) of one run."""
  name = '%s_seed%d' % (method, seed)
  algo, extra = METHODS[method]
  steps = 0 if method == 'untrained' else steps
  args = ['--config_path', CONFIG_PATH,
          '--override=TRAINING_ALGO=%s' % algo,
          '--override=TRAIN.NUM_FRAMES=%d' % (steps_per_take // VIEWS[algo]),
          '--override=TRAIN.MAX_ITERS=%d' % steps,
          '--override=SEED=%d' % seed,
          '--override=EVAL.TASKS=[classification, multiview]']
  args += ['--override=%s' % o for o in extra + overrides]
  return train_and_score(os.path.join(root, name), args, steps,
                         os.path.join(root, name))


def run_key(entry):
  return (entry['method'], entry['seed'], entry['steps'],
          entry['steps_per_take'], tuple(entry['overrides']))


def summarize(runs):
  """{key: (mean, std)} over the seeds' results records."""
  out = {}
  for _, key in METRICS:
    values = [r[key] for r in runs if r.get(key) is not None]
    out[key] = (float(np.mean(values)), float(np.std(values))) if values else (
        float('nan'), float('nan'))
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=1500)
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--steps_per_take', type=int, default=32,
                      help='embedded steps per take and training step (all '
                      'views): TRAIN.NUM_FRAMES is this / views')
  parser.add_argument('--methods', default=','.join(METHODS))
  parser.add_argument('--root', default='/tmp/multiview_quality')
  parser.add_argument('--override', action='append', default=[])
  parser.add_argument('--records', default=RECORDS,
                      help='JSON-lines file of every scored run (default %s)'
                      % os.path.relpath(RECORDS, ROOT))
  args = parser.parse_args()
  os.makedirs(args.root, exist_ok=True)
  methods = [m for m in args.methods.split(',') if m]
  unknown = sorted(set(methods) - set(METHODS))
  if unknown:
    sys.exit('unknown methods %s; known: %s' % (unknown, ', '.join(METHODS)))
  seeds = [int(s) for s in args.seeds.split(',')]
  print('Multi-view quality: %d training steps per run, %d embedded steps '
        'per take, seeds %s, %s%s; validation takes, mean +- std over '
        'seeds.' % (
            args.steps, args.steps_per_take, seeds,
            os.path.relpath(CONFIG_PATH, ROOT),
            ''.join(' --override %s' % o for o in args.override)), flush=True)
  results = {}
  for method in methods:
    runs = []
    for seed in seeds:
      record, seconds = train_and_evaluate(method, seed, args.steps,
                                           args.steps_per_take, args.root,
                                           args.override)
      runs.append((record, seconds))
      records.save_record(args.records, {
          'method': method, 'seed': seed, 'split': 'val',
          'steps': 0 if method == 'untrained' else args.steps,
          'steps_per_take': args.steps_per_take,
          'config': os.path.relpath(CONFIG_PATH, ROOT),
          'overrides': args.override, 'train_seconds': round(seconds),
          'metrics': {key: record.get(key) for _, key in METRICS}}, run_key)
      print('... %s seed %d: %s (train %.0f s)' % (method, seed, ', '.join(
          '%s %.3f' % (t, record.get(k, float('nan'))) for t, k in METRICS),
                                                  seconds), flush=True)
    results[method] = (summarize([r for r, _ in runs]),
                       np.mean([s for _, s in runs]))
  header = ' '.join(['%-16s' % 'method'] + ['%15s' % t for t, _ in METRICS] +
                    ['%9s' % 'train s'])
  print()
  print(header)
  print('-' * len(header))
  for method in methods:
    stats, seconds = results[method]
    print(' '.join(['%-16s' % method] + [
        '%15s' % ('%.3f +- %.3f' % stats[k]) for _, k in METRICS] +
                   ['%9.0f' % seconds]))
  if 'mvtcn' in results:
    mv = results['mvtcn'][0]
    checks = []
    if 'untrained' in results:
      floor = results['untrained'][0]
      checks += [
          ('mvtcn alignment error < untrained',
           mv['multiview/alignment_error'][0] <
           floor['multiview/alignment_error'][0]),
          ('mvtcn cross-view tau > untrained',
           mv['multiview/kendalls_tau'][0] > floor['multiview/kendalls_tau'][0]),
          ('mvtcn phase accuracy > untrained',
           mv['classification/accuracy@1'][0] >
           floor['classification/accuracy@1'][0])]
    if 'svtcn' in results:
      checks.append(('mvtcn alignment error < svtcn',
                     mv['multiview/alignment_error'][0] <
                     results['svtcn'][0]['multiview/alignment_error'][0]))
    print()
    for text, ok in checks:
      print('%s: %s' % ('PASS' if ok else 'FAIL', text))


if __name__ == '__main__':
  main()
