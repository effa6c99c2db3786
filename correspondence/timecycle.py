"""TimeCycle losses (Wang, Jabri and Efros, CVPR 2019).

A patch p cropped from the target frame I_t is tracked backward through the
preceding frames and forward again to I_t; the tracker must come back to
where the patch was cut. The tracker T(x^I, x^p) is deliberately weak:

1. affinity between every patch-feature cell and every image-feature cell,
   `softmax over image cells (<x^I_i, x^p_j> / temperature)` ([hp, wp, h*w]);
2. a small CNN (`Localizer`: two valid 4x4 convolutions as the official
   code, or 3x3 'same' ones for small patches) regresses a transform from
   the affinity: rotation angle and translation, the scale fixed to the
   patch's size;
3. the image features are bilinearly sampled on the transformed patch grid:
   the features of the tracked patch, the query of the next step.

Losses (i = 1 .. T, T preceding frames):
- long cycle: track t-1, ..., t-i, then t-i+1, ..., t-1, then t;
- skip cycle: t-i directly, then back to t;
both scored by the transformed-grid loss between the final transform and
the one that cut the patch (mean over a 20 x 20 grid of squared distances);
- feature similarity, with the tracker's step from the target patch into
  frame t-i: either `inlier` (the official code's weak inlier count: the
  share of each patch cell's affinity that falls within one image cell of
  where the regressed transform puts that cell; loss = -score), or `cosine`
  (the paper's formula -<x^p_t, T(x^I_{t-i}, x^p_t)>, mean over cells).

The official training loss (xiaolonw/TimeCycle, train_video_cycle_simple.py,
lamda = 0.1) is inlier + 0.1 * skip + 0.02 * long.

Coordinates are normalised to [-1, 1] over the image (pixel edges: -1 is the
left edge of the first pixel). A transform theta [2, 3] maps patch-grid
coordinates (u, v, 1) to image coordinates. TensorFlow only; no config.
"""

import math

import keras
import tensorflow as tf

GRID_LOSS_SIZE = 20


