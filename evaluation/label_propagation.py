"""Label propagation, one home: the protocol, its settings and the task.

Masks (and keypoints) of the first frame of each sequence of a DAVIS-layout
folder are propagated through the later frames with the feature maps of an
encoder (`correspondence.propagation` is the algorithm) and scored with
DAVIS-2017 J&F and PCK (`evaluation.davis`). `evaluate_davis_root` is the
protocol; `feature_fn_from_config`, `davis_root_from_config` and
`propagation_args_from_config` read its settings from a config
(PROPAGATION.*); `LabelPropagation` is the
`label_propagation` evaluation task; `propagate_labels` is what
`tools/propagate_labels.py` runs.

    from evaluation import label_propagation
    scores = label_propagation.evaluate_davis_root(
        feature_fn, '/data/DAVIS', 'val')

`feature_fn` maps uint8 frames [T, H, W, 3] to feature maps [T, h, w, C]
(any encoder; `pixel_features` is the raw-colour baseline).
"""

import os

from absl import logging
import cv2
import numpy as np
import tensorflow as tf

import algos
import config
from correspondence import davis_io
from correspondence import propagation
from correspondence import resnet
from dataset_preparation import synthetic_objects
from evaluation import davis
from evaluation.base import Task


def pixel_features(frames, stride=8):
  """Raw-colour baseline: RGB mapped to [-1, 1], averaged over stride x stride
  cells. uint8 [T, H, W, 3] -> float32 [T, ceil(H/s), ceil(W/s), 3]."""
  frames = np.asarray(frames, np.float32) / 127.5 - 1.0
  num, height, width, _ = frames.shape
  out_h = propagation.feature_size(height, stride)
  out_w = propagation.feature_size(width, stride)
  padded = np.zeros((num, out_h * stride, out_w * stride, 3), np.float32)
  counts = np.zeros((1, out_h * stride, out_w * stride, 1), np.float32)
  padded[:, :height, :width] = frames
  counts[:, :height, :width] = 1
  sums = padded.reshape(num, out_h, stride, out_w, stride, 3).sum((2, 4))
  cells = counts.reshape(1, out_h, stride, out_w, stride, 1).sum((2, 4))
  return sums / cells


def scaled_feature_fn(feature_fn, frame_scale):
  """`feature_fn` applied to frames resized by `frame_scale` (bilinear).

  The feature maps then have frame_scale times more cells per side, and
  everything downstream (propagation, keypoint strides, pictures) reads the
  cell size from the shapes. frame_scale 1 returns `feature_fn` itself.
  """
  if frame_scale == 1:
    return feature_fn

  def scaled(frames):
    frames = np.asarray(frames)
    height, width = frames.shape[1:3]
    size = (max(1, int(round(width * frame_scale))),
            max(1, int(round(height * frame_scale))))
    return feature_fn(np.stack([
        cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        for frame in frames]))
  return scaled


def encoder_feature_fn(base_model, num_stages=0, frames_per_batch=8):
  """uint8 frames [T, H, W, 3] -> base-network feature maps [T, h, w, C].

  Frames are mapped to [-1, 1] like training inputs and run at their own
  resolution (the encoder is fully convolutional), in inference mode.
  `num_stages` > 0 stops an FCResNet18 after that many stages (CRW
  propagates stage-3 features); other networks ignore it.
  """
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


def davis_root_from_config(cfg):
  """PROPAGATION.DAVIS_ROOT of `cfg`, or the DAVIS copy of its first
  synthetic_objects dataset (which training generates; never here).

  Raises:
    ValueError: neither is available.
  """
  if cfg.PROPAGATION.DAVIS_ROOT:
    return os.path.expanduser(cfg.PROPAGATION.DAVIS_ROOT)
  for dataset in cfg.DATASETS:
    if dataset.startswith('synthetic_objects'):
      return os.path.join(config.tfrecords_dir(dataset, cfg),
                          synthetic_objects.DAVIS_SUBDIR)
  raise ValueError('label_propagation needs a DAVIS-layout folder: set '
                   'PROPAGATION.DAVIS_ROOT or train on a synthetic_objects '
                   'dataset.')


def propagation_args_from_config(cfg):
  """The keyword arguments of `correspondence.propagation.propagate` set by
  `cfg.PROPAGATION`."""
  settings = cfg.PROPAGATION
  return {'num_context': settings.NUM_CONTEXT, 'topk': settings.TOPK,
          'radius': settings.RADIUS, 'temperature': settings.TEMPERATURE,
          'protocol': settings.PROTOCOL}


def feature_fn_from_config(cfg, base_model=None):
  """The features propagation uses under `cfg.PROPAGATION`.

  Args:
    cfg: the run's config.
    base_model: a trained base network (its first ENCODER_STAGES stages), or
      None for the raw-colour baseline (`pixel_features`).

  Returns:
    uint8 frames [T, H, W, 3] -> features [T, h, w, C], computed on frames
    resized by PROPAGATION.FRAME_SCALE.
  """
  settings = cfg.PROPAGATION
  features = (pixel_features if base_model is None else
              encoder_feature_fn(base_model, settings.ENCODER_STAGES))
  return scaled_feature_fn(features, settings.FRAME_SCALE)


