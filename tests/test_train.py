"""Tests of train.py: resume, stops, schedules, optimizers, configs, CLI."""

import glob
import itertools
import os
import shutil
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

import algos
from algos import num_steps_per_batch
import config
from config import CONFIG
from runners import training
import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY = [
    'IMAGE_SIZE=32', 'TRAIN.BATCH_SIZE=2', 'TRAIN.NUM_FRAMES=4',
    'MODEL.BASE_MODEL.SMALL_CNN_FILTERS=[8, 16]',
    'MODEL.CONV_EMBEDDER_MODEL.CONV_LAYERS=[[8, 3, true]]',
    'MODEL.CONV_EMBEDDER_MODEL.FC_LAYERS=[[8, true]]',
    'MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE=8',
    'MODEL.CONV_EMBEDDER_MODEL.FC_DROPOUT_RATE=0.0',
    'CHECKPOINT.SAVE_INTERVAL=2', 'LOGGING.REPORT_INTERVAL=1',
    'TRAIN.VISUALIZE_INTERVAL=2',
]


def _fake_create_dataset(nan_from=None, signal_at=None, drawn=None):
  """A stand-in for datasets.create_dataset: one fixed batch, repeated.

  Args:
    nan_from: elements from this index on have NaN frames.
    signal_at: producing this element sends SIGTERM to this process.
    drawn: a list; when given, elements are indices of a range shuffled with
      the global TF seed (like the real pipeline's shuffle), and the index of
      every element produced is appended to it, in order.
  """
  def create_dataset(split, mode='train', batch_spec=None, input_context=None):
    del batch_spec  # The batch below has the layout of TRAINING_ALGO.
    assert (split, mode) == ('train', 'train')
    batch_size = CONFIG.TRAIN.BATCH_SIZE
    if input_context is not None:
      batch_size = input_context.get_per_replica_batch_size(batch_size)
    num_steps = num_steps_per_batch(CONFIG.TRAINING_ALGO)
    size = CONFIG.IMAGE_SIZE
    rng = np.random.default_rng(0)
    frames = tf.constant(rng.uniform(
        -1, 1, [batch_size, num_steps * CONFIG.DATA.NUM_STEPS, size, size, 3]),
                         tf.float32)
    steps = tf.constant(np.sort(rng.choice(40, [batch_size, num_steps]), 1),
                        tf.int32)

    def element(index):
      if signal_at is not None:
        def maybe_signal(i):
          if i == signal_at:
            os.kill(os.getpid(), signal.SIGTERM)
          return i
        index = tf.py_function(maybe_signal, [index], tf.int64)
      batch_frames = frames
      if nan_from is not None:
        batch_frames = tf.where(index >= nan_from, frames * np.nan, frames)
      return {'frames': batch_frames, 'steps': steps,
              'frame_labels': steps % 3,
              'seq_lens': tf.fill([batch_size], 40),
              'video_labels': tf.zeros([batch_size], tf.int32),
              'names': tf.fill([batch_size], 'video')}
    indices = tf.data.Dataset.range(10 ** 6)
    if drawn is not None:
      def record(i):
        drawn.append(int(i))
        return i
      indices = indices.shuffle(1000).map(
          lambda i: tf.py_function(record, [i], tf.int64))
    return indices.map(element)
  return create_dataset


# The real pipeline, kept before the autouse fixture below replaces it.
REAL_CREATE_DATASET = training.datasets.create_dataset


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
  monkeypatch.setattr(training.datasets, 'create_dataset',
                      _fake_create_dataset())
  yield
  keras.mixed_precision.set_global_policy('float32')


def _checkpoint_values(path):
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if name != '_CHECKPOINTABLE_OBJECT_GRAPH'}


