r"""Label propagation on the synthetic test sets where colour is not enough.

    python -m experiments.correspondence_sets [--sets instance_drift,...] \
        [--methods colour,static,pixels,patches,untrained,crw,timecycle] \
        [--seeds 0,1,2] [--steps N] [--frame_scale 2] [--root DIR] \
        [--records FILE] [--table]

The sets are those of dataset_preparation/synthetic_objects.py SETS
(SYNTHETIC_OBJECTS.SET; docs/correspondence.md), each generated into its own
folder on first use. On each set's validation videos:

- `colour` propagates nothing: it measures how well colour alone identifies
  the objects, before anything is trained. On frame 0 of each video, the
  colour angle (degrees between mean colours mapped to [-1, 1], the space
  the raw-colour baseline compares in) between each object and the
  background (`angle_object_background_median`, `_min`) and between the
  objects of a video (`angle_between_objects_median`, `_min`; videos with
  two or more objects). Nearest-colour labelling: the frames cut into 8 x 8
  cells, a cell 'pure' when one label covers it; every pure cell of frames
  1.. takes the label of the frame-0 pure cell whose mean colour is the most
  similar (cosine); `nearest_colour_accuracy` is the fraction right,
  `nearest_colour_accuracy_objects` the same over the cells of objects.
- the baselines, on the shared propagation (correspondence/propagation.py,
  the CRW demo config's settings) and scoring (J&F, PCK@0.1/0.2):
  `static` holds the first frame's labels still; `pixels` propagates raw
  colour (RGB averaged over 8 x 8 cells); `patches` raw 8 x 8 patches (the
  192 values of each cell); `untrained` the CRW demo encoder at step 0,
  per seed. `pixels` and `patches` see frames resized by --frame_scale,
  like the encoders.
- `crw` and `timecycle`: the demo configs trained for --steps (default:
  theirs) on the set's training videos, per seed (train.py subprocesses,
  experiments/correspondence_quality.py's `train`; logdirs under
  --root/<set>), scored with evaluate.py's `evaluate_once` in this process.
  The `untrained` encoders are made once per seed (TRAIN.MAX_ITERS=0, under
  --root/UNTRAINED_SET) and scored on every set.

Every score is one line of --records (default
experiments/results/correspondence_sets.jsonl): method, seed (None:
deterministic), task (colour or label_propagation), steps, set, split,
frame scale (None for colour), overrides, provenance and metrics. `python -m experiments.make_results` makes the results page; --table
prints J&F per set and method from the records without running anything.
"""

import argparse
import itertools
import os
import sys
import time

import numpy as np

from correspondence import davis_io
from dataset_preparation import synthetic_objects
import evaluate as evaluate_cli
from experiments import correspondence_quality as quality
from experiments import records

RECORDS = os.path.join(records.RESULTS_DIR, 'correspondence_sets.jsonl')
METHODS = ('colour', 'static', 'pixels', 'patches', 'untrained', 'crw',
           'timecycle')
TRAINED = ('untrained', 'crw', 'timecycle')
# The untrained encoders (one per seed, saved at step 0) are made once, with
# this set's config, and scored on every set.
UNTRAINED_SET = 'instance_drift'
CELL = 8


