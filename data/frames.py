"""Frames of JPEG strings: decoding, crop windows, the model range and the
training augmentation.

Every function takes the JPEGs of ONE video (string [N]) and returns frames
float32 [N, image_size, image_size, 3] in [-1, 1] (or uint8 [N, h, w, 3]
for `decode_jpegs`). A video is cropped and augmented with one set of
parameters for all its frames.

Config-free: settings are arguments (`AugmentSettings`); `datasets.py`
builds them from CONFIG.AUGMENTATION.
"""

import collections

import tensorflow as tf

# The training augmentation (the published one), CONFIG.AUGMENTATION in
# lower case: a square random crop of side `min(h, w) * U(random_crop_min_
# scale, 1)`, a horizontal flip, brightness (+ U(-delta, delta)), contrast,
# hue and saturation, each applied when its flag is true.
AugmentSettings = collections.namedtuple('AugmentSettings', [
    'random_flip', 'random_crop', 'random_crop_min_scale', 'brightness',
    'brightness_max_delta', 'contrast', 'contrast_lower', 'contrast_upper',
    'hue', 'hue_max_delta', 'saturation', 'saturation_lower',
    'saturation_upper'])


def decode_jpegs(jpegs, crop_window=None):
  """JPEG strings [N] -> uint8 [N, h, w, 3] (all frames of one video).

  `crop_window` = int32 [y, x, height, width] decodes only that window.
  """
  if crop_window is None:
    fn = lambda s: tf.io.decode_jpeg(s, channels=3)
  else:
    fn = lambda s: tf.io.decode_and_crop_jpeg(s, crop_window, channels=3)
  return tf.map_fn(fn, jpegs, fn_output_signature=tf.TensorSpec(
      [None, None, 3], tf.uint8))


def to_model_range(frames_uint8, image_size):
  """uint8 frames [N, h, w, 3] -> float32 [N, image_size, image_size, 3] in
  [-1, 1] (bilinear resize)."""
  frames = tf.image.resize(frames_uint8, [image_size, image_size],
                           method='bilinear') / 255.0
  return tf.clip_by_value(frames, 0.0, 1.0) * 2.0 - 1.0


def central_square_window(height, width):
  """int32 [y, x, side, side]: the largest square at the centre of a frame."""
  side = tf.minimum(height, width)
  return tf.stack([(height - side) // 2, (width - side) // 2, side, side])


def random_square_window(height, width, min_scale):
  """int32 [y, x, side, side]: a square of side `min(h, w) * U(min_scale,
  1)` at a uniformly random position (the published random crop)."""
  scale = tf.random.uniform([], min_scale, 1.0)
  side = tf.maximum(1, tf.cast(
      tf.cast(tf.minimum(height, width), tf.float32) * scale, tf.int32))
  y = tf.random.uniform([], 0, height - side + 1, dtype=tf.int32)
  x = tf.random.uniform([], 0, width - side + 1, dtype=tf.int32)
  return tf.stack([y, x, side, side])


def jpeg_height_width(jpeg):
  """(height, width) int32 [] of one JPEG string [], without decoding it."""
  shape = tf.io.extract_jpeg_shape(jpeg)
  return shape[0], shape[1]


def decode_eval_frames(jpegs, image_size, central_crop):
  """Evaluation frames (no augmentation) of some JPEGs of ONE video.

  As published: when training crops at random (AUGMENTATION.RANDOM_CROP),
  evaluation takes the largest central square of every frame; otherwise
  the whole frame. Then the frame is resized to [image_size, image_size].

  Args:
    jpegs: string [N] (N may be 0).
    image_size: output side.
    central_crop: take the central square first.

  Returns:
    float32 [N, image_size, image_size, 3] in [-1, 1].
  """
  jpegs = tf.convert_to_tensor(jpegs, tf.string)
  if central_crop:
    window = tf.cond(
        tf.size(jpegs) > 0,
        lambda: central_square_window(*jpeg_height_width(jpegs[0])),
        lambda: tf.constant([0, 0, 1, 1]))
    frames = decode_jpegs(jpegs, window)
  else:
    frames = decode_jpegs(jpegs)
  return tf.ensure_shape(to_model_range(frames, image_size),
                         [None, image_size, image_size, 3])


def augment(jpegs, image_size, settings):
  """Decodes and augments the frames of one video with one set of params.

  Args:
    jpegs: string [N], frames of ONE video.
    image_size: output side.
    settings: `AugmentSettings`.

  Returns:
    float32 [N, image_size, image_size, 3] in [-1, 1].
  """
  if settings.random_crop:
    frames = decode_jpegs(jpegs, random_square_window(
        *jpeg_height_width(jpegs[0]), settings.random_crop_min_scale))
  else:
    frames = decode_jpegs(jpegs)
  frames = tf.image.resize(frames, [image_size, image_size]) / 255.0
  if settings.random_flip:
    flip = tf.random.uniform([]) < 0.5
    frames = tf.cond(flip, lambda: tf.reverse(frames, axis=[2]),
                     lambda: frames)
  if settings.brightness:
    frames += tf.random.uniform([], -settings.brightness_max_delta,
                                settings.brightness_max_delta)
  if settings.contrast:
    frames = tf.image.adjust_contrast(frames, tf.random.uniform(
        [], settings.contrast_lower, settings.contrast_upper))
  if settings.hue or settings.saturation:
    frames = tf.clip_by_value(frames, 0.0, 1.0)
  if settings.hue:
    frames = tf.image.adjust_hue(frames, tf.random.uniform(
        [], -settings.hue_max_delta, settings.hue_max_delta))
  if settings.saturation:
    frames = tf.image.adjust_saturation(frames, tf.random.uniform(
        [], settings.saturation_lower, settings.saturation_upper))
  return tf.clip_by_value(frames, 0.0, 1.0) * 2.0 - 1.0


def frames_of_indices(jpegs, indices, image_size, augmentation,
                      central_crop):
  """Frames `indices` [N] of the JPEGs string [L] of ONE video, prepared.

  Each distinct frame is decoded (and, with `augmentation`, augmented with
  one set of parameters for the whole call) once; without `augmentation`
  (None) frames are evaluation frames (central square when
  `central_crop`).

  Returns:
    float32 [N, image_size, image_size, 3] in [-1, 1].
  """
  unique, position = tf.unique(indices)
  jpegs = tf.gather(jpegs, unique)
  if augmentation is not None:
    frames = augment(jpegs, image_size, augmentation)
  else:
    frames = decode_eval_frames(jpegs, image_size, central_crop)
  return tf.gather(frames, position)
