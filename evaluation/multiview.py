"""Multi-view metrics of the published TCN evaluation (NumPy).

- `cross_view_alignment_error(embs_a, embs_b)`: for every frame t of view a,
  t_nn is its nearest neighbour (Euclidean distance, first index on ties) in
  view b of the same take; the error is the mean over frames of
  |t - t_nn| / L, L the number of frames of view a. 0 is a perfect
  alignment; matching every frame to a random one gives about 1/3.
- `multiview_alignment_error`: its mean over the view pairs (i < j, view i
  queries view j) of every take, as the published alignment.py.
- `cross_view_kendalls_tau`: Kendall's tau-b of the same nearest-neighbour
  matching, both directions of every view pair of every take.
- `knn_classification_error`: the published labelled evaluation: each frame
  takes the labels of its k nearest frames (squared Euclidean) of OTHER takes;
  recall@k per class = share of the class's frames whose label is among
  them, averaged over the classes that are retrieved at least once (as
  published); error = 1 - recall.
"""

import numpy as np
import tensorflow as tf

from data.frames import decode_eval_frames
import datasets
from evaluation.base import Task
from evaluation.embeddings import frames_to_uint8
from evaluation.kendall import pairwise_kendalls_tau


def _nearest(query, target):
  """Index of the nearest row of `target` for every row of `query`."""
  query = np.asarray(query, np.float64)
  target = np.asarray(target, np.float64)
  distances = (np.sum(query ** 2, 1)[:, None] + np.sum(target ** 2, 1)[None]
               - 2.0 * query @ target.T)
  return np.argmin(distances, axis=1)


def cross_view_alignment_error(embs_a, embs_b):
  """Published alignment error of two synchronised views of one take.

  Args:
    embs_a: [T_a, D] embeddings of view a (queries).
    embs_b: [T_b, D] embeddings of view b.

  Returns:
    float, mean over t of |t - nn_b(a_t)| / T_a.
  """
  embs_a, embs_b = np.asarray(embs_a), np.asarray(embs_b)
  if embs_a.ndim != 2 or embs_b.ndim != 2 or not len(embs_a) or not len(
      embs_b) or embs_a.shape[1] != embs_b.shape[1]:
    raise ValueError('cross_view_alignment_error expects two non-empty [T, D] '
                     'arrays with the same D, got %s and %s.' % (
                         embs_a.shape, embs_b.shape))
  times = np.arange(len(embs_a))
  return float(np.mean(np.abs(times - _nearest(embs_a, embs_b)) /
                       float(len(embs_a))))


def _check_takes(takes_views):
  if not takes_views or any(len(views) < 2 for views in takes_views):
    raise ValueError('multi-view metrics need takes with >= 2 views each, got '
                     '%s views.' % [len(v) for v in takes_views])


def multiview_alignment_error(takes_views):
  """Mean alignment error over takes and view pairs i < j.

  Args:
    takes_views: list of takes, each a list of V >= 2 arrays [T, D].

  Returns:
    float.
  """
  _check_takes(takes_views)
  errors = [cross_view_alignment_error(views[i], views[j])
            for views in takes_views for i in range(len(views))
            for j in range(i + 1, len(views))]
  return float(np.mean(errors))


def cross_view_kendalls_tau(takes_views, stride=1, distance='sqeuclidean'):
  """Mean Kendall's tau-b of nearest-neighbour matching between the views of
  each take (both directions of every view pair; undefined pairs dropped).

  Args:
    takes_views: list of takes, each a list of V >= 2 arrays [T, D].
    stride: use every `stride`-th frame.
    distance: 'sqeuclidean' or 'cosine'.

  Returns:
    float (NaN when no pair is defined).
  """
  _check_takes(takes_views)
  taus = np.concatenate([
      pairwise_kendalls_tau(views, stride, distance).ravel()
      for views in takes_views])
  taus = taus[~np.isnan(taus)]
  return float(np.mean(taus)) if taus.size else float('nan')


def knn_classification_error(embs, labels, takes, k_list=(1,)):
  """Published cross-take k-nearest-neighbour classification error.

  Args:
    embs: [N, D] embeddings of labelled frames (all views, all takes).
    labels: [N] int labels.
    takes: [N] take name of each frame; neighbours come from other takes.
    k_list: the k values.

  Returns:
    dict k -> error (1 - mean recall@k over classes).
  """
  embs = np.asarray(embs, np.float64)
  labels = np.asarray(labels)
  takes = np.asarray(takes)
  if not len(embs) == len(labels) == len(takes):
    raise ValueError('knn_classification_error: %d embeddings, %d labels, %d '
                     'take names; give one of each per frame.' % (
                         len(embs), len(labels), len(takes)))
  if len(np.unique(takes)) < 2:
    raise ValueError('knn_classification_error needs frames of >= 2 takes.')
  distances = (np.sum(embs ** 2, 1)[:, None] + np.sum(embs ** 2, 1)[None] -
               2.0 * embs @ embs.T)
  distances[takes[:, None] == takes[None, :]] = np.inf
  order = np.argsort(distances, axis=1, kind='stable')[:, :max(k_list)]
  retrieved = labels[order]
  errors = {}
  for k in k_list:
    hit = (retrieved[:, :k] == labels[:, None]).any(axis=1)
    recalls = [hit[labels == c].mean() for c in np.unique(labels)
               if hit[labels == c].any()]
    errors[k] = 1.0 - (float(np.mean(recalls)) if recalls else 0.0)
  return errors


