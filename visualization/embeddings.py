"""Pictures of an embedding space: PCA / t-SNE trajectories, the TensorBoard
projector export, and the imitation (cross-view nearest-neighbour) video.

`tools/visualize_embeddings.py` is the command-line tool.
"""

import os

from absl import logging
import cv2
import numpy as np
import tensorflow as tf

import algos
import config
from evaluation.multiview import embed_views
from utils import atomic_files
from visualization import alignment
from visualization import figures

MODES = ('pca', 'tsne', 'projector', 'imitation')


# ----------------------------------------------------------------------------
# Loading.
# ----------------------------------------------------------------------------


def views_as_videos(views_data):
  """`evaluation.multiview.embed_views` output -> an embeddings-file dict.

  Each (take, view) becomes one video named `<take>/view<i>`; `takes` and
  `view_ids` say where it came from.
  """
  data = {'embs': [], 'labels': [], 'names': [], 'takes': [], 'view_ids': [],
          'stride': 1}
  if 'frames' in views_data:
    data['frames'] = []
  # Drop the prefix all take names share (e.g. the dataset name) up to its
  # last '_', so that names fit in picture labels.
  names = views_data['names']
  common = os.path.commonprefix(names) if len(names) > 1 else ''
  cut = common.rfind('_') + 1
  names = [n[cut:] for n in names]
  for t, (views, labels, name) in enumerate(zip(
      views_data['views'], views_data['labels'], names)):
    for v, embs in enumerate(views):
      data['embs'].append(np.asarray(embs))
      data['labels'].append(np.asarray(labels[:len(embs)]))
      data['names'].append('%s/view%d' % (name, v) if len(views) > 1 else
                           name)
      data['takes'].append(t)
      data['view_ids'].append(v)
      if 'frames' in views_data:
        data['frames'].append(views_data['frames'][t][v])
  return data


def embed_logdir(logdir, split, dataset=None, checkpoint=None,
                 keep_frames=True):
  """Embeds every view of every take of a split with a trained model."""
  checkpoint = checkpoint or tf.train.latest_checkpoint(logdir)
  algo, _, run_config = algos.restore_algo(logdir, checkpoint)
  # The embedding and the data read CONFIG: the run's, for this call only.
  with config.use_config(run_config):
    views = embed_views(algo, dataset or run_config.DATASETS[0], split,
                        run_config, keep_frames, logging.info)
  return views_as_videos(views)


# ----------------------------------------------------------------------------
# PCA / t-SNE.
# ----------------------------------------------------------------------------


def subsample(data, max_points):
  """Evenly spaced frame indices per video, at most `max_points` in all."""
  total = sum(len(e) for e in data['embs'])
  keep = min(1.0, max_points / float(max(total, 1)))
  return [np.unique(np.linspace(0, len(e) - 1, max(2, int(round(
      keep * len(e))))).astype(int)) if len(e) else np.zeros(0, int)
          for e in data['embs']]


def project_2d(points, method, seed=0):
  """[N, D] -> [N, 2] with 'pca' or 'tsne'."""
  from sklearn.decomposition import PCA  # pylint: disable=g-import-not-at-top
  from sklearn.manifold import TSNE  # pylint: disable=g-import-not-at-top
  if method == 'pca':
    return PCA(n_components=2, random_state=seed).fit_transform(points)
  return TSNE(n_components=2, perplexity=min(30.0, (len(points) - 1) / 3.0),
              init='pca', random_state=seed).fit_transform(points)


def plot_trajectories(data, method, path, color_by='time', max_points=1000,
                      seed=0):
  """PNG of every video's embedding trajectory in 2-D.

  Args:
    data: embeddings dict (`embs`, `labels`, `names`).
    method: 'pca' (all frames) or 'tsne' (at most `max_points` frames).
    path: output PNG.
    color_by: 'time' (t / T of each video) or 'phase' (label).
    max_points: frame budget of t-SNE.
    seed: t-SNE / PCA seed.

  Returns:
    `path`.
  """
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  keep = subsample(data, max_points if method == 'tsne' else 10 ** 9)
  points = np.concatenate([e[k] for e, k in zip(data['embs'], keep)])
  if len(points) < 3:
    raise ValueError('%s needs at least 3 embedded frames, got %d.' % (
        method, len(points)))
  xy = project_2d(points.astype(np.float64), method, seed)
  fig, ax = plt.subplots(figsize=(7, 6))
  start = 0
  scatter = None
  max_phase = max([1] + [int(np.max(l)) for l in data['labels'] if len(l)])
  for embs, labels, indices in zip(data['embs'], data['labels'], keep):
    part = xy[start:start + len(indices)]
    start += len(indices)
    ax.plot(part[:, 0], part[:, 1], '-', color='0.75', linewidth=0.6,
            zorder=1)
    values = (indices / max(1, len(embs) - 1) if color_by == 'time' else
              np.asarray(labels)[indices])
    scatter = ax.scatter(
        part[:, 0], part[:, 1], c=values, s=9, zorder=2,
        cmap='viridis' if color_by == 'time' else plt.get_cmap(
            'tab10', max_phase + 1),
        vmin=0 if color_by == 'time' else -0.5,
        vmax=1 if color_by == 'time' else max_phase + 0.5)
  fig.colorbar(scatter, ax=ax, label='t / T' if color_by == 'time' else
               'phase')
  ax.set_title('%s of %d videos (%d frames), coloured by %s' % (
      method.upper() if method == 'pca' else 't-SNE', len(data['embs']),
      len(points), color_by))
  ax.set_xticks([])
  ax.set_yticks([])
  figures._save(fig, path)  # pylint: disable=protected-access
  return path


