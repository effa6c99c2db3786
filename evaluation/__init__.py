"""Evaluation of frozen per-frame embeddings.

The metrics are plain NumPy functions of per-video embedding lists, usable on
any embeddings:

    from evaluation import kendalls_tau, classification_accuracy
    tau = kendalls_tau(val_embs, stride=2, distance='sqeuclidean')

The registry maps the names of `CONFIG.EVAL.TASKS` to task classes that
`evaluate.py` runs on the embeddings of one checkpoint.
"""

from evaluation.algo_loss import AlgoLoss
from evaluation.base import EvalContext
from evaluation.base import Task
from evaluation.classification import Classification
from evaluation.classification import classification_accuracy
from evaluation.event_completion import EventCompletion
from evaluation.event_completion import progression_score
from evaluation.few_shot_classification import FewShotClassification
from evaluation.few_shot_classification import few_shot_accuracy
from evaluation.kendall import KendallsTau
from evaluation.kendall import kendalls_tau
from evaluation.kendall import pairwise_kendalls_tau
from evaluation.label_propagation import LabelPropagation
from evaluation.multiview import KnnError
from evaluation.multiview import MultiView
from evaluation.multiview import cross_view_alignment_error
from evaluation.multiview import cross_view_kendalls_tau
from evaluation.multiview import knn_classification_error
from evaluation.multiview import multiview_alignment_error
from evaluation.progress import ProgressError
from evaluation.progress import progress_error
from evaluation.retrieval import Retrieval
from evaluation.retrieval import retrieval_precision

TASKS = {task.name: task for task in (AlgoLoss, Classification,
                                      FewShotClassification, EventCompletion,
                                      KendallsTau, MultiView, KnnError,
                                      Retrieval, ProgressError,
                                      LabelPropagation)}


def get_tasks(names, cfg):
  """Task instances for a list of registry names (e.g. cfg.EVAL.TASKS).

  Args:
    names: iterable of task names.
    cfg: the run's config; each task reads its settings from it.

  Returns:
    list of `Task` instances, in the order given.
  """
  unknown = [n for n in names if n not in TASKS]
  if unknown:
    raise ValueError('EVAL.TASKS: unknown task(s) %s; known tasks: %s.'
                     % (', '.join(unknown), ', '.join(sorted(TASKS))))
  return [TASKS[n](cfg) for n in names]
