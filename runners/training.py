"""The training runner: `train(logdir, config_paths, overrides)` and its parts.

The importable body of train.py (and of demo.py's training stage): the
configuration of a run, the distribution strategy, the optimizer and its
learning-rate schedule, the in-graph training loop, checkpoints, summaries
and the log file. No flags: train.py parses the command line and calls
`train`.
"""

import datetime
import math
import os
import shutil
import signal
import tempfile
import threading
import time

import keras
import tensorflow as tf

import algos
from algos.classification import resolve_num_classes
import config
from config import CONFIG
import datasets
from dataset_preparation import generate
from utils import console

LR_DECAY_TYPES = ('fixed', 'exp_decay', 'manual')
OPTIMIZER_TYPES = ('AdamOptimizer', 'MomentumOptimizer')
MIXED_PRECISION_POLICIES = ('', 'mixed_float16', 'mixed_bfloat16')
# The full log of every training session in the logdir (appended).
LOG_FILENAME = 'train.log'


class NonFiniteLossError(RuntimeError):
  """Training produced a NaN or infinite loss."""


class LearningRateSchedule(keras.optimizers.schedules.LearningRateSchedule):
  """`fixed`, `exp_decay` (staircase) or `manual` decay, with linear warm-up.

  During the first `num_warmup_steps` steps the rate is the decayed rate times
  (step + 1) / num_warmup_steps.
  """

  def __init__(self, initial_lr, decay_type='fixed', exp_decay_rate=0.97,
               exp_decay_steps=1000, manual_boundaries=(),
               manual_decay_rate=0.1, num_warmup_steps=0):
    if decay_type not in LR_DECAY_TYPES:
      raise ValueError('OPTIMIZER.LR.DECAY_TYPE %r is unknown; use one of: %s.'
                       % (decay_type, ', '.join(LR_DECAY_TYPES)))
    self.initial_lr = float(initial_lr)
    self.decay_type = decay_type
    self.exp_decay_rate = float(exp_decay_rate)
    self.exp_decay_steps = int(exp_decay_steps)
    self.manual_boundaries = [int(b) for b in manual_boundaries]
    self.manual_decay_rate = float(manual_decay_rate)
    self.num_warmup_steps = int(num_warmup_steps)

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    lr = tf.constant(self.initial_lr, tf.float32)
    if self.decay_type == 'exp_decay':
      lr *= self.exp_decay_rate ** tf.floor(step / self.exp_decay_steps)
    elif self.decay_type == 'manual' and self.manual_boundaries:
      num_passed = tf.reduce_sum(tf.cast(
          step >= tf.constant(self.manual_boundaries, tf.float32), tf.float32))
      lr *= self.manual_decay_rate ** num_passed
    if self.num_warmup_steps > 0:
      lr *= tf.minimum(1.0, (step + 1.0) / self.num_warmup_steps)
    return lr

  def get_config(self):
    return {'initial_lr': self.initial_lr, 'decay_type': self.decay_type,
            'exp_decay_rate': self.exp_decay_rate,
            'exp_decay_steps': self.exp_decay_steps,
            'manual_boundaries': self.manual_boundaries,
            'manual_decay_rate': self.manual_decay_rate,
            'num_warmup_steps': self.num_warmup_steps}


def get_lr_schedule():
  """The learning-rate schedule of CONFIG.OPTIMIZER.LR."""
  cfg = CONFIG.OPTIMIZER.LR
  return LearningRateSchedule(
      cfg.INITIAL_LR, cfg.DECAY_TYPE, cfg.EXP_DECAY_RATE, cfg.EXP_DECAY_STEPS,
      cfg.MANUAL_LR_STEP_BOUNDARIES, cfg.MANUAL_LR_DECAY_RATE,
      cfg.NUM_WARMUP_STEPS)


def get_optimizer(learning_rate):
  """The optimizer of CONFIG.OPTIMIZER (loss-scaled for mixed_float16)."""
  cfg = CONFIG.OPTIMIZER
  weight_decay = cfg.WEIGHT_DECAY or None
  if cfg.TYPE == 'AdamOptimizer':
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=cfg.ADAM_BETA1,
                                      weight_decay=weight_decay)
  elif cfg.TYPE == 'MomentumOptimizer':
    optimizer = keras.optimizers.SGD(learning_rate, momentum=cfg.MOMENTUM,
                                     weight_decay=weight_decay)
  else:
    raise ValueError('OPTIMIZER.TYPE %r is unknown; use one of: %s.' %
                     (cfg.TYPE, ', '.join(OPTIMIZER_TYPES)))
  if CONFIG.TRAIN.MIXED_PRECISION == 'mixed_float16':
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer


