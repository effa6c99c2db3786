"""The evaluation runner: scoring the checkpoints of a training run.

The importable body of evaluate.py (and of demo.py's evaluation stage):
`evaluate_once` scores one checkpoint, `evaluate_continuously` follows a
training run; both record every result in `<logdir>/eval/results.jsonl`
(the format is described in evaluate.py). No flags: evaluate.py parses the
command line and calls these.
"""

import datetime
import glob
import json
import math
import os
import re
import time

import tensorflow as tf

import algos
import config
from config import CONFIG
import datasets
import evaluation
from evaluation.embeddings import embed_split
from utils import atomic_files
from utils import console
from utils import json_lines
from visualization import figures

EVAL_DIRNAME = 'eval'
RESULTS_FILENAME = 'results.jsonl'
# Optional marker a training run (or a user) writes when no more checkpoints
# will come.
DONE_FILENAME = 'DONE'


class CheckpointUnavailable(Exception):
  """A listed checkpoint that was deleted or is not completely written."""


def _log(message):
  console.info('%s', message)


def checkpoint_step(path):
  """The number N of a checkpoint prefix '.../ckpt-N', or None."""
  match = re.search(r'-(\d+)$', path)
  return int(match.group(1)) if match else None


def list_checkpoints(logdir):
  """Checkpoint prefixes in `logdir` (those with an .index file), oldest first.

  Args:
    logdir: directory train.py saves checkpoints into.

  Returns:
    list of paths like '<logdir>/ckpt-500', sorted by their number.
  """
  prefixes = [p[:-len('.index')]
              for p in glob.glob(os.path.join(logdir, '*.index'))]
  return sorted(prefixes, key=lambda p: (checkpoint_step(p) is None,
                                         checkpoint_step(p) or 0, p))


def checkpoint_readable(path):
  """Whether every tensor of a checkpoint can be read (not deleted/partial)."""
  if not os.path.isfile(path + '.index'):
    return False
  try:
    reader = tf.train.load_checkpoint(path)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  # A truncated file raises OpError, ValueError or even IndexError ("Read
  # less bytes than requested"); whatever the reader raises means unreadable.
  except Exception:  # pylint: disable=broad-except
    return False
  return True


def results_path(logdir):
  return os.path.join(logdir, EVAL_DIRNAME, RESULTS_FILENAME)


def read_results(logdir):
  """Records of `<logdir>/eval/results.jsonl`, oldest first.

  A line that is not JSON (e.g. from a foreign writer) is reported and
  ignored.
  """
  path = results_path(logdir)
  return json_lines.read_json_lines(
      path, lambda number, _: console.warning(
          '%s:%d: not a JSON line, ignored.', path, number))


def _scored_names(logdir):
  return {os.path.basename(r['checkpoint']) for r in read_results(logdir)
          if isinstance(r, dict) and r.get('checkpoint')}


def _json_value(value):
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def append_result(logdir, record):
  """Appends one JSON line to results.jsonl, atomically.

  The file is rewritten under a temporary name and renamed over the old one,
  so a crash leaves either the old or the new file, never a partial line.
  """
  path = results_path(logdir)
  directory = os.path.dirname(path)
  os.makedirs(directory, exist_ok=True)
  line = json.dumps({k: _json_value(v) for k, v in record.items()},
                    allow_nan=False) + '\n'
  old = b''
  if os.path.isfile(path):
    with open(path, 'rb') as f:
      old = f.read()
    if old and not old.endswith(b'\n'):
      old += b'\n'
  atomic_files.write_bytes(path, old + line.encode('utf-8'))


_SUMMARY_WRITERS = {}


def write_summaries(logdir, step, metrics):
  """TensorBoard scalars of the finite metrics under `<logdir>/eval`."""
  eval_dir = os.path.join(logdir, EVAL_DIRNAME)
  if eval_dir not in _SUMMARY_WRITERS:
    _SUMMARY_WRITERS[eval_dir] = tf.summary.create_file_writer(eval_dir)
  writer = _SUMMARY_WRITERS[eval_dir]
  with writer.as_default():
    for name, value in metrics.items():
      if value is not None and math.isfinite(value):
        tf.summary.scalar(name, value, step=step)
  writer.flush()


