"""Tests of the TCC loss library against independent per-pair references.

Values are checked against a plain NumPy float64 implementation of the published TCC definitions /
5.2 written below; gradients against a per-pair TensorFlow float64
implementation (also written below) differentiated with tf.GradientTape.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tcc import alignment
from tcc import losses
from tcc import stochastic_alignment

LOSS_TYPES = ['classification', 'regression_mse', 'regression_mse_var',
              'regression_huber']
SIMILARITY_TYPES = ['l2', 'cosine']
HYPER = dict(temperature=0.1, label_smoothing=0.1, variance_lambda=0.001,
             huber_delta=0.1)


# ---------------------------------------------------------------------------
# NumPy reference (float64, per pair).
# ---------------------------------------------------------------------------
def np_similarity(a, b, similarity_type, temperature):
  if similarity_type == 'l2':
    sim = -np.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1)
  else:
    sim = a @ b.T
  return sim / a.shape[-1] / temperature


def np_softmax(x):
  x = x - x.max(axis=-1, keepdims=True)
  e = np.exp(x)
  return e / e.sum(axis=-1, keepdims=True)


def np_row_losses(logits, labels, steps, seq_len, loss_type, normalize_indices,
                  temperature, label_smoothing, variance_lambda, huber_delta):
  """Per-row losses; logits/labels [R, T], steps [T], seq_len scalar."""
  del temperature
  num_frames = logits.shape[-1]
  if loss_type == 'classification':
    targets = labels * (1 - label_smoothing) + label_smoothing / num_frames
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs = log_probs - np.log(np.exp(log_probs).sum(-1, keepdims=True))
    return -np.sum(targets * log_probs, axis=-1)
  s = steps / seq_len if normalize_indices else steps
  beta = np_softmax(logits)
  mu = beta @ s
  true = labels @ s
  err = true - mu
  if loss_type == 'regression_mse':
    return err ** 2
  if loss_type == 'regression_mse_var':
    var = np.sum(beta * (s[None, :] - mu[:, None]) ** 2, axis=-1)
    return err ** 2 / var + variance_lambda * np.log(var)
  abs_err = np.abs(err)
  return np.where(abs_err <= huber_delta, 0.5 * err ** 2,
                  huber_delta * (abs_err - 0.5 * huber_delta))


def np_pair_logits(u, v, similarity_type, temperature):
  alpha = np_softmax(np_similarity(u, v, similarity_type, temperature))
  return np_similarity(alpha @ v, u, similarity_type, temperature)


def np_tcc_loss(embs, steps, seq_lens, loss_type, similarity_type,
                normalize_indices, normalize_embeddings=False, **hyper):
  embs = embs.astype(np.float64)
  if normalize_embeddings:
    embs = embs / np.linalg.norm(embs, axis=-1, keepdims=True)
  n, t, _ = embs.shape
  rows = []
  for i in range(n):
    for j in range(n):
      if i == j:
        continue
      logits = np_pair_logits(embs[i], embs[j], similarity_type,
                              hyper['temperature'])
      rows.append(np_row_losses(logits, np.eye(t), steps[i].astype(np.float64),
                                float(seq_lens[i]), loss_type,
                                normalize_indices, **hyper))
  return np.mean(np.concatenate(rows))


def np_cycle_loss(embs, steps, seq_lens, cycle, frame, loss_type,
                  similarity_type, normalize_indices, **hyper):
  """Loss of one stochastic cycle (list of videos) started at `frame`."""
  embs = embs.astype(np.float64)
  temperature = hyper['temperature']
  query = embs[cycle[0], frame][None, :]
  for video in cycle[1:]:
    beta = np_softmax(np_similarity(query, embs[video], similarity_type,
                                    temperature))
    query = beta @ embs[video]
  logits = np_similarity(query, embs[cycle[0]], similarity_type, temperature)
  labels = np.eye(embs.shape[1])[frame][None, :]
  return np_row_losses(logits, labels, steps[cycle[0]].astype(np.float64),
                       float(seq_lens[cycle[0]]), loss_type,
                       normalize_indices, **hyper)[0]


# ---------------------------------------------------------------------------
# Per-pair TensorFlow float64 reference, for gradients.
# ---------------------------------------------------------------------------
def tf_reference_loss(embs, steps, seq_lens, loss_type, similarity_type,
                      normalize_indices, temperature, label_smoothing,
                      variance_lambda, huber_delta):
  """Per-pair loop in float64; embs [N, T, D] float64 tensor."""
  n, t, d = embs.shape

  def sim(a, b):
    if similarity_type == 'l2':
      out = -tf.reduce_sum(tf.square(a[:, None, :] - b[None, :, :]), axis=-1)
    else:
      out = tf.matmul(a, b, transpose_b=True)
    return out / d / temperature

  row_losses = []
  for i, j in itertools.permutations(range(n), 2):
    u, v = embs[i], embs[j]
    logits = sim(tf.nn.softmax(sim(u, v)) @ v, u)
    labels = tf.eye(t, dtype=tf.float64)
    if loss_type == 'classification':
      targets = labels * (1 - label_smoothing) + label_smoothing / t
      row_losses.append(tf.nn.softmax_cross_entropy_with_logits(targets,
                                                                logits))
      continue
    s = tf.constant(steps[i], tf.float64)
    if normalize_indices:
      s = s / float(seq_lens[i])
    beta = tf.nn.softmax(logits)
    mu = tf.linalg.matvec(beta, s)
    err = tf.linalg.matvec(labels, s) - mu
    if loss_type == 'regression_mse':
      row_losses.append(tf.square(err))
    elif loss_type == 'regression_mse_var':
      var = tf.reduce_sum(beta * tf.square(s[None, :] - mu[:, None]), -1)
      row_losses.append(tf.square(err) / var
                        + variance_lambda * tf.math.log(var))
    else:
      abs_err = tf.abs(err)
      row_losses.append(tf.where(abs_err <= huber_delta, 0.5 * tf.square(err),
                                 huber_delta * (abs_err - 0.5 * huber_delta)))
  return tf.reduce_mean(tf.concat(row_losses, axis=0))


def random_inputs(seed, n=3, t=5, d=4, custom_steps=False):
  rng = np.random.default_rng(seed)
  embs = (0.5 * rng.normal(size=(n, t, d))).astype(np.float32)
  if custom_steps:
    seq_lens = rng.integers(t, 3 * t, size=n).astype(np.int32)
    steps = np.stack([np.sort(rng.choice(length, t, replace=False))
                      for length in seq_lens]).astype(np.int32)
  else:
    seq_lens = np.full([n], t, np.int32)
    steps = np.tile(np.arange(t, dtype=np.int32), [n, 1])
  return embs, steps, seq_lens


# ---------------------------------------------------------------------------
# Deterministic version.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('custom_steps', [False, True])
@pytest.mark.parametrize('normalize_indices', [True, False])
@pytest.mark.parametrize('similarity_type', SIMILARITY_TYPES)
@pytest.mark.parametrize('loss_type', LOSS_TYPES)
def test_deterministic_matches_per_pair_definition(
    loss_type, similarity_type, normalize_indices, custom_steps):
  embs, steps, seq_lens = random_inputs(
      seed=LOSS_TYPES.index(loss_type) + 10 * int(normalize_indices),
      custom_steps=custom_steps)
  passed = dict(steps=steps, seq_lens=seq_lens) if custom_steps else {}
  embs_var = tf.Variable(embs)
  with tf.GradientTape() as tape:
    loss = alignment.compute_alignment_loss(
        embs_var, batch_size=3, loss_type=loss_type,
        similarity_type=similarity_type,
        normalize_indices=normalize_indices, **passed, **HYPER)
  grad = tape.gradient(loss, embs_var)
  assert loss.dtype == tf.float32 and loss.shape == ()

  expected = np_tcc_loss(embs, steps, seq_lens, loss_type, similarity_type,
                         normalize_indices, **HYPER)
  np.testing.assert_allclose(loss.numpy(), expected, rtol=2e-5, atol=1e-7)

  embs64 = tf.Variable(embs.astype(np.float64))
  with tf.GradientTape() as tape:
    ref_loss = tf_reference_loss(embs64, steps, seq_lens, loss_type,
                                 similarity_type, normalize_indices, **HYPER)
  ref_grad = tape.gradient(ref_loss, embs64).numpy()
  np.testing.assert_allclose(ref_loss.numpy(), expected, rtol=1e-10)
  np.testing.assert_allclose(grad.numpy(), ref_grad, rtol=1e-3,
                             atol=1e-4 * np.abs(ref_grad).max())


@pytest.mark.parametrize('similarity_type', SIMILARITY_TYPES)
def test_normalize_embeddings(similarity_type):
  embs, steps, seq_lens = random_inputs(seed=3, n=4, t=6, d=5)
  loss = alignment.compute_alignment_loss(
      embs * 7.0, batch_size=4, normalize_embeddings=True,
      similarity_type=similarity_type, loss_type='classification', **HYPER)
  expected = np_tcc_loss(embs, steps, seq_lens, 'classification',
                         similarity_type, True, normalize_embeddings=True,
                         **HYPER)
  np.testing.assert_allclose(loss.numpy(), expected, rtol=2e-5)


@pytest.mark.parametrize('similarity_type', SIMILARITY_TYPES)
def test_align_pair_of_sequences_is_the_exact_definition(similarity_type):
  rng = np.random.default_rng(1)
  u = rng.normal(size=(5, 3)).astype(np.float32)
  v = rng.normal(size=(7, 3)).astype(np.float32)
  logits, labels = alignment.align_pair_of_sequences(u, v, similarity_type,
                                                     0.5)
  np.testing.assert_allclose(
      logits.numpy(), np_pair_logits(u.astype(np.float64),
                                     v.astype(np.float64), similarity_type,
                                     0.5), rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(labels.numpy(), np.eye(5))


def test_default_steps_equal_explicit_range():
  embs, steps, seq_lens = random_inputs(seed=4)
  default = alignment.compute_alignment_loss(embs, 3)
  explicit = alignment.compute_alignment_loss(embs, 3, steps=steps,
                                              seq_lens=seq_lens)
  np.testing.assert_allclose(default.numpy(), explicit.numpy(), rtol=1e-6)


def test_larger_batch_and_temperature():
  embs, steps, seq_lens = random_inputs(seed=5, n=5, t=8, d=16,
                                        custom_steps=True)
  hyper = dict(HYPER, temperature=0.05, variance_lambda=0.01)
  loss = alignment.compute_alignment_loss(embs, 5, steps=steps,
                                          seq_lens=seq_lens, **hyper)
  expected = np_tcc_loss(embs, steps, seq_lens, 'regression_mse_var', 'l2',
                         True, **hyper)
  np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-4)


# ---------------------------------------------------------------------------
# Stochastic version.
# ---------------------------------------------------------------------------
def test_gen_cycles_visit_distinct_videos():
  tf.random.set_seed(0)
  cycles = alignment.gen_cycles(200, 5, 3).numpy()
  assert cycles.shape == (200, 3) and cycles.dtype == np.int32
  assert cycles.min() >= 0 and cycles.max() < 5
  assert all(len(set(row)) == 3 for row in cycles)
  # Every video appears as a cycle start (draws are not stuck).
  assert set(cycles[:, 0]) == set(range(5))


def test_seeded_cycles_are_stateless_and_valid():
  seed = tf.constant([3, 4])
  cycles = alignment.gen_cycles(200, 5, 3, seed).numpy()
  np.testing.assert_array_equal(cycles,
                                alignment.gen_cycles(200, 5, 3, seed).numpy())
  assert all(len(set(row)) == 3 for row in cycles)
  assert set(cycles[:, 0]) == set(range(5))
  assert not np.array_equal(
      cycles, alignment.gen_cycles(200, 5, 3, tf.constant([3, 5])).numpy())
  # A batch size known only at run time keeps the cycle length static.
  traced_shapes = []

  @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
  def dynamic(num_videos):
    cycles = alignment.gen_cycles(7, num_videos, 3, seed)
    traced_shapes.append(cycles.shape.as_list())
    return cycles

  assert dynamic(tf.constant(5)).shape == (7, 3)
  assert traced_shapes == [[7, 3]]


def test_seeded_stochastic_loss_repeats_with_its_seed():
  embs, steps, seq_lens = random_inputs(seed=15, n=4, t=6, custom_steps=True)
  def loss(seed):
    return float(alignment.compute_alignment_loss(
        embs, 4, steps=steps, seq_lens=seq_lens, stochastic_matching=True,
        num_cycles=5, cycle_length=3, seed=tf.constant(seed)))
  assert loss([1, 2]) == loss([1, 2])
  assert loss([1, 2]) != loss([7, 8])


def test_cycle_labels_are_one_hot_start_frames():
  embs, _, _ = random_inputs(seed=6, n=4, t=6)
  frames = tf.constant([0, 5, 2], tf.int32)
  logits, labels = stochastic_alignment.cycle_logits(
      tf.constant(embs), tf.constant([[0, 1], [2, 3], [3, 0]], tf.int32),
      frames, 'l2', 0.1)
  assert logits.shape == (3, 6)
  np.testing.assert_array_equal(labels.numpy(), np.eye(6)[[0, 5, 2]])


@pytest.mark.parametrize('similarity_type', SIMILARITY_TYPES)
@pytest.mark.parametrize('loss_type', LOSS_TYPES)
def test_stochastic_equals_per_pair_formula_for_given_cycles(
    loss_type, similarity_type):
  embs, steps, seq_lens = random_inputs(seed=7, n=4, t=6, custom_steps=True)
  cycles = [[1, 3], [2, 0], [0, 3, 1]]
  frames = [4, 0, 2]
  hyper = dict(HYPER)
  loss = [stochastic_alignment.stochastic_alignment_loss_from_cycles(
      tf.constant(embs), tf.constant(steps, tf.float32),
      tf.constant(seq_lens, tf.float32), tf.constant([cycle], tf.int32),
      tf.constant([frame], tf.int32), loss_type, similarity_type,
      normalize_indices=True, **hyper).numpy()
          for cycle, frame in zip(cycles, frames)]
  expected = [np_cycle_loss(embs, steps, seq_lens, cycle, frame, loss_type,
                            similarity_type, True, **hyper)
              for cycle, frame in zip(cycles, frames)]
  np.testing.assert_allclose(loss, expected, rtol=2e-5, atol=1e-7)
  # A two-video cycle from frame n is row n of the deterministic pair (i, j).
  pair_logits = np_pair_logits(embs[1].astype(np.float64),
                               embs[3].astype(np.float64), similarity_type,
                               hyper['temperature'])
  row_loss = np_row_losses(pair_logits, np.eye(6), steps[1].astype(float),
                           float(seq_lens[1]), loss_type, True, **hyper)[4]
  np.testing.assert_allclose(loss[0], row_loss, rtol=2e-5, atol=1e-7)


def test_stochastic_loss_finite_and_reproducible():
  embs, steps, seq_lens = random_inputs(seed=8, n=4, t=6, custom_steps=True)

  def run():
    return alignment.compute_alignment_loss(
        embs, 4, steps=steps, seq_lens=seq_lens, stochastic_matching=True,
        num_cycles=16, cycle_length=3).numpy()

  tf.random.set_seed(123)
  first = run()
  tf.random.set_seed(123)
  second = run()
  third = run()
  assert np.isfinite(first)
  assert first == second
  assert first != third

  graph_fn = tf.function(lambda e: alignment.compute_alignment_loss(
      e, 4, stochastic_matching=True, num_cycles=16, cycle_length=3))
  tf.random.set_seed(7)
  graph_first = graph_fn(embs).numpy()
  tf.random.set_seed(7)
  graph_fn = tf.function(graph_fn.python_function)
  assert graph_fn(embs).numpy() == graph_first


def test_stochastic_gradient_matches_finite_difference():
  embs, _, _ = random_inputs(seed=9, n=3, t=4, d=3)
  cycles = tf.constant([[0, 1], [1, 2], [2, 0]], tf.int32)
  frames = tf.constant([1, 3, 0], tf.int32)
  steps = tf.tile(tf.range(4.0)[None], [3, 1])
  seq_lens = tf.fill([3], 4.0)

  def loss_fn(e):
    return stochastic_alignment.stochastic_alignment_loss_from_cycles(
        e, steps, seq_lens, cycles, frames, 'regression_mse_var', 'l2',
        normalize_indices=True, **HYPER)

  embs_var = tf.Variable(embs)
  with tf.GradientTape() as tape:
    loss = loss_fn(embs_var)
  grad = tape.gradient(loss, embs_var).numpy()

  def np_loss(e):
    return np.mean([np_cycle_loss(e, steps.numpy(), seq_lens.numpy(), c, f,
                                  'regression_mse_var', 'l2', True, **HYPER)
                    for c, f in zip(cycles.numpy(), frames.numpy())])

  e64 = embs.astype(np.float64)
  numeric = np.zeros_like(e64)
  for index in np.ndindex(*e64.shape):
    step = np.zeros_like(e64)
    step[index] = 1e-6
    numeric[index] = (np_loss(e64 + step) - np_loss(e64 - step)) / 2e-6
  np.testing.assert_allclose(grad, numeric, rtol=1e-3,
                             atol=1e-4 * np.abs(numeric).max())


# ---------------------------------------------------------------------------
# Execution modes and dtypes.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('stochastic', [False, True])
def test_tf_function_and_jit_compile_match_eager(stochastic):
  embs, steps, seq_lens = random_inputs(seed=10, n=4, t=6, custom_steps=True)
  cycles = tf.constant([[0, 1, 2], [3, 1, 0]], tf.int32)
  frames = tf.constant([5, 1], tf.int32)

  def loss_and_grad(e):
    with tf.GradientTape() as tape:
      tape.watch(e)
      if stochastic:
        # Fixed cycles: random draws differ between eager and graph op seeds.
        loss = stochastic_alignment.stochastic_alignment_loss_from_cycles(
            e, tf.cast(steps, tf.float32), tf.cast(seq_lens, tf.float32),
            cycles, frames, 'regression_mse_var', 'l2',
            normalize_indices=True, **HYPER)
      else:
        loss = alignment.compute_alignment_loss(e, 4, steps=steps,
                                                seq_lens=seq_lens)
    return loss, tape.gradient(loss, e)

  embs_t = tf.constant(embs)
  results = [[x.numpy() for x in fn(embs_t)] for fn in (
      loss_and_grad, tf.function(loss_and_grad),
      tf.function(loss_and_grad, jit_compile=True))]
  for loss, grad in results[1:]:
    np.testing.assert_allclose(loss, results[0][0], rtol=1e-5)
    np.testing.assert_allclose(grad, results[0][1], rtol=1e-4, atol=1e-6)
  if stochastic:
    expected = np.mean([np_cycle_loss(embs, steps, seq_lens, c, f,
                                      'regression_mse_var', 'l2', True,
                                      **HYPER)
                        for c, f in zip(cycles.numpy(), frames.numpy())])
  else:
    expected = np_tcc_loss(embs, steps, seq_lens, 'regression_mse_var', 'l2',
                           True, **HYPER)
  np.testing.assert_allclose(results[2][0], expected, rtol=2e-5)


def test_stochastic_random_draws_under_jit_compile():
  embs, _, _ = random_inputs(seed=14, n=4, t=6)
  fn = tf.function(lambda e: alignment.compute_alignment_loss(
      e, 4, stochastic_matching=True, num_cycles=8, cycle_length=4),
                   jit_compile=True)
  tf.random.set_seed(3)
  first = fn(embs).numpy()
  second = fn(embs).numpy()
  assert np.isfinite(first) and np.isfinite(second) and first != second


def test_dynamic_shapes_in_tf_function():
  fn = tf.function(
      lambda e: alignment.compute_alignment_loss(e, 3),
      input_signature=[tf.TensorSpec([None, None, 4], tf.float32)])
  for t in (5, 7):
    embs, steps, seq_lens = random_inputs(seed=t, n=3, t=t)
    expected = np_tcc_loss(embs, steps, seq_lens, 'regression_mse_var', 'l2',
                           True, **HYPER)
    np.testing.assert_allclose(fn(embs).numpy(), expected, rtol=2e-5)


@pytest.mark.parametrize('stochastic', [False, True])
def test_under_distribution_strategy(stochastic):
  embs, steps, seq_lens = random_inputs(seed=12, n=4, t=6)
  strategy = tf.distribute.MirroredStrategy(['/cpu:0'])
  with strategy.scope():
    embs_var = tf.Variable(embs)

  @tf.function
  def step():
    def replica_fn():
      with tf.GradientTape() as tape:
        loss = alignment.compute_alignment_loss(
            embs_var, 4, stochastic_matching=stochastic, cycle_length=3)
      return loss, tape.gradient(loss, embs_var)
    return strategy.run(replica_fn)

  loss, grad = step()
  assert np.isfinite(loss.numpy()) and np.all(np.isfinite(grad.numpy()))
  if not stochastic:
    expected = np_tcc_loss(embs, steps, seq_lens, 'regression_mse_var', 'l2',
                           True, **HYPER)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=2e-5)
  default_loss = tf.distribute.get_strategy().run(
      lambda: alignment.compute_alignment_loss(embs, 4))
  assert np.isfinite(default_loss.numpy())


@pytest.mark.parametrize('dtype', [tf.float16, tf.bfloat16])
@pytest.mark.parametrize('stochastic', [False, True])
def test_half_precision_inputs(dtype, stochastic):
  embs, steps, seq_lens = random_inputs(seed=13, n=3, t=5)
  low = tf.Variable(tf.cast(embs, dtype))
  with tf.GradientTape() as tape:
    tf.random.set_seed(5)
    loss = alignment.compute_alignment_loss(low, 3,
                                            stochastic_matching=stochastic,
                                            loss_type='classification')
  grad = tape.gradient(loss, low)
  assert loss.dtype == tf.float32
  assert grad.dtype == dtype
  assert np.all(np.isfinite(tf.cast(grad, tf.float32).numpy()))
  tf.random.set_seed(5)
  full = alignment.compute_alignment_loss(
      tf.cast(low, tf.float32), 3, stochastic_matching=stochastic,
      loss_type='classification')
  np.testing.assert_allclose(loss.numpy(), full.numpy(), rtol=1e-6)
  if not stochastic:
    expected = np_tcc_loss(embs, steps, seq_lens, 'classification', 'l2',
                           True, **HYPER)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=0.05)


# ---------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------
GOOD = np.zeros([3, 5, 4], np.float32)


@pytest.mark.parametrize('kwargs, message', [
    (dict(embs=np.zeros([3, 5], np.float32)), 'shape'),
    (dict(embs=np.zeros([3, 5, 4, 1], np.float32)), 'shape'),
    (dict(batch_size=4), 'batch_size'),
    (dict(embs=np.zeros([3, 1, 4], np.float32)), 'frames'),
    (dict(embs=np.zeros([1, 5, 4], np.float32), batch_size=1), 'videos'),
    (dict(loss_type='mse'), 'loss_type'),
    (dict(similarity_type='dot'), 'similarity_type'),
    (dict(stochastic_matching=True, cycle_length=4), 'cycle_length'),
    (dict(stochastic_matching=True, cycle_length=1), 'cycle_length'),
    (dict(stochastic_matching=True, num_cycles=0), 'num_cycles'),
    (dict(steps=np.zeros([3, 4])), 'steps'),
    (dict(steps=np.zeros([15])), 'steps'),
    (dict(seq_lens=np.zeros([2])), 'seq_lens'),
])
def test_bad_input_raises_value_error(kwargs, message):
  args = dict(embs=GOOD, batch_size=3)
  args.update(kwargs)
  with pytest.raises(ValueError, match=message):
    alignment.compute_alignment_loss(**args)


def test_unknown_regression_loss_in_losses_module():
  with pytest.raises(ValueError, match='loss_type'):
    losses.regression_loss(tf.zeros([2, 3]), tf.zeros([2, 3]),
                           tf.zeros([2, 3]), tf.ones([2]), 'regression_l1',
                           True, 0.001, 0.1)
