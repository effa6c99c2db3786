r"""Per-frame embeddings of every video of a split, to .npz or .npy.

    python extract_embeddings.py --logdir /tmp/tcc_logs/demo --split val \
        --output /tmp/val_embs.npz [--keep_frames] [--checkpoint ...] \
        [--stride 5] [--override PATH_TO_TFRECORDS=/data/%s_tfrecords/]

Every `DATA.SAMPLE_ALL_STRIDE`-th frame (--stride) is embedded with the model
of the checkpoint (default: the latest in --logdir), as `evaluate.py` does:
only the frames embedded (and their context frames) are decoded, a chunk of
EVAL.FRAMES_PER_BATCH at a time, so long videos fit in memory.

File formats (`load_embeddings` reads both into the same dict):

- `.npz` (the default to use; no pickle, `np.load(path)` works with
  allow_pickle=False): videos are concatenated along time, video i being
  rows `offsets[i]:offsets[i+1]` of `embs` float32 [sum T_i, D], `labels`
  int64 [sum T_i] (-1 for unlabelled videos), `steps` int64 [sum T_i] (frame
  index of each embedding) and, with --keep_frames, `frames` uint8
  [sum T_i, H, W, 3]; `offsets` int64 [N + 1]; `names` unicode [N];
  `video_labels`, `num_frames` (frames before striding) int64 [N];
  `has_labels` bool [N]; `stride`, `dataset`, `split`, `checkpoint`, `step`
  as 0-d arrays; `format` = 'tcc_embeddings_npz_v2'.
- `.npy`: the layout of the published TCC `extract_embeddings.py`, a pickled
  dict read with `np.load(path, allow_pickle=True).item()`, so scripts
  written for it work unchanged. Per video i (lists of N arrays, one entry
  per embedded frame): `embs` float32 [T_i, D]; `names` bytes [T_i];
  `labels` int64 [T_i] (-1 for unlabelled videos); `steps` int64 [T_i];
  `seq_lens` int32 [T_i] (all T_i, the embedded length, as published);
  `seq_labels` int64 [T_i] (the video label); with --keep_frames, `frames`
  float32 [T_i, IMAGE_SIZE, IMAGE_SIZE, 3] in [-1, 1]. Added keys: `num_frames`
  int64 [N], `has_labels` bool [N], and the scalars `stride`, `dataset`,
  `split`, `checkpoint`, `step`.

Loading a pickled .npy runs code stored in the file: load only .npy files you
trust (e.g. written by yourself). `.npz` files are never unpickled.

Files are written under a temporary name and renamed, so a crash never
leaves a partial file at --output.
"""

from utils import quiet_tf  # first: quiets TensorFlow's start-up

import os  # pylint: disable=g-bad-import-order

from absl import app
from absl import flags
import numpy as np

from utils import atomic_files
from utils import console
import config
from evaluation.embeddings import embed_split
from evaluation.embeddings import frames_to_uint8

NPZ_FORMAT = 'tcc_embeddings_npz_v2'
_SCALAR_KEYS = ('stride', 'dataset', 'split', 'checkpoint', 'step')
PICKLE_WARNING = ('Loading a pickled .npy runs code stored in the file: load '
                  'only .npy files you trust.')

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
  flags.DEFINE_string('output', None,
                      'Output file: .npz (no pickle, recommended) or .npy '
                      '(pickled dict in the published TCC layout).')
  flags.DEFINE_bool('keep_frames', False,
                    'Also store the embedded frames, e.g. for '
                    'visualize_alignment.py.')
  flags.DEFINE_integer('stride', None,
                       'Embed every N-th frame (DATA.SAMPLE_ALL_STRIDE; '
                       'default: that of config.yml).')
  flags.DEFINE_multi_string('override', [],
                            'KEY.SUB=VALUE applied on top of config.yml '
                            '(repeatable), e.g. PATH_TO_TFRECORDS or '
                            'EVAL.FRAMES_PER_BATCH; not the model.')


def _check_extension(path):
  if not path.endswith(('.npy', '.npz')):
    raise ValueError('%s: the output must end in .npz (no pickle) or .npy '
                     '(pickled dict, the published layout).' % path)


def _per_video(data, key, default):
  value = data.get(key)
  return np.asarray(default if value is None else value)


