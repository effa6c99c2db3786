"""`label_propagation`: DAVIS-2017 J&F and PCK of masks and keypoints
propagated with the frozen base network's feature maps.

The sequences are those of a DAVIS-layout folder (PROPAGATION.DAVIS_ROOT;
by default the DAVIS copy of the synthetic_objects dataset). See
`correspondence.propagation` for the algorithm and `evaluation.davis` for
the measures.
"""

import os

import numpy as np

from evaluation.base import Task


def davis_root_from_config():
  """PROPAGATION.DAVIS_ROOT, or the DAVIS copy of the first synthetic_objects
  dataset of DATASETS (generated when missing).

  Raises:
    ValueError: neither is available.
  """
  import config  # pylint: disable=g-import-not-at-top
  from config import CONFIG  # pylint: disable=g-import-not-at-top
  if CONFIG.PROPAGATION.DAVIS_ROOT:
    return os.path.expanduser(CONFIG.PROPAGATION.DAVIS_ROOT)
  for dataset in CONFIG.DATASETS:
    if dataset.startswith('synthetic_objects'):
      import datasets  # pylint: disable=g-import-not-at-top
      from dataset_preparation import synthetic_objects  # pylint: disable=g-import-not-at-top
      datasets.ensure_dataset(dataset)
      return os.path.join(config.tfrecords_dir(dataset),
                          synthetic_objects.DAVIS_SUBDIR)
  raise ValueError('label_propagation needs a DAVIS-layout folder: set '
                   'PROPAGATION.DAVIS_ROOT or train on a synthetic_objects '
                   'dataset.')


def propagation_args_from_config():
  """The keyword arguments of `correspondence.propagation.propagate`."""
  from config import CONFIG  # pylint: disable=g-import-not-at-top
  cfg = CONFIG.PROPAGATION
  return {'num_context': cfg.NUM_CONTEXT, 'topk': cfg.TOPK,
          'radius': cfg.RADIUS, 'temperature': cfg.TEMPERATURE}


def encoder_feature_fn(base_model, num_stages=0, frames_per_batch=8):
  """uint8 frames [T, H, W, 3] -> base-network feature maps [T, h, w, C].

  Frames are mapped to [-1, 1] like training inputs and run at their own
  resolution (the encoder is fully convolutional), in inference mode.
  `num_stages` > 0 stops an FCResNet18 after that many stages (CRW
  propagates stage-3 features); other networks ignore it.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from correspondence import resnet  # pylint: disable=g-import-not-at-top
  kwargs = {}
  if num_stages and isinstance(base_model, resnet.FCResNet18):
    kwargs['num_stages'] = min(num_stages, base_model.num_stages)

  @tf.function(reduce_retracing=True)
  def run(images):
    return base_model(images, training=False, **kwargs)

  def feature_fn(frames):
    feats = []
    for start in range(0, len(frames), frames_per_batch):
      images = tf.constant(frames[start:start + frames_per_batch],
                           tf.float32) / 127.5 - 1.0
      feats.append(run(images).numpy().astype(np.float32))
    return np.concatenate(feats)
  return feature_fn


def feature_fn_from_config(base_model=None):
  """The features propagation uses under CONFIG.PROPAGATION.

  Args:
    base_model: a trained base network (its first ENCODER_STAGES stages), or
      None for the raw-colour baseline (`correspondence.evaluate.
      pixel_features`).

  Returns:
    uint8 frames [T, H, W, 3] -> features [T, h, w, C], computed on frames
    resized by PROPAGATION.FRAME_SCALE.
  """
  from config import CONFIG  # pylint: disable=g-import-not-at-top
  from correspondence import evaluate  # pylint: disable=g-import-not-at-top
  cfg = CONFIG.PROPAGATION
  feature_fn = (evaluate.pixel_features if base_model is None else
                encoder_feature_fn(base_model, cfg.ENCODER_STAGES))
  return evaluate.scaled_feature_fn(feature_fn, cfg.FRAME_SCALE)


class LabelPropagation(Task):
  """J&F (DAVIS-2017) and PCK@0.1/0.2 of propagated labels."""

  name = 'label_propagation'
  needs_embeddings = False
  needs_algo = True

  def evaluate(self, context):
    from config import CONFIG  # pylint: disable=g-import-not-at-top
    from correspondence import evaluate  # pylint: disable=g-import-not-at-top
    cfg = CONFIG.PROPAGATION
    summary = evaluate.evaluate_davis_root(
        feature_fn_from_config(context.algo.base_model),
        davis_root_from_config(), cfg.SPLIT,
        max_sequences=cfg.MAX_SEQUENCES or None, log=context.log,
        **propagation_args_from_config())
    summary.pop('per_object')
    return {metric_name(k): v for k, v in summary.items()}


def metric_name(davis_name):
  """'J&F-Mean' -> 'JF_mean', 'J-Recall' -> 'J_recall' (TensorBoard-safe);
  'PCK@0.1' unchanged."""
  if davis_name.startswith('PCK'):
    return davis_name
  measure, statistic = davis_name.split('-')
  return '%s_%s' % (measure.replace('&', ''), statistic.lower())
