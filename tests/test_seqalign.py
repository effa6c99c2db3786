"""Tests of seqalign/ against independent NumPy implementations (float64).

Each loss is written again below as a plain NumPy function of its published
formula (double loops for the DTW recursions); values are compared on random
inputs and gradients against central finite differences of the NumPy
functions.
"""

import numpy as np
import pytest
import tensorflow as tf

from seqalign import gta
from seqalign import lav
from seqalign import scl
from seqalign import smoothed_dtw
from seqalign import soft_dtw


# ---------------------------------------------------------------------------
# NumPy references.
# ---------------------------------------------------------------------------
def np_dtw_table(cost, gamma, rule):
  """Double-loop recursion; returns R [N+1, M+1] with R[0, 0] = 0."""
  n, m = cost.shape
  table = np.full((n + 1, m + 1), np.inf)
  table[0, 0] = 0.0
  for i in range(1, n + 1):
    for j in range(1, m + 1):
      neighbours = np.array([table[i - 1, j], table[i, j - 1],
                             table[i - 1, j - 1]])
      z = -neighbours / gamma
      top = z.max()
      if rule == 'softmin':
        combined = -gamma * (top + np.log(np.exp(z - top).sum()))
      else:
        weights = np.exp(z - top) / np.exp(z - top).sum()
        finite = np.isfinite(neighbours)
        combined = np.sum(weights[finite] * neighbours[finite])
      table[i, j] = cost[i - 1, j - 1] + combined
  return table


def np_soft_dtw(cost, gamma):
  return np_dtw_table(cost, gamma, 'softmin')[-1, -1]


def np_sqdist(x, y):
  return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def np_idm(embs, steps, seq_len, window, margin):
  dist = np_sqdist(embs, embs)
  total = 0.0
  for i in range(len(embs)):
    for j in range(len(embs)):
      if abs(steps[i] - steps[j]) > window:
        weight = 1.0 + ((steps[i] - steps[j]) / seq_len) ** 2
        total += weight * max(0.0, margin - dist[i, j])
      else:
        total += dist[i, j]
  return total


def np_lav(a, b, steps_a, steps_b, len_a, len_b, gamma, alpha, window, margin):
  values = []
  for k in range(len(a)):
    value = np_soft_dtw(np_sqdist(a[k], b[k]), gamma) + alpha * (
        np_idm(a[k], steps_a[k], len_a[k], window, margin) +
        np_idm(b[k], steps_b[k], len_b[k], window, margin))
    values.append(value / a.shape[1])
  return np.mean(values)


def np_log_softmax(x, axis):
  x = x - x.max(axis=axis, keepdims=True)
  return x - np.log(np.exp(x).sum(axis=axis, keepdims=True))


def np_scl_target(steps_q, steps_k, len_q, len_k, variance):
  target = np.zeros((len(steps_q), len(steps_k)))
  for i, s in enumerate(steps_q):
    for j, t in enumerate(steps_k):
      target[i, j] = np.exp(-(s * len_k / len_q - t) ** 2 / (2 * variance))
  return target / target.sum(axis=1, keepdims=True)


def np_scl(e1, e2, s1, s2, l1, l2, tau, variance):
  rows = []
  for b in range(len(e1)):
    z1 = e1[b] / np.linalg.norm(e1[b], axis=1, keepdims=True)
    z2 = e2[b] / np.linalg.norm(e2[b], axis=1, keepdims=True)
    for zq, zk, sq, sk, lq, lk in ((z1, z2, s1[b], s2[b], l1[b], l2[b]),
                                   (z2, z1, s2[b], s1[b], l2[b], l1[b])):
      target = np_scl_target(sq, sk, lq, lk, variance)
      log_q = np_log_softmax(zq @ zk.T / tau, axis=1)
      for i in range(len(zq)):
        p = target[i]
        rows.append(np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)),
                                    0) - p * log_q[i]))
  return np.mean(rows)


def np_gta(x, y, gamma, gamma_f, eps, weight):
  """Returns (loss, cycle [B, N, N])."""
  losses, cycles = [], []
  for b in range(len(x)):
    tables = []
    for p, q in ((x[b], y[b]), (y[b], x[b])):
      cost = -np_log_softmax(p @ q.T / gamma_f, axis=0)
      tables.append(np_dtw_table(cost, gamma, 'weighted')[1:, 1:])
    align = [np.exp(-t - (-t).max(0)) / np.exp(-t - (-t).max(0)).sum(0)
             for t in tables]
    cycle = (align[0] @ align[1]).T
    cycles.append(cycle)
    n = len(cycle)
    targets = np.eye(n) * (1 - eps) + eps / n
    ce = np.mean(-np.sum(targets * np_log_softmax(cycle, axis=1), axis=1))
    losses.append((ce, tables[0][-1, -1], tables[1][-1, -1]))
  losses = np.array(losses)
  return (losses[:, 0].mean() + weight * (losses[:, 1].mean() +
                                           losses[:, 2].mean()),
          np.stack(cycles))


