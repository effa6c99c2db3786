"""Tests of dataset_preparation/: conversion tools, labels, synthetic data."""

import glob
import json
import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

import datasets
from dataset_preparation import conversion
from dataset_preparation import images_to_tfrecords
from dataset_preparation import synthetic
from dataset_preparation import tfrecord_io
from dataset_preparation import videos_to_tfrecords
from visualization import tfrecords as visualize_tfrecords

VIDEO_FPS = 10.0


def _frame(t, size=(32, 24)):
  """A smooth, frame-dependent RGB image [H, W, 3] (compresses well)."""
  w, h = size
  yy, xx = np.mgrid[0:h, 0:w]
  r = (xx * 255 // (w - 1))
  g = (yy * 255 // (h - 1))
  b = np.full_like(xx, (t * 23) % 256)
  return np.stack([r, g, b], axis=-1).astype(np.uint8)


def _write_video(path, num_frames, fourcc='mp4v', size=(32, 24)):
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), VIDEO_FPS,
                           size)
  assert writer.isOpened()
  for t in range(num_frames):
    writer.write(_frame(t, size)[..., ::-1])
  writer.release()


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


def _expected_labels(events, times):
  """Independent reference: label = #events at or before each time."""
  return np.array([sum(1 for e in events if e <= t) for t in times])


def test_labels_from_event_times():
  events = [0.5, 1.25, 2.0]
  indices = np.arange(30)
  labels = conversion.labels_from_events(events, indices, VIDEO_FPS,
                                         'seconds', 30, 'v')
  np.testing.assert_array_equal(labels,
                                _expected_labels(events, indices / VIDEO_FPS))
  assert labels[5] == 1 and labels[4] == 0  # event exactly on frame 5


def test_labels_from_frame_indices():
  events = [3, 3, 10]
  indices = np.array([0, 2, 3, 4, 9, 10, 11])
  labels = conversion.labels_from_events(events, indices, VIDEO_FPS, 'frames',
                                         12, 'v')
  np.testing.assert_array_equal(labels, [0, 0, 2, 2, 2, 3, 3])


def test_labels_out_of_range_or_unordered_name_the_video():
  with pytest.raises(conversion.LabelError, match='clip7'):
    conversion.labels_from_events([1.0, 5.0], np.arange(20), VIDEO_FPS,
                                  'seconds', 20, 'clip7')
  with pytest.raises(conversion.LabelError, match='clip8'):
    conversion.labels_from_events([4, 2], np.arange(20), VIDEO_FPS, 'frames',
                                  20, 'clip8')


