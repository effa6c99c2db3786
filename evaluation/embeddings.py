"""Per-frame embeddings of every video of a split, with a trained algorithm.

Shared by `evaluate.py` (computed once per checkpoint, used by every task)
and `extract_embeddings.py`. Imports TensorFlow (through `datasets`) only
when called, so the metric modules stay NumPy-only.
"""

import time

from absl import logging
import numpy as np

from config import CONFIG


def _default_log(message):
  logging.info('%s', message)


def frames_to_uint8(frames):
  """float frames in [-1, 1] -> uint8 [0, 255] (same shape)."""
  return np.clip(np.round((np.asarray(frames) + 1.0) * 127.5), 0,
                 255).astype(np.uint8)


def embed_split(algo, dataset, split, keep_frames=False, log=_default_log):
  """Embeds every `DATA.SAMPLE_ALL_STRIDE`-th frame of every video of a split.

  Videos come from `datasets.create_one_epoch_dataset(dataset, split)` (file
  order, no augmentation) and go through `algo.embed_video` in chunks of
  `EVAL.FRAMES_PER_BATCH` frames.

  Args:
    algo: an `algos.base.Algorithm` with restored weights.
    dataset: dataset name.
    split: 'train', 'val', ...
    keep_frames: also return the embedded frames as uint8.
    log: function taking one progress message.

  Returns:
    dict with, for N videos and T_i = ceil(L_i / stride) embeddings each:
    `embs` list of float32 [T_i, D]; `labels` list of int64 [T_i] (phase
    label of each embedded frame); `video_labels` int64 [N]; `names` list of
    str; `seq_lens` int64 [N] (frames L_i before striding); `stride` int;
    `dataset`, `split` str; with `keep_frames`, `frames` list of uint8
    [T_i, H, W, 3] (the embedded frames, RGB).
  """
  import datasets  # pylint: disable=g-import-not-at-top
  stride = CONFIG.DATA.SAMPLE_ALL_STRIDE
  frames_per_batch = CONFIG.EVAL.FRAMES_PER_BATCH
  try:
    total = datasets.get_dataset_info(dataset)['splits'][split]['num_videos']
  except (KeyError, TypeError):
    total = None
  result = {'embs': [], 'labels': [], 'video_labels': [], 'names': [],
            'seq_lens': [], 'stride': stride, 'dataset': dataset,
            'split': split}
  if keep_frames:
    result['frames'] = []
  start = time.time()
  last_report = start
  for video in datasets.create_one_epoch_dataset(dataset, split):
    frames = video['frames']
    embs = algo.embed_video(frames, stride=stride,
                            frames_per_batch=frames_per_batch)
    result['embs'].append(np.asarray(embs, np.float32))
    result['labels'].append(
        np.asarray(video['frame_labels'].numpy()[::stride], np.int64))
    result['video_labels'].append(int(video['video_label']))
    result['names'].append(video['name'].numpy().decode('utf-8'))
    result['seq_lens'].append(int(video['seq_len']))
    if keep_frames:
      result['frames'].append(frames_to_uint8(frames.numpy()[::stride]))
    done = len(result['embs'])
    now = time.time()
    if now - last_report >= 10 or done == total or done == 1:
      log('embedding %s/%s: %d/%s videos, %.1f s' % (
          dataset, split, done, total if total is not None else '?',
          now - start))
      last_report = now
  result['video_labels'] = np.array(result['video_labels'], np.int64)
  result['seq_lens'] = np.array(result['seq_lens'], np.int64)
  return result
