"""Tests of algos/: the algorithms, their weighted combinations, training steps, sampling, restore."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import algos
from algos import combined
from algos import num_steps_per_batch
from algos.combined import draw_use_positives
from algos.sal import sample_sal_triplets
from algos.tcn import npairs_loss
import config
from config import CONFIG

IMAGE_SIZE = 32
NUM_VIDEOS = 3
NUM_FRAMES = 6
NUM_CLASSES = 3


def _tiny_config(cfg):
  cfg.IMAGE_SIZE = IMAGE_SIZE
  cfg.TRAIN.NUM_FRAMES = NUM_FRAMES
  cfg.DATA.NUM_STEPS = 2
  cfg.DATA.FRAME_STRIDE = 2
  cfg.MODEL.BASE_MODEL.SMALL_CNN_FILTERS = [8, 16]
  cfg.MODEL.CONV_EMBEDDER_MODEL.CONV_LAYERS = [[16, 3, True]]
  cfg.MODEL.CONV_EMBEDDER_MODEL.FC_LAYERS = [[16, True]]
  cfg.MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE = 8
  cfg.MODEL.CONVGRU_EMBEDDER_MODEL.EMBEDDING_SIZE = 8
  cfg.MODEL.CONV_EMBEDDER_MODEL.FC_DROPOUT_RATE = 0.0
  cfg.SAL.FC_LAYERS = [[16, True], [2, False]]
  cfg.CLASSIFICATION.NUM_CLASSES = NUM_CLASSES
  cfg.CRW.PATCH_SIZE = 16
  cfg.CRW.PATCH_STRIDE = 8
  # 16 px patches: 2 x 2 feature cells, too small for the valid 4x4 head.
  cfg.TIMECYCLE.LOCALIZER = 'same3x3'
  cfg.TIMECYCLE.FEATURE_DIM = 8
  # One tracked frame: the smallest graph (test_timecycle.py covers longer
  # cycles).
  cfg.TIMECYCLE.CLIP_LENGTH = 1
  cfg.TIMECYCLE.FRAME_STRIDE = 1
  cfg.TIMECYCLE.TARGET_DISTANCE = 1


@pytest.fixture(autouse=True)
def tiny(fresh_config):
  _tiny_config(fresh_config)
  keras.utils.set_random_seed(0)


def _batch(name, num_videos=NUM_VIDEOS, seed=0):
  """A batch with the layout of datasets.create_dataset for algorithm name."""
  rng = np.random.default_rng(seed)
  num_steps = num_steps_per_batch(name)
  # Clips (crw, timecycle) carry no context frames.
  num_context = 1 if algos.get_batch_spec(name).clip else CONFIG.DATA.NUM_STEPS
  frames = rng.uniform(-1, 1, [num_videos, num_steps * num_context,
                               IMAGE_SIZE, IMAGE_SIZE, 3])
  steps = np.sort(rng.choice(30, [num_videos, num_steps]), axis=1)
  return {
      'frames': tf.constant(frames, tf.float32),
      'steps': tf.constant(steps, tf.int32),
      'frame_labels': tf.constant(rng.integers(0, NUM_CLASSES,
                                               [num_videos, num_steps]),
                                  tf.int32),
      'seq_lens': tf.fill([num_videos], 30),
      'video_labels': tf.zeros([num_videos], tf.int32),
  }


def _loss_at_fixed_seed(algo, batch):
  tf.random.set_seed(123)
  embs = algo.embed(batch['frames'], training=True)
  return float(algo.compute_loss(embs, batch, training=True)['loss'])


@pytest.mark.parametrize('name', list(algos.ALGORITHMS))
def test_training_steps_lower_the_loss_with_finite_gradients(name):
  CONFIG.MODEL.TRAIN_BASE = 'only_bn'
  algo = algos.get_algo(name)
  batch = _batch(name)
  algo.build_all()
  frozen = {v.path: v.numpy() for v in algo.base_model.weights
            if v.name == 'kernel'}
  assert frozen and not any(v.path in frozen for v in algo.trainable_variables)

  with tf.GradientTape() as tape:
    embs = algo.embed(batch['frames'], training=True)
    loss = algo.compute_loss(embs, batch, training=True)['loss']
  grads = tape.gradient(loss, algo.trainable_variables)
  for var, grad in zip(algo.trainable_variables, grads):
    assert grad is not None, var.path
    assert np.all(np.isfinite(grad)), var.path

  loss_before = _loss_at_fixed_seed(algo, batch)
  optimizer = keras.optimizers.Adam(1e-3)
  step = tf.function(algo.train_one_iter)
  for _ in range(15):
    losses = step(batch, optimizer)
  assert {'loss', 'regularization', 'total_loss', 'grad_norm'} <= set(losses)
  assert all(np.isfinite(float(v)) for v in losses.values())
  assert _loss_at_fixed_seed(algo, batch) < loss_before
  for var in algo.base_model.weights:
    if var.path in frozen:
      np.testing.assert_array_equal(var.numpy(), frozen[var.path])


def _bn_moving_stats(model):
  return [v.numpy().copy() for v in model.weights if 'moving' in v.name]


@pytest.mark.parametrize('mode', ['frozen', 'only_bn', 'train_all'])
def test_train_base_modes_in_training(mode):
  CONFIG.MODEL.TRAIN_BASE = mode
  algo = algos.get_algo('alignment')
  batch = _batch('alignment')
  algo.build_all()
  base_before = {v.path: v.numpy().copy() for v in algo.base_model.weights}
  embedder_before = [v.numpy().copy() for v in algo.embedder.trainable_weights]
  optimizer = keras.optimizers.SGD(0.1)
  for _ in range(2):
    algo.train_one_iter(batch, optimizer)
  changed = {v.name for v in algo.base_model.weights
             if not np.array_equal(v.numpy(), base_before[v.path])}
  expected = {'frozen': set(),
              'only_bn': {'gamma', 'beta', 'moving_mean', 'moving_variance'},
              'train_all': {'kernel', 'gamma', 'beta', 'moving_mean',
                            'moving_variance'}}[mode]
  assert changed == expected
  assert not any(np.array_equal(v.numpy(), before) for v, before in
                 zip(algo.embedder.trainable_weights, embedder_before))


def test_unknown_algorithm_lists_known_ones():
  with pytest.raises(ValueError, match='nope.*alignment, sal, tcn, '
                     'alignment_sal_tcn, classification'):
    algos.get_algo('nope')
  CONFIG.TRAINING_ALGO = 'sal'
  assert isinstance(algos.get_algo(), algos.ALGORITHMS['sal'])


def test_sal_sampling_invariants():
  tf.random.set_seed(7)
  num_videos, num_samples, num_steps = 64, 20, 9
  triplets, labels = sample_sal_triplets(num_videos, num_steps, num_samples,
                                         0.75)
  triplets, labels = triplets.numpy(), labels.numpy()
  assert triplets.shape == (num_videos, num_samples, 3)
  assert triplets.min() >= 0 and triplets.max() < num_steps
  # Exactly round(0.75 * 20) = 15 negatives per video.
  np.testing.assert_array_equal((labels == 0).sum(axis=1), 15)
  first, middle, last = triplets[..., 0], triplets[..., 1], triplets[..., 2]
  ascending = (first < middle) & (middle < last)
  descending = (first > middle) & (middle > last)
  positive = labels == 1
  # Positives (b, c, d): strictly monotonic, in one direction or the other.
  assert np.all((ascending | descending)[positive])
  # Negatives (b, a, d) / (b, e, d): the middle frame lies outside [b, d].
  low, high = np.minimum(first, last), np.maximum(first, last)
  assert np.all(((middle < low) | (middle > high))[~positive])
  assert np.all((last - first != 0))
  # Both directions and both negative kinds occur about equally often.
  forward = first < last
  assert 0.4 < forward.mean() < 0.6
  before_first = np.where(forward, middle < first, middle > first)
  assert 0.4 < before_first[~positive].mean() < 0.6
  with pytest.raises(ValueError, match='at least 5'):
    sample_sal_triplets(2, 4, 3, 0.5)


def test_sal_loss_matches_independent_computation():
  CONFIG.SAL.LABEL_SMOOTHING = 0.2
  CONFIG.TRAIN.NUM_FRAMES = 7
  algo = algos.get_algo('sal')
  embs = tf.random.normal([2, 7, 8])
  tf.random.set_seed(3)
  loss = float(algo.compute_loss(embs, {}, training=False)['loss'])
  tf.random.set_seed(3)
  triplets, labels = sample_sal_triplets(2, 7, CONFIG.SAL.NUM_SAMPLES,
                                         CONFIG.SAL.SHUFFLE_FRACTION)
  embs_np = embs.numpy()
  features = np.stack([
      np.concatenate([embs_np[v, i] for i in triplet])
      for v in range(2) for triplet in triplets.numpy()[v]])
  logits = algo.sal_classifier(features, training=False).numpy()
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  targets = np.eye(2)[labels.numpy().reshape(-1)] * 0.8 + 0.1
  np.testing.assert_allclose(loss, -(targets * log_probs).sum(-1).mean(),
                             rtol=1e-5)


def test_sal_fc_layers_must_end_with_two_units():
  CONFIG.SAL.FC_LAYERS = [[16, True], [3, False]]
  with pytest.raises(ValueError, match='SAL.FC_LAYERS'):
    algos.get_algo('sal')


def _npairs_reference(anchors, positives, reg_lambda):
  """Per-video n-pairs loop, NumPy."""
  losses = []
  for a, p in zip(anchors, positives):
    sims = a @ p.T
    log_probs = sims - np.log(np.exp(sims).sum(1, keepdims=True))
    cross_entropy = -np.mean(np.diag(log_probs))
    reg = 0.25 * reg_lambda * (np.mean((a ** 2).sum(1)) +
                               np.mean((p ** 2).sum(1)))
    losses.append(cross_entropy + reg)
  return np.mean(losses)


def test_tcn_loss_matches_per_video_reference():
  rng = np.random.default_rng(0)
  embs = rng.normal(size=[3, 10, 4]).astype(np.float32)
  CONFIG.TCN.REG_LAMBDA = 0.5
  algo = algos.get_algo('tcn')
  loss = algo.compute_loss(tf.constant(embs), {}, training=True)['loss']
  # Interleaved: anchor_k at 2k, its positive at 2k + 1.
  expected = _npairs_reference(embs[:, ::2], embs[:, 1::2], 0.5)
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
  np.testing.assert_allclose(
      float(npairs_loss(embs[:, ::2], embs[:, 1::2], 0.0)),
      _npairs_reference(embs[:, ::2], embs[:, 1::2], 0.0), rtol=1e-5)


def test_alignment_sal_tcn_is_the_weighted_sum_on_the_right_inputs(
    monkeypatch):
  """TCC and SaL see, per video, its anchors or its positives (a coin flip)."""
  use_positives = tf.constant([True, False, True])
  monkeypatch.setattr(combined, 'draw_use_positives',
                      lambda batch_size: use_positives)
  CONFIG.ALIGNMENT_SAL_TCN.ALIGNMENT_LOSS_WEIGHT = 0.5
  CONFIG.ALIGNMENT_SAL_TCN.SAL_LOSS_WEIGHT = 0.2
  algo = algos.get_algo('alignment_sal_tcn')
  batch = _batch('alignment_sal_tcn')
  embs = tf.random.normal([NUM_VIDEOS, 2 * NUM_FRAMES, 8])
  tf.random.set_seed(5)
  losses = algo.compute_loss(embs, batch, training=False)
  # Videos 0 and 2 use their positives (odd positions), video 1 its anchors.
  starts = np.array([1, 0, 1])
  positions = starts[:, None] + 2 * np.arange(NUM_FRAMES)[None]
  chosen_embs = np.take_along_axis(embs.numpy(), positions[..., None], 1)
  chosen_steps = np.take_along_axis(batch['steps'].numpy(), positions, 1)
  tcc = algos.get_algo('alignment').compute_loss(
      tf.constant(chosen_embs), {'steps': tf.constant(chosen_steps),
                                 'seq_lens': batch['seq_lens']},
      training=False)['loss']
  sal = algos.get_algo('sal')
  sal.sal_classifier = algo.sal_classifier
  tf.random.set_seed(5)
  sal_loss = sal.compute_loss(tf.constant(chosen_embs), batch,
                              training=False)['loss']
  tcn = algos.get_algo('tcn').compute_loss(embs, batch, training=False)['loss']
  np.testing.assert_allclose(
      [float(losses[k]) for k in ('alignment', 'sal', 'tcn')],
      [float(tcc), float(sal_loss), float(tcn)], rtol=1e-5)
  np.testing.assert_allclose(
      float(losses['loss']),
      0.5 * float(tcc) + 0.2 * float(sal_loss) + 0.3 * float(tcn), rtol=1e-5)

  CONFIG.ALIGNMENT_SAL_TCN.SAL_LOSS_WEIGHT = 0.0
  without_sal = algos.get_algo('alignment_sal_tcn')
  assert without_sal.sal_classifier is None
  assert set(without_sal.compute_loss(embs, batch, False)) == {
      'alignment', 'tcn', 'loss'}
  CONFIG.ALIGNMENT_SAL_TCN.SAL_LOSS_WEIGHT = 0.7
  with pytest.raises(ValueError, match='SAL_LOSS_WEIGHT'):
    algos.get_algo('alignment_sal_tcn')


def test_alignment_sal_tcn_draws_anchors_or_positives_per_video():
  tf.random.set_seed(0)
  draws = np.stack([draw_use_positives(4).numpy() for _ in range(200)])
  assert draws.shape == (200, 4)
  assert 0.4 < draws.mean() < 0.6
  # Videos of one batch are drawn independently: mixed batches occur.
  assert 0.6 < np.mean(draws.any(axis=1) & ~draws.all(axis=1)) < 1.0


CHECKPOINT_KEYS = os.path.join(os.path.dirname(__file__), 'data',
                               'combined_checkpoint_keys.json')


def _checkpoint_keys(algo, directory):
  """{variable name: shape} of a make_checkpoint checkpoint of `algo`."""
  path = algos.make_checkpoint(algo, step=tf.Variable(0, dtype=tf.int64)).write(
      os.path.join(directory, 'ckpt'))
  return {key: list(shape) for key, shape in tf.train.list_variables(path)}


@pytest.mark.parametrize('case', ['alignment_sal_tcn',
                                  'alignment_sal_tcn/SAL_LOSS_WEIGHT=0',
                                  'alignment_svtcn', 'alignment_mvtcn'])
def test_combined_algorithms_keep_the_checkpoint_layout(case, tmp_path):
  """The variable names and shapes that the separate classes saved."""
  with open(CHECKPOINT_KEYS) as f:
    expected = json.load(f)[case]
  name, _, setting = case.partition('/')
  if setting:
    CONFIG.ALIGNMENT_SAL_TCN.SAL_LOSS_WEIGHT = 0.0
  algo = algos.get_algo(name)
  algo.build_all()
  assert _checkpoint_keys(algo, str(tmp_path)) == expected
  # And a checkpoint of that layout restores into a new model, every value.
  keras.utils.set_random_seed(1)
  fresh = algos.get_algo(name)
  fresh.build_all()
  step = tf.Variable(3, dtype=tf.int64)
  status = algos.make_checkpoint(fresh, step=step).read(
      os.path.join(str(tmp_path), 'ckpt'))
  status.assert_consumed()
  for old, new in zip(algo.weights, fresh.weights):
    np.testing.assert_array_equal(new.numpy(), old.numpy(), err_msg=old.path)


def test_combined_is_the_weighted_sum_of_its_terms():
  """Any (Term, weight) pairs: weights times the terms' own losses."""
  calls = []

  def fake_loss(value):
    def loss(embs, steps, batch, training, head):
      calls.append((embs, steps, head))
      return value * tf.reduce_mean(embs)
    return loss
  terms = [(combined.Term('a', 'all', fake_loss(1.0)), 0.25),
           (combined.Term('b', 'anchor_view', fake_loss(2.0)), 0.0),
           (combined.Term('c', 'anchor_view', fake_loss(3.0), head='c_head',
                          make_head=lambda: keras.layers.Dense(1),
                          min_num_steps=4), 0.75)]
  algo = combined.Combined(terms)
  assert isinstance(algo.c_head, keras.layers.Dense)
  assert algo.min_num_steps() == 4
  embs = tf.random.normal([2, 6, 8])
  steps = tf.tile(tf.range(6)[None], [2, 1])
  losses = algo.compute_loss(embs, {'steps': steps}, training=False)
  assert set(losses) == {'a', 'c', 'loss'}  # 'b' has weight 0
  mean_all = float(np.mean(embs.numpy()))
  mean_anchors = float(np.mean(embs.numpy()[:, :3]))
  np.testing.assert_allclose(
      [float(losses['a']), float(losses['c']), float(losses['loss'])],
      [mean_all, 3 * mean_anchors, 0.25 * mean_all + 0.75 * 3 * mean_anchors],
      rtol=1e-5)
  np.testing.assert_array_equal(calls[1][1], steps[:, :3])
  assert calls[1][2] is algo.c_head and calls[0][2] is None


