"""Tests of models.py: base CNNs, TRAIN_BASE modes, embedders."""

import os

import h5py
import keras
from keras.src.legacy.saving import legacy_h5_format
import numpy as np
import pytest
import tensorflow as tf

import models
from config import CONFIG


def _tiny_config(cfg):
  cfg.IMAGE_SIZE = 32
  cfg.MODEL.BASE_MODEL.SMALL_CNN_FILTERS = [8, 16]
  cfg.MODEL.CONV_EMBEDDER_MODEL.CONV_LAYERS = [[8, 3, True]]
  cfg.MODEL.CONV_EMBEDDER_MODEL.FC_LAYERS = [[8, True]]
  cfg.MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE = 6
  cfg.MODEL.CONV_EMBEDDER_MODEL.FC_DROPOUT_RATE = 0.0
  cfg.MODEL.CONVGRU_EMBEDDER_MODEL.CONV_LAYERS = [[8, 3, True]]
  cfg.MODEL.CONVGRU_EMBEDDER_MODEL.GRU_LAYERS = [8, 7]
  cfg.MODEL.CONVGRU_EMBEDDER_MODEL.EMBEDDING_SIZE = 5


@pytest.fixture(autouse=True)
def tiny(fresh_config):
  _tiny_config(fresh_config)
  keras.utils.set_random_seed(0)


def _images(n=4, size=32):
  return tf.random.uniform([n, size, size, 3], -1.0, 1.0, seed=1)


def test_small_cnn_halves_per_stage_and_round_trips_config():
  model = models.SmallCNN([8, 16, 4])
  assert model(_images()).shape == (4, 4, 4, 4)
  clone = models.SmallCNN.from_config(model.get_config())
  assert clone.filters == [8, 16, 4]


def _convs(model):
  return [l for l in model._flatten_layers()  # pylint: disable=protected-access
          if isinstance(l, keras.layers.Conv2D)]


@pytest.mark.parametrize('use_bn', [True, False])
def test_vggm_is_the_published_vggm_esque_network(use_bn):
  """conv1 7x7/2 (64), then blocks of two 3x3 convs: 128, 256, 512."""
  net = models.vggm(32, use_bn=use_bn, l2_reg_weight=0.1)
  assert net(_images(2, 32)).shape == (2, 2, 2, 512)  # output stride 16
  convs = _convs(net)
  assert [(c.filters, c.kernel_size, c.strides) for c in convs] == (
      [(64, (7, 7), (2, 2))] + [(f, (3, 3), (1, 1)) for f in
                                (128, 128, 256, 256, 512, 512)])
  assert len(_bn_layers(net)) == (7 if use_bn else 0)
  # The published code regularizes the blocks' kernels and biases, not conv1.
  assert convs[0].kernel.regularizer is None
  assert all(c.kernel.regularizer is not None and c.bias.regularizer is not None
             for c in convs[1:])
  for layer, channels in (('conv2', 128), ('conv3', 256), ('conv4', 512)):
    assert net.get_layer(layer).output.shape[-1] == channels


def test_vggm_from_config_with_cut_layer_and_use_bn_key():
  CONFIG.MODEL.BASE_MODEL.NETWORK = 'VGGM'
  CONFIG.MODEL.BASE_MODEL.LAYER = 'conv3'
  CONFIG.MODEL.VGGM.USE_BN = False
  base = models.get_base_model()
  assert base(_images(1, 32)).shape == (1, 2, 2, 256)
  assert not _bn_layers(base)
  CONFIG.MODEL.BASE_MODEL.LAYER = 'conv4_block3_out'
  with pytest.raises(ValueError, match="LAYER: VGGM has no layer "
                     "'conv4_block3_out'.*conv4"):
    models.get_base_model()


def test_resnet50v2_random_init_cut_shape():
  CONFIG.MODEL.BASE_MODEL.NETWORK = 'Resnet50_pretrained'
  CONFIG.IMAGE_SIZE = 64
  CONFIG.MODEL.TRAIN_BASE = 'only_bn'
  base = models.get_base_model()
  assert base(_images(1, 64)).shape == (1, 4, 4, 1024)
  trainable = base.trainable_variables
  assert trainable and all(v.name in ('gamma', 'beta') for v in trainable)


