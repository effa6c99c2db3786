"""Base CNNs and embedders, built from CONFIG (SPEC section 6).

A model is two parts:
- a base CNN applied to every frame: images [N, H, W, 3] in [-1, 1] ->
  feature maps [N, h, w, c];
- an embedder applied to the context frames of each sampled step: features
  [N, NUM_STEPS, h, w, c] -> embeddings [N, D].

Neither part sees where in the video a frame is (no positional encodings),
otherwise TCC could be solved by counting frames.
"""

import os

import keras
import tensorflow as tf

from config import CONFIG
from correspondence import resnet

# Where the official Keras notop ResNet50V2 weights can be downloaded from.
RESNET50V2_WEIGHTS_URL = (
    'https://storage.googleapis.com/tensorflow/keras-applications/resnet/'
    'resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5')

TRAIN_BASE_MODES = ('frozen', 'only_bn', 'train_all')


def track_layers(owner, prefix, layers):
  """Also stores `layers` as attributes `<prefix>_<i>` of `owner`.

  tf.train.Checkpoint does not follow the lists Keras 3 tracks, so layers kept
  only in a list would be missing from checkpoints. Returns `layers`.
  """
  for i, layer in enumerate(layers):
    if layer is not None:
      setattr(owner, '%s_%d' % (prefix, i), layer)
  return layers


def _check_choice(key, value, choices):
  if value not in choices:
    raise ValueError('%s is %r; use one of: %s.' %
                     (key, value, ', '.join(choices)))


class SmallCNN(keras.Model):
  """A small, fast CNN for the CPU demo and the tests.

  Each stage is a stride-2 3x3 convolution, BatchNorm and ReLU, so the output
  of a 64 px image with 3 stages is [8, 8, filters[-1]].
  """

  def __init__(self, filters=(32, 64, 128), **kwargs):
    super().__init__(**kwargs)
    self.filters = [int(f) for f in filters]
    self.convs = track_layers(self, 'conv', [
        keras.layers.Conv2D(f, 3, strides=2, padding='same', use_bias=False,
                            name='conv%d' % i)
        for i, f in enumerate(self.filters)])
    self.bns = track_layers(self, 'bn', [
        keras.layers.BatchNormalization(name='bn%d' % i)
        for i in range(len(self.filters))])

  def call(self, images, training=False):
    """images [N, H, W, 3] -> features [N, H / 2^k, W / 2^k, filters[-1]]."""
    x = images
    for conv, bn in zip(self.convs, self.bns):
      x = tf.nn.relu(bn(conv(x), training=training))
    return x

  def get_config(self):
    return {**super().get_config(), 'filters': self.filters}


class VGGM(keras.Model):
  """VGG-M (Chatfield et al., 2014) with BatchNorm instead of LRN.

  Trained from scratch. Output stride 16: a 224 px image gives [14, 14, 512],
  the same grid as ResNet50V2 cut at conv4_block3_out.
  """

  # (filters, kernel size, stride, max-pool after).
  LAYERS = ((96, 7, 2, True), (256, 5, 2, True), (512, 3, 1, False),
            (512, 3, 1, False), (512, 3, 1, False))

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.convs = []
    self.bns = []
    self.pools = []
    for i, (filters, size, stride, pool) in enumerate(self.LAYERS):
      self.convs.append(keras.layers.Conv2D(
          filters, size, strides=stride, padding='same', use_bias=False,
          name='conv%d' % (i + 1)))
      self.bns.append(keras.layers.BatchNormalization(name='bn%d' % (i + 1)))
      self.pools.append(
          keras.layers.MaxPooling2D(3, strides=2, padding='same',
                                    name='pool%d' % (i + 1)) if pool else None)
    track_layers(self, 'conv', self.convs)
    track_layers(self, 'bn', self.bns)

  def call(self, images, training=False):
    """images [N, H, W, 3] -> features [N, H / 16, W / 16, 512]."""
    x = images
    for conv, bn, pool in zip(self.convs, self.bns, self.pools):
      x = tf.nn.relu(bn(conv(x), training=training))
      if pool is not None:
        x = pool(x)
    return x


