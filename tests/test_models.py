"""Tests of models.py: base CNNs, TRAIN_BASE modes, embedders."""

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


def test_vggm_has_output_stride_16():
  assert models.VGGM()(_images(2, 32)).shape == (2, 2, 2, 512)


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
  assert base(_images(1, 32)).shape == (1, 8, 8, 256)
  for name in ('conv1_conv', 'conv2_block1_1_conv'):
    np.testing.assert_array_equal(base.get_layer(name).kernel.numpy(),
                                  source.get_layer(name).kernel.numpy())


def test_unknown_network_and_embedder_errors():
  CONFIG.MODEL.BASE_MODEL.NETWORK = 'ResNet9000'
  with pytest.raises(ValueError, match='MODEL.BASE_MODEL.NETWORK.*SmallCNN'):
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
  with pytest.raises(ValueError, match='imagenet: the Keras download failed '
                     r'\(URL fetch failure.*resnet50v2_weights.*local path'):
    models.get_base_model()
