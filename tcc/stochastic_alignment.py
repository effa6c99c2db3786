"""Stochastic TCC: random cycles through several videos.

Each of `num_cycles` cycles visits `cycle_length` distinct videos c0, c1, ...
and returns to c0. It starts at a random frame n of c0, hops by soft nearest
neighbour to each next video, and the similarities of the final soft neighbour
to the frames of c0 are the logits, with label n. No T x T matrix per pair is
built, so long sequences fit in memory.
"""

import numbers

import tensorflow as tf

from tcc import deterministic_alignment
from tcc import losses


def gen_cycles(num_cycles, batch_size, cycle_length, seed=None):
  """Draws cycles of distinct videos.

  Args:
    num_cycles: int C.
    batch_size: int (or int32 scalar tensor) N, the number of videos.
    cycle_length: int L <= N, videos per cycle.
    seed: None (stateful `tf.random` draw) or an int32 [2] seed of a
      stateless draw (the same seed gives the same cycles).

  Returns:
    int32 [C, L]: row c lists the videos of cycle c, all distinct; the cycle
    returns from the last one to the first.
  """
  # The first L entries of a uniformly random permutation of the N videos.
  if seed is None:
    scores = tf.random.uniform([num_cycles, batch_size])
  else:
    scores = tf.random.stateless_uniform([num_cycles, batch_size], seed)
  # The reshape keeps L static when N is only known at run time.
  return tf.reshape(tf.argsort(scores, axis=-1)[:, :cycle_length],
                    [num_cycles, cycle_length])


def cycle_logits(embs, cycles, frame_indices, similarity_type, temperature):
  """Cycle-back logits and labels of given cycles and start frames.

  Args:
    embs: float32 [N, T, D] embeddings.
    cycles: int32 [C, L] videos of each cycle (L statically known).
    frame_indices: int32 [C] start frame n in video `cycles[:, 0]`, in [0, T).
    similarity_type: 'l2' or 'cosine'.
    temperature: float softmax temperature.

  Returns:
    `(logits, labels)`: float32 [C, T] similarities of each cycle's last soft
    nearest neighbour to the frames of its start video, and float32 [C, T]
    one-hot start frames.
  """
  start_videos = cycles[:, 0]
  query = tf.gather_nd(embs, tf.stack([start_videos, frame_indices], axis=1))
  for position in range(1, cycles.shape[1]):
    candidates = tf.gather(embs, cycles[:, position])
    similarity = deterministic_alignment.pairwise_similarity(
        query[:, None, :], candidates, similarity_type, temperature)[:, 0, :]
    beta = tf.nn.softmax(similarity, axis=-1)
    query = tf.einsum('ct,ctd->cd', beta, candidates)
  logits = deterministic_alignment.pairwise_similarity(
      query[:, None, :], tf.gather(embs, start_videos), similarity_type,
      temperature)[:, 0, :]
  labels = tf.one_hot(frame_indices, tf.shape(embs)[1], dtype=tf.float32)
  return logits, labels


def stochastic_alignment_loss_from_cycles(
    embs, steps, seq_lens, cycles, frame_indices, loss_type, similarity_type,
    temperature, label_smoothing, variance_lambda, huber_delta,
    normalize_indices):
  """The stochastic TCC loss for given cycles and start frames.

  Args:
    embs: float32 [N, T, D] embeddings.
    steps: float32 [N, T] frame indices.
    seq_lens: float32 [N] video lengths in frames.
    cycles: int32 [C, L] videos of each cycle (L statically known).
    frame_indices: int32 [C] start frame n in video `cycles[:, 0]`, in [0, T).
    loss_type, similarity_type, temperature, label_smoothing, variance_lambda,
      huber_delta, normalize_indices: as in `compute_stochastic_alignment_loss`.

  Returns:
    float32 scalar, mean over the C cycles.
  """
  logits, labels = cycle_logits(embs, cycles, frame_indices, similarity_type,
                                temperature)
  start_videos = cycles[:, 0]
  return losses.loss_from_logits(
      logits, labels, tf.gather(steps, start_videos),
      tf.gather(seq_lens, start_videos), loss_type, label_smoothing,
      normalize_indices, variance_lambda, huber_delta)


def compute_stochastic_alignment_loss(
    embs, batch_size, steps=None, seq_lens=None, normalize_embeddings=False,
    loss_type='regression_mse_var', similarity_type='l2', num_cycles=20,
    cycle_length=2, temperature=0.1, label_smoothing=0.1,
    variance_lambda=0.001, huber_delta=0.1, normalize_indices=True,
    seed=None):
  """TCC loss over random cycles; draws with `tf.random` ops.

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
    num_cycles: int C >= 1, cycles drawn.
    cycle_length: int, 2 <= L <= N, distinct videos per cycle.
    temperature: float softmax temperature.
    label_smoothing: float, for 'classification'.
    variance_lambda: float, for 'regression_mse_var'.
    huber_delta: float, for 'regression_huber'.
    normalize_indices: bool, divide steps by seq_lens in regression losses.
    seed: None (stateful draws) or an int32 [2] seed: cycles and start frames
      are then a function of the seed (stateless draws), e.g. so that every
      replica of a distribution strategy draws the same ones.

  Returns:
    float32 scalar loss, mean over the C cycles.

  Raises:
    ValueError: on a bad argument (one line naming it).
  """
  embs, steps, seq_lens = losses.prepare_alignment_inputs(
      embs, batch_size, steps, seq_lens, loss_type, similarity_type,
      normalize_embeddings)
  num_videos = embs.shape[0] if embs.shape[0] is not None else batch_size
  if not isinstance(num_cycles, numbers.Integral) or num_cycles < 1:
    raise ValueError(f'tcc: num_cycles must be a positive int, got '
                     f'{num_cycles!r}.')
  if not isinstance(cycle_length, numbers.Integral) or cycle_length < 2:
    raise ValueError(f'tcc: cycle_length must be an int >= 2, got '
                     f'{cycle_length!r}.')
  if isinstance(num_videos, numbers.Integral) and cycle_length > num_videos:
    raise ValueError(f'tcc: cycle_length={cycle_length} exceeds the batch of '
                     f'{num_videos} videos; cycles visit distinct videos, so '
                     f'use cycle_length <= batch size.')
  if seed is None:
    cycles_seed = frames_seed = None
    frame_indices = tf.random.uniform([num_cycles], maxval=tf.shape(embs)[1],
                                      dtype=tf.int32)
  else:
    cycles_seed, frames_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 2))
    frame_indices = tf.random.stateless_uniform(
        [num_cycles], frames_seed, maxval=tf.shape(embs)[1], dtype=tf.int32)
  cycles = gen_cycles(num_cycles, num_videos, cycle_length, cycles_seed)
  return stochastic_alignment_loss_from_cycles(
      embs, steps, seq_lens, cycles, frame_indices, loss_type,
      similarity_type, temperature, label_smoothing, variance_lambda,
      huber_delta, normalize_indices)