def _npy_payload(data):
  """The published per-frame layout of an embeddings dict (module doc)."""
  payload = {'embs': [], 'names': [], 'labels': [], 'steps': [],
             'seq_lens': [], 'seq_labels': []}
  num_videos = len(data['embs'])
  video_labels = _per_video(data, 'video_labels', np.zeros(num_videos))
  for i, embs in enumerate(data['embs']):
    length = len(embs)
    payload['embs'].append(np.asarray(embs, np.float32))
    payload['names'].append(np.array([str(data['names'][i]).encode(
        'utf-8')] * length))
    payload['labels'].append(np.asarray(data['labels'][i], np.int64))
    payload['steps'].append(np.asarray(data['steps'][i], np.int64))
    payload['seq_lens'].append(np.full(length, length, np.int32))
    payload['seq_labels'].append(np.full(length, video_labels[i], np.int64))
  if data.get('frames') is not None:
    payload['frames'] = [np.asarray(v, np.float32) / 127.5 - 1.0
                         for v in data['frames']]
  payload['num_frames'] = _per_video(data, 'num_frames', [
      len(e) for e in data['embs']]).astype(np.int64)
  payload['has_labels'] = _per_video(data, 'has_labels',
                                     [True] * num_videos).astype(bool)
  payload.update({k: data[k] for k in _SCALAR_KEYS if k in data})
  return payload


def _npz_arrays(data):
  """The concatenated, pickle-free layout of an embeddings dict."""
  num_videos = len(data['embs'])
  lengths = [len(e) for e in data['embs']]
  arrays = {
      'format': np.array(NPZ_FORMAT),
      'offsets': np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
      'embs': np.concatenate(data['embs']).astype(np.float32),
      'labels': np.concatenate(data['labels']).astype(np.int64),
      'steps': np.concatenate(data['steps']).astype(np.int64),
      'names': np.array([str(n) for n in data['names']], dtype=np.str_),
      'video_labels': _per_video(data, 'video_labels',
                                 np.zeros(num_videos)).astype(np.int64),
      'num_frames': _per_video(data, 'num_frames', lengths).astype(np.int64),
      'has_labels': _per_video(data, 'has_labels',
                               [True] * num_videos).astype(bool)}
  if data.get('frames') is not None:
    arrays['frames'] = np.concatenate(data['frames']).astype(np.uint8)
  for key in _SCALAR_KEYS:
    if key in data and data[key] is not None:
      arrays[key] = np.array(data[key])
  return arrays


