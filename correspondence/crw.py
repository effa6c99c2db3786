"""The contrastive random walk loss (Jabri, Owens and Efros, NeurIPS 2020).

Each frame of a clip is a set of N nodes (patch embeddings, L2-normalised).
The walker moves from frame t to t + 1 with the transition matrix

    A_t = softmax_rows(q_t q_{t+1}^T / tau)          [N, N]

(each edge dropped with probability `edge_dropout` before the softmax while
training) and back with softmax_rows(q_{t+1} q_t^T / tau). The backward
step loses the forward step's dropped edges (transposed) and drops each
remaining edge with probability `edge_dropout` afresh, as the published code
(its forward dropout writes -1e20 into the shared affinity in place, which
the backward step then reads transposed). A palindrome walk
t=0 -> k -> 0 multiplies the k forward transitions and the k backward ones;
its loss is the cross-entropy of ending on the node it started from:
-mean_i log (A_walk[i, i] + 1e-20). The loss is the mean over the walk lengths
k = min_walk_length .. T - 1 (the published code scores k >= 2).

Training augmentation as the published code: `random_resized_crops` gives
every frame its own crop, then every patch its own spatial jitter.

TensorFlow only; imports no config.
"""

import math

import tensorflow as tf

EPS = 1e-20
# What a dropped edge's affinity becomes before the softmax.
DROPPED = -1e20


def transition_matrix(affinity, temperature, drop_mask=None):
  """Row-stochastic matrix softmax(affinity / temperature).

  Args:
    affinity: float [..., N, M].
    temperature: tau.
    drop_mask: optional bool [..., N, M]; True edges get affinity -1e20
      (probability 0) before the softmax.

  Returns:
    float [..., N, M], rows sum to 1.
  """
  if drop_mask is not None:
    affinity = tf.where(drop_mask, tf.cast(DROPPED, affinity.dtype), affinity)
  return tf.nn.softmax(affinity / temperature, axis=-1)


def correlated_drop_masks(forward_draws, backward_draws, rate):
  """Edge-dropout masks of the forward and backward steps, as the published
  code: the backward step drops the forward step's dropped edges, transposed,
  and every edge whose backward draw is below `rate`.

  Args:
    forward_draws, backward_draws: float [..., N, N] uniform draws in [0, 1).
    rate: drop probability.

  Returns:
    (forward, backward) bool [..., N, N]; forward[i, j] drops the edge
    i -> j of frame t to t + 1, backward[j, i] the edge j -> i back.
  """
  forward = forward_draws < rate
  backward = tf.logical_or(tf.linalg.matrix_transpose(forward),
                           backward_draws < rate)
  return forward, backward


def random_drop_masks(shape, rate):
  """`correlated_drop_masks` of fresh uniform draws of `shape`."""
  return correlated_drop_masks(tf.random.uniform(shape),
                               tf.random.uniform(shape), rate)


def palindrome_walks(forward, backward, min_walk_length=2):
  """Round-trip transition matrices 0 -> k -> 0.

  Args:
    forward: float [B, T-1, N, N], forward[:, t] = transitions t -> t+1.
    backward: float [B, T-1, N, N], backward[:, t] = transitions t+1 -> t.
    min_walk_length: shortest k.

  Returns:
    dict {k: float [B, N, N]} for k = min_walk_length .. T-1, the product
    forward[0] ... forward[k-1] backward[k-1] ... backward[0].
  """
  num_steps = forward.shape[1]
  walks = {}
  to_k = None
  for k in range(1, num_steps + 1):
    to_k = forward[:, 0] if to_k is None else tf.matmul(to_k, forward[:, k - 1])
    if k < min_walk_length:
      continue
    walk = to_k
    for t in range(k - 1, -1, -1):
      walk = tf.matmul(walk, backward[:, t])
    walks[k] = walk
  return walks


def cycle_cross_entropy(walk):
  """-mean_i log(walk[b, i, i] + EPS) over batch and nodes; walk [B, N, N]."""
  diagonal = tf.linalg.diag_part(walk)
  return -tf.reduce_mean(tf.math.log(diagonal + EPS))


