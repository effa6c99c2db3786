"""Kendall's tau of nearest-neighbour alignments between videos.

For every ordered pair (i, j), i != j, every `stride`-th embedding of both
videos is taken, each frame of i is matched to its nearest frame of j, and
Kendall's tau-b between `0..len_i-1` and the matched indices measures how well
the matching preserves temporal order (1: same order, -1: reversed).

All pairs are computed together: videos are padded to a common length; the
distances of a block of videos to the frames of all later videos come from one
float32 matrix product, read along rows (i -> j) and along columns (j -> i);
every nearest neighbour that float32 rounding could have changed (another
frame within the rounding bound of the minimum, exact ties included) is
recomputed in float64, so the result is that of float64 distances. Tau-b
counts inversions for all pairs at once with a bottom-up merge sort whose
levels are batched NumPy operations (O(T log^2 T) per pair, not the O(T^2) of
comparing all frame pairs).
"""

import numpy as np

from evaluation.base import Task

DISTANCES = ('sqeuclidean', 'cosine')

# Upper bound on the elements of one block of distances ([I * T, N * T]) and
# of one float64 recomputation, to bound memory whatever the number of videos.
_MAX_BLOCK_ELEMENTS = 2 ** 24
# Distance term of padded frames: above any real distance, finite in float32
# so that the matrix product never computes 0 * inf.
_PADDED_DISTANCE = 1e30


def _pad(embs_list):
  """Stacks videos of different lengths.

  Args:
    embs_list: list of N arrays [T_i, D].

  Returns:
    (embs [N, T_max, D] float64 zero-padded, lens [N] int64).
  """
  lens = np.array([len(e) for e in embs_list], dtype=np.int64)
  dim = embs_list[0].shape[1]
  embs = np.zeros((len(embs_list), max(lens.max(), 1), dim), np.float64)
  for n, e in enumerate(embs_list):
    embs[n, :len(e)] = e
  return embs, lens


