"""Multi-view records: published layout, converter, same-step view sampling."""

import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

from data import sampling
import datasets
from dataset_preparation import tfrecord_io
from dataset_preparation.multiview_videos_to_tfrecords import find_takes
from dataset_preparation.multiview_videos_to_tfrecords import make_multiview_example
from dataset_preparation.multiview_videos_to_tfrecords import multiview_videos_to_tfrecords

SIZE = 16


def _write_video(path, frames, fps=10.0):
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), fps,
                           (SIZE, SIZE))
  assert writer.isOpened()
  for frame in frames:
    writer.write(frame[..., ::-1])
  writer.release()


def _coded_frame(view, t):
  """Constant RGB frame: red encodes the time step, green the view."""
  frame = np.zeros((SIZE, SIZE, 3), np.uint8)
  frame[..., 0] = 8 * t + 4
  frame[..., 1] = 60 * view + 30
  return frame


def _decode_code(frame_unit):
  """Model-range frame [-1, 1] -> (view, t)."""
  value = (np.mean(frame_unit[..., :2], axis=(0, 1)) + 1.0) * 127.5
  return int(round((value[1] - 30) / 60)), int(round((value[0] - 4) / 8))


def test_converter_groups_views_drops_mismatched_takes_and_reads_back(tmp_path):
  videos = tmp_path / 'videos'
  videos.mkdir()
  for name, lengths in (('a', (12, 12)), ('a1', (10, 11)), ('b', (12, 5))):
    for view, length in enumerate(lengths):
      _write_video(str(videos / ('%s_view%d.avi' % (name, view))),
                   [_coded_frame(view, t) for t in range(length)])
  (videos / 'notes_view.txt').write_text('not a video')
  assert {k: [os.path.basename(p) for p in v]
          for k, v in find_takes(str(videos)).items()} == {
              'a': ['a_view0.avi', 'a_view1.avi'],
              'a1': ['a1_view0.avi', 'a1_view1.avi'],
              'b': ['b_view0.avi', 'b_view1.avi']}
  out = tmp_path / 'records'
  summary = multiview_videos_to_tfrecords(
      str(videos), str(out), 'mv', split='train', max_views_discrepancy=3)
  assert summary['written'] == {'train': 2}
  assert [s[0] for s in summary['skipped']] == ['b']
  assert 'view lengths [12, 5] differ by more than 3' in summary['skipped'][0][1]
  shard = [str(out / f) for f in os.listdir(out) if f.endswith('.tfrecord')]
  assert len(shard) == 1
  # The published layout: context task and len, feature lists view0, view1.
  record = next(iter(tf.data.TFRecordDataset(shard[0]))).numpy()
  example = tf.train.SequenceExample.FromString(record)
  assert example.context.feature['task'].bytes_list.value[0] == b'a'
  assert example.context.feature['len'].int64_list.value[0] == 12
  assert sorted(example.feature_lists.feature_list) == ['view0', 'view1']
  videos_read = datasets.load_videos(shard)
  assert [v['name'] for v in videos_read] == ['a', 'a1']
  assert [v['len'] for v in videos_read] == [12, 10]
  for video in videos_read:
    assert len(video['views']) == 2
    assert all(v.shape == (video['len'], SIZE, SIZE, 3) and v.dtype == np.uint8
               for v in video['views'])
    np.testing.assert_array_equal(video['frames'], video['views'][0])
    # Green tells the view apart (MJPG is lossy, so roughly).
    assert abs(video['views'][1][..., 1].mean() - 90) < 10
  info = tfrecord_io.read_dataset_info(str(out))
  assert info['num_views'] == 2 and info['splits']['train']['num_videos'] == 2


def test_converter_reports_wrong_number_of_views(tmp_path):
  videos = tmp_path / 'videos'
  videos.mkdir()
  for view in range(3):
    _write_video(str(videos / ('t_view%d.avi' % view)),
                 [_coded_frame(view, t) for t in range(6)])
  _write_video(str(videos / 'u_view0.avi'), [_coded_frame(0, t)
                                             for t in range(6)])
  _write_video(str(videos / 'u_view1.avi'), [_coded_frame(1, t)
                                             for t in range(6)])
  summary = multiview_videos_to_tfrecords(str(videos), str(tmp_path / 'o'),
                                          'mv', split='val')
  assert summary['written'] == {'val': 1}
  assert summary['skipped'][0][0] == 't'
  assert 'expected 2 views, found 3' in summary['skipped'][0][1]


def _write_coded_records(directory, name, num_views=3, length=20, takes=2,
                         split='train'):
  with tfrecord_io.ShardedTFRecordWriter(directory, name, split) as writer:
    for take in range(takes):
      views = [[tfrecord_io.encode_jpeg(_coded_frame(v, t)) for t in
                range(length)] for v in range(num_views)]
      writer.write(make_multiview_example('take%d' % take, views)
                   .SerializeToString())