def _summary_tags(logdir):
  tags = set()
  for path in glob.glob(os.path.join(logdir, 'train', 'events.out.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  return tags


def test_restart_continues_exactly(tmp_path):
  continuous = str(tmp_path / 'continuous')
  restarted = str(tmp_path / 'restarted')
  train.train(continuous, overrides=TINY, max_iters=4)
  first = train.train(restarted, overrides=TINY, max_iters=2)
  assert first['step'] == 2
  assert tf.train.latest_checkpoint(restarted).endswith('ckpt-2')
  # A restart with no config arguments reuses <logdir>/config.yml.
  config.reset_config()
  second = train.train(restarted, max_iters=4)
  assert second['step'] == 4 and CONFIG.IMAGE_SIZE == 32

  expected = _checkpoint_values(os.path.join(continuous, 'ckpt-4'))
  actual = _checkpoint_values(os.path.join(restarted, 'ckpt-4'))
  assert actual.keys() == expected.keys()
  slots = [k for k in expected if k.startswith('optimizer/')]
  # Keras' Adam holds the trainable variables plus two moments of each.
  assert len(slots) >= 3 * 14
  assert any(k.startswith('model/') and 'moving_mean' in k for k in expected)
  for name in expected:
    if name != 'save_counter/.ATTRIBUTES/VARIABLE_VALUE':
      np.testing.assert_allclose(actual[name], expected[name], rtol=1e-4,
                                 atol=1e-6, err_msg=name)
  assert actual['step/.ATTRIBUTES/VARIABLE_VALUE'] == 4
  iterations = [k for k in slots if 'iteration' in k]
  assert iterations and actual[iterations[0]] == 4

  # restore_algo (model only) gets the same weights as a full restore.
  algo, step, run_config = algos.restore_algo(restarted)
  assert step == 4
  with config.use_config(run_config):
    keras.utils.set_random_seed(CONFIG.SEED)
    fresh = algos.get_algo()
    fresh.build_all()
    initial = [v.numpy() for v in fresh.weights]
    optimizer = training.get_optimizer(training.get_lr_schedule())
    optimizer.build(fresh.trainable_variables)
    algos.make_checkpoint(fresh, optimizer, tf.Variable(0, dtype=tf.int64)
                         ).restore(os.path.join(restarted, 'ckpt-4'))
  for var, full in zip(algo.weights, fresh.weights):
    np.testing.assert_array_equal(var.numpy(), full.numpy())
  assert not all(np.array_equal(v.numpy(), i)
                 for v, i in zip(fresh.weights, initial))

  tags = _summary_tags(continuous)
  assert {'losses/alignment', 'losses/regularization', 'losses/total_loss',
          'grad_norm', 'learning_rate', 'sample_frames'} <= tags
  assert config.read_config_from_logdir(continuous).TRAIN.MAX_ITERS == 4


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path,
                                                              monkeypatch):
  monkeypatch.setattr(training.datasets, 'create_dataset',
                      _fake_create_dataset(nan_from=3))
  logdir = str(tmp_path / 'run')
  with pytest.raises(training.NonFiniteLossError) as error:
    train.train(logdir, overrides=TINY, max_iters=10)
  message = str(error.value)
  assert '\n' not in message
  assert 'Step 4: non-finite loss' in message and 'ckpt-2' in message
  assert tf.train.latest_checkpoint(logdir).endswith('ckpt-2')
  assert not glob.glob(os.path.join(logdir, 'ckpt-4*'))
  assert all(np.all(np.isfinite(v)) for v in _checkpoint_values(
      os.path.join(logdir, 'ckpt-2')).values() if v.dtype.kind == 'f')


def test_sigterm_saves_a_checkpoint_and_returns(tmp_path, monkeypatch):
  monkeypatch.setattr(training.datasets, 'create_dataset',
                      _fake_create_dataset(signal_at=2))
  received = []
  handler = lambda *args: received.append(args)
  previous = signal.signal(signal.SIGTERM, handler)
  try:
    logdir = str(tmp_path / 'run')
    result = train.train(logdir, overrides=TINY + [
        'CHECKPOINT.SAVE_INTERVAL=1000'], max_iters=40)
    assert 1 <= result['step'] < 40
    assert tf.train.latest_checkpoint(logdir).endswith(
        'ckpt-%d' % result['step'])
    # train() put the handler it found back.
    assert signal.getsignal(signal.SIGTERM) is handler
    assert not received
  finally:
    signal.signal(signal.SIGTERM, previous)


def test_finished_run_override_extends_and_mismatch_errors(tmp_path):
  logdir = str(tmp_path / 'run')
  train.train(logdir, overrides=TINY, max_iters=2)
  assert train.train(logdir) == {'step': 2}
  config.reset_config()
  assert train.train(logdir, overrides=['TRAIN.MAX_ITERS=3'])['step'] == 3
  with pytest.raises(ValueError, match='ckpt-3.*does not match'):
    train.train(logdir, overrides=['MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE=5',
                                   'TRAIN.MAX_ITERS=5'])
  assert config.read_config_from_logdir(
      logdir).MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE == 8


def test_zero_iterations_saves_the_untrained_model(tmp_path):
  logdir = str(tmp_path / 'untrained')
  assert train.train(logdir, overrides=TINY, max_iters=0) == {'step': 0}
  assert tf.train.latest_checkpoint(logdir).endswith('ckpt-0')
  assert algos.restore_algo(logdir)[1] == 0
  # A second call finds the checkpoint and saves nothing new.
  assert train.train(logdir) == {'step': 0}
  assert [os.path.basename(p) for p in tf.train.get_checkpoint_state(
      logdir).all_model_checkpoint_paths] == ['ckpt-0']


def test_resolve_config_choices(tmp_path):
  logdir = str(tmp_path / 'run')
  config.load_config((), ['IMAGE_SIZE=48'])
  config.save_config(logdir)
  config.reset_config()
  assert training.resolve_config(logdir) == logdir and CONFIG.IMAGE_SIZE == 48
  training.resolve_config(logdir, overrides=['TRAIN.BATCH_SIZE=3'])
  assert (CONFIG.IMAGE_SIZE, CONFIG.TRAIN.BATCH_SIZE) == (48, 3)
  training.resolve_config(logdir,
                          os.path.join(REPO, 'configs', 'methods', 'sal.yml'))
  assert (CONFIG.IMAGE_SIZE, CONFIG.TRAINING_ALGO) == (64, 'sal')
  config.reset_config()
  assert training.resolve_config(None, (), ['LOGDIR=%s' % logdir]) == logdir
  assert CONFIG.IMAGE_SIZE == 48


def test_classification_resolves_num_classes_from_dataset_info(tmp_path,
                                                               monkeypatch):
  monkeypatch.setattr(training.datasets, 'get_dataset_info',
                      lambda name: {'num_classes': 3}, raising=False)
  logdir = str(tmp_path / 'run')
  train.train(logdir, overrides=TINY + ['TRAINING_ALGO=classification'],
              max_iters=1)
  assert config.read_config_from_logdir(
      logdir).CLASSIFICATION.NUM_CLASSES == 3


def test_mixed_float16_uses_loss_scaling(tmp_path):
  logdir = str(tmp_path / 'run')
  result = train.train(logdir, overrides=TINY + [
      'TRAIN.MIXED_PRECISION=mixed_float16'], max_iters=2)
  assert np.isfinite(result['total_loss']) and result['step'] == 2
  assert isinstance(training.get_optimizer(0.1),
                       keras.optimizers.LossScaleOptimizer)


def test_jit_compiled_step(tmp_path):
  result = train.train(str(tmp_path / 'run'),
                       overrides=TINY + ['TRAIN.JIT_COMPILE=true'],
                       max_iters=1)
  assert np.isfinite(result['total_loss'])


def test_learning_rate_schedules():
  def rates(schedule, steps):
    return [float(schedule(s)) for s in steps]
  fixed = training.LearningRateSchedule(0.1)
  np.testing.assert_allclose(rates(fixed, [0, 10 ** 5]), [0.1, 0.1])
  exp = training.LearningRateSchedule(0.1, 'exp_decay', exp_decay_rate=0.5,
                                      exp_decay_steps=10)
  np.testing.assert_allclose(rates(exp, [0, 9, 10, 25]),
                             [0.1, 0.1, 0.05, 0.025], rtol=1e-6)
  manual = training.LearningRateSchedule(0.1, 'manual',
                                         manual_boundaries=[5, 8],
                                         manual_decay_rate=0.1)
  np.testing.assert_allclose(rates(manual, [0, 4, 5, 7, 8, 100]),
                             [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-5)
  warm = training.LearningRateSchedule(0.1, 'manual', manual_boundaries=[5],
                                       manual_decay_rate=0.1,
                                       num_warmup_steps=4)
  np.testing.assert_allclose(rates(warm, [0, 1, 3, 4, 5]),
                             [0.025, 0.05, 0.1, 0.1, 0.01], rtol=1e-5)
  CONFIG.OPTIMIZER.LR.DECAY_TYPE = 'cosine'
  with pytest.raises(ValueError, match='DECAY_TYPE.*fixed, exp_decay, manual'):
    training.get_lr_schedule()


def test_optimizers_and_precision_errors():
  CONFIG.OPTIMIZER.TYPE = 'MomentumOptimizer'
  CONFIG.OPTIMIZER.MOMENTUM = 0.8
  momentum = training.get_optimizer(0.1)
  assert isinstance(momentum, keras.optimizers.SGD)
  assert momentum.momentum == 0.8
  CONFIG.OPTIMIZER.TYPE = 'AdamOptimizer'
  assert isinstance(training.get_optimizer(0.1), keras.optimizers.Adam)
  CONFIG.OPTIMIZER.TYPE = 'LAMB'
  with pytest.raises(ValueError, match='OPTIMIZER.TYPE.*AdamOptimizer, '
                     'MomentumOptimizer'):
    training.get_optimizer(0.1)
  CONFIG.TRAIN.MIXED_PRECISION = 'float8'
  with pytest.raises(ValueError, match='MIXED_PRECISION'):
    training.set_precision_policy()


def test_flat_config_paths_still_resolve():
  # The published code's path (configs/demo.yml) and the flat paths of earlier
  # releases name the files now under configs/<group>/.
  for group, name in (('published', 'demo.yml'), ('methods', 'sal.yml'),
                      ('demo', 'crw_demo.yml')):
    flat = os.path.join(REPO, 'configs', name)
    assert not os.path.exists(flat)
    assert config.resolve_config_path(flat) == os.path.join(
        REPO, 'configs', group, name)
    assert config.to_plain(config.build_config([flat])) == config.to_plain(
        config.build_config([os.path.join(REPO, 'configs', group, name)]))
  with pytest.raises(config.ConfigError, match='nope.yml: config file not'):
    config.build_config([os.path.join(REPO, 'configs', 'nope.yml')])


def _leaf_keys(values, prefix=''):
  keys = set()
  for key, value in values.items():
    if isinstance(value, dict):
      keys |= _leaf_keys(value, prefix + key + '.')
    else:
      keys.add(prefix + key)
  return keys


def test_every_config_file_loads():
  paths = sorted(glob.glob(os.path.join(REPO, 'configs', '*', '*.yml')))
  names = {os.path.basename(p) for p in paths}
  assert {'demo.yml', 'pouring.yml', 'penn_action.yml', 'alignment.yml',
          'sal.yml', 'tcn.yml', 'alignment_sal_tcn.yml',
          'classification.yml'} <= names
  for path in paths:
    config.load_config([path])
  defaults = config.to_plain(config._DEFAULTS)  # pylint: disable=protected-access
  demo = config.to_plain(config.load_config([os.path.join(
      REPO, 'configs', 'demo', 'cpu_demo.yml')]))
  assert demo == defaults
  # A demo config says at its top whether it lists every key (and then it
  # does) or only the keys it changes.
  for path in glob.glob(os.path.join(REPO, 'configs', 'demo', '*.yml')):
    with open(path) as f:
      text = f.read()
    head = ' '.join(line.lstrip('# ') for line in itertools.takewhile(
        lambda line: line.startswith('#'), text.splitlines())).lower()
    complete = 'lists every key' in head
    assert complete != ('lists only the keys it changes' in head), path
    if complete:
      assert _leaf_keys(yaml.safe_load(text)) == _leaf_keys(defaults), path
  for name in ('pouring.yml', 'penn_action.yml'):
    cfg = config.load_config([os.path.join(REPO, 'configs', 'published',
                                           name)])
    assert cfg.MODEL.BASE_MODEL.NETWORK == 'Resnet50_pretrained'
    assert cfg.MODEL.BASE_MODEL.LAYER == 'conv4_block3_out'
    assert (cfg.IMAGE_SIZE, cfg.MODEL.TRAIN_BASE) == (224, 'only_bn')
    assert (cfg.DATA.NUM_STEPS, cfg.DATA.FRAME_STRIDE) == (2, 15)
    assert (cfg.TRAIN.BATCH_SIZE, cfg.TRAIN.NUM_FRAMES) == (2, 20)
    assert cfg.OPTIMIZER.LR.INITIAL_LR == 1e-4
    assert cfg.TRAIN.MAX_ITERS == 150000
    embedder = cfg.MODEL.CONV_EMBEDDER_MODEL
    assert embedder.CONV_LAYERS == [[256, 3, True], [256, 3, True]]
    assert embedder.FC_LAYERS == [[256, True], [256, True]]
    assert (embedder.CAPACITY_SCALAR, embedder.EMBEDDING_SIZE) == (2, 128)


def test_cli_reports_bad_config_in_one_line(tmp_path, run_tool):
  # In-process main(); test_robustness runs the same error as a subprocess.
  result = run_tool('train', '--logdir', tmp_path / 'run', '--override',
                    'TRAIN.MAX_ITER=5')
  assert result.returncode == 1
  errors = [l for l in result.log.splitlines() if 'unknown config key' in l]
  assert len(errors) == 1 and 'TRAIN.MAX_ITERS' in errors[0]
  assert not os.path.exists(tmp_path / 'run' / 'ckpt-1.index')


def test_mirrored_strategy_matches_single_replica(tmp_path, monkeypatch,
                                                  two_cpu_strategy):
  """2 CPU replicas, each given the same 2 videos, train like 1 replica.

  This checks that replica losses are scaled so that the summed gradients are
  the mean (and that BatchNorm and the step run per replica).
  """
  # Each replica's batch holds the same 2 videos as the single replica's.
  overrides = TINY + ['OPTIMIZER.TYPE=MomentumOptimizer',
                      'TRAIN.CROSS_REPLICA_ALIGNMENT=false']
  train.train(str(tmp_path / 'single'), overrides=overrides, max_iters=2)
  config.reset_config()
  monkeypatch.setattr(training, 'get_strategy', lambda: two_cpu_strategy)
  train.train(str(tmp_path / 'mirrored'), overrides=overrides + [
      'TRAIN.BATCH_SIZE=4'], max_iters=2)
  single = _checkpoint_values(str(tmp_path / 'single' / 'ckpt-2'))
  mirrored = _checkpoint_values(str(tmp_path / 'mirrored' / 'ckpt-2'))
  assert single.keys() == mirrored.keys()
  for name, value in single.items():
    if name != 'save_counter/.ATTRIBUTES/VARIABLE_VALUE':
      np.testing.assert_allclose(mirrored[name], value, rtol=1e-4, atol=1e-6,
                                 err_msg=name)


def test_end_to_end_with_the_real_pipeline(tmp_path, monkeypatch):
  """train.py on a tiny generated synthetic dataset, then restore and embed."""
  import datasets  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(training.datasets, 'create_dataset', REAL_CREATE_DATASET)
  logdir = str(tmp_path / 'run')
  overrides = TINY + [
      'PATH_TO_TFRECORDS=%s/%%s' % tmp_path, 'DATASETS=[synthetic_tiny]',
      'TRAINING_ALGO=alignment_sal_tcn', 'TRAIN.NUM_FRAMES=5',
      'SYNTHETIC.NUM_TRAIN_VIDEOS=2', 'SYNTHETIC.NUM_VAL_VIDEOS=1',
      'SYNTHETIC.MIN_FRAMES=12', 'SYNTHETIC.MAX_FRAMES=14']
  result = train.train(logdir, overrides=overrides, max_iters=2)
  assert result['step'] == 2
  assert {'alignment', 'sal', 'tcn'} <= set(result)
  config.reset_config()
  algo, step, run_config = algos.restore_algo(logdir)
  assert step == 2 and run_config.TRAINING_ALGO == 'alignment_sal_tcn'
  assert CONFIG.TRAINING_ALGO == 'alignment'  # The caller's, untouched.
  with config.use_config(run_config):
    video = next(iter(datasets.create_one_epoch_dataset('synthetic_tiny',
                                                        'val')))
    embs = algo.embed_video(datasets.decode_eval_frames(
        video['jpegs'], CONFIG.IMAGE_SIZE, False), stride=1,
                            frames_per_batch=5)
  assert embs.shape == (int(video['seq_len']), 8)
  assert np.all(np.isfinite(embs))


def _two_datasets_by_length(root, num_train):
  """Datasets 'alpha' and 'beta' under `root`, told apart by their video
  lengths: 12-13 and 16-17 frames."""
  from dataset_preparation import synthetic  # pylint: disable=g-import-not-at-top
  for name, min_frames, seed in (('alpha', 12, 0), ('beta', 16, 1)):
    synthetic.generate_dataset(
        str(root / name), name, num_train=num_train, num_val=1,
        image_size=32, min_frames=min_frames, max_frames=min_frames + 1,
        num_views=1, seed=seed, variation=0.5, mirror=True, fps=10,
        jpeg_quality=90, num_shards=1)


def test_training_on_two_datasets_draws_each_batch_from_one(tmp_path,
                                                           monkeypatch):
  """As published: TCC never aligns videos of two datasets in one batch."""
  _two_datasets_by_length(tmp_path, num_train=3)
  batch_lengths = []

  def recording_create_dataset(*args, **kwargs):
    def record(names, seq_lens):
      batch_lengths.append(seq_lens.numpy().tolist())
      return names
    return REAL_CREATE_DATASET(*args, **kwargs).map(
        lambda b: dict(b, names=tf.py_function(
            record, [b['names'], b['seq_lens']], tf.string)))
  monkeypatch.setattr(training.datasets, 'create_dataset',
                      recording_create_dataset)
  overrides = TINY + [
      'PATH_TO_TFRECORDS=%s/%%s' % tmp_path, 'DATASETS=[alpha, beta]',
      'TRAIN.NUM_FRAMES=5', 'TRAIN.BATCH_SIZE=3']
  result = train.train(str(tmp_path / 'run'), overrides=overrides,
                       max_iters=8)
  assert result['step'] == 8
  assert len(batch_lengths) >= 8
  sources = [{'alpha' if n < 15 else 'beta' for n in lengths}
             for lengths in batch_lengths]
  assert all(len(s) == 1 for s in sources), batch_lengths
  # Both datasets are drawn (one only has probability 2 * 0.5^8).
  assert set().union(*sources) == {"alpha", "beta"}, batch_lengths


def test_two_replicas_of_a_step_hold_batches_of_one_dataset(
    tmp_path, two_cpu_strategy):
  """One dataset per step across replicas, so cross-replica TCC never mixes
  actions (a pipeline feeds its replicas consecutive batches)."""
  _two_datasets_by_length(tmp_path, num_train=4)
  config.load_config((), TINY + [
      'PATH_TO_TFRECORDS=%s/%%s' % tmp_path, 'DATASETS=[alpha, beta]',
      'TRAIN.NUM_FRAMES=5', 'TRAIN.BATCH_SIZE=4'])
  tf.random.set_seed(3)
  strategy = two_cpu_strategy
  batches = iter(strategy.distribute_datasets_from_function(
      lambda context: REAL_CREATE_DATASET('train', input_context=context)))
  steps = []
  for _ in range(12):
    batch = next(batches)
    steps.append([t.numpy().tolist() for t in
                  strategy.experimental_local_results(batch['seq_lens'])])
  assert len(steps) == 12 and all(len(step) == 2 for step in steps)
  sources = [{'alpha' if n < 15 else 'beta' for replica in step
              for n in replica} for step in steps]
  assert all(len(s) == 1 for s in sources), steps
  assert set().union(*sources) == {'alpha', 'beta'}, steps


def _summary_values(logdir, tag):
  """{step: value} of scalar summary `tag` under <logdir>/train."""
  values = {}
  for path in glob.glob(os.path.join(logdir, 'train', 'events.out.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          values[event.step] = float(tf.make_ndarray(value.tensor))
  return values


def test_loop_length_ends_at_every_interval():
  assert training.loop_length(0, 100, 10, (25, 7, 0)) == 7
  assert training.loop_length(7, 100, 10, (25, 7, 0)) == 7
  assert training.loop_length(21, 100, 10, (25, 7, 0)) == 4
  assert training.loop_length(95, 98, 10, (1000, 1000, 0)) == 3
  assert training.loop_length(3, 100, 1, (25, 7, 0)) == 1
  assert training.loop_length(3, 100, 0, ()) == 1


def test_in_graph_loop_trains_like_single_steps(tmp_path):
  """10 steps in loops of up to 3 equal 10 single steps; summaries are the
  loops' means, written at the loops' last steps; checkpoints stay exact."""
  loop_overrides = TINY + ['LOGGING.REPORT_INTERVAL=100',
                           'TRAIN.VISUALIZE_INTERVAL=0',
                           'CHECKPOINT.SAVE_INTERVAL=4']
  single = str(tmp_path / 'single')
  looped = str(tmp_path / 'looped')
  train.train(single, overrides=loop_overrides + ['TRAIN.STEPS_PER_LOOP=1'],
              max_iters=10)
  result = train.train(looped, overrides=loop_overrides + [
      'TRAIN.STEPS_PER_LOOP=3'], max_iters=10)
  assert result['step'] == 10
  assert sorted(os.path.basename(p) for p in tf.train.get_checkpoint_state(
      looped).all_model_checkpoint_paths) == ['ckpt-10', 'ckpt-4', 'ckpt-8']
  expected = _checkpoint_values(os.path.join(single, 'ckpt-10'))
  actual = _checkpoint_values(os.path.join(looped, 'ckpt-10'))
  for name in expected:
    np.testing.assert_allclose(actual[name], expected[name], rtol=1e-4,
                               atol=1e-6, err_msg=name)
  per_step = _summary_values(single, 'losses/total_loss')
  per_loop = _summary_values(looped, 'losses/total_loss')
  assert sorted(per_step) == list(range(1, 11))
  # Loops: steps 1-3, 4 (checkpoint), 5-7, 8 (checkpoint), 9-10 (end).
  assert sorted(per_loop) == [3, 4, 7, 8, 10]
  for last, first in ((3, 1), (4, 4), (7, 5), (8, 8), (10, 9)):
    np.testing.assert_allclose(
        per_loop[last], np.mean([per_step[s] for s in range(first, last + 1)]),
        rtol=1e-5)
  assert sorted(_summary_values(looped, 'learning_rate')) == [3, 4, 7, 8, 10]
  np.testing.assert_allclose(result['total_loss'],
                             np.mean([per_step[9], per_step[10]]), rtol=1e-5)


def test_non_finite_step_inside_a_loop_saves_nothing_after_it(tmp_path,
                                                              monkeypatch):
  monkeypatch.setattr(training.datasets, 'create_dataset',
                      _fake_create_dataset(nan_from=5))
  logdir = str(tmp_path / 'run')
  with pytest.raises(training.NonFiniteLossError,
                     match=r'Step 6: non-finite loss.*ckpt-4'):
    train.train(logdir, overrides=TINY + [
        'TRAIN.STEPS_PER_LOOP=4', 'CHECKPOINT.SAVE_INTERVAL=4',
        'LOGGING.REPORT_INTERVAL=100', 'TRAIN.VISUALIZE_INTERVAL=0'],
                max_iters=12)
  assert [os.path.basename(p) for p in tf.train.get_checkpoint_state(
      logdir).all_model_checkpoint_paths] == ['ckpt-4']
  assert all(np.all(np.isfinite(v)) for v in _checkpoint_values(
      os.path.join(logdir, 'ckpt-4')).values() if v.dtype.kind == 'f')


def test_resume_continues_the_data_stream(tmp_path, monkeypatch):
  """A resumed run draws new batches, not those its first steps drew, and
  the same ones on every resume from the same step."""
  def run(logdir, max_iters):
    drawn = []
    monkeypatch.setattr(training.datasets, 'create_dataset',
                        _fake_create_dataset(drawn=drawn))
    config.reset_config()
    train.train(logdir, overrides=TINY + ['TRAIN.STEPS_PER_LOOP=1'],
                max_iters=max_iters)
    return drawn[:2]

  logdir = str(tmp_path / 'run')
  first = run(logdir, 2)
  copy = str(tmp_path / 'copy')
  shutil.copytree(logdir, copy)
  resumed = run(logdir, 4)
  assert resumed != first
  assert run(copy, 4) == resumed
  # A fresh run with the same seed draws what the first run drew.
  assert run(str(tmp_path / 'again'), 2) == first
