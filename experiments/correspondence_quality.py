r"""Label-propagation quality on the synthetic moving-objects videos.

    python -m experiments.correspondence_quality [--steps N] [--seeds 0,1,2] \
        [--methods crw,timecycle,untrained,pixels,static] \
        [--frame_scales 1,2,4] \
        [--root DIR] [--override KEY.SUB=VALUE ...] [--records FILE] \
        [--split val|train] [--table]

For each seed: trains `crw` (configs/demo/crw_demo.yml) and `timecycle`
(configs/demo/timecycle_demo.yml) for the same number of steps, saves the same
encoder untrained (the CRW demo config with TRAIN.MAX_ITERS=0), and scores
each with `evaluate.py --once` (task label_propagation: DAVIS-2017 J&F and
PCK@0.1/0.2 on the validation videos, propagation defaults n=20, k=10,
radius 12, temperature 0.05) once per frame scale
(PROPAGATION.FRAME_SCALE: frames resized by this factor before their
features are computed; the demo configs use 2). The raw-colour baseline
(`pixels`) propagates RGB averaged over 8 x 8 cells of the same resized
frames (no training, no randomness). `static` holds the first frame's masks
and keypoints still in every frame (no features: the same at every scale),
which says how much there is to track.

--split train scores the same encoders on the first 8 training videos
instead (PROPAGATION.SPLIT=train, PROPAGATION.MAX_SEQUENCES=8; their masks
are never used in training, though the self-supervised encoders have seen
their frames): a development set on which to choose settings, such as the
frame scale, before reading the validation videos.

Prints one table per frame scale, mean +- standard deviation over seeds.
Every run is a subprocess, exactly what a user runs; a trained run is not
trained again (train.py resumes and stops at its step count); logs are under
--root.

Every score is also kept as one line of --records (by default
experiments/results/correspondence_quality.jsonl, in the repository): method,
seed, steps, extra overrides, frame scale, the commit that scored it, the
commit that trained it (None when the run was trained before), the training
seconds, the split and the metrics. The tables are made from all the records
of the same steps, overrides and split, so runs measured in other sessions
count; --table prints them without training or scoring anything.
"""

import argparse
import json
import os
import sys
import time

import yaml

from benchmarks.demo_quality import run
from experiments import records

ROOT = records.ROOT

RECORDS = os.path.join(records.RESULTS_DIR, 'correspondence_quality.jsonl')

METHODS = ('crw', 'timecycle', 'untrained', 'pixels', 'static')
CONFIGS = {'crw': 'configs/demo/crw_demo.yml',
           'timecycle': 'configs/demo/timecycle_demo.yml',
           'untrained': 'configs/demo/crw_demo.yml'}
METRICS = (('J&F', 'JF_mean'), ('J', 'J_mean'), ('F', 'F_mean'),
           ('PCK@0.1', 'PCK@0.1'), ('PCK@0.2', 'PCK@0.2'))


DEV_SEQUENCES = 8


def split_overrides(split):
  """Evaluation overrides that score `split`: 'val' (all the validation
  videos) or 'train' (the first DEV_SEQUENCES training videos)."""
  if split == 'val':
    return ['PROPAGATION.SPLIT=val']
  return ['PROPAGATION.SPLIT=%s' % split,
          'PROPAGATION.MAX_SEQUENCES=%d' % DEV_SEQUENCES]


def train(method, seed, steps, root, overrides):
  """Trains (or, for `untrained`, saves at step 0) `method` with train.py
  into <root>/<method>_seed<seed>; a finished run is resumed, not trained
  again. Returns the logdir, the training seconds and whether this call
  trained it (False: resumed a finished run)."""
  name = '%s_seed%d' % (method, seed)
  logdir = os.path.join(root, name)
  trained_before = os.path.isdir(logdir)
  args = ['--config_path', CONFIGS[method], '--override=SEED=%d' % seed]
  if method == 'untrained':
    args.append('--override=TRAIN.MAX_ITERS=0')
  elif steps is not None:
    args.append('--override=TRAIN.MAX_ITERS=%d' % steps)
  args += ['--override=%s' % o for o in overrides]
  start = time.time()
  run([sys.executable, 'train.py', '--logdir', logdir] + args,
      os.path.join(root, name + '_train.log'))
  return logdir, time.time() - start, not trained_before