def _augmented_embeddings(embs, lens, distance):
  """Rows whose dot products are the distances, padded frames excluded.

  `distance(a, b) = scale * (u_a . v_b) + norm_term_a + norm_term_b`, so with
  `query_rows = [u_a, 1, norm_term_a]` and `key_rows = [scale * v_b,
  norm_term_b, 1]` one matrix product gives all distances:
  sqeuclidean `|a|^2 + |b|^2 - 2 a.b`; cosine `1 - a.b / (|a| |b|)` (a zero
  vector gets norm 1, so its distance to anything is 1 instead of NaN).
  Padded frames get a huge norm term, so they are never a nearest neighbour
  in either direction.

  Args:
    embs: [N, T, D] float64 padded videos.
    lens: [N] valid lengths.
    distance: 'sqeuclidean' or 'cosine'.

  Returns:
    (query_rows [N, T, D + 2], key_rows [N, T, D + 2]) float64.
  """
  length = embs.shape[1]
  if distance == 'sqeuclidean':
    vectors, scale = embs, -2.0
    norm_terms = np.sum(embs ** 2, axis=-1)
  else:
    norms = np.linalg.norm(embs, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    vectors, scale = embs / norms, -1.0
    norm_terms = np.full(embs.shape[:2], 0.5)
  valid = np.arange(length)[None, :] < lens[:, None]
  norm_terms = np.where(valid, norm_terms, _PADDED_DISTANCE)[..., None]
  ones = np.ones_like(norm_terms)
  query_rows = np.concatenate([vectors, ones, norm_terms], axis=-1)
  key_rows = np.concatenate([scale * vectors, norm_terms, ones], axis=-1)
  return query_rows, key_rows


def _exact_argmin(fixed_rows, candidate_rows):
  """float64 `argmin_t fixed_rows[u] . candidate_rows(u)[t]`, memory-bounded.

  The distance is the dot product of a query row and a key row, so this
  serves both directions: a query frame against a video's key rows, or a
  key frame against a video's query rows.

  Args:
    fixed_rows: [U, D + 2] float64 augmented rows.
    candidate_rows: function of an index array r returning the
      [len(r), T, D + 2] float64 augmented rows to compare `fixed_rows[r]`
      with.

  Returns:
    [U] int32.
  """
  result = np.zeros(len(fixed_rows), np.int32)
  if not len(fixed_rows):
    return result
  chunk = max(1, _MAX_BLOCK_ELEMENTS // candidate_rows(np.arange(1)).size)
  for start in range(0, len(fixed_rows), chunk):
    rows = np.arange(start, min(start + chunk, len(fixed_rows)))
    dists = np.einsum('ud,utd->ut', fixed_rows[rows], candidate_rows(rows))
    result[rows] = np.argmin(dists, axis=1)
  return result


def _float32_tolerance(query_rows, key_rows, lens):
  """Bound on the float32 error of any query-key distance, times 2.

  A float32 dot product of n terms (inputs rounded too) is off by at most
  (n + 2) 2^-24 sum_k |q_k k_k|, and that sum is at most
  |scaled a| |b| + |norm term a| + |norm term b|. A frame within twice that
  bound of the float32 minimum might be the true nearest one.

  Args:
    query_rows: [N, T, D + 2] float64 augmented query rows.
    key_rows: [N, T, D + 2] float64 augmented key rows.
    lens: [N] valid lengths.

  Returns:
    float32 scalar.
  """
  width = query_rows.shape[2]
  valid = np.arange(query_rows.shape[1])[None, :] < lens[:, None]
  queries, keys = query_rows[valid], key_rows[valid]
  dim = width - 2
  abs_sum = (np.max(np.linalg.norm(queries[:, :dim], axis=1), initial=0.0) *
             np.max(np.linalg.norm(keys[:, :dim], axis=1), initial=0.0) +
             np.max(np.abs(queries[:, dim + 1]), initial=0.0) +
             np.max(np.abs(keys[:, dim]), initial=0.0))
  return np.float32(2.0 * (width + 2) * 2.0 ** -24 * abs_sum)


def _nearest_neighbours(query_rows, key_rows, query_rows32, key_rows32, lens,
                        tolerance, start, stop):
  """Nearest neighbours between videos start:stop and videos start:.

  Args:
    query_rows: [N, T, D + 2] float64 augmented query rows.
    key_rows: [N, T, D + 2] float64 augmented key rows.
    query_rows32: `query_rows` as float32.
    key_rows32: `key_rows` as float32.
    lens: [N] valid lengths.
    tolerance: `_float32_tolerance` of the rows.
    start: first video of the block.
    stop: end of the block.

  Returns:
    (forward [I, N - start, T]: for frame a of video start + i, its nearest
    frame of video start + j; backward [N - stop, I, T]: for frame b of video
    stop + j, its nearest frame of video start + i), int32.
  """
  num_queries = stop - start
  length, width = query_rows.shape[1:]
  queries64 = query_rows[start:stop]
  keys64 = key_rows[start:]
  valid_k = np.arange(length)[None, :] < lens[start:, None]
  valid_q = valid_k[:num_queries]

  def float32_dists(first, last):
    """[I, T_a, last - first, T_b] distances to key videos first:last."""
    dists = (query_rows32[start:stop].reshape(-1, width) @
             key_rows32[first:last].reshape(-1, width).T)
    return dists.reshape(num_queries, length, last - first, length)

  def nearest(dists, axis):
    """argmin along `axis`, and a mask of the minima rounding makes unsure."""
    if axis == 3:
      nns = np.argmin(dists, axis=3)
      minima = np.take_along_axis(dists, nns[..., None], axis=3)
    else:
      # NumPy's argmin along a non-contiguous axis first copies the array
      # into a transposed layout, which would dominate the run time; min and
      # max reductions along axis 1 do not. The first index of the minimum is
      # the largest descending weight among the positions equal to it.
      minima = dists.min(axis=1, keepdims=True)
      weights = np.arange(length, 0, -1, dtype=np.int16)[None, :, None, None]
      nns = length - np.max((dists == minima) * weights, axis=1)
    # Summing bytes is much faster than summing booleans.
    close = (dists <= minima + tolerance).view(np.uint8)
    unsure = np.sum(close, axis=axis, dtype=np.int32) > 1
    return nns.astype(np.int32), unsure

  # Separate products for the block's own videos and the later ones keep
  # each array contiguous (reductions over strided views are slow).
  inner = float32_dists(start, stop)
  later = float32_dists(stop, len(query_rows))
  forward_inner, unsure_inner = nearest(inner, 3)
  forward_later, unsure_later = nearest(later, 3)
  forward = np.concatenate([forward_inner, forward_later], axis=2)
  unsure = np.concatenate([unsure_inner, unsure_later], axis=2)
  unsure &= valid_q[:, :, None] & (lens[None, None, start:] > 0)
  i, a, j = np.nonzero(unsure)
  forward[i, a, j] = _exact_argmin(queries64[i, a], lambda r: keys64[j[r]])

  backward, unsure = nearest(later, 1)  # [I, N - stop, T_b]
  unsure &= valid_k[None, num_queries:] & (lens[start:stop, None, None] > 0)
  i, j, b = np.nonzero(unsure)
  backward[i, j, b] = _exact_argmin(keys64[num_queries + j, b],
                                    lambda r: queries64[i[r]])
  return forward.transpose(0, 2, 1), backward.transpose(1, 0, 2)


def _count_inversions(values):
  """Number of pairs a < b with values[a] > values[b], per row.

  Bottom-up merge sort: at each level, blocks of width w are sorted, and
  every element of a right block counts the elements of its left block that
  are greater with one global `searchsorted` (keys offset by block id keep
  the blocks apart).

  Args:
    values: [P, L] non-negative integers, L a power of 2.

  Returns:
    [P] int64 inversion counts.
  """
  num_rows, length = values.shape
  key_range = int(values.max()) + 1
  merged = values.astype(np.int64)
  inversions = np.zeros(num_rows, np.int64)
  width = 1
  while width < length:
    num_blocks = length // (2 * width)
    halves = merged.reshape(num_rows * num_blocks, 2, width)
    block_base = (np.arange(num_rows * num_blocks, dtype=np.int64) *
                  key_range)[:, None]
    left_keys = (halves[:, 0] + block_base).reshape(-1)
    right_keys = (halves[:, 1] + block_base).reshape(-1)
    first_greater = np.searchsorted(left_keys, right_keys, side='right')
    left_ends = np.repeat(
        np.arange(1, num_rows * num_blocks + 1, dtype=np.int64) * width, width)
    greater = (left_ends - first_greater).reshape(num_rows, -1)
    inversions += greater.sum(axis=1)
    merged = np.sort(merged.reshape(num_rows, num_blocks, 2 * width),
                     axis=-1).reshape(num_rows, length)
    width *= 2
  return inversions


def kendall_tau_b_batch(ranks, lens):
  """Kendall's tau-b between `0..len-1` and each row of `ranks`.

  The x side (`0..len-1`) has no ties, so with n0 = len (len - 1) / 2 pairs,
  n2 pairs tied in `ranks` and Q discordant (inverted) pairs, the concordant
  ones are P = n0 - n2 - Q and tau-b = (P - Q) / sqrt(n0 (n0 - n2)), which
  is what `scipy.stats.kendalltau` computes per row.

  Args:
    ranks: [P, T] non-negative integers; only the first `lens[p]` of row p
      count.
    lens: [P] valid lengths.

  Returns:
    [P] float64 tau-b; NaN where it is undefined (fewer than 2 values, or
    all valid values equal).
  """
  ranks = np.asarray(ranks, np.int64)
  lens = np.asarray(lens, np.int64)
  num_rows, length = ranks.shape
  if num_rows == 0:
    return np.zeros(0)
  valid = np.arange(length)[None, :] < lens[:, None]
  key_range = int(ranks[valid].max()) + 1 if valid.any() else 1
  # Padding with a value above every valid one, at the end of each row, adds
  # no inversion.
  padded_length = 1 << max(0, int(length - 1).bit_length())
  padded = np.full((num_rows, padded_length), key_range, np.int64)
  padded[:, :length] = np.where(valid, ranks, key_range)
  discordant = _count_inversions(padded)
  row_ids = np.broadcast_to(np.arange(num_rows)[:, None], ranks.shape)
  counts = np.bincount((row_ids * key_range + ranks)[valid],
                       minlength=num_rows * key_range)
  counts = counts.reshape(num_rows, key_range)
  rank_ties = np.sum(counts * (counts - 1) // 2, axis=1)
  num_pairs = lens * (lens - 1) // 2
  denom = np.sqrt(num_pairs.astype(np.float64) *
                  (num_pairs - rank_ties).astype(np.float64))
  concordance = (num_pairs - rank_ties - 2 * discordant).astype(np.float64)
  tau = np.full(num_rows, np.nan)
  defined = denom > 0
  tau[defined] = concordance[defined] / denom[defined]
  return tau


def pairwise_kendalls_tau(embs_list, stride=1, distance='sqeuclidean'):
  """Kendall's tau-b of the nearest-neighbour alignment of every video pair.

  Args:
    embs_list: list of N >= 2 arrays [T_i, D] (per-frame embeddings).
    stride: use every `stride`-th embedding of each video.
    distance: 'sqeuclidean' or 'cosine'.

  Returns:
    [N, N] float64; entry (i, j) is tau-b of aligning video i to video j,
    NaN on the diagonal and where tau-b is undefined.
  """
  if distance not in DISTANCES:
    raise ValueError('Kendall\'s tau distance %r is not one of %s '
                     '(EVAL.KENDALLS_TAU_DISTANCE).' % (distance, DISTANCES))
  if stride < 1:
    raise ValueError('Kendall\'s tau stride must be >= 1 (EVAL.KENDALLS_TAU_'
                     'STRIDE), got %r.' % stride)
  if len(embs_list) < 2:
    raise ValueError('Kendall\'s tau needs at least 2 videos, got %d.'
                     % len(embs_list))
  strided = [np.asarray(e, np.float64)[::stride] for e in embs_list]
  if any(e.ndim != 2 for e in strided):
    raise ValueError('Kendall\'s tau expects one [T, D] array per video.')
  embs, lens = _pad(strided)
  num_videos, length, _ = embs.shape
  query_rows, key_rows = _augmented_embeddings(embs, lens, distance)
  query_rows32 = query_rows.astype(np.float32)
  key_rows32 = key_rows.astype(np.float32)
  tolerance = _float32_tolerance(query_rows, key_rows, lens)
  # nns[i, j, a]: nearest frame of video j to frame a of video i.
  nns = np.zeros((num_videos, num_videos, length), np.int32)
  taus = np.full((num_videos, num_videos), np.nan)
  block = max(1, _MAX_BLOCK_ELEMENTS // (num_videos * length * length))
  # A distance matrix serves both directions, so each block of videos i is
  # only compared with the videos j >= its first one.
  for start in range(0, num_videos, block):
    stop = min(start + block, num_videos)
    num_queries = stop - start
    nns[start:stop, start:], nns[stop:, start:stop] = _nearest_neighbours(
        query_rows, key_rows, query_rows32, key_rows32, lens, tolerance,
        start, stop)
    # Rows start:stop are complete now (earlier blocks filled j < start).
    taus[start:stop] = kendall_tau_b_batch(
        nns[start:stop].reshape(-1, length),
        np.repeat(lens[start:stop], num_videos)).reshape(num_queries,
                                                         num_videos)
  np.fill_diagonal(taus, np.nan)
  return taus


def kendalls_tau(embs_list, stride=1, distance='sqeuclidean'):
  """Mean Kendall's tau-b over ordered video pairs.

  Args:
    embs_list: list of N >= 2 arrays [T_i, D] (per-frame embeddings).
    stride: use every `stride`-th embedding of each video.
    distance: 'sqeuclidean' or 'cosine'.

  Returns:
    float, mean over the N (N - 1) ordered pairs whose tau-b is defined
    (NaN pairs dropped); NaN if none is.
  """
  taus = pairwise_kendalls_tau(embs_list, stride, distance)
  defined = taus[~np.isnan(taus)]
  return float(np.mean(defined)) if defined.size else float('nan')


class KendallsTau(Task):
  """Kendall's tau on the train and on the validation videos, separately."""

  name = 'kendalls_tau'

  def evaluate(self, context):
    from config import CONFIG  # pylint: disable=g-import-not-at-top
    metrics = {}
    for split, data in (('train', context.train), ('val', context.val)):
      if len(data['embs']) < 2:
        context.log('kendalls_tau: %s split has %d video(s); needs 2, '
                    'skipped.' % (split, len(data['embs'])))
        continue
      metrics[split] = kendalls_tau(data['embs'],
                                    CONFIG.EVAL.KENDALLS_TAU_STRIDE,
                                    CONFIG.EVAL.KENDALLS_TAU_DISTANCE)
    return metrics
