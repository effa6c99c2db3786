r"""Quality of TCC, LAV, SCL, GTA, TCC+TCN and the untrained network.

    python -m experiments.alignment_methods_quality [--steps N] \
        [--seeds 0,1,2] \
        [--methods a,b,...] [--renders default,time_symmetric] \
        [--root /tmp/alignment_methods_quality] [--override KEY.SUB=VALUE ...] \
        [--records FILE] [--table]

Every method trains with the demo config (the defaults) for the same number
of steps on the synthetic pouring data, once per seed (CONFIG.SEED: weights,
sampling, augmentation; the data are the same), on the default render and on
the time-symmetric one (SYNTHETIC.TIME_SYMMETRIC: the container is put back
along the path it came). The last checkpoint is scored with every evaluation
task on the validation split; the table gives mean +- standard deviation
over the seeds. `untrained` is the same network with no training step.

Runs are in-process (train.train, evaluate.evaluate_once), one after the
other (seed by seed), each in <root>/<render>/<method>/seed<k>; a run whose
results exist is not trained again, and a stopped run resumes from its last
checkpoint (every 250 steps), so an interrupted benchmark resumes where it
stopped.

Every scored run is also kept as one line of --records (by default
experiments/results/alignment_methods_quality.jsonl, in the repository): its
render, method, seed, steps, extra overrides, commit, date and metrics. The
tables are made from all the records of the same steps and overrides, so
seeds measured on other machines or in other sessions count; --table prints
them without training anything.
"""

import argparse
import json
import os
import sys
import time

from experiments import records

ROOT = records.ROOT

RECORDS = os.path.join(records.RESULTS_DIR, 'alignment_methods_quality.jsonl')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# name -> (TRAINING_ALGO, extra overrides)
METHODS = {
    'untrained': ('alignment', []),
    'tcc': ('alignment', []),
    'lav': ('lav', []),
    'scl': ('scl', []),
    'gta': ('gta', []),
    'tcc+tcn': ('alignment_sal_tcn', [
        'ALIGNMENT_SAL_TCN.ALIGNMENT_LOSS_WEIGHT=0.5',
        'ALIGNMENT_SAL_TCN.SAL_LOSS_WEIGHT=0.0']),
    # LAV with the embedder's output L2-normalised (as LAV's own embedder),
    # so that evaluation sees the normalised embeddings the loss saw.
    'lav_l2emb': ('lav', ['MODEL.CONV_EMBEDDER_MODEL.L2_NORMALIZE=true']),
}
RENDERS = {'default': False, 'time_symmetric': True}
TASKS = ['classification', 'few_shot_classification', 'event_completion',
         'kendalls_tau', 'retrieval', 'progress_error']
# (column title, results key); progress mae: lower is better.
METRICS = (
    ('phase acc', 'classification/accuracy@1'),
    ('5-shot', 'few_shot_classification/accuracy@5shot'),
    ('progress R2', 'event_completion/r2@1'),
    ('tau val', 'kendalls_tau/val'),
    ('mAP@5', 'retrieval/map@5'),
    ('mAP@10', 'retrieval/map@10'),
    ('mAP@15', 'retrieval/map@15'),
    ('prog. mae', 'progress_error/mae'),
)


def run_one(logdir, algo, overrides, steps):
  """Trains (unless already scored) and scores one run; returns its record."""
  import evaluate  # pylint: disable=g-import-not-at-top
  from runners import evaluation as eval_runner  # pylint: disable=g-import-not-at-top
  import train  # pylint: disable=g-import-not-at-top
  results = eval_runner.read_results(logdir) if os.path.isdir(logdir) else []
  if results and results[-1]['step'] == steps:
    return results[-1], None
  start = time.time()
  train.train(logdir, overrides=['TRAINING_ALGO=%s' % algo] + overrides,
              max_iters=steps)
  seconds = time.time() - start
  record = evaluate.evaluate_once(logdir, log=lambda message: None)
  if record['step'] != steps:
    # train.train() stops early on SIGTERM / Ctrl-C after saving: never
    # report such a run as one of `steps` steps.
    sys.exit('%s: training stopped at step %d of %d; run the benchmark '
             'again to resume it.' % (logdir, record['step'], steps))
  return record, seconds