def restore(logdir, checkpoint_path, overrides=()):
  """`algos.restore_algo`, telling a vanished/partial checkpoint apart.

  Args:
    logdir: the training logdir.
    checkpoint_path: checkpoint prefix, e.g. '<logdir>/ckpt-500'.
    overrides: 'KEY.SUB=VALUE' strings applied on top of config.yml.

  Returns:
    (algo, step, run_config) of `algos.restore_algo`: run_config is
    `<logdir>/config.yml` plus `overrides`; CONFIG is not changed.

  Raises:
    CheckpointUnavailable: the checkpoint is gone or not completely written.
    ValueError: any other failure (e.g. a checkpoint of another model).
  """
  if not checkpoint_readable(checkpoint_path):
    raise CheckpointUnavailable(
        '%s: checkpoint deleted or not completely written (training rotates '
        'and writes checkpoints); skipped.' % checkpoint_path)
  try:
    return algos.restore_algo(logdir, checkpoint_path, overrides)
  except (ValueError, IndexError, tf.errors.OpError, OSError) as e:
    if not checkpoint_readable(checkpoint_path):
      raise CheckpointUnavailable(
          '%s: checkpoint deleted or changed while it was being restored; '
          'skipped.' % checkpoint_path) from None
    if isinstance(e, ValueError):
      raise
    raise ValueError('%s: cannot restore (%s).' % (
        checkpoint_path, str(e).strip().splitlines()[0][:200])) from None


PROTOCOLS = ('', 'per_class', 'all_classes')


def training_protocol():
  """The run's training protocol (DATA.PROTOCOL) and datasets, as one string.

  'per_class: golf_swing' (one model per action), 'all_classes: a, b, ...'
  (one model for all actions), or 'single dataset: pouring' without a
  protocol.

  Raises:
    ValueError: an unknown DATA.PROTOCOL, or 'per_class' with several
      datasets.
  """
  protocol = CONFIG.DATA.PROTOCOL
  if protocol not in PROTOCOLS:
    raise ValueError('DATA.PROTOCOL is %r; use per_class, all_classes or '
                     "'' (see docs/alignment_methods.md)." % protocol)
  names = ', '.join(CONFIG.DATASETS)
  if protocol == 'per_class' and len(CONFIG.DATASETS) != 1:
    raise ValueError('DATA.PROTOCOL is per_class but DATASETS has %d entries '
                     '(%s); train one model per class with DATASETS=[<class>].'
                     % (len(CONFIG.DATASETS), names))
  if not protocol:
    return '%s: %s' % ('single dataset' if len(CONFIG.DATASETS) == 1 else
                       'datasets', names)
  return '%s: %s' % (protocol, names)


def _write_figures(logdir, step, context, metrics, prefix, log):
  eval_dir = os.path.join(logdir, EVAL_DIRNAME)
  file_prefix = prefix.replace('/', '_')
  if context.val is not None and len(context.val['embs']) >= 2:
    path = os.path.join(eval_dir, '%ssimilarity_step%d.png' % (file_prefix,
                                                               step))
    figures.plot_similarity_matrix(
        context.val['embs'][0], context.val['embs'][1], path,
        CONFIG.EVAL.KENDALLS_TAU_DISTANCE, names=context.val['names'][:2])
    log('wrote %s' % path)
  else:
    log('similarity matrix skipped: it needs 2 validation videos, got %d.' %
        (0 if context.val is None else len(context.val['embs'])))
  key = prefix + 'classification/accuracy@'
  accuracies = {float(k[len(key):]): v for k, v in metrics.items()
                if k.startswith(key)}
  if accuracies:
    path = os.path.join(eval_dir, '%sclassification_step%d.png' % (
        file_prefix, step))
    figures.plot_accuracy_vs_fraction(accuracies, path)
    log('wrote %s' % path)


