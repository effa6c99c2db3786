"""TimeCycle: cycle-consistent tracking in time (Wang, Jabri and Efros, 2019).

Training samples follow the official code (xiaolonw/TimeCycle): the patch
is tracked through TIMECYCLE.CLIP_LENGTH frames FRAME_STRIDE apart and comes
from a target frame (CLIP_LENGTH + TARGET_DISTANCE) * FRAME_STRIDE - 1
frames after the first; the frame FRAME_STRIDE after the target is read
only to find motion. The patch, a square of PATCH_FRACTION of the frame side
(a multiple of the base network's stride 8), is cut by bilinear sampling on
a rotated grid (angle up to MAX_ROTATION degrees) centred on one of the 10
most-moving windows of a MOTION_GRID x MOTION_GRID grid
(`correspondence.timecycle.motion_patch_params`; the draws are a function
of the batch's pixels), and encoded on its own. Features are the base
network's maps at the stage label propagation uses (an FCResNet18 stops
after PROPAGATION.ENCODER_STAGES stages, as the official code projects its
ResNet-50's res4, the features it propagates) followed by a 1x1 convolution
to FEATURE_DIM and a ReLU. The tracker's localizer head is
TIMECYCLE.LOCALIZER. The losses are those of
`correspondence.timecycle.timecycle_losses` (the official code's inlier
similarity), weighted by LONG_WEIGHT, SKIP_WEIGHT and
SIMILARITY_WEIGHT. Label propagation uses the base network's feature maps.
"""

import math

import keras
import tensorflow as tf

from algos.correspondence_base import CorrespondenceAlgorithm
from config import CONFIG
from correspondence import resnet
from correspondence import timecycle
from data import sampling

FEATURE_STRIDE = 8


def timecycle_clip():
  """Frame offsets of a training sample: CLIP_LENGTH frames FRAME_STRIDE
  apart, the target, and the frame FRAME_STRIDE after the target."""
  cfg = CONFIG.TIMECYCLE
  target = (cfg.CLIP_LENGTH + cfg.TARGET_DISTANCE) * cfg.FRAME_STRIDE - 1
  return ([i * cfg.FRAME_STRIDE for i in range(cfg.CLIP_LENGTH)] +
          [target, target + cfg.FRAME_STRIDE])


def patch_side(image_size, fraction, stride=FEATURE_STRIDE):
  """Patch side in pixels: fraction * image_size rounded to a multiple of
  `stride`, at least 2 strides (the reflection padding of FCResNet18 needs
  feature maps of 2 cells or more)."""
  return int(max(2 * stride, stride * round(fraction * image_size / stride)))


def batch_seed(frames):
  """A stateless-random seed [2] int32 that is a function of the batch's
  pixels: the same batch always gets the same patches (so a loss can be
  compared across checkpoints on fixed batches), different batches differ."""
  frames = tf.cast(frames, tf.float32)
  return tf.stack([tf.bitcast(tf.reduce_sum(frames), tf.int32),
                   tf.bitcast(tf.reduce_sum(tf.abs(frames)), tf.int32)])


