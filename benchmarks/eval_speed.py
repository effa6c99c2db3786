"""Speed of the vectorized Kendall's tau against the per-pair scipy loop.

The loop is the textbook implementation: for every ordered pair of videos,
`scipy.spatial.distance.cdist`, argmin, `scipy.stats.kendalltau`. Both run on
the same random embeddings (default 50 videos x 200 frames x 128 dims); the
per-pair values must agree to 1e-6, and the table reports each repeat and
the median time ratio. The vectorized version runs on every core the process
may use; the loop on one.

    python -m benchmarks.eval_speed [--num_videos 50] [--num_frames 200]
        [--dim 128] [--stride 1] [--distance sqeuclidean] [--repeats 3]

Exits with status 1 when the values differ.
"""

import os
import time

from absl import app
from absl import flags
import numpy as np
import scipy.spatial.distance
import scipy.stats


from evaluation.kendall import pairwise_kendalls_tau

flags.DEFINE_integer('num_videos', 50, 'Number of videos.')
flags.DEFINE_integer('num_frames', 200, 'Frames per video.')
flags.DEFINE_integer('dim', 128, 'Embedding size.')
flags.DEFINE_integer('stride', 1, 'Use every stride-th embedding.')
flags.DEFINE_enum('distance', 'sqeuclidean', ['sqeuclidean', 'cosine'],
                  'Distance of the nearest-neighbour search.')
flags.DEFINE_integer('repeats', 3, 'Timed runs of each implementation.')
flags.DEFINE_integer('seed', 0, 'Seed of the random embeddings.')
FLAGS = flags.FLAGS


def loop_pairwise_taus(embs_list, stride, distance):
  """[N, N] tau-b per ordered pair, one cdist + kendalltau call per pair."""
  taus = np.full((len(embs_list),) * 2, np.nan)
  for i, query in enumerate(embs_list):
    for j, candidates in enumerate(embs_list):
      if i == j:
        continue
      dists = scipy.spatial.distance.cdist(query[::stride],
                                           candidates[::stride], distance)
      nns = np.argmin(dists, axis=1)
      taus[i, j] = scipy.stats.kendalltau(np.arange(len(nns)), nns)[0]
  return taus


def timed(fn):
  start = time.perf_counter()
  result = fn()
  return time.perf_counter() - start, result


def main(argv):
  del argv
  rng = np.random.RandomState(FLAGS.seed)
  embs = [rng.normal(size=(FLAGS.num_frames, FLAGS.dim)).astype(np.float32)
          for _ in range(FLAGS.num_videos)]
  print('Kendall\'s tau: %d videos x %d frames x %d dims, stride %d, %s, '
        '%d ordered pairs; vectorized on %d cores' % (
            FLAGS.num_videos, FLAGS.num_frames, FLAGS.dim, FLAGS.stride,
            FLAGS.distance, FLAGS.num_videos * (FLAGS.num_videos - 1),
            len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
            else os.cpu_count()))
  print('%-7s %14s %14s %8s %12s %14s' % ('repeat', 'vectorized s',
                                          'scipy loop s', 'ratio',
                                          'mean tau', 'max |diff|'))
  ratios, fast_times, loop_times = [], [], []
  max_diff = 0.0
  for repeat in range(FLAGS.repeats):
    fast_time, fast = timed(lambda: pairwise_kendalls_tau(
        embs, FLAGS.stride, FLAGS.distance))
    loop_time, loop = timed(lambda: loop_pairwise_taus(
        embs, FLAGS.stride, FLAGS.distance))
    same_nan = np.array_equal(np.isnan(fast), np.isnan(loop))
    diff = float(np.nanmax(np.abs(fast - loop))) if same_nan else np.inf
    max_diff = max(max_diff, diff)
    ratios.append(loop_time / fast_time)
    fast_times.append(fast_time)
    loop_times.append(loop_time)
    print('%-7d %14.3f %14.3f %7.1fx %12.6f %14.2e' % (
        repeat, fast_time, loop_time, ratios[-1], np.nanmean(fast), diff))
  print('%-7s %14.3f %14.3f %7.1fx' % ('median', np.median(fast_times),
                                       np.median(loop_times),
                                       np.median(ratios)))
  values_agree = max_diff <= 1e-6
  print('values agree (max |diff| <= 1e-6): %s; median speed-up >= 20x: %s'
        % ('yes' if values_agree else 'NO',
           'yes' if np.median(ratios) >= 20 else 'NO'))
  return 0 if values_agree else 1


if __name__ == '__main__':
  app.run(main)
