"""Contrastive random walk (CRW; Jabri, Owens and Efros, NeurIPS 2020).

Training batches are clips of CRW.CLIP_LENGTH consecutive frames
(CRW.FRAME_STRIDE apart). Each frame is cut into a grid of CRW.PATCH_SIZE
patches every CRW.PATCH_STRIDE pixels (while training, as the published code,
after a random resized crop of its own, and every patch with its own spatial
jitter: CRW.FRAME_CROP_*, CRW.PATCH_JITTER_SCALE); every patch goes through
the base network (MODEL.BASE_MODEL.NETWORK, e.g. FCResNet18), is
mean-pooled, mapped by a linear head (CRW.HEAD_DEPTH hidden layers) to
CRW.EMBEDDING_SIZE and L2-normalised: the nodes of the walk. The loss is
`correspondence.crw.crw_loss`, with CRW.EDGE_DROPOUT while training (the
backward step loses the forward step's dropped edges, transposed, and
drops afresh, as the published code). The learned representation is the base
network's feature map (label propagation uses it directly, without the
head).
"""

import keras
import tensorflow as tf

from algos.correspondence_base import CorrespondenceAlgorithm
from config import CONFIG
from correspondence import crw
from data import sampling
import models

# Aspect ratios of the per-patch spatial jitter (torchvision's default).
PATCH_JITTER_RATIO = (3.0 / 4.0, 4.0 / 3.0)


def crw_clip():
  """Frame offsets of CRW training clips: CLIP_LENGTH frames FRAME_STRIDE
  apart."""
  return list(range(0, CONFIG.CRW.CLIP_LENGTH * CONFIG.CRW.FRAME_STRIDE,
                    CONFIG.CRW.FRAME_STRIDE))


def make_head(depth, hidden_units, embedding_size, name):
  """`depth` ReLU Dense layers of `hidden_units`, then a linear layer."""
  layers = [keras.layers.Dense(hidden_units, activation='relu',
                               name='%s_hidden%d' % (name, i))
            for i in range(depth)]
  layers.append(keras.layers.Dense(embedding_size, name='%s_out' % name))
  return layers


class CRW(CorrespondenceAlgorithm):
  """Palindrome random walks on patch graphs of a clip."""

  batch_spec = sampling.BatchSpec(clip=crw_clip)

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    cfg = CONFIG.CRW
    self.temperature = cfg.TEMPERATURE
    self.edge_dropout = cfg.EDGE_DROPOUT
    self.patch_size = cfg.PATCH_SIZE
    self.patch_stride = cfg.PATCH_STRIDE
    self.frame_crop_scale = tuple(cfg.FRAME_CROP_SCALE)
    self.frame_crop_ratio = tuple(cfg.FRAME_CROP_RATIO)
    self.patch_jitter_scale = tuple(cfg.PATCH_JITTER_SCALE)
    if CONFIG.IMAGE_SIZE < self.patch_size:
      raise ValueError('CRW.PATCH_SIZE %d is larger than IMAGE_SIZE %d.' % (
          self.patch_size, CONFIG.IMAGE_SIZE))
    # Hidden layers as wide as the base network's output (as CRW).
    hidden_units = getattr(self.base_model, 'output_channels',
                           cfg.EMBEDDING_SIZE)
    self.head_layers = models.track_layers(self, 'head', make_head(
        cfg.HEAD_DEPTH, hidden_units, cfg.EMBEDDING_SIZE, 'crw_head'))

  def embed(self, frames, training):
    """Node embeddings of clips.

    Args:
      frames: float [B, T, H, W, 3] in [-1, 1].
      training: BatchNorm mode, and whether the frames and patches get
        their random crops.

    Returns:
      float32 [B, T, N, EMBEDDING_SIZE], L2-normalised.
    """
    return self.embed_patches(self.patches(frames, training), training)

  def patches(self, frames, augment):
    """The patch grid of every frame, with the published random crops when
    `augment` (a resized crop of every frame, then spatial jitter of every
    patch).

    Args:
      frames: float [B, T, H, W, 3].

    Returns:
      float [B, T, N, PATCH_SIZE, PATCH_SIZE, 3].
    """
    frames = tf.convert_to_tensor(frames)
    if augment:
      shape = tf.shape(frames)
      frames = tf.reshape(crw.random_resized_crops(
          tf.reshape(frames, tf.concat([[-1], shape[2:]], 0)),
          self.frame_crop_scale, self.frame_crop_ratio), shape)
    patches = crw.grid_patches(frames, self.patch_size, self.patch_stride)
    if not augment:
      return patches
    shape = tf.shape(patches)
    flat = tf.reshape(patches, [-1, self.patch_size, self.patch_size, 3])
    flat = crw.random_resized_crops(flat, self.patch_jitter_scale,
                                    PATCH_JITTER_RATIO)
    return tf.reshape(flat, shape)

  def embed_patches(self, patches, training):
    """Node embeddings of patches [B, T, N, P, P, 3] (BatchNorm mode
    `training`): float32 [B, T, N, EMBEDDING_SIZE], L2-normalised."""
    patches = tf.convert_to_tensor(patches)
    shape = tf.shape(patches)
    flat = tf.reshape(patches, [-1, self.patch_size, self.patch_size, 3])
    features = self.base_features(flat, training)
    pooled = tf.reduce_mean(tf.cast(features, tf.float32), axis=[1, 2])
    for layer in self.head_layers:
      pooled = layer(pooled)
    nodes = tf.math.l2_normalize(pooled, axis=-1)
    return tf.reshape(nodes, tf.concat([shape[:3], [-1]], 0))

  def compute_loss(self, embs, batch, training):
    loss, walk_losses = crw.crw_loss(
        embs, self.temperature, self.edge_dropout if training else 0.0)
    losses = {'loss': loss, 'crw': loss}
    for k, value in walk_losses.items():
      losses['crw_walk_%d' % k] = value
    return losses

  def min_num_steps(self):
    return CONFIG.CRW.CLIP_LENGTH
