"""Speed of label propagation's windowed attention against dense masking.

    python -m benchmarks.propagation_speed [--sizes 24x24,48x48,60x107] \
        [--channels 64] [--num_context 20] [--repeats 3]

For one query frame and its n + 1 context frames (the propagation defaults:
n = 20, k = 10, radius 12, temperature 0.05), the baseline scores the query
against every cell of every context frame, masks the cells of frames 1..n
farther than the radius with -1e10 and takes the top k of each row (how
`correspondence.propagation` worked before); `context_attention` takes
the top k over frame 0's cells and each frame's cells within the radius
only (gathered from the same similarities). Both run on
the same random features; their weights, gathered per (frame, cell), must
agree. Prints the median seconds per query frame and ratio = dense /
windowed. 60 x 107 is a DAVIS 480p frame at stride 8; 24 x 24 and 48 x 48
the synthetic demo's frames propagated x2 and x4. Exits with status 1 when
the results differ.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np


from correspondence import propagation


def dense_attention(query, context_feats, topk, temperature, radius, height,
                    width):
  """The baseline: every context key scored, far keys masked."""
  ys, xs = np.divmod(np.arange(height * width), width)
  far = ((ys[:, None] - ys[None]) ** 2 + (xs[:, None] - xs[None]) ** 2
         >= radius ** 2)
  bias = np.where(far, -1e10, 0.0).astype(np.float32)
  bias = np.concatenate([np.zeros_like(bias)] +
                        [bias] * (len(context_feats) - 1), axis=1)
  keys = context_feats.reshape(-1, context_feats.shape[-1])
  chunk = max(1, 2 ** 24 // keys.shape[0])
  weights, indices = [], []
  for start in range(0, query.shape[0], chunk):
    rows = slice(start, start + chunk)
    scores = (query[rows] @ keys.T + bias[rows]) / temperature
    row_weights, row_indices = propagation.topk_softmax(scores, topk)
    weights.append(row_weights)
    indices.append(row_indices)
  return np.concatenate(weights), np.concatenate(indices)


def _median_seconds(fn, repeats):
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times), result


def _same(a, b):
  """Same weight for the same keys (sorted per row; keys as flat ids)."""
  (wa, ia), (wb, ib) = a, b
  order_a, order_b = np.argsort(ia, 1), np.argsort(ib, 1)
  return (np.array_equal(np.take_along_axis(ia, order_a, 1),
                         np.take_along_axis(ib, order_b, 1)) and
          np.allclose(np.take_along_axis(wa, order_a, 1),
                      np.take_along_axis(wb, order_b, 1), atol=1e-5))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sizes', default='24x24,48x48,60x107')
  parser.add_argument('--channels', type=int, default=64)
  parser.add_argument('--num_context', type=int, default=20)
  parser.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  print('%-8s %6s %12s %12s %7s' % ('map', 'keys', 'dense s', 'windowed s',
                                     'ratio'))
  ok = True
  for size in args.sizes.split(','):
    height, width = (int(v) for v in size.split('x'))
    cells = height * width
    # Distinct frames, so that no two keys tie.
    context = propagation.l2_normalize(rng.normal(
        size=(args.num_context + 1, cells, args.channels)))
    query = propagation.l2_normalize(rng.normal(size=(cells, args.channels)))
    kwargs = dict(topk=propagation.DEFAULT_TOPK,
                  temperature=propagation.DEFAULT_TEMPERATURE,
                  radius=propagation.DEFAULT_RADIUS, height=height,
                  width=width)
    dense_s, dense = _median_seconds(
        lambda: dense_attention(query, context, **kwargs), args.repeats)
    window_s, windowed = _median_seconds(
        lambda: propagation.context_attention(query, context, **kwargs),
        args.repeats)
    same = _same(dense, windowed)
    ok &= same
    print('%-8s %6d %12.3f %12.3f %6.1fx%s' % (
        size, context.shape[0] * cells, dense_s, window_s, dense_s / window_s,
        '' if same else '  RESULTS DIFFER'), flush=True)
  sys.exit(0 if ok else 1)


if __name__ == '__main__':
  main()