def test_combined_weights_must_be_non_negative_and_sum_to_one_at_most():
  CONFIG.ALIGNMENT_MVTCN.ALIGNMENT_LOSS_WEIGHT = -0.1
  with pytest.raises(ValueError, match=r'ALIGNMENT_MVTCN\.ALIGNMENT_LOSS'):
    algos.get_algo('alignment_mvtcn')
  CONFIG.ALIGNMENT_SAL_TCN.ALIGNMENT_LOSS_WEIGHT = 0.6
  CONFIG.ALIGNMENT_SAL_TCN.SAL_LOSS_WEIGHT = 0.5
  with pytest.raises(ValueError, match='sum to at most 1'):
    algos.get_algo('alignment_sal_tcn')


def test_fraction_sets_the_number_of_stochastic_cycles(monkeypatch):
  """num_cycles = int(B * S * FRACTION); every frame reaches the loss."""
  from algos import alignment  # pylint: disable=g-import-not-at-top
  calls = []

  def spy(embs, batch_size, **kwargs):
    calls.append((embs, batch_size, kwargs))
    return tf.constant(0.0)
  monkeypatch.setattr(alignment, 'compute_alignment_loss', spy)
  CONFIG.ALIGNMENT.STOCHASTIC_MATCHING = True
  CONFIG.ALIGNMENT.FRACTION = 0.5
  algo = algos.get_algo('alignment')
  batch = _batch('alignment')
  embs = tf.random.normal([NUM_VIDEOS, NUM_FRAMES, 8])
  algo.compute_loss(embs, batch, training=True)
  passed_embs, batch_size, kwargs = calls[-1]
  assert kwargs['num_cycles'] == int(NUM_VIDEOS * NUM_FRAMES * 0.5) == 9
  assert batch_size == NUM_VIDEOS
  np.testing.assert_array_equal(passed_embs, embs)  # no frame subsampling
  np.testing.assert_array_equal(kwargs['steps'], batch['steps'])
  CONFIG.ALIGNMENT.FRACTION = 0.01
  algo.compute_loss(embs, batch, training=True)
  assert calls[-1][2]['num_cycles'] == 1


