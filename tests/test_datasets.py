"""Tests of datasets.py: decoding, sampling, augmentation, pipelines."""

import glob
import logging as std_logging
import os

import numpy as np
import pytest
import tensorflow as tf

import algos
import config
from data import sampling
import datasets
from dataset_preparation import generate
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
  """Minimal independent writer of the published TCC format (not tfrecord_io)."""
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


def _write_still_videos(root, dataset, split, frame, num_videos, num_frames):
  """`num_videos` videos repeating one frame, labelled 0, in one shard."""
  directory = os.path.join(root, dataset)
  os.makedirs(directory)
  _write_records(os.path.join(directory, '%s_%s-00000-of-00001.tfrecord' % (
      dataset, split)), [('%s_%d' % (dataset, i),
                          np.stack([frame] * num_frames), [0] * num_frames)
                         for i in range(num_videos)])


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
    assert element['has_labels'].numpy()
    assert element['jpegs'].shape == (len(frames),)
    got = datasets.decode_eval_frames(element['jpegs'], SIZE, False).numpy()
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


def _sample(seq_len, num_steps, strategy, **kwargs):
  return sampling.sample_steps(tf.constant(seq_len), num_steps, strategy,
                               **kwargs).numpy()


@pytest.mark.parametrize('strategy', ['offset_uniform', 'stride', 'all'])
@pytest.mark.parametrize('draw_offset', [False, True])
def test_sampling_invariants(strategy, draw_offset):
  num_steps = 6
  for seq_len in [16, 17, 40, 101]:
    for _ in range(5):
      steps = _sample(seq_len, num_steps, strategy, stride=3, random_offset=4,
                      draw_offset=draw_offset)
      assert steps.shape == (num_steps,)
      assert np.all(np.diff(steps) >= 0) and steps.min() >= 0
      assert steps.max() < seq_len
      if strategy == 'offset_uniform':
        assert len(set(steps)) == num_steps
        if not draw_offset:
          assert steps.min() >= 4
      if strategy == 'stride':
        np.testing.assert_array_equal(np.diff(steps), 3)
      if strategy == 'all':
        assert steps[0] == 0 and steps[-1] == seq_len - 1


def test_offset_uniform_uses_the_fixed_offset_as_published():
  """Published: frames RANDOM_OFFSET..L-1 only; drawn offsets reach 0."""
  seen = set()
  for _ in range(200):
    seen.update(_sample(10, 3, 'offset_uniform', random_offset=2).tolist())
  assert seen == set(range(2, 10))
  seen = set()
  for _ in range(200):
    seen.update(_sample(10, 3, 'offset_uniform', random_offset=2,
                        draw_offset=True).tolist())
  assert seen == set(range(10))


def test_stride_offsets_and_padding_as_published():
  """offset ~ U[0, max(1, L - stride * S)); past the end: the last frame."""
  firsts = set()
  for _ in range(300):
    steps = _sample(20, 4, 'stride', stride=3)
    np.testing.assert_array_equal(steps, steps[0] + 3 * np.arange(4))
    firsts.add(int(steps[0]))
  assert firsts == set(range(20 - 12))
  # Short video (7 frames, stride 3, 4 steps needs 10): padded, offset 0.
  for _ in range(5):
    np.testing.assert_array_equal(_sample(7, 4, 'stride', stride=3),
                                  [0, 3, 6, 6])
  # offset_uniform too short for S + offset: 0..S-1 padded with the last.
  np.testing.assert_array_equal(
      _sample(5, 7, 'offset_uniform', random_offset=1), [0, 1, 2, 3, 4, 4, 4])
  np.testing.assert_array_equal(
      _sample(5, 5, 'offset_uniform', random_offset=1), [0, 1, 2, 3, 4])