def patch_features(frames, size=CELL):
  """Raw-patch baseline: RGB mapped to [-1, 1], each size x size cell's
  values as one vector (zero-padded at the edges). uint8 [T, H, W, 3] ->
  float32 [T, ceil(H/size), ceil(W/size), size * size * 3]."""
  frames = np.asarray(frames, np.float32) / 127.5 - 1.0
  num, height, width, _ = frames.shape
  out_h, out_w = -(-height // size), -(-width // size)
  padded = np.zeros((num, out_h * size, out_w * size, 3), np.float32)
  padded[:, :height, :width] = frames
  cells = padded.reshape(num, out_h, size, out_w, size, 3)
  return cells.transpose(0, 1, 3, 2, 4, 5).reshape(num, out_h, out_w, -1)


def cell_labels(masks, size=CELL):
  """(labels int [T, h, w], pure bool [T, h, w]) of the whole size x size
  cells of label maps [T, H, W]: a cell's label where one label covers it."""
  num, height, width = masks.shape
  out_h, out_w = height // size, width // size
  cells = masks[:, :out_h * size, :out_w * size].reshape(
      num, out_h, size, out_w, size).transpose(0, 1, 3, 2, 4).reshape(
          num, out_h, out_w, -1)
  return cells[..., 0].astype(int), (cells == cells[..., :1]).all(-1)


def mean_cell_colours(frames, size=CELL):
  """float [T, h, w, 3]: mean RGB of the whole size x size cells, mapped to
  [-1, 1]."""
  num, height, width, _ = frames.shape
  out_h, out_w = height // size, width // size
  frames = np.asarray(frames[:, :out_h * size, :out_w * size], np.float64)
  return frames.reshape(num, out_h, size, out_w, size, 3).mean(
      (2, 4)) / 127.5 - 1.0


def nearest_colour_labels(frames, masks, size=CELL):
  """(true, predicted) labels of the pure cells of frames 1.. under
  nearest-colour labelling from frame 0 (see the module docstring)."""
  colours = mean_cell_colours(frames, size)
  colours /= np.linalg.norm(colours, axis=-1, keepdims=True) + 1e-12
  labels, pure = cell_labels(masks, size)
  reference, reference_labels = colours[0][pure[0]], labels[0][pure[0]]
  later = colours[1:][pure[1:]]
  return labels[1:][pure[1:]], reference_labels[
      np.argmax(later @ reference.T, axis=1)]


def colour_statistics(root, split):
  """{metric: value} of how well colour identifies the objects in the
  videos of `split` of a DAVIS-layout folder."""
  to_background, between, true, predicted = [], [], [], []
  for name in davis_io.list_sequences(root, split):
    frames = davis_io.read_frames(root, name)
    masks = davis_io.read_annotations(root, name)
    first, ids = masks[0], [i for i in np.unique(masks[0]) if i not in (0, 255)]
    means = {i: frames[0][first == i].astype(np.float64).mean(0)
             for i in ids + [0]}
    to_background += [synthetic_objects.colour_angle(means[i], means[0])
                      for i in ids]
    between += [synthetic_objects.colour_angle(means[a], means[b])
                for a, b in itertools.combinations(ids, 2)]
    video_true, video_predicted = nearest_colour_labels(frames, masks)
    true.append(video_true)
    predicted.append(video_predicted)
  true, predicted = np.concatenate(true), np.concatenate(predicted)
  on_objects = true > 0
  stat = lambda f, v: float(f(v)) if v else None
  return {
      'angle_object_background_median': stat(np.median, to_background),
      'angle_object_background_min': stat(np.min, to_background),
      'angle_between_objects_median': stat(np.median, between),
      'angle_between_objects_min': stat(np.min, between),
      'nearest_colour_accuracy': float(np.mean(predicted == true)),
      'nearest_colour_accuracy_objects': float(np.mean(
          predicted[on_objects] == true[on_objects])),
  }


def set_overrides(set_name, frame_scale, extra):
  return ['SYNTHETIC_OBJECTS.SET=%s' % set_name,
          'PROPAGATION.FRAME_SCALE=%g' % frame_scale] + list(extra)


def score_colour(set_name, frame_scale, extra):
  import config  # pylint: disable=g-import-not-at-top
  from dataset_preparation import generate  # pylint: disable=g-import-not-at-top
  from evaluation import label_propagation  # pylint: disable=g-import-not-at-top
  cfg = config.build_config(
      [os.path.join(records.ROOT, quality.CONFIGS['crw'])],
      set_overrides(set_name, frame_scale, extra))
  generate.ensure_generated(cfg)
  return colour_statistics(label_propagation.davis_root_from_config(cfg),
                           cfg.PROPAGATION.SPLIT)


def score_unlearned(method, set_name, frame_scale, extra):
  """Metrics of `static`, `pixels` or `patches` on the set."""
  from evaluation import label_propagation  # pylint: disable=g-import-not-at-top
  feature_fn = {'static': None, 'pixels': label_propagation.pixel_features,
                'patches': patch_features}[method]
  return quality.score_features(feature_fn, set_overrides(
      set_name, frame_scale, extra) + quality.split_overrides('val'))


def run_key(entry):
  return (entry['set'], entry['method'],
          -1 if entry['seed'] is None else entry['seed'],
          -1 if entry['steps'] is None else entry['steps'],
          tuple(entry['overrides']),
          -1 if entry['frame_scale'] is None else entry['frame_scale'],
          entry['split'])


def record(method, seed, set_name, metrics, args, seconds, trained, head):
  """The records-file entry of one score (colour statistics: task 'colour',
  no frame scale; the rest: task 'label_propagation')."""
  colour = method == 'colour'
  return {'method': method, 'seed': seed,
          'task': 'colour' if colour else 'label_propagation',
          'steps': steps_of(method, args.steps), 'set': set_name,
          'split': 'val', 'frame_scale': None if colour else args.frame_scale,
          'overrides': args.override, 'commit': head,
          'trained_at_commit': head if trained else None,
          'train_seconds': seconds and round(seconds),
          'measured': time.strftime('%Y-%m-%d'), 'metrics': metrics}


def runs_of(method, set_name, args):
  """Yields (seed, metrics, train seconds, trained here) of one method on
  one set, run by run."""
  extra = args.override
  if method == 'colour':
    yield None, score_colour(set_name, args.frame_scale, extra), None, False
    return
  if method not in TRAINED:
    yield (None, score_unlearned(method, set_name, args.frame_scale, extra),
           None, False)
    return
  train_set = UNTRAINED_SET if method == 'untrained' else set_name
  root = os.path.join(args.root, train_set)
  os.makedirs(root, exist_ok=True)
  for seed in args.seed_list:
    logdir, seconds, trained = quality.train(
        method, seed, args.steps, root,
        ['SYNTHETIC_OBJECTS.SET=%s' % train_set] + extra)
    yield (seed, score_checkpoint(logdir, set_name, args.frame_scale, extra),
           seconds, trained)


def score_checkpoint(logdir, set_name, frame_scale, extra):
  """{metric: value} of a run's latest checkpoint on the set's validation
  videos (evaluate.py's evaluate_once, in this process)."""
  record = evaluate_cli.evaluate_once(
      logdir, overrides=['EVAL.TASKS=[label_propagation]'] +
      quality.eval_overrides(extra) + set_overrides(set_name, frame_scale, [])
      + quality.split_overrides('val'), force=True, log=lambda m: None)
  return {key: record['label_propagation/' + key]
          for _, key in quality.METRICS}


def steps_of(method, steps):
  """The record's steps: None without training, 0 untrained."""
  if method not in TRAINED:
    return None
  return 0 if method == 'untrained' else steps or quality.demo_steps(method)


def print_table(path, sets, methods, frame_scale, overrides):
  """J&F (mean+-std over seeds) per set and method; colour: nearest-colour
  accuracy over all and over object cells."""
  scores = {}
  for entry in records.read_records(path):
    if (entry['frame_scale'] in (frame_scale, None)
        and entry['overrides'] == overrides and entry['split'] == 'val'):
      scores.setdefault((entry['set'], entry['method']), []).append(
          entry['metrics'])
  print('\nValidation videos, frames x%g: J&F (mean+-std over seeds); '
        'colour: nearest-colour accuracy (all cells / object cells)'
        % frame_scale)
  print(' '.join(['%-16s' % 'set'] + ['%13s' % m for m in methods]))
  for set_name in sets:
    line = ['%-16s' % set_name]
    for method in methods:
      runs = scores.get((set_name, method), [])
      if method == 'colour':
        line.append(('%.3f/%.3f' % (
            runs[0]['nearest_colour_accuracy'],
            runs[0]['nearest_colour_accuracy_objects'])).rjust(13)
                    if runs else 'n/a'.rjust(13))
      else:
        line.append(records.mean_std([r['JF_mean'] for r in runs], 13))
    print(' '.join(line))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sets', default=','.join(synthetic_objects.SETS))
  parser.add_argument('--methods', default=','.join(
      m for m in METHODS if m not in ('crw', 'timecycle')),
                      help='any of %s' % ', '.join(METHODS))
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--steps', type=int, default=None,
                      help='training steps (default: the demo configs)')
  parser.add_argument('--frame_scale', type=float, default=2.0,
                      help='PROPAGATION.FRAME_SCALE (the demo configs: 2)')
  parser.add_argument('--root', default='/tmp/correspondence_sets')
  parser.add_argument('--override', action='append', default=[],
                      help='KEY.SUB=VALUE for training and scoring')
  parser.add_argument('--records', default=RECORDS)
  parser.add_argument('--table', action='store_true',
                      help='print the table from --records; run nothing')
  args = parser.parse_args()
  args.seed_list = [int(s) for s in args.seeds.split(',')]
  sets = [s for s in args.sets.split(',') if s]
  methods = [m for m in args.methods.split(',') if m]
  for given, known, what in ((sets, synthetic_objects.SETS, 'sets'),
                             (methods, METHODS, 'methods')):
    unknown = sorted(set(given) - set(known))
    if unknown:
      sys.exit('unknown %s %s; known: %s' % (what, unknown, ', '.join(known)))
  head = records.commit()
  for set_name, method in ([] if args.table else
                           itertools.product(sets, methods)):
    for seed, metrics, seconds, trained in runs_of(method, set_name, args):
      print('%s %s%s: %s' % (set_name, method, '' if seed is None else
                             ' seed %d' % seed, metrics), flush=True)
      records.save_record(args.records, record(
          method, seed, set_name, metrics, args, seconds, trained, head),
                          run_key)
  print_table(args.records, sets, methods, args.frame_scale, args.override)


if __name__ == '__main__':
  main()
