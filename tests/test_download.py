"""Downloads and archives of dataset_preparation/, on local files only."""

import base64
import email.message
import glob
import hashlib
import io
import os
import tarfile
import urllib.error
import zipfile

import cv2
import numpy as np
import pytest
import scipy.io
import tensorflow as tf

import datasets
from dataset_preparation import download
from dataset_preparation import download_penn_action
from dataset_preparation import download_pouring
from dataset_preparation import tfrecord_io


class _Response(io.BytesIO):

  def __init__(self, data, status, headers):
    super().__init__(data)
    self.status = status
    self.headers = email.message.Message()
    for key, value in headers.items():
      self.headers[key] = value


class FakeServer:
  """An opener serving bytes by URL, with or without Range support."""

  def __init__(self, files, ranges=True, extra_headers=None):
    self.files = files
    self.ranges = ranges
    self.extra_headers = extra_headers or {}
    self.requests = []

  def __call__(self, request):
    data = self.files[request.full_url]
    byte_range = request.get_header('Range')
    self.requests.append(byte_range)
    headers = dict(self.extra_headers)
    if byte_range and self.ranges:
      start = int(byte_range[len('bytes='):-1])
      if start >= len(data):
        raise urllib.error.HTTPError(request.full_url, 416, 'range', {}, None)
      headers['Content-Range'] = 'bytes %d-%d/%d' % (start, len(data) - 1,
                                                     len(data))
      headers['Content-Length'] = str(len(data) - start)
      return _Response(data[start:], 206, headers)
    headers['Content-Length'] = str(len(data))
    return _Response(data, 200, headers)


URL = 'https://example.invalid/data.bin'
DATA = bytes(range(256)) * 40


def test_partial_download_resumes_with_a_range_request(tmp_path):
  path = str(tmp_path / 'data.bin')
  with open(path + '.part', 'wb') as f:
    f.write(DATA[:3000])
  server = FakeServer({URL: DATA})
  download.fetch(URL, path, sha256=hashlib.sha256(DATA).hexdigest(),
                 opener=server)
  assert server.requests == ['bytes=3000-']
  assert open(path, 'rb').read() == DATA
  assert not os.path.exists(path + '.part')


def test_server_without_ranges_restarts_and_size_is_checked(tmp_path):
  path = str(tmp_path / 'data.bin')
  with open(path + '.part', 'wb') as f:
    f.write(b'stale bytes')
  download.fetch(URL, path, opener=FakeServer({URL: DATA}, ranges=False))
  assert open(path, 'rb').read() == DATA
  # A short transfer fails clearly and keeps the part file to resume.
  short = str(tmp_path / 'short.bin')
  with pytest.raises(download.DownloadError, match='expected 20000.*resume'):
    download.fetch(URL, short, expected_size=20000,
                   opener=FakeServer({URL: DATA}))
  assert os.path.getsize(short + '.part') == len(DATA)


def test_checksum_mismatch_fails_and_deletes_the_download(tmp_path):
  path = str(tmp_path / 'data.bin')
  with pytest.raises(download.DownloadError, match='sha256 checksum mismatch'):
    download.fetch(URL, path, sha256='0' * 64, opener=FakeServer({URL: DATA}))
  assert not os.path.exists(path) and not os.path.exists(path + '.part')
  # The MD5 announced by Google Cloud Storage is checked too.
  wrong = base64.b64encode(hashlib.md5(b'other').digest()).decode()
  server = FakeServer({URL: DATA},
                      extra_headers={'x-goog-hash': 'crc32c=AAAA,md5=' + wrong})
  with pytest.raises(download.DownloadError, match='md5 checksum mismatch'):
    download.fetch(URL, path, opener=server)
  assert not os.path.exists(path)


def test_file_url(tmp_path):
  source = tmp_path / 'source.bin'
  source.write_bytes(DATA)
  path = download.fetch(source.as_uri(), str(tmp_path / 'copy.bin'))
  assert open(path, 'rb').read() == DATA
  with pytest.raises(download.DownloadError, match='missing'):
    download.fetch((tmp_path / 'missing').as_uri(), str(tmp_path / 'x'))


def _tar(path, entries):
  """entries: list of (TarInfo fields dict, bytes or None)."""
  with tarfile.open(path, 'w:gz') as tar:
    for fields, data in entries:
      info = tarfile.TarInfo(fields.pop('name'))
      for key, value in fields.items():
        setattr(info, key, value)
      if data is not None:
        info.size = len(data)
      tar.addfile(info, io.BytesIO(data) if data is not None else None)


@pytest.mark.parametrize('bad', [
    {'name': '../evil.txt'},
    {'name': 'ok/../../evil.txt'},
    {'name': '/tmp/absolute_evil.txt'},
    {'name': 'link', 'type': tarfile.SYMTYPE, 'linkname': '../../evil.txt'},
    {'name': 'hard', 'type': tarfile.LNKTYPE, 'linkname': '/etc/passwd'},
])
def test_unsafe_tar_entries_are_refused_before_writing(tmp_path, bad):
  archive = str(tmp_path / 'bad.tar.gz')
  data = None if 'type' in bad else b'payload'
  _tar(archive, [({'name': 'good.txt'}, b'fine'), (dict(bad), data)])
  target = tmp_path / 'work' / 'target'
  with pytest.raises(download.DownloadError, match='refused'):
    download.extract(archive, str(target))
  assert not target.exists()
  assert not (tmp_path / 'evil.txt').exists()
  assert not os.path.exists('/tmp/absolute_evil.txt')
  assert not (tmp_path / 'work').exists()  # checked before any write


