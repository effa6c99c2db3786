"""TimeCycle: cycle-consistent tracking in time (Wang, Jabri and Efros, 2019).

Training batches are clips of TIMECYCLE.CLIP_LENGTH consecutive frames; the
last is the target. A square patch of TIMECYCLE.PATCH_FRACTION of the frame
side (a multiple of the base network's stride 8) is cut at a random place
(a function of the batch's pixels) from the target frame and encoded on its
own. Features are the base network's
maps followed by a 1x1 convolution to TIMECYCLE.FEATURE_DIM and a ReLU. The
losses are those of `correspondence.timecycle.timecycle_losses` (similarity
TIMECYCLE.SIMILARITY), weighted by TIMECYCLE.LONG_WEIGHT, SKIP_WEIGHT and
SIMILARITY_WEIGHT. Label propagation
uses the base network's feature maps.
"""

import keras
import tensorflow as tf

from algos.correspondence_base import CorrespondenceAlgorithm
from config import CONFIG
from correspondence import timecycle
import datasets

FEATURE_STRIDE = 8


def timecycle_clip():
  """(length, stride) of TimeCycle training clips."""
  return CONFIG.TIMECYCLE.CLIP_LENGTH, CONFIG.TIMECYCLE.FRAME_STRIDE


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


def random_boxes(batch_size, image_size, side, seed):
  """float32 [B, 4] (y0, x0, side, side), integer origins uniform over the
  frame, drawn from the stateless seed [2]."""
  origins = tf.random.stateless_uniform(
      [batch_size, 2], seed, 0, image_size - side + 1, dtype=tf.int32)
  origins = tf.cast(origins, tf.float32)
  sides = tf.fill([batch_size, 2], float(side))
  return tf.concat([origins, sides], -1)


def crop_patches(images, boxes, side):
  """Exact pixel crops: images [B, S, S, 3], boxes [B, 4] -> [B, side, side,
  3]."""
  size = tf.cast(tf.shape(images)[1] - 1, tf.float32)
  y0, x0 = boxes[:, 0], boxes[:, 1]
  normalized = tf.stack([y0 / size, x0 / size, (y0 + side - 1) / size,
                         (x0 + side - 1) / size], -1)
  return tf.image.crop_and_resize(images, normalized,
                                  tf.range(tf.shape(images)[0]), [side, side])


class TimeCycle(CorrespondenceAlgorithm):
  """Track a patch backward and forward in time; come back where it was."""

  batch_spec = datasets.BatchSpec(clip=timecycle_clip)

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    cfg = CONFIG.TIMECYCLE
    if cfg.CLIP_LENGTH < 2:
      raise ValueError('TIMECYCLE.CLIP_LENGTH must be >= 2 (frames before '
                       'the target), got %d.' % cfg.CLIP_LENGTH)
    self.patch_side = patch_side(CONFIG.IMAGE_SIZE, cfg.PATCH_FRACTION)
    if self.patch_side >= CONFIG.IMAGE_SIZE:
      raise ValueError('TIMECYCLE.PATCH_FRACTION %.3f of IMAGE_SIZE %d gives '
                       'a %d px patch, not smaller than the frame.' % (
                           cfg.PATCH_FRACTION, CONFIG.IMAGE_SIZE,
                           self.patch_side))
    self.projection = keras.layers.Conv2D(
        cfg.FEATURE_DIM, 1, use_bias=False, name='timecycle_projection',
        kernel_initializer=keras.initializers.HeNormal())
    self.localizer = timecycle.Localizer(name='timecycle_localizer')
    if cfg.TEMPERATURE <= 0:
      raise ValueError('TIMECYCLE.TEMPERATURE must be > 0, got %r.' %
                       cfg.TEMPERATURE)
    if cfg.SIMILARITY not in timecycle.SIMILARITIES:
      raise ValueError('TIMECYCLE.SIMILARITY must be one of %s, got %r.' % (
          ', '.join(timecycle.SIMILARITIES), cfg.SIMILARITY))
    self.similarity = cfg.SIMILARITY
    temperature = float(cfg.TEMPERATURE)
    scale = self.patch_side / float(CONFIG.IMAGE_SIZE)
    self.tracker = timecycle.Tracker(self.localizer, temperature, scale,
                                     scale)
    self.weights_by_loss = {'long': cfg.LONG_WEIGHT, 'skip': cfg.SKIP_WEIGHT,
                            'similarity': cfg.SIMILARITY_WEIGHT}

  def features(self, images, training):
    """images [N, H, W, 3] -> projected features [N, H/8, W/8, FEATURE_DIM]."""
    base = tf.cast(self.base_features(images, training), tf.float32)
    return tf.nn.relu(self.projection(base))

  def embed(self, frames, training):
    """frames [B, L, S, S, 3] -> feature maps [B, L, S/8, S/8, FEATURE_DIM]."""
    frames = tf.convert_to_tensor(frames)
    shape = tf.shape(frames)
    images = tf.reshape(frames, tf.concat([[-1], shape[2:]], 0))
    feats = self.features(images, training)
    return tf.reshape(feats, tf.concat([shape[:2], tf.shape(feats)[1:]], 0))

  def compute_loss(self, embs, batch, training):
    frames = tf.convert_to_tensor(batch['frames'])
    batch_size = tf.shape(frames)[0]
    image_size = frames.shape[2]
    boxes = random_boxes(batch_size, image_size, self.patch_side,
                         batch_seed(frames))
    patches = crop_patches(frames[:, -1], boxes, self.patch_side)
    patch_feats = self.features(patches, training)
    theta_true = timecycle.crop_theta(boxes, image_size, image_size)
    losses = timecycle.timecycle_losses(embs, patch_feats, theta_true,
                                        self.tracker, self.similarity)
    total = tf.add_n([self.weights_by_loss[k] * v for k, v in losses.items()])
    return {'loss': total, 'long_cycle': losses['long'],
            'skip_cycle': losses['skip'],
            'similarity': losses['similarity']}

  def min_num_steps(self):
    return CONFIG.TIMECYCLE.CLIP_LENGTH