def crw_loss(node_embs, temperature, edge_dropout=0.0, min_walk_length=2,
             drop_masks=None):
  """Contrastive random walk loss of a batch of clips.

  Args:
    node_embs: float [B, T, N, D] L2-normalised node embeddings.
    temperature: softmax temperature tau.
    edge_dropout: probability of dropping each edge (0 at evaluation).
    min_walk_length: shortest palindrome scored.
    drop_masks: optional (forward, backward) bool [B, T-1, N, N] masks that
      replace the random edge dropout (tests); backward[:, t] applies to the
      transposed affinity (frame t + 1 to t).

  Returns:
    (loss, walk_losses): float32 scalar, the mean of {k: cross-entropy}.

  Raises:
    ValueError: a clip too short for any walk.
  """
  node_embs = tf.cast(node_embs, tf.float32)
  num_frames = node_embs.shape[1]
  if num_frames is None or num_frames - 1 < max(1, min_walk_length):
    raise ValueError('A clip of %s frames has no palindrome of length >= %d; '
                     'use clips of at least %d frames.' % (
                         num_frames, min_walk_length, min_walk_length + 1))
  affinity = tf.einsum('btnd,btmd->btnm', node_embs[:, :-1], node_embs[:, 1:])
  affinity_back = tf.linalg.matrix_transpose(affinity)
  if drop_masks is not None:
    forward_mask, backward_mask = drop_masks
  elif edge_dropout > 0:
    forward_mask, backward_mask = random_drop_masks(tf.shape(affinity),
                                                    edge_dropout)
  else:
    forward_mask = backward_mask = None
  forward = transition_matrix(affinity, temperature, forward_mask)
  backward = transition_matrix(affinity_back, temperature, backward_mask)
  walks = palindrome_walks(forward, backward, min_walk_length)
  walk_losses = {k: cycle_cross_entropy(w) for k, w in walks.items()}
  loss = tf.add_n(list(walk_losses.values())) / len(walk_losses)
  return loss, walk_losses


def grid_patches(frames, patch_size, stride):
  """Cuts every frame into a grid of patches.

  Args:
    frames: float [B, T, H, W, 3].
    patch_size: patch side P.
    stride: pixels between patch origins.

  Returns:
    float [B, T, N, P, P, 3], N = gh * gw patches in row-major order,
    gh = (H - P) // stride + 1.
  """
  shape = tf.shape(frames)
  batch, num_frames = shape[0], shape[1]
  images = tf.reshape(frames, tf.concat([[-1], shape[2:]], 0))
  patches = tf.image.extract_patches(
      images, sizes=[1, patch_size, patch_size, 1],
      strides=[1, stride, stride, 1], rates=[1, 1, 1, 1], padding='VALID')
  channels = frames.shape[-1]
  return tf.reshape(patches, [batch, num_frames, -1, patch_size, patch_size,
                              channels])


def random_resized_boxes(num_boxes, scale, ratio):
  """Normalised boxes of random resized crops (torchvision's RandomResizedCrop).

  Each box covers a fraction U(scale) of the image area with aspect ratio
  (width / height) exp(U(log ratio)), at a uniform position. A side that
  would exceed the image is clipped to it (torchvision draws again instead).
  Ratios are in normalised units, i.e. in pixels for square images.

  Args:
    num_boxes: int N.
    scale: (min, max) area fraction.
    ratio: (min, max) aspect ratio.

  Returns:
    float32 [N, 4] (y0, x0, y1, x1) in [0, 1], for `tf.image.crop_and_resize`.
  """
  area = tf.random.uniform([num_boxes], scale[0], scale[1])
  aspect = tf.exp(tf.random.uniform([num_boxes], math.log(ratio[0]),
                                    math.log(ratio[1])))
  width = tf.minimum(tf.sqrt(area * aspect), 1.0)
  height = tf.minimum(tf.sqrt(area / aspect), 1.0)
  y0 = tf.random.uniform([num_boxes]) * (1.0 - height)
  x0 = tf.random.uniform([num_boxes]) * (1.0 - width)
  return tf.stack([y0, x0, y0 + height, x0 + width], axis=1)


def random_resized_crops(images, scale, ratio):
  """Every image its own random resized crop, resized back to its size.

  Args:
    images: float [N, H, W, C].
    scale, ratio: as `random_resized_boxes`; scale (1, 1) returns `images`
      unchanged (as torchvision for ratios around 1: the whole image).

  Returns:
    float [N, H, W, C], the dtype of `images`.
  """
  if tuple(scale) == (1, 1):
    return images
  shape = tf.shape(images)
  boxes = random_resized_boxes(shape[0], scale, ratio)
  crops = tf.image.crop_and_resize(
      tf.cast(images, tf.float32), boxes, tf.range(shape[0]),
      [images.shape[1], images.shape[2]])
  return tf.cast(crops, images.dtype)
