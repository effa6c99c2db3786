"""Which frames a training sample holds: the one sampler of the project.

Config-free: every function takes its settings as arguments. An algorithm
declares what each video of its batches holds (`BatchSpec`); `sample_indices`
turns one video's length (and name, and number of camera views) into the
sampled `steps` and the frame indices to read. The decoded-frames pipeline
(`datasets.create_dataset`) and the cached-features pipeline
(`data.features`) both call it, so the same random seed gives the same
frames on both.
"""

import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf

from utils import console

SAMPLING_STRATEGIES = ('offset_uniform', 'stride', 'all')
VIEW_SAMPLINGS = ('first', 'per_take', 'per_step')


@dataclasses.dataclass(frozen=True)
class BatchSpec:
  """What each video of a training batch holds.

  An algorithm declares it (`algos.base.Algorithm.batch_spec`) and
  `create_dataset` builds it, so a new method touches only its own module and
  the registry.

  Attributes:
    positives: None, or a function (anchors int32 [S], seq_len int32 []) ->
      positives int32 [S] (called inside tf.data). With it, every sampled
      anchor step is followed by its positive: `steps` interleaves
      anchor_0, positive_0, anchor_1, ... (2 * NUM_FRAMES steps per video).
    needs_frame_labels: the loss reads `frame_labels`; `create_dataset`
      then refuses a split holding unlabelled videos, naming them.
    views: number of camera views per take (>= 1). With V > 1 the same
      time steps are sampled in V views of the take: `steps` holds the S
      steps once per view slot (slot-major, S * V entries) and `frames`
      the context frames of slot 0, then slot 1, ... Needs multi-view
      records (`view0`, `view1`, ...).
    view_sampling: which record views fill the slots: 'first' (views 0..V-1
      in order; with V = 1 the `video` list, as single-view data),
      'per_take' (V distinct random views, drawn once per sample) or
      'per_step' (V distinct random views drawn for every step, as the
      published multi-view TCN draws anchor and positive views per pair).
    sampler: None (DATA.SAMPLING_STRATEGY), or a function (seq_len int32 [],
      num_steps int, name string []) -> sorted steps int32 [num_steps]
      (called inside tf.data).
    num_crops, crop_steps: with `crop_steps`, each video gives `num_crops`
      temporal crops, each augmented with its own parameters (SCL of CARL):
      a function (seq_len int32 [], num_frames int) -> steps int32
      [num_crops, num_frames] (called inside tf.data), each row the sorted
      frames of one crop; `steps` holds crop 0's steps, then crop 1's, ...
    clip: None, or a function () -> frame offsets (increasing ints from 0),
      called when the pipeline is built: each video then gives the frames
      start + offsets from a random start (a clip), without context frames,
      instead of NUM_FRAMES frames sampled by DATA.SAMPLING_STRATEGY.
  """
  positives: Optional[Callable[[tf.Tensor, tf.Tensor], tf.Tensor]] = None
  needs_frame_labels: bool = False
  views: int = 1
  view_sampling: str = 'first'
  sampler: Optional[Callable[[tf.Tensor, int, tf.Tensor], tf.Tensor]] = None
  num_crops: int = 1
  crop_steps: Optional[Callable[[tf.Tensor, int], tf.Tensor]] = None
  clip: Optional[Callable[[], Sequence[int]]] = None

  def __post_init__(self):
    if self.views < 1:
      raise ValueError('BatchSpec.views must be >= 1, got %d.' % self.views)
    if self.view_sampling not in VIEW_SAMPLINGS:
      raise ValueError('BatchSpec.view_sampling %r is unknown; use one of %s.'
                       % (self.view_sampling, ', '.join(VIEW_SAMPLINGS)))

  def steps_per_video(self, num_frames):
    """Sampled steps per video (all view slots) for `num_frames` anchors."""
    if self.clip is not None:
      return len(self.clip())
    if self.crop_steps is not None:
      return num_frames * self.num_crops
    return num_frames * (2 if self.positives is not None else 1) * self.views

  def sequences_per_video(self):
    """Sequences (temporal crops or camera views) each video's steps hold."""
    return self.num_crops * self.views

  def uses_view_lists(self):
    """Whether samples read the `viewN` lists rather than `video`."""
    return self.views > 1 or self.view_sampling != 'first'