def save_embeddings(data, path):
  """Writes an embeddings dict (see `load_embeddings`) to .npz or .npy,
  atomically, with the usual 0644 permissions.

  Args:
    data: dict with at least `embs`, `names`, `labels`, `steps`; optionally
      `video_labels`, `num_frames`, `has_labels`, `frames` (uint8) and the
      scalar keys.
    path: output path ending in .npz or .npy.

  Returns:
    `path`.
  """
  _check_extension(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  with atomic_files.atomic_open(path, 'wb') as f:
    if path.endswith('.npy'):
      np.save(f, _npy_payload(data), allow_pickle=True)
    else:
      np.savez(f, **_npz_arrays(data))
  return path


def _first_of_each(values, default):
  """Per-video values from a published per-frame list ([T_i] arrays)."""
  out = []
  for value in values:
    value = np.asarray(value)
    out.append(value.reshape(-1)[0] if value.size else default)
  return out


def _from_npy(path):
  """Reads a .npy dict: the published layout or this project's older one."""
  try:
    data = np.load(path, allow_pickle=True).item()
  except ValueError:
    data = None
  if not isinstance(data, dict) or 'embs' not in data:
    raise ValueError('%s: not an embeddings dict (expected keys embs, names, '
                     'labels); write it with extract_embeddings.py.' % path)
  embs = [np.asarray(e) for e in data['embs']]
  num_videos = len(embs)
  names = [n.decode('utf-8', 'replace') if isinstance(n, bytes) else str(n)
           for n in _first_of_each(data.get('names', range(num_videos)), '')]
  steps = [np.asarray(s, np.int64) for s in data.get(
      'steps', [np.arange(len(e)) for e in embs])]
  strides = {int(s[1] - s[0]) for s in steps if len(s) > 1}
  out = {'embs': embs, 'names': names, 'steps': steps,
         'labels': [np.asarray(l, np.int64) for l in data.get(
             'labels', [np.full(len(e), -1) for e in embs])],
         'stride': strides.pop() if len(strides) == 1 else 1}
  if 'has_labels' in data:
    out['has_labels'] = np.asarray(data['has_labels'], bool)
  else:
    out['has_labels'] = np.full(num_videos, 'labels' in data)
  if 'seq_labels' in data:
    out['video_labels'] = np.array(_first_of_each(data['seq_labels'], 0),
                                   np.int64)
  elif 'video_labels' in data:
    out['video_labels'] = np.asarray(data['video_labels'], np.int64)
  if 'num_frames' in data:
    out['num_frames'] = np.asarray(data['num_frames'], np.int64)
  else:
    out['num_frames'] = np.array([s[-1] + 1 if len(s) else 0 for s in steps],
                                 np.int64)
  if data.get('frames') is not None:
    out['frames'] = [v if v.dtype == np.uint8 else frames_to_uint8(v)
                     for v in (np.asarray(f) for f in data['frames'])]
  out.update({k: data[k] for k in _SCALAR_KEYS if k in data})
  return out


def _from_npz(path):
  with np.load(path, allow_pickle=False) as npz:
    if 'format' not in npz or str(npz['format']) != NPZ_FORMAT:
      raise ValueError('%s: not a %s file; write it with '
                       'extract_embeddings.py.' % (path, NPZ_FORMAT))
    offsets = npz['offsets']

    def split(array):
      return [array[offsets[i]:offsets[i + 1]]
              for i in range(len(offsets) - 1)]
    data = {'embs': split(npz['embs']), 'labels': split(npz['labels']),
            'steps': split(npz['steps']),
            'names': [str(n) for n in npz['names']]}
    for key in ('video_labels', 'num_frames', 'has_labels'):
      data[key] = npz[key]
    if 'frames' in npz:
      data['frames'] = split(npz['frames'])
    for key in _SCALAR_KEYS:
      if key in npz:
        data[key] = npz[key].item()
  return data


def load_embeddings(path):
  """Reads a .npz or .npy embeddings file into one dict.

  Loading a pickled .npy runs code stored in the file: only load .npy files
  you trust. A .npz is read without pickle.

  Args:
    path: a file written by `save_embeddings` / extract_embeddings.py, or a
      .npy of the published TCC `extract_embeddings.py`.

  Returns:
    dict: `embs` list of [T_i, D]; `names` list of str; `labels` list of
    int64 [T_i] (-1: no label); `steps` list of int64 [T_i]; `has_labels`
    bool [N]; `video_labels`, `num_frames` int64 [N]; `frames` list of uint8
    [T_i, H, W, 3] when stored; scalar metadata (`stride` defaults to 1).
  """
  if not os.path.isfile(path):
    raise ValueError('%s: no such embeddings file; write it with '
                     'extract_embeddings.py.' % path)
  _check_extension(path)
  data = _from_npy(path) if path.endswith('.npy') else _from_npz(path)
  num_videos = len(data['embs'])
  data.setdefault('video_labels', np.zeros(num_videos, np.int64))
  data.setdefault('stride', 1)
  return data


def extract(logdir, dataset, split, output, checkpoint=None,
            keep_frames=False, stride=None, overrides=()):
  """Embeds every video of a split with a trained model and writes `output`.

  Args:
    logdir: the --logdir of train.py (its config.yml defines the model).
    dataset: dataset name; None for the first of DATASETS.
    split: 'train', 'val', ...
    output: path ending in .npz or .npy.
    checkpoint: checkpoint prefix; None for the latest in `logdir`.
    keep_frames: also store the embedded frames.
    stride: embed every `stride`-th frame (DATA.SAMPLE_ALL_STRIDE); None
      keeps that of config.yml (and `overrides`).
    overrides: 'KEY.SUB=VALUE' strings applied on top of config.yml after
      the model is restored (data paths, strides, EVAL.FRAMES_PER_BATCH).

  Returns:
    `output`.
  """
  import algos  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  _check_extension(output)
  if stride is not None and stride < 1:
    raise ValueError('--stride must be >= 1, got %d.' % stride)
  checkpoint = checkpoint or tf.train.latest_checkpoint(logdir)
  if checkpoint is None:
    raise ValueError('%s: no checkpoint in this logdir; train first or pass '
                     '--checkpoint.' % logdir)
  algo, step, run_config = algos.restore_algo(logdir, checkpoint, overrides)
  if stride is not None:
    run_config.DATA.SAMPLE_ALL_STRIDE = stride
  dataset = dataset or run_config.DATASETS[0]
  console.info('Embedding %s/%s with %s (step %d), every %d-th frame.',
               dataset, split, checkpoint, step,
               run_config.DATA.SAMPLE_ALL_STRIDE)
  # The embedding and the data read CONFIG: the run's, for this call only.
  with config.use_config(run_config):
    data = embed_split(algo, dataset, split, keep_frames=keep_frames)
  data['step'] = step
  data['checkpoint'] = checkpoint
  save_embeddings(data, output)
  console.info('Wrote %d videos (%d embeddings of size %d) to %s.',
               len(data['embs']), sum(len(e) for e in data['embs']),
               data['embs'][0].shape[1] if data['embs'] else 0, output)
  return output


def main(argv):
  console.start()
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  if not FLAGS.logdir or not FLAGS.output:
    raise app.UsageError('--logdir and --output are required.')
  try:
    extract(FLAGS.logdir, FLAGS.dataset, FLAGS.split, FLAGS.output,
            FLAGS.checkpoint, FLAGS.keep_frames, FLAGS.stride,
            FLAGS.override)
  except ValueError as e:
    quiet_tf.fail(e)


if __name__ == '__main__':
  define_flags()
  flags.adopt_module_key_flags(quiet_tf)
  app.run(main)
