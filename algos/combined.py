"""Weighted sums of component losses: one algorithm built from weights.

    total = sum_k w_k * loss_k, over the terms with w_k > 0

`Combined` takes its terms and weights as (Term, weight) pairs. The published
combinations are declared below: alignment_sal_tcn, alignment_svtcn and
alignment_mvtcn. Each names its terms and the CONFIG keys of their weights;
the last term gets what the others leave (1 - their sum).
"""

from typing import Callable
from typing import NamedTuple
from typing import Optional

import tensorflow as tf

from algos.alignment import alignment_loss
from algos.base import Algorithm
from algos.mvtcn import MVTCN
from algos.mvtcn import mvtcn_loss
from algos.mvtcn import split_views
from algos.sal import make_sal_classifier
from algos.sal import sal_loss
from algos.svtcn import SVTCN
from algos.svtcn import batch_svtcn_loss
from algos.tcn import TCN
from algos.tcn import tcn_loss
from config import CONFIG


class Term(NamedTuple):
  """One component of a combined loss.

  name: its entry in the dict of losses.
  inputs: a key of INPUTS, the part of the batch it sees. Terms with the
    same inputs see the same tensors (one random draw per batch).
  loss: function (embs [B, S', D], steps [B, S'], batch, training, head) ->
    float32 scalar.
  head: the attribute of the algorithm holding the term's trainable head
    (its checkpoint name), or None.
  make_head: function () -> the head (a Keras layer), built only when the
    term's weight is > 0; the attribute is None otherwise.
  min_num_steps: the smallest S' for which `loss` is defined.
  """
  name: str
  inputs: str
  loss: Callable
  head: Optional[str] = None
  make_head: Optional[Callable] = None
  min_num_steps: int = 2


def draw_use_positives(batch_size):
  """bool [B]: per video, True (probability 0.5) to use its positives."""
  return tf.random.uniform([batch_size]) < 0.5


def anchors_or_positives(embs, steps, use_positives):
  """Per video, its anchors or its positives from an interleaved batch.

  Args:
    embs: [B, 2S, D], anchor_0, positive_0, anchor_1, ... per video.
    steps: int [B, 2S], their frame indices.
    use_positives: bool [B].

  Returns:
    (embs [B, S, D], steps [B, S]): the odd positions of the videos with
    `use_positives`, the even positions of the others.
  """
  num_pairs = embs.shape[1] // 2
  positions = (tf.cast(use_positives, tf.int32)[:, None] +
               2 * tf.range(num_pairs)[None])
  return (tf.gather(embs, positions, batch_dims=1),
          tf.gather(steps, positions, batch_dims=1))


def _random_anchors_or_positives(embs, steps):
  batch_size = embs.shape[0] if embs.shape[0] is not None else tf.shape(embs)[0]
  return anchors_or_positives(embs, steps, draw_use_positives(batch_size))


def _anchor_view(embs, steps):
  anchors, _ = split_views(embs)
  return anchors, steps[:, :anchors.shape[1]]


# What a term sees: function (embs [B, S, D], steps [B, S]) -> (embs, steps).
INPUTS = {
    # The whole batch.
    'all': lambda embs, steps: (embs, steps),
    # Interleaved anchor/positive batches (TCN's): per video, its anchors or
    # its positives, drawn at random with probability 0.5 (as the published
    # code does).
    'anchors_or_positives': _random_anchors_or_positives,
    # Two-view batches (multi-view TCN's): the anchor view slot.
    'anchor_view': _anchor_view,
}


def _tcc(embs, steps, batch, training, head):
  del training, head  # TCC has no head and no training mode.
  return alignment_loss(embs, steps, batch['seq_lens'], batch.get('loss_seed'))


def _sal(embs, steps, batch, training, head):
  del steps, batch  # SaL sees only the order of the embeddings.
  return sal_loss(head, embs, training)


def _tcn(embs, steps, batch, training, head):
  del steps, batch, training, head  # n-pairs of the interleaved pairs.
  return tcn_loss(embs)


def _svtcn(embs, steps, batch, training, head):
  del batch, training, head  # Triplets from the frame indices alone.
  cfg = CONFIG.SVTCN
  return batch_svtcn_loss(embs, steps, cfg.POS_RADIUS, cfg.NEG_RADIUS,
                          cfg.MARGIN)


def _mvtcn(embs, steps, batch, training, head):
  del steps, batch, training, head  # Same step in the other view attracts.
  return mvtcn_loss(*split_views(embs))