def propagate_labels(logdir, features, root, split, output_dir, overrides=(),
                     score=True):
  """Propagation over one split of a DAVIS-layout folder, with a trained
  model or raw colours; returns the DAVIS summary (or {} without `score`).

  Args:
    logdir: training logdir (features 'model'); None for 'pixels'.
    features: 'model' or 'pixels'.
    root: DAVIS-layout folder, or None for the config's (`davis_root`).
    split: split name, or None for PROPAGATION.SPLIT.
    output_dir: where masks go (None: not written).
    overrides: config overrides applied on top of the logdir's config (of
      the defaults for 'pixels'); CONFIG is not changed.
    score: whether to score against the annotations.
  """
  if features == 'model':
    if not logdir:
      raise ValueError('--features model needs --logdir (a training logdir).')
    algo, step, run_config = algos.restore_algo(logdir, overrides=overrides)
    base_model = algo.base_model
    logging.info('Features of %s at step %d.', logdir, step)
  else:
    run_config = config.build_config((), overrides)
    base_model = None
  return evaluate_davis_root(
      feature_fn_from_config(run_config, base_model),
      root or davis_root_from_config(run_config),
      split or run_config.PROPAGATION.SPLIT, output_dir, log=logging.info,
      score=score, **propagation_args_from_config(run_config))


class LabelPropagation(Task):
  """J&F (DAVIS-2017) and PCK@0.1/0.2 of propagated labels."""

  name = 'label_propagation'
  needs_embeddings = False
  needs_algo = True

  def evaluate(self, context):
    settings = self.cfg.PROPAGATION
    summary = evaluate_davis_root(
        feature_fn_from_config(self.cfg, context.algo.base_model),
        davis_root_from_config(self.cfg), settings.SPLIT,
        max_sequences=settings.MAX_SEQUENCES or None, log=context.log,
        **propagation_args_from_config(self.cfg))
    summary.pop('per_object')
    return {metric_name(k): v for k, v in summary.items()}


def metric_name(davis_name):
  """'J&F-Mean' -> 'JF_mean', 'J-Recall' -> 'J_recall' (TensorBoard-safe);
  'PCK@0.1' unchanged."""
  if davis_name.startswith('PCK'):
    return davis_name
  measure, statistic = davis_name.split('-')
  return '%s_%s' % (measure.replace('&', ''), statistic.lower())


def evaluate_davis_root(feature_fn, root, split='val', output_dir=None,
                        max_sequences=None, log=print, score=True,
                        **propagation_args):
  """Propagates each sequence's first mask (and keypoints) and scores them.

  The one implementation of the label-propagation protocol: the
  `label_propagation` evaluation task, `tools/propagate_labels.py` and the
  correspondence experiments all call it.

  Args:
    feature_fn: uint8 [T, H, W, 3] -> float [T, h, w, C]; None holds the
      first frame's mask and keypoints still in every frame (the no-motion
      baseline: what a tracker scores that never moves anything).
    root: a DAVIS-layout folder (see `davis_io`).
    split: name of the ImageSets/2017/<split>.txt list.
    output_dir: when set, predicted masks are written there as palette PNGs
      (`<output_dir>/<seq>/<frame>.png`, the layout of DAVIS results).
    max_sequences: score only the first N sequences.
    log: progress messages.
    score: False only propagates (and writes) the first masks, for
      sequences whose later frames have no annotation; returns {}.
    **propagation_args: num_context, topk, radius, temperature, protocol.

  Returns:
    dict: the DAVIS global table of `evaluation.davis.davis_summary`
    ('J&F-Mean', 'J-Mean', ...), 'per_object', and when keypoint tracks
    exist 'PCK@0.1' and 'PCK@0.2'.
  """
  sequences = davis_io.list_sequences(root, split)[:max_sequences]
  per_sequence = {}
  joint_distances = {}
  for name in sequences:
    frames = davis_io.read_frames(root, name)
    if not score:
      first = davis_io.read_annotations(root, name, first_only=True)[0]
      pred = (np.repeat(first[None], len(frames), axis=0)
              if feature_fn is None else propagation.propagate_mask(
                  np.asarray(feature_fn(frames)), first, first.shape,
                  **propagation_args))
      if output_dir:
        davis_io.write_masks(output_dir, name,
                             davis_io.frame_paths(root, name), pred)
      log('%s: %d frames propagated.' % (name, len(frames)))
      continue
    gt = davis_io.read_annotations(root, name)
    if gt.shape[0] != frames.shape[0]:
      raise ValueError('%s: %d frames but %d annotations; scoring needs one '
                       'mask per frame.' % (name, frames.shape[0],
                                            gt.shape[0]))
    first = np.where(gt[0] == 255, 0, gt[0])
    if feature_fn is None:
      pred = np.repeat(first[None], len(gt), axis=0)
    else:
      feats = np.asarray(feature_fn(frames))
      pred = propagation.propagate_mask(feats, first, gt.shape[1:],
                                        **propagation_args)
    if output_dir:
      davis_io.write_masks(output_dir, name, davis_io.frame_paths(root, name),
                           pred)
    per_sequence[name] = davis.evaluate_sequence(gt, pred)
    keypoints = davis_io.read_keypoints(root, name)
    if keypoints is not None:
      coords, visible = keypoints
      if feature_fn is None:
        pred_coords = np.repeat(coords[:1], len(coords), axis=0)
      else:
        stride = frames.shape[1] / float(feats.shape[1])
        pred_coords = propagation.propagate_keypoints(
            feats, coords[0], stride, **propagation_args)
      for j, d in enumerate(davis.pck_normalized_distances(
          pred_coords, coords, visible)):
        joint_distances.setdefault(j, []).append(d)
    j, f = per_sequence[name]
    log('%s: J %.3f F %.3f (%d objects, %d frames)' % (
        name, j.mean() if j.size else float('nan'),
        f.mean() if f.size else float('nan'), j.shape[0], len(frames)))
  if not score:
    return {}
  summary = davis.davis_summary(per_sequence)
  if joint_distances:
    pooled = [np.concatenate(d) for _, d in sorted(joint_distances.items())]
    for alpha in (0.1, 0.2):
      summary['PCK@%g' % alpha] = davis.pck_from_distances(pooled, alpha)
  return summary