def test_unsafe_zip_entries_are_refused_and_safe_archives_extract(tmp_path):
  archive = str(tmp_path / 'bad.zip')
  with zipfile.ZipFile(archive, 'w') as zf:
    zf.writestr('good.txt', 'fine')
    zf.writestr('../evil.txt', 'payload')
  with pytest.raises(download.DownloadError, match=r'refused.*\.\.'):
    download.extract(archive, str(tmp_path / 'target'))
  assert not (tmp_path / 'evil.txt').exists()
  assert not (tmp_path / 'target').exists()
  good = str(tmp_path / 'good.tar.gz')
  _tar(good, [({'name': 'd/a.txt'}, b'A'),
              ({'name': 'd/inner', 'type': tarfile.SYMTYPE,
                'linkname': 'a.txt'}, None)])
  target = download.extract(good, str(tmp_path / 'target'))
  assert open(os.path.join(target, 'd', 'inner')).read() == 'A'
  assert os.stat(target).st_mode & 0o777 == 0o777 & ~_umask()


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


def _jpegs(num_frames, size=16):
  return [cv2.imencode('.jpg', np.full((size, size, 3), 10 * t, np.uint8))[
      1].tobytes() for t in range(num_frames)]


def _write_records(path, videos):
  with tf.io.TFRecordWriter(path) as writer:
    for name, num_frames in videos:
      writer.write(tfrecord_io.make_sequence_example(
          name, _jpegs(num_frames),
          frame_labels=np.arange(num_frames) * 3 // num_frames)
                   .SerializeToString())


def test_download_pouring_writes_a_complete_dataset_or_nothing(tmp_path):
  source = tmp_path / 'bucket'
  source.mkdir()
  _write_records(str(source / 'pouring_train-0-of-2.tfrecord'),
                 [('a', 5), ('b', 6)])
  _write_records(str(source / 'pouring_train-1-of-2.tfrecord'), [('c', 4)])
  output = tmp_path / 'pouring_tfrecords'
  # A missing file: nothing at the output path, the rest kept to resume.
  with pytest.raises(download.DownloadError):
    download_pouring.download_pouring(str(output), source.as_uri() + '/')
  assert not output.exists()
  assert sorted(os.listdir(str(output) + '.download')) == [
      'pouring_train-0-of-2.tfrecord', 'pouring_train-1-of-2.tfrecord']
  _write_records(str(source / 'pouring_val-0-of-1.tfrecord'), [('v', 7)])
  info = download_pouring.download_pouring(str(output),
                                           source.as_uri() + '/')
  assert not os.path.exists(str(output) + '.download')
  assert info['splits'] == {'train': {'num_videos': 3, 'num_frames': 15},
                            'val': {'num_videos': 1, 'num_frames': 7}}
  assert info['num_classes'] == 3 and info['image_size'] == [16, 16]
  assert tfrecord_io.read_dataset_info(str(output)) == info
  # The pipeline's layout: <dataset>_<split>* files.
  assert len(glob.glob(str(output / 'pouring_train*'))) == 2


def test_download_penn_action_from_local_archives(tmp_path):
  penn = tmp_path / 'src' / 'Penn_Action'
  lengths = {'0001': 4, '0002': 5, '0003': 3, '0004': 6}
  actions = {'0001': 'squat', '0002': 'squat', '0003': 'jump_rope',
             '0004': 'squat'}
  for video, n in lengths.items():
    (penn / 'frames' / video).mkdir(parents=True)
    for t in range(n):
      cv2.imwrite(str(penn / 'frames' / video / ('%06d.jpg' % (t + 1))),
                  np.full((20, 24, 3), 20 * t, np.uint8))
    (penn / 'labels').mkdir(exist_ok=True)
    scipy.io.savemat(str(penn / 'labels' / ('%s.mat' % video)),
                     {'action': actions[video], 'nframes': n})
  frames_archive = tmp_path / 'Penn_Action.tar.gz'
  with tarfile.open(frames_archive, 'w:gz') as tar:
    tar.add(str(penn), arcname='Penn_Action')
  phase = {'0001': ('train', [0, 0, 1, 1]), '0002': ('val', [0, 1, 1, 2, 2]),
           # 6 frames but 5 labels: skipped and reported.
           '0004': ('train', [0, 0, 1, 1, 2])}
  labels_archive = tmp_path / 'labels.zip'
  with zipfile.ZipFile(labels_archive, 'w') as zf:
    for video, (split, labels) in phase.items():
      buffer = io.BytesIO()
      np.save(buffer, np.array(labels))
      zf.writestr('penn_action_labels/%s/squat/%s.npy' % (split, video),
                  buffer.getvalue())
  pattern = str(tmp_path / 'tfrecords' / '%s_tfrecords')
  infos = download_penn_action.prepare_penn_action(
      pattern, str(tmp_path / 'work'), labels_url=labels_archive.as_uri(),
      frames_url=frames_archive.as_uri(), resize='16')
  assert list(infos) == ['squat']
  assert infos['squat']['splits'] == {'train': {'num_videos': 1,
                                                'num_frames': 4},
                                      'val': {'num_videos': 1,
                                              'num_frames': 5}}
  for split, video in (('train', '0001'), ('val', '0002')):
    records = datasets.load_videos(glob.glob(pattern % 'squat' + '/squat_%s-*'
                                             % split))
    assert [r['name'] for r in records] == [video]
    np.testing.assert_array_equal(records[0]['frame_labels'],
                                  phase[video][1])
    assert records[0]['frames'].shape[1:3] == (16, 16)
  # A second run keeps the complete dataset.
  again = download_penn_action.prepare_penn_action(
      pattern, str(tmp_path / 'work'), labels_url=labels_archive.as_uri(),
      frames_url=frames_archive.as_uri(), resize='16')
  assert again == infos
