"""Base CNNs and embedders, built from CONFIG.

A model is two parts:
- a base CNN applied to every frame: images [N, H, W, 3] in [-1, 1] ->
  feature maps [N, h, w, c];
- an embedder applied to the context frames of each sampled step: features
  [N, NUM_STEPS, h, w, c] -> embeddings [N, D].

Neither part sees where in the video a frame is (no positional encodings),
otherwise TCC could be solved by counting frames.

Weight decay follows the published TCC code: the layers it regularizes carry a
Keras L2 regularizer (`l2_regularizers`), and the training loss adds the mean
of their penalties (`algos.base.Algorithm.regularization_loss`).
"""

import importlib
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
PREPROCESSING_MODES = ('auto', 'none', 'pixels')


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


def l2_regularizers(weight, bias=True):
  """Layer kwargs that give the kernel (and bias) an L2(weight) penalty.

  Keras' L2(w) penalty of a weight v is w * sum(v^2). Returns {} when
  `weight` is 0, so that unregularized models carry no regularizer.
  """
  if not weight:
    return {}
  kwargs = {'kernel_regularizer': keras.regularizers.L2(weight)}
  if bias:
    kwargs['bias_regularizer'] = keras.regularizers.L2(weight)
  return kwargs


class SmallCNN(keras.Model):
  """A small, fast CNN for the CPU demo and the tests.

  Each stage is a stride-2 3x3 convolution, BatchNorm and ReLU, so the output
  of a 64 px image with 3 stages is [8, 8, filters[-1]].
  """

  def __init__(self, filters=(32, 64, 128), l2_reg_weight=0.0, **kwargs):
    super().__init__(**kwargs)
    self.filters = [int(f) for f in filters]
    self.l2_reg_weight = l2_reg_weight
    self.convs = track_layers(self, 'conv', [
        keras.layers.Conv2D(f, 3, strides=2, padding='same', use_bias=False,
                            name='conv%d' % i,
                            **l2_regularizers(l2_reg_weight, bias=False))
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
    return {**super().get_config(), 'filters': self.filters,
            'l2_reg_weight': self.l2_reg_weight}


def vggm(image_size, use_bn=True, l2_reg_weight=0.0):
  """The published "VGG-M-esque" network of TCC, as a functional model.

  conv1: 7x7/2 convolution with 64 filters (zero padding 3), BatchNorm when
  `use_bn`, ReLU, 3x3/2 max-pool (zero padding 1). Then three blocks of two
  3x3 convolutions (each + BatchNorm when `use_bn` + ReLU) with 128, 256 and
  512 filters; the first two blocks end in a 2x2/2 max-pool. The blocks'
  outputs are the layers 'conv2', 'conv3' and 'conv4' (cut points for
  MODEL.BASE_MODEL.LAYER); their convolutions are L2-regularized, conv1 is
  not. A 224 px image gives conv4 features [14, 14, 512].

  Args:
    image_size: input height and width in pixels.
    use_bn: MODEL.VGGM.USE_BN.
    l2_reg_weight: MODEL.L2_REG_WEIGHT.

  Returns:
    keras.Model: images [N, image_size, image_size, 3] -> conv4 features.
  """
  layers = keras.layers
  inputs = keras.Input((image_size, image_size, 3), name='frames')
  x = layers.ZeroPadding2D(3)(inputs)
  x = layers.Conv2D(64, 7, strides=2, padding='valid',
                    kernel_initializer='he_normal', name='conv1')(x)
  if use_bn:
    x = layers.BatchNormalization()(x)
  x = layers.Activation('relu')(x)
  x = layers.ZeroPadding2D(1)(x)
  x = layers.MaxPooling2D(3, strides=2, padding='valid')(x)
  for i, (filters, pool_size) in enumerate(((128, 2), (256, 2), (512, 0))):
    for _ in range(2):
      x = layers.Conv2D(filters, 3, padding='same',
                        kernel_initializer='he_normal',
                        **l2_regularizers(l2_reg_weight))(x)
      if use_bn:
        x = layers.BatchNormalization()(x)
      x = layers.Activation('relu')(x)
    # A 1x1/1 max-pool is the identity; it names the last block's output.
    x = layers.MaxPooling2D(pool_size or 1, strides=2 if pool_size else 1,
                            padding='same', name='conv%d' % (i + 2))(x)
  return keras.Model(inputs, x, name='vggm')


def keras_application_names():
  """Names of the model constructors of keras.applications."""
  return sorted(name for name in dir(keras.applications)
                if name[:1].isupper() and
                callable(getattr(keras.applications, name)))


def _application_module(network):
  """The keras.applications submodule of model `network` (has preprocess_input)."""
  constructor = getattr(keras.applications, network)
  module_name = constructor.__module__.rsplit('.', 1)[-1]
  module = getattr(keras.applications, module_name, None)
  if module is None or not hasattr(module, 'preprocess_input'):
    module = importlib.import_module(constructor.__module__)
  return module


class FramePreprocessing(keras.layers.Layer):
  """Maps frames in [-1, 1] to the input range a base network expects.

  mode 'pixels': [0, 255]; otherwise `mode` names a keras.applications model
  and its module's `preprocess_input` is applied to the [0, 255] frames.
  """

  def __init__(self, mode, **kwargs):
    super().__init__(**kwargs)
    self.mode = mode
    self._preprocess = (None if mode == 'pixels' else
                        _application_module(mode).preprocess_input)

  def call(self, images):
    """images [N, H, W, 3] in [-1, 1] -> [N, H, W, 3] for the network."""
    pixels = (images + 1.0) * 127.5
    return pixels if self._preprocess is None else self._preprocess(pixels)

  def get_config(self):
    return {**super().get_config(), 'mode': self.mode}


def _weights_hint(network):
  if network == 'ResNet50V2':
    return 'download %s' % RESNET50V2_WEIGHTS_URL
  return ("run `python -c 'import keras; keras.applications.%s("
          "include_top=False)'` on a machine with network (Keras keeps the "
          'file in ~/.keras/models/)' % network)


def _check_weights_file(weights, weights_key, network):
  """Returns the expanded local path of `weights`, or None; raises if absent."""
  if not weights or weights == 'imagenet':
    return None
  path = os.path.expanduser(weights)
  if not os.path.isfile(path):
    raise ValueError(
        '%s: weights file %s not found; %s, copy the file there and set the '
        "key to its path, or set the key to imagenet (Keras download) or '' "
        '(random init).' % (weights_key, path, _weights_hint(network)))
  if not path.endswith('.h5'):
    raise ValueError('%s: %s is not a Keras weights file; give a .weights.h5 '
                     'or .h5 file.' % (weights_key, path))
  return path


def keras_application(network, image_size, weights, weights_key):
  """A keras.applications model without its top, with the given weights.

  Args:
    network: a keras.applications model name, e.g. 'MobileNetV2'.
    image_size: input height and width in pixels.
    weights: a local .weights.h5 file (loaded strictly), a legacy .h5 file
      (matched by layer name, so the official notop files and files of the
      full model load), 'imagenet' (Keras download) or '' (random init).
    weights_key: the config key that holds `weights` (for messages).

  Returns:
    keras.Model: images [N, image_size, image_size, 3] in the network's own
    input range -> its last feature map.
  """
  path = _check_weights_file(weights, weights_key, network)
  constructor = getattr(keras.applications, network)
  try:
    model = constructor(include_top=False,
                        weights='imagenet' if weights == 'imagenet' else None,
                        input_shape=(image_size, image_size, 3))
  except ValueError as e:
    raise ValueError('MODEL.BASE_MODEL.NETWORK=%s at IMAGE_SIZE=%d: %s' % (
        network, image_size, str(e).splitlines()[0][:300])) from None
  except Exception as e:  # Keras reports a failed download as a bare Exception.
    if weights != 'imagenet':
      raise
    raise ValueError(
        '%s=imagenet: the Keras download of the %s weights failed (%s); %s and '
        'set the key to its local path.' % (
            weights_key, network, str(e).splitlines()[0][:200],
            _weights_hint(network))) from None
  if path is not None:
    try:
      if path.endswith('.weights.h5'):
        model.load_weights(path)
      else:
        model.load_weights(path, by_name=True)
    except (ValueError, KeyError) as e:
      raise ValueError(
          '%s: %s does not hold weights of %s at IMAGE_SIZE=%d (%s); give the '
          "weights file of that network, or '' (random init)." % (
              weights_key, path, network, image_size,
              str(e).splitlines()[0][:200])) from None
  return model


def load_saved_model(path, image_size):
  """A saved Keras model file (.keras), checked to take image_size frames."""
  path = os.path.expanduser(path)
  if not os.path.isfile(path):
    raise ValueError('MODEL.BASE_MODEL.NETWORK: saved model %s not found; give '
                     'the path of a file written by model.save(...).' % path)
  try:
    model = keras.models.load_model(path, compile=False)
  except Exception as e:  # pylint: disable=broad-exception-caught
    raise ValueError('MODEL.BASE_MODEL.NETWORK: cannot load %s as a Keras model '
                     '(%s).' % (path, str(e).splitlines()[0][:200])) from None
  try:
    input_shape = tuple(model.input_shape)
  except (AttributeError, ValueError):
    raise ValueError('MODEL.BASE_MODEL.NETWORK: %s is not a functional or '
                     'Sequential model with one input; save one built with '
                     'keras.Input.' % path) from None
  if len(input_shape) != 4 or any(
      d not in (None, image_size) for d in input_shape[1:3]):
    raise ValueError('MODEL.BASE_MODEL.NETWORK: %s takes inputs %s; it must '
                     'take [N, %d, %d, 3] frames (IMAGE_SIZE) or any size.' %
                     (path, input_shape, image_size, image_size))
  return model


def cut_at_layer(model, layer, network):
  """`model` from its input to the output of layer `layer` ('' = the end)."""
  if not layer:
    return model
  try:
    output = model.get_layer(layer).output
  except ValueError:
    names = [l.name for l in model.layers]
    raise ValueError(
        'MODEL.BASE_MODEL.LAYER: %s has no layer %r; its last layers are %s '
        "(or '' for the network's output)." % (
            network, layer, ', '.join(names[-6:]))) from None
  return keras.Model(model.input, output, name='%s_%s' % (model.name, layer))


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
  full = keras_application('ResNet50V2', image_size, weights,
                           'MODEL.RESNET_PRETRAINED_WEIGHTS')
  return cut_at_layer(full, layer, 'ResNet50V2')


def _preprocessing_mode(network, preprocessing):
  """'none', 'pixels' or a keras.applications name for MODEL.BASE_MODEL.*."""
  if preprocessing == 'auto':
    if network in keras_application_names():
      return network
    return 'none'
  if (preprocessing not in PREPROCESSING_MODES and
      preprocessing not in keras_application_names()):
    raise ValueError(
        'MODEL.BASE_MODEL.PREPROCESSING is %r; use auto, none, pixels or the '
        'name of a keras.applications model (e.g. MobileNetV2).' %
        preprocessing)
  return preprocessing


def _with_preprocessing(model, mode, image_size):
  """`model` fed through FramePreprocessing(mode) (none: `model` itself)."""
  if mode == 'none':
    return model
  inputs = keras.Input((image_size, image_size, 3), name='frames')
  pixels = FramePreprocessing(mode, name='preprocess_%s' % mode.lower())(inputs)
  return keras.Model(inputs, model(pixels), name=model.name + '_on_frames')


def _build_base_model(network, cfg, image_size, pretrained_weights):
  """The base network named `network` with weights, cut, without preprocessing.

  `pretrained_weights`: of Resnet50_pretrained and keras.applications models
  (see `get_base_model`).
  """
  base = cfg.MODEL.BASE_MODEL
  if network == 'SmallCNN':
    return SmallCNN(base.SMALL_CNN_FILTERS, cfg.MODEL.L2_REG_WEIGHT,
                    name='small_cnn')
  if network == 'VGGM':
    return cut_at_layer(vggm(image_size, cfg.MODEL.VGGM.USE_BN,
                             cfg.MODEL.L2_REG_WEIGHT), base.LAYER, 'VGGM')
  if network == 'Resnet50_pretrained':
    return resnet50_pretrained(image_size, base.LAYER, pretrained_weights)
  if network == 'FCResNet18':
    return resnet.FCResNet18(cfg.FC_RESNET18.WIDTH, cfg.FC_RESNET18.NUM_STAGES,
                             cfg.FC_RESNET18.PADDING, name='fc_resnet18')
  if network.endswith('.keras'):
    return cut_at_layer(load_saved_model(network, image_size), base.LAYER,
                        network)
  if network in keras_application_names():
    return cut_at_layer(keras_application(network, image_size,
                                          pretrained_weights,
                                          'MODEL.BASE_MODEL.WEIGHTS'),
                        base.LAYER, network)
  raise ValueError(
      'MODEL.BASE_MODEL.NETWORK is %r; use SmallCNN, VGGM, Resnet50_pretrained, '
      'FCResNet18, a keras.applications model (%s) or the path of a saved '
      '.keras model.' %
      (network, ', '.join(keras_application_names())))


def get_base_model(pretrained_weights=None):
  """The base CNN of MODEL.BASE_MODEL.*, with TRAIN_BASE applied.

  Args:
    pretrained_weights: the weights of a Resnet50_pretrained or
      keras.applications base: a weights file, a keras.applications name
      ('imagenet'), or '' for none (e.g. when a checkpoint restores every
      weight next, so the weights file of training need not exist). None:
      MODEL.RESNET_PRETRAINED_WEIGHTS (Resnet50_pretrained) or
      MODEL.BASE_MODEL.WEIGHTS (other keras.applications models). Other
      networks have no pretrained weights and ignore it.

  Returns:
    keras.Model: images [N, IMAGE_SIZE, IMAGE_SIZE, 3] in [-1, 1] ->
    features [N, h, w, c].
  """
  network = CONFIG.MODEL.BASE_MODEL.NETWORK
  # 'auto' feeds Resnet50_pretrained the frames as they are, like the
  # published code: [-1, 1] is ResNet50V2's own input range.
  mode = _preprocessing_mode(network, CONFIG.MODEL.BASE_MODEL.PREPROCESSING)
  if pretrained_weights is None:
    pretrained_weights = (CONFIG.MODEL.RESNET_PRETRAINED_WEIGHTS
                          if network == 'Resnet50_pretrained' else
                          CONFIG.MODEL.BASE_MODEL.WEIGHTS)
  model = _with_preprocessing(
      _build_base_model(network, CONFIG, CONFIG.IMAGE_SIZE,
                        pretrained_weights), mode, CONFIG.IMAGE_SIZE)
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


@keras.saving.register_keras_serializable(package='tcc_video')
class ShortClipConv3D(keras.layers.Conv3D):
  """keras.layers.Conv3D ('same' padding, stride 1) that skips the padding of
  clips shorter than its temporal kernel.

  The embedder's clips hold NUM_STEPS context frames (1 or 2 in the demos)
  while its kernels are 3 frames deep, so a plain Conv3D spends a third to
  two thirds of its work on the zero frames of 'same' padding. For such a
  clip, each output frame t is one 2D convolution of the input frames its
  kernel reaches (taps j with 0 <= t + j - (k - 1) // 2 < T, the padding TF
  adds before the clip), stacked along channels against the matching taps of
  the same kernel. The output equals Conv3D's (tests/test_models.py), the
  variables and checkpoints are Conv3D's, and clips at least as long as the
  kernel go through Conv3D itself.
  """

  def call(self, inputs):
    """inputs [N, T, H, W, C] -> [N, T, H, W, filters]."""
    depth = self.kernel_size[0]
    num_frames = inputs.shape[1]
    if (num_frames is None or num_frames >= depth or self.padding != 'same'
        or tuple(self.strides) != (1, 1, 1)
        or tuple(self.dilation_rate) != (1, 1, 1) or self.groups != 1
        or self.data_format != 'channels_last'):
      return super().call(inputs)
    kernel = tf.cast(self.kernel, inputs.dtype)
    before = (depth - 1) // 2
    outputs = []
    for t in range(num_frames):
      taps = [j for j in range(depth) if 0 <= t + j - before < num_frames]
      frames = tf.concat([inputs[:, t + j - before] for j in taps], axis=-1)
      outputs.append(tf.nn.conv2d(
          frames, tf.concat([kernel[j] for j in taps], axis=2), 1, 'SAME'))
    outputs = tf.stack(outputs, axis=1)
    if self.use_bias:
      outputs += tf.cast(self.bias, outputs.dtype)
    return self.activation(outputs) if self.activation else outputs


def conv_bn_relu_layers(owner, conv_class, conv_layers, use_bn, l2_reg_weight,
                       capacity_scalar=1):
  """The conv layers of an embedder: [filters, kernel_size, activate] each.

  Every conv (`filters * capacity_scalar` filters, 'same' padding, with bias,
  L2-regularized) is followed by BatchNorm when `use_bn` and by a ReLU when
  `activate`. The layers are tracked on `owner`.

  Returns:
    (convs, bns, activates): lists; bns holds None where there is no BN.
  """
  convs = [conv_class(int(filters * capacity_scalar), kernel_size,
                      padding='same', name='conv_%d' % i,
                      **l2_regularizers(l2_reg_weight))
           for i, (filters, kernel_size, _) in enumerate(conv_layers)]
  bns = [keras.layers.BatchNormalization(name='conv_bn_%d' % i)
         if use_bn else None for i in range(len(conv_layers))]
  return _tracked_stack(owner, 'conv', convs, bns,
                        [bool(layer[2]) for layer in conv_layers])


def _tracked_stack(owner, prefix, layers, bns, activates):
  """Tracks `layers` and `bns` on `owner`; returns (layers, bns, activates)."""
  track_layers(owner, prefix, layers)
  track_layers(owner, prefix + '_bn', bns)
  return layers, bns, activates


def dense_bn_relu_layers(owner, fc_layers, batch_norm, l2_reg_weight,
                        capacity_scalar=1, output_layer=False):
  """Fully connected layers: [units, activate] each.

  Every Dense (`units * capacity_scalar` units, L2-regularized) is followed
  by BatchNorm when `batch_norm` (the Dense then has no bias) and by a ReLU
  when `activate`. With `output_layer`, the last Dense is an output: no
  BatchNorm, float32 under mixed precision. The layers are tracked on `owner`.

  Returns:
    (fcs, bns, activates): lists; bns holds None where there is no BN.
  """
  num_layers = len(fc_layers)
  with_bn = [batch_norm and not (output_layer and i == num_layers - 1)
             for i in range(num_layers)]
  fcs = [keras.layers.Dense(
      int(units * capacity_scalar), use_bias=not with_bn[i],
      dtype='float32' if output_layer and i == num_layers - 1 else None,
      name='fc_%d' % i, **l2_regularizers(l2_reg_weight, bias=not with_bn[i]))
         for i, (units, _) in enumerate(fc_layers)]
  bns = [keras.layers.BatchNormalization(name='fc_bn_%d' % i) if bn else None
         for i, bn in enumerate(with_bn)]
  return _tracked_stack(owner, 'fc', fcs, bns,
                        [bool(layer[1]) for layer in fc_layers])


def apply_layers(x, layers, bns, activates, training, dropout=None):
  """Runs (dropout,) layer, BatchNorm, ReLU as built by *_bn_relu_layers."""
  for layer, bn, activate in zip(layers, bns, activates):
    if dropout is not None:
      x = dropout(x, training=training)
    x = layer(x)
    if bn is not None:
      x = bn(x, training=training)
    if activate:
      x = tf.nn.relu(x)
  return x


class Classifier(keras.Model):
  """The published classifier head: fully connected layers [units, activate].

  Each layer: dropout, Dense, BatchNorm when `batch_norm` (not on the last
  layer), ReLU when `activate`. The last layer gives float32 logits. Input
  [N, C] -> logits [N, units of the last layer].
  """

  def __init__(self, fc_layers, dropout_rate=0.0, batch_norm=False,
               l2_reg_weight=0.0, **kwargs):
    super().__init__(**kwargs)
    self.fc_layers_spec = [list(layer) for layer in fc_layers]
    self.dropout_rate = dropout_rate
    self.batch_norm = batch_norm
    self.l2_reg_weight = l2_reg_weight
    self.dropout = keras.layers.Dropout(dropout_rate)
    self.fcs, self.bns, self.activates = dense_bn_relu_layers(
        self, self.fc_layers_spec, batch_norm, l2_reg_weight,
        output_layer=True)

  def call(self, inputs, training=False):
    """inputs [N, C] -> logits [N, units of the last layer]."""
    return apply_layers(inputs, self.fcs, self.bns, self.activates, training,
                        dropout=self.dropout)

  def get_config(self):
    return {**super().get_config(), 'fc_layers': self.fc_layers_spec,
            'dropout_rate': self.dropout_rate, 'batch_norm': self.batch_norm,
            'l2_reg_weight': self.l2_reg_weight}


class ConvEmbedder(keras.Model):
  """3D convolutions over context frames, pooling, FC layers, linear output.

  Input features [N, NUM_STEPS, h, w, c] (the context frames of N sampled
  steps, in time order); output embeddings [N, embedding_size].

  conv_layers: [filters, kernel_size, activate] (see conv_bn_relu_layers);
  fc_layers: [units, activate], each after dropout `fc_dropout_rate`, with
  BatchNorm when `fc_batch_norm`. Widths are multiplied by capacity_scalar.
  """

  def __init__(self, conv_layers, fc_layers, embedding_size,
               flatten_method='max_pool', capacity_scalar=1, use_bn=True,
               l2_normalize=False, base_dropout_rate=0.0,
               base_dropout_spatial=False, fc_dropout_rate=0.0,
               fc_batch_norm=False, l2_reg_weight=0.0, **kwargs):
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
    self.fc_batch_norm = fc_batch_norm
    self.l2_reg_weight = l2_reg_weight

    if base_dropout_spatial:
      self.base_dropout = keras.layers.SpatialDropout3D(base_dropout_rate)
    else:
      self.base_dropout = keras.layers.Dropout(base_dropout_rate)
    self.convs, self.conv_bns, self.conv_activates = conv_bn_relu_layers(
        self, ShortClipConv3D, self.conv_layers_spec, use_bn,
        l2_reg_weight, capacity_scalar)
    self.fcs, self.fc_bns, self.fc_activates = dense_bn_relu_layers(
        self, self.fc_layers_spec, fc_batch_norm, l2_reg_weight,
        capacity_scalar)
    self.fc_dropout = keras.layers.Dropout(fc_dropout_rate)
    self.embedding_layer = keras.layers.Dense(
        self.embedding_size, dtype='float32', name='embedding',
        **l2_regularizers(l2_reg_weight))

  def call(self, features, training=False):
    """features [N, NUM_STEPS, h, w, c] -> embeddings [N, D] float32."""
    x = self.base_dropout(features, training=training)
    x = apply_layers(x, self.convs, self.conv_bns, self.conv_activates,
                     training)
    if self.flatten_method == 'max_pool':
      x = tf.reduce_max(x, axis=[1, 2, 3])
    elif self.flatten_method == 'avg_pool':
      x = tf.reduce_mean(x, axis=[1, 2, 3])
    else:
      x = tf.reshape(x, [tf.shape(x)[0], x.shape[1] * x.shape[2] * x.shape[3] *
                         x.shape[4]])
    x = apply_layers(x, self.fcs, self.fc_bns, self.fc_activates, training,
                     dropout=self.fc_dropout)
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
            'fc_dropout_rate': self.fc_dropout_rate,
            'fc_batch_norm': self.fc_batch_norm,
            'l2_reg_weight': self.l2_reg_weight}


class ConvGRUEmbedder(keras.Model):
  """Per-frame 2D convolutions, spatial max-pool, GRUs over context frames.

  The GRUs run over the NUM_STEPS context frames of one sampled step only
  (never over the sequence of sampled steps, which would let the model count
  positions). conv_layers: [filters, kernel_size, activate], each after
  dropout `dropout_rate`. Input [N, NUM_STEPS, h, w, c]; output
  [N, embedding_size].
  """

  def __init__(self, conv_layers, gru_layers, embedding_size, use_bn=True,
               dropout_rate=0.0, l2_reg_weight=0.0, **kwargs):
    super().__init__(**kwargs)
    self.conv_layers_spec = [list(c) for c in conv_layers]
    self.gru_layers_spec = [int(u) for u in gru_layers]
    self.embedding_size = int(embedding_size)
    self.use_bn = use_bn
    self.dropout_rate = dropout_rate
    self.l2_reg_weight = l2_reg_weight
    self.convs, self.conv_bns, self.conv_activates = conv_bn_relu_layers(
        self, keras.layers.Conv2D, self.conv_layers_spec, use_bn,
        l2_reg_weight)
    self.grus = track_layers(self, 'gru', [
        keras.layers.GRU(units, return_sequences=i < len(gru_layers) - 1,
                         name='gru_%d' % i, **l2_regularizers(l2_reg_weight))
        for i, units in enumerate(self.gru_layers_spec)])
    self.dropout = keras.layers.Dropout(dropout_rate)
    self.embedding_layer = keras.layers.Dense(
        self.embedding_size, dtype='float32', name='embedding',
        **l2_regularizers(l2_reg_weight))

  def call(self, features, training=False):
    """features [N, NUM_STEPS, h, w, c] -> embeddings [N, D] float32."""
    num_steps = features.shape[1]
    x = tf.reshape(features, [-1] + list(features.shape[2:]))
    x = apply_layers(x, self.convs, self.conv_bns, self.conv_activates,
                     training, dropout=self.dropout)
    x = tf.reduce_max(x, axis=[1, 2])
    x = tf.reshape(x, [-1, num_steps, x.shape[-1]])
    for gru in self.grus:
      x = gru(x, training=training)
    return self.embedding_layer(x)

  def get_config(self):
    return {**super().get_config(),
            'conv_layers': self.conv_layers_spec,
            'gru_layers': self.gru_layers_spec,
            'embedding_size': self.embedding_size,
            'use_bn': self.use_bn,
            'dropout_rate': self.dropout_rate,
            'l2_reg_weight': self.l2_reg_weight}


def sincos_positions(num_steps, depth, train_length):
  """CARL's sin-cos positional encoding of a sequence: [num_steps, depth].

  Positions are linspace(0, train_length - 1, num_steps) (0, 1, ... when the
  sequence has the training length): channel 2k holds
  sin(p / 10000^(2k / depth)), channel 2k+1 cos(p / 10000^((2k+1) / depth)).
  """
  positions = tf.linspace(0.0, float(train_length - 1), num_steps)[:, None]
  channels = tf.range(depth, dtype=tf.float32)[None, :]
  angles = positions / tf.pow(10000.0, channels / float(depth))
  even = tf.equal(tf.math.floormod(tf.range(depth), 2), 0)[None, :]
  return tf.where(even, tf.sin(angles), tf.cos(angles))


class TransformerEmbedder(keras.Model):
  """CARL's Transformer over the per-frame features of whole sequences.

  Per sampled step: spatial and context max-pool, FC layers, a linear map to
  `hidden_size`; then (optionally) sin-cos positional encoding and
  `num_layers` pre-LayerNorm self-attention encoder layers over the steps of
  a sequence; a linear layer to `embedding_size`, optional L2 normalisation.

  Unlike the other embedders it sees a whole sequence (`embeds_sequences`):
  input features [B, S, NUM_STEPS, h, w, c], output [B, S, embedding_size].
  With positional encoding it can read a frame's position, which solves TCC,
  LAV and GTA without looking at the frames (see docs/alignment_methods.md);
  train it with SCL.
  """

  embeds_sequences = True

  def __init__(self, fc_layers, hidden_size, num_layers, num_heads, d_ff,
               embedding_size, train_length, dropout_rate=0.1,
               positional_encoding=True, l2_normalize=True, **kwargs):
    super().__init__(**kwargs)
    self.fc_layers_spec = [list(f) for f in fc_layers]
    self.hidden_size = int(hidden_size)
    self.num_layers = int(num_layers)
    self.num_heads = int(num_heads)
    self.d_ff = int(d_ff)
    self.embedding_size = int(embedding_size)
    self.train_length = int(train_length)
    self.dropout_rate = dropout_rate
    self.positional_encoding = positional_encoding
    self.l2_normalize = l2_normalize
    self.fcs = track_layers(self, 'fc', [
        keras.layers.Dense(int(units), use_bias=not bn, name='fc_%d' % i)
        for i, (units, bn) in enumerate(fc_layers)])
    self.fc_bns = track_layers(self, 'fc_bn', [
        keras.layers.BatchNormalization(name='fc_bn_%d' % i) if bn else None
        for i, (_, bn) in enumerate(fc_layers)])
    self.dropout = keras.layers.Dropout(dropout_rate)
    self.input_projection = keras.layers.Dense(self.hidden_size,
                                               name='input_projection')
    make = lambda cls, name, **kw: track_layers(self, name, [
        cls(name='%s_%d' % (name, i), **kw) for i in range(self.num_layers)])
    self.attention_norms = make(keras.layers.LayerNormalization, 'att_norm')
    self.attentions = make(keras.layers.MultiHeadAttention, 'attention',
                           num_heads=self.num_heads,
                           key_dim=self.hidden_size // self.num_heads)
    self.ff_norms = make(keras.layers.LayerNormalization, 'ff_norm')
    self.ff_inner = make(keras.layers.Dense, 'ff_inner', units=self.d_ff,
                         activation='relu')
    self.ff_outer = make(keras.layers.Dense, 'ff_outer',
                         units=self.hidden_size)
    self.embedding_layer = keras.layers.Dense(self.embedding_size,
                                              dtype='float32', name='embedding')

  def call(self, features, training=False):
    """features [B, S, NUM_STEPS, h, w, c] -> embeddings [B, S, D] float32."""
    x = tf.reduce_max(features, axis=[2, 3, 4])                    # [B, S, c]
    for fc, bn in zip(self.fcs, self.fc_bns):
      x = fc(self.dropout(x, training=training))
      if bn is not None:
        x = bn(x, training=training)
      x = tf.nn.relu(x)
    x = self.input_projection(x)
    if self.positional_encoding:
      x += tf.cast(sincos_positions(tf.shape(x)[1], self.hidden_size,
                                    self.train_length), x.dtype)[None]
    x = self.dropout(x, training=training)
    for i in range(self.num_layers):
      y = self.attention_norms[i](x)
      y = self.attentions[i](y, y, training=training)
      x += self.dropout(y, training=training)
      y = self.ff_outer[i](self.ff_inner[i](self.ff_norms[i](x)))
      x += self.dropout(y, training=training)
    embs = self.embedding_layer(x)
    if self.l2_normalize:
      embs = tf.math.l2_normalize(embs, axis=-1)
    return embs

  def get_config(self):
    return {**super().get_config(),
            'fc_layers': self.fc_layers_spec,
            'hidden_size': self.hidden_size,
            'num_layers': self.num_layers,
            'num_heads': self.num_heads,
            'd_ff': self.d_ff,
            'embedding_size': self.embedding_size,
            'train_length': self.train_length,
            'dropout_rate': self.dropout_rate,
            'positional_encoding': self.positional_encoding,
            'l2_normalize': self.l2_normalize}


EMBEDDER_TYPES = ('conv', 'convgru', 'transformer')


def get_embedder():
  """The embedder named by MODEL.EMBEDDER_TYPE."""
  embedder_type = CONFIG.MODEL.EMBEDDER_TYPE
  _check_choice('MODEL.EMBEDDER_TYPE', embedder_type, EMBEDDER_TYPES)
  l2_reg_weight = CONFIG.MODEL.L2_REG_WEIGHT
  if embedder_type == 'conv':
    cfg = CONFIG.MODEL.CONV_EMBEDDER_MODEL
    embedder = ConvEmbedder(
        conv_layers=cfg.CONV_LAYERS, fc_layers=cfg.FC_LAYERS,
        embedding_size=cfg.EMBEDDING_SIZE, flatten_method=cfg.FLATTEN_METHOD,
        capacity_scalar=cfg.CAPACITY_SCALAR, use_bn=cfg.USE_BN,
        l2_normalize=cfg.L2_NORMALIZE,
        base_dropout_rate=cfg.BASE_DROPOUT_RATE,
        base_dropout_spatial=cfg.BASE_DROPOUT_SPATIAL,
        fc_dropout_rate=cfg.FC_DROPOUT_RATE, fc_batch_norm=cfg.FC_BATCH_NORM,
        l2_reg_weight=l2_reg_weight, name='conv_embedder')
  elif embedder_type == 'transformer':
    cfg = CONFIG.MODEL.TRANSFORMER_EMBEDDER_MODEL
    embedder = TransformerEmbedder(
        fc_layers=cfg.FC_LAYERS, hidden_size=cfg.HIDDEN_SIZE,
        num_layers=cfg.NUM_LAYERS, num_heads=cfg.NUM_HEADS, d_ff=cfg.D_FF,
        embedding_size=cfg.EMBEDDING_SIZE,
        train_length=CONFIG.TRAIN.NUM_FRAMES, dropout_rate=cfg.DROPOUT_RATE,
        positional_encoding=cfg.POSITIONAL_ENCODING,
        l2_normalize=cfg.L2_NORMALIZE, name='transformer_embedder')
  else:
    cfg = CONFIG.MODEL.CONVGRU_EMBEDDER_MODEL
    embedder = ConvGRUEmbedder(
        conv_layers=cfg.CONV_LAYERS, gru_layers=cfg.GRU_LAYERS,
        embedding_size=cfg.EMBEDDING_SIZE, use_bn=cfg.USE_BN,
        dropout_rate=cfg.DROPOUT_RATE, l2_reg_weight=l2_reg_weight,
        name='convgru_embedder')
  embedder.trainable = CONFIG.MODEL.TRAIN_EMBEDDING
  return embedder