def test_alignment_uses_tcc_with_config():
  from tcc.alignment import compute_alignment_loss  # pylint: disable=g-import-not-at-top
  CONFIG.ALIGNMENT.LOSS_TYPE = 'classification'
  CONFIG.ALIGNMENT.SOFTMAX_TEMPERATURE = 0.5
  algo = algos.get_algo('alignment')
  batch = _batch('alignment')
  embs = tf.random.normal([NUM_VIDEOS, NUM_FRAMES, 8])
  loss = algo.compute_loss(embs, batch, training=True)['loss']
  expected = compute_alignment_loss(
      embs, NUM_VIDEOS, steps=batch['steps'], seq_lens=batch['seq_lens'],
      loss_type='classification', temperature=0.5)
  np.testing.assert_allclose(float(loss), float(expected), rtol=1e-6)


def test_classification_loss_matches_reference():
  CONFIG.CLASSIFICATION.LABEL_SMOOTHING = 0.3
  algo = algos.get_algo('classification')
  batch = _batch('classification')
  embs = tf.random.normal([NUM_VIDEOS, NUM_FRAMES, 8])
  loss = float(algo.compute_loss(embs, batch, training=False)['loss'])
  logits = embs.numpy() @ algo.classifier.kernel.numpy() + (
      algo.classifier.bias.numpy())
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  targets = np.eye(NUM_CLASSES)[batch['frame_labels'].numpy()] * 0.7 + 0.1
  np.testing.assert_allclose(loss, -(targets * log_probs).sum(-1).mean(),
                             rtol=1e-5)


