"""Deterministic TCC: cycle-back between every ordered pair of videos.

For every ordered pair (i, j), i != j, of the N videos in a batch, each frame of
U = embs[i] is matched softly to V = embs[j] (`alpha = softmax(sim(U, V))`,
`V~ = alpha V`) and matched back to U (`logits = sim(V~, U)`); the label of row
k is frame k. All N(N-1) pairs are computed together from one
Gram matrix of the batch.
"""

import tensorflow as tf

from tcc import losses


def pairwise_similarity(embs1, embs2, similarity_type, temperature):
  """Similarity of every row of `embs1` to every row of `embs2`.

  Args:
    embs1: float32 [..., A, D].
    embs2: float32 [..., B, D] (same leading dimensions as `embs1`).
    similarity_type: 'l2' (negative squared Euclidean distance) or 'cosine'
      (plain dot product, no normalization).
    temperature: float, the similarity is divided by `D * temperature`.

  Returns:
    float32 [..., A, B].
  """
  dim = tf.cast(tf.shape(embs1)[-1], tf.float32)
  if similarity_type == 'l2':
    # The difference is formed explicitly (not |a|^2 - 2ab + |b|^2) so that the
    # per-pair reference has no cancellation error.
    diffs = tf.expand_dims(embs1, -2) - tf.expand_dims(embs2, -3)
    similarity = -tf.reduce_sum(tf.square(diffs), axis=-1)
  elif similarity_type == 'cosine':
    similarity = tf.matmul(embs1, embs2, transpose_b=True)
  else:
    raise ValueError(f'tcc: unknown similarity_type {similarity_type!r}; use '
                     f'one of {", ".join(losses.SIMILARITY_TYPES)}.')
  return similarity / dim / temperature


def align_pair_of_sequences(embs1, embs2, similarity_type, temperature):
  """Cycle-back logits of one ordered pair of sequences (the reference API).

  Args:
    embs1: float [T1, D] embeddings U of the sequence the cycles start from.
    embs2: float [T2, D] embeddings V of the other sequence.
    similarity_type: 'l2' or 'cosine'.
    temperature: float softmax temperature.

  Returns:
    `(logits, labels)`: float32 [T1, T1] `sim(alpha V, U)` with
    `alpha = softmax_rows(sim(U, V))`, and float32 [T1, T1] identity labels.
  """
  embs1 = tf.cast(embs1, tf.float32)
  embs2 = tf.cast(embs2, tf.float32)
  alpha = tf.nn.softmax(
      pairwise_similarity(embs1, embs2, similarity_type, temperature), axis=-1)
  soft_nearest_neighbours = tf.matmul(alpha, embs2)
  logits = pairwise_similarity(soft_nearest_neighbours, embs1, similarity_type,
                               temperature)
  labels = tf.eye(tf.shape(embs1)[0], dtype=tf.float32)
  return logits, labels


def _static_or_dynamic(tensor, axis):
  """The size of `axis`: a Python int when known, else a scalar tensor."""
  size = tensor.shape[axis]
  return size if size is not None else tf.shape(tensor)[axis]


def ordered_pairs(num_videos):
  """Indices (i, j), i != j, i-major then j.

  Args:
    num_videos: int or int32 scalar tensor N.

  Returns:
    `(first, second)`: int32 [N(N-1)] each.
  """
  pair_index = tf.range(num_videos * (num_videos - 1))
  first = pair_index // (num_videos - 1)
  offset = pair_index % (num_videos - 1)
  second = offset + tf.cast(offset >= first, tf.int32)
  return first, second