def resnet50_pretrained(image_size, layer, weights):
  """Keras ResNet50V2 cut at `layer`, as a functional model.

  Args:
    image_size: input height and width in pixels.
    layer: name of the output layer, e.g. 'conv4_block3_out' ([14, 14, 1024]
      at 224 px).
    weights: a local Keras weights file (.h5), 'imagenet' (Keras download) or
      '' for random initialization.

  Returns:
    A keras.Model mapping images [N, H, W, 3] in [-1, 1] (ResNet50V2's own
    preprocessing range) to features of `layer`.
  """
  if weights and weights != 'imagenet':
    path = os.path.expanduser(weights)
    if not os.path.isfile(path):
      raise ValueError(
          'MODEL.RESNET_PRETRAINED_WEIGHTS: weights file %s not found; '
          'download %s there, or set the key to imagenet (Keras download) or '
          "'' (random init)." % (path, RESNET50V2_WEIGHTS_URL))
  try:
    full = keras.applications.ResNet50V2(
        include_top=False,
        weights='imagenet' if weights == 'imagenet' else None,
        input_shape=(image_size, image_size, 3))
  except Exception as e:  # Keras reports a failed download as a bare Exception.
    if weights != 'imagenet':
      raise
    raise ValueError(
        'MODEL.RESNET_PRETRAINED_WEIGHTS=imagenet: the Keras download failed '
        '(%s); download %s and set the key to its local path.' %
        (str(e).splitlines()[0][:200], RESNET50V2_WEIGHTS_URL)) from None
  if weights and weights != 'imagenet':
    if path.endswith('.weights.h5'):
      full.load_weights(path)
    else:
      # Legacy .h5 files (the official notop file) are matched by layer name,
      # so files from a full ResNet50V2 (with top) also load.
      full.load_weights(path, by_name=True)
  try:
    output = full.get_layer(layer).output
  except ValueError:
    raise ValueError(
        'MODEL.BASE_MODEL.LAYER: ResNet50V2 has no layer %r; use a layer name '
        'such as conv4_block3_out or conv5_block3_out.' % layer) from None
  return keras.Model(full.input, output, name='resnet50v2_' + layer)


BASE_NETWORKS = ('Resnet50_pretrained', 'VGGM', 'SmallCNN', 'FCResNet18')


def get_base_model():
  """The base CNN named by MODEL.BASE_MODEL.NETWORK, with TRAIN_BASE applied."""
  network = CONFIG.MODEL.BASE_MODEL.NETWORK
  _check_choice('MODEL.BASE_MODEL.NETWORK', network, BASE_NETWORKS)
  if network == 'Resnet50_pretrained':
    model = resnet50_pretrained(CONFIG.IMAGE_SIZE, CONFIG.MODEL.BASE_MODEL.LAYER,
                                CONFIG.MODEL.RESNET_PRETRAINED_WEIGHTS)
  elif network == 'VGGM':
    model = VGGM(name='vggm')
  elif network == 'FCResNet18':
    model = resnet.FCResNet18(CONFIG.FC_RESNET18.WIDTH,
                              CONFIG.FC_RESNET18.NUM_STAGES,
                              CONFIG.FC_RESNET18.PADDING, name='fc_resnet18')
  else:
    model = SmallCNN(CONFIG.MODEL.BASE_MODEL.SMALL_CNN_FILTERS,
                     name='small_cnn')
  set_train_base(model, CONFIG.MODEL.TRAIN_BASE)
  return model


def set_train_base(model, mode):
  """Marks which weights of the base CNN train (MODEL.TRAIN_BASE).

  'frozen': nothing trains; the caller runs the base with training=False so
  BatchNorm uses and keeps its moving statistics. 'only_bn': only BatchNorm
  gamma/beta train (and BatchNorm updates its statistics in training mode).
  'train_all': everything trains.
  """
  _check_choice('MODEL.TRAIN_BASE', mode, TRAIN_BASE_MODES)
  model.trainable = mode != 'frozen'
  if mode == 'only_bn':
    for layer in model._flatten_layers(include_self=False, recursive=True):  # pylint: disable=protected-access
      if not list(layer._flatten_layers(include_self=False)):  # pylint: disable=protected-access
        layer.trainable = isinstance(layer, keras.layers.BatchNormalization)