def _regularized_weights(algo):
  """The weights the published code regularizes, found by layer type."""
  weights = []
  for layer in algo._flatten_layers():  # pylint: disable=protected-access
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv3D,
                          keras.layers.Dense)):
      weights.append(layer.kernel)
      if layer.use_bias:
        weights.append(layer.bias)
  return weights


@pytest.mark.parametrize('name', ['alignment', 'sal'])
def test_regularization_is_mean_of_per_weight_l2_penalties(name):
  """Published: mean over regularized weights of L2_REG_WEIGHT * sum(w^2)."""
  CONFIG.MODEL.L2_REG_WEIGHT = 0.01
  CONFIG.MODEL.TRAIN_BASE = 'frozen'
  CONFIG.MODEL.CONV_EMBEDDER_MODEL.FC_BATCH_NORM = False
  CONFIG.SAL.FC_BATCH_NORM = False
  algo = algos.get_algo(name)
  algo.build_all()
  weights = _regularized_weights(algo)
  # SmallCNN convs (kernels), embedder conv, FC and embedding layers (kernels
  # and biases), and the SaL head; frozen weights count too.
  assert len(weights) == {'alignment': 2 + 6, 'sal': 2 + 6 + 4}[name]
  expected = np.mean([0.01 * np.sum(w.numpy().astype(np.float64) ** 2)
                      for w in weights])
  with tf.GradientTape() as tape:
    loss = algo.regularization_loss()
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
  # Its gradient: 2 * 0.01 * w / (number of regularized weights).
  embedding = algo.embedder.embedding_layer.kernel
  np.testing.assert_allclose(tape.gradient(loss, embedding),
                             2 * 0.01 * embedding.numpy() / len(weights),
                             rtol=1e-5, atol=1e-9)
  CONFIG.MODEL.L2_REG_WEIGHT = 0.0
  unregularized = algos.get_algo(name)
  unregularized.build_all()
  assert float(unregularized.regularization_loss()) == 0.0