def motion_patch_params(target, next_frame, patch_scale, seed, grid_size=9,
                        num_top=10, max_rotation=math.pi / 4):
  """Where the official TimeCycle code cuts the training patch.

  The frame is divided into grid_size x grid_size cells. Of the
  (grid_size - 2)^2 windows of 3 x 3 cells, one of the `num_top` with the
  most motion (sum of |target - next_frame|) is drawn uniformly. Its
  position, (column, row) / (grid_size - 3) in [0, 1]^2, is jittered by
  uniform(-1/12, 1/12), clipped to [0, 1], and mapped to the patch centre
  (2 * position - 1) * (1 - patch_scale), so that an unrotated patch lies
  inside the frame. The angle is uniform in [-max_rotation, max_rotation].

  Args:
    target, next_frame: float [B, H, W, C], H and W >= grid_size (static).
    patch_scale: patch side / frame side.
    seed: int32 [2] stateless random seed.
    grid_size, num_top, max_rotation: as the official code (9, 10, pi / 4).

  Returns:
    float32 [B, 3] (angle, tx, ty), for `params_to_theta`.
  """
  target = tf.cast(target, tf.float32)
  motion = tf.reduce_sum(tf.abs(target - tf.cast(next_frame, tf.float32)),
                         -1, keepdims=True)
  cell_h, cell_w = target.shape[1] // grid_size, target.shape[2] // grid_size
  motion = motion[:, :grid_size * cell_h, :grid_size * cell_w]
  windows = tf.nn.avg_pool2d(motion, [3 * cell_h, 3 * cell_w],
                             [cell_h, cell_w], 'VALID')
  side = grid_size - 2
  batch_size = tf.shape(target)[0]
  seeds = tf.random.experimental.stateless_split(seed, 4)
  # Ties (a still frame) are broken at random rather than by position.
  scores = tf.reshape(windows, [batch_size, side * side]) + 1e-6 * (
      tf.random.stateless_uniform([batch_size, side * side], seeds[0]))
  num_top = min(num_top, side * side)
  _, top = tf.math.top_k(scores, k=num_top)
  pick = tf.random.stateless_uniform([batch_size], seeds[1], 0, num_top,
                                     dtype=tf.int32)
  window = tf.gather(top, pick, batch_dims=1)
  position = tf.cast(tf.stack([window % side, window // side], -1),
                     tf.float32) / float(max(grid_size - 3, 1))
  position += tf.random.stateless_uniform([batch_size, 2], seeds[2],
                                          -1.0 / 12, 1.0 / 12)
  centre = (2.0 * tf.clip_by_value(position, 0.0, 1.0) - 1.0) * (
      1.0 - patch_scale)
  angle = tf.random.stateless_uniform([batch_size, 1], seeds[3],
                                      -max_rotation, max_rotation)
  return tf.concat([angle, centre], -1)


def params_to_theta(params, scale_x, scale_y):
  """(angle, tx, ty) [B, 3] -> rotation + translation transform [B, 2, 3]
  with the patch's fixed scale (scale_x, scale_y: floats)."""
  angle, tx, ty = tf.unstack(tf.cast(params, tf.float32), axis=-1)
  cos, sin = tf.cos(angle), tf.sin(angle)
  return tf.stack([tf.stack([scale_x * cos, -scale_y * sin, tx], -1),
                   tf.stack([scale_x * sin, scale_y * cos, ty], -1)], 1)


def grid_points(height, width):
  """Cell-centre coordinates of an [height, width] grid in [-1, 1]:
  float32 [height * width, 3] rows (u, v, 1), row-major."""
  us = (2.0 * tf.range(width, dtype=tf.float32) + 1.0) / width - 1.0
  vs = (2.0 * tf.range(height, dtype=tf.float32) + 1.0) / height - 1.0
  v, u = tf.meshgrid(vs, us, indexing='ij')
  u, v = tf.reshape(u, [-1]), tf.reshape(v, [-1])
  return tf.stack([u, v, tf.ones_like(u)], -1)


def affine_grid(theta, out_height, out_width):
  """Image coordinates of a transformed patch grid: [B, oh, ow, 2] (x, y)."""
  points = grid_points(out_height, out_width)
  coords = tf.einsum('bij,nj->bni', tf.cast(theta, tf.float32), points)
  return tf.reshape(coords, [-1, out_height, out_width, 2])


def bilinear_sample(feats, coords):
  """Bilinear sampling with border clamping, differentiable in both inputs.

  Args:
    feats: float [B, h, w, C].
    coords: float [B, oh, ow, 2] normalised (x, y); x = -1 / 1 are the outer
      edges of the first / last column.

  Returns:
    float [B, oh, ow, C].
  """
  feats = tf.convert_to_tensor(feats)
  coords = tf.cast(coords, feats.dtype)
  shape = tf.shape(feats)
  height, width = shape[1], shape[2]
  h_f, w_f = tf.cast(height, feats.dtype), tf.cast(width, feats.dtype)
  # Continuous cell coordinates (cell centres at integers).
  x = (coords[..., 0] + 1.0) * w_f / 2.0 - 0.5
  y = (coords[..., 1] + 1.0) * h_f / 2.0 - 0.5
  x = tf.clip_by_value(x, 0.0, w_f - 1.0)
  y = tf.clip_by_value(y, 0.0, h_f - 1.0)
  x0 = tf.floor(x)
  y0 = tf.floor(y)
  wx = x - x0
  wy = y - y0
  x0i = tf.cast(x0, tf.int32)
  y0i = tf.cast(y0, tf.int32)
  x1i = tf.minimum(x0i + 1, width - 1)
  y1i = tf.minimum(y0i + 1, height - 1)

  def gather(yi, xi):
    return tf.gather_nd(feats, tf.stack([yi, xi], -1), batch_dims=1)

  wx, wy = wx[..., None], wy[..., None]
  top = gather(y0i, x0i) * (1 - wx) + gather(y0i, x1i) * wx
  bottom = gather(y1i, x0i) * (1 - wx) + gather(y1i, x1i) * wx
  return top * (1 - wy) + bottom * wy


def transformed_grid_loss(theta, theta_true, grid_size=GRID_LOSS_SIZE):
  """Mean over a grid_size^2 grid in [-1, 1]^2 (corners included) of the
  squared distance between the points mapped by theta and by theta_true;
  averaged over the batch. theta, theta_true: [B, 2, 3]."""
  line = tf.linspace(-1.0, 1.0, grid_size)
  v, u = tf.meshgrid(line, line, indexing='ij')
  u, v = tf.reshape(u, [-1]), tf.reshape(v, [-1])
  points = tf.stack([u, v, tf.ones_like(u)], -1)
  diff = tf.einsum('bij,nj->bni', tf.cast(theta, tf.float32) -
                   tf.cast(theta_true, tf.float32), points)
  return tf.reduce_mean(tf.reduce_sum(tf.square(diff), -1))


def inlier_score(affinity, theta, image_height, image_width):
  """The weak inlier count of the official TimeCycle code.

  For patch cell (i, j), the transform maps its centre to a point p_ij of the
  image grid; the cell's inliers are the image cells within one cell
  (Chebyshev distance, the 3 x 3 dilation of an identity mask) of p_ij,
  weighted bilinearly. The score is the affinity mass on inliers, summed
  over patch cells and divided by the summed inlier weights (the official
  normalisation; away from the border, a patch whose every cell puts all
  its affinity on its inliers scores 1/9).

  Args:
    affinity: float [B, hp, wp, h * w], softmax over image cells.
    theta: float [B, 2, 3] patch-grid -> image transform.
    image_height, image_width: h, w (ints).

  Returns:
    float32 [B] scores in [0, 1].
  """
  affinity = tf.cast(affinity, tf.float32)
  patch_height, patch_width = affinity.shape[1], affinity.shape[2]
  box = tf.ones([3, 3, 1, 1])
  # Affinity mass and number of image cells within one cell of each cell.
  mass = tf.nn.conv2d(tf.reshape(affinity, [-1, image_height, image_width, 1]),
                      box, 1, 'SAME')
  counts = tf.nn.conv2d(tf.ones([1, image_height, image_width, 1]), box, 1,
                        'SAME')
  points = tf.reshape(affine_grid(theta, patch_height, patch_width),
                      [-1, 1, 1, 2])
  inliers = bilinear_sample(mass, points)
  weights = bilinear_sample(
      tf.tile(counts, [tf.shape(points)[0], 1, 1, 1]), points)
  batch_size = tf.shape(affinity)[0]
  return (tf.reduce_sum(tf.reshape(inliers, [batch_size, -1]), -1) /
          tf.reduce_sum(tf.reshape(weights, [batch_size, -1]), -1))


def patch_affinity(image_feats_norm, patch_feats_norm, temperature):
  """softmax over image cells of <image cell, patch cell> / temperature.

  Args:
    image_feats_norm: [B, h, w, C] L2-normalised.
    patch_feats_norm: [B, hp, wp, C] L2-normalised.
    temperature: float.

  Returns:
    float [B, hp, wp, h * w].
  """
  shape = tf.shape(image_feats_norm)
  image_flat = tf.reshape(image_feats_norm, [shape[0], -1, shape[3]])
  logits = tf.einsum('bnc,bijc->bijn', image_flat, patch_feats_norm)
  return tf.nn.softmax(logits / temperature, axis=-1)


# Localizer heads: name -> (kernel size, padding) of its two convolutions.
# 'valid4x4' is the official code's (10 x 10 patch cells -> 7 x 7 -> 4 x 4);
# 'same3x3' keeps the patch's size, for patch features smaller than 7 x 7.
LOCALIZERS = {'valid4x4': (4, 'valid'), 'same3x3': (3, 'same')}


def he_normal_fan_out():
  """The official code's convolution init: kaiming_normal_(mode='fan_out',
  nonlinearity='relu'), i.e. N(0, 2 / (k * k * filters)), not truncated."""
  return keras.initializers.VarianceScaling(2.0, 'fan_out',
                                            'untruncated_normal')


class Localizer(keras.layers.Layer):
  """Affinity [B, hp, wp, h*w] -> (angle, tx, ty) [B, 3].

  Two convolutions without bias (128 and 64 filters, leaky ReLU 0.1, He
  fan-out init), flatten, a linear layer with weights N(0, 0.01) and zero
  bias, as the official code (the first guess is close to the centred,
  unrotated patch). `head` names the convolutions' kernel and padding
  (`LOCALIZERS`); the official 'valid4x4' needs patches of 7 x 7 cells or
  more.
  """

  def __init__(self, filters=(128, 64), head='valid4x4', **kwargs):
    super().__init__(**kwargs)
    if head not in LOCALIZERS:
      raise ValueError('Localizer head %r is unknown; set TIMECYCLE.LOCALIZER '
                       'to one of: %s.' % (head, ', '.join(LOCALIZERS)))
    self.filters = [int(f) for f in filters]
    self.head = head
    kernel_size, padding = LOCALIZERS[head]
    self.convs = [keras.layers.Conv2D(
        f, kernel_size, padding=padding, use_bias=False,
        kernel_initializer=he_normal_fan_out(), name='conv%d' % i)
                  for i, f in enumerate(self.filters)]
    for i, conv in enumerate(self.convs):
      setattr(self, 'conv_%d' % i, conv)
    self.flatten = keras.layers.Flatten()
    self.linear = keras.layers.Dense(
        3, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        name='linear')

  def build(self, input_shape):
    kernel_size, padding = LOCALIZERS[self.head]
    needed = 1 + len(self.convs) * (kernel_size - 1)
    if padding == 'valid' and min(input_shape[1:3]) < needed:
      raise ValueError(
          'TIMECYCLE.LOCALIZER %s needs patch features of at least %d x %d '
          'cells, got %s x %s: raise IMAGE_SIZE (or PATCH_FRACTION), or use '
          'TIMECYCLE.LOCALIZER: same3x3.' % (
              self.head, needed, needed, input_shape[1], input_shape[2]))
    super().build(input_shape)

  def call(self, affinity):
    x = affinity
    for conv in self.convs:
      x = tf.nn.leaky_relu(conv(x), alpha=0.1)
    return self.linear(self.flatten(x))

  def get_config(self):
    return {**super().get_config(), 'filters': self.filters,
            'head': self.head}


class Tracker:
  """T(x^I, x^p): localises a patch's features in an image's features."""

  def __init__(self, localizer, temperature, scale_x, scale_y):
    self.localizer = localizer
    self.temperature = temperature
    self.scale_x = scale_x
    self.scale_y = scale_y

  def __call__(self, image_feats, query_norm):
    """Tracks one step.

    Args:
      image_feats: [B, h, w, C] (unnormalised) features of the image.
      query_norm: [B, hp, wp, C] L2-normalised patch features.

    Returns:
      (theta [B, 2, 3], patch features [B, hp, wp, C] sampled from
      image_feats, unnormalised, affinity [B, hp, wp, h * w]).
    """
    image_norm = tf.math.l2_normalize(image_feats, axis=-1)
    affinity = patch_affinity(image_norm, query_norm, self.temperature)
    theta = params_to_theta(self.localizer(affinity), self.scale_x,
                            self.scale_y)
    out_h, out_w = query_norm.shape[1], query_norm.shape[2]
    sampled = bilinear_sample(image_feats,
                              affine_grid(theta, out_h, out_w))
    return theta, sampled, affinity


SIMILARITIES = ('inlier', 'cosine')


def timecycle_losses(frame_feats, patch_feats, theta_true, tracker,
                     similarity='inlier'):
  """Long-cycle, skip-cycle and feature-similarity losses.

  Args:
    frame_feats: [B, T + 1, h, w, C] features of the clip, target frame
      last.
    patch_feats: [B, hp, wp, C] features of the patch cut from the target.
    theta_true: [B, 2, 3] transform that cut the patch.
    tracker: a `Tracker`.
    similarity: 'inlier' (official code) or 'cosine' (the paper's formula).

  Returns:
    dict of float32 scalars: 'long', 'skip', 'similarity' (each a mean over
    i = 1 .. T).
  """
  if similarity not in SIMILARITIES:
    raise ValueError('similarity must be one of %s, got %r.' % (
        SIMILARITIES, similarity))
  num_past = frame_feats.shape[1] - 1
  image_height, image_width = frame_feats.shape[2], frame_feats.shape[3]
  target = frame_feats[:, -1]
  patch_norm = tf.math.l2_normalize(patch_feats, axis=-1)
  long_losses, skip_losses, similarities = [], [], []
  for i in range(1, num_past + 1):
    # Long cycle: t-1, ..., t-i, t-i+1, ..., t-1, then the target.
    path = list(range(num_past - 1, num_past - 1 - i, -1))
    path += path[-2::-1]
    query = patch_norm
    for t in path:
      _, sampled, _ = tracker(frame_feats[:, t], query)
      query = tf.math.l2_normalize(sampled, axis=-1)
    theta, _, _ = tracker(target, query)
    long_losses.append(transformed_grid_loss(theta, theta_true))
    # Skip cycle and similarity through frame t-i.
    theta_back, sampled, affinity = tracker(frame_feats[:, num_past - i],
                                            patch_norm)
    sampled_norm = tf.math.l2_normalize(sampled, axis=-1)
    theta_skip, _, _ = tracker(target, sampled_norm)
    skip_losses.append(transformed_grid_loss(theta_skip, theta_true))
    if similarity == 'inlier':
      similarities.append(tf.reduce_mean(inlier_score(
          affinity, theta_back, image_height, image_width)))
    else:
      similarities.append(tf.reduce_mean(tf.reduce_sum(
          sampled_norm * patch_norm, -1)))
  return {'long': tf.add_n(long_losses) / num_past,
          'skip': tf.add_n(skip_losses) / num_past,
          'similarity': -tf.add_n(similarities) / num_past}
