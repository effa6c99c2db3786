"""Figures for people: similarity matrices and accuracy against labels.

Rendered with matplotlib's Agg backend (no display needed) and written
atomically (temporary name, then `os.replace`).
"""

import os

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from utils import atomic_files


def distance_matrix(embs_a, embs_b, distance='sqeuclidean'):
  """Pairwise distances between the frames of two videos.

  Args:
    embs_a: [T_a, D] embeddings.
    embs_b: [T_b, D] embeddings.
    distance: 'sqeuclidean' or 'cosine'.

  Returns:
    [T_a, T_b] float64 distances.
  """
  a = np.asarray(embs_a, np.float64)
  b = np.asarray(embs_b, np.float64)
  if distance == 'sqeuclidean':
    return (np.sum(a ** 2, 1)[:, None] + np.sum(b ** 2, 1)[None, :] -
            2.0 * a @ b.T)
  if distance == 'cosine':
    norm_a = np.linalg.norm(a, axis=1)
    norm_b = np.linalg.norm(b, axis=1)
    norm_a[norm_a == 0] = 1.0
    norm_b[norm_b == 0] = 1.0
    return 1.0 - (a @ b.T) / (norm_a[:, None] * norm_b[None, :])
  raise ValueError('distance %r is not sqeuclidean or cosine.' % distance)


def _save(fig, path):
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  try:
    with atomic_files.atomic_path(path) as tmp:
      fig.savefig(tmp, format='png', dpi=100, bbox_inches='tight')
  finally:
    plt.close(fig)
  return path


def plot_similarity_matrix(embs_a, embs_b, path, distance='sqeuclidean',
                           names=('video a', 'video b'), show_alignment=True):
  """Writes a PNG of the similarity (negative distance) of two videos' frames.

  With `show_alignment`, the nearest-neighbour path (for each frame of video
  a, its nearest frame of video b) is drawn on top.

  Args:
    embs_a: [T_a, D] embeddings (rows).
    embs_b: [T_b, D] embeddings (columns).
    path: output .png path.
    distance: 'sqeuclidean' or 'cosine'.
    names: axis labels (video names).
    show_alignment: draw the nearest-neighbour path.

  Returns:
    `path`.
  """
  dists = distance_matrix(embs_a, embs_b, distance)
  fig, ax = plt.subplots(figsize=(5, 5))
  image = ax.imshow(-dists, cmap='viridis', aspect='auto',
                    interpolation='nearest')
  fig.colorbar(image, ax=ax, label='similarity (-%s distance)' % distance)
  if show_alignment:
    ax.plot(np.argmin(dists, axis=1), np.arange(len(dists)), 'w.',
            markersize=3, label='nearest neighbour')
    ax.legend(loc='lower right', fontsize=7)
  ax.set_ylabel('%s frame' % names[0])
  ax.set_xlabel('%s frame' % names[1])
  ax.set_title('frame similarity')
  return _save(fig, path)


def plot_accuracy_vs_fraction(accuracies, path, ylabel='accuracy',
                              title='phase classification'):
  """Writes a PNG of a metric against the fraction of labeled videos.

  Args:
    accuracies: {fraction: value}.
    path: output .png path.
    ylabel: y axis label.
    title: figure title.

  Returns:
    `path`.
  """
  fractions = sorted(accuracies)
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.plot(fractions, [accuracies[f] for f in fractions], 'o-')
  ax.set_xlabel('fraction of labeled training videos')
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(True, alpha=0.3)
  return _save(fig, path)