def test_gradient_clipping_bounds_the_update():
  CONFIG.OPTIMIZER.GRAD_CLIP_NORM = 1e-3
  algo = algos.get_algo('alignment')
  algo.build_all()
  before = [v.numpy().copy() for v in algo.trainable_variables]
  losses = algo.train_one_iter(_batch('alignment'), keras.optimizers.SGD(1.0))
  assert float(losses['grad_norm']) > 1e-3
  update = np.sqrt(sum(np.sum((v.numpy() - b) ** 2) for v, b in
                       zip(algo.trainable_variables, before)))
  np.testing.assert_allclose(update, 1e-3, rtol=1e-3)


def _explicit_context_frames(video, steps, num_context, frame_stride):
  idx = [max(t - k * frame_stride, 0) for t in steps
         for k in range(num_context - 1, -1, -1)]
  return video[idx][None]


@pytest.mark.parametrize('embedder_type', ['conv', 'convgru'])
def test_embed_video_equals_embed_of_explicit_context_frames(embedder_type):
  CONFIG.MODEL.EMBEDDER_TYPE = embedder_type
  CONFIG.MODEL.CONVGRU_EMBEDDER_MODEL.CONV_LAYERS = [[8, 3, True]]
  CONFIG.MODEL.CONVGRU_EMBEDDER_MODEL.GRU_LAYERS = [8]
  CONFIG.DATA.NUM_STEPS = 3
  CONFIG.DATA.FRAME_STRIDE = 2
  algo = algos.get_algo('alignment')
  algo.build_all()
  # Move BatchNorm statistics away from the identity.
  algo.train_one_iter(_batch('alignment'), keras.optimizers.SGD(0.01))
  video = np.random.default_rng(1).uniform(
      -1, 1, [11, IMAGE_SIZE, IMAGE_SIZE, 3]).astype(np.float32)
  embs = algo.embed_video(video, stride=2, frames_per_batch=4)
  steps = list(range(0, 11, 2))
  assert embs.shape == (6, 8)
  expected = algo.embed(_explicit_context_frames(video, steps, 3, 2),
                        training=False)[0].numpy()
  np.testing.assert_allclose(embs, expected, rtol=1e-4, atol=1e-5)


