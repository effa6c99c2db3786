"""Alignment videos: each frame of a reference video beside its nearest
neighbour (in embedding space) in each candidate video.

Frames come from the embeddings file (extracted with --keep_frames) or are
read again from the TFRecords, decoded one at a time as the video is
written. `visualize_alignment.py` is the command-line tool.
"""

import glob
import math
import os

import cv2
import numpy as np

import config
from data import records
import datasets
from utils import atomic_files
from utils import console
from visualization import figures

MAX_GRID_CANDIDATES = 15


def _tfrecord_paths(data, logdir=None, tfrecords=None):
  """TFRecord files that hold the videos of an embeddings file."""
  if tfrecords:
    if os.path.isdir(tfrecords):
      pattern = os.path.join(tfrecords, '%s_%s*' % (
          data['dataset'], data['split'])) if data.get('dataset') and data.get(
              'split') else os.path.join(tfrecords, '*')
    else:
      pattern = tfrecords
    paths = sorted(p for p in glob.glob(pattern)
                   if os.path.isfile(p) and not p.endswith('.json'))
    if not paths:
      raise ValueError('--tfrecords %s: no TFRecord file matches %s.' % (
          tfrecords, pattern))
    return paths
  if not data.get('dataset') or not data.get('split'):
    raise ValueError('The embeddings file does not say its dataset and split; '
                     'pass --tfrecords with the TFRecord files instead.')
  # The TFRecords are where the run's PATH_TO_TFRECORDS says.
  with config.use_config(config.read_config_from_logdir(logdir)):
    return datasets.split_tfrecord_paths(data['dataset'], data['split'])


def load_frames(data, indices, logdir=None, tfrecords=None):
  """Frames aligned with the embeddings of some videos.

  Args:
    data: dict from `load_embeddings`.
    indices: video indices needed.
    logdir: training logdir to find the TFRecords (when `data` has no frames).
    tfrecords: TFRecord directory, file or glob (idem).

  Returns:
    {index: frames}, `frames[t]` a uint8 [H, W, 3] RGB frame for embedding t
    (every `stride`-th frame): the stored arrays, or `records.JpegFrames`
    decoding each frame on access.
  """
  if data.get('frames') is not None:
    return {i: data['frames'][i] for i in indices}
  if not logdir and not tfrecords:
    raise ValueError('The embeddings file has no frames: extract it with '
                     '--keep_frames, or pass --logdir or --tfrecords to read '
                     'the frames from the TFRecords.')
  sequences = records.video_frame_sequences(
      _tfrecord_paths(data, logdir, tfrecords),
      [data['names'][i] for i in indices], data['stride'])
  missing = [data['names'][i] for i in indices
             if data['names'][i] not in sequences]
  if missing:
    raise ValueError('Videos %s are not in the TFRecords given; pass the '
                     'TFRecords the embeddings were extracted from.' %
                     ', '.join(missing))
  frames = {i: sequences[data['names'][i]] for i in indices}
  for i in indices:
    if len(frames[i]) != len(data['embs'][i]):
      raise ValueError('Video %s has %d frames (stride %d) in the TFRecords '
                       'but %d embeddings; pass the TFRecords the embeddings '
                       'were extracted from.' % (data['names'][i],
                                                 len(frames[i]),
                                                 data['stride'],
                                                 len(data['embs'][i])))
  return frames


def nearest_frames(query_embs, candidate_embs, distance='sqeuclidean'):
  """Index of the nearest candidate frame for every query frame ([T_q])."""
  return np.argmin(figures.distance_matrix(query_embs, candidate_embs,
                                           distance), axis=1)