def run_key(entry):
  return (entry['render'], entry['method'], entry['seed'], entry['steps'],
          tuple(entry['overrides']))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=None,
                      help='training steps per run (default TRAIN.MAX_ITERS)')
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--methods', default=','.join(METHODS))
  parser.add_argument('--renders', default=','.join(RENDERS))
  parser.add_argument('--root', default='/tmp/alignment_methods_quality')
  parser.add_argument('--override', action='append', default=[])
  parser.add_argument('--records', default=RECORDS,
                      help='JSON-lines file of every scored run (default %s)'
                      % os.path.relpath(RECORDS, ROOT))
  parser.add_argument('--table', action='store_true',
                      help='print the tables from --records; train nothing')
  args = parser.parse_args()
  import config  # pylint: disable=g-import-not-at-top
  steps = args.steps or config.CONFIG.TRAIN.MAX_ITERS
  seeds = [int(s) for s in args.seeds.split(',') if s]
  methods = [m for m in args.methods.split(',') if m]
  renders = [r for r in args.renders.split(',') if r]
  unknown = sorted(set(methods) - set(METHODS)) + sorted(
      set(renders) - set(RENDERS))
  if unknown:
    sys.exit('unknown methods/renders %s; known: %s; %s' % (
        unknown, ', '.join(METHODS), ', '.join(RENDERS)))
  print('Alignment methods: %d training steps per run, demo config, seeds %s, '
        'validation split; mean+-std over seeds.' % (steps, seeds))
  print('extra overrides: %s' % (' '.join(args.override) or 'none'),
        flush=True)
  # Seed-major, so that an interrupted benchmark has every method and render.
  for seed in [] if args.table else seeds:
    for method in methods:
      algo, extra = METHODS[method]
      for render in renders:
        logdir = os.path.join(args.root, render, method, 'seed%d' % seed)
        overrides = extra + [
            'SEED=%d' % seed, 'EVAL.TASKS=%s' % json.dumps(TASKS),
            'SYNTHETIC.TIME_SYMMETRIC=%s' % str(RENDERS[render]).lower(),
            'PATH_TO_TFRECORDS=%s' % os.path.join(args.root, 'data', render,
                                                  '%s'),
            # A checkpoint every 250 steps: a stopped run resumes there.
            'CHECKPOINT.SAVE_INTERVAL=%d' % max(1, min(steps, 250))
        ] + args.override
        run_steps = 0 if method == 'untrained' else steps
        record, seconds = run_one(logdir, algo, overrides, run_steps)
        records.save_record(args.records, {
            'render': render, 'method': method, 'seed': seed,
            'split': 'val', 'steps': run_steps, 'overrides': args.override,
            # The commit that trained it, if this process did.
            'commit': None if seconds is None else records.commit(),
            'measured': record.get('time'),
            'train_seconds': seconds and round(seconds),
            'metrics': {key: record.get(key) for _, key in METRICS}},
            run_key)
        print('... %s %s seed %d: %s%s' % (
            render, method, seed, ', '.join(
                '%s %.3f' % (title, record[key]) for title, key in METRICS
                if record.get(key) is not None),
            '' if seconds is None else ' (train %.0f s)' % seconds),
              flush=True)
  tables = {}
  for entry in records.read_records(args.records):
    if (entry['overrides'] == args.override and entry['seed'] in seeds and
        entry['steps'] == (0 if entry['method'] == 'untrained' else steps)):
      tables.setdefault((entry['render'], entry['method']), {})[
          entry['seed']] = entry['metrics']
  header = ' '.join(['%-10s' % 'method', 'seeds'] +
                    ['%13s' % t for t, _ in METRICS])
  for render in renders:
    print('\n%s render:' % render)
    print(header)
    print('-' * len(header))
    for method in methods:
      by_seed = tables.get((render, method), {})
      print(' '.join(['%-10s' % method, '%5d' % len(by_seed)] + [
          records.mean_std([m.get(key) for m in by_seed.values()], 13)
          for _, key in METRICS]))


if __name__ == '__main__':
  main()
