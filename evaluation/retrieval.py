"""Fine-grained frame retrieval, mAP@K (CARL, Chen et al., CVPR 2022).

For every validation video i, every `stride`-th frame is a query; the
candidates are every `stride`-th frame of all other validation videos. The
K candidates nearest to a query (`distance`) are retrieved and the
precision is the fraction of them with the query's phase label. Precisions
are averaged over the queries of a video, then over videos. (CARL calls this
"AP@K"; it is the mean precision at K, computed exactly as its evaluation
code, with the Kendall's tau stride and distance.)
"""

import numpy as np
from scipy.spatial.distance import cdist

from evaluation.base import Task
from evaluation.base import check_embs_and_labels


def retrieval_precision(embs, labels, k, stride=1, distance='sqeuclidean'):
  """Mean over videos of the mean over query frames of precision@k.

  Args:
    embs: list of N >= 2 arrays [T_i, D].
    labels: list of N int arrays [T_i] per-frame phase labels.
    k: number of retrieved frames.
    stride: use every `stride`-th frame as query and candidate.
    distance: a scipy cdist metric ('sqeuclidean', 'cosine').

  Returns:
    float in [0, 1].
  """
  check_embs_and_labels(embs, labels, 'retrieval')
  if len(embs) < 2:
    raise ValueError('retrieval needs at least 2 videos, got %d.' % len(embs))
  embs = [np.asarray(e, np.float64)[::stride] for e in embs]
  labels = [np.asarray(l)[::stride] for l in labels]
  per_video = []
  for i, (queries, query_labels) in enumerate(zip(embs, labels)):
    candidates = np.concatenate([e for j, e in enumerate(embs) if j != i])
    candidate_labels = np.concatenate(
        [l for j, l in enumerate(labels) if j != i])
    nearest = np.argsort(cdist(queries, candidates, distance), axis=1,
                         kind='stable')[:, :k]
    per_video.append(np.mean(candidate_labels[nearest] ==
                             query_labels[:, None]))
  return float(np.mean(per_video))


class Retrieval(Task):
  """`retrieval`: map@K on the validation videos for K in EVAL.RETRIEVAL_KS."""

  name = 'retrieval'
  needs_labels = True

  def evaluate(self, context):
    if len(context.val['embs']) < 2:
      context.log('retrieval: needs 2 validation videos, skipped.')
      return {}
    return {'map@%d' % k: retrieval_precision(
        context.val['embs'], context.val['labels'], k,
        self.cfg.EVAL.KENDALLS_TAU_STRIDE, self.cfg.EVAL.KENDALLS_TAU_DISTANCE)
            for k in self.cfg.EVAL.RETRIEVAL_KS}