def test_resnet50v2_missing_weights_file_is_one_clear_error(tmp_path):
  CONFIG.MODEL.BASE_MODEL.NETWORK = 'Resnet50_pretrained'
  missing = str(tmp_path / 'nope.h5')
  CONFIG.MODEL.RESNET_PRETRAINED_WEIGHTS = missing
  with pytest.raises(ValueError, match='RESNET_PRETRAINED_WEIGHTS.*nope.h5.*'
                     'download'):
    models.get_base_model()
  # '' (e.g. before a checkpoint restores every weight) needs no file.
  assert models.get_base_model(pretrained_weights='')(
      _images(1, 32)).shape[0] == 1


@pytest.mark.parametrize('file_format', ['legacy_h5', 'keras3'])
# Keras' own legacy .h5 writer warns once per weight under NumPy 2.
@pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')
def test_resnet50v2_loads_weights_from_local_file(tmp_path, file_format):
  """Legacy .h5 is the format of the official notop weights file."""
  CONFIG.MODEL.BASE_MODEL.NETWORK = 'Resnet50_pretrained'
  CONFIG.MODEL.BASE_MODEL.LAYER = 'conv2_block1_out'
  source = keras.applications.ResNet50V2(include_top=False, weights=None,
                                         input_shape=(32, 32, 3))
  if file_format == 'legacy_h5':
    path = str(tmp_path / 'resnet.h5')
    with h5py.File(path, 'w') as f:
      legacy_h5_format.save_weights_to_hdf5_group(f, source)
  else:
    path = str(tmp_path / 'resnet.weights.h5')
    source.save_weights(path)
  CONFIG.MODEL.RESNET_PRETRAINED_WEIGHTS = path
  base = models.get_base_model()
  # The same file as an argument, with none in CONFIG.
  CONFIG.MODEL.RESNET_PRETRAINED_WEIGHTS = ''
  explicit = models.get_base_model(pretrained_weights=path)
  random_init = models.get_base_model()
  assert base(_images(1, 32)).shape == (1, 8, 8, 256)
  for name in ('conv1_conv', 'conv2_block1_1_conv'):
    for model in (base, explicit):
      np.testing.assert_array_equal(model.get_layer(name).kernel.numpy(),
                                    source.get_layer(name).kernel.numpy())
  assert not np.array_equal(random_init.get_layer('conv1_conv').kernel.numpy(),
                            source.get_layer('conv1_conv').kernel.numpy())


def test_unknown_network_and_embedder_errors():
  CONFIG.MODEL.BASE_MODEL.NETWORK = 'ResNet9000'
  with pytest.raises(ValueError, match='MODEL.BASE_MODEL.NETWORK.*SmallCNN.*'
                     'MobileNetV2.*saved .keras'):
    models.get_base_model()
  CONFIG.MODEL.EMBEDDER_TYPE = 'lstm'
  with pytest.raises(ValueError, match='MODEL.EMBEDDER_TYPE.*convgru'):
    models.get_embedder()
  CONFIG.MODEL.BASE_MODEL.NETWORK = 'SmallCNN'
  CONFIG.MODEL.TRAIN_BASE = 'some'
  with pytest.raises(ValueError, match='MODEL.TRAIN_BASE.*only_bn'):
    models.get_base_model()


def _bn_layers(model):
  return [l for l in model._flatten_layers()  # pylint: disable=protected-access
          if isinstance(l, keras.layers.BatchNormalization)]


@pytest.mark.parametrize('mode', ['frozen', 'only_bn', 'train_all'])
def test_train_base_modes_select_trainable_weights(mode):
  CONFIG.MODEL.TRAIN_BASE = mode
  base = models.get_base_model()
  base(_images())
  names = sorted(v.name for v in base.trainable_variables)
  if mode == 'frozen':
    assert names == []
  elif mode == 'only_bn':
    assert names == sorted(['gamma', 'beta'] * 2)
  else:
    assert names == sorted(['gamma', 'beta', 'kernel'] * 2)
  assert len(base.weights) == 2 + 4 * 2  # 2 kernels, 2 x (gamma, beta, mean, var)