def eval_overrides(overrides):
  """The training overrides that evaluate.py takes too."""
  return [o for o in overrides
          if o.startswith(('PATH_TO_TFRECORDS', 'EVAL.', 'PROPAGATION.'))]


def train_and_score(method, seed, steps, root, overrides, frame_scales,
                    split='val'):
  """{frame scale: {metric: value}} of one trained (or untrained) encoder
  on the videos of `split`, its training seconds and whether this call
  trained it (False: resumed a finished run)."""
  logdir, seconds, trained = train(method, seed, steps, root, overrides)
  name = os.path.basename(logdir)
  eval_args = ['--override=EVAL.TASKS=[label_propagation]']
  eval_args += ['--override=%s' % o for o in eval_overrides(overrides)]
  eval_args += ['--override=%s' % o for o in split_overrides(split)]
  suffix = '' if split == 'val' else '_' + split
  scores = {}
  for scale in frame_scales:
    run([sys.executable, 'evaluate.py', '--logdir', logdir, '--once',
         '--force', '--override=PROPAGATION.FRAME_SCALE=%g' % scale] +
        eval_args,
        os.path.join(root, '%s_eval_x%g%s.log' % (name, scale, suffix)))
    with open(os.path.join(logdir, 'eval', 'results.jsonl')) as f:
      record = [json.loads(line) for line in f if line.strip()][-1]
    scores[scale] = {key: record['label_propagation/' + key]
                     for _, key in METRICS}
  return scores, seconds, trained


def score_baseline(method, overrides, frame_scales, split='val'):
  """{frame scale: {metric: value}} of a baseline with nothing to train on
  the videos of `split`: `pixels` (raw colours) or `static` (the first
  frame's labels held still)."""
  return {scale: _score_baseline(method, overrides + split_overrides(split) + [
      'PROPAGATION.FRAME_SCALE=%g' % scale]) for scale in frame_scales}


def _score_baseline(method, overrides):
  from evaluation import label_propagation  # pylint: disable=g-import-not-at-top
  return score_features(
      label_propagation.pixel_features if method == 'pixels' else None,
      overrides)


def score_features(feature_fn, overrides):
  """{metric: value} of propagation with an unlearned `feature_fn` (uint8
  frames -> feature maps, applied to frames resized by
  PROPAGATION.FRAME_SCALE; None: the first frame's labels held still) under
  the CRW demo config and `overrides`."""
  import config  # pylint: disable=g-import-not-at-top
  from dataset_preparation import generate  # pylint: disable=g-import-not-at-top
  from evaluation import label_propagation  # pylint: disable=g-import-not-at-top
  cfg = config.build_config([os.path.join(ROOT, CONFIGS['crw'])], overrides)
  generate.ensure_generated(cfg)
  summary = label_propagation.evaluate_davis_root(
      None if feature_fn is None else
      label_propagation.scaled_feature_fn(feature_fn,
                                          cfg.PROPAGATION.FRAME_SCALE),
      label_propagation.davis_root_from_config(cfg), cfg.PROPAGATION.SPLIT,
      log=lambda m: None, max_sequences=cfg.PROPAGATION.MAX_SEQUENCES or None,
      **label_propagation.propagation_args_from_config(cfg))
  summary.pop('per_object')
  scores = {label_propagation.metric_name(k): v for k, v in summary.items()}
  return {key: scores[key] for _, key in METRICS}


def demo_steps(method):
  """TRAIN.MAX_ITERS of the method's demo config (0: untrained)."""
  if method == 'untrained':
    return 0
  with open(os.path.join(ROOT, CONFIGS[method])) as f:
    return yaml.safe_load(f)['TRAIN']['MAX_ITERS']