def set_precision_policy():
  """Applies TRAIN.MIXED_PRECISION as Keras' global dtype policy."""
  policy = CONFIG.TRAIN.MIXED_PRECISION
  if policy not in MIXED_PRECISION_POLICIES:
    raise ValueError('TRAIN.MIXED_PRECISION %r is unknown; use one of: %s.' %
                     (policy, ', '.join(repr(p) for p in
                                        MIXED_PRECISION_POLICIES)))
  keras.mixed_precision.set_global_policy(policy or 'float32')


def get_strategy():
  """Multi-worker with TF_CONFIG, all local GPUs if several, else default."""
  if os.environ.get('TF_CONFIG'):
    return tf.distribute.MultiWorkerMirroredStrategy()
  if len(tf.config.list_logical_devices('GPU')) > 1:
    return tf.distribute.MirroredStrategy()
  return tf.distribute.get_strategy()


def is_chief(strategy):
  """Whether this worker writes checkpoints, summaries and config.yml."""
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return True
  resolver = strategy.cluster_resolver
  if resolver.task_type == 'chief':
    return True
  return (resolver.task_type == 'worker' and resolver.task_id == 0 and
          'chief' not in resolver.cluster_spec().jobs)


def resolve_config(logdir, config_paths=(), overrides=()):
  """Loads CONFIG for a run in `logdir`.

  With `config_paths`: the defaults, the YAML files, then `overrides`.
  Without, when `<logdir>/config.yml` exists (a restart): that file, then
  `overrides`. Otherwise the defaults, then `overrides`.

  Args:
    logdir: the run's directory; None for CONFIG.LOGDIR (after loading).
    config_paths: YAML files (list or comma-separated string).
    overrides: 'KEY.SUB=VALUE' strings.

  Returns:
    the logdir (CONFIG.LOGDIR when `logdir` is None).
  """
  if isinstance(config_paths, str):
    config_paths = [p for p in config_paths.split(',') if p.strip()]
  overrides = list(overrides)
  if config_paths:
    config.load_config(config_paths, overrides)
    return logdir or CONFIG.LOGDIR
  if logdir is None:
    config.load_config((), overrides)
    logdir = CONFIG.LOGDIR
  restart_config = os.path.join(logdir, config.CONFIG_FILENAME)
  if os.path.isfile(restart_config):
    console.info('Using %s/%s (restart).', logdir, config.CONFIG_FILENAME)
    config.load_config([restart_config], overrides)
  else:
    config.load_config((), overrides)
  return logdir


class _StopRequest:
  """Signal handler that asks the loop to save and stop after this loop."""

  def __init__(self):
    self.signal_name = None
    self._previous = {}

  def __call__(self, signum, unused_frame):
    self.signal_name = signal.Signals(signum).name
    console.warning('%s received: saving a checkpoint and stopping after this '
                    'loop of steps.', self.signal_name)

  def install(self):
    if threading.current_thread() is not threading.main_thread():
      return
    for signum in (signal.SIGINT, signal.SIGTERM):
      self._previous[signum] = signal.signal(signum, self)

  def uninstall(self):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous = {}


def _format_losses(losses):
  parts = ['%s %.4g' % (k, v) for k, v in losses.items()
           if k not in ('total_loss', 'loss')]
  return 'loss %.4f (%s)' % (losses['total_loss'], ', '.join(parts))


def _restore(checkpoint, manager):
  """Restores the latest checkpoint of `manager`; returns its path or None."""
  path = manager.latest_checkpoint
  if path is None:
    return None
  algos.restore_checkpoint(
      checkpoint, path, 'the configured model',
      'use a new --logdir or the config this run was trained with')
  return path


def resume_seed(seed, step):
  """The global TF seed of a run (re)started at training step `step`.

  A fresh run uses SEED itself. A resumed run gets another seed, so that its
  input pipeline (shuffle order, frame sampling, augmentation) and the random
  draws of its steps continue with new data instead of replaying the batches
  the run started with.
  """
  if step == 0:
    return seed
  return (seed * 1000003 + step * 7919 + 1) % (2 ** 31 - 1)