@dataclasses.dataclass(frozen=True)
class SamplingSettings:
  """The sampling keys of a config (DATA.*, TRAIN/EVAL.NUM_FRAMES).

  Attributes:
    num_frames: anchors per video (NUM_FRAMES).
    num_context: context frames per step (DATA.NUM_STEPS).
    frame_stride: frames between context frames (DATA.FRAME_STRIDE).
    strategy, stride, random_offset, draw_offset, spread_short: the keyword
      arguments of `sample_steps` (DATA.SAMPLING_STRATEGY, DATA.STRIDE,
      DATA.RANDOM_OFFSET, DATA.DRAW_RANDOM_OFFSET, DATA.SPREAD_SHORT_VIDEOS).
  """
  num_frames: int
  num_context: int = 1
  frame_stride: int = 1
  strategy: str = 'offset_uniform'
  stride: int = 1
  random_offset: int = 1
  draw_offset: bool = False
  spread_short: bool = False

  def step_options(self):
    """The keyword arguments of `sample_steps`."""
    return dict(strategy=self.strategy, stride=self.stride,
                random_offset=self.random_offset,
                draw_offset=self.draw_offset, spread_short=self.spread_short)


_warned_short_video = False


def _warn_short(name, seq_len, needed, spread):
  global _warned_short_video
  if not _warned_short_video:
    _warned_short_video = True
    console.warning(
        'Video %s has %d frames, fewer than the %d one sample needs; such '
        'videos are sampled with repeated frames (%s; logged once).',
        name.numpy().decode('utf-8', 'replace'), int(seq_len), int(needed),
        'spread over the video' if spread else 'padded with the last frame')
  return np.int32(0)


def _spread(seq_len, num_steps):
  """[S] sorted indices covering all L frames, repeating some (L < S ok)."""
  return tf.range(num_steps) * seq_len // num_steps


def _frames_needed(strategy, num_steps, stride, random_offset, draw_offset):
  """Fewest frames a video needs to be sampled without repeated frames."""
  if strategy == 'offset_uniform':
    return num_steps + (0 if draw_offset else random_offset)
  if strategy == 'stride':
    return (num_steps - 1) * stride + 1
  if strategy == 'all':
    return 1
  raise ValueError(
      'DATA.SAMPLING_STRATEGY %r is unknown; use one of %s.' % (
          strategy, ', '.join(SAMPLING_STRATEGIES)))


def sample_steps(seq_len, num_steps, strategy, stride=1, random_offset=1,
                 draw_offset=False, spread_short=False, name=''):
  """Sorted frame indices of one video, as the published pipeline samples.

  Args:
    seq_len: int32 scalar tensor L.
    num_steps: S, Python int.
    strategy: 'offset_uniform': S distinct frames drawn uniformly at random
      among frames `random_offset`..L-1 (the offset is fixed; with
      `draw_offset` it is drawn uniformly in [0, random_offset) instead);
      a video with fewer than S + offset frames gets 0..S-1 with every
      index past the end replaced by the last frame.
      'stride': frames `offset + k * stride`, k < S, with `offset` uniform in
      [0, max(1, L - stride * S)); indices past the end are replaced by the
      last frame (short videos are padded with it).
      'all': S frames evenly spaced over the whole video (first and last
      included), no randomness (not in the published code).
    stride: DATA.STRIDE, frames between steps of 'stride'.
    random_offset: DATA.RANDOM_OFFSET.
    draw_offset: DATA.DRAW_RANDOM_OFFSET.
    spread_short: DATA.SPREAD_SHORT_VIDEOS: a video too short for the
      strategy gets S indices spread evenly over all its frames (with
      repetitions) instead of being padded with its last frame.
    name: video name (string tensor) for the warning logged (once) when a
      video is too short.

  Returns:
    int32 [S], every index in 0..L-1.
  """
  needed = _frames_needed(strategy, num_steps, stride, random_offset,
                          draw_offset)

  def sample():
    if strategy == 'offset_uniform':
      offset = random_offset
      if draw_offset:
        max_offset = tf.clip_by_value(seq_len - num_steps + 1, 1,
                                      max(1, random_offset))
        offset = tf.random.uniform([], 0, max_offset, dtype=tf.int32)
      chosen = tf.random.shuffle(tf.range(offset, seq_len))[:num_steps]
      return tf.sort(chosen)
    if strategy == 'stride':
      offset = tf.random.uniform(
          [], 0, tf.maximum(1, seq_len - stride * num_steps), dtype=tf.int32)
      return tf.minimum(seq_len - 1, offset + tf.range(num_steps) * stride)
    return tf.range(num_steps) * (seq_len - 1) // max(1, num_steps - 1)

  def short():
    warned = tf.py_function(_warn_short, [name, seq_len, needed,
                                          spread_short], tf.int32)
    if spread_short:
      return _spread(seq_len, num_steps) + warned
    if strategy == 'stride':
      return sample() + warned
    return tf.minimum(tf.range(num_steps), seq_len - 1) + warned

  return tf.cond(seq_len >= needed, sample, short)