def draw_tile(frame, lines, tile_size):
  """An RGB frame resized to a square tile with text lines on top.

  Args:
    frame: uint8 [H, W, 3] RGB.
    lines: list of str, drawn from the top-left corner.
    tile_size: output side in pixels.

  Returns:
    uint8 [tile_size, tile_size, 3] RGB.
  """
  tile = cv2.resize(np.ascontiguousarray(frame), (tile_size, tile_size),
                    interpolation=cv2.INTER_NEAREST)
  scale = max(0.3, tile_size / 400.0)
  height = int(22 * scale) + 4
  for row, text in enumerate(lines):
    origin = (4, height * (row + 1))
    cv2.putText(tile, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale,
                (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(tile, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)
  return tile


def grid_shape(num_tiles, grid):
  """(rows, cols): one row, or the most square grid holding `num_tiles`."""
  if not grid:
    return 1, num_tiles
  cols = int(math.ceil(math.sqrt(num_tiles)))
  return int(math.ceil(num_tiles / cols)), cols


def check_video_indices(num_videos, reference, candidates):
  """Raises ValueError unless the reference and candidates are valid videos."""
  for index in [reference] + list(candidates):
    if not 0 <= index < num_videos:
      raise ValueError('--reference/--candidates: video index %d is out of '
                       'range; the embeddings file holds %d videos (0..%d).'
                       % (index, num_videos, num_videos - 1))
  if not candidates:
    raise ValueError('No candidate video to align with the reference; the '
                     'embeddings file needs at least 2 videos.')


def default_candidates(num_videos, reference, grid):
  others = [i for i in range(num_videos) if i != reference]
  return others[:MAX_GRID_CANDIDATES] if grid else others[:1]


def render_alignment(data, video_path, reference=0, candidates=None,
                     grid=False, frames=None, distance='sqeuclidean',
                     tile_size=192, fps=10.0, similarity_path=None):
  """Writes the alignment mp4 and the similarity-matrix PNG.

  Args:
    data: dict from `load_embeddings`.
    video_path: output .mp4 path.
    reference: index of the reference video.
    candidates: indices of the aligned videos (default: see the module doc).
    grid: grid layout instead of one row.
    frames: {index: uint8 [T_i, H, W, 3]} for the reference and candidates
      (default: `data['frames']`).
    distance: 'sqeuclidean' or 'cosine'.
    tile_size: tile side in pixels; rounded up to even (codecs want even
      sizes).
    fps: frames per second.
    similarity_path: output .png (default `<video_path stem>_similarity.png`).

  Returns:
    (num_frames, (width, height)) of the video written.
  """
  if candidates is None:
    candidates = default_candidates(len(data['embs']), reference, grid)
  check_video_indices(len(data['embs']), reference, candidates)
  if not video_path.endswith('.mp4'):
    raise ValueError('%s: the video path must end in .mp4.' % video_path)
  if frames is None:
    frames = load_frames(data, [reference] + list(candidates))
  tile_size += tile_size % 2
  ref_embs = data['embs'][reference]
  nns = [nearest_frames(ref_embs, data['embs'][c], distance)
         for c in candidates]
  rows, cols = grid_shape(1 + len(candidates), grid)
  width, height = cols * tile_size, rows * tile_size
  stride = int(data.get('stride', 1))

  def tile(video, step, role):
    label = int(data['labels'][video][step])
    phase = 'phase %d' % label if label >= 0 else 'no label'
    return draw_tile(frames[video][step], [
        '%s %s' % (role, data['names'][video])[:28],
        'frame %d  %s' % (step * stride, phase)], tile_size)

  directory = os.path.dirname(os.path.abspath(video_path))
  os.makedirs(directory, exist_ok=True)
  # cv2 picks the container from the extension, so the temporary name keeps
  # '.mp4'.
  with atomic_files.atomic_path(video_path) as tmp:
    writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (width, height))
    try:
      if not writer.isOpened():
        raise ValueError('%s: OpenCV cannot write an mp4v video here.' %
                         video_path)
      for step in range(len(ref_embs)):
        tiles = [tile(reference, step, 'ref')] + [
            tile(c, int(nn[step]), 'nn') for c, nn in zip(candidates, nns)]
        canvas = np.zeros((height, width, 3), np.uint8)
        for k, image in enumerate(tiles):
          r, c = divmod(k, cols)
          canvas[r * tile_size:(r + 1) * tile_size,
                 c * tile_size:(c + 1) * tile_size] = image
        writer.write(cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    finally:
      writer.release()
  if similarity_path is None:
    similarity_path = os.path.splitext(video_path)[0] + '_similarity.png'
  figures.plot_similarity_matrix(
      ref_embs, data['embs'][candidates[0]], similarity_path, distance,
      names=(data['names'][reference], data['names'][candidates[0]]))
  console.info('Wrote %s (%d frames, %dx%d) and %s.', video_path,
               len(ref_embs), width, height, similarity_path)
  return len(ref_embs), (width, height)