def _score_tasks(algo, logdir, step, log=_log):
  """Runs every task of EVAL.TASKS on a restored algorithm; writes figures.

  Reads CONFIG: call it under `config.use_config(run_config)` of the run.

  Args:
    algo: the restored Algorithm.
    logdir: the training logdir (figures go to `<logdir>/eval`).
    step: the training step of the checkpoint (names the figures).
    log: function taking one progress message.

  Returns:
    dict of every metric, `<task>/<metric>` (prefixed `<dataset>/` when
    DATASETS has several entries) -> float.
  """
  tasks = evaluation.get_tasks(CONFIG.EVAL.TASKS, CONFIG)
  metrics = {}

  def run(task, context, prefix):
    task_start = time.time()
    values = task.run(context)
    metrics.update({prefix + k: v for k, v in values.items()})
    if values:  # A task that gives nothing has said why.
      log('%s%s: %s (%.1f s)' % (prefix, task.name, ', '.join(
          '%s %.4f' % (k.split('/', 1)[1], v) for k, v in values.items()),
                                 time.time() - task_start))

  # Tasks without embeddings (algo_loss) read every dataset through
  # datasets.create_dataset, so they run once.
  for task in tasks:
    if not task.needs_embeddings:
      run(task, evaluation.EvalContext(algo=algo, log=log), '')
  # Label-based tasks see only the labelled videos and are skipped, with one
  # message, when there are too few (evaluation.base.labelled_context).
  embedding_tasks = [task for task in tasks if task.needs_embeddings]
  if not CONFIG.DATA.FRAME_LABELS and any(t.needs_labels for t in tasks):
    log('DATA.FRAME_LABELS is false: every video counts as unlabelled.')
  for dataset in CONFIG.DATASETS:
    if not embedding_tasks:
      break
    prefix = dataset + '/' if len(CONFIG.DATASETS) > 1 else ''
    num_classes = datasets.get_dataset_info(dataset).get('num_classes')
    context = evaluation.EvalContext(
        train=embed_split(algo, dataset, 'train', CONFIG, log=log),
        val=embed_split(algo, dataset, 'val', CONFIG, log=log), algo=algo,
        num_classes=num_classes or None, dataset=dataset, log=log)
    for task in embedding_tasks:
      run(task, context, prefix)
    _write_figures(logdir, step, context, metrics, prefix, log)
  return metrics


def evaluate_checkpoint(logdir, checkpoint_path, overrides=(), log=_log):
  """Scores one checkpoint with every task of EVAL.TASKS; records the result.

  The run's config (config.yml plus `overrides`) is in CONFIG while the
  checkpoint is scored; the caller's CONFIG is restored afterwards.

  Args:
    logdir: the training logdir.
    checkpoint_path: checkpoint prefix, e.g. '<logdir>/ckpt-500'.
    overrides: 'KEY.SUB=VALUE' strings applied on top of config.yml.
    log: function taking one progress message.

  Returns:
    the record appended to results.jsonl: `step`, `checkpoint`, `time`,
    `eval_seconds` and every metric.

  Raises:
    CheckpointUnavailable: deleted or partially written checkpoint.
  """
  start = time.time()
  algo, step, run_config = restore(logdir, checkpoint_path, overrides)
  with config.use_config(run_config):
    protocol = training_protocol()
    log('evaluating %s (step %d), protocol %s' % (checkpoint_path, step,
                                                  protocol))
    metrics = _score_tasks(algo, logdir, step, log)
  record = {'step': step, 'checkpoint': checkpoint_path,
            'time': datetime.datetime.now().isoformat(timespec='seconds'),
            'eval_seconds': round(time.time() - start, 3),
            'protocol': protocol}
  record.update(metrics)
  write_summaries(logdir, step, metrics)
  append_result(logdir, record)
  log('%s scored in %.1f s; appended to %s' % (
      os.path.basename(checkpoint_path), record['eval_seconds'],
      results_path(logdir)))
  return record


def evaluate_once(logdir, checkpoint_path=None, overrides=(), force=False,
                  log=_log):
  """Scores one checkpoint (default: the latest) unless already scored.

  Args:
    logdir: the training logdir.
    checkpoint_path: checkpoint prefix; None for the latest in `logdir`.
    overrides: 'KEY.SUB=VALUE' strings applied on top of config.yml.
    force: evaluate again even if results.jsonl has this checkpoint.
    log: function taking one progress message.

  Returns:
    the result record (the stored one if the checkpoint was already scored).

  Raises:
    ValueError: no checkpoint in `logdir`.
    CheckpointUnavailable: the checkpoint (without `checkpoint_path`: every
      checkpoint) was deleted or is partial.
  """
  if checkpoint_path is not None:
    candidates = [checkpoint_path]
  else:
    # Newest first; one that training is writing or rotating away falls back
    # to the one before.
    candidates = list_checkpoints(logdir)[::-1]
    if not candidates:
      raise ValueError('%s: no checkpoint (ckpt-N.index) in this logdir; '
                       'train first or pass --checkpoint.' % logdir)
  records = {} if force else {os.path.basename(r.get('checkpoint', '')): r
                              for r in read_results(logdir)}
  for number, candidate in enumerate(candidates, 1):
    name = os.path.basename(candidate)
    if name in records:
      log('%s is already in %s; not evaluated again (--force to redo).' % (
          name, results_path(logdir)))
      return records[name]
    try:
      return evaluate_checkpoint(logdir, candidate, overrides, log)
    except CheckpointUnavailable as e:
      if number == len(candidates):
        raise
      log(str(e))


