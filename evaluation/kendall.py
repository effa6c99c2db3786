"""Kendall's tau of nearest-neighbour alignments between videos.

For every ordered pair (i, j), i != j, every `stride`-th embedding of both
videos is taken, each frame of i is matched to its nearest frame of j, and
Kendall's tau-b between `0..len_i-1` and the matched indices measures how well
the matching preserves temporal order (1: same order, -1: reversed).

All pairs are computed together: videos are padded to a common length, and
each video is compared with every later one in tiles of a few videos whose
float32 distances (one matrix product) stay in cache while they are read along
rows (i -> j) and along columns (j -> i); tiles run on all cores. Every
nearest neighbour that float32 rounding could have changed (another frame
within the rounding bound of the minimum, exact ties included) is recomputed
in float64, so the result is that of float64 distances. Tau-b counts
inversions for all pairs at once with a bottom-up merge sort whose levels are
batched NumPy operations (O(T log^2 T) per pair, not the O(T^2) of comparing
all frame pairs).
"""

import concurrent.futures
import os

import numpy as np
import threadpoolctl

from evaluation.base import Task

DISTANCES = ('sqeuclidean', 'cosine')

# Upper bounds on the elements of one float64 recomputation and of one batch
# of tau rows (whose inversion counting holds _COMPARED_BLOCK booleans per
# element), to bound memory whatever the number of videos.
_MAX_BLOCK_ELEMENTS = 2 ** 24
_MAX_TAU_ELEMENTS = 2 ** 20
# Values per block whose inversions are counted by comparing all pairs.
_COMPARED_BLOCK = 16
# Distances in one tile ([T, J * T] float32): 2 MiB, in cache while it is
# reduced. A tile holds at least one pair of videos.
_TILE_ELEMENTS = 2 ** 19
# Distance term of padded frames: above any real distance, finite in float32
# so that the matrix product never computes 0 * inf.
_PADDED_DISTANCE = 1e30


def _pad(embs_list):
  """Stacks videos of different lengths.

  Args:
    embs_list: list of N arrays [T_i, D].

  Returns:
    (embs [N, T_max, D] zero-padded, in the inputs' float type (float32 at
    least, so that float32 inputs are not copied to float64), lens [N]
    int64).
  """
  lens = np.array([len(e) for e in embs_list], dtype=np.int64)
  dim = embs_list[0].shape[1]
  dtype = np.result_type(np.float32, *[e.dtype for e in embs_list])
  embs = np.zeros((len(embs_list), max(lens.max(), 1), dim), dtype)
  for n, e in enumerate(embs_list):
    embs[n, :len(e)] = e
  return embs, lens


def _augmented_embeddings(embs, valid, distance, dtype):
  """Rows whose dot products are the distances, invalid frames excluded.

  `distance(a, b) = scale * (u_a . v_b) + norm_term_a + norm_term_b`, so with
  `query_rows = [u_a, 1, norm_term_a]` and `key_rows = [scale * v_b,
  norm_term_b, 1]` one matrix product gives all distances:
  sqeuclidean `|a|^2 + |b|^2 - 2 a.b`; cosine `1 - a.b / (|a| |b|)` (a zero
  vector gets norm 1, so its distance to anything is 1 instead of NaN).
  Invalid (padded) frames get a huge norm term, so they are never a nearest
  neighbour in either direction. Norms are computed in float64 whatever
  `dtype`, then rounded once.

  Args:
    embs: [..., D] float embeddings.
    valid: bool [...], False for padding.
    distance: 'sqeuclidean' or 'cosine'.
    dtype: float type of the rows.

  Returns:
    (query_rows [..., D + 2], key_rows [..., D + 2]) of `dtype`.
  """
  squares = np.einsum('...d,...d->...', embs, embs, dtype=np.float64)
  if distance == 'sqeuclidean':
    vectors, scale, norm_terms = embs, -2.0, squares
  else:
    norms = np.sqrt(squares)
    norms[norms == 0] = 1.0
    vectors, scale = (embs / norms[..., None]).astype(dtype), -1.0
    norm_terms = np.full(squares.shape, 0.5)
  norm_terms = np.where(valid, norm_terms, _PADDED_DISTANCE)[..., None]
  ones = np.ones_like(norm_terms)
  query_rows = np.concatenate([vectors, ones, norm_terms], axis=-1,
                              dtype=dtype)
  key_rows = np.concatenate([scale * vectors, norm_terms, ones], axis=-1,
                            dtype=dtype)
  return query_rows, key_rows