def _sample_or_spread(seq_len, num_steps, needed, sample, name):
  """`sample()` when the video has `needed` frames, else spread indices."""
  def short():
    warned = tf.py_function(_warn_short, [name, seq_len, needed, True],
                            tf.int32)
    return _spread(seq_len, num_steps) + warned

  return tf.cond(seq_len >= needed, sample, short)


def window_steps(seq_len, num_steps, window, name=''):
  """S distinct sorted steps inside a random window of `window` frames.

  The published multi-view TCN draws its pairs without replacement from a
  random window of `window` consecutive frames (the whole video when it is
  not longer than `window`).

  Args:
    seq_len: int32 scalar tensor L.
    num_steps: S, Python int.
    window: window length in frames, Python int.
    name: video name (string tensor) for the short-video warning.

  Returns:
    int32 [S].
  """
  def sample():
    length = tf.minimum(seq_len, window)
    start = tf.random.uniform([], 0, seq_len - length + 1, dtype=tf.int32)
    chosen = tf.random.shuffle(tf.range(start, start + length))[:num_steps]
    return tf.sort(chosen)
  return _sample_or_spread(seq_len, num_steps, num_steps, sample, name)


def contiguous_steps(seq_len, num_steps, name=''):
  """S consecutive steps from a random start (published single-view TCN).

  Args:
    seq_len: int32 scalar tensor L.
    num_steps: S, Python int.
    name: video name (string tensor) for the short-video warning.

  Returns:
    int32 [S].
  """
  def sample():
    start = tf.random.uniform([], 0, seq_len - num_steps + 1, dtype=tf.int32)
    return start + tf.range(num_steps)
  return _sample_or_spread(seq_len, num_steps, num_steps, sample, name)


def view_slots(num_record_views, num_slots, num_steps, view_sampling):
  """Record view of every (view slot, step) of a multi-view sample.

  Args:
    num_record_views: V, views in the record (Python int).
    num_slots: V' <= V view slots per sample (Python int).
    num_steps: S, steps per slot (Python int).
    view_sampling: 'first', 'per_take' or 'per_step' (see `BatchSpec`).

  Returns:
    int32 [V', S]; the views of one step are distinct.
  """
  if view_sampling == 'first':
    views = tf.range(num_slots)[:, None]
  elif view_sampling == 'per_take':
    views = tf.random.shuffle(tf.range(num_record_views))[:num_slots, None]
  else:
    order = tf.argsort(tf.random.uniform([num_steps, num_record_views]),
                       axis=1)
    return tf.cast(tf.transpose(order[:, :num_slots]), tf.int32)
  return tf.tile(views, [1, num_steps])


def tcn_positives(anchors, window):
  """Positive of anchor t: uniform in [t - window, t) clipped at 0; t if t=0.

  Args:
    anchors: int32 [S].
    window: TCN.POSITIVE_WINDOW (frames).

  Returns:
    int32 [S].
  """
  low = tf.maximum(0, anchors - window)
  u = tf.random.uniform(tf.shape(anchors))
  return low + tf.cast(u * tf.cast(anchors - low, tf.float32), tf.int32)


def temporal_crop_steps(seq_len, num_frames, min_fraction):
  """Sorted frames of one random temporal crop (own start and rate).

  The crop covers round(f * L) frames, f uniform in [min_fraction, 1], at a
  uniform random start; `num_frames` distinct frames are drawn uniformly from
  it (evenly spread with repetition when the crop is shorter).

  Args:
    seq_len: int32 scalar tensor L.
    num_frames: S, Python int.
    min_fraction: smallest crop, as a fraction of the video.

  Returns:
    int32 [S], indices into the video.
  """
  fraction = tf.random.uniform([], min_fraction, 1.0)
  crop_len = tf.clip_by_value(tf.cast(tf.round(
      fraction * tf.cast(seq_len, tf.float32)), tf.int32), 1, seq_len)
  start = tf.random.uniform([], 0, seq_len - crop_len + 1, dtype=tf.int32)
  within = tf.cond(
      crop_len >= num_frames,
      lambda: tf.sort(tf.random.shuffle(tf.range(crop_len))[:num_frames]),
      lambda: _spread(crop_len, num_frames))
  return start + within