def run_key(entry):
  return (entry['method'], -1 if entry['seed'] is None else entry['seed'],
          -1 if entry['steps'] is None else entry['steps'],
          tuple(entry['overrides']), entry['frame_scale'], entry_split(entry))


def entry_split(entry):
  """The split a record scored ('val' for records older than the key)."""
  return records.with_defaults(entry)['split']


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=None,
                      help='training steps (default: the demo configs, 600)')
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--methods', default=','.join(METHODS))
  parser.add_argument('--root', default='/tmp/correspondence_quality')
  parser.add_argument('--override', action='append', default=[])
  parser.add_argument('--frame_scales', default='1,2,4',
                      help='PROPAGATION.FRAME_SCALE values to score at')
  parser.add_argument('--records', default=RECORDS,
                      help='JSON-lines file of every score (default %s)'
                      % os.path.relpath(RECORDS, ROOT))
  parser.add_argument('--split', default='val', choices=('val', 'train'),
                      help='videos to score: val (the validation videos) or '
                      'train (the first %d training videos, a development '
                      'set)' % DEV_SEQUENCES)
  parser.add_argument('--table', action='store_true',
                      help='print the tables from --records; run nothing')
  args = parser.parse_args()
  seeds = [int(s) for s in args.seeds.split(',')]
  methods = [m for m in args.methods.split(',') if m]
  unknown = sorted(set(methods) - set(METHODS))
  if unknown:
    sys.exit('unknown methods %s; known: %s' % (unknown, ', '.join(METHODS)))
  scales = [float(s) for s in args.frame_scales.split(',')]
  steps = {m: None if m in ('pixels', 'static') else
           0 if m == 'untrained' else args.steps or demo_steps(m)
           for m in methods}
  if not args.table:
    os.makedirs(args.root, exist_ok=True)
  head = records.commit()
  for method in [] if args.table else methods:
    if method in ('pixels', 'static'):
      runs = [(None, score_baseline(method, args.override, scales,
                                    args.split), None, False)]
    else:
      runs = [(seed,) + train_and_score(method, seed, args.steps, args.root,
                                        args.override, scales, args.split)
              for seed in seeds]
    for seed, score, seconds, trained in runs:
      print('%s%s: %s' % (method, '' if seed is None else ' seed %d' % seed,
                          score), flush=True)
      for scale in scales:
        records.save_record(args.records, {
            'method': method, 'seed': seed, 'steps': steps[method],
            'split': args.split,
            'overrides': args.override, 'frame_scale': scale,
            'commit': head,
            'trained_at_commit': head if trained else None,
            'train_seconds': seconds and round(seconds),
            'measured': time.strftime('%Y-%m-%d'),
            'metrics': score[scale]}, run_key)
  tables = {}
  for entry in records.read_records(args.records):
    if (entry['method'] in methods and entry['overrides'] == args.override
        and entry['steps'] == steps[entry['method']]
        and entry['seed'] in seeds + [None]
        and entry_split(entry) == args.split):
      tables.setdefault((entry['frame_scale'], entry['method']), []).append(
          entry['metrics'])
  for scale in scales:
    print('\nLabel propagation on the synthetic %s, frames x%g '
          '(mean+-std over seeds; pixels, static: deterministic)' % (
              'validation videos' if args.split == 'val' else
              'development videos (the first %d training videos)'
              % DEV_SEQUENCES, scale))
    header = ' '.join(['%-10s' % 'method', 'seeds'] +
                      ['%13s' % t for t, _ in METRICS])
    print(header)
    print('-' * len(header))
    for method in methods:
      scores = tables.get((scale, method), [])
      print(' '.join(['%-10s' % method, '%5d' % len(scores)] + [
          records.mean_std([s[key] for s in scores], 13)
          for _, key in METRICS]))


if __name__ == '__main__':
  main()