# ----------------------------------------------------------------------------
# TensorBoard projector.
# ----------------------------------------------------------------------------


def sprite_image(thumbnails):
  """[N, s, s, 3] uint8 -> square sprite [k * s, k * s, 3], k = ceil(sqrt N)."""
  num, size = len(thumbnails), thumbnails.shape[1]
  side = int(np.ceil(np.sqrt(num)))
  sprite = np.full((side * size, side * size, 3), 255, np.uint8)
  for i, thumb in enumerate(thumbnails):
    r, c = divmod(i, side)
    sprite[r * size:(r + 1) * size, c * size:(c + 1) * size] = thumb
  return sprite


def export_projector(data, output_dir, max_points=1000, sprite_dim=64):
  """Writes a TensorBoard projector of (a subsample of) the embeddings.

  Returns:
    number of points exported.
  """
  from tensorboard.plugins import projector  # pylint: disable=g-import-not-at-top
  os.makedirs(output_dir, exist_ok=True)
  keep = subsample(data, max_points)
  embs = np.concatenate([e[k] for e, k in zip(data['embs'], keep)]).astype(
      np.float32)
  rows = ['video\tframe\ttime\tphase']
  for name, embs_v, labels, indices in zip(data['names'], data['embs'],
                                           data['labels'], keep):
    stride = int(data.get('stride', 1))
    for i in indices:
      rows.append('%s\t%d\t%.3f\t%d' % (name, i * stride,
                                        i / max(1, len(embs_v) - 1),
                                        int(labels[i])))
  atomic_files.write_text(os.path.join(output_dir, 'metadata.tsv'),
                          '\n'.join(rows) + '\n')
  with atomic_files.atomic_open(os.path.join(output_dir, 'embeddings.tsv'),
                                'wb') as f:
    np.savetxt(f, embs, delimiter='\t', fmt='%.6g')
  config = projector.ProjectorConfig()
  embedding = config.embeddings.add()
  embedding.tensor_name = 'embedding/.ATTRIBUTES/VARIABLE_VALUE'
  embedding.metadata_path = 'metadata.tsv'
  if data.get('frames') is not None:
    thumbs = np.concatenate([
        np.stack([cv2.resize(f[i], (sprite_dim, sprite_dim),
                             interpolation=cv2.INTER_AREA) for i in k])
        for f, k in zip(data['frames'], keep) if len(k)])
    sprite = sprite_image(thumbs)
    with atomic_files.atomic_path(os.path.join(output_dir, 'sprite.png')) as tmp:
      cv2.imwrite(tmp, cv2.cvtColor(sprite, cv2.COLOR_RGB2BGR))
    embedding.sprite.image_path = 'sprite.png'
    embedding.sprite.single_image_dim.extend([sprite_dim, sprite_dim])
  checkpoint = tf.train.Checkpoint(embedding=tf.Variable(embs))
  checkpoint.save(os.path.join(output_dir, 'embedding.ckpt'))
  projector.visualize_embeddings(output_dir, config)
  return len(embs)


# ----------------------------------------------------------------------------
# Imitation video.
# ----------------------------------------------------------------------------


def imitation_candidates(data, query, num_candidates):
  """Video indices to align with the query video.

  With multi-view data (`takes`, `view_ids`): the other views of the query's
  take first, then view 1 (else view 0) of the following takes; otherwise
  the following videos.
  """
  if 'takes' not in data:
    others = [i for i in range(len(data['embs'])) if i != query]
    return others[:num_candidates]
  take = data['takes'][query]
  same = [i for i, t in enumerate(data['takes']) if t == take and i != query]
  num_takes = max(data['takes']) + 1
  other = []
  for step in range(1, num_takes):
    t = (take + step) % num_takes
    videos = [i for i, tk in enumerate(data['takes']) if tk == t]
    other.append(videos[1] if len(videos) > 1 else videos[0])
  return (same + other)[:num_candidates]


def render_imitation(data, path, query_take=0, num_candidates=3,
                     tfrecords=None):
  """The imitation video: query beside its nearest frames in other videos."""
  if 'takes' in data:
    if not 0 <= query_take <= max(data['takes']):
      raise ValueError('--query %d: there are %d takes.' % (
          query_take, max(data['takes']) + 1))
    query = data['takes'].index(query_take)
  else:
    query = query_take
  candidates = imitation_candidates(data, query, num_candidates)
  alignment.check_video_indices(len(data['embs']), query, candidates)
  frames = alignment.load_frames(data, [query] + candidates,
                                 tfrecords=tfrecords)
  return alignment.render_alignment(
      data, path, query, candidates, grid=len(candidates) > 2, frames=frames)