class TimeCycle(CorrespondenceAlgorithm):
  """Track a patch backward and forward in time; come back where it was."""

  batch_spec = sampling.BatchSpec(clip=timecycle_clip)

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    cfg = CONFIG.TIMECYCLE
    offsets = timecycle_clip()
    if cfg.CLIP_LENGTH < 1 or cfg.FRAME_STRIDE < 1 or (
        offsets[-2] <= offsets[-3]):
      raise ValueError(
          'TIMECYCLE: need CLIP_LENGTH >= 1, FRAME_STRIDE >= 1 and a target '
          'after the clip ((CLIP_LENGTH + TARGET_DISTANCE) * FRAME_STRIDE - 1 '
          '> (CLIP_LENGTH - 1) * FRAME_STRIDE); got %d, %d, %d.' % (
              cfg.CLIP_LENGTH, cfg.FRAME_STRIDE, cfg.TARGET_DISTANCE))
    self.patch_side = patch_side(CONFIG.IMAGE_SIZE, cfg.PATCH_FRACTION)
    if self.patch_side >= CONFIG.IMAGE_SIZE:
      raise ValueError('TIMECYCLE.PATCH_FRACTION %.3f of IMAGE_SIZE %d gives '
                       'a %d px patch, not smaller than the frame.' % (
                           cfg.PATCH_FRACTION, CONFIG.IMAGE_SIZE,
                           self.patch_side))
    self.projection = keras.layers.Conv2D(
        cfg.FEATURE_DIM, 1, use_bias=False, name='timecycle_projection',
        kernel_initializer=timecycle.he_normal_fan_out())
    self.localizer = timecycle.Localizer(head=cfg.LOCALIZER,
                                         name='timecycle_localizer')
    # The stage propagation reads (FCResNet18 only; 0 = all its stages).
    self.stage_kwargs = {}
    stages = CONFIG.PROPAGATION.ENCODER_STAGES
    if stages and isinstance(self.base_model, resnet.FCResNet18):
      self.stage_kwargs['num_stages'] = min(stages,
                                            self.base_model.num_stages)
    if cfg.TEMPERATURE <= 0:
      raise ValueError('TIMECYCLE.TEMPERATURE must be > 0, got %r.' %
                       cfg.TEMPERATURE)
    temperature = float(cfg.TEMPERATURE)
    self.patch_scale = self.patch_side / float(CONFIG.IMAGE_SIZE)
    self.motion_grid = int(cfg.MOTION_GRID)
    self.max_rotation = math.radians(cfg.MAX_ROTATION)
    self.tracker = timecycle.Tracker(self.localizer, temperature,
                                     self.patch_scale, self.patch_scale)
    self.weights_by_loss = {'long': cfg.LONG_WEIGHT, 'skip': cfg.SKIP_WEIGHT,
                            'similarity': cfg.SIMILARITY_WEIGHT}

  def features(self, images, training):
    """images [N, H, W, 3] -> projected features [N, H/8, W/8, FEATURE_DIM]
    of the base network's stage that propagation uses."""
    base = tf.cast(self.base_model(
        images, training=training and self.base_training,
        **self.stage_kwargs), tf.float32)
    return tf.nn.relu(self.projection(base))

  def embed(self, frames, training):
    """frames [B, L + 2, S, S, 3] (clip, target, motion frame) -> feature
    maps of the clip and target [B, L + 1, S/8, S/8, FEATURE_DIM]."""
    frames = tf.convert_to_tensor(frames)[:, :-1]
    shape = tf.shape(frames)
    images = tf.reshape(frames, tf.concat([[-1], shape[2:]], 0))
    feats = self.features(images, training)
    return tf.reshape(feats, tf.concat([shape[:2], tf.shape(feats)[1:]], 0))

  def compute_loss(self, embs, batch, training):
    frames = tf.convert_to_tensor(batch['frames'])
    target = frames[:, -2]
    params = timecycle.motion_patch_params(
        target, frames[:, -1], self.patch_scale, batch_seed(frames),
        grid_size=self.motion_grid, max_rotation=self.max_rotation)
    theta_true = timecycle.params_to_theta(params, self.patch_scale,
                                           self.patch_scale)
    patches = timecycle.bilinear_sample(
        target, timecycle.affine_grid(theta_true, self.patch_side,
                                      self.patch_side))
    patch_feats = self.features(patches, training)
    losses = timecycle.timecycle_losses(embs, patch_feats, theta_true,
                                        self.tracker)
    total = tf.add_n([self.weights_by_loss[k] * v for k, v in losses.items()])
    return {'loss': total, 'long_cycle': losses['long'],
            'skip_cycle': losses['skip'],
            'similarity': losses['similarity']}

  def min_num_steps(self):
    return len(timecycle_clip())