def test_videos_round_trip_with_corrupt_and_truncated_videos(tmp_path):
  src = tmp_path / 'videos'
  src.mkdir()
  lengths = {'a': 12, 'b': 20, 'c': 15}
  for name, n in lengths.items():
    _write_video(str(src / ('%s.mp4' % name)), n)
  (src / 'garbage.mp4').write_bytes(os.urandom(5000))
  _write_video(str(src / 'cut.avi'), 40, fourcc='MJPG')
  data = (src / 'cut.avi').read_bytes()
  (src / 'cut.avi').write_bytes(data[:len(data) // 3])
  (src / 'notes.txt').write_text('not a video')
  annotations = tmp_path / 'events.json'
  events = {'a': [0.3, 0.8], 'b': [1.0], 'c': {'events': [0.0, 0.5, 1.4]},
            'garbage': [0.1], 'cut': [0.1]}
  annotations.write_text(json.dumps(events))
  out = tmp_path / 'out'
  summary = videos_to_tfrecords.videos_to_tfrecords(
      str(src), str(out), 'toy', split='train', annotation_path=str(
          annotations), num_shards=2)
  skipped = dict(summary['skipped'])
  assert set(skipped) == {'garbage', 'cut'}
  assert 'truncated' in skipped['cut'] or 'cannot' in skipped['cut']
  assert summary['written'] == {'train': 3}
  paths = sorted(glob.glob(str(out / 'toy_train-*-of-00002.tfrecord')))
  assert len(paths) == 2
  videos = {v['name']: v for v in datasets.load_videos(paths)}
  assert set(videos) == set(lengths)
  for name, n in lengths.items():
    video = videos[name]
    assert video['len'] == n and video['frames'].shape == (n, 24, 32, 3)
    expected = np.stack([_frame(t) for t in range(n)]).astype(float)
    # mp4v + JPEG: a few gray levels off on average.
    assert np.abs(video['frames'] - expected).mean() < 8
    ev = events[name]['events'] if isinstance(events[name], dict) else (
        events[name])
    np.testing.assert_array_equal(video['frame_labels'], _expected_labels(
        ev, np.arange(n) / VIDEO_FPS))
  info = json.loads((out / 'dataset_info.json').read_text())
  assert info['splits']['train'] == {'num_videos': 3, 'num_frames': 47}
  assert info['num_classes'] == 4 and info['image_size'] == [24, 32]
  assert info['fps'] == pytest.approx(VIDEO_FPS)


def test_resampling_resize_and_val_fraction(tmp_path):
  src = tmp_path / 'videos'
  src.mkdir()
  for i in range(5):
    _write_video(str(src / ('v%d.avi' % i)), 20, fourcc='MJPG')
  csv_path = tmp_path / 'events.csv'
  csv_path.write_text('name,e1\n' + ''.join('v%d,%d\n' % (i, 7)
                                             for i in range(5)))
  out = tmp_path / 'out'
  summary = videos_to_tfrecords.videos_to_tfrecords(
      str(src), str(out), 'rs', val_fraction=0.4, seed=3, target_fps=5.0,
      resize='16', annotation_path=str(csv_path), annotation_unit='frames',
      num_workers=2)
  assert summary['written'] == {'train': 3, 'val': 2}
  again = conversion.assign_splits(['v%d' % i for i in range(5)][::-1],
                                   val_fraction=0.4, seed=3)
  val_videos = datasets.load_videos(glob.glob(str(out / 'rs_val-*')))
  assert sorted(v['name'] for v in val_videos) == again['val']
  for video in val_videos:
    # 20 frames at 10 fps -> 10 frames at 5 fps, source frames 0, 2, 4, ...
    assert video['frames'].shape == (10, 16, 16, 3)
    np.testing.assert_array_equal(video['frame_labels'],
                                  (np.arange(0, 20, 2) >= 7).astype(int))


def test_label_count_mismatch_is_an_error_naming_the_video(tmp_path):
  src = tmp_path / 'videos'
  src.mkdir()
  _write_video(str(src / 'short.avi'), 8, fourcc='MJPG')
  annotations = tmp_path / 'labels.json'
  annotations.write_text(json.dumps({'short': {'frame_labels': [0] * 11}}))
  with pytest.raises(conversion.LabelError, match=r'short.*11.*8'):
    videos_to_tfrecords.videos_to_tfrecords(
        str(src), str(tmp_path / 'out'), 'mm', split='train',
        annotation_path=str(annotations))
  assert not glob.glob(str(tmp_path / 'out' / '*tfrecord*'))
  assert not glob.glob(str(tmp_path / 'out' / '.*'))


def test_image_folders_with_fps(tmp_path):
  src = tmp_path / 'frames'
  lengths = {'clip_a': 6, 'clip_b': 11}
  for name, n in lengths.items():
    (src / name).mkdir(parents=True)
    for t in range(n):
      # Unpadded numbers: natural sort must order frame_2 before frame_10.
      cv2.imwrite(str(src / name / ('frame_%d.png' % t)), _frame(t)[..., ::-1])
  annotations = tmp_path / 'events.json'
  annotations.write_text(json.dumps({'clip_a': [1.0], 'clip_b': [0.5, 2.0]}))
  out = tmp_path / 'out'
  summary = images_to_tfrecords.images_to_tfrecords(
      str(src), str(out), 'img', fps=2.0, split='val',
      annotation_path=str(annotations))
  assert summary['written'] == {'val': 2} and not summary['skipped']
  videos = {v['name']: v for v in datasets.load_videos(
      glob.glob(str(out / 'img_val-*')))}
  for name, n in lengths.items():
    expected = np.stack([_frame(t) for t in range(n)]).astype(float)
    assert np.abs(videos[name]['frames'] - expected).mean() < 4
  np.testing.assert_array_equal(videos['clip_a']['frame_labels'],
                                _expected_labels([1.0], np.arange(6) / 2.0))
  np.testing.assert_array_equal(videos['clip_b']['frame_labels'],
                                _expected_labels([0.5, 2.0],
                                                 np.arange(11) / 2.0))


def test_interrupted_write_leaves_no_shard_under_final_name(tmp_path):
  out = str(tmp_path)
  with tfrecord_io.ShardedTFRecordWriter(out, 'ds', 'train', 1) as writer:
    writer.write(b'old')
  old = glob.glob(os.path.join(out, 'ds_train-*'))
  assert len(old) == 1
  with pytest.raises(KeyboardInterrupt):
    with tfrecord_io.ShardedTFRecordWriter(out, 'ds', 'train', 3) as writer:
      for _ in range(4):
        writer.write(b'x' * 100)
      raise KeyboardInterrupt
  # The earlier complete shard survives; no new or temporary file is left.
  assert sorted(os.listdir(out)) == [os.path.basename(old[0])]
  records = list(tf.data.TFRecordDataset(old[0]).as_numpy_iterator())
  assert records == [b'old']


def test_interrupted_conversion_leaves_no_shard(tmp_path, monkeypatch):
  src = tmp_path / 'videos'
  src.mkdir()
  for i in range(3):
    _write_video(str(src / ('v%d.avi' % i)), 6, fourcc='MJPG')
  calls = []
  real = tfrecord_io.make_sequence_example

  def dying(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
      raise KeyboardInterrupt
    return real(*args, **kwargs)
  monkeypatch.setattr(tfrecord_io, 'make_sequence_example', dying)
  with pytest.raises(KeyboardInterrupt):
    videos_to_tfrecords.videos_to_tfrecords(str(src), str(tmp_path / 'out'),
                                            'kill', split='train')
  assert os.listdir(tmp_path / 'out') == []


def test_synthetic_deterministic_and_five_phases(tmp_path):
  kwargs = dict(num_train=3, num_val=1, image_size=32, min_frames=20,
                max_frames=30)
  synthetic.generate_dataset(str(tmp_path / 'a'), seed=5, **kwargs)
  synthetic.generate_dataset(str(tmp_path / 'b'), seed=5, **kwargs)
  synthetic.generate_dataset(str(tmp_path / 'c'), seed=6, **kwargs)
  def read(d, split='train'):
    return datasets.load_videos(sorted(glob.glob(
        str(tmp_path / d / ('synthetic_pouring_%s-*' % split)))))
  a, b, c = read('a'), read('b'), read('c')
  assert len(a) == 3 and len(read('a', 'val')) == 1
  for va, vb in zip(a, b):
    assert va['name'] == vb['name']
    np.testing.assert_array_equal(va['frames'], vb['frames'])
    np.testing.assert_array_equal(va['frame_labels'], vb['frame_labels'])
  assert any(va['frames'].shape != vc['frames'].shape or
             not np.array_equal(va['frames'], vc['frames'])
             for va, vc in zip(a, c))
  for video in a + c:
    assert 20 <= video['len'] <= 30
    assert video['frames'].shape[1:] == (32, 32, 3)
    labels = video['frame_labels']
    assert sorted(set(labels.tolist())) == [0, 1, 2, 3, 4]
    assert np.all(np.diff(labels) >= 0)
  info = json.loads((tmp_path / 'a' / 'dataset_info.json').read_text())
  assert info['num_classes'] == 5 and info['image_size'] == [32, 32]
  assert info['splits']['train']['num_videos'] == 3


def test_synthetic_multi_view_records(tmp_path):
  synthetic.generate_dataset(str(tmp_path), num_train=1, num_val=0,
                             image_size=32, min_frames=15, max_frames=15,
                             num_views=2, seed=1)
  path = glob.glob(str(tmp_path / 'synthetic_pouring_train-*'))[0]
  record = next(iter(tf.data.TFRecordDataset(path).as_numpy_iterator()))
  example = tf.train.SequenceExample.FromString(record)
  lists = example.feature_lists.feature_list
  assert example.context.feature['num_views'].int64_list.value[0] == 2
  assert len(lists['view0'].feature) == len(lists['view1'].feature) == 15
  assert lists['video'].feature[3] == lists['view0'].feature[3]
  assert lists['view0'].feature[3] != lists['view1'].feature[3]


def test_synthetic_action_state_is_visible_and_appearance_varies():
  # The container moves: frame differences inside a take are large compared
  # to the noise, and the looks of two takes differ.
  take = synthetic.render_take([0, 1], 64, 40, 40, variation=0.5)
  frames = take['frames'][0].astype(float)
  assert np.abs(frames[take['key_events'][1]] - frames[0]).mean() > 3
  other = synthetic.render_take([0, 2], 64, 40, 40, variation=0.5)
  assert np.abs(other['frames'][0, 0] - frames[0]).mean() > 10
  fixed = [synthetic.render_take([0, i], 64, 40, 40, variation=0.0,
                                 mirror=False)['frames'][0, 0]
           for i in range(2)]
  np.testing.assert_array_equal(fixed[0], fixed[1])


def test_visualize_contact_sheet_and_video(tmp_path):
  synthetic.generate_dataset(str(tmp_path), num_train=2, num_val=0,
                             image_size=32, min_frames=12, max_frames=12)
  path = glob.glob(str(tmp_path / 'synthetic_pouring_train-*'))[0]
  sheet_path = str(tmp_path / 'sheet.png')
  video = visualize_tfrecords.visualize(path, sheet_path, index=1,
                                        max_frames=6, columns=3)
  name = video['name']
  assert name == 'synthetic_pouring_train_0001'
  assert visualize_tfrecords.describe(video, sheet_path) == (
      "Wrote %s: video 'synthetic_pouring_train_0001', 12 frames, phases "
      "%s." % (sheet_path, sorted(set(video['frame_labels'].tolist()))))
  sheet = cv2.imread(sheet_path)
  assert sheet.shape[0] > 2 * 128 and sheet.shape[1] == 3 * 128
  assert os.stat(sheet_path).st_mode & 0o777 == 0o666 & ~_umask()
  video_path = str(tmp_path / 'video.mp4')
  visualize_tfrecords.visualize(path, video_path, name=name)
  capture = cv2.VideoCapture(video_path)
  assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
  with pytest.raises(ValueError, match='no video named'):
    visualize_tfrecords.visualize(path, video_path, name='nope')


# ----------------------------------------------------------------------------
# Published annotation format, converter options, first-run rough edges.
# ----------------------------------------------------------------------------


def _avi_folder(tmp_path, names, num_frames):
  """tmp_path/videos with one MJPG .avi of `num_frames` frames per name."""
  src = tmp_path / 'videos'
  src.mkdir()
  for name in names:
    _write_video(str(src / ('%s.avi' % name)), num_frames, fourcc='MJPG')
  return src


def _image_folder(root, name, num_frames, size=(32, 24)):
  (root / name).mkdir(parents=True)
  for t in range(num_frames):
    cv2.imwrite(str(root / name / ('%04d.png' % t)), _frame(t, size)[..., ::-1])


def test_published_segment_json_to_frame_labels(tmp_path):
  # Two annotators, 3 segments, microseconds; annotator "b" has an extra
  # segment "3" that expected_segments=3 ignores.
  published = {'pour': {
      'a': {'0': [400000, 1000000], '1': [1200000, 2000000],
            '2': [2000000, 3000000]},
      'b': {'0': [600000, 1400000], '1': [1400000, 2400000],
            '2': [2400000, 3000000], '3': [3000000, 3100000]}}}
  # By hand: means [0.5, 1.2], [1.3, 2.2], [2.2, 3.0] s; the gap between
  # segments 0 and 1 closes at (1.2 + 1.3) / 2 = 1.25 s, 1 and 2 meet at
  # 2.2 s. At 10 fps frame t is at t / 10 s: frames 0-4 precede segment 0
  # and take its label, 0-12 -> 0 (1.2 < 1.25), 13-21 -> 1, 22-29 -> 2,
  # 30-34 are at or after the last end (3.0 s) and take its label 2.
  expected = [0] * 13 + [1] * 9 + [2] * 13
  path = tmp_path / 'published.json'
  path.write_text(json.dumps(published))
  annotations = conversion.load_annotations(str(path), expected_segments=3)
  np.testing.assert_allclose(annotations['pour']['segments'],
                             [[0.5, 1.25], [1.25, 2.2], [2.2, 3.0]])
  _image_folder(tmp_path / 'frames', 'pour', 35, size=(16, 16))
  out = tmp_path / 'out'
  images_to_tfrecords.images_to_tfrecords(
      str(tmp_path / 'frames'), str(out), 'pub', fps=10.0, split='train',
      annotation_path=str(path), expected_segments=3)
  video, = datasets.load_videos(glob.glob(str(out / 'pub_train-*')))
  np.testing.assert_array_equal(video['frame_labels'], expected)
  # Without expected_segments the annotators disagree (3 vs 4 segments).
  with pytest.raises(conversion.LabelError, match='expected_segments'):
    conversion.load_annotations(str(path))
  # A frame that falls in no segment is an error, not a dropped label.
  with pytest.raises(conversion.LabelError, match='no segment'):
    conversion.labels_from_segments([[0.0, 1.0], [2.0, 3.0]],
                                    [0.5, 1.5], 'gap')


def test_rotate_file_pattern_and_action_label(tmp_path):
  src = _avi_folder(tmp_path, ('pour_1', 'pour_2', 'other'), 6)
  out = tmp_path / 'out'
  videos_to_tfrecords.videos_to_tfrecords(
      str(src), str(out), 'opt', split='train', file_pattern='pour_*',
      rotate=True, action_label=7)
  videos = datasets.load_videos(glob.glob(str(out / 'opt_train-*')))
  assert sorted(v['name'] for v in videos) == ['pour_1', 'pour_2']
  for video in videos:
    assert video['label'] == 7
    # 32x24 frames turned 90 degrees clockwise are 24 wide, 32 high.
    assert video['frames'].shape == (6, 32, 24, 3)
    expected = np.rot90(_frame(0), k=-1).astype(float)
    assert np.abs(video['frames'][0] - expected).mean() < 8


def test_annotation_keys_with_extension_and_unmatched_keys(tmp_path):
  src = _avi_folder(tmp_path, ('clip1', 'clip2'), 10)
  path = tmp_path / 'events.json'
  path.write_text(json.dumps({'clip1': [0.5], 'clip2.avi': [0.2],
                              'clip3.mp4': [0.1]}))
  summary = videos_to_tfrecords.videos_to_tfrecords(
      str(src), str(tmp_path / 'out'), 'ext', split='train',
      annotation_path=str(path))
  assert summary['written'] == {'train': 2} and not summary['skipped']
  assert summary['unmatched_annotations'] == ['clip3.mp4']
  videos = {v['name']: v for v in datasets.load_videos(
      glob.glob(str(tmp_path / 'out' / 'ext_train-*')))}
  np.testing.assert_array_equal(videos['clip2']['frame_labels'],
                                _expected_labels([0.2], np.arange(10) / 10))


def test_skipped_videos_leave_no_empty_shard(tmp_path):
  src = _avi_folder(tmp_path, ('good',), 8)
  (src / 'bad1.mp4').write_bytes(os.urandom(3000))
  (src / 'bad2.mp4').write_bytes(os.urandom(3000))
  out = tmp_path / 'out'
  summary = videos_to_tfrecords.videos_to_tfrecords(
      str(src), str(out), 'sk', split='train', num_shards=3)
  assert summary['written'] == {'train': 1}
  shards = sorted(glob.glob(str(out / 'sk_train-*')))
  assert [os.path.basename(p) for p in shards] == [
      'sk_train-00000-of-00001.tfrecord']
  assert all(os.path.getsize(p) > 0 for p in shards)
  assert os.stat(shards[0]).st_mode & 0o777 == 0o666 & ~_umask()
  assert (os.stat(out / 'dataset_info.json').st_mode & 0o777 ==
          0o666 & ~_umask())
  video = visualize_tfrecords.visualize(shards[0], str(tmp_path / 's.png'))
  assert video['name'] == 'good'


def test_corrupt_video_without_entry_is_reported_as_corrupt(tmp_path):
  src = _avi_folder(tmp_path, ('good', 'unlabelled'), 8)
  (src / 'broken.mp4').write_bytes(os.urandom(3000))
  path = tmp_path / 'events.csv'
  path.write_text('good,0.3\n')
  summary = videos_to_tfrecords.videos_to_tfrecords(
      str(src), str(tmp_path / 'out'), 'cv', split='train',
      annotation_path=str(path))
  skipped = dict(summary['skipped'])
  assert 'cannot be opened' in skipped['broken'] or (
      'decoded' in skipped['broken'])
  assert 'events.csv' not in skipped['broken']
  assert skipped['unlabelled'].startswith('no entry in %s' % path)


def test_bad_annotation_leaves_no_half_dataset(tmp_path):
  src = _avi_folder(tmp_path, ['v%d' % i for i in range(4)], 10)
  out = tmp_path / 'out'
  # An earlier dataset in the folder must stay as it was.
  videos_to_tfrecords.videos_to_tfrecords(str(src), str(out), 'half',
                                          split='old')
  before = sorted(os.listdir(out))
  info_before = (out / 'dataset_info.json').read_text()
  path = tmp_path / 'events.json'
  # Every video fits but one: its event is after the end of the video.
  path.write_text(json.dumps({'v0': [0.1], 'v1': [0.2], 'v2': [0.3],
                              'v3': [9.0]}))
  with pytest.raises(conversion.LabelError, match='v3'):
    videos_to_tfrecords.videos_to_tfrecords(
        str(src), str(out), 'half', val_fraction=0.5,
        annotation_path=str(path))
  assert sorted(os.listdir(out)) == before
  assert (out / 'dataset_info.json').read_text() == info_before
  # A malformed entry stops the run before any video is read.
  path.write_text(json.dumps({'v0': [0.5, 0.1]}))
  with pytest.raises(conversion.LabelError, match='increasing'):
    conversion.load_annotations(str(path))


def test_converter_help_shows_every_flag():
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run(
      [sys.executable, '-m', 'dataset_preparation.videos_to_tfrecords',
       '--help'], cwd=repo, capture_output=True, text=True, timeout=120,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL=''))
  for flag in ('--input_dir', '--annotations', '--[no]rotate',
               '--file_pattern', '--action_label', '--expected_segments',
               '--resize', '--shorter_side', '--[no]tf_verbose',
               '--label_file'):
    assert flag in result.stdout, flag
  assert 'start_us, end_us' in result.stdout  # --annotations gives the format
  # Quiet start-up: none of TensorFlow's start-up lines.
  assert 'cuda' not in result.stderr.lower(), result.stderr
  assert 'absl::InitializeLog' not in result.stderr, result.stderr
