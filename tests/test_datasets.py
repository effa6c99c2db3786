"""Tests of datasets.py: decoding, sampling, augmentation, pipelines."""

import glob
import logging as std_logging
import os

import numpy as np
import pytest
import tensorflow as tf

import config
import datasets
from config import CONFIG

SIZE = 32


def _frames(num_frames, seed=0, size=SIZE):
  """Distinct smooth frames uint8 [T, size, size, 3]: each frame a solid
  color ramp so that JPEG keeps it close and frames are told apart."""
  rng = np.random.default_rng(seed)
  base = rng.integers(30, 200, (num_frames, 1, 1, 3))
  ramp = np.linspace(0, 40, size)[None, None, :, None]
  return np.clip(base + ramp, 0, 255).astype(np.uint8).repeat(size, axis=1)


def _write_records(path, videos, with_labels=True):
  """Minimal independent SPEC section 4 writer (not tfrecord_io)."""
  with tf.io.TFRecordWriter(path) as writer:
    for name, frames, labels in videos:
      jpegs = [tf.io.encode_jpeg(f, quality=95).numpy() for f in frames]
      example = tf.train.SequenceExample()
      ctx = example.context.feature
      ctx['name'].bytes_list.value.append(name.encode())
      ctx['len'].int64_list.value.append(len(frames))
      ctx['label'].int64_list.value.append(7)
      video_list = example.feature_lists.feature_list['video']
      for jpeg in jpegs:
        video_list.feature.add().bytes_list.value.append(jpeg)
      if with_labels:
        label_list = example.feature_lists.feature_list['frame_labels']
        for label in labels:
          label_list.feature.add().int64_list.value.append(int(label))
      writer.write(example.SerializeToString())


