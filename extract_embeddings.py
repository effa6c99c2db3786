r"""Per-frame embeddings of every video of a split, to .npy or .npz (SPEC 9).

    python extract_embeddings.py --logdir /tmp/tcc_logs/demo --split val \
        --output /tmp/val_embs.npy [--keep_frames] [--checkpoint ...]

Every `DATA.SAMPLE_ALL_STRIDE`-th frame is embedded with the model of the
checkpoint (default: the latest in --logdir), as `evaluate.py` does.

File formats (`load_embeddings` reads both into the same dict):

- `.npy`: `np.save` of a dict, as the published TCC tools write it (read it
  with `np.load(path, allow_pickle=True).item()`): `embs` list of float32
  [T_i, D]; `names` list of str; `labels` list of int64 [T_i] (phase label of
  each embedded frame); `video_labels` int64 [N]; `seq_lens` int64 [N]
  (frames before striding); with --keep_frames, `frames` list of uint8
  [T_i, H, W, 3] (the embedded frames, RGB); and `stride`, `dataset`,
  `split`, `checkpoint`, `step`.
- `.npz` (no pickle, `np.load(path)` works with allow_pickle=False): videos
  are concatenated along time, and video i is rows `offsets[i]:offsets[i+1]`
  of `embs` [sum T_i, D], `labels` [sum T_i] and `frames` [sum T_i, H, W, 3];
  `offsets` int64 [N + 1]; `names` unicode [N]; `video_labels`, `seq_lens`
  int64 [N]; the scalars as 0-d arrays; `format` = 'tcc_embeddings_npz_v1'.

Files are written under a temporary name and renamed, so a crash never
leaves a partial file at --output.
"""

import quiet_tf  # first: quiets TensorFlow's start-up

import os  # pylint: disable=g-bad-import-order

from absl import app
from absl import flags
from absl import logging
import numpy as np

import atomic_files
from config import CONFIG
from evaluation.embeddings import embed_split

NPZ_FORMAT = 'tcc_embeddings_npz_v1'
_SCALAR_KEYS = ('stride', 'dataset', 'split', 'checkpoint', 'step')

FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags.

  Called only when the file runs as a script, so that importing this module
  next to other tools never defines a flag twice.
  """
  flags.DEFINE_string('logdir', None, 'The --logdir of train.py.')
  flags.DEFINE_string('checkpoint', None,
                      'Checkpoint prefix (default: latest in --logdir).')
  flags.DEFINE_string('dataset', None,
                      'Dataset name (default: the first of DATASETS).')
  flags.DEFINE_string('split', 'val', 'Split to embed.')
  flags.DEFINE_string('output', None, 'Output file, .npy or .npz.')
  flags.DEFINE_bool('keep_frames', False,
                    'Also store the embedded frames (uint8), e.g. for '
                    'visualize_alignment.py.')


def _check_extension(path):
  if not path.endswith(('.npy', '.npz')):
    raise ValueError('%s: the output must end in .npy (pickled dict, like the '
                     'published tools) or .npz (no pickle).' % path)


def save_embeddings(data, path):
  """Writes an embeddings dict (see the module doc) to .npy or .npz, atomically.

  Args:
    data: dict with at least `embs`, `names`, `labels`; optionally
      `video_labels`, `seq_lens`, `frames` and the scalar keys.
    path: output path ending in .npy or .npz.

  Returns:
    `path`.
  """
  _check_extension(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  num_videos = len(data['embs'])
  seq_lens = np.asarray(data.get('seq_lens', [len(e) for e in data['embs']]),
                        np.int64)
  video_labels = np.asarray(data.get('video_labels', np.zeros(num_videos)),
                            np.int64)
  with atomic_files.atomic_open(path, 'wb') as f:
      if path.endswith('.npy'):
        payload = {
            'embs': [np.asarray(e, np.float32) for e in data['embs']],
            'names': [str(n) for n in data['names']],
            'labels': [np.asarray(l, np.int64) for l in data['labels']],
            'video_labels': video_labels, 'seq_lens': seq_lens}
        if data.get('frames') is not None:
          payload['frames'] = [np.asarray(v, np.uint8) for v in data['frames']]
        payload.update({k: data[k] for k in _SCALAR_KEYS if k in data})
        np.save(f, payload, allow_pickle=True)
      else:
        lengths = [len(e) for e in data['embs']]
        arrays = {
            'format': np.array(NPZ_FORMAT),
            'offsets': np.concatenate([[0], np.cumsum(lengths)]).astype(
                np.int64),
            'embs': np.concatenate(data['embs']).astype(np.float32),
            'labels': np.concatenate(data['labels']).astype(np.int64),
            'names': np.array([str(n) for n in data['names']], dtype=np.str_),
            'video_labels': video_labels, 'seq_lens': seq_lens}
        if data.get('frames') is not None:
          arrays['frames'] = np.concatenate(data['frames']).astype(np.uint8)
        for key in _SCALAR_KEYS:
          if key in data and data[key] is not None:
            arrays[key] = np.array(data[key])
        np.savez(f, **arrays)
  return path


def load_embeddings(path):
  """Reads a .npy (dict) or .npz embeddings file into the same dict.

  Args:
    path: a file written by `save_embeddings` / extract_embeddings.py, or a
      .npy dict of the published TCC tools (`embs`, `names`, `labels`, ...).

  Returns:
    dict: `embs` list of [T_i, D]; `names` list of str; `labels` list of
    [T_i]; `video_labels`, `seq_lens` int64 [N]; `frames` list of uint8
    [T_i, H, W, 3] when stored; scalar metadata (`stride` defaults to 1).
  """
  if not os.path.isfile(path):
    raise ValueError('%s: no such embeddings file; write it with '
                     'extract_embeddings.py.' % path)
  _check_extension(path)
  if path.endswith('.npy'):
    try:
      data = np.load(path, allow_pickle=True).item()
    except ValueError:
      data = None
    if not isinstance(data, dict) or 'embs' not in data:
      raise ValueError('%s: not an embeddings dict (expected keys embs, names, '
                       'labels); write it with extract_embeddings.py.' % path)
    data = dict(data)
    num_videos = len(data['embs'])
    data['embs'] = [np.asarray(e) for e in data['embs']]
    data['names'] = [str(n) for n in data.get('names', range(num_videos))]
    data['labels'] = [np.asarray(l) for l in data.get(
        'labels', [np.zeros(len(e), np.int64) for e in data['embs']])]
  else:
    with np.load(path, allow_pickle=False) as npz:
      if 'format' not in npz or str(npz['format']) != NPZ_FORMAT:
        raise ValueError('%s: not a %s file; write it with '
                         'extract_embeddings.py.' % (path, NPZ_FORMAT))
      offsets = npz['offsets']
      def split(array):
        return [array[offsets[i]:offsets[i + 1]]
                for i in range(len(offsets) - 1)]
      data = {'embs': split(npz['embs']), 'labels': split(npz['labels']),
              'names': [str(n) for n in npz['names']],
              'video_labels': npz['video_labels'],
              'seq_lens': npz['seq_lens']}
      if 'frames' in npz:
        data['frames'] = split(npz['frames'])
      for key in _SCALAR_KEYS:
        if key in npz:
          data[key] = npz[key].item()
  num_videos = len(data['embs'])
  data.setdefault('video_labels', np.zeros(num_videos, np.int64))
  data.setdefault('seq_lens', np.array([len(e) for e in data['embs']],
                                       np.int64))
  data.setdefault('stride', 1)
  return data


def extract(logdir, dataset, split, output, checkpoint=None,
            keep_frames=False):
  """Embeds every video of a split with a trained model and writes `output`.

  Args:
    logdir: the --logdir of train.py (its config.yml defines the model).
    dataset: dataset name; None for the first of DATASETS.
    split: 'train', 'val', ...
    output: path ending in .npy or .npz.
    checkpoint: checkpoint prefix; None for the latest in `logdir`.
    keep_frames: also store the embedded frames (uint8).

  Returns:
    `output`.
  """
  import algos  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  _check_extension(output)
  checkpoint = checkpoint or tf.train.latest_checkpoint(logdir)
  algo, step = algos.restore_algo(logdir, checkpoint)
  dataset = dataset or CONFIG.DATASETS[0]
  logging.info('Embedding %s/%s with %s (step %d).', dataset, split,
               checkpoint, step)
  data = embed_split(algo, dataset, split, keep_frames=keep_frames)
  data['step'] = step
  data['checkpoint'] = checkpoint
  save_embeddings(data, output)
  logging.info('Wrote %d videos (%d embeddings of size %d) to %s.',
               len(data['embs']), sum(len(e) for e in data['embs']),
               data['embs'][0].shape[1] if data['embs'] else 0, output)
  return output


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  if not FLAGS.logdir or not FLAGS.output:
    raise app.UsageError('--logdir and --output are required.')
  try:
    extract(FLAGS.logdir, FLAGS.dataset, FLAGS.split, FLAGS.output,
            FLAGS.checkpoint, FLAGS.keep_frames)
  except ValueError as e:
    quiet_tf.fail(e)


if __name__ == '__main__':
  define_flags()
  flags.adopt_module_key_flags(quiet_tf)
  app.run(main)