def test_conv_embedder_flatten_methods_and_l2_normalization():
  features = tf.random.normal([5, 2, 4, 4, 3])
  for method in ('max_pool', 'avg_pool', 'flatten'):
    embedder = models.ConvEmbedder([[4, 3, True]], [[6, False]], 7,
                                   flatten_method=method, capacity_scalar=2,
                                   l2_normalize=True)
    embs = embedder(features, training=True)
    assert embs.shape == (5, 7)
    np.testing.assert_allclose(np.linalg.norm(embs, axis=-1), 1.0, rtol=1e-5)
    assert embedder.convs[0].filters == 8  # CAPACITY_SCALAR scales widths
    assert embedder.fcs[0].units == 12
  flat = models.ConvEmbedder([[4, 3, True]], [], 7, flatten_method='flatten')
  flat(features)
  assert flat.embedding_layer.kernel.shape == (2 * 4 * 4 * 4, 7)
  clone = models.ConvEmbedder.from_config(flat.get_config())
  assert clone.flatten_method == 'flatten' and clone.embedding_size == 7
  with pytest.raises(ValueError, match='FLATTEN_METHOD'):
    models.ConvEmbedder([], [], 7, flatten_method='median')


def test_convgru_embedder_shape_and_context_order_matters():
  CONFIG.MODEL.EMBEDDER_TYPE = 'convgru'
  embedder = models.get_embedder()
  features = tf.random.normal([3, 2, 4, 4, 5])
  embs = embedder(features)
  assert embs.shape == (3, 5)
  # A recurrent embedder sees the order of the context frames.
  reversed_embs = embedder(features[:, ::-1])
  assert not np.allclose(embs, reversed_embs, atol=1e-4)
  assert models.ConvGRUEmbedder.from_config(
      embedder.get_config()).gru_layers_spec == [8, 7]


@pytest.mark.parametrize('embedder_type', ['conv', 'convgru'])
def test_embedders_have_no_positional_information(embedder_type):
  """Each step's embedding depends only on its own context frames."""
  CONFIG.MODEL.EMBEDDER_TYPE = embedder_type
  embedder = models.get_embedder()
  features = tf.random.normal([6, 2, 4, 4, 5])
  perm = [3, 5, 0, 1, 4, 2]
  embs = embedder(features, training=False).numpy()
  permuted = embedder(tf.gather(features, perm), training=False).numpy()
  np.testing.assert_allclose(permuted, embs[perm], rtol=1e-5, atol=1e-5)


def test_resnet50v2_imagenet_download_failure_is_one_clear_error(monkeypatch):
  from keras.src.applications import resnet  # pylint: disable=g-import-not-at-top

  def offline(*unused_args, **unused_kwargs):
    raise Exception('URL fetch failure on https://storage.googleapis.com')  # pylint: disable=broad-exception-raised
  monkeypatch.setattr(resnet.file_utils, 'get_file', offline)
  CONFIG.MODEL.BASE_MODEL.NETWORK = 'Resnet50_pretrained'
  CONFIG.MODEL.RESNET_PRETRAINED_WEIGHTS = 'imagenet'
  with pytest.raises(ValueError, match='RESNET_PRETRAINED_WEIGHTS=imagenet: the '
                     r'Keras download of the ResNet50V2 weights failed '
                     r'\(URL fetch failure.*resnet50v2_weights.*local path'):
    models.get_base_model()


def _dense(x, layer):
  return x @ layer.kernel.numpy() + (layer.bias.numpy() if layer.use_bias
                                     else 0.0)