def clip_steps(seq_len, offsets, name=''):
  """Frame indices start + offsets from a uniform random start.

  Args:
    seq_len: int32 [] frames in the video.
    offsets: increasing ints, the first 0 (e.g. range(0, 8, 2)).
    name: the video's name, for the warning.

  A video shorter than offsets[-1] + 1 frames gets evenly spread indices
  with repetitions (and a warning, once).

  Returns:
    int32 [len(offsets)].
  """
  offsets = [int(o) for o in offsets]
  needed = offsets[-1] + 1

  def sample():
    start = tf.random.uniform([], 0, seq_len - needed + 1, dtype=tf.int32)
    return start + tf.constant(offsets, tf.int32)

  return _sample_or_spread(seq_len, len(offsets), needed, sample, name)


def context_indices(steps, num_context, frame_stride):
  """[S] steps -> [S * num_context]: t-(K-1)*stride, ..., t, clipped at 0."""
  offsets = tf.range(num_context - 1, -1, -1) * frame_stride
  return tf.reshape(tf.maximum(0, steps[:, None] - offsets[None, :]), [-1])


def _view_indices(steps, indices, batch_spec, num_record_views, seq_len,
                  steps_per_slot):
  """Flat indices into the [V * L] frames of all views, and the slot steps.

  Args:
    steps: int32 [S] sampled steps.
    indices: int32 [S * K] context frame indices of `steps`.
    batch_spec: the `BatchSpec` (views, view_sampling).
    num_record_views: V.
    seq_len: int32 [] L, frames per view.
    steps_per_slot: S (Python int).

  Returns:
    (flat_indices int32 [V' * S * K], slot_steps int32 [V' * S]).
  """
  views = view_slots(num_record_views, batch_spec.views, steps_per_slot,
                     batch_spec.view_sampling)  # [V', S]
  num_context = tf.shape(indices)[0] // steps_per_slot
  context_views = tf.repeat(views, num_context, axis=1)  # [V', S * K]
  flat = tf.reshape(context_views * seq_len + indices[None], [-1])
  return flat, tf.tile(steps, [batch_spec.views])


def sample_indices(seq_len, name, batch_spec, settings, num_record_views=0):
  """The steps and frame indices of one training sample of one video.

  Args:
    seq_len: int32 [] frames in the video (per view).
    name: string [] the video's name (for warnings about short videos).
    batch_spec: the algorithm's `BatchSpec`.
    settings: `SamplingSettings`.
    num_record_views: V, the record's camera views; needed (>= views) when
      `batch_spec.uses_view_lists()`.

  Returns:
    (steps, index_groups): `steps` int32 [S] with
    S = `batch_spec.steps_per_video(settings.num_frames)`, and a list of
    int32 [N_i] frame indices, one group per temporal crop (SCL: one group
    per crop, each to be augmented on its own; otherwise one group). With
    view lists the indices are flat into the views' frames concatenated
    (view v, frame t -> v * L + t). A clip (`batch_spec.clip`) reads its
    steps without context frames.
  """
  num_frames = settings.num_frames
  num_context = context_frames(batch_spec, settings)
  num_steps = batch_spec.steps_per_video(num_frames)
  if batch_spec.crop_steps is not None:
    crop_steps = tf.ensure_shape(batch_spec.crop_steps(seq_len, num_frames),
                                 [batch_spec.num_crops, num_frames])
    groups = [context_indices(crop, num_context, settings.frame_stride)
              for crop in tf.unstack(crop_steps)]
    return tf.reshape(crop_steps, [-1]), groups
  if batch_spec.clip is not None:
    steps = clip_steps(seq_len, batch_spec.clip(), name)
  elif batch_spec.sampler is not None:
    steps = batch_spec.sampler(seq_len, num_frames, name)
  else:
    steps = sample_steps(seq_len, num_frames, name=name,
                         **settings.step_options())
  if batch_spec.positives is not None:
    positives = batch_spec.positives(steps, seq_len)
    steps = tf.reshape(tf.stack([steps, positives], axis=1), [-1])
  indices = context_indices(steps, num_context, settings.frame_stride)
  if batch_spec.uses_view_lists():
    indices, steps = _view_indices(steps, indices, batch_spec,
                                   num_record_views, seq_len,
                                   num_steps // batch_spec.views)
  return tf.ensure_shape(steps, [num_steps]), [indices]


def context_frames(batch_spec, settings):
  """Frames read per step: 1 for clips, else `settings.num_context`."""
  return 1 if batch_spec.clip is not None else settings.num_context
