"""Base class of the training algorithms: model, embedding, one train step."""

import os

import keras
import numpy as np
import tensorflow as tf

from algos import cross_replica
from config import CONFIG
from data import sampling
import models


class Algorithm(keras.Model):
  """A base CNN plus an embedder, and a loss on the embeddings.

  Subclasses implement `compute_loss` and may add heads (SaL classifier,
  classification layer) that are part of the checkpoint but not of the
  embedding. `batch_spec` declares what a training batch holds; the data
  pipeline builds that.
  """

  batch_spec = sampling.BatchSpec()
  # A loss that compares the videos of a batch with each other: under a
  # distribution strategy with TRAIN.CROSS_REPLICA_ALIGNMENT, `compute_loss`
  # gets the whole global batch (see algos/cross_replica.py).
  pairwise_loss = False
  # A method's own config section, declared here rather than in config.py:
  # `config_section` names it and `config_defaults` (a dict) gives its keys
  # (see `algos.register`). None for the sections config.py holds.
  config_section = None
  config_defaults = None

  def __init__(self, pretrained_weights=None, **kwargs):
    """pretrained_weights: of the base CNN, see `models.get_base_model`."""
    super().__init__(**kwargs)
    self.base_model = models.get_base_model(pretrained_weights)
    self.embedder = models.get_embedder()
    self.num_context_steps = CONFIG.DATA.NUM_STEPS
    self.frame_stride = CONFIG.DATA.FRAME_STRIDE
    # A frozen base always runs in inference mode, so that BatchNorm uses and
    # keeps its moving statistics.
    self.base_training = CONFIG.MODEL.TRAIN_BASE != 'frozen'
    self.grad_clip_norm = CONFIG.OPTIMIZER.GRAD_CLIP_NORM
    self.cross_replica_loss = (self.pairwise_loss and
                               CONFIG.TRAIN.CROSS_REPLICA_ALIGNMENT)

  @classmethod
  def next_commands(cls, logdir):
    """Command lines worth running after training into `logdir`."""
    embeddings = os.path.join(logdir, 'val_embeddings.npz')
    return [
        'python extract_embeddings.py --logdir %s --split val --output %s'
        % (logdir, embeddings),
        'python visualize_alignment.py --embs_path %s --logdir %s '
        '--video_path %s' % (embeddings, logdir,
                             os.path.join(logdir, 'alignment.mp4'))]

  def call(self, frames, training=False):
    return self.embed(frames, training)

  def base_features(self, images, training):
    """images [N, H, W, 3] in [-1, 1] -> base CNN features [N, h, w, c]."""
    return self.base_model(images, training=training and self.base_training)

  def embed_context(self, context_features, training):
    """context_features [N, NUM_STEPS, h, w, c] -> embs [N, D] float32."""
    return tf.cast(self.embedder(context_features, training=training),
                   tf.float32)

  def embed(self, frames, training):
    """Embeds the sampled steps of a batch of videos.

    Args:
      frames: float [B, S * NUM_STEPS, H, W, 3] in [-1, 1]; the NUM_STEPS
        context frames of each sampled step consecutively, in time order.
      training: whether dropout/BatchNorm run in training mode.

    Returns:
      embs: float32 [B, S, D].
    """
    frames = tf.convert_to_tensor(frames)
    batch_size = tf.shape(frames)[0]
    image_shape = frames.shape[2:]
    images = tf.reshape(frames, [-1] + list(image_shape))
    features = self.base_features(images, training)
    return self.embed_features(
        tf.reshape(features, [batch_size, -1] + list(features.shape[1:])),
        training)

  def embed_features(self, features, training):
    """Embeds base CNN features (e.g. cached by data/features.py).

    Args:
      features: float [B, S * NUM_STEPS, h, w, c], the base features of the
        frames `embed` takes.
      training: whether dropout/BatchNorm run in training mode.

    Returns:
      embs: float32 [B, S, D].
    """
    batch_size = tf.shape(features)[0]
    context_features = tf.reshape(
        features, [-1, self.num_context_steps] + list(features.shape[2:]))
    if getattr(self.embedder, 'embeds_sequences', False):
      # A sequence embedder sees each video (each crop or view) as one
      # sequence.
      context_features = tf.reshape(
          context_features,
          [batch_size * self.batch_spec.sequences_per_video(), -1] +
          list(context_features.shape[1:]))
    embs = self.embed_context(context_features, training)
    return tf.reshape(embs, [batch_size, -1, embs.shape[-1]])

  def compute_loss(self, embs, batch, training):  # pylint: disable=arguments-differ
    """Loss of embeddings `embs` [B, S, D] of `batch` (dict, see datasets).

    Returns:
      dict of scalar float32 tensors: 'loss' (total, without L2
      regularization) and one entry per loss component.
    """
    raise NotImplementedError

  def regularization_loss(self):
    """Mean of the L2 penalties of the regularized weights (published TCC).

    The layers that the published code regularizes carry a Keras L2
    regularizer (`models.l2_regularizers`): weight v costs
    MODEL.L2_REG_WEIGHT * sum(v^2). The loss is the mean of these costs over
    all such weights, frozen ones included (they only add constants).

    Returns:
      float32 scalar; 0 when no weight is regularized.
    """
    penalties = []
    seen = set()
    for weight in self.weights:
      regularizer = getattr(weight, 'regularizer', None)
      if regularizer is None or id(weight) in seen:
        continue
      seen.add(id(weight))
      penalties.append(tf.cast(regularizer(weight), tf.float32))
    if not penalties:
      return tf.constant(0.0)
    return tf.reduce_mean(tf.stack(penalties))

  def train_one_iter(self, batch, optimizer):
    """One optimization step on `batch`.

    Under a tf.distribute strategy this runs per replica: the loss is divided
    by the number of replicas because the optimizer sums the replicas'
    gradients. With `cross_replica_loss`, `compute_loss` sees the global batch
    (algos/cross_replica.py explains why the same scaling then holds).

    Returns:
      dict of scalar float32 tensors: the entries of `compute_loss`,
      'regularization', 'total_loss' and 'grad_norm' (global gradient norm
      before clipping).
    """
    num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
    loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    with tf.GradientTape() as tape:
      if 'features' in batch:  # Cached base features (data/features.py).
        embs = self.embed_features(batch['features'], training=True)
      else:
        embs = self.embed(batch['frames'], training=True)
      if self.cross_replica_loss:
        embs, batch = cross_replica.global_batch(embs, batch)
      losses = self.compute_loss(embs, batch, training=True)
      regularization = self.regularization_loss()
      total_loss = losses['loss'] + regularization
      objective = total_loss / num_replicas
      if loss_scaled:
        objective = optimizer.scale_loss(objective)
    variables = self.trainable_variables
    grads = tape.gradient(objective, variables)
    grads_and_vars = [(g, v) for g, v in zip(grads, variables)
                      if g is not None]
    grads = [g for g, _ in grads_and_vars]
    scale = 1.0
    if loss_scaled:
      scale = tf.cast(optimizer.dynamic_scale if optimizer.built else
                      optimizer.initial_scale, tf.float32)
    grad_norm = tf.linalg.global_norm(grads) / scale
    if self.grad_clip_norm > 0:
      grads, _ = tf.clip_by_global_norm(grads, self.grad_clip_norm * scale,
                                        use_norm=grad_norm * scale)
    optimizer.apply_gradients(zip(grads, [v for _, v in grads_and_vars]))
    losses = dict(losses)
    losses['regularization'] = regularization
    losses['total_loss'] = total_loss
    losses['grad_norm'] = grad_norm
    return losses

  def dummy_batch(self, batch_size=2):
    """A zero batch with the layout of a training batch (for building)."""
    num_steps = self.batch_spec.steps_per_video(self.min_num_steps())
    size = CONFIG.IMAGE_SIZE
    return {
        'frames': tf.zeros([batch_size, num_steps * self.num_context_steps,
                            size, size, 3]),
        'steps': tf.tile(tf.range(num_steps)[None], [batch_size, 1]),
        'frame_labels': tf.zeros([batch_size, num_steps], tf.int32),
        'seq_lens': tf.fill([batch_size], num_steps),
        'video_labels': tf.zeros([batch_size], tf.int32),
    }

  def min_num_steps(self):
    """Smallest S for which `compute_loss` is defined (for dummy batches)."""
    return 2

  def build_all(self):
    """Creates every variable (model and heads) by running a dummy batch."""
    batch = self.dummy_batch()
    embs = self.embed(batch['frames'], training=False)
    self.compute_loss(embs, batch, training=False)

  @tf.function(reduce_retracing=True)
  def _frame_features(self, images):
    return self.base_features(images, training=False)

  @tf.function(reduce_retracing=True)
  def _context_embeddings(self, context_features):
    return self.embed_context(context_features, training=False)

  def embed_video(self, frames, stride=1, frames_per_batch=40):
    """Embeds every `stride`-th frame of one whole video held in memory.

    Args:
      frames: float32 [L, H, W, 3] in [-1, 1].
      stride: embed frames 0, stride, 2 * stride, ...
      frames_per_batch: frames (and steps) per chunk.

    Returns:
      np.ndarray float32 [ceil(L / stride), D].
    """
    frames = tf.convert_to_tensor(frames, tf.float32)
    return self.embed_video_chunks(
        int(frames.shape[0]), lambda indices: tf.gather(frames, indices),
        stride, frames_per_batch)

  def embed_video_chunks(self, num_frames, fetch_frames, stride=1,
                         frames_per_batch=40):
    """Embeds every `stride`-th frame of a video, in bounded memory.

    Steps are embedded `frames_per_batch` at a time. The context features of
    step t are those of frames t - k * FRAME_STRIDE, k = NUM_STEPS - 1, ...,
    0, clipped at 0, as in training batches. Only the frames used as context
    are fetched, each once: base features are kept only while a later chunk
    still needs them, so memory does not grow with the video's length.

    Args:
      num_frames: L, the frames of the video.
      fetch_frames: function int64 indices [n] (sorted, distinct, n <=
        frames_per_batch) -> float32 frames [n, H, W, 3] in [-1, 1] (e.g.
        decoding only those JPEGs).
      stride: embed frames 0, stride, 2 * stride, ...
      frames_per_batch: steps per chunk and frames per base-CNN call.

    Returns:
      np.ndarray float32 [ceil(L / stride), D].
    """
    steps = np.arange(0, num_frames, stride)
    reach = (self.num_context_steps - 1) * self.frame_stride
    offsets = np.arange(self.num_context_steps - 1, -1, -1) * self.frame_stride
    context_idx = np.maximum(steps[:, None] - offsets[None, :], 0)
    if getattr(self.embedder, 'embeds_sequences', False):
      # A sequence embedder sees the whole video at once, so its features
      # are all held (memory grows with the video).
      needed = np.unique(context_idx)
      features = tf.concat(
          [self._frame_features(fetch_frames(needed[i:i + frames_per_batch]))
           for i in range(0, len(needed), frames_per_batch)], axis=0)
      return self._context_embeddings(tf.gather(
          features, np.searchsorted(needed, context_idx))[None])[0].numpy()
    kept_idx = np.zeros(0, np.int64)
    kept_features = None
    embs = []
    for start in range(0, len(steps), frames_per_batch):
      chunk_idx = context_idx[start:start + frames_per_batch]
      needed = np.unique(chunk_idx)
      new_idx = needed[~np.isin(needed, kept_idx)]
      new_features = [
          self._frame_features(fetch_frames(new_idx[i:i + frames_per_batch]))
          for i in range(0, len(new_idx), frames_per_batch)]
      all_idx = np.concatenate([kept_idx, new_idx])
      all_features = tf.concat(
          ([kept_features] if kept_features is not None else []) +
          new_features, axis=0)
      order = np.argsort(all_idx)
      all_idx, all_features = all_idx[order], tf.gather(all_features, order)
      embs.append(self._context_embeddings(tf.gather(
          all_features, np.searchsorted(all_idx, chunk_idx))))
      following = start + frames_per_batch
      first_needed = (steps[following] - reach if following < len(steps)
                      else num_frames)
      keep = all_idx >= first_needed
      kept_idx = all_idx[keep]
      kept_features = tf.gather(all_features, np.nonzero(keep)[0])
    if not embs:
      return np.zeros((0, 0), np.float32)
    return tf.concat(embs, axis=0).numpy()