def batched_pair_logits(embs, similarity_type, temperature):
  """Cycle-back logits of all ordered pairs, up to a per-row constant.

  Row k of pair (i, j) differs from `align_pair_of_sequences(embs[i],
  embs[j])[0][k]` only by a constant added to the whole row, so softmax,
  cross-entropy and every regression loss are unchanged. For 'l2':
  `sim(U, V)[a, b] = -(|u_a|^2 - 2 u_a.v_b + |v_b|^2) / (D t)`; `|u_a|^2` is
  constant along row a and cancels in `alpha`. With `V~ = alpha V`,
  `v~_k . u_c = (alpha G_ij^T)[k, c]` where `G_ij = U V^T`, and `|v~_k|^2` is
  constant along logits row k and is dropped. So only Gram blocks of the batch
  are needed, never the D-dimensional `V~`.

  Args:
    embs: float32 [N, T, D].
    similarity_type: 'l2' or 'cosine'.
    temperature: float softmax temperature.

  Returns:
    float32 [N(N-1), T, T] logits, pairs ordered i-major then j.
  """
  num_videos = _static_or_dynamic(embs, 0)
  num_frames = _static_or_dynamic(embs, 1)
  dim = _static_or_dynamic(embs, 2)
  scale = 1.0 / (tf.cast(dim, tf.float32) * temperature)
  flat_embs = tf.reshape(embs, [num_videos * num_frames, dim])
  gram = tf.matmul(flat_embs, flat_embs, transpose_b=True)
  # gram_blocks[i * N + j] = embs[i] embs[j]^T, [T, T].
  gram_blocks = tf.reshape(
      tf.transpose(tf.reshape(gram, [num_videos, num_frames, num_videos,
                                     num_frames]), [0, 2, 1, 3]),
      [num_videos * num_videos, num_frames, num_frames])
  first, second = ordered_pairs(num_videos)
  pair_gram = tf.gather(gram_blocks, first * num_videos + second)
  if similarity_type == 'l2':
    sq_norms = tf.reduce_sum(tf.square(embs), axis=-1)
    sim_uv = (2.0 * pair_gram
              - tf.gather(sq_norms, second)[:, None, :]) * scale
  else:
    sim_uv = pair_gram * scale
  alpha = tf.nn.softmax(sim_uv, axis=-1)
  cross = tf.matmul(alpha, pair_gram, transpose_b=True)
  if similarity_type == 'l2':
    return (2.0 * cross - tf.gather(sq_norms, first)[:, None, :]) * scale
  return cross * scale


def compute_deterministic_alignment_loss(
    embs, batch_size, steps=None, seq_lens=None, normalize_embeddings=False,
    loss_type='regression_mse_var', similarity_type='l2', temperature=0.1,
    label_smoothing=0.1, variance_lambda=0.001, huber_delta=0.1,
    normalize_indices=True):
  """TCC loss over all ordered pairs of videos.

  Args:
    embs: float [N, T, D] embeddings (float16/bfloat16 are computed in
      float32).
    batch_size: int N.
    steps: [N, T] frame index of each embedding in its video; default
      `range(T)` for every video.
    seq_lens: [N] video lengths in frames; default T.
    normalize_embeddings: bool, L2-normalize embeddings first.
    loss_type: 'classification', 'regression_mse', 'regression_mse_var' or
      'regression_huber'.
    similarity_type: 'l2' or 'cosine'.
    temperature: float softmax temperature.
    label_smoothing: float, for 'classification'.
    variance_lambda: float, for 'regression_mse_var'.
    huber_delta: float, for 'regression_huber'.
    normalize_indices: bool, divide steps by seq_lens in regression losses.

  Returns:
    float32 scalar loss, mean over the N(N-1)T stacked rows.

  Raises:
    ValueError: on a bad argument (one line naming it).
  """
  embs, steps, seq_lens = losses.prepare_alignment_inputs(
      embs, batch_size, steps, seq_lens, loss_type, similarity_type,
      normalize_embeddings)
  num_videos = _static_or_dynamic(embs, 0)
  num_frames = _static_or_dynamic(embs, 1)
  first, _ = ordered_pairs(num_videos)
  num_rows = num_videos * (num_videos - 1) * num_frames
  logits = tf.reshape(batched_pair_logits(embs, similarity_type, temperature),
                      [num_rows, num_frames])
  labels = tf.tile(tf.eye(num_frames, dtype=tf.float32),
                   [num_videos * (num_videos - 1), 1])
  # Row k of pair (i, j) is scored with the steps and length of video i.
  row_video = tf.repeat(first, num_frames)
  return losses.loss_from_logits(
      logits, labels, tf.gather(steps, row_video),
      tf.gather(seq_lens, row_video),
      loss_type, label_smoothing, normalize_indices, variance_lambda,
      huber_delta)
