r"""Where the contrastive random walk's loss comes from, node by node.

    python -m experiments.crw_walk_nodes --logdir RUN [--logdir RUN2 ...] \
        [--split train] [--clips_per_video 3] [--seed 0] [--augment]

Cuts clips of CRW.CLIP_LENGTH consecutive frames (from random starts) out of
the DAVIS copy of a CRW run's videos (by default the `train` split: the
videos it trained on), resizes them to IMAGE_SIZE as training does, cuts
every frame into the run's patch grid (CRW.PATCH_SIZE every
CRW.PATCH_STRIDE; with --augment, after the random crops that training
applies: the first run's CRW.FRAME_CROP_* and CRW.PATCH_JITTER_SCALE) and
scores the longest palindrome walk 0 -> T-1 -> 0 of every node without
edge dropout: -log of the probability of returning to the node it started
from (the CRW loss of that node; chance, a uniform walk, is log N). Nodes
are grouped by the first frame's annotation: `object` (more than half the
patch on an object), `background` (no object pixel) and `mixed`. Rows: each
run's node embeddings (its head on the mean-pooled base features, inference
mode) and two references through the same walk at the first run's
temperature: the patches' raw pixels (flattened, mean removed,
L2-normalised: exact appearance) and their colour histograms (4 x 4 x 4
RGB bins, square roots, L2-normalised: colour alone, indifferent to where
in the patch it is). Every row sees the same patches.
"""

import argparse
import functools
import os

import cv2
import numpy as np

from utils import quiet_tf  # pylint: disable=unused-import
import tensorflow as tf

NODE_KINDS = ('background', 'mixed', 'object')
# Bins per colour channel of the histogram reference.
HISTOGRAM_BINS = 4
# Clips embedded per call.
CLIPS_PER_BATCH = 16


def sample_clips(root, sequences, clip_length, clips_per_video, image_size,
                 rng):
  """Clips of consecutive frames and their first frame's object masks.

  Returns:
    (frames, masks): float32 [C, T, S, S, 3] in [-1, 1] and bool [C, S, S]
    (any object), S = image_size, clips_per_video clips from every sequence
    of at least clip_length frames.
  """
  from correspondence import davis_io  # pylint: disable=g-import-not-at-top
  size = (image_size, image_size)
  clips, masks = [], []
  for sequence in sequences:
    frames = davis_io.read_frames(root, sequence)
    if len(frames) < clip_length:
      continue
    paths = davis_io.frame_paths(root, sequence)
    for start in rng.integers(0, len(frames) - clip_length + 1,
                              size=clips_per_video):
      clips.append([cv2.resize(f, size, interpolation=cv2.INTER_LINEAR)
                    for f in frames[start:start + clip_length]])
      # Only the clip's first mask is read (sequences may lack the others).
      label_path = davis_io.annotation_path(root, sequence, paths[start])
      if not os.path.isfile(label_path):
        raise ValueError('%s: missing annotation for %s.' % (label_path,
                                                              paths[start]))
      masks.append(cv2.resize(davis_io.read_palette_png(label_path), size,
                              interpolation=cv2.INTER_NEAREST) > 0)
  return (np.asarray(clips, np.float32) / 127.5 - 1.0,
          np.asarray(masks, bool))


def node_kinds(masks, patch_size, stride):
  """Index into NODE_KINDS of every node of the patch grid.

  Args:
    masks: bool [C, H, W], True on objects.

  Returns:
    int [C, N] (row-major grid, as `crw.grid_patches`): 0 no object pixel,
    2 more than half the patch on objects, 1 otherwise.
  """
  from correspondence import crw  # pylint: disable=g-import-not-at-top
  cover = crw.grid_patches(
      tf.cast(masks[:, None, :, :, None], tf.float32), patch_size, stride)
  cover = tf.reduce_mean(cover, axis=[3, 4, 5])[:, 0].numpy()
  return np.where(cover == 0, 0, np.where(cover > 0.5, 2, 1))


def pixel_nodes(patches):
  """Raw-pixel node embeddings: each patch flattened, mean removed and
  L2-normalised. float [C, T, N, P, P, 3] -> [C, T, N, P*P*3]."""
  patches = tf.convert_to_tensor(patches, tf.float32)
  shape = tf.shape(patches)
  flat = tf.reshape(patches, tf.concat([shape[:3], [-1]], 0))
  flat -= tf.reduce_mean(flat, axis=-1, keepdims=True)
  return tf.math.l2_normalize(flat, axis=-1)


def histogram_nodes(patches, bins=HISTOGRAM_BINS):
  """Colour-histogram node embeddings: how many of each patch's pixels fall
  in each of bins^3 RGB cells (values in [-1, 1], each channel cut into
  `bins` equal intervals), square-rooted and L2-normalised.
  float [C, T, N, P, P, 3] -> [C, T, N, bins^3]."""
  patches = tf.convert_to_tensor(patches, tf.float32)
  cells = tf.cast(tf.clip_by_value((patches + 1.0) / 2.0 * bins, 0.0,
                                   bins - 1.0), tf.int32)
  index = (cells[..., 0] * bins + cells[..., 1]) * bins + cells[..., 2]
  shape = tf.shape(index)
  counts = tf.math.bincount(
      tf.reshape(index, [-1, shape[3] * shape[4]]), minlength=bins ** 3,
      maxlength=bins ** 3, dtype=tf.float32, axis=-1)
  counts = tf.reshape(counts, tf.concat([shape[:3], [bins ** 3]], 0))
  return tf.math.l2_normalize(tf.sqrt(counts), axis=-1)