@pytest.mark.parametrize('activate', [True, False])
def test_fc_layers_are_units_and_activate(activate):
  """[units, activate]: Dense, then ReLU only when activate (no BatchNorm)."""
  features = tf.random.normal([5, 2, 3, 3, 4])
  embedder = models.ConvEmbedder([], [[6, activate]], 3, capacity_scalar=2)
  embs = embedder(features, training=True).numpy()
  assert embedder.fcs[0].units == 12 and embedder.fcs[0].use_bias
  assert not _bn_layers(embedder)
  hidden = _dense(features.numpy().max(axis=(1, 2, 3)), embedder.fcs[0])
  if activate:
    hidden = np.maximum(hidden, 0.0)
  assert (hidden < 0).any() != activate
  np.testing.assert_allclose(embs, _dense(hidden, embedder.embedding_layer),
                             rtol=1e-5, atol=1e-5)


def test_fc_batch_norm_key_adds_batch_norm_after_each_fc():
  CONFIG.MODEL.CONV_EMBEDDER_MODEL.FC_LAYERS = [[8, True], [4, False]]
  CONFIG.MODEL.CONV_EMBEDDER_MODEL.FC_BATCH_NORM = True
  CONFIG.MODEL.CONV_EMBEDDER_MODEL.USE_BN = False
  embedder = models.get_embedder()
  embedder(tf.random.normal([3, 2, 4, 4, 5]))
  assert [bn is not None for bn in embedder.fc_bns] == [True, True]
  assert not any(fc.use_bias for fc in embedder.fcs)
  assert len(_bn_layers(embedder)) == 2  # USE_BN=False: no conv BatchNorm
  CONFIG.MODEL.CONV_EMBEDDER_MODEL.FC_BATCH_NORM = False
  assert not _bn_layers(models.get_embedder())


@pytest.mark.parametrize('activate', [True, False])
def test_conv_layers_are_filters_kernel_and_activate(activate):
  """[filters, kernel, activate]: conv (+ BN when USE_BN), ReLU if activate."""
  features = tf.random.normal([4, 2, 3, 3, 5])
  embedder = models.ConvEmbedder([[6, 1, activate]], [], 3, use_bn=False)
  embs = embedder(features).numpy()
  conv = embedder.convs[0]
  hidden = features.numpy() @ conv.kernel.numpy()[0, 0, 0] + conv.bias.numpy()
  if activate:
    hidden = np.maximum(hidden, 0.0)
  np.testing.assert_allclose(
      embs, _dense(hidden.max(axis=(1, 2, 3)), embedder.embedding_layer),
      rtol=1e-5, atol=1e-5)
  with_bn = models.ConvEmbedder([[6, 1, False]], [], 3, use_bn=True)
  with_bn(features)
  assert len(_bn_layers(with_bn)) == 1


def test_classifier_head_is_published_fc_stack():
  """SaL/classification head: [units, activate], last layer linear logits."""
  inputs = tf.random.normal([7, 5])
  head = models.Classifier([[4, True], [2, False]], dropout_rate=0.0)
  logits = head(inputs, training=True).numpy()
  hidden = np.maximum(_dense(inputs.numpy(), head.fcs[0]), 0.0)
  np.testing.assert_allclose(logits, _dense(hidden, head.fcs[1]), rtol=1e-5,
                             atol=1e-6)
  assert not _bn_layers(head)
  with_bn = models.Classifier([[4, True], [2, False]], batch_norm=True)
  with_bn(inputs)
  assert [bn is not None for bn in with_bn.bns] == [True, False]
  clone = models.Classifier.from_config(with_bn.get_config())
  assert clone.batch_norm and clone.fc_layers_spec == [[4, True], [2, False]]


def test_convgru_dropout_comes_before_each_conv():
  embedder = models.ConvGRUEmbedder([[4, 3, True], [4, 3, False]], [5], 3,
                                    dropout_rate=0.999)
  features = tf.random.normal([2, 2, 4, 4, 3])
  # With (almost) everything dropped before each conv, the output is the same
  # for any input: only the biases are left.
  np.testing.assert_allclose(embedder(features, training=True),
                             embedder(2.0 * features, training=True),
                             atol=1e-6)


def _saved_mobilenet_v2(tmp_path, name):
  keras.utils.set_random_seed(3)
  source = keras.applications.MobileNetV2(include_top=False, weights=None,
                                          input_shape=(32, 32, 3))
  path = str(tmp_path / name)
  if name.endswith('.weights.h5'):
    source.save_weights(path)
  else:
    with h5py.File(path, 'w') as f:
      legacy_h5_format.save_weights_to_hdf5_group(f, source)
  return source, path


@pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')
def test_keras_application_backbone_from_local_weights_with_train_base(
    tmp_path):
  """Any keras.applications model by name, its preprocessing, its weights."""
  source, path = _saved_mobilenet_v2(tmp_path, 'mnv2.weights.h5')
  CONFIG.MODEL.BASE_MODEL.NETWORK = 'MobileNetV2'
  CONFIG.MODEL.BASE_MODEL.LAYER = 'block_6_expand_relu'
  CONFIG.MODEL.BASE_MODEL.WEIGHTS = path
  CONFIG.MODEL.TRAIN_BASE = 'only_bn'
  base = models.get_base_model()
  images = _images(2, 32)
  features = base(images, training=False)
  assert features.shape == (2, 4, 4, 192)
  # Frames in [-1, 1] reach the network through MobileNetV2's own
  # preprocess_input ([-1, 1] again), then the source network's layers.
  preprocess = base.get_layer('preprocess_mobilenetv2')
  assert preprocess.mode == 'MobileNetV2'
  cut = keras.Model(source.input, source.get_layer('block_6_expand_relu').output)
  np.testing.assert_allclose(features, cut(images, training=False), rtol=1e-4,
                             atol=1e-4)
  loaded = {v.path: v.numpy() for v in base.weights}
  saved = {v.path: v.numpy() for v in cut.weights}
  assert loaded.keys() == saved.keys() and len(saved) > 50
  for var_path, value in saved.items():
    np.testing.assert_array_equal(loaded[var_path], value, err_msg=var_path)
  # TRAIN_BASE: only BatchNorm (only_bn), nothing (frozen), all (train_all).
  names = {v.name for v in base.trainable_variables}
  assert names == {'gamma', 'beta'}
  models.set_train_base(base, 'frozen')
  assert not base.trainable_variables
  models.set_train_base(base, 'train_all')
  assert {'kernel', 'gamma', 'beta'} <= {
      v.name for v in base.trainable_variables}


@pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')
def test_keras_application_loads_legacy_h5_and_whole_network_output(tmp_path):
  source, path = _saved_mobilenet_v2(tmp_path, 'mnv2.h5')
  CONFIG.MODEL.BASE_MODEL.NETWORK = 'MobileNetV2'
  CONFIG.MODEL.BASE_MODEL.LAYER = ''
  CONFIG.MODEL.BASE_MODEL.WEIGHTS = path
  CONFIG.MODEL.BASE_MODEL.PREPROCESSING = 'none'
  base = models.get_base_model()
  assert base(_images(1, 32)).shape == (1, 1, 1, 1280)
  assert not any(isinstance(l, models.FramePreprocessing)
                 for l in base._flatten_layers())  # pylint: disable=protected-access
  np.testing.assert_array_equal(base.get_layer('Conv1').kernel.numpy(),
                                source.get_layer('Conv1').kernel.numpy())
  CONFIG.MODEL.BASE_MODEL.LAYER = 'conv4_block3_out'
  with pytest.raises(ValueError, match="LAYER: MobileNetV2 has no layer "
                     "'conv4_block3_out'.*out_relu"):
    models.get_base_model()
  CONFIG.MODEL.BASE_MODEL.NETWORK = 'MobileNetV3Small'
  with pytest.raises(ValueError, match='BASE_MODEL.WEIGHTS: .*mnv2.h5 does not '
                     'hold weights of MobileNetV3Small'):
    models.get_base_model()
  CONFIG.MODEL.BASE_MODEL.WEIGHTS = str(tmp_path / 'missing.weights.h5')
  with pytest.raises(ValueError, match='BASE_MODEL.WEIGHTS: weights file .*'
                     'missing.weights.h5 not found.*keras.applications.'
                     'MobileNetV3Small'):
    models.get_base_model()