@pytest.mark.parametrize('view_sampling', ['first', 'per_take', 'per_step'])
def test_same_steps_in_every_view_slot(tmp_path, fresh_config, view_sampling):
  cfg = fresh_config
  cfg.PATH_TO_TFRECORDS = str(tmp_path / '%s')
  cfg.DATASETS = ['coded']
  cfg.IMAGE_SIZE = SIZE
  cfg.EVAL.BATCH_SIZE = 2
  cfg.EVAL.NUM_FRAMES = 5
  cfg.DATA.NUM_STEPS = 2
  cfg.DATA.FRAME_STRIDE = 1
  cfg.DATA.FRAME_LABELS = False
  _write_coded_records(str(tmp_path / 'coded'), 'coded')
  spec = sampling.BatchSpec(views=2, view_sampling=view_sampling)
  batch = next(iter(datasets.create_dataset('train', 'eval', spec)))
  frames = batch['frames'].numpy()
  steps = batch['steps'].numpy()
  assert frames.shape == (2, 2 * 5 * 2, SIZE, SIZE, 3)
  assert steps.shape == (2, 10)
  for b in range(2):
    np.testing.assert_array_equal(steps[b, :5], steps[b, 5:])
    codes = [_decode_code(f) for f in frames[b]]  # slot, step, context
    views = np.array([c[0] for c in codes]).reshape(2, 5, 2)
    times = np.array([c[1] for c in codes]).reshape(2, 5, 2)
    expected_times = np.maximum(0, steps[b, :5, None] - np.array([1, 0]))
    np.testing.assert_array_equal(times[0], expected_times)
    np.testing.assert_array_equal(times[1], expected_times)
    # Context frames of a step come from the step's view; the two slots of
    # a step show different views.
    assert (views[..., 0] == views[..., 1]).all()
    assert (views[0, :, 0] != views[1, :, 0]).all()
    if view_sampling == 'first':
      assert (views[0] == 0).all() and (views[1] == 1).all()
    if view_sampling == 'per_take':
      assert len(set(views[0, :, 0])) == 1


def test_multiview_spec_on_single_view_records_is_a_clear_error(
    tmp_path, fresh_config):
  cfg = fresh_config
  cfg.PATH_TO_TFRECORDS = str(tmp_path / '%s')
  cfg.DATASETS = ['single']
  with tfrecord_io.ShardedTFRecordWriter(str(tmp_path / 'single'), 'single',
                                         'train') as writer:
    jpegs = [tfrecord_io.encode_jpeg(_coded_frame(0, t)) for t in range(8)]
    writer.write(tfrecord_io.make_sequence_example('v', jpegs)
                 .SerializeToString())
  with pytest.raises(datasets.DatasetError, match='1 view.*needs 2'):
    datasets.create_dataset('train', 'eval', sampling.BatchSpec(views=2))


def test_one_epoch_dataset_with_all_views(tmp_path, fresh_config):
  cfg = fresh_config
  cfg.PATH_TO_TFRECORDS = str(tmp_path / '%s')
  cfg.IMAGE_SIZE = SIZE
  cfg.DATA.FRAME_LABELS = False
  _write_coded_records(str(tmp_path / 'coded'), 'coded', num_views=2,
                       length=7, takes=1, split='val')
  video = next(iter(datasets.create_one_epoch_dataset('coded', 'val',
                                                      all_views=True)))
  assert video['name'].numpy() == b'take0'
  # The views stay JPEG strings; frames are decoded a chunk at a time.
  assert video['view_jpegs'].shape == (2, 7)
  views = np.stack([datasets.decode_eval_frames(jpegs, SIZE, False).numpy()
                    for jpegs in video['view_jpegs']])
  assert views.shape == (2, 7, SIZE, SIZE, 3)
  assert [_decode_code(views[v, t]) for v in range(2) for t in (0, 6)] == [
      (0, 0), (0, 6), (1, 0), (1, 6)]
  np.testing.assert_array_equal(video['jpegs'].numpy(),
                                video['view_jpegs'][0].numpy())


def test_algorithm_samplers(tmp_path, fresh_config):
  import algos  # pylint: disable=g-import-not-at-top
  cfg = fresh_config
  cfg.PATH_TO_TFRECORDS = str(tmp_path / '%s')
  cfg.DATASETS = ['coded']
  cfg.IMAGE_SIZE = SIZE
  cfg.TRAIN.BATCH_SIZE = 2
  cfg.TRAIN.NUM_FRAMES = 4
  cfg.DATA.FRAME_LABELS = False
  cfg.MVTCN.WINDOW = 6
  _write_coded_records(str(tmp_path / 'coded'), 'coded', num_views=2)
  svtcn = next(iter(datasets.create_dataset(
      'train', 'train', algos.get_batch_spec('svtcn'))))['steps'].numpy()
  assert svtcn.shape == (2, 4) and (np.diff(svtcn, axis=1) == 1).all()
  for _ in range(3):
    mvtcn = next(iter(datasets.create_dataset(
        'train', 'train', algos.get_batch_spec('mvtcn'))))['steps'].numpy()
    assert mvtcn.shape == (2, 8)
    anchors = mvtcn[:, :4]
    assert (np.diff(anchors, axis=1) > 0).all()
    assert (anchors[:, -1] - anchors[:, 0] < 6).all()


def test_single_view_algorithms_read_view0_of_published_records(
    tmp_path, fresh_config):
  cfg = fresh_config
  cfg.PATH_TO_TFRECORDS = str(tmp_path / '%s')
  cfg.DATASETS = ['coded']
  cfg.IMAGE_SIZE = SIZE
  cfg.EVAL.BATCH_SIZE = 2
  cfg.EVAL.NUM_FRAMES = 4
  cfg.DATA.FRAME_STRIDE = 1
  cfg.DATA.FRAME_LABELS = False
  _write_coded_records(str(tmp_path / 'coded'), 'coded', num_views=2)
  batch = next(iter(datasets.create_dataset('train', 'eval',
                                            sampling.BatchSpec())))
  codes = [_decode_code(f) for f in batch['frames'].numpy()[0]]
  assert {view for view, _ in codes} == {0}
  assert batch['names'].numpy()[0].startswith(b'take')
