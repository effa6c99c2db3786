"""Pairwise losses across replicas: 2 CPU replicas equal 1 device."""

import numpy as np
import pytest
import tensorflow as tf

import algos
from algos import cross_replica
from algos.alignment import alignment_loss
import config

@pytest.fixture(scope='module')
def replica_results(two_cpu_strategy):
  """Loss, gradient and seeds of 4 videos on 2 CPU replicas (2 each), with
  and without the cross-replica gather, and on one device."""
  rng = np.random.default_rng(0)
  num_videos, num_steps, num_features, dim = 4, 6, 5, 3
  inputs = rng.normal(size=[num_videos, num_steps, num_features]).astype(
      np.float32)
  steps = np.sort(np.stack([rng.choice(30, num_steps, replace=False)
                            for _ in range(num_videos)]), 1).astype(np.int32)
  seq_lens = np.array([30, 34, 31, 40], np.int32)
  initial = rng.normal(size=[num_features, dim]).astype(np.float32)
  strategy = two_cpu_strategy
  half = num_videos // 2

  def shard(array):
    return strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(array[
            ctx.replica_id_in_sync_group * half:
            (ctx.replica_id_in_sync_group + 1) * half]))

  def replica_fn(weights, inputs, steps, seq_lens, gather):
    with tf.GradientTape() as tape:
      embs = tf.einsum('bsf,fd->bsd', inputs, weights)
      batch = {'steps': steps, 'seq_lens': seq_lens}
      if gather:
        embs, batch = cross_replica.global_batch(embs, batch)
      seed = batch.get('loss_seed', tf.constant([1, 2]))
      loss = alignment_loss(embs, batch['steps'], batch['seq_lens'], seed)
      objective = loss / cross_replica.num_replicas()
    return loss, tape.gradient(objective, weights), seed

  results = {}
  for stochastic in (False, True):
    config.load_config((), [
        'ALIGNMENT.STOCHASTIC_MATCHING=%s' % stochastic,
        'ALIGNMENT.FRACTION=0.5'])
    with strategy.scope():
      weights = tf.Variable(initial)
    out = {}
    for gather in (True, False):
      @tf.function
      def run():
        loss, grad, seed = strategy.run(replica_fn, args=(
            weights, shard(inputs), shard(steps), shard(seq_lens), gather))
        return (strategy.experimental_local_results(loss),
                strategy.reduce('SUM', grad, axis=None),
                strategy.experimental_local_results(seed))
      losses, grad, seeds = run()
      out['gathered' if gather else 'per_replica'] = {
          'losses': [float(l) for l in losses], 'grad': grad.numpy(),
          'seeds': [s.numpy().tolist() for s in seeds]}
    # One device, the whole batch, the seed the replicas shared.
    single_weights = tf.Variable(initial)
    with tf.GradientTape() as tape:
      loss = alignment_loss(tf.einsum('bsf,fd->bsd', inputs, single_weights),
                            steps, seq_lens,
                            tf.constant(out['gathered']['seeds'][0]))
    out['single'] = {'loss': float(loss),
                     'grad': tape.gradient(loss, single_weights).numpy()}
    results['stochastic' if stochastic else 'deterministic'] = out
  config.reset_config()
  return results


@pytest.mark.parametrize('matching', ['deterministic', 'stochastic'])
def test_two_replicas_align_like_one_device(replica_results, matching):
  out = replica_results[matching]
  gathered, single = out['gathered'], out['single']
  # Both replicas drew the same seed and computed the same global loss.
  assert gathered['seeds'][0] == gathered['seeds'][1]
  np.testing.assert_allclose(gathered['losses'], [single['loss']] * 2,
                             rtol=1e-5)
  # The gradient's entries reach ~1e6 and are float32 sums taken in another
  # order on two replicas, so a small entry can differ by ~1e-7 of the
  # largest (seen: 135.72 against 135.79): absolute tolerance on that scale.
  scale = np.abs(single['grad']).max()
  np.testing.assert_allclose(gathered['grad'], single['grad'], rtol=1e-4,
                             atol=1e-6 * scale)
  # Without the gather each replica aligns only its own 2 videos: another
  # loss (this is what TRAIN.CROSS_REPLICA_ALIGNMENT=false keeps).
  assert abs(np.mean(out['per_replica']['losses']) - single['loss']) > 1e-3


def test_key_and_attribute_select_the_cross_replica_loss():
  config.load_config()
  assert algos.get_algo('alignment').cross_replica_loss
  assert algos.get_algo('alignment_sal_tcn').cross_replica_loss
  assert not algos.get_algo('sal').cross_replica_loss
  assert not algos.get_algo('tcn').cross_replica_loss
  config.load_config((), ['TRAIN.CROSS_REPLICA_ALIGNMENT=false'])
  assert not algos.get_algo('alignment').cross_replica_loss


def test_train_py_aligns_across_two_replicas(tmp_path, monkeypatch,
                                            two_cpu_strategy):
  """train.py trains under 2 CPU replicas with the cross-replica loss."""
  import test_train  # pylint: disable=g-import-not-at-top
  import train  # pylint: disable=g-import-not-at-top
  from runners import training  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(training.datasets, 'create_dataset',
                      test_train._fake_create_dataset())
  strategies = []

  def two_replicas():
    strategies.append(two_cpu_strategy)
    return two_cpu_strategy
  monkeypatch.setattr(training, 'get_strategy', two_replicas)
  result = train.train(str(tmp_path / 'run'), overrides=test_train.TINY + [
      'TRAINING_ALGO=alignment_sal_tcn', 'TRAIN.NUM_FRAMES=5',
      'TRAIN.BATCH_SIZE=4', 'ALIGNMENT.STOCHASTIC_MATCHING=true',
      'ALIGNMENT.FRACTION=0.2'], max_iters=2)
  assert [s.num_replicas_in_sync for s in strategies] == [2]
  assert result['step'] == 2 and np.isfinite(result['total_loss'])