def remainder_weights(section, keys):
  """[CONFIG.<section>.<key> for key in keys] + [1 - their sum].

  Raises:
    ValueError: a weight below 0 (or a sum above 1), in one line.
  """
  weights = [CONFIG[section][key] for key in keys]
  rest = 1.0
  for weight in weights:
    rest -= weight
  if min(weights + [rest]) < 0:
    raise ValueError('%s.%s must be >= 0 and sum to at most 1, got %s.' % (
        section, ' and '.join(keys), ', '.join('%g' % w for w in weights)))
  return weights + [rest]


class Combined(Algorithm):
  """sum_k w_k * loss_k over (Term, weight) pairs; a 0-weight term is skipped.

  The losses dict holds 'loss' (the weighted sum) and one entry per computed
  term. Terms are computed in the given order.

  Declaring a combination: set `terms` (a tuple of Term) and `weight_keys`
  ((CONFIG section, keys of the weights of all terms but the last)), and
  inherit the batch layout (`batch_spec`, `embed_context`, checks) from the
  algorithm whose batches it trains on.
  """

  terms = ()
  weight_keys = (None, ())

  def __init__(self, weighted_terms=None, **kwargs):
    """weighted_terms: (Term, weight) pairs; default `terms` with CONFIG's."""
    super().__init__(**kwargs)
    if weighted_terms is None:
      weighted_terms = zip(self.terms, remainder_weights(*self.weight_keys))
    self.weighted_terms = tuple((term, float(weight))
                                for term, weight in weighted_terms)
    for term, weight in self.weighted_terms:
      if term.head:
        setattr(self, term.head, term.make_head() if weight > 0 else None)

  def _active_terms(self):
    return [(term, weight) for term, weight in self.weighted_terms
            if weight > 0]

  def min_num_steps(self):
    return max([super().min_num_steps()] +
               [term.min_num_steps for term, _ in self._active_terms()])

  def compute_loss(self, embs, batch, training):
    inputs = {}
    losses = {}
    total = 0.0
    for term, weight in self._active_terms():
      if term.inputs not in inputs:
        inputs[term.inputs] = INPUTS[term.inputs](embs, batch.get('steps'))
      term_embs, term_steps = inputs[term.inputs]
      head = getattr(self, term.head) if term.head else None
      losses[term.name] = term.loss(term_embs, term_steps, batch, training,
                                    head)
      total += weight * losses[term.name]
    losses['loss'] = total
    return losses


class AlignmentSaLTCN(Combined, TCN):
  """w_a * TCC + w_s * SaL + (1 - w_a - w_s) * TCN.

  Batches hold interleaved anchor/positive steps (S = 2 * NUM_FRAMES), as
  those of `tcn`. TCN sees the pairs. TCC and SaL see, per video, either its
  anchors or its positives, drawn at random with probability 0.5 (as the
  published code does).
  """

  pairwise_loss = True  # TCC compares the videos of the batch.
  terms = (Term('alignment', 'anchors_or_positives', _tcc),
           Term('sal', 'anchors_or_positives', _sal, head='sal_classifier',
                make_head=make_sal_classifier, min_num_steps=5),
           Term('tcn', 'all', _tcn))
  weight_keys = ('ALIGNMENT_SAL_TCN', ('ALIGNMENT_LOSS_WEIGHT',
                                       'SAL_LOSS_WEIGHT'))


class AlignmentSVTCN(Combined, SVTCN):
  """w * TCC + (1 - w) * single-view TCN, w = ALIGNMENT_LOSS_WEIGHT.

  Batches are those of `svtcn`: a window of S consecutive frames of one view
  per take. Both losses see the whole window: TCC aligns the windows of the
  batch's takes (as the published `stride` sampling does), the single-view
  triplet pulls together frames of a window within SVTCN.POS_RADIUS steps.
  """

  terms = (Term('alignment', 'all', _tcc), Term('svtcn', 'all', _svtcn))
  weight_keys = ('ALIGNMENT_SVTCN', ('ALIGNMENT_LOSS_WEIGHT',))


class AlignmentMVTCN(Combined, MVTCN):
  """w * TCC + (1 - w) * multi-view TCN, w = ALIGNMENT_LOSS_WEIGHT.

  Batches are those of `mvtcn` (two view slots of the same steps). TCC sees
  the anchor slot (each step from its anchor view); the multi-view TCN loss
  sees anchors and positives.
  """

  terms = (Term('alignment', 'anchor_view', _tcc), Term('mvtcn', 'all',
                                                         _mvtcn))
  weight_keys = ('ALIGNMENT_MVTCN', ('ALIGNMENT_LOSS_WEIGHT',))