def embed_views(algo, dataset, split, cfg, keep_frames=False, log=print):
  """Embeds every frame of every view of every take of a split.

  `cfg` gives EVAL.FRAMES_PER_BATCH, IMAGE_SIZE and AUGMENTATION.RANDOM_CROP.

  Returns:
    dict: `views` list (per take) of lists of [T, D] float32 (one per view),
    `labels` list of [T] int64 (NO_LABEL for unlabelled takes),
    `has_labels` list of bool, `names` list of str; with `keep_frames`,
    `frames` list (per take) of lists of uint8 [T, H, W, 3].
  """
  frames_per_batch = cfg.EVAL.FRAMES_PER_BATCH
  image_size = cfg.IMAGE_SIZE
  central_crop = cfg.AUGMENTATION.RANDOM_CROP
  result = {'views': [], 'labels': [], 'has_labels': [], 'names': []}
  if keep_frames:
    result['frames'] = []
  for take in datasets.create_one_epoch_dataset(dataset, split,
                                                all_views=True):
    num_frames = int(take['seq_len'])
    # Only the JPEGs are held; frames are decoded a chunk at a time.
    fetchers = [
        lambda indices, jpegs=jpegs: decode_eval_frames(
            tf.gather(jpegs, indices), image_size, central_crop)
        for jpegs in take['view_jpegs']]
    result['views'].append([
        algo.embed_video_chunks(num_frames, fetch, 1, frames_per_batch)
        for fetch in fetchers])
    if keep_frames:
      result['frames'].append([np.concatenate(
          [frames_to_uint8(fetch(np.arange(i, min(i + frames_per_batch,
                                                  num_frames))))
           for i in range(0, num_frames, frames_per_batch)])
                               for fetch in fetchers])
    length = len(result['views'][-1][0])
    result['labels'].append(take['frame_labels'].numpy()[:length])
    result['has_labels'].append(bool(take['has_labels']))
    result['names'].append(take['name'].numpy().decode('utf-8'))
  log('embedded %d takes x %d views of %s/%s' % (
      len(result['names']), len(result['views'][0]) if result['views'] else 0,
      dataset, split))
  return result


def multiview_metrics(takes_views, labels=None, names=None, stride=1,
                      distance='sqeuclidean'):
  """alignment_error, kendalls_tau and (with labels) knn_error@1 of takes.

  Args:
    takes_views: list of takes, each a list of V >= 2 arrays [T, D].
    labels: optional list (per take) of [T] per-frame labels.
    names: take names (default their indices).
    stride, distance: of the Kendall's tau.

  Returns:
    dict of floats.
  """
  metrics = {'alignment_error': multiview_alignment_error(takes_views),
             'kendalls_tau': cross_view_kendalls_tau(takes_views, stride,
                                                     distance)}
  if labels is not None and len(takes_views) >= 2:
    names = list(range(len(takes_views))) if names is None else names
    embs = np.concatenate([e for views in takes_views for e in views])
    frame_labels = np.concatenate([
        np.tile(l[:len(views[0])], len(views))
        for views, l in zip(takes_views, labels)])
    frame_takes = np.concatenate([
        np.full(len(views) * len(views[0]), n, dtype=object)
        for views, n in zip(takes_views, names)])
    metrics['knn_error@1'] = knn_classification_error(
        embs, frame_labels, frame_takes.astype(str), (1,))[1]
  return metrics


class MultiView(Task):
  """Cross-view alignment error, Kendall's tau and kNN error on the
  validation takes (every frame of every view)."""

  name = 'multiview'
  needs_algo = True

  def evaluate(self, context):
    data = embed_views(context.algo, context.dataset, 'val', self.cfg,
                       log=context.log)
    if not data['views'] or len(data['views'][0]) < 2:
      context.log('multiview: %s has single-view records; skipped.' %
                  context.dataset)
      return {}
    labels = None
    if self.cfg.DATA.FRAME_LABELS and all(data['has_labels']):
      labels = data['labels']
    elif self.cfg.DATA.FRAME_LABELS:
      context.log('multiview: knn_error@1 skipped: %d of %d validation takes '
                  'have no frame labels.' % (data['has_labels'].count(False),
                                             len(data['has_labels'])))
    return multiview_metrics(data['views'], labels, data['names'],
                             self.cfg.EVAL.KENDALLS_TAU_STRIDE,
                             self.cfg.EVAL.KENDALLS_TAU_DISTANCE)


class KnnError(Task):
  """Published cross-video 1-NN classification error on the validation
  videos (single view)."""

  name = 'knn_error'
  needs_labels = True

  def evaluate(self, context):
    val = context.val
    if len(val['embs']) < 2:
      context.log('knn_error: needs 2 validation videos; skipped.')
      return {}
    takes = np.concatenate([np.full(len(e), i) for i, e in
                            enumerate(val['embs'])])
    errors = knn_classification_error(np.concatenate(val['embs']),
                                      np.concatenate(val['labels']), takes,
                                      (1,))
    return {'error@1': errors[1]}