def _save_checkpoint(algo, logdir, step_value):
  config.save_config(logdir)
  step = tf.Variable(step_value, dtype=tf.int64)
  manager = tf.train.CheckpointManager(
      algos.make_checkpoint(algo, step=step), logdir, max_to_keep=2)
  return manager.save(checkpoint_number=step_value)


def test_restore_algo_round_trip_and_mismatch(tmp_path):
  CONFIG.TRAINING_ALGO = 'sal'
  CONFIG.TRAIN.NUM_FRAMES = 5
  logdir = str(tmp_path / 'run')
  algo = algos.get_algo()
  algo.build_all()
  algo.train_one_iter(_batch('sal'), keras.optimizers.Adam(0.01))
  path = _save_checkpoint(algo, logdir, 7)
  assert path.endswith('ckpt-7') and tf.train.latest_checkpoint(logdir) == path
  frames = _batch('sal')['frames']
  expected = algo.embed(frames, training=False).numpy()
  expected_weights = {v.path: v.numpy() for v in algo.weights}

  # restore_algo reads config.yml itself and leaves the caller's CONFIG as
  # it was.
  config.reset_config()
  CONFIG.TRAINING_ALGO = 'tcn'
  CONFIG.TRAIN.NUM_FRAMES = 9
  callers = config.to_plain(CONFIG)
  restored, step, run_config = algos.restore_algo(logdir)
  assert config.to_plain(CONFIG) == callers
  assert step == 7 and isinstance(restored, algos.ALGORITHMS['sal'])
  assert (run_config.TRAINING_ALGO, run_config.TRAIN.NUM_FRAMES) == ('sal', 5)
  assert config.to_plain(run_config) == config.to_plain(
      config.read_config_from_logdir(logdir))
  with config.use_config(run_config):
    np.testing.assert_allclose(restored.embed(frames, training=False).numpy(),
                               expected, rtol=1e-5)
  # Every weight (base, embedder, SaL head, BatchNorm statistics) restored.
  restored_weights = {v.path: v.numpy() for v in restored.weights}
  assert restored_weights.keys() == expected_weights.keys()
  for var_path, value in expected_weights.items():
    np.testing.assert_array_equal(restored_weights[var_path], value,
                                  err_msg=var_path)
  # Overrides reach the returned config, not the model.
  _, step, run_config = algos.restore_algo(logdir, path, ['EVAL.BATCH_SIZE=3'])
  assert step == 7 and run_config.EVAL.BATCH_SIZE == 3
  assert config.to_plain(CONFIG) == callers

  # A checkpoint of a different model (other widths) in that logdir.
  other = str(tmp_path / 'other')
  _tiny_config(CONFIG)
  CONFIG.TRAINING_ALGO = 'sal'
  CONFIG.TRAIN.NUM_FRAMES = 5
  config.save_config(other)
  for name in os.listdir(logdir):
    if name.startswith('ckpt') or name == 'checkpoint':
      os.link(os.path.join(logdir, name), os.path.join(other, name))
  CONFIG.MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE = 5
  config.save_config(other)
  with pytest.raises(ValueError, match='ckpt-7.*does not match'):
    algos.restore_algo(other)
  config.save_config(str(tmp_path / 'empty'))
  with pytest.raises(ValueError, match='no checkpoint'):
    algos.restore_algo(str(tmp_path / 'empty'))
