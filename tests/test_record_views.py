"""Tests of dataset_preparation/record_views.py with video files as sources."""

import os

import cv2
import numpy as np
import pytest

import datasets
from dataset_preparation import record_views
from dataset_preparation.multiview_videos_to_tfrecords import multiview_videos_to_tfrecords

SIZE = 32


def _write(path, fps, num_frames, fourcc):
  """Gray frames whose level is 100 * their time in seconds."""
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps,
                           (SIZE, SIZE))
  assert writer.isOpened()
  for i in range(num_frames):
    frame = np.zeros((SIZE, SIZE, 3), np.uint8)
    frame[:] = int(round(100 * i / fps))
    writer.write(frame)
  writer.release()


def _levels(path):
  capture = cv2.VideoCapture(path)
  levels = []
  while True:
    ok, frame = capture.read()
    if not ok:
      break
    levels.append(frame.mean())
  capture.release()
  return np.array(levels)


def test_files_of_different_rates_are_synchronised_by_timestamp(tmp_path):
  slow, fast = str(tmp_path / 'slow.avi'), str(tmp_path / 'fast.mp4')
  _write(slow, 10.0, 20, 'MJPG')   # 2 s at 10 fps
  _write(fast, 20.0, 40, 'mp4v')   # 2 s at 20 fps
  out = str(tmp_path / 'takes')
  messages = []
  result = record_views.record_views([slow, fast], out, fps=10.0,
                                     preview=True, log=messages.append)
  assert [os.path.basename(p) for p in result['paths']] == [
      '0_view0.mp4', '0_view1.mp4']
  assert result['num_frames'] == 20
  assert any('preview skipped' in m for m in messages)
  expected = 100 * np.arange(20) / 10.0
  for path in result['paths']:
    levels = _levels(path)
    assert len(levels) == 20
    # Two lossy codecs (source, then mp4v) shift gray levels by up to ~6;
    # frame-exact synchronisation is tested with exact timestamps below.
    np.testing.assert_allclose(levels, expected, atol=8)
    assert oct(os.stat(path).st_mode & 0o777) == '0o644'
  # A second take gets the next name; the converter groups both views.
  second = record_views.record_views([slow, fast], out, max_frames=5,
                                     preview=False, log=messages.append)
  assert os.path.basename(second['paths'][0]) == '1_view0.mp4'
  assert second['num_frames'] == 5
  records = str(tmp_path / 'records')
  summary = multiview_videos_to_tfrecords(out, records, 'rec', split='train')
  assert summary['written'] == {'train': 2} and not summary['skipped']
  takes = datasets.load_videos(datasets.glob.glob(records + '/rec_train*'))
  assert [(t['name'], t['len'], len(t['views'])) for t in takes] == [
      ('0', 20, 2), ('1', 5, 2)]


def test_converter_cli_takes_every_common_flag(tmp_path, run_tool):
  # The command line passes every option shared with videos_to_tfrecords.py
  # (a regression: --rotate reached the multi-view converter as an unknown
  # argument). Two takes, two views each; --file_pattern keeps one.
  videos = tmp_path / 'videos'
  videos.mkdir()
  for take in ('pour', 'wipe'):
    for view in range(2):  # 32 wide, 16 high.
      writer = cv2.VideoWriter(str(videos / ('%s_view%d.avi' % (take, view))),
                               cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (32, 16))
      for _ in range(6):
        writer.write(np.zeros((16, 32, 3), np.uint8))
      writer.release()
  out = tmp_path / 'records'
  result = run_tool('dataset_preparation.multiview_videos_to_tfrecords',
                    '--input_dir', videos, '--output_dir', out,
                    '--dataset_name', 'mv', '--split', 'train', '--rotate',
                    '--action_label', '3', '--file_pattern', 'pour*')
  assert result.returncode == 0, result.log[-2000:]
  assert 'Wrote 1 train takes (6 frames per view)' in result.stdout
  takes = datasets.load_videos(datasets.glob.glob(str(out / 'mv_train*')))
  assert [(t['name'], t['label']) for t in takes] == [('pour', 3)]
  # Turned 90 degrees: 32 high, 16 wide.
  assert [v.shape for v in takes[0]['views']] == [(6, 32, 16, 3)] * 2


def test_bad_sources(tmp_path):
  with pytest.raises(record_views.SourceError, match='at least 2 sources'):
    record_views.record_views(['0'], str(tmp_path))
  with pytest.raises(record_views.SourceError, match='missing.mp4: no such'):
    record_views.record_views([str(tmp_path / 'missing.mp4'), 'x.mp4'],
                              str(tmp_path))


class _FakeSource:
  """Frames numbered 0, 1, ... at times offset + i / fps."""

  def __init__(self, fps, num_frames, offset=0.0):
    self.fps, self.num_frames, self.offset, self.index = (fps, num_frames,
                                                          offset, 0)

  def read(self):
    if self.index >= self.num_frames:
      return None
    self.index += 1
    return self.offset + (self.index - 1) / self.fps, self.index - 1


def test_synchronized_frames_pick_the_latest_frame_at_each_time():
  sources = [_FakeSource(10.0, 20), _FakeSource(30.0, 60),
             _FakeSource(10.0, 20, offset=0.05)]
  frames = list(record_views.synchronized_frames(sources, 10.0))
  # t0 = 0.05, the first time every source has a frame; output k is at
  # 0.05 + k / 10: source 0 shows frame k (time k / 10), source 1 the
  # frame at or before it (3k + 1 at (3k + 1) / 30), source 2 frame k.
  assert frames[:3] == [[0, 1, 0], [1, 4, 1], [2, 7, 2]]
  # Source 0's last frame (19, at 1.9 s) lasts until 2.0 s: output 19 (at
  # 1.95 s) still shows it, output 20 (at 2.05 s) would not, so it ends.
  assert len(frames) == 20 and frames[-1] == [19, 58, 19]
  limited = list(record_views.synchronized_frames(
      [_FakeSource(10.0, 50), _FakeSource(10.0, 50)], 10.0, duration=1.0))
  assert len(limited) == 10