def _make_dataset(root, dataset, lengths, split='train', with_labels=True,
                  seed=0):
  """Writes one split into <root>/<dataset>; returns {name: (frames, labels)}."""
  directory = os.path.join(root, dataset)
  os.makedirs(directory, exist_ok=True)
  videos = []
  for i, n in enumerate(lengths):
    labels = (np.arange(n) * 3 // n).astype(np.int64)
    videos.append(('%s_%d' % (dataset, i), _frames(n, seed * 100 + i),
                   labels))
  _write_records(os.path.join(directory, '%s_%s-00000-of-00001.tfrecord' % (
      dataset, split)), videos, with_labels)
  return {name: (frames, labels) for name, frames, labels in videos}


@pytest.fixture
def tfrecords_root(tmp_path):
  CONFIG.PATH_TO_TFRECORDS = str(tmp_path / '%s')
  CONFIG.IMAGE_SIZE = SIZE
  return str(tmp_path)


def _to_unit(frames):
  return (np.asarray(frames, np.float32) + 1.0) / 2.0 * 255.0


def test_independently_written_records_are_read(tfrecords_root):
  videos = _make_dataset(tfrecords_root, 'toy', [5, 9])
  loaded = datasets.load_videos(glob.glob(os.path.join(
      tfrecords_root, 'toy', '*.tfrecord')))
  assert [v['name'] for v in loaded] == ['toy_0', 'toy_1']
  for video in loaded:
    frames, labels = videos[video['name']]
    assert video['len'] == len(frames) and video['label'] == 7
    np.testing.assert_array_equal(video['frame_labels'], labels)
    assert np.abs(video['frames'].astype(float) - frames).max() <= 8
  epoch = list(datasets.create_one_epoch_dataset('toy', 'train'))
  assert len(epoch) == 2
  for element in epoch:
    name = element['name'].numpy().decode()
    frames, labels = videos[name]
    assert element['seq_len'].numpy() == len(frames)
    assert element['video_label'].numpy() == 7
    np.testing.assert_array_equal(element['frame_labels'].numpy(), labels)
    got = element['frames'].numpy()
    assert got.shape == (len(frames), SIZE, SIZE, 3) and got.dtype == np.float32
    assert got.min() >= -1.0 and got.max() <= 1.0
    assert np.abs(_to_unit(got) - frames).max() <= 8


def test_round_trip_through_tfrecord_io(tmp_path):
  from dataset_preparation import tfrecord_io  # pylint: disable=g-import-not-at-top
  frames = _frames(6, seed=3)
  with tfrecord_io.ShardedTFRecordWriter(str(tmp_path), 'rt', 'val', 1) as w:
    w.write(tfrecord_io.make_sequence_example(
        'clip', [tfrecord_io.encode_jpeg(f, 95) for f in frames],
        frame_labels=[0, 0, 1, 1, 2, 2], label=3).SerializeToString())
  video, = datasets.load_videos(w.final_paths)
  assert (video['name'], video['len'], video['label']) == ('clip', 6, 3)
  np.testing.assert_array_equal(video['frame_labels'], [0, 0, 1, 1, 2, 2])
  assert np.abs(video['frames'].astype(float) - frames).max() <= 8


@pytest.mark.parametrize('strategy', ['offset_uniform', 'stride', 'all'])
def test_sampling_invariants(strategy):
  CONFIG.DATA.STRIDE = 3
  CONFIG.DATA.RANDOM_OFFSET = 4
  num_steps = 6
  for seq_len in [6, 16, 17, 40, 101]:
    for _ in range(5):
      steps = datasets.sample_steps(tf.constant(seq_len), num_steps,
                                    strategy).numpy()
      assert steps.shape == (num_steps,)
      assert np.all(np.diff(steps) >= 0) and steps.min() >= 0
      assert steps.max() < seq_len
      if strategy == 'offset_uniform':
        assert len(set(steps)) == num_steps
      if strategy == 'stride' and seq_len >= 16:
        np.testing.assert_array_equal(np.diff(steps), 3)
      if strategy == 'all':
        assert steps[0] == 0 and steps[-1] == seq_len - 1


def test_short_video_sampled_with_repetition_and_warned_once(caplog,
                                                             monkeypatch):
  monkeypatch.setattr(datasets, '_warned_short_video', False)
  caplog.set_level(std_logging.WARNING)
  for _ in range(3):
    steps = datasets.sample_steps(tf.constant(4), 10, 'offset_uniform',
                                  tf.constant('tiny')).numpy()
    assert np.all(np.diff(steps) >= 0) and steps.max() == 3
    assert set(steps) == {0, 1, 2, 3}
  warnings = [r for r in caplog.records if 'tiny' in r.getMessage()]
  assert len(warnings) == 1 and 'repeated' in warnings[0].getMessage()


def test_context_never_in_the_future():
  steps = tf.constant([0, 3, 9, 20])
  indices = datasets.context_indices(steps, 3, 4).numpy().reshape(4, 3)
  expected = np.array([[max(0, t - k * 4) for k in (2, 1, 0)]
                       for t in [0, 3, 9, 20]])
  np.testing.assert_array_equal(indices, expected)
  assert np.all(indices <= np.array([0, 3, 9, 20])[:, None])


def test_tcn_positives_in_window():
  anchors = tf.constant(np.arange(0, 60, 3), tf.int32)
  for _ in range(10):
    positives = datasets.tcn_positives(anchors, 5).numpy()
    a = anchors.numpy()
    assert positives[0] == 0
    assert np.all(positives[1:] < a[1:])
    assert np.all(positives[1:] >= np.maximum(0, a[1:] - 5))


def test_create_dataset_batches_match_decoded_frames(tfrecords_root):
  videos = _make_dataset(tfrecords_root, 'toy', [12, 30, 25])
  CONFIG.DATASETS = ['toy']
  CONFIG.EVAL.BATCH_SIZE = 3
  CONFIG.EVAL.NUM_FRAMES = 5
  CONFIG.DATA.NUM_STEPS = 2
  CONFIG.DATA.FRAME_STRIDE = 3
  batch = next(iter(datasets.create_dataset('train', mode='eval')))
  assert batch['frames'].shape == (3, 10, SIZE, SIZE, 3)
  assert batch['steps'].dtype == tf.int32 and batch['steps'].shape == (3, 5)
  for b in range(3):
    name = batch['names'][b].numpy().decode()
    frames, labels = videos[name]
    steps = batch['steps'][b].numpy()
    assert batch['seq_lens'][b].numpy() == len(frames)
    assert batch['video_labels'][b].numpy() == 7
    np.testing.assert_array_equal(batch['frame_labels'][b].numpy(),
                                  labels[steps])
    got = _to_unit(batch['frames'][b].numpy())
    for i, t in enumerate(steps):
      for k, index in enumerate([max(0, t - 3), t]):
        assert np.abs(got[2 * i + k] - frames[index]).max() <= 8


def test_tcn_batches_interleave_anchor_and_positive(tfrecords_root):
  _make_dataset(tfrecords_root, 'toy', [40, 40])
  CONFIG.DATASETS = ['toy']
  CONFIG.TRAINING_ALGO = 'tcn'
  CONFIG.TRAIN.BATCH_SIZE = 2
  CONFIG.TRAIN.NUM_FRAMES = 4
  batch = next(iter(datasets.create_dataset('train')))
  assert batch['steps'].shape == (2, 8)
  assert batch['frames'].shape == (2, 8 * CONFIG.DATA.NUM_STEPS, SIZE, SIZE, 3)
  steps = batch['steps'].numpy()
  anchors, positives = steps[:, 0::2], steps[:, 1::2]
  assert np.all(np.diff(anchors, axis=1) > 0)
  assert np.all((positives < anchors) | (anchors == 0))
  assert np.all(positives >= anchors - CONFIG.TCN.POSITIVE_WINDOW)


def test_augmentation_identical_across_frames_of_a_video(tfrecords_root):
  directory = os.path.join(tfrecords_root, 'still')
  os.makedirs(directory)
  rng = np.random.default_rng(0)
  image = np.clip(rng.normal(128, 50, (48, 48, 3)), 0, 255).astype(np.uint8)
  image = tf.image.resize(image[None], [48, 48]).numpy()[0].astype(np.uint8)
  _write_records(os.path.join(directory, 'still_train-00000-of-00001.tfrecord'),
                 [('still_%d' % i, np.stack([image] * 20), [0] * 20)
                  for i in range(4)])
  CONFIG.DATASETS = ['still']
  CONFIG.TRAIN.BATCH_SIZE = 4
  CONFIG.TRAIN.NUM_FRAMES = 6
  CONFIG.AUGMENTATION.HUE = True
  CONFIG.AUGMENTATION.SATURATION = True
  frames = next(iter(datasets.create_dataset('train')))['frames'].numpy()
  for video in frames:
    np.testing.assert_allclose(video, np.broadcast_to(video[:1], video.shape),
                               atol=1e-6)
  # ... while different videos of the batch are augmented differently.
  assert np.abs(frames[0, 0] - frames[1, 0]).mean() > 1e-3
  assert frames.min() >= -1.0 and frames.max() <= 1.0


def test_datasets_mixed_evenly_without_labels_and_fraction(tfrecords_root):
  _make_dataset(tfrecords_root, 'one', [10] * 4, with_labels=False)
  _make_dataset(tfrecords_root, 'two', [10] * 4, seed=1)
  CONFIG.DATASETS = ['one', 'two']
  CONFIG.TRAIN.BATCH_SIZE = 4
  CONFIG.TRAIN.NUM_FRAMES = 3
  CONFIG.DATA.PER_DATASET_FRACTION = 0.5
  names = []
  it = iter(datasets.create_dataset('train'))
  for _ in range(6):
    batch = next(it)
    batch_names = [n.decode() for n in batch['names'].numpy()]
    assert sum(n.startswith('one') for n in batch_names) == 2
    for n, labels in zip(batch_names, batch['frame_labels'].numpy()):
      if n.startswith('one'):
        np.testing.assert_array_equal(labels, 0)
    names += batch_names
  assert set(names) == {'one_0', 'one_1', 'two_0', 'two_1'}
  CONFIG.DATA.FRAME_LABELS = False
  CONFIG.DATASETS = ['two']
  batch = next(iter(datasets.create_dataset('train')))
  np.testing.assert_array_equal(batch['frame_labels'].numpy(), 0)


def test_corrupt_tfrecord_error_names_the_file(tfrecords_root):
  _make_dataset(tfrecords_root, 'bad', [6, 6, 6])
  path = glob.glob(os.path.join(tfrecords_root, 'bad', '*.tfrecord'))[0]
  data = bytearray(open(path, 'rb').read())
  data[len(data) // 2] ^= 0xFF
  with open(path, 'wb') as f:
    f.write(bytes(data))
  CONFIG.DATASETS = ['bad']
  with pytest.raises(datasets.DatasetError, match=os.path.basename(path)):
    datasets.create_dataset('train')
  with pytest.raises(datasets.DatasetError, match=os.path.basename(path)):
    datasets.load_videos([path])
  # Three equal records: a cut 5 bytes into the second header, which
  # TensorFlow alone reads as a clean end of file.
  with open(path, 'wb') as f:
    f.write(bytes(data[:len(data) // 3 + 5]))
  with pytest.raises(datasets.DatasetError, match='truncated'):
    datasets.create_one_epoch_dataset('bad', 'train')
  with pytest.raises(datasets.DatasetError, match='truncated'):
    datasets.load_videos([path])


def test_missing_dataset_error_says_where_and_how(tfrecords_root):
  with pytest.raises(datasets.DatasetError) as error:
    datasets.ensure_dataset('pouring')
  message = str(error.value)
  assert os.path.join(tfrecords_root, 'pouring') in message
  assert 'videos_to_tfrecords' in message
  _make_dataset(tfrecords_root, 'pouring', [5])
  with pytest.raises(datasets.DatasetError, match='val'):
    datasets.create_one_epoch_dataset('pouring', 'val')


def test_synthetic_dataset_generated_on_first_use(tfrecords_root, caplog):
  caplog.set_level(std_logging.INFO)
  CONFIG.SYNTHETIC.NUM_TRAIN_VIDEOS = 3
  CONFIG.SYNTHETIC.NUM_VAL_VIDEOS = 2
  CONFIG.SYNTHETIC.MIN_FRAMES = 20
  CONFIG.SYNTHETIC.MAX_FRAMES = 24
  CONFIG.TRAIN.BATCH_SIZE = 2
  CONFIG.TRAIN.NUM_FRAMES = 5
  assert CONFIG.DATASETS == ['synthetic_pouring']
  batch = next(iter(datasets.create_dataset('train')))
  directory = config.tfrecords_dir('synthetic_pouring')
  assert any('Generating' in r.getMessage() and directory in r.getMessage()
             for r in caplog.records)
  assert batch['frames'].shape == (2, 10, SIZE, SIZE, 3)
  info = datasets.get_dataset_info('synthetic_pouring')
  assert info['splits']['val']['num_videos'] == 2 and info['num_classes'] == 5
  mtime = os.path.getmtime(glob.glob(os.path.join(directory, '*val*'))[0])
  caplog.clear()
  assert len(list(datasets.create_one_epoch_dataset('synthetic_pouring',
                                                    'val'))) == 2
  assert not any('Generating' in r.getMessage() for r in caplog.records)
  assert os.path.getmtime(glob.glob(os.path.join(directory, '*val*'))[0]) == (
      mtime)