def loop_length(step, max_steps, steps_per_loop, intervals):
  """Steps of the next in-graph loop that starts after `step` steps.

  At most `steps_per_loop`; the loop ends at `max_steps` and at the next
  multiple of every positive interval, so that checkpoints, reports and
  visualizations happen at exactly the same steps whatever the loop length.
  """
  end = min(max_steps, step + max(1, steps_per_loop))
  for interval in intervals:
    if interval and interval > 0:
      end = min(end, (step // interval + 1) * interval)
  return end - step


def make_input_fn(algo):
  """The training input of each worker: `input_fn(input_context)`.

  Each worker builds its own pipeline, reading only its share of the videos,
  with per-replica batches (see `datasets.create_dataset`). With
  DATA.CACHE_BASE_FEATURES the batches hold cached base features instead of
  frames; the cache is computed first when missing (data/features.py), and
  a batch the cache cannot serve is refused here, before training.
  """
  cache_dirs = (datasets.ensure_feature_cache(
      algo.base_model, algo._frame_features, algo.batch_spec)  # pylint: disable=protected-access
                if CONFIG.DATA.CACHE_BASE_FEATURES else None)

  def input_fn(input_context):
    if cache_dirs:
      dataset = datasets.create_feature_dataset(
          cache_dirs, algo.batch_spec, input_context)
    else:
      dataset = datasets.create_dataset('train', mode='train',
                                        batch_spec=algo.batch_spec,
                                        input_context=input_context)
    # Strings cannot enter the (possibly XLA-compiled) step.
    return dataset.map(
        lambda batch: {k: v for k, v in batch.items() if k != 'names'})
  return input_fn


def make_train_loop(strategy, algo, optimizer, jit_compile):
  """The compiled training loop: `loop(iterator, num_steps)`.

  It runs up to `num_steps` (int32 scalar tensor) steps inside one
  tf.function call and stops after the first step whose losses are not all
  finite (grad_norm is allowed to be non-finite under float16 loss scaling,
  which skips such updates).

  Returns:
    A function of (iterator, num_steps) returning `(mean_losses,
    last_losses, num_done, finite, sample_frames)`: dicts of float32 scalars
    (the mean over the steps done, and the last step's values), int32 steps
    done, bool whether every step was finite, and float32 [S, H, W, 3] the
    sampled frames (last context frame of each step) of one video of the
    last batch ([0, 1, 1, 3] when batches hold cached features).
  """
  replica_step = tf.function(algo.train_one_iter, jit_compile=jit_compile)
  num_context_steps = algo.num_context_steps
  loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

  def one_step(iterator):
    batch = next(iterator)
    losses = strategy.run(replica_step, args=(batch, optimizer))
    losses = {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
              for k, v in losses.items()}
    if 'frames' not in batch:  # Cached features: no frames to show.
      return losses, tf.zeros([0, 1, 1, 3])
    frames = strategy.experimental_local_results(batch['frames'])[0]
    return losses, frames[0, num_context_steps - 1::num_context_steps]

  def all_finite(losses):
    return tf.reduce_all(tf.stack([
        tf.math.is_finite(v) for k, v in losses.items()
        if k != 'grad_norm' or not loss_scaled]))

  @tf.function
  def train_loop(iterator, num_steps):
    losses, frames = one_step(iterator)
    sums = dict(losses)
    num_done = tf.constant(1)
    finite = all_finite(losses)
    while finite and num_done < num_steps:
      losses, frames = one_step(iterator)
      finite = all_finite(losses)
      sums = {k: sums[k] + losses[k] for k in sums}
      num_done += 1
    means = {k: v / tf.cast(num_done, tf.float32) for k, v in sums.items()}
    return means, losses, num_done, finite, frames

  return train_loop


def _write_summaries(losses, learning_rate, step_value):
  for name, value in losses.items():
    tf.summary.scalar(name if name == 'grad_norm' else 'losses/' + name,
                      value, step=step_value)
  tf.summary.scalar('learning_rate', learning_rate, step=step_value)


def train(logdir, config_paths=(), overrides=(), max_iters=None):
  """Trains CONFIG.TRAINING_ALGO, resuming from the latest checkpoint.

  Steps run TRAIN.STEPS_PER_LOOP at a time inside one tf.function call;
  losses are averaged over each loop on the device and written as summaries
  once per loop (at the loop's last step). Loops end at every checkpoint,
  report and visualization interval, so these stay exact.

  Args:
    logdir: output directory (None: CONFIG.LOGDIR); checkpoints are
      <logdir>/ckpt-<step>, summaries go to <logdir>/train, the full log to
      <logdir>/train.log.
    config_paths: YAML files (list or comma-separated string).
    overrides: 'KEY.SUB=VALUE' strings.
    max_iters: overrides TRAIN.MAX_ITERS (and is saved in config.yml).

  Returns:
    dict: the mean losses (floats) of the last loop, 'step', and
    'steps_per_s' (training throughput after the first loop, which traces;
    NaN when there was a single loop).

  Raises:
    NonFiniteLossError: a step gave a non-finite loss; training stops at
      that step, nothing after the last checkpoint is saved and the last good
      checkpoint (of finite weights) stays the latest one.
  """
  logdir = resolve_config(logdir, config_paths, overrides)
  if max_iters is not None:
    CONFIG.TRAIN.MAX_ITERS = int(max_iters)
  CONFIG.LOGDIR = logdir
  keras.utils.set_random_seed(CONFIG.SEED)
  if CONFIG.TRAIN.DETERMINISTIC:
    tf.config.experimental.enable_op_determinism()
  set_precision_policy()
  strategy = get_strategy()
  chief = is_chief(strategy)
  # The one place (with demo.py) where reading is preceded by writing: the
  # synthetic datasets the config names are generated when missing.
  generate.ensure_generated(CONFIG)

  if CONFIG.TRAINING_ALGO == 'classification':
    CONFIG.CLASSIFICATION.NUM_CLASSES = resolve_num_classes()

  with strategy.scope():
    algo = algos.get_algo()
    algo.build_all()
    schedule = get_lr_schedule()
    optimizer = get_optimizer(schedule)
    optimizer.build(algo.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
  # Every worker takes part in saving (the variables may be synchronized
  # then); only the chief saves into the logdir.
  checkpoint_dir = logdir if chief else tempfile.mkdtemp(prefix='tcc_worker_')
  log_path = os.path.join(checkpoint_dir, LOG_FILENAME)
  try:
    with console.log_file(log_path):
      return _train(logdir, strategy, chief, algo, optimizer, schedule, step,
                    checkpoint_dir)
  finally:
    if not chief:
      shutil.rmtree(checkpoint_dir, ignore_errors=True)


def _train(logdir, strategy, chief, algo, optimizer, schedule, step,
           checkpoint_dir):
  """train() once the model and optimizer are built (see train)."""
  checkpoint = algos.make_checkpoint(algo, optimizer, step)
  manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir,
                                       max_to_keep=CONFIG.CHECKPOINT.MAX_TO_KEEP)
  restored = _restore(checkpoint, manager)
  # Written only once the checkpoint matched, so a failed restart leaves the
  # logdir's config.yml describing its checkpoints.
  if chief:
    config.save_config(logdir)
  start_step = int(step.numpy())
  max_steps = CONFIG.TRAIN.MAX_ITERS
  if restored:
    console.info('Resumed from %s at step %d.', restored, start_step)
  if start_step >= max_steps:
    if not restored and chief:
      # TRAIN.MAX_ITERS=0: keep the untrained model, so that evaluate.py can
      # score the baseline every method must beat.
      manager.save(checkpoint_number=start_step)
      console.info('TRAIN.MAX_ITERS=0: saved the untrained model in %s.',
                   logdir)
      return {'step': start_step}
    console.info('Already trained %d of TRAIN.MAX_ITERS=%d steps; nothing to '
                 'do (raise TRAIN.MAX_ITERS to continue).', start_step,
                 max_steps)
    return {'step': start_step}

  # The input pipeline is built after the restore, from a seed of the step,
  # so that a resumed run does not replay the batches of the first steps.
  tf.random.set_seed(resume_seed(CONFIG.SEED, start_step))
  iterator = iter(strategy.distribute_datasets_from_function(
      make_input_fn(algo)))
  train_loop = make_train_loop(strategy, algo, optimizer,
                               CONFIG.TRAIN.JIT_COMPILE)

  writer = (tf.summary.create_file_writer(os.path.join(logdir, 'train'))
            if chief else tf.summary.create_noop_writer())
  stop = _StopRequest()
  stop.install()
  save_interval = CONFIG.CHECKPOINT.SAVE_INTERVAL
  report_interval = CONFIG.LOGGING.REPORT_INTERVAL
  visualize_interval = CONFIG.TRAIN.VISUALIZE_INTERVAL
  intervals = (save_interval, report_interval, visualize_interval)
  step_value = start_step
  last_saved = start_step
  report_time = None
  report_step = start_step
  timing_start = None
  losses = {}
  console.info('Training %s for %d steps into %s.', CONFIG.TRAINING_ALGO,
               max_steps - start_step, logdir)
  try:
    with writer.as_default():
      while step_value < max_steps:
        num_steps = loop_length(step_value, max_steps,
                                CONFIG.TRAIN.STEPS_PER_LOOP, intervals)
        means, last, num_done, finite, sample_frames = train_loop(
            iterator, tf.constant(num_steps, tf.int32))
        num_done = int(num_done)
        if not bool(finite):
          raise NonFiniteLossError(
              'Step %d: non-finite loss (%s); stopped without saving this '
              'state, last good checkpoint: %s. Lower OPTIMIZER.LR.INITIAL_LR '
              'or set OPTIMIZER.GRAD_CLIP_NORM.' %
              (step_value + num_done,
               _format_losses({k: float(v) for k, v in last.items()}),
               manager.latest_checkpoint))
        losses = {k: float(v) for k, v in means.items()}
        step.assign_add(num_done)
        step_value += num_done
        if timing_start is None:
          # The first loop traces: leave it out of the throughput.
          timing_start = report_time, report_step = time.time(), step_value
        learning_rate = float(schedule(step_value - 1))
        _write_summaries(losses, learning_rate, step_value)
        if (visualize_interval and step_value % visualize_interval == 0 and
            sample_frames.shape[0]):
          tf.summary.image('sample_frames', (sample_frames[:8] + 1.0) / 2.0,
                           step=step_value, max_outputs=8)
        if step_value % report_interval == 0 or step_value == max_steps:
          now = time.time()
          steps_per_s = ((step_value - report_step) / (now - report_time)
                         if step_value > report_step else float('nan'))
          eta = ((max_steps - step_value) / steps_per_s
                 if steps_per_s > 0 else float('nan'))
          console.info(
              'step %d/%d %s grad_norm %.3g lr %.3g | %.2f steps/s, ETA %s',
              step_value, max_steps, _format_losses(
                  {k: v for k, v in losses.items() if k != 'grad_norm'}),
              losses['grad_norm'], learning_rate, steps_per_s,
              str(datetime.timedelta(seconds=int(eta)))
              if math.isfinite(eta) else '?')
          report_time, report_step = now, step_value
        if step_value % save_interval == 0 or step_value == max_steps:
          manager.save(checkpoint_number=step_value)
          last_saved = step_value
        if stop.signal_name:
          if last_saved != step_value:
            manager.save(checkpoint_number=step_value)
          console.info('Stopped by %s at step %d; checkpoint saved.',
                       stop.signal_name, step_value)
          break
      writer.flush()
  finally:
    stop.uninstall()
  losses['step'] = step_value
  losses['steps_per_s'] = (
      (step_value - timing_start[1]) / (time.time() - timing_start[0])
      if timing_start and step_value > timing_start[1] else float('nan'))
  return losses


def run_summary(logdir, step, max_steps, seconds):
  """The lines train.py ends with: where the model is and what to run next.

  Args:
    logdir: the run's directory.
    step: the step training reached.
    max_steps: TRAIN.MAX_ITERS.
    seconds: how long the run took.

  Returns:
    str: the status line, the last checkpoint and the next commands.
  """
  checkpoint = tf.train.latest_checkpoint(logdir)
  status = ('Trained to step %d of TRAIN.MAX_ITERS=%d' % (step, max_steps)
            if step >= max_steps else
            'Stopped at step %d of TRAIN.MAX_ITERS=%d (run the same command '
            'to resume)' % (step, max_steps))
  commands = (['python evaluate.py --logdir %s --once' % logdir] +
              algos.next_commands(logdir) +
              ['tensorboard --logdir %s' % logdir])
  return '\n'.join([
      '%s in %s.' % (status, datetime.timedelta(seconds=int(seconds))),
      'Last checkpoint: %s' % checkpoint, 'Next:'] +
                    ['  ' + command for command in commands])
