"""Fully-convolutional ResNet-18 with features at 1/8 resolution (as CRW).

The standard ResNet-18 (7x7/2 convolution, 3x3/2 max-pool, four stages of two
basic blocks, 64-128-256-512 channels) with the strides of stages 3 and 4 set
to 1, so the output of an H x W image is ceil(H/8) x ceil(W/8). No pooling or
classifier head. CRW trains from scratch with reflection padding (its
`scratch` encoder) and propagates labels with the output of stage 3 (stage 4
removed at test time); `num_stages` selects how many stages run. `width`
scales every channel count (64 = the published network; 16 for the CPU demo).
Imports no config.
"""

import keras
import tensorflow as tf

PADDINGS = ('reflect', 'zeros')


def _track(owner, prefix, layers):
  """Stores layers as attributes too (tf.train.Checkpoint follows those)."""
  for i, layer in enumerate(layers):
    setattr(owner, '%s_%d' % (prefix, i), layer)
  return layers


class PaddedConv2D(keras.layers.Layer):
  """A k x k convolution with (k - 1) / 2 padding of a chosen mode (no bias).

  With stride 2 the output side is ceil(H / 2), as PyTorch's padding=k//2.
  """

  def __init__(self, filters, kernel_size, strides=1, padding='reflect',
               **kwargs):
    super().__init__(**kwargs)
    if padding not in PADDINGS:
      raise ValueError('padding %r; use one of %s.' % (padding, PADDINGS))
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self.strides = int(strides)
    self.padding = padding
    self.conv = keras.layers.Conv2D(
        self.filters, self.kernel_size, strides=self.strides,
        padding='valid', use_bias=False,
        kernel_initializer=keras.initializers.HeNormal(), name='conv')

  def call(self, x):
    pad = self.kernel_size // 2
    if pad:
      mode = 'REFLECT' if self.padding == 'reflect' else 'CONSTANT'
      x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode=mode)
    return self.conv(x)

  def get_config(self):
    return {**super().get_config(), 'filters': self.filters,
            'kernel_size': self.kernel_size, 'strides': self.strides,
            'padding': self.padding}


class BasicBlock(keras.layers.Layer):
  """Two 3x3 convolutions with BatchNorm and a residual connection; a 1x1
  convolution + BatchNorm on the shortcut when the shape changes."""

  def __init__(self, filters, strides=1, project=False, padding='reflect',
               **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.strides = int(strides)
    self.project = bool(project)
    self.padding = padding
    self.conv1 = PaddedConv2D(filters, 3, strides, padding, name='conv1')
    self.bn1 = keras.layers.BatchNormalization(epsilon=1e-5, name='bn1')
    self.conv2 = PaddedConv2D(filters, 3, 1, padding, name='conv2')
    self.bn2 = keras.layers.BatchNormalization(epsilon=1e-5, name='bn2')
    if self.project:
      self.shortcut_conv = keras.layers.Conv2D(
          filters, 1, strides=strides, use_bias=False,
          kernel_initializer=keras.initializers.HeNormal(), name='shortcut')
      self.shortcut_bn = keras.layers.BatchNormalization(epsilon=1e-5,
                                                         name='shortcut_bn')

  def call(self, x, training=False):
    out = tf.nn.relu(self.bn1(self.conv1(x), training=training))
    out = self.bn2(self.conv2(out), training=training)
    shortcut = x
    if self.project:
      shortcut = self.shortcut_bn(self.shortcut_conv(x), training=training)
    return tf.nn.relu(out + shortcut)

  def get_config(self):
    return {**super().get_config(), 'filters': self.filters,
            'strides': self.strides, 'project': self.project,
            'padding': self.padding}


# (channels multiplier, stride) of the four stages; stages 3 and 4 keep
# stride 1 (ResNet-18 has 2 there), so the output stride is 8.
_STAGES = ((1, 1), (2, 2), (4, 1), (8, 1))


class FCResNet18(keras.Model):
  """Fully-convolutional ResNet-18, output stride 8.

  images [N, H, W, 3] -> features [N, ceil(H/8), ceil(W/8),
  width * 2^(num_stages - 1)].
  """

  def __init__(self, width=64, num_stages=4, padding='reflect', **kwargs):
    super().__init__(**kwargs)
    if not 1 <= int(num_stages) <= 4:
      raise ValueError('num_stages must be 1..4, got %r.' % (num_stages,))
    self.width = int(width)
    self.num_stages = int(num_stages)
    self.padding = padding
    self.stem_conv = PaddedConv2D(self.width, 7, 2, padding, name='conv1')
    self.stem_bn = keras.layers.BatchNormalization(epsilon=1e-5, name='bn1')
    self.blocks = []
    in_channels = self.width
    for stage, (mult, stride) in enumerate(_STAGES[:self.num_stages]):
      channels = self.width * mult
      first = BasicBlock(channels, stride,
                         project=stride != 1 or channels != in_channels,
                         padding=padding, name='layer%d_0' % (stage + 1))
      second = BasicBlock(channels, 1, padding=padding,
                          name='layer%d_1' % (stage + 1))
      self.blocks += [first, second]
      in_channels = channels
    _track(self, 'block', self.blocks)
    self.output_channels = in_channels

  def call(self, images, training=False, num_stages=None):
    """Features of `images`; `num_stages` (<= the built ones) stops early,
    e.g. 3 for CRW's label-propagation features."""
    num_blocks = 2 * (num_stages or self.num_stages)
    x = tf.nn.relu(self.stem_bn(self.stem_conv(images), training=training))
    x = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])  # after ReLU: as -inf
    x = tf.nn.max_pool2d(x, 3, 2, 'VALID')
    for block in self.blocks[:num_blocks]:
      x = block(x, training=training)
    return x

  def get_config(self):
    return {**super().get_config(), 'width': self.width,
            'num_stages': self.num_stages, 'padding': self.padding}