def test_short_video_spread_variant_and_warned_once(caplog, monkeypatch):
  monkeypatch.setattr(sampling, '_warned_short_video', False)
  caplog.set_level(std_logging.WARNING)
  for _ in range(3):
    steps = _sample(4, 10, 'stride', stride=2, spread_short=True,
                    name=tf.constant('tiny'))
    np.testing.assert_array_equal(steps, np.arange(10) * 4 // 10)
  warnings = [r for r in caplog.records if 'tiny' in r.getMessage()]
  assert len(warnings) == 1 and 'spread' in warnings[0].getMessage()


def test_context_never_in_the_future():
  steps = tf.constant([0, 3, 9, 20])
  indices = sampling.context_indices(steps, 3, 4).numpy().reshape(4, 3)
  expected = np.array([[max(0, t - k * 4) for k in (2, 1, 0)]
                       for t in [0, 3, 9, 20]])
  np.testing.assert_array_equal(indices, expected)
  assert np.all(indices <= np.array([0, 3, 9, 20])[:, None])


def test_tcn_positives_in_window():
  anchors = tf.constant(np.arange(0, 60, 3), tf.int32)
  for _ in range(10):
    positives = sampling.tcn_positives(anchors, 5).numpy()
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
  batch = next(iter(datasets.create_dataset(
      'train', batch_spec=algos.get_batch_spec())))
  assert batch['steps'].shape == (2, 8)
  assert batch['frames'].shape == (2, 8 * CONFIG.DATA.NUM_STEPS, SIZE, SIZE, 3)
  steps = batch['steps'].numpy()
  anchors, positives = steps[:, 0::2], steps[:, 1::2]
  assert np.all(np.diff(anchors, axis=1) > 0)
  assert np.all((positives < anchors) | (anchors == 0))
  assert np.all(positives >= anchors - CONFIG.TCN.POSITIVE_WINDOW)


def test_augmentation_identical_across_frames_of_a_video(tfrecords_root):
  rng = np.random.default_rng(0)
  image = np.clip(rng.normal(128, 50, (48, 48, 3)), 0, 255).astype(np.uint8)
  image = tf.image.resize(image[None], [48, 48]).numpy()[0].astype(np.uint8)
  _write_still_videos(tfrecords_root, 'still', 'train', image, 4, 20)
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


def _batch_names(batch):
  return [n.decode() for n in batch['names'].numpy()]


def test_each_batch_holds_one_dataset_as_published(tfrecords_root):
  _make_dataset(tfrecords_root, 'one', [10] * 4, with_labels=False)
  _make_dataset(tfrecords_root, 'two', [10] * 4, seed=1)
  CONFIG.DATASETS = ['one', 'two']
  CONFIG.TRAIN.BATCH_SIZE = 4
  CONFIG.TRAIN.NUM_FRAMES = 3
  CONFIG.DATA.PER_DATASET_FRACTION = 0.5
  sources = []
  names = []
  it = iter(datasets.create_dataset('train'))
  for _ in range(12):
    batch = next(it)
    batch_names = _batch_names(batch)
    prefixes = {n.split('_')[0] for n in batch_names}
    assert len(prefixes) == 1, batch_names
    sources.append(prefixes.pop())
    # Labelled or not, each video says so; unlabelled ones carry -1.
    labelled = sources[-1] == 'two'
    np.testing.assert_array_equal(batch['has_labels'].numpy(), labelled)
    if not labelled:
      np.testing.assert_array_equal(batch['frame_labels'].numpy(),
                                    datasets.NO_LABEL)
    else:
      assert batch['frame_labels'].numpy().min() >= 0
    names += batch_names
  assert set(sources) == {'one', 'two'}
  assert set(names) == {'one_0', 'one_1', 'two_0', 'two_1'}


def test_mix_datasets_in_batch_key_mixes(tfrecords_root):
  _make_dataset(tfrecords_root, 'one', [10] * 4)
  _make_dataset(tfrecords_root, 'two', [10] * 4, seed=1)
  CONFIG.DATASETS = ['one', 'two']
  CONFIG.TRAIN.BATCH_SIZE = 4
  CONFIG.TRAIN.NUM_FRAMES = 3
  CONFIG.DATA.MIX_DATASETS_IN_BATCH = True
  it = iter(datasets.create_dataset('train'))
  for _ in range(4):
    batch_names = _batch_names(next(it))
    assert sum(n.startswith('one') for n in batch_names) == 2


def test_frame_labels_false_makes_every_video_unlabelled(tfrecords_root):
  _make_dataset(tfrecords_root, 'two', [10] * 2)
  CONFIG.DATASETS = ['two']
  CONFIG.TRAIN.BATCH_SIZE = 2
  CONFIG.TRAIN.NUM_FRAMES = 3
  CONFIG.DATA.FRAME_LABELS = False
  batch = next(iter(datasets.create_dataset('train')))
  np.testing.assert_array_equal(batch['frame_labels'].numpy(),
                                datasets.NO_LABEL)
  assert not batch['has_labels'].numpy().any()


def test_unlabelled_records_are_unlabelled_everywhere(tfrecords_root):
  _make_dataset(tfrecords_root, 'raw', [6, 8], with_labels=False)
  paths = glob.glob(os.path.join(tfrecords_root, 'raw', '*.tfrecord'))
  for video in datasets.load_videos(paths):
    assert video['frame_labels'] is None and not video['has_labels']
  for element in datasets.create_one_epoch_dataset('raw', 'train'):
    assert not element['has_labels'].numpy()
    np.testing.assert_array_equal(element['frame_labels'].numpy(),
                                  datasets.NO_LABEL)
  assert [n for _, n in datasets.unlabelled_videos(paths)] == ['raw_0',
                                                                'raw_1']


def test_classification_refuses_unlabelled_videos_naming_them(
    tfrecords_root):
  _make_dataset(tfrecords_root, 'mixed', [10, 10], seed=2)
  _make_dataset(tfrecords_root, 'mixed', [10], split='train2',
                with_labels=False)
  # One split holding a labelled and an unlabelled file.
  os.rename(os.path.join(tfrecords_root, 'mixed',
                         'mixed_train2-00000-of-00001.tfrecord'),
            os.path.join(tfrecords_root, 'mixed',
                         'mixed_train-00001-of-00001.tfrecord'))
  CONFIG.DATASETS = ['mixed']
  CONFIG.TRAIN.BATCH_SIZE = 2
  CONFIG.TRAIN.NUM_FRAMES = 3
  CONFIG.TRAINING_ALGO = 'classification'
  with pytest.raises(datasets.DatasetError) as error:
    datasets.create_dataset('train', batch_spec=algos.get_batch_spec())
  message = str(error.value)
  assert 'classification' in message and 'mixed_0 (' in message
  assert message.count('mixed_0') == 1 and 'mixed_1' not in message
  # The self-supervised methods train on the same mixed split.
  CONFIG.TRAINING_ALGO = 'alignment'
  batch = next(iter(datasets.create_dataset(
      'train', batch_spec=algos.get_batch_spec())))
  assert batch['frames'].shape[0] == 2


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
    datasets.dataset_directory('pouring')
  message = str(error.value)
  assert os.path.join(tfrecords_root, 'pouring') in message
  assert 'videos_to_tfrecords' in message
  _make_dataset(tfrecords_root, 'pouring', [5])
  with pytest.raises(datasets.DatasetError, match='val'):
    datasets.create_one_epoch_dataset('pouring', 'val')


def test_reading_never_generates_and_generate_does_once(tfrecords_root,
                                                        caplog):
  caplog.set_level(std_logging.INFO)
  CONFIG.SYNTHETIC.NUM_TRAIN_VIDEOS = 3
  CONFIG.SYNTHETIC.NUM_VAL_VIDEOS = 2
  CONFIG.SYNTHETIC.MIN_FRAMES = 20
  CONFIG.SYNTHETIC.MAX_FRAMES = 24
  CONFIG.TRAIN.BATCH_SIZE = 2
  CONFIG.TRAIN.NUM_FRAMES = 5
  assert CONFIG.DATASETS == ['synthetic_pouring']
  directory = config.tfrecords_dir('synthetic_pouring')
  # Reading a synthetic dataset that is not there: one line that says which
  # command generates it, and nothing written.
  for read in (lambda: datasets.create_dataset('train'),
               lambda: datasets.get_dataset_info('synthetic_pouring'),
               lambda: datasets.create_one_epoch_dataset('synthetic_pouring',
                                                         'val')):
    with pytest.raises(datasets.DatasetError) as error:
      read()
    assert 'python -m dataset_preparation.generate' in str(error.value)
    assert '\n' not in str(error.value)
    assert not os.path.exists(directory)
  generate.ensure_generated(CONFIG)
  assert any('Generating' in r.getMessage() and directory in r.getMessage()
             for r in caplog.records)
  batch = next(iter(datasets.create_dataset('train')))
  assert batch['frames'].shape == (
      2, 5 * CONFIG.DATA.NUM_STEPS, SIZE, SIZE, 3)
  info = datasets.get_dataset_info('synthetic_pouring')
  assert info['splits']['val']['num_videos'] == 2 and info['num_classes'] == 5
  mtime = os.path.getmtime(glob.glob(os.path.join(directory, '*val*'))[0])
  caplog.clear()
  generate.ensure_generated(CONFIG)  # Up to date: not written again.
  assert len(list(datasets.create_one_epoch_dataset('synthetic_pouring',
                                                    'val'))) == 2
  assert not any('Generating' in r.getMessage() for r in caplog.records)
  assert os.path.getmtime(glob.glob(os.path.join(directory, '*val*'))[0]) == (
      mtime)
  CONFIG.SYNTHETIC.NUM_VAL_VIDEOS = 3  # Other parameters: generated again.
  generate.ensure_generated(CONFIG)
  assert datasets.get_dataset_info('synthetic_pouring')['splits']['val'][
      'num_videos'] == 3


def test_evaluation_takes_the_central_square_after_random_crops(
    tfrecords_root):
  """Published: with RANDOM_CROP, eval frames are the largest central square."""
  # 16 x 48 frames: left and right thirds black, central 16 x 16 white.
  frame = np.zeros((16, 48, 3), np.uint8)
  frame[:, 16:32] = 255
  _write_still_videos(tfrecords_root, 'wide', 'val', frame, 2, 8)
  CONFIG.DATASETS = ['wide']
  CONFIG.EVAL.BATCH_SIZE = 2
  CONFIG.EVAL.NUM_FRAMES = 3
  jpegs = next(iter(datasets.create_one_epoch_dataset('wide', 'val')))['jpegs']
  CONFIG.AUGMENTATION.RANDOM_CROP = True
  cropped = next(iter(datasets.create_dataset('val', mode='eval')))['frames']
  assert cropped.numpy().min() > 0.8  # Only the white centre.
  np.testing.assert_allclose(
      datasets.decode_eval_frames(jpegs[:2], SIZE, True).numpy(),
      cropped.numpy()[0, :2], atol=1e-6)
  CONFIG.AUGMENTATION.RANDOM_CROP = False
  whole = next(iter(datasets.create_dataset('val', mode='eval')))['frames']
  whole = whole.numpy()
  assert whole[..., :SIZE // 4, :].max() < -0.8  # The black left third.
  assert whole[..., SIZE // 2, :].min() > 0.8


def test_random_crop_is_a_published_square_window():
  for _ in range(50):
    y, x, h, w = datasets.random_square_window(
        tf.constant(30), tf.constant(50), 0.8).numpy()
    assert h == w and 24 <= h <= 30
    assert 0 <= y <= 30 - h and 0 <= x <= 50 - w
  np.testing.assert_array_equal(datasets.central_square_window(
      tf.constant(30), tf.constant(50)).numpy(), [0, 10, 30, 30])
