r"""Downloads Penn Action and writes one TFRecord dataset per action.

    python -m dataset_preparation.download_penn_action \
        --labels_url URL_OF_AN_ARCHIVE_OF_THE_PHASE_LABELS
    python -m dataset_preparation.download_penn_action --labels_dir DIR

1. The frames (Penn_Action.tar.gz, about 3 GB, from the dataset's page
   http://dreamdragon.github.io/PennAction/) are downloaded into --work_dir,
   resuming an interrupted download, and unpacked after every entry of the
   archive was checked (see `download.extract`).
2. The per-frame phase labels that TCC's authors made for Penn Action are
   read from --labels_dir, or downloaded from --labels_url (a .zip or .tar
   archive) and unpacked. Their layout is `<split>/<action>/<video>.npy`
   (split `train` or `val`; one integer label per frame of the video); they
   are shared as a folder (e.g. the Google Drive folder linked from the
   README of github.com/minghchen/CARL_code), which a plain HTTP client
   cannot fetch: download it by hand and pass --labels_dir.
3. Each action of --actions (default: every action with phase labels)
   becomes the dataset `<action>` (Penn Action's action name) in
   CONFIG.PATH_TO_TFRECORDS (e.g. ~/.cache/tcc_video/golf_swing_tfrecords/),
   with its train and val splits and dataset_info.json. The action of a
   video comes from Penn Action's own `labels/<video>.mat`. A dataset is
   written into a hidden folder and renamed when complete; a complete one is
   kept on later runs.

Videos whose label count differs from their frame count are skipped and
reported. Frames are resized to --resize (default 224x224, as published).
"""

from utils import cli  # first: quiets TensorFlow's start-up

import json  # pylint: disable=g-bad-import-order
import os

from absl import flags
from absl import logging
import numpy as np
import scipy.io

import config
from dataset_preparation import conversion
from dataset_preparation import download
from dataset_preparation import tfrecord_io

FRAMES_URL = 'https://www.cis.upenn.edu/~kostas/Penn_Action.tar.gz'
SPLITS = ('train', 'val')
FPS = 30.0


def _find_dir(root, wanted):
  """The first folder under `root` (itself included) with all `wanted`
  sub-folders."""
  for directory, subdirs, _ in os.walk(root):
    if all(w in subdirs for w in wanted):
      return directory
  return None


def read_phase_labels(labels_root):
  """Reads `<split>/<action>/<video>.npy` phase labels.

  Returns:
    {video: (split, int64 [T] labels)}.
  """
  root = _find_dir(labels_root, SPLITS)
  if root is None:
    raise ValueError('%s: no train/ and val/ folders of phase labels '
                     '(<split>/<action>/<video>.npy).' % labels_root)
  labels = {}
  for split in SPLITS:
    for action in sorted(os.listdir(os.path.join(root, split))):
      folder = os.path.join(root, split, action)
      if not os.path.isdir(folder):
        continue
      for name in sorted(os.listdir(folder)):
        if name.endswith('.npy'):
          path = os.path.join(folder, name)
          try:
            # Never unpickle downloaded files: allow_pickle=False.
            labels[os.path.splitext(name)[0]] = (split, np.load(
                path, allow_pickle=False).astype(np.int64).ravel())
          except ValueError as e:
            raise ValueError('%s: not a plain array of labels (%s).' %
                             (path, e)) from None
  if not labels:
    raise ValueError('%s: no .npy phase labels found.' % root)
  return labels


def read_actions(penn_root):
  """{video: action} from Penn Action's `labels/<video>.mat` files."""
  labels_dir = os.path.join(penn_root, 'labels')
  actions = {}
  for name in sorted(os.listdir(labels_dir)):
    if name.endswith('.mat'):
      mat = scipy.io.loadmat(os.path.join(labels_dir, name))
      actions[os.path.splitext(name)[0]] = str(np.ravel(mat['action'])[0])
  return actions


def _prepare_action(action, videos, frames_dir, phase_labels, output_dir,
                    work_dir, options):
  """Writes the dataset of one action into `output_dir` (staged)."""
  sources = {}
  annotations = {}
  skipped = []
  for video in videos:
    split, labels = phase_labels[video]
    folder = os.path.join(frames_dir, video)
    num_frames = len(conversion.list_images(folder))
    if num_frames != len(labels):
      skipped.append('%s (%d frames, %d labels)' % (video, num_frames,
                                                    len(labels)))
      continue
    sources.setdefault(split, {})[video] = folder
    annotations[video] = {'frame_labels': labels.tolist()}
  if skipped:
    logging.warning('%s: skipped %d videos whose labels do not match their '
                    'frames: %s.', action, len(skipped), ', '.join(skipped))
  annotation_path = os.path.join(work_dir, '%s_phase_labels.json' % action)
  with open(annotation_path, 'w') as f:
    json.dump(annotations, f)
  with download.staged_directory(output_dir) as staging:
    for split in SPLITS:
      if split in sources:
        conversion.convert('images', sources[split], staging, action,
                           split=split, fps=FPS,
                           annotation_path=annotation_path, **options)
  return tfrecord_io.read_dataset_info(output_dir)


