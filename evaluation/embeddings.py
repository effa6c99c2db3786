"""Per-frame embeddings of every video of a split, with a trained algorithm.

Shared by `evaluate.py` (computed once per checkpoint, used by every task)
and `extract_embeddings.py`. Imports TensorFlow (through `datasets`) only
when called, so the metric modules stay NumPy-only.
"""

import time

import numpy as np

from config import CONFIG
from utils import console


def _default_log(message):
  console.info('%s', message)


def frames_to_uint8(frames):
  """float frames in [-1, 1] -> uint8 [0, 255] (same shape)."""
  return np.clip(np.round((np.asarray(frames) + 1.0) * 127.5), 0,
                 255).astype(np.uint8)


def embed_split(algo, dataset, split, keep_frames=False, log=_default_log):
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
  import datasets  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  stride = CONFIG.DATA.SAMPLE_ALL_STRIDE
  frames_per_batch = CONFIG.EVAL.FRAMES_PER_BATCH
  image_size = CONFIG.IMAGE_SIZE
  central_crop = CONFIG.AUGMENTATION.RANDOM_CROP
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
    fetch = lambda indices, jpegs=jpegs: datasets.decode_eval_frames(
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
