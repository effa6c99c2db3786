"""Losses over the global batch under a tf.distribute strategy.

An algorithm whose loss compares the videos of a batch with each other (TCC
aligns every pair) sets the class attribute `pairwise_loss = True`. Under a
strategy with several replicas, and with TRAIN.CROSS_REPLICA_ALIGNMENT, its
`compute_loss` then sees the embeddings and labels of every replica's videos
(`global_batch`), so pairs are formed across the whole global batch exactly
as on one device.

Gradients: `ReplicaContext.all_gather` is differentiable; its gradient sums
the upstream gradients of all replicas and hands each replica the slice of
its own videos. Every replica computes the same global loss L and
`Algorithm.train_one_iter` divides it by the number of replicas R, so the
gradients reaching replica r's embeddings are R * (1 / R) * dL/d(embs_r),
and the optimizer's sum over replicas is the single-device gradient dL/dθ.

Random draws of the loss (stochastic TCC cycles, ALIGNMENT.FRACTION) must be
the same on every replica for that to hold: `global_batch` adds a stateless
seed 'loss_seed' (int32 [2]) drawn on replica 0 and shared with all.
"""

import tensorflow as tf

# The largest int32: bound of the seeds drawn for stateless random ops.
_MAX_SEED = 2 ** 31 - 1


def num_replicas():
  """Replicas in sync of the current replica context (1 outside one)."""
  context = tf.distribute.get_replica_context()
  return 1 if context is None else context.num_replicas_in_sync


def shared_seed(device):
  """An int32 [2] seed drawn on replica 0, the same on every replica."""
  with tf.device(device):
    seed = tf.random.uniform([1, 2], maxval=_MAX_SEED, dtype=tf.int32)
  return tf.distribute.get_replica_context().all_gather(seed, axis=0)[0]


def _replica_device(context, tensor):
  """The device of this replica: that of `tensor`, else the local one."""
  if tensor.device:
    return tensor.device
  devices = context.strategy.extended.worker_devices
  if len(devices) == 1:
    return devices[0]
  # Every worker has as many replicas; ids count them worker after worker.
  replica_id = tf.get_static_value(context.replica_id_in_sync_group)
  return devices[int(replica_id) % len(devices)]


def _with_global_size(gathered, local):
  """`gathered` with the static size R * B_r on axis 0, when B_r is static.

  Every replica gets batches of the same size (the pipeline drops partial
  batches), which `tf.ensure_shape` checks at run time.
  """
  local_size = local.shape[0]
  if local_size is None:
    return gathered
  return tf.ensure_shape(gathered, [local_size * num_replicas()] +
                         local.shape[1:].as_list())


def global_batch(embs, batch):
  """The embeddings and labels of the whole global batch, on every replica.

  Args:
    embs: float [B_r, S, D], this replica's embeddings.
    batch: dict of this replica's batch; every entry but 'frames' (or
      'features') has the videos on axis 0 (steps [B_r, S], seq_lens [B_r],
      ...).

  Returns:
    (embs [B, S, D], batch): with B = sum of B_r over replicas, in replica
    order; `batch` without 'frames' and 'features', plus 'loss_seed' (int32 [2]) shared by
    all replicas unless the batch already holds one. Unchanged (same
    objects) outside a multi-replica context.
  """
  if num_replicas() == 1:
    return embs, batch
  context = tf.distribute.get_replica_context()
  names = sorted(k for k in batch
                 if k not in ('frames', 'features', 'loss_seed'))
  # Two gathers: the gradient of one all-reduces the upstream gradients of
  # all its inputs, which must all live on the compute devices (integer
  # tensors do not).
  device = _replica_device(context, embs)
  with tf.device(device):
    # Collectives need their inputs placed; MultiWorkerMirroredStrategy
    # leaves replica tensors without a device.
    embs = tf.identity(embs)
    # Collectives take no booleans (e.g. `has_labels`): gathered as int32.
    local = [tf.identity(tf.cast(batch[k], tf.int32)
                         if batch[k].dtype == tf.bool else batch[k])
             for k in names]
  global_embs = _with_global_size(context.all_gather(embs, axis=0), embs)
  result = {}
  for k, value in zip(names, context.all_gather(local, axis=0)):
    if batch[k].dtype == tf.bool:
      value = tf.cast(value, tf.bool)
    result[k] = _with_global_size(value, batch[k])
  result['loss_seed'] = (batch['loss_seed'] if 'loss_seed' in batch else
                         shared_seed(device))
  return global_embs, result