def _run_config(logdir, overrides):
  """The run's config.yml plus overrides; None before training writes it.

  CONFIG is not changed.
  """
  if not os.path.isfile(os.path.join(logdir, config.CONFIG_FILENAME)):
    return None
  return config.read_config_from_logdir(logdir, overrides)


def _max_iters(logdir, overrides):
  """TRAIN.MAX_ITERS of config.yml; None while training has not written it."""
  run_config = _run_config(logdir, overrides)
  return None if run_config is None else run_config.TRAIN.MAX_ITERS


def evaluate_continuously(logdir, max_checkpoints=None, timeout=None,
                          poll_interval=None, overrides=(), log=_log):
  """Follows a training run, scoring each new checkpoint once.

  Args:
    logdir: the training logdir (may not exist yet).
    max_checkpoints: stop after this many evaluations (None: no limit).
    timeout: stop after this many seconds without a new checkpoint
      (default EVAL.TIMEOUT of config.yml).
    poll_interval: seconds between looks (default EVAL.POLL_INTERVAL).
    overrides: 'KEY.SUB=VALUE' strings applied on top of config.yml.
    log: function taking one progress message.

  Returns:
    list of the records written by this call.
  """
  records = []
  skipped_logged = set()
  last_new = time.time()
  run_config = _run_config(logdir, overrides)
  max_iters = None if run_config is None else run_config.TRAIN.MAX_ITERS
  # Before training writes config.yml, the caller's CONFIG sets the pace.
  pace = CONFIG if run_config is None else run_config
  timeout = pace.EVAL.TIMEOUT if timeout is None else timeout
  poll_interval = (pace.EVAL.POLL_INTERVAL if poll_interval is None
                   else poll_interval)
  log('following %s (timeout %.0f s without a new checkpoint)' % (
      logdir, timeout))
  while True:
    scored = _scored_names(logdir)
    pending = [c for c in list_checkpoints(logdir)
               if os.path.basename(c) not in scored]
    for checkpoint_path in pending:
      try:
        records.append(evaluate_checkpoint(logdir, checkpoint_path, overrides,
                                           log))
      except CheckpointUnavailable as e:
        if checkpoint_path not in skipped_logged:
          log(str(e))
          skipped_logged.add(checkpoint_path)
        continue
      last_new = time.time()
      max_iters = _max_iters(logdir, overrides)
      if max_checkpoints is not None and len(records) >= max_checkpoints:
        log('evaluated %d checkpoint(s) (--max_checkpoints); stopping.' %
            len(records))
        return records
    if max_iters is None:
      max_iters = _max_iters(logdir, overrides)
    done_steps = [r['step'] for r in read_results(logdir)
                  if isinstance(r.get('step'), int)]
    if max_iters is not None and done_steps and max(done_steps) >= max_iters:
      log('training finished (step %d >= TRAIN.MAX_ITERS %d evaluated); '
          'stopping.' % (max(done_steps), max_iters))
      return records
    if os.path.exists(os.path.join(logdir, DONE_FILENAME)) and all(
        os.path.basename(c) in _scored_names(logdir)
        for c in list_checkpoints(logdir)):
      log('%s exists and every checkpoint is scored; stopping.' %
          os.path.join(logdir, DONE_FILENAME))
      return records
    if time.time() - last_new >= timeout:
      log('no new checkpoint for %.0f s (timeout); stopping.' % timeout)
      return records
    time.sleep(poll_interval)


def format_table(record):
  """The metrics of a record as an aligned two-column text table."""
  rows = [(k, v) for k, v in record.items()
          if k not in ('checkpoint', 'time')]
  width = max(len(k) for k, _ in rows)
  lines = ['%s  %s' % ('metric'.ljust(width), 'value'),
           '%s  %s' % ('-' * width, '-' * 10)]
  for key, value in rows:
    if isinstance(value, float):
      text = '%.4f' % value
    else:
      text = 'n/a' if value is None else str(value)
    lines.append('%s  %s' % (key.ljust(width), text))
  return '\n'.join(['checkpoint: %s (%s)' % (record.get('checkpoint'),
                                             record.get('time'))] + lines)