class ConvEmbedder(keras.Model):
  """3D convolutions over context frames, pooling, FC layers, linear output.

  Input features [N, NUM_STEPS, h, w, c] (the context frames of N sampled
  steps, in time order); output embeddings [N, embedding_size].
  """

  def __init__(self, conv_layers, fc_layers, embedding_size,
               flatten_method='max_pool', capacity_scalar=1, use_bn=True,
               l2_normalize=False, base_dropout_rate=0.0,
               base_dropout_spatial=False, fc_dropout_rate=0.0, **kwargs):
    super().__init__(**kwargs)
    _check_choice('MODEL.CONV_EMBEDDER_MODEL.FLATTEN_METHOD', flatten_method,
                  ('max_pool', 'avg_pool', 'flatten'))
    self.conv_layers_spec = [list(c) for c in conv_layers]
    self.fc_layers_spec = [list(f) for f in fc_layers]
    self.embedding_size = int(embedding_size)
    self.flatten_method = flatten_method
    self.capacity_scalar = capacity_scalar
    self.use_bn = use_bn
    self.l2_normalize = l2_normalize
    self.base_dropout_rate = base_dropout_rate
    self.base_dropout_spatial = base_dropout_spatial
    self.fc_dropout_rate = fc_dropout_rate

    if base_dropout_spatial:
      self.base_dropout = keras.layers.SpatialDropout3D(base_dropout_rate)
    else:
      self.base_dropout = keras.layers.Dropout(base_dropout_rate)
    self.convs = []
    self.conv_bns = []
    for i, (filters, kernel_size, batch_norm) in enumerate(conv_layers):
      bn = batch_norm and use_bn
      self.convs.append(keras.layers.Conv3D(
          int(filters * capacity_scalar), kernel_size, padding='same',
          use_bias=not bn, name='conv3d_%d' % i))
      self.conv_bns.append(
          keras.layers.BatchNormalization(name='conv_bn_%d' % i) if bn else None)
    self.fcs = []
    self.fc_bns = []
    for i, (units, batch_norm) in enumerate(fc_layers):
      bn = batch_norm and use_bn
      self.fcs.append(keras.layers.Dense(int(units * capacity_scalar),
                                         use_bias=not bn, name='fc_%d' % i))
      self.fc_bns.append(
          keras.layers.BatchNormalization(name='fc_bn_%d' % i) if bn else None)
    track_layers(self, 'conv', self.convs)
    track_layers(self, 'conv_bn', self.conv_bns)
    track_layers(self, 'fc', self.fcs)
    track_layers(self, 'fc_bn', self.fc_bns)
    self.fc_dropout = keras.layers.Dropout(fc_dropout_rate)
    self.embedding_layer = keras.layers.Dense(self.embedding_size,
                                              dtype='float32', name='embedding')

  def call(self, features, training=False):
    """features [N, NUM_STEPS, h, w, c] -> embeddings [N, D] float32."""
    x = self.base_dropout(features, training=training)
    for conv, bn in zip(self.convs, self.conv_bns):
      x = conv(x)
      if bn is not None:
        x = bn(x, training=training)
      x = tf.nn.relu(x)
    if self.flatten_method == 'max_pool':
      x = tf.reduce_max(x, axis=[1, 2, 3])
    elif self.flatten_method == 'avg_pool':
      x = tf.reduce_mean(x, axis=[1, 2, 3])
    else:
      x = tf.reshape(x, [tf.shape(x)[0], x.shape[1] * x.shape[2] * x.shape[3] *
                         x.shape[4]])
    for fc, bn in zip(self.fcs, self.fc_bns):
      x = self.fc_dropout(x, training=training)
      x = fc(x)
      if bn is not None:
        x = bn(x, training=training)
      x = tf.nn.relu(x)
    embs = self.embedding_layer(x)
    if self.l2_normalize:
      embs = tf.math.l2_normalize(embs, axis=-1)
    return embs

  def get_config(self):
    return {**super().get_config(),
            'conv_layers': self.conv_layers_spec,
            'fc_layers': self.fc_layers_spec,
            'embedding_size': self.embedding_size,
            'flatten_method': self.flatten_method,
            'capacity_scalar': self.capacity_scalar,
            'use_bn': self.use_bn,
            'l2_normalize': self.l2_normalize,
            'base_dropout_rate': self.base_dropout_rate,
            'base_dropout_spatial': self.base_dropout_spatial,
            'fc_dropout_rate': self.fc_dropout_rate}