def numeric_grad(fn, x, h=1e-6):
  grad = np.zeros_like(x)
  for index in np.ndindex(x.shape):
    plus, minus = x.copy(), x.copy()
    plus[index] += h
    minus[index] -= h
    grad[index] = (fn(plus) - fn(minus)) / (2 * h)
  return grad


def tf_grad(fn, x):
  x = tf.constant(x)
  with tf.GradientTape() as tape:
    tape.watch(x)
    value = fn(x)
  return value.numpy(), tape.gradient(value, x).numpy()


def unit_rows(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


# TensorFlow's float64 exp on CPU is accurate to ~1e-11 relative, which the
# recursion accumulates to ~1e-9.
RTOL = 1e-7


# ---------------------------------------------------------------------------
# soft-DTW and smoothed DTW.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('shape', [(3, 5, 7), (2, 6, 6), (2, 1, 4), (1, 7, 2)])
@pytest.mark.parametrize('gamma', [0.1, 1.0])
def test_soft_dtw_value_and_gradient(shape, gamma):
  costs = np.random.RandomState(0).rand(*shape)
  value, grad = tf_grad(lambda c: tf.reduce_sum(soft_dtw(c, gamma)), costs)
  expected = [np_soft_dtw(c, gamma) for c in costs]
  np.testing.assert_allclose(soft_dtw(costs, gamma).numpy(), expected,
                             rtol=RTOL)
  np.testing.assert_allclose(value, np.sum(expected), rtol=RTOL)
  fd = numeric_grad(lambda c: sum(np_soft_dtw(m, gamma) for m in c), costs)
  np.testing.assert_allclose(grad, fd, atol=1e-6)
  # The gradient is an expected alignment: entries in [0, 1], both corners 1.
  assert np.all(grad > -1e-9) and np.all(grad < 1 + 1e-9)
  np.testing.assert_allclose(grad[:, 0, 0], 1.0, atol=1e-9)
  np.testing.assert_allclose(grad[:, -1, -1], 1.0, atol=1e-9)


def test_soft_dtw_single_matrix_float32_and_hard_limit():
  rng = np.random.RandomState(1)
  cost = rng.rand(6, 4).astype(np.float32)
  value = soft_dtw(cost, 0.5)
  assert value.shape == () and value.dtype == tf.float32
  np.testing.assert_allclose(value.numpy(), np_soft_dtw(cost.astype(np.float64),
                                                        0.5), rtol=1e-5)
  # gamma -> 0 gives the classic DTW (min over monotonic paths).
  hard = np_dtw_table(cost.astype(np.float64), 1e-9, 'softmin')[-1, -1]
  np.testing.assert_allclose(soft_dtw(cost, 1e-4).numpy(), hard, atol=1e-3)


def test_soft_dtw_rejects_bad_rank():
  with pytest.raises(ValueError, match=r'\[B, N, M\]'):
    soft_dtw(np.zeros((2, 2, 2, 2)), 0.1)


@pytest.mark.parametrize('shape', [(2, 5, 6), (1, 4, 4), (2, 1, 3)])
def test_smoothed_dtw_value_and_gradient(shape):
  costs = np.random.RandomState(2).rand(*shape)
  gamma = 0.3
  value, grad = tf_grad(lambda c: tf.reduce_sum(smoothed_dtw(c, gamma)), costs)
  expected = [np_dtw_table(c, gamma, 'weighted')[-1, -1] for c in costs]
  np.testing.assert_allclose(smoothed_dtw(costs, gamma).numpy(), expected,
                             rtol=RTOL)
  fd = numeric_grad(lambda c: sum(np_dtw_table(m, gamma, 'weighted')[-1, -1]
                                  for m in c), costs)
  np.testing.assert_allclose(grad, fd, atol=1e-6)


# ---------------------------------------------------------------------------
# LAV.
# ---------------------------------------------------------------------------
def test_idm_regularizer_value_and_gradient():
  rng = np.random.RandomState(3)
  embs = rng.randn(2, 7, 3) * 0.6
  steps = np.array([[0, 2, 5, 11, 12, 20, 31], [1, 3, 4, 9, 15, 16, 17]])
  seq_lens = np.array([40, 18])
  window, margin = 3, 2.0
  value, grad = tf_grad(lambda e: tf.reduce_sum(lav.idm_regularizer(
      e, steps, seq_lens, window, margin)), embs)
  expected = [np_idm(embs[b], steps[b], seq_lens[b], window, margin)
              for b in range(2)]
  np.testing.assert_allclose(lav.idm_regularizer(
      embs, steps, seq_lens, window, margin).numpy(), expected, rtol=1e-10)
  fd = numeric_grad(lambda e: sum(np_idm(e[b], steps[b], seq_lens[b], window,
                                         margin) for b in range(2)), embs)
  np.testing.assert_allclose(grad, fd, atol=1e-5)
  # Both branches are exercised: some pairs inside the margin, some beyond.
  dist = np_sqdist(embs[0], embs[0])
  assert (dist < margin).any() and (dist > margin).any()


def test_lav_loss_value_and_gradient():
  rng = np.random.RandomState(4)
  a, b = unit_rows(rng.randn(2, 5, 4)), unit_rows(rng.randn(2, 5, 4))
  steps_a = np.sort(rng.choice(30, (2, 5), replace=False), axis=1)
  steps_b = np.sort(rng.choice(30, (2, 5), replace=False), axis=1)
  len_a, len_b = np.array([30, 32]), np.array([31, 30])
  args = dict(gamma=0.1, alpha=0.5, window=10, margin=2.0)
  value, grad = tf_grad(lambda x: lav.lav_loss(
      x, b, steps_a, steps_b, len_a, len_b, **args), a)
  np.testing.assert_allclose(value, np_lav(a, b, steps_a, steps_b, len_a,
                                           len_b, **args), rtol=1e-10)
  fd = numeric_grad(lambda x: np_lav(x, b, steps_a, steps_b, len_a, len_b,
                                     **args), a)
  np.testing.assert_allclose(grad, fd, atol=1e-5)


# ---------------------------------------------------------------------------
# SCL.
# ---------------------------------------------------------------------------
def test_scl_targets():
  steps1 = np.array([[0, 4, 9, 15], [2, 3, 8, 12]])
  steps2 = np.array([[1, 5, 6, 13, 20], [0, 7, 9, 10, 11]])
  lens1, lens2 = np.array([30, 20]), np.array([30, 25])
  targets = scl.scl_targets(steps1, steps2, lens1, lens2, 10.0).numpy()
  for b in range(2):
    np.testing.assert_allclose(targets[b], np_scl_target(
        steps1[b], steps2[b], lens1[b], lens2[b], 10.0), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(targets.sum(-1), 1.0, rtol=1e-6)


def test_scl_loss_value_and_gradient():
  rng = np.random.RandomState(5)
  e1, e2 = rng.randn(2, 5, 4), rng.randn(2, 6, 4)
  s1 = np.sort(rng.choice(40, (2, 5), replace=False), axis=1)
  s2 = np.sort(rng.choice(40, (2, 6), replace=False), axis=1)
  l1, l2 = np.array([40, 44]), np.array([40, 44])
  value, grad = tf_grad(lambda x: scl.scl_loss(x, e2, s1, s2, l1, l2, 0.1,
                                               10.0), e1.astype(np.float32))
  np.testing.assert_allclose(value, np_scl(e1, e2, s1, s2, l1, l2, 0.1, 10.0),
                             rtol=1e-4)
  fd = numeric_grad(lambda x: np_scl(x, e2, s1, s2, l1, l2, 0.1, 10.0), e1)
  np.testing.assert_allclose(grad, fd, rtol=2e-3, atol=2e-4)


def test_scl_loss_is_zero_for_matching_embeddings_only_in_the_limit():
  # Embeddings that reproduce the target exactly give KL 0: logits equal to
  # log-target (up to a row constant) need tau -> 0 on unit vectors; instead
  # check the loss is lower for time-consistent than for shuffled views.
  steps = np.arange(0, 40, 2)[None]
  angles = steps[..., None] / 40.0 * np.pi
  embs = np.concatenate([np.cos(angles), np.sin(angles)], -1)
  good = scl.scl_loss(embs, embs, steps, steps, [40], [40]).numpy()
  shuffled = embs[:, np.random.RandomState(0).permutation(20)]
  bad = scl.scl_loss(embs, shuffled, steps, steps, [40], [40]).numpy()
  assert good < bad


# ---------------------------------------------------------------------------
# GTA.
# ---------------------------------------------------------------------------
def test_gta_cycle_and_loss_value_and_gradient():
  rng = np.random.RandomState(6)
  x, y = unit_rows(rng.randn(2, 5, 3)), unit_rows(rng.randn(2, 4, 3))
  args = dict(gamma=0.1, cost_temperature=0.1, label_smoothing=0.1,
              alignment_weight=0.1)
  expected_loss, expected_cycle = np_gta(x, y, 0.1, 0.1, 0.1, 0.1)
  cycle, _, _ = gta.cycle_matrix(x, y, 0.1, 0.1)
  np.testing.assert_allclose(cycle.numpy(), expected_cycle, rtol=1e-9,
                             atol=1e-12)
  np.testing.assert_allclose(cycle.numpy().sum(-1), 1.0, rtol=1e-9)
  value, grad = tf_grad(lambda e: gta.gta_loss(e, y, **args)[0], x)
  np.testing.assert_allclose(value, expected_loss, rtol=1e-9)
  fd = numeric_grad(lambda e: np_gta(e, y, 0.1, 0.1, 0.1, 0.1)[0], x)
  np.testing.assert_allclose(grad, fd, atol=1e-5)


def test_gta_cost_softmax_runs_over_the_first_sequence():
  rng = np.random.RandomState(7)
  x, y = rng.randn(1, 4, 3), rng.randn(1, 6, 3)
  costs = gta.gta_costs(x, y, 0.1).numpy()
  np.testing.assert_allclose(np.exp(-costs).sum(axis=1), 1.0, rtol=1e-9)