def node_walk_losses(node_embs, temperature):
  """-log P(return) of the longest palindrome 0 -> T-1 -> 0, per node.

  Args:
    node_embs: float [C, T, N, D], L2-normalised.
    temperature: the walk's softmax temperature.

  Returns:
    float64 [C, N].
  """
  from correspondence import crw  # pylint: disable=g-import-not-at-top
  node_embs = tf.cast(node_embs, tf.float32)
  num_frames = node_embs.shape[1]
  affinity = tf.einsum('btnd,btmd->btnm', node_embs[:, :-1], node_embs[:, 1:])
  forward = crw.transition_matrix(affinity, temperature)
  backward = crw.transition_matrix(tf.linalg.matrix_transpose(affinity),
                                   temperature)
  walk = crw.palindrome_walks(forward, backward, num_frames - 1)
  returns = tf.linalg.diag_part(walk[num_frames - 1]).numpy()
  return -np.log(returns.astype(np.float64) + crw.EPS)


def summarize(losses, kinds):
  """{'all' or a NODE_KINDS name: (mean loss, number of nodes)} of per-node
  losses [C, N] and their kinds [C, N]."""
  summary = {'all': (float(losses.mean()), losses.size)}
  for index, kind in enumerate(NODE_KINDS):
    chosen = losses[kinds == index]
    summary[kind] = (float(chosen.mean()) if chosen.size else float('nan'),
                     int(chosen.size))
  return summary


def restore_crw(logdir):
  """(algo, step, config) of a CRW run's latest checkpoint."""
  import algos  # pylint: disable=g-import-not-at-top
  algo, step, run_config = algos.restore_algo(logdir)
  if run_config.TRAINING_ALGO != 'crw':
    raise ValueError('%s: a %s run; this diagnostic scores CRW runs.' % (
        logdir, run_config.TRAINING_ALGO))
  return algo, step, run_config


def in_batches(fn, array):
  """fn applied to CLIPS_PER_BATCH clips at a time, concatenated (NumPy)."""
  return np.concatenate([np.asarray(fn(array[i:i + CLIPS_PER_BATCH]))
                         for i in range(0, len(array), CLIPS_PER_BATCH)])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--logdir', action='append', required=True,
                      help='a CRW run (repeat for several)')
  parser.add_argument('--split', default='train')
  parser.add_argument('--clips_per_video', type=int, default=3)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--augment', action='store_true',
                      help='cut the patches after the random crops of '
                      'training (the first run\'s config), as the loss sees '
                      'them')
  args = parser.parse_args()
  import config  # pylint: disable=g-import-not-at-top
  from correspondence import davis_io  # pylint: disable=g-import-not-at-top
  from evaluation import label_propagation  # pylint: disable=g-import-not-at-top
  run_config = config.read_config_from_logdir(args.logdir[0])
  root = label_propagation.davis_root_from_config(run_config)
  cfg = run_config.CRW
  frames, masks = sample_clips(
      root, davis_io.list_sequences(root, args.split), cfg.CLIP_LENGTH,
      args.clips_per_video, run_config.IMAGE_SIZE,
      np.random.default_rng(args.seed))
  kinds = node_kinds(masks, cfg.PATCH_SIZE, cfg.PATCH_STRIDE)
  tf.random.set_seed(args.seed)
  rows, patches = [], None
  for logdir in args.logdir:
    algo, step, logdir_config = restore_crw(logdir)
    with config.use_config(logdir_config):
      if patches is None:
        patches = in_batches(
            functools.partial(algo.patches, augment=args.augment), frames)
        for name, nodes in (('raw pixels', pixel_nodes(patches)),
                            ('colour histograms', histogram_nodes(patches))):
          rows.append((name, summarize(node_walk_losses(
              nodes, cfg.TEMPERATURE), kinds)))
      embs = in_batches(
          functools.partial(algo.embed_patches, training=False), patches)
    rows.append(('%s (step %d)' % (logdir, step), summarize(
        node_walk_losses(embs, logdir_config.CRW.TEMPERATURE), kinds)))
  print('CRW walk 0 -> %d -> 0 on %d clips of %s (%s split), %s, no edge '
        'dropout: -log P(return), mean per node kind (nodes); chance log %d '
        '= %.3f' % (
            cfg.CLIP_LENGTH - 1, len(frames), root, args.split,
            'with the training crops' if args.augment else 'no augmentation',
            kinds.shape[1], np.log(kinds.shape[1])))
  width = max(len(name) for name, _ in rows)
  print(' '.join(['%-*s' % (width, 'embeddings'), '%6s' % 'all'] +
                 ['%18s' % kind for kind in NODE_KINDS]))
  for name, summary in rows:
    print(' '.join(['%-*s' % (width, name), '%6.3f' % summary['all'][0]] +
                   ['%11.3f (%4d)' % summary[kind] for kind in NODE_KINDS]))


if __name__ == '__main__':
  main()