def prepare_penn_action(path_to_tfrecords, work_dir, labels_dir=None,
                        labels_url=None, frames_url=FRAMES_URL,
                        actions=None, opener=None, **options):
  """Downloads, unpacks and converts Penn Action; see the module doc.

  Args:
    path_to_tfrecords: dataset folder pattern with '%s' for the action (as
      CONFIG.PATH_TO_TFRECORDS).
    work_dir: where the archives and the unpacked frames go.
    labels_dir: folder of the phase labels (or None with `labels_url`).
    labels_url: archive of the phase labels.
    frames_url: Penn_Action.tar.gz.
    actions: actions to write (None: every action with phase labels).
    opener: for tests, see `download.fetch`.
    **options: `conversion.convert` options (resize, num_workers, ...).

  Returns:
    {action: dataset_info dict}.
  """
  if not labels_dir and not labels_url:
    raise ValueError('pass --labels_dir (the phase labels, downloaded by '
                     'hand) or --labels_url (an archive of them).')
  work_dir = os.path.expanduser(work_dir)
  archive = os.path.join(work_dir, os.path.basename(frames_url))
  download.fetch(frames_url, archive, opener=opener)
  penn_dir = os.path.join(work_dir, 'penn_action')
  if not os.path.isdir(penn_dir):
    download.extract(archive, penn_dir)
  if not labels_dir:
    labels_archive = os.path.join(work_dir, os.path.basename(labels_url))
    download.fetch(labels_url, labels_archive, opener=opener)
    labels_dir = os.path.join(work_dir, 'phase_labels')
    if not os.path.isdir(labels_dir):
      download.extract(labels_archive, labels_dir)
  penn_root = _find_dir(penn_dir, ('frames', 'labels'))
  if penn_root is None:
    raise ValueError('%s: no frames/ and labels/ folders in the Penn Action '
                     'archive.' % penn_dir)
  phase_labels = read_phase_labels(labels_dir)
  video_actions = read_actions(penn_root)
  if not actions:
    actions = sorted({a for v, a in video_actions.items()
                      if v in phase_labels})
  infos = {}
  for action in actions:
    videos = sorted(v for v, a in video_actions.items()
                    if a == action and v in phase_labels)
    output_dir = os.path.expanduser(
        path_to_tfrecords % action if '%s' in path_to_tfrecords else
        os.path.join(path_to_tfrecords, action))
    info = tfrecord_io.read_dataset_info(output_dir) if os.path.isdir(
        output_dir) else {}
    if set(info.get('splits', {})) >= {'train', 'val'}:
      print('%s: complete in %s, kept.' % (action, output_dir))
      infos[action] = info
      continue
    if not videos:
      logging.warning('%s: no video with phase labels; not written.', action)
      continue
    if os.path.isdir(output_dir):
      if os.listdir(output_dir):
        raise download.DownloadError(
            '%s holds an incomplete dataset; move it away or delete it, then '
            'run again.' % output_dir)
      os.rmdir(output_dir)
    infos[action] = _prepare_action(action, videos, os.path.join(
        penn_root, 'frames'), phase_labels, output_dir, work_dir, options)
    print('%s: %s in %s' % (action, ', '.join(
        '%s %d videos' % (s, c['num_videos'])
        for s, c in sorted(infos[action]['splits'].items())), output_dir),
          flush=True)
  return infos


FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags (only when run as a script)."""
  flags.DEFINE_string('labels_dir', None, 'Folder of the TCC phase labels of '
                      'Penn Action (<split>/<action>/<video>.npy).')
  flags.DEFINE_string('labels_url', None, 'Archive (.zip/.tar) of the same, '
                      'instead of --labels_dir.')
  flags.DEFINE_string('frames_url', FRAMES_URL, 'Penn_Action.tar.gz.')
  flags.DEFINE_string('work_dir', '~/.cache/tcc_video/penn_action_download',
                      'Where the archives and unpacked frames go.')
  flags.DEFINE_string('path_to_tfrecords', None, 'Dataset folder pattern with '
                      '%s for the action (default: CONFIG.PATH_TO_TFRECORDS).')
  flags.DEFINE_list('actions', [], 'Actions to write (default: every action '
                    'with phase labels).')
  flags.DEFINE_string('resize', '224', 'SIZE or WIDTHxHEIGHT of the frames.')
  flags.DEFINE_integer('num_workers', 1, 'Reader processes.')


def main(argv):
  del argv
  try:
    prepare_penn_action(
        FLAGS.path_to_tfrecords or config.CONFIG.PATH_TO_TFRECORDS,
        FLAGS.work_dir, FLAGS.labels_dir, FLAGS.labels_url, FLAGS.frames_url,
        FLAGS.actions, resize=FLAGS.resize, num_workers=FLAGS.num_workers)
  except (download.DownloadError, ValueError) as e:
    raise SystemExit('error: %s' % e) from None


if __name__ == '__main__':
  cli.run(main, define_flags)