class ConvGRUEmbedder(keras.Model):
  """Per-frame 2D convolutions, spatial max-pool, GRUs over context frames.

  The GRUs run over the NUM_STEPS context frames of one sampled step only
  (never over the sequence of sampled steps, which would let the model count
  positions). Input [N, NUM_STEPS, h, w, c]; output [N, embedding_size].
  """

  def __init__(self, conv_layers, gru_layers, embedding_size, use_bn=True,
               dropout_rate=0.0, **kwargs):
    super().__init__(**kwargs)
    self.conv_layers_spec = [list(c) for c in conv_layers]
    self.gru_layers_spec = [int(u) for u in gru_layers]
    self.embedding_size = int(embedding_size)
    self.use_bn = use_bn
    self.dropout_rate = dropout_rate
    self.convs = []
    self.conv_bns = []
    for i, (filters, kernel_size, batch_norm) in enumerate(conv_layers):
      bn = batch_norm and use_bn
      self.convs.append(keras.layers.Conv2D(filters, kernel_size,
                                            padding='same', use_bias=not bn,
                                            name='conv2d_%d' % i))
      self.conv_bns.append(
          keras.layers.BatchNormalization(name='conv_bn_%d' % i) if bn else None)
    track_layers(self, 'conv', self.convs)
    track_layers(self, 'conv_bn', self.conv_bns)
    self.grus = track_layers(self, 'gru', [
        keras.layers.GRU(units, return_sequences=i < len(gru_layers) - 1,
                         name='gru_%d' % i)
        for i, units in enumerate(self.gru_layers_spec)])
    self.dropout = keras.layers.Dropout(dropout_rate)
    self.embedding_layer = keras.layers.Dense(self.embedding_size,
                                              dtype='float32', name='embedding')

  def call(self, features, training=False):
    """features [N, NUM_STEPS, h, w, c] -> embeddings [N, D] float32."""
    num_steps = features.shape[1]
    x = tf.reshape(features, [-1] + list(features.shape[2:]))
    for conv, bn in zip(self.convs, self.conv_bns):
      x = conv(x)
      if bn is not None:
        x = bn(x, training=training)
      x = tf.nn.relu(x)
    x = tf.reduce_max(x, axis=[1, 2])
    x = tf.reshape(x, [-1, num_steps, x.shape[-1]])
    for gru in self.grus:
      x = gru(x, training=training)
    x = self.dropout(x, training=training)
    return self.embedding_layer(x)

  def get_config(self):
    return {**super().get_config(),
            'conv_layers': self.conv_layers_spec,
            'gru_layers': self.gru_layers_spec,
            'embedding_size': self.embedding_size,
            'use_bn': self.use_bn,
            'dropout_rate': self.dropout_rate}


EMBEDDER_TYPES = ('conv', 'convgru')


def get_embedder():
  """The embedder named by MODEL.EMBEDDER_TYPE."""
  embedder_type = CONFIG.MODEL.EMBEDDER_TYPE
  _check_choice('MODEL.EMBEDDER_TYPE', embedder_type, EMBEDDER_TYPES)
  if embedder_type == 'conv':
    cfg = CONFIG.MODEL.CONV_EMBEDDER_MODEL
    embedder = ConvEmbedder(
        conv_layers=cfg.CONV_LAYERS, fc_layers=cfg.FC_LAYERS,
        embedding_size=cfg.EMBEDDING_SIZE, flatten_method=cfg.FLATTEN_METHOD,
        capacity_scalar=cfg.CAPACITY_SCALAR, use_bn=cfg.USE_BN,
        l2_normalize=cfg.L2_NORMALIZE,
        base_dropout_rate=cfg.BASE_DROPOUT_RATE,
        base_dropout_spatial=cfg.BASE_DROPOUT_SPATIAL,
        fc_dropout_rate=cfg.FC_DROPOUT_RATE, name='conv_embedder')
  else:
    cfg = CONFIG.MODEL.CONVGRU_EMBEDDER_MODEL
    embedder = ConvGRUEmbedder(
        conv_layers=cfg.CONV_LAYERS, gru_layers=cfg.GRU_LAYERS,
        embedding_size=cfg.EMBEDDING_SIZE, use_bn=cfg.USE_BN,
        dropout_rate=cfg.DROPOUT_RATE, name='convgru_embedder')
  embedder.trainable = CONFIG.MODEL.TRAIN_EMBEDDING
  return embedder