def test_frame_preprocessing_matches_each_networks_convention():
  images = tf.random.uniform([2, 4, 4, 3], -1.0, 1.0, seed=4)
  pixels = (images.numpy() + 1.0) * 127.5
  caffe = models.FramePreprocessing('ResNet50')(images).numpy()  # BGR - mean
  np.testing.assert_allclose(
      caffe, pixels[..., ::-1] - np.array([103.939, 116.779, 123.68]),
      rtol=1e-5, atol=1e-3)
  np.testing.assert_allclose(models.FramePreprocessing('MobileNetV2')(images),
                             images, atol=1e-5)  # 'tf' mode: [-1, 1]
  np.testing.assert_allclose(models.FramePreprocessing('pixels')(images),
                             pixels, rtol=1e-6, atol=1e-4)
  CONFIG.MODEL.BASE_MODEL.PREPROCESSING = 'sepia'
  with pytest.raises(ValueError, match='PREPROCESSING.*auto, none, pixels'):
    models.get_base_model()


@pytest.mark.filterwarnings('ignore:`input_shape` is undefined:UserWarning')
def test_keras_application_download_failure_is_one_clear_error(monkeypatch):
  from keras.src.applications import mobilenet_v2  # pylint: disable=g-import-not-at-top

  def offline(*unused_args, **unused_kwargs):
    raise Exception('URL fetch failure on https://storage.googleapis.com')  # pylint: disable=broad-exception-raised
  monkeypatch.setattr(mobilenet_v2.file_utils, 'get_file', offline)
  CONFIG.MODEL.BASE_MODEL.NETWORK = 'MobileNetV2'
  CONFIG.MODEL.BASE_MODEL.WEIGHTS = 'imagenet'
  with pytest.raises(ValueError, match=r'MODEL.BASE_MODEL.WEIGHTS=imagenet: '
                     r'the Keras download of the MobileNetV2 weights failed '
                     r'\(URL fetch failure.*local path'):
    models.get_base_model()


def _tiny_saved_model(path):
  inputs = keras.Input((None, None, 3))
  x = keras.layers.Conv2D(4, 3, strides=2, name='stem')(inputs)
  x = keras.layers.BatchNormalization(name='stem_bn')(x)
  x = keras.layers.ReLU(name='features')(x)
  x = keras.layers.GlobalAveragePooling2D()(x)
  model = keras.Model(inputs, keras.layers.Dense(3)(x))
  model.save(path)
  return model


