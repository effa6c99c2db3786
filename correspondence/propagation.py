"""Label propagation through a video with frozen features (as CRW evaluates).

Given per-frame feature maps and soft labels on the first frame, each frame t
in turn attends to a queue of context frames: the first frame (unrestricted
in space) and the `num_context` frames before t (frames before 0 repeat frame
0), restricted to keys within `radius` feature cells of the query. Per query
node, the top-k affinities (cosine similarity / temperature) over all
context nodes are kept and softmax-normalised; the prediction is the
weighted sum of the context nodes' soft labels. Predictions are fed back as
the labels of later context frames. Masks are then upsampled (bilinear) to
the image and the argmax taken; keypoints are propagated as Gaussian
heatmaps and read back as a weighted mean of their top-3 cells.

`protocol='timecycle'` is TimeCycle's own evaluation instead (its
test_davis.py): the same queue (frame 0 and the n preceding frames; the
published run uses n = 7, k = 5 and temperature 512^-0.5), but each context
frame is attended on its own and over all its cells (no radius): softmax
over the frame's cells, the top-k of that softmax kept without renormalising,
the weighted labels summed over the frames and divided by their number; each
label map is then min-max scaled to [0, 1] over the frame.

NumPy only; imports no config.
"""

import cv2
import numpy as np

DEFAULT_NUM_CONTEXT = 20
DEFAULT_TOPK = 10
DEFAULT_RADIUS = 12.0
DEFAULT_TEMPERATURE = 0.05
# Feature cells of the first frame that keep a keypoint's heatmap (CRW's
# JHMDB loader draws sigma 0.5 Gaussians at feature resolution).
DEFAULT_KEYPOINT_SIGMA = 0.5
_MASKED = -1e10
# 'crw': the shared protocol (CRW's); 'timecycle': TimeCycle's test_davis.py.
PROTOCOLS = ('crw', 'timecycle')


def l2_normalize(feats, axis=-1, eps=1e-12):
  """feats / ||feats|| along `axis` (float32)."""
  feats = np.asarray(feats, np.float32)
  norm = np.sqrt(np.sum(feats * feats, axis=axis, keepdims=True))
  return feats / np.maximum(norm, eps)


def context_frames(t, num_context):
  """Context of frame t >= 1: [0] + [max(0, t - n), ..., t - 1] (n + 1 ids).

  The first id is the first frame as long-term memory (not restricted in
  space); the others are the short-term queue, padded with frame 0.
  """
  return [0] + [max(0, t - num_context + i) for i in range(num_context)]


def neighbour_cells(height, width, radius):
  """The cells within `radius` of each cell of a feature map.

  Args:
    height, width: feature-map size.
    radius: in cells; a cell is a neighbour when its Euclidean distance is
      strictly less.

  Returns:
    (neighbours int64 [h*w, O], inside bool [h*w, O]): for each query cell
    (row-major), the flat ids of the cells at the O offsets (dy, dx) with
    dy^2 + dx^2 < radius^2; where an offset leaves the map, `inside` is False
    (and the id is clipped to the map).
  """
  reach = int(np.ceil(radius))
  dy, dx = np.meshgrid(np.arange(-reach, reach + 1),
                       np.arange(-reach, reach + 1), indexing='ij')
  near = dy ** 2 + dx ** 2 < radius ** 2
  dy, dx = dy[near], dx[near]
  ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing='ij')
  ys = ys.reshape(-1, 1) + dy[None]
  xs = xs.reshape(-1, 1) + dx[None]
  inside = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
  neighbours = (np.clip(ys, 0, height - 1) * width +
                np.clip(xs, 0, width - 1))
  return neighbours.astype(np.int64), inside


def topk_softmax(scores, topk):
  """Softmax over the top-k scores of each row.

  Args:
    scores: float32 [Q, K] (affinities already divided by the temperature).
    topk: entries kept per row (at most K).

  Returns:
    (weights float32 [Q, k], positions int64 [Q, k]); rows sum to 1.
  """
  topk = min(topk, scores.shape[1])
  positions = np.argpartition(scores, -topk, axis=1)[:, -topk:]
  values = np.take_along_axis(scores, positions, axis=1)
  values = values - values.max(axis=1, keepdims=True)
  weights = np.exp(values)
  weights /= weights.sum(axis=1, keepdims=True)
  return weights.astype(np.float32), positions