def _exact_nearest(embs, lens, distance, videos, frames, key_videos):
  """float64 nearest neighbours of a few frames, one key video at a time.

  Args:
    embs: [N, T, D] padded videos.
    lens: [N] valid lengths.
    distance: 'sqeuclidean' or 'cosine'.
    videos: [U] video of each query frame.
    frames: [U] index of each query frame in its video.
    key_videos: [U] video (of length > 0) in which to find each one's
      nearest frame.

  Returns:
    [U] int32: the frame of `key_videos[u]` nearest, in float64 distances,
    to frame `frames[u]` of video `videos[u]`.
  """
  result = np.zeros(len(videos), np.int32)
  order = np.argsort(key_videos, kind='stable')
  starts = np.searchsorted(key_videos[order], np.arange(len(embs) + 1))
  # Rows of one product, to bound memory whatever the number of frames.
  chunk = max(1, _MAX_BLOCK_ELEMENTS // embs.shape[1])
  for key_video in np.unique(key_videos):
    members = order[starts[key_video]:starts[key_video + 1]]
    length = lens[key_video]
    _, keys = _augmented_embeddings(embs[key_video, :length],
                                    np.ones(length, bool), distance,
                                    np.float64)
    for begin in range(0, len(members), chunk):
      rows = members[begin:begin + chunk]
      queries, _ = _augmented_embeddings(embs[videos[rows], frames[rows]],
                                         np.ones(len(rows), bool), distance,
                                         np.float64)
      result[rows] = np.argmin(queries @ keys.T, axis=1)
  return result


def _float32_tolerance(query_rows, key_rows, valid):
  """Bound on the float32 error of any query-key distance, times 2.

  A float32 dot product of n terms (inputs rounded too) is off by at most
  (n + 2) 2^-24 sum_k |q_k k_k|, and that sum is at most
  |scaled a| |b| + |norm term a| + |norm term b|. A frame within twice that
  bound of the float32 minimum might be the true nearest one.

  Args:
    query_rows: [N, T, D + 2] float32 augmented query rows.
    key_rows: [N, T, D + 2] float32 augmented key rows.
    valid: [N, T] bool, False for padding.

  Returns:
    float32 scalar.
  """
  width = query_rows.shape[2]
  dim = width - 2

  def largest(values):
    return np.max(values[valid], initial=0.0)

  query_norms = np.sqrt(np.einsum('ntd,ntd->nt', query_rows[..., :dim],
                                  query_rows[..., :dim], dtype=np.float64))
  key_norms = np.sqrt(np.einsum('ntd,ntd->nt', key_rows[..., :dim],
                                key_rows[..., :dim], dtype=np.float64))
  abs_sum = (largest(query_norms) * largest(key_norms) +
             largest(np.abs(query_rows[..., dim + 1])) +
             largest(np.abs(key_rows[..., dim])))
  return np.float32(2.0 * (width + 2) * 2.0 ** -24 * abs_sum)


def _parallel_map(fn, items):
  """`[fn(item) for item in items]`, on one thread per available CPU core.

  NumPy releases the GIL inside matrix products, ufunc loops, sorts and
  reductions, so the threads run at the same time.
  """
  workers = min(len(items), _num_cores())
  if workers <= 1:
    return [fn(item) for item in items]
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    return list(pool.map(fn, items))


def _num_cores():
  if hasattr(os, 'sched_getaffinity'):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1


def _tile_nearest_neighbours(query_rows32, key_rows32, tolerance, video,
                             first, last, nns, unsure):
  """Nearest neighbours both ways between one video and videos first:last.

  One float32 matrix product gives the tile of distances [T_a, J * T_b]
  (J = last - first); the tile is small enough to stay in cache for
  the reductions that follow. A nearest neighbour is unsure when another
  frame lies within `tolerance` of the minimum (float32 rounding could have
  swapped them). Along the rows, argmin and a count of the close frames;
  along the columns (a non-contiguous axis, where NumPy's argmin first
  copies the tile), the tile is overwritten in place with 0/1 "close to the
  column minimum" and one product with [ones; 0..T_a-1] gives each column's
  count of close frames and the sum of their indices, which is the argmin
  wherever the count is 1.

  Args:
    query_rows32: [N, T, D + 2] float32 augmented query rows.
    key_rows32: [N, T, D + 2] float32 augmented key rows.
    tolerance: float32, see `_float32_tolerance`.
    video: the query video.
    first: first key video (> video).
    last: end of the key videos.
    nns: [N, N, T] int32, written at [video, first:last] (frame of each key
      video nearest to each frame of `video`) and [first:last, video].
    unsure: [N, N, T] bool, written where `nns` is.
  """
  length, width = query_rows32.shape[1:]
  num_keys = last - first
  dists = (query_rows32[video] @
           key_rows32[first:last].reshape(-1, width).T)  # [T_a, J * T_b]
  tiles = dists.reshape(length, num_keys, length)
  forward = np.argmin(tiles, axis=2)  # [T_a, J]
  minima = np.take_along_axis(tiles, forward[..., None], axis=2)
  # Summing bytes is much faster than summing booleans.
  close = (tiles <= minima + tolerance).view(np.uint8)
  nns[video, first:last] = forward.T
  unsure[video, first:last] = (np.sum(close, axis=2, dtype=np.int32) > 1).T
  minima = dists.min(axis=0)  # [J * T_b]
  np.less_equal(dists, minima + tolerance, out=dists)
  counts, index_sums = np.stack([np.ones(length, np.float32),
                                 np.arange(length, dtype=np.float32)]) @ dists
  nns[first:last, video] = index_sums.reshape(num_keys, length)
  unsure[first:last, video] = (counts > 1).reshape(num_keys, length)


def _nearest_neighbours(embs, lens, distance):
  """Nearest frame of every video to every frame of every other video.

  Each video is compared with every later one in tiles of a few videos, on
  all cores, in float32; the entries float32 rounding leaves unsure are
  recomputed in float64.

  Args:
    embs: [N, T, D] padded videos.
    lens: [N] valid lengths.
    distance: 'sqeuclidean' or 'cosine'.

  Returns:
    [N, N, T] int32: entry (i, j, a) is the frame of video j nearest to frame
    a of video i (the diagonal i = j is not computed).
  """
  num_videos, length, _ = embs.shape
  valid = np.arange(length)[None, :] < lens[:, None]
  query_rows32, key_rows32 = _augmented_embeddings(embs, valid, distance,
                                                   np.float32)
  tolerance = _float32_tolerance(query_rows32, key_rows32, valid)
  nns = np.zeros((num_videos, num_videos, length), np.int32)
  unsure = np.zeros(nns.shape, bool)
  keys_per_tile = max(1, _TILE_ELEMENTS // (length * length))
  tiles = [(video, first, min(first + keys_per_tile, num_videos))
           for video in range(num_videos)
           for first in range(video + 1, num_videos, keys_per_tile)]
  # Interleaved groups of tiles balance the threads (early videos have more
  # later videos) without one thread task per tile.
  num_groups = min(len(tiles), 8 * _num_cores())

  def run_group(group):
    for tile in tiles[group::num_groups]:
      _tile_nearest_neighbours(query_rows32, key_rows32, tolerance, *tile,
                               nns, unsure)

  # One BLAS thread per tile: the tiles already use every core, and BLAS
  # threads competing with them make it several times slower.
  with threadpoolctl.threadpool_limits(1, user_api='blas'):
    _parallel_map(run_group, range(num_groups))
  unsure &= valid[:, None, :] & (lens[None, :, None] > 0)
  i, j, a = np.nonzero(unsure)
  nns[i, j, a] = _exact_nearest(embs, lens, distance, i, a, j)
  return nns


def _count_inversions(values):
  """Number of pairs a < b with values[a] > values[b], per row.

  Blocks of `_COMPARED_BLOCK` values count their inversions by comparing all
  their pairs (cheaper than the first levels of merging), then a bottom-up
  merge sort takes over: at each level, the two sorted halves of every block
  of width 2w are sorted together with the side in the lowest bit (0 left,
  1 right, so that a right value equal to a left one sorts after it); every
  left element then counts the right elements sorted before it, which are
  the smaller values that came after it.

  Args:
    values: [P, L] non-negative integers below 2^30, L a power of 2.

  Returns:
    [P] int64 inversion counts.
  """
  num_rows, length = values.shape
  block = min(_COMPARED_BLOCK, length)
  blocks = values.astype(np.int32).reshape(num_rows, length // block, block)
  later = np.triu(np.ones((block, block), bool), 1)  # later[a, b]: a < b.
  inversions = np.sum((blocks[..., :, None] > blocks[..., None, :]) & later,
                      axis=(1, 2, 3), dtype=np.int64)
  merged = np.sort(blocks, axis=-1).reshape(num_rows, length)
  width = block
  while width < length:
    halves = merged.reshape(-1, 2, width) * 2
    halves[:, 1] += 1
    blocks = np.sort(halves.reshape(-1, 2 * width), axis=-1)
    from_right = blocks & 1
    right_before = np.cumsum(from_right, axis=-1, dtype=np.int32)
    counts = np.sum((1 - from_right) * right_before, axis=-1, dtype=np.int64)
    inversions += counts.reshape(num_rows, -1).sum(axis=1)
    merged = (blocks >> 1).reshape(num_rows, length)
    width *= 2
  return inversions


def kendall_tau_b_batch(ranks, lens):
  """Kendall's tau-b between `0..len-1` and each row of `ranks`.

  The x side (`0..len-1`) has no ties, so with n0 = len (len - 1) / 2 pairs,
  n2 pairs tied in `ranks` and Q discordant (inverted) pairs, the concordant
  ones are P = n0 - n2 - Q and tau-b = (P - Q) / sqrt(n0 (n0 - n2)), which
  is what `scipy.stats.kendalltau` computes per row.

  Args:
    ranks: [P, T] non-negative integers below 2^30; only the first
      `lens[p]` of row p count.
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
  if key_range >= 2 ** 30:
    raise ValueError('Kendall\'s tau ranks must be below 2^30, got %d.'
                     % (key_range - 1))
  # Padding with a value above every valid one, at the end of each row, adds
  # no inversion.
  padded_length = 1 << max(0, int(length - 1).bit_length())
  padded = np.full((num_rows, padded_length), key_range, np.int32)
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
  strided = [np.asarray(e)[::stride] for e in embs_list]
  if any(e.ndim != 2 for e in strided):
    raise ValueError('Kendall\'s tau expects one [T, D] array per video.')
  embs, lens = _pad(strided)
  num_videos, length, _ = embs.shape
  nns = _nearest_neighbours(embs, lens, distance)
  # Tau rows of a few videos at a time, on all cores, bound the memory of
  # the inversion counting.
  num_chunks = min(num_videos, max(
      2 * _num_cores(),
      num_videos * num_videos * length // _MAX_TAU_ELEMENTS + 1))

  def tau_rows(videos):
    return kendall_tau_b_batch(
        nns[videos].reshape(-1, length),
        np.repeat(lens[videos], num_videos)).reshape(len(videos), num_videos)

  taus = np.concatenate(_parallel_map(
      tau_rows, np.array_split(np.arange(num_videos), num_chunks)))
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
    metrics = {}
    for split, data in (('train', context.train), ('val', context.val)):
      if len(data['embs']) < 2:
        context.log('kendalls_tau: %s split has %d video(s); needs 2, '
                    'skipped.' % (split, len(data['embs'])))
        continue
      metrics[split] = kendalls_tau(data['embs'],
                                    self.cfg.EVAL.KENDALLS_TAU_STRIDE,
                                    self.cfg.EVAL.KENDALLS_TAU_DISTANCE)
    return metrics