@pytest.mark.parametrize('mode', ['frozen', 'only_bn', 'train_all'])
def test_saved_keras_model_backbone_cut_at_layer(tmp_path, mode):
  path = str(tmp_path / 'own.keras')
  source = _tiny_saved_model(path)
  CONFIG.MODEL.BASE_MODEL.NETWORK = path
  CONFIG.MODEL.BASE_MODEL.LAYER = 'features'
  CONFIG.MODEL.TRAIN_BASE = mode
  base = models.get_base_model()
  images = _images(2, 32)
  cut = keras.Model(source.input, source.get_layer('features').output)
  np.testing.assert_allclose(base(images), cut(images), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(base.get_layer('stem').kernel.numpy(),
                                source.get_layer('stem').kernel.numpy())
  expected = {'frozen': set(), 'only_bn': {'gamma', 'beta'},
              'train_all': {'kernel', 'bias', 'gamma', 'beta'}}[mode]
  assert {v.name for v in base.trainable_variables} == expected
  CONFIG.MODEL.BASE_MODEL.NETWORK = str(tmp_path / 'nope.keras')
  with pytest.raises(ValueError, match='saved model .*nope.keras not found'):
    models.get_base_model()


@pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')
def test_training_run_with_keras_application_backbone_from_local_file(
    tmp_path):
  """train.train with MobileNetV2 from a local weights file, only_bn."""
  import algos  # pylint: disable=g-import-not-at-top
  import train  # pylint: disable=g-import-not-at-top
  source, path = _saved_mobilenet_v2(tmp_path, 'mnv2.weights.h5')
  logdir = str(tmp_path / 'run')
  result = train.train(logdir, overrides=[
      'PATH_TO_TFRECORDS=%s' % (tmp_path / '%s'), 'IMAGE_SIZE=32',
      'SYNTHETIC.NUM_TRAIN_VIDEOS=3', 'SYNTHETIC.NUM_VAL_VIDEOS=2',
      'SYNTHETIC.MIN_FRAMES=12', 'SYNTHETIC.MAX_FRAMES=14',
      'TRAIN.BATCH_SIZE=2', 'TRAIN.NUM_FRAMES=4', 'TRAIN.MAX_ITERS=2',
      'MODEL.BASE_MODEL.NETWORK=MobileNetV2',
      'MODEL.BASE_MODEL.LAYER=block_1_expand_relu',
      'MODEL.BASE_MODEL.WEIGHTS=%s' % path, 'MODEL.TRAIN_BASE=only_bn',
      'MODEL.CONV_EMBEDDER_MODEL.CONV_LAYERS=[[8, 3, true]]',
      'MODEL.CONV_EMBEDDER_MODEL.FC_LAYERS=[[8, true]]',
      'MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE=8',
      'CHECKPOINT.SAVE_INTERVAL=2', 'LOGGING.REPORT_INTERVAL=1',
      'TRAIN.VISUALIZE_INTERVAL=100'])
  assert result['step'] == 2 and np.isfinite(result['loss'])
  # The checkpoint holds the weights: restoring needs no weights file.
  os.remove(path)
  algo, step, _ = algos.restore_algo(logdir)
  assert step == 2
  trained = {v.path: v.numpy() for v in algo.base_model.weights}
  changed = 0
  for var in source.weights:
    if var.path not in trained:  # layers after the cut
      continue
    if var.name in ('gamma', 'beta', 'moving_mean', 'moving_variance'):
      changed += not np.array_equal(trained[var.path], var.numpy())
    else:  # only_bn: the loaded kernels stay as saved
      np.testing.assert_array_equal(trained[var.path], var.numpy(),
                                    err_msg=var.path)
  assert changed > 0


def _numpy_conv3d_same(x, kernel, bias):
  """'same' 3D convolution, stride 1, as TF pads (k - 1) // 2 before."""
  kt, kh, kw = kernel.shape[:3]
  pads = [(0, 0)] + [((k - 1) // 2, k - 1 - (k - 1) // 2)
                     for k in (kt, kh, kw)] + [(0, 0)]
  padded = np.pad(x, pads)
  n, t, h, w, _ = x.shape
  out = np.zeros((n, t, h, w, kernel.shape[-1]))
  for a in range(kt):
    for b in range(kh):
      for c in range(kw):
        out += np.einsum('nthwi,io->nthwo',
                         padded[:, a:a + t, b:b + h, c:c + w], kernel[a, b, c])
  return out + bias


@pytest.mark.parametrize('num_frames,depth', [(1, 3), (2, 3), (2, 4), (3, 5),
                                              (4, 3)])
def test_short_clip_conv3d_is_conv3d(num_frames, depth):
  x = np.random.RandomState(0).randn(2, num_frames, 5, 4, 3).astype(np.float32)
  layer = models.ShortClipConv3D(4, (depth, 3, 3), padding='same',
                                 activation='relu')
  plain = keras.layers.Conv3D(4, (depth, 3, 3), padding='same',
                              activation='relu')
  layer.build(x.shape)
  plain.build(x.shape)
  bias = np.random.RandomState(1).randn(4).astype(np.float32)
  layer.bias.assign(bias)
  plain.set_weights(layer.get_weights())
  expected = np.maximum(_numpy_conv3d_same(
      x, layer.kernel.numpy(), bias), 0.0)
  x = tf.constant(x)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    out, out_plain = layer(x), plain(x)
    loss, loss_plain = (tf.reduce_sum(out ** 2),
                        tf.reduce_sum(out_plain ** 2))
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
  for grad, grad_plain in zip(tape.gradient(loss, [x, layer.kernel]),
                              tape.gradient(loss_plain, [x, plain.kernel])):
    np.testing.assert_allclose(grad, grad_plain, rtol=1e-4, atol=1e-4)
  assert [v.name for v in layer.weights] == [v.name for v in plain.weights]
