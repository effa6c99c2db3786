r"""Downloads the published Pouring TFRecords of TCC (Dwibedi et al., 2019).

    python -m dataset_preparation.download_pouring [--output_dir DIR]

The three published files (`pouring_train-0-of-2.tfrecord`,
`pouring_train-1-of-2.tfrecord`, `pouring_val-0-of-1.tfrecord`) are fetched
into `<output_dir>.download/`, resuming files a previous run left
incomplete, and checked (size, and the MD5 that Google Cloud Storage
announces). Then `dataset_info.json` is computed from the records and the
folder is renamed to --output_dir (default: where CONFIG.PATH_TO_TFRECORDS
expects the dataset `pouring`), so --output_dir only ever holds a complete
dataset. Train with `--config_path configs/published/pouring.yml`.
"""

from utils import cli  # first: quiets TensorFlow's start-up

import os  # pylint: disable=g-bad-import-order

from absl import flags
import cv2
import numpy as np
import tensorflow as tf

import config
from dataset_preparation import download
from dataset_preparation import tfrecord_io

DATASET = 'pouring'
BASE_URL = 'https://storage.googleapis.com/tcc-pouring/'
FILES = {'train': ('pouring_train-0-of-2.tfrecord',
                   'pouring_train-1-of-2.tfrecord'),
         'val': ('pouring_val-0-of-1.tfrecord',)}


def scan_records(paths):
  """Counts of TFRecords in the published layout, without decoding videos.

  Returns:
    dict: num_videos, num_frames, num_classes (largest frame label + 1, 0
    without labels), image_size ([H, W] of the first frame, None when the
    videos differ).
  """
  num_videos = num_frames = 0
  max_label = -1
  sizes = set()
  for serialized in tf.data.TFRecordDataset(paths).as_numpy_iterator():
    example = tf.train.SequenceExample.FromString(serialized)
    feature_lists = example.feature_lists.feature_list
    frames = feature_lists['video'].feature
    num_videos += 1
    num_frames += len(frames)
    labels = [f.int64_list.value[0] for f in
              feature_lists['frame_labels'].feature
              if f.int64_list.value] if 'frame_labels' in feature_lists else []
    if labels:
      max_label = max(max_label, max(labels))
    if len(frames):
      first = cv2.imdecode(np.frombuffer(frames[0].bytes_list.value[0],
                                         np.uint8), cv2.IMREAD_COLOR)
      sizes.add(None if first is None else tuple(first.shape[:2]))
  return {'num_videos': num_videos, 'num_frames': num_frames,
          'num_classes': max_label + 1,
          'image_size': list(sizes.pop()) if len(sizes) == 1 and None not in
                        sizes else None}


def is_complete(directory):
  """Whether `directory` holds every published file and dataset_info.json."""
  return (os.path.isfile(os.path.join(directory,
                                      tfrecord_io.DATASET_INFO_FILENAME)) and
          all(os.path.isfile(os.path.join(directory, name))
              for names in FILES.values() for name in names))


def download_pouring(output_dir, base_url=BASE_URL, opener=None):
  """Downloads and checks the dataset; see the module doc.

  Args:
    output_dir: final dataset folder (must not exist, or hold a complete
      download, which is kept).
    base_url: folder URL of the files (file:// for local copies).
    opener: for tests, see `download.fetch`.

  Returns:
    The dataset_info dict.
  """
  output_dir = os.path.normpath(os.path.expanduser(output_dir))
  if is_complete(output_dir):
    print('%s already holds the Pouring dataset.' % output_dir)
    return tfrecord_io.read_dataset_info(output_dir)
  if os.path.isdir(output_dir) and os.listdir(output_dir):
    raise download.DownloadError(
        '%s exists but does not hold a complete download; move it away or '
        'delete it, then run again.' % output_dir)
  staging = output_dir + '.download'
  for names in FILES.values():
    for name in names:
      print('Downloading %s%s' % (base_url, name), flush=True)
      download.fetch(base_url + name, os.path.join(staging, name),
                     opener=opener)
  info = None
  for split, names in FILES.items():
    counts = scan_records([os.path.join(staging, n) for n in names])
    info = tfrecord_io.update_dataset_info(
        staging, DATASET, split, counts['num_videos'], counts['num_frames'],
        counts['num_classes'], None, counts['image_size'],
        extra={'source': base_url})
  if os.path.isdir(output_dir):
    os.rmdir(output_dir)  # Empty (checked above).
  os.rename(staging, output_dir)
  return info


FLAGS = flags.FLAGS


def main(argv):
  """Takes absl's argv (unused); downloads Pouring, prints what it holds."""
  del argv
  output_dir = FLAGS.output_dir
  if not output_dir:
    output_dir = config.tfrecords_dir(DATASET)
  try:
    info = download_pouring(output_dir, FLAGS.base_url)
  except (download.DownloadError, ValueError) as e:
    raise SystemExit('error: %s' % e) from None
  print('Pouring in %s: %s.' % (output_dir, ', '.join(
      '%s %d videos (%d frames)' % (split, counts['num_videos'],
                                    counts['num_frames'])
      for split, counts in sorted(info['splits'].items()))))


def define_flags():
  """Defines the command-line flags (only when run as a script)."""
  flags.DEFINE_string('output_dir', None, 'Dataset folder (default: '
                      'CONFIG.PATH_TO_TFRECORDS for "pouring").')
  flags.DEFINE_string('base_url', BASE_URL, 'Where the published files are.')


if __name__ == '__main__':
  cli.run(main, define_flags)