def context_attention(query, context_feats, topk, temperature, radius,
                      height, width, chunk_size=None):
  """Top-k attention of a frame's cells over its context frames.

  The first context frame is attended over all its cells (long-term
  memory); the others only within `radius` cells of the query cell. Only
  those keys enter the top-k and the softmax (the similarities of each
  context frame are one matrix product, from which the cells within the
  radius are gathered), not every cell of every frame with the far ones
  masked: that is what makes this fast on large feature maps.

  Args:
    query: float32 [h*w, C] L2-normalised features of the query frame.
    context_feats: float32 [N, h*w, C] L2-normalised features of the
      context frames (a frame may appear more than once; each appearance is
      its own set of keys).
    topk: keys kept per query cell.
    temperature: affinities are divided by it before the top-k softmax.
    radius: spatial radius in cells for context frames 1..N-1.
    height, width: feature-map size (h*w cells, row-major).
    chunk_size: query cells per block; default about 2^24 scores a block
      (64 MB), whatever the map size (e.g. 60 x 107 cells at DAVIS 480p).

  Returns:
    (weights float32 [h*w, k], indices int64 [h*w, k]): indices into the
    context keys flattened as [N * h*w]; rows sum to 1.
  """
  num_context, cells, _ = context_feats.shape
  neighbours, inside = neighbour_cells(height, width, radius)
  window = neighbours.shape[1]
  num_scores = cells + (num_context - 1) * window
  chunk_size = chunk_size or max(1, 2 ** 24 // num_scores)
  all_weights, all_indices = [], []
  for start in range(0, cells, chunk_size):
    rows = slice(start, min(start + chunk_size, cells))
    blocks = [query[rows] @ context_feats[0].T]
    near, near_inside = neighbours[rows], inside[rows]
    for position in range(1, num_context):
      local = np.take_along_axis(query[rows] @ context_feats[position].T,
                                 near, axis=1)
      blocks.append(np.where(near_inside, local, _MASKED))
    scores = np.concatenate(blocks, axis=1) / temperature
    weights, positions = topk_softmax(scores, topk)
    local_positions = np.maximum(positions - cells, 0)
    frame = 1 + local_positions // window
    cell = np.take_along_axis(near, local_positions % window, axis=1)
    indices = np.where(positions < cells, positions, frame * cells + cell)
    all_weights.append(weights)
    all_indices.append(indices)
  return np.concatenate(all_weights), np.concatenate(all_indices)


def timecycle_prediction(query, context_feats, context_labels, topk,
                         temperature, chunk_size=None):
  """One frame's labels under TimeCycle's evaluation protocol.

  Args:
    query: float32 [h*w, C] L2-normalised features of the frame.
    context_feats: float32 [N, h*w, C] L2-normalised features of the context
      frames.
    context_labels: float32 [N, h*w, L] their soft labels.
    topk: keys kept per query cell and context frame.
    temperature: affinities are divided by it before each frame's softmax.
    chunk_size: query cells per block (default about 2^24 scores a block).

  Returns:
    float32 [h*w, L]: per context frame, the softmax over its cells, its
    top-k weights (not renormalised) times their labels, summed; the sum
    over frames divided by N; then every label min-max scaled over the cells
    (a constant label becomes 0).
  """
  num_context, cells, _ = context_feats.shape
  chunk_size = chunk_size or max(1, 2 ** 24 // cells)
  topk = min(topk, cells)
  prediction = np.zeros((cells, context_labels.shape[-1]), np.float32)
  for start in range(0, cells, chunk_size):
    rows = slice(start, min(start + chunk_size, cells))
    for frame in range(num_context):
      scores = query[rows] @ context_feats[frame].T / temperature
      scores -= scores.max(axis=1, keepdims=True)
      softmax = np.exp(scores)
      softmax /= softmax.sum(axis=1, keepdims=True)
      positions = np.argpartition(softmax, -topk, axis=1)[:, -topk:]
      weights = np.take_along_axis(softmax, positions, axis=1)
      prediction[rows] += np.einsum('qk,qkl->ql', weights,
                                    context_labels[frame][positions])
  prediction /= num_context
  prediction -= prediction.min(axis=0, keepdims=True)
  peak = prediction.max(axis=0, keepdims=True)
  return np.divide(prediction, peak, out=np.zeros_like(prediction),
                   where=peak > 0)


def propagate(feats, first_labels, num_context=DEFAULT_NUM_CONTEXT,
              topk=DEFAULT_TOPK, radius=DEFAULT_RADIUS,
              temperature=DEFAULT_TEMPERATURE, protocol='crw'):
  """Propagates soft labels from frame 0 through a video.

  Args:
    feats: float [T, h, w, C] per-frame feature maps (L2-normalised here,
      per cell).
    first_labels: float [h, w, L] soft labels of frame 0 at feature
      resolution (e.g. `downsample_labels` of a one-hot mask).
    num_context: n, preceding frames in the queue (besides frame 0).
    topk: k, affinities kept per query cell.
    radius: spatial radius in feature cells for the preceding frames.
    temperature: softmax temperature of the kept affinities.
    protocol: 'crw' (the shared protocol above) or 'timecycle'
      (`timecycle_prediction`; `radius` unused).

  Returns:
    float32 [T, h, w, L]; frame 0 is `first_labels`.

  Raises:
    ValueError: an unknown protocol.
  """
  if protocol not in PROTOCOLS:
    raise ValueError('Propagation protocol %r is unknown; set '
                     'PROPAGATION.PROTOCOL to one of: %s.' % (
                         protocol, ', '.join(PROTOCOLS)))
  feats = l2_normalize(feats)
  num_frames, height, width, channels = feats.shape
  first_labels = np.asarray(first_labels, np.float32)
  if first_labels.shape[:2] != (height, width):
    raise ValueError('first_labels %s do not match the feature maps %s.' % (
        first_labels.shape, feats.shape))
  cells = height * width
  flat = feats.reshape(num_frames, cells, channels)
  labels = np.zeros((num_frames, cells, first_labels.shape[-1]), np.float32)
  labels[0] = first_labels.reshape(cells, -1)
  for t in range(1, num_frames):
    context = context_frames(t, num_context)
    if protocol == 'timecycle':
      labels[t] = timecycle_prediction(flat[t], flat[context],
                                       labels[context], topk, temperature)
    else:
      weights, indices = context_attention(flat[t], flat[context], topk,
                                           temperature, radius, height, width)
      context_labels = labels[context].reshape(len(context) * cells, -1)
      labels[t] = np.einsum('qk,qkl->ql', weights, context_labels[indices])
  return labels.reshape(num_frames, height, width, -1)


# ----------------------------------------------------------------------------
# Masks.
# ----------------------------------------------------------------------------


def mask_to_onehot(mask, num_labels=None):
  """int [H, W] object ids (0 = background) -> float32 [H, W, L] one-hot,
  L = num_labels or max id + 1."""
  mask = np.asarray(mask)
  num_labels = num_labels or int(mask.max()) + 1
  return (mask[..., None] == np.arange(num_labels)).astype(np.float32)


def feature_size(image_size, stride):
  """Feature-map side for an image side: ceil(image_size / stride)."""
  return -(-int(image_size) // int(stride))


def downsample_labels(onehot, height, width):
  """float [H, W, L] -> [height, width, L] by bilinear resizing."""
  resized = cv2.resize(np.asarray(onehot, np.float32), (width, height),
                       interpolation=cv2.INTER_LINEAR)
  return resized.reshape(height, width, -1)


def labels_to_mask(soft_labels, height, width):
  """Soft labels [h, w, L] -> int32 [height, width] argmax after bilinear
  upsampling."""
  resized = cv2.resize(np.asarray(soft_labels, np.float32), (width, height),
                       interpolation=cv2.INTER_LINEAR)
  resized = resized.reshape(height, width, -1)
  return np.argmax(resized, axis=-1).astype(np.int32)


def propagate_mask(feats, first_mask, image_size, **kwargs):
  """Propagates an object-id mask of frame 0 through a video.

  Args:
    feats: float [T, h, w, C] feature maps.
    first_mask: int [H, W] object ids of frame 0.
    image_size: (H, W) of the output masks.
    **kwargs: num_context, topk, radius, temperature, protocol of
      `propagate`.

  Returns:
    int32 [T, H, W] object ids (frame 0 is the upsampled given mask's
    argmax, i.e. the input up to resampling).
  """
  _, height, width, _ = np.shape(feats)
  first = downsample_labels(mask_to_onehot(first_mask), height, width)
  soft = propagate(feats, first, **kwargs)
  return np.stack([labels_to_mask(s, *image_size) for s in soft])


# ----------------------------------------------------------------------------
# Keypoints.
# ----------------------------------------------------------------------------


def keypoint_heatmaps(coords, height, width, stride,
                      sigma=DEFAULT_KEYPOINT_SIGMA):
  """Gaussian heatmaps of keypoints at feature resolution.

  Args:
    coords: float [J, 2] (x, y) in image pixels.
    height, width: feature-map size.
    stride: image pixels per feature cell.
    sigma: Gaussian sigma in feature cells (peak value 1, cut at 3 sigma).

  Returns:
    float32 [height, width, J + 1]; channel 0 is the background (1 where no
    keypoint's heatmap reaches), channel j + 1 keypoint j.
  """
  coords = np.asarray(coords, np.float64) / float(stride)
  ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing='ij')
  maps = []
  for x, y in coords:
    dist2 = (xs - x) ** 2 + (ys - y) ** 2
    heat = np.exp(-dist2 / (2 * sigma ** 2))
    heat[(np.abs(xs - x) > 3 * sigma) | (np.abs(ys - y) > 3 * sigma)] = 0
    maps.append(heat)
  maps = np.stack(maps, axis=-1) if maps else np.zeros((height, width, 0))
  background = (maps.sum(-1) == 0).astype(np.float64)
  return np.concatenate([background[..., None], maps], -1).astype(np.float32)


def heatmaps_to_keypoints(soft_labels, stride, topk=3):
  """Keypoint coordinates from propagated heatmaps (CRW's read-out).

  Args:
    soft_labels: float [h, w, J + 1] (channel 0 background).
    stride: image pixels per feature cell.
    topk: cells averaged per keypoint, weighted by their values.

  Returns:
    float64 [J, 2] (x, y) in image pixels; -1 for a keypoint whose map is
    all zero.
  """
  maps = np.asarray(soft_labels, np.float64)[..., 1:]
  height, width, num_joints = maps.shape
  flat = maps.reshape(-1, num_joints)
  topk = min(topk, flat.shape[0])
  coords = np.full((num_joints, 2), -1.0)
  for j in range(num_joints):
    if flat[:, j].sum() == 0:
      continue
    idx = np.argsort(-flat[:, j], kind='stable')[:topk]
    vals = flat[idx, j] / flat[idx, j].sum()
    coords[j] = [np.sum((idx % width) * vals) * stride,
                 np.sum((idx // width) * vals) * stride]
  return coords


def propagate_keypoints(feats, first_coords, stride,
                        sigma=DEFAULT_KEYPOINT_SIGMA, **kwargs):
  """Propagates keypoints of frame 0 as heatmaps.

  Args:
    feats: float [T, h, w, C] feature maps.
    first_coords: float [J, 2] (x, y) image pixels on frame 0.
    stride: image pixels per feature cell.
    sigma: heatmap sigma in feature cells.
    **kwargs: num_context, topk, radius, temperature, protocol of
      `propagate`.

  Returns:
    float64 [T, J, 2] image pixels (frame 0 read back from its heatmaps).
  """
  _, height, width, _ = np.shape(feats)
  first = keypoint_heatmaps(first_coords, height, width, stride, sigma)
  soft = propagate(feats, first, **kwargs)
  return np.stack([heatmaps_to_keypoints(s, stride) for s in soft])
