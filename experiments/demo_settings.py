r"""TCC demo settings: phase accuracy, Kendall's tau and reversed video pairs.

    python -m experiments.demo_settings --name NAME [--seeds 0,1,2] \
        [--root DIR] [--records FILE] --override KEY.SUB=VALUE ...

Trains TCC (the demo config plus the overrides) once per seed, scores the
last checkpoint with the demo's evaluation tasks, and measures how many
pairs of validation videos are aligned backwards: the fraction of ordered
pairs whose Kendall's tau is below -0.5 (`kendalls_tau/val_reversed_pairs`).
With context frames, TCC can align mirrored and unmirrored videos time-
reversed, with as low a training loss (docs/configuration.md, "Why one
context frame"); the mean tau then falls to about 0 while every pair is
near +1 or -1.

Each run is one line of --records (default
experiments/results/demo_settings.jsonl); its `settings` are the
overrides, so give every setting that differs between the rows explicitly
(then a row does not depend on which release's defaults ran it).
`python -m experiments.make_results` makes the results page.
"""

import argparse
import os
import time

import numpy as np

import config
from evaluation import embeddings as embeddings_io
from evaluation import kendall
from experiments import records
from runners import evaluation as evaluation_runner
from runners import training

RECORDS = os.path.join(records.RESULTS_DIR, 'demo_settings.jsonl')
METRICS = ('classification/accuracy@1', 'kendalls_tau/val',
           'kendalls_tau/train')
REVERSED_TAU = -0.5


def reversed_pair_fraction(embs_list, stride, distance):
  """Fraction of ordered video pairs with Kendall's tau < REVERSED_TAU."""
  taus = kendall.pairwise_kendalls_tau(embs_list, stride, distance)
  defined = taus[~np.isnan(taus)]
  return float(np.mean(defined < REVERSED_TAU))


def run(logdir, seed, overrides):
  """{metric: value} of one seed (trains into logdir, resumes if there)."""
  start = time.time()
  training.train(logdir, [], ['SEED=%d' % seed] + list(overrides))
  seconds = time.time() - start
  record = evaluation_runner.evaluate_once(logdir, log=lambda m: None)
  path = os.path.join(logdir, 'val_embeddings.npz')
  embeddings_io.extract(logdir, None, 'val', path)
  data = embeddings_io.load_embeddings(path)
  cfg = config.build_config([os.path.join(logdir, 'config.yml')], [])
  metrics = {key: record[key] for key in METRICS}
  metrics['kendalls_tau/val_reversed_pairs'] = reversed_pair_fraction(
      data['embs'], cfg.EVAL.KENDALLS_TAU_STRIDE,
      cfg.EVAL.KENDALLS_TAU_DISTANCE)
  return metrics, seconds


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--name', required=True, help='the row label')
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--root', default='/tmp/demo_settings')
  parser.add_argument('--override', action='append', default=[])
  parser.add_argument('--records', default=RECORDS)
  args = parser.parse_args()
  for seed in (int(s) for s in args.seeds.split(',')):
    logdir = os.path.join(args.root, '%s_s%d' % (args.name, seed))
    metrics, seconds = run(logdir, seed, args.override)
    print('%s seed %d: %s' % (args.name, seed, metrics), flush=True)
    records.save_record(args.records, {
        'method': 'alignment', 'setting': args.name, 'seed': seed,
        'split': 'val', 'settings': args.override, 'metrics': metrics,
        'commit': records.commit(), 'measured': time.strftime('%Y-%m-%d'),
        'train_seconds': round(seconds)},
                        lambda r: (r['setting'], r['seed'],
                                   tuple(r['settings'])))


if __name__ == '__main__':
  main()
