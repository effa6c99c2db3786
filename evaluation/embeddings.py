"""Embeddings I/O, one module: embedding a split, and the embeddings files.

`embed_split` embeds every video of a split with a trained algorithm
(shared by `evaluate.py`, computed once per checkpoint and used by every
task, and by `extract`). `save_embeddings` / `load_embeddings` write and
read the files; `extract` embeds a split with a training run's checkpoint
and writes the file (the body of `extract_embeddings.py` and of demo.py's
extraction stage).

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
leaves a partial file.
"""

import os
import time

import numpy as np
import tensorflow as tf

import algos
import config
from data.frames import decode_eval_frames
import datasets
from utils import atomic_files
from utils import console


def _default_log(message):
  console.info('%s', message)


def frames_to_uint8(frames):
  """float frames in [-1, 1] -> uint8 [0, 255] (same shape)."""
  return np.clip(np.round((np.asarray(frames) + 1.0) * 127.5), 0,
                 255).astype(np.uint8)


def embed_split(algo, dataset, split, cfg, keep_frames=False,
                log=_default_log):
  """Embeds every `DATA.SAMPLE_ALL_STRIDE`-th frame of every video of a split.

  Videos come from `datasets.create_one_epoch_dataset(dataset, split)` (file
  order, JPEGs undecoded). Only the frames that are embedded or used as their
  context are decoded, `EVAL.FRAMES_PER_BATCH` at a time, without
  augmentation (central square crop when AUGMENTATION.RANDOM_CROP), so memory
  does not grow with the length of a video beyond its JPEG bytes.

  Args:
    algo: an `algos.base.Algorithm` with restored weights.
    dataset: dataset name.
    split: 'train', 'val', ...
    cfg: the run's config (DATA.SAMPLE_ALL_STRIDE, EVAL.FRAMES_PER_BATCH,
      IMAGE_SIZE, AUGMENTATION.RANDOM_CROP); the data are read under the
      global CONFIG, which the caller sets to the run's.
    keep_frames: also return the embedded frames as uint8.
    log: function taking one progress message.

  Returns:
    dict with, for N videos and T_i = ceil(L_i / stride) embeddings each:
    `embs` list of float32 [T_i, D]; `labels` list of int64 [T_i] (phase
    label of each embedded frame, NO_LABEL (-1) for unlabelled videos);
    `steps` list of int64 [T_i] (frame index of each embedding);
    `has_labels` bool [N]; `video_labels` int64 [N]; `names` list of str;
    `num_frames` int64 [N] (frames L_i before striding); `stride` int;
    `dataset`, `split` str; with `keep_frames`, `frames` list of uint8
    [T_i, H, W, 3] (the embedded frames as the model saw them, RGB).
  """
  stride = cfg.DATA.SAMPLE_ALL_STRIDE
  frames_per_batch = cfg.EVAL.FRAMES_PER_BATCH
  image_size = cfg.IMAGE_SIZE
  central_crop = cfg.AUGMENTATION.RANDOM_CROP
  try:
    total = datasets.get_dataset_info(dataset)['splits'][split]['num_videos']
  except (KeyError, TypeError):
    total = None
  result = {'embs': [], 'labels': [], 'steps': [], 'has_labels': [],
            'video_labels': [], 'names': [], 'num_frames': [],
            'stride': stride, 'dataset': dataset, 'split': split}
  if keep_frames:
    result['frames'] = []
  start = time.time()
  last_report = start
  for video in datasets.create_one_epoch_dataset(dataset, split):
    jpegs = video['jpegs']
    fetch = lambda indices, jpegs=jpegs: decode_eval_frames(
        tf.gather(jpegs, indices), image_size, central_crop)
    num_frames = int(video['seq_len'])
    steps = np.arange(0, num_frames, stride)
    result['embs'].append(np.asarray(algo.embed_video_chunks(
        num_frames, fetch, stride, frames_per_batch), np.float32))
    result['labels'].append(
        np.asarray(video['frame_labels'].numpy()[::stride], np.int64))
    result['steps'].append(steps.astype(np.int64))
    result['has_labels'].append(bool(video['has_labels']))
    result['video_labels'].append(int(video['video_label']))
    result['names'].append(video['name'].numpy().decode('utf-8'))
    result['num_frames'].append(num_frames)
    if keep_frames:
      result['frames'].append(np.concatenate(
          [frames_to_uint8(fetch(steps[i:i + frames_per_batch]))
           for i in range(0, len(steps), frames_per_batch)]))
    done = len(result['embs'])
    now = time.time()
    if now - last_report >= 10 or done == total or done == 1:
      log('embedding %s/%s: %d/%s videos, %.1f s' % (
          dataset, split, done, total if total is not None else '?',
          now - start))
      last_report = now
  for key, dtype in (('has_labels', bool), ('video_labels', np.int64),
                     ('num_frames', np.int64)):
    result[key] = np.array(result[key], dtype)
  return result


NPZ_FORMAT = 'tcc_embeddings_npz_v2'


_SCALAR_KEYS = ('stride', 'dataset', 'split', 'checkpoint', 'step')


def check_extension(path):
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
  check_extension(path)
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
  check_extension(path)
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

  Raises:
    ValueError: a bad extension or stride, or no checkpoint.
  """
  check_extension(output)
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
    data = embed_split(algo, dataset, split, run_config,
                       keep_frames=keep_frames)
  data['step'] = step
  data['checkpoint'] = checkpoint
  save_embeddings(data, output)
  console.info('Wrote %d videos (%d embeddings of size %d) to %s.',
               len(data['embs']), sum(len(e) for e in data['embs']),
               data['embs'][0].shape[1] if data['embs'] else 0, output)
  return output
