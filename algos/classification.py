"""Supervised per-frame phase classification (baseline)."""

import keras
import tensorflow as tf

from algos.base import Algorithm
from algos.sal import smoothed_cross_entropy
from config import CONFIG
from data import sampling
import datasets
import models


def resolve_num_classes():
  """CLASSIFICATION.NUM_CLASSES, or the most num_classes of CONFIG.DATASETS."""
  if CONFIG.CLASSIFICATION.NUM_CLASSES > 0:
    return CONFIG.CLASSIFICATION.NUM_CLASSES
  num_classes = max(int(datasets.get_dataset_info(d)['num_classes'])
                    for d in CONFIG.DATASETS)
  if num_classes < 2:
    for dataset in CONFIG.DATASETS:
      datasets.refuse_unlabelled(dataset, 'train')
    raise ValueError('classification needs per-frame labels with >= 2 classes; '
                     'dataset_info.json of %s says num_classes=%d. Set '
                     'CLASSIFICATION.NUM_CLASSES or use a labelled dataset.' %
                     (', '.join(CONFIG.DATASETS), num_classes))
  return num_classes


class Classification(Algorithm):
  """Per-frame softmax cross-entropy on `frame_labels`.

  The embedding is the embedder's output; dropout and a linear layer to the
  phase classes sit on top of it. Every video must be labelled: the data
  pipeline refuses a split with unlabelled videos, naming them.
  """

  batch_spec = sampling.BatchSpec(needs_frame_labels=True)

  def __init__(self, num_classes=None, **kwargs):
    super().__init__(**kwargs)
    self.num_classes = num_classes or resolve_num_classes()
    self.head_dropout = keras.layers.Dropout(
        CONFIG.CLASSIFICATION.DROPOUT_RATE)
    self.classifier = keras.layers.Dense(
        self.num_classes, dtype='float32', name='phase_classifier',
        **models.l2_regularizers(CONFIG.MODEL.L2_REG_WEIGHT))

  def compute_loss(self, embs, batch, training):
    logits = self.classifier(self.head_dropout(embs, training=training))
    loss = smoothed_cross_entropy(
        tf.reshape(logits, [-1, self.num_classes]),
        tf.reshape(batch['frame_labels'], [-1]), self.num_classes,
        CONFIG.CLASSIFICATION.LABEL_SMOOTHING)
    return {'loss': loss, 'classification': loss}
