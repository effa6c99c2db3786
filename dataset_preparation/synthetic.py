r"""Procedural "pouring" videos written straight to TFRecords.

A container standing on a table is lifted (phase 0), carried over a bowl
(phase 1), tilted while a liquid stream fills the bowl (phase 2), tilted back
(phase 3) and carried back and put down (phase 4). The four key events between
the phases give per-frame labels 0..4.

Every video differs in phase durations and speed profile, length, colors,
sizes, positions, background texture, mirror flip, camera scale and shift,
distractors and noise; all of it is constant within a video, so appearance
says nothing about the phase, only the state of the action does (container
height and horizontal position relative to the bowl, tilt angle, stream, bowl
fill level). That state stays clearly visible at 64 px: objects are large and
their luminance always differs from the background's by a margin.

`variation` in [0, 1] scales every appearance factor: 0 gives one fixed look
(only the timing differs), 1 gives fully random hues, inverted luminance
polarity in half of the videos, strong texture, camera changes, up to four
distractors and visible noise.

Usage:
  python -m dataset_preparation.synthetic --output_dir /tmp/synth \
      --num_train 100 --num_val 20 --image_size 64
"""

from utils import cli  # first: quiets TensorFlow's start-up

import colorsys  # pylint: disable=g-bad-import-order
import time
import zlib

from absl import flags
import cv2
import numpy as np

import config
from dataset_preparation import tfrecord_io
from utils import console

NUM_PHASES = 5
# Typical share of the video per phase, jittered per video.
_BASE_PHASE_FRACTIONS = np.array([0.2, 0.2, 0.25, 0.15, 0.2])
# cv2 sub-pixel precision: coordinates are given in 1/16 pixel.
_SHIFT_BITS = 4
# Bumped whenever the rendering changes, so cached datasets are regenerated.
RENDER_VERSION = 5
_SUBPIXEL = 1 << _SHIFT_BITS
# Hues of the look at variation 0: beige background, red container, blue
# bowl, teal liquid.
_BASE_HUES = {'background': 0.11, 'table': 0.08, 'container': 0.0,
              'bowl': 0.6, 'liquid': 0.5}


def _luminance(rgb):
  return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _color(hue, saturation, luminance):
  """RGB in [0, 1] with exactly the given luminance (Rec. 601)."""
  rgb = np.array(colorsys.hsv_to_rgb(hue % 1.0, float(np.clip(saturation, 0,
                                                               1)), 1.0))
  rgb *= luminance / max(_luminance(rgb), 1e-6)
  # Blending towards the gray of the same luminance keeps the luminance.
  if rgb.max() > 1.0:
    rgb = luminance + (rgb - luminance) * (1.0 - luminance) / (
        rgb.max() - luminance)
  return np.clip(rgb, 0.0, 1.0)


def _ease(u, gamma):
  """Monotonic speed profile on [0, 1]: a power warp blended with smoothstep.

  The smoothstep share is small so that motion does not stall at phase
  boundaries, where frames of two phases would otherwise look the same.
  """
  p = u ** gamma
  return 0.75 * p + 0.25 * p * p * (3.0 - 2.0 * p)


def _phase_lengths(rng, num_frames):
  fractions = _BASE_PHASE_FRACTIONS * rng.uniform(0.5, 1.6, NUM_PHASES)
  lengths = np.maximum(2, np.round(fractions / fractions.sum() *
                                   num_frames)).astype(int)
  lengths[np.argmax(lengths)] += num_frames - lengths.sum()
  return lengths


def _sample_appearance(rng, variation, image_size):
  """Per-take look: colors, sizes, positions, texture, distractors."""
  v = float(variation)
  dark_objects = not rng.uniform() < 0.5 * max(0.0, 2.0 * v - 1.0)
  def hue(name):
    return _BASE_HUES[name] + rng.uniform(-0.5, 0.5) * v
  bg_lum = 0.8 + rng.uniform(-0.12, 0.1) * v
  obj_lum = lambda: 0.18 + rng.uniform(-0.08, 0.08) * v
  if not dark_objects:
    bg_lum = 1.0 - bg_lum - 0.05
    obj_lum_fn = lambda: 1.0 - obj_lum()
  else:
    obj_lum_fn = obj_lum
  # The liquid sits between objects and background but keeps a clear margin
  # (>= 0.25) from the background it falls in front of.
  liquid_lum = 0.45 + rng.uniform(-0.06, 0.06) * v
  if not dark_objects:
    liquid_lum = 1.0 - liquid_lum
  sat = lambda base: base + rng.uniform(-0.3, 0.3) * v
  table_lum = bg_lum + (-0.08 if dark_objects else 0.08)
  look = {
      'background': _color(hue('background'), sat(0.3), bg_lum),
      'table': _color(hue('table'), sat(0.35), table_lum),
      'container': _color(hue('container'), sat(0.7), obj_lum_fn()),
      'bowl': _color(hue('bowl'), sat(0.7), obj_lum_fn()),
      'liquid': _color(hue('liquid'), sat(0.9), liquid_lum),
      'table_y': 0.8 + rng.uniform(-0.03, 0.03) * v,
      'container_w': 0.14 * (1 + rng.uniform(-0.2, 0.2) * v),
      'container_h': 0.26 * (1 + rng.uniform(-0.15, 0.15) * v),
      'bowl_w': 0.30 * (1 + rng.uniform(-0.2, 0.2) * v),
      'bowl_h': 0.15 * (1 + rng.uniform(-0.2, 0.2) * v),
      'start_x': 0.2 + rng.uniform(-0.05, 0.05) * v,
      'bowl_x': 0.72 + rng.uniform(-0.05, 0.05) * v,
      'max_tilt': np.deg2rad(110 + rng.uniform(-10, 10)),
      'fill': 0.75 + rng.uniform(-0.15, 0.15) * v,
      'texture_amplitude': 0.12 * v,
      'noise_std': 0.03 * v,
  }
  look['texture'] = _sample_texture(rng, image_size)
  look['distractors'] = _sample_distractors(rng, 0, int(round(4 * v)))
  return look


def _sample_texture(rng, image_size):
  """Low-frequency texture [S, S, 1], upsampled from a coarse random grid."""
  coarse = rng.uniform(-1, 1, (6, 6, 1)).astype(np.float32)
  return cv2.resize(coarse, (image_size, image_size),
                    interpolation=cv2.INTER_CUBIC)[..., None]


def _sample_distractors(rng, min_count, max_count):
  """Between min_count and max_count moving shapes in the upper image."""
  return [{
      'xy': np.array([rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.3)]),
      'velocity': rng.uniform(-0.05, 0.05, 2),
      'radius': rng.uniform(0.025, 0.045),
      'square': bool(rng.uniform() < 0.5),
      'color': rng.uniform(0, 1, 3),
  } for _ in range(rng.integers(min_count, max_count + 1))]


def _sample_camera(rng, variation, mirror, extra_view):
  # Extra views of one take always differ from view 0, even at variation 0.
  v = max(float(variation), 0.6 if extra_view else 0.0)
  return {
      'scale': 1.0 + rng.uniform(-0.15, 0.12) * v,
      'shift': rng.uniform(-0.07, 0.07, 2) * v,
      'flip': bool(mirror and rng.uniform() < 0.5),
  }


def _sample_view_scene(rng, look, variation, image_size):
  """Another camera's surroundings of the same take.

  The objects (container, bowl, liquid: colors and sizes) and the table
  height stay those of `look`; the background and table colors, the texture
  and the distractors are drawn anew, with the background keeping the
  objects' luminance contrast.
  """
  v = max(float(variation), 0.6)
  dark_objects = _luminance(look['container']) < 0.5
  bg_lum = 0.8 + rng.uniform(-0.12, 0.1) * v
  if not dark_objects:
    bg_lum = 1.0 - bg_lum - 0.05
  table_lum = bg_lum + (-0.08 if dark_objects else 0.08)
  view_look = dict(look)
  view_look['background'] = _color(rng.uniform(), 0.3 + rng.uniform(-0.3, 0.3)
                                   * v, bg_lum)
  view_look['table'] = _color(rng.uniform(), 0.35 + rng.uniform(-0.3, 0.3) * v,
                              table_lum)
  view_look['texture'] = _sample_texture(rng, image_size)
  view_look['texture_amplitude'] = 0.12 * v
  view_look['distractors'] = _sample_distractors(rng, 1, int(round(4 * v)))
  return view_look


def _sample_view_warp(rng, image_size):
  """2x3 affine map of another camera's viewpoint: a roll of up to 12
  degrees, a zoom in [0.8, 1.15] and a horizontal foreshortening in
  [0.8, 1] (a turn about the vertical axis), about the image center."""
  angle = rng.uniform(-12.0, 12.0)
  zoom = rng.uniform(0.8, 1.15)
  squash = rng.uniform(0.8, 1.0)
  center = (image_size / 2.0, image_size / 2.0)
  rotation = cv2.getRotationMatrix2D(center, angle, zoom)
  rotation[0, :2] *= squash
  rotation[0, 2] = center[0] - rotation[0, 0] * center[0] - rotation[0, 1] * (
      center[1])
  return rotation


def _trajectory(rng, num_frames, look, time_symmetric=False):
  """Per-frame state of the action.

  With `time_symmetric`, phase 4 retraces phases 1 and 0 backwards (carried
  back along the same arc, then put down where it was picked up), so the
  container's path reads the same forwards and backwards; only the liquid
  (stream, bowl fill) tells the direction of time.

  Returns:
    frame_labels: int64 [L], phase index per frame.
    state: dict of float arrays [L]: container center `x`, `y`, `tilt`
      (radians, clockwise), `stream` in [0, 1] and bowl `fill` in [0, 1].
  """
  lengths = _phase_lengths(rng, num_frames)
  frame_labels = np.repeat(np.arange(NUM_PHASES), lengths)
  # Phase-local progress in [0, 1) with a random speed profile per phase.
  progress = np.concatenate([
      _ease(np.arange(n) / n, np.exp(rng.uniform(-0.6, 0.6)))
      for n in lengths])
  w, h = look['container_w'], look['container_h']
  spout = 0.25 * w
  max_tilt = look['max_tilt']
  table_y, bowl_top = look['table_y'], look['table_y'] - look['bowl_h']
  rest_y = table_y - h / 2
  # Spout tip relative to the container center, at full tilt.
  tip = np.array([w / 2 + spout, -h / 2 - spout])
  tip_dx = tip[0] * np.cos(max_tilt) - tip[1] * np.sin(max_tilt)
  tip_dy = tip[0] * np.sin(max_tilt) + tip[1] * np.cos(max_tilt)
  pour_x = look['bowl_x'] - tip_dx - 0.02
  lift_y = min(bowl_top - 0.06 - max(tip_dy, h / 2), rest_y - 0.15)
  # Put down nearer the bowl than where it was picked up: with mirrored
  # videos and flip augmentation, left/right says nothing, and a trip
  # that ended where it began would look the same played backwards
  # except for the liquid.
  end_x = look['start_x'] + (pour_x - look['start_x']) * rng.uniform(
      0.45, 0.6)
  if time_symmetric:
    end_x = look['start_x']
  x = np.empty(num_frames)
  y = np.empty(num_frames)
  tilt = np.zeros(num_frames)
  for phase in range(NUM_PHASES):
    sel = frame_labels == phase
    p = progress[sel]
    if phase == 0:
      x[sel], y[sel] = look['start_x'], rest_y + (lift_y - rest_y) * p
    elif phase == 1:
      x[sel] = look['start_x'] + (pour_x - look['start_x']) * p
      y[sel] = lift_y - 0.03 * np.sin(np.pi * p)
    elif phase == 2:
      x[sel], y[sel], tilt[sel] = pour_x, lift_y, max_tilt * p
    elif phase == 3:
      x[sel], y[sel], tilt[sel] = pour_x, lift_y, max_tilt * (1 - p)
    elif time_symmetric:
      back = np.clip(1.0 - 2.0 * p, 0.0, 1.0)   # phase 1 backwards
      down = np.clip(2.0 - 2.0 * p, 0.0, 1.0)   # then phase 0 backwards
      x[sel] = look['start_x'] + (pour_x - look['start_x']) * back
      y[sel] = np.where(p < 0.5, lift_y - 0.03 * np.sin(np.pi * back),
                        rest_y + (lift_y - rest_y) * down)
    else:
      x[sel] = pour_x + (end_x - pour_x) * np.minimum(1.0, 1.3 * p)
      y[sel] = lift_y + (rest_y - lift_y) * p ** 2
  # Liquid flows once the container is tilted past 55% of its maximum.
  stream = np.clip((tilt / max_tilt - 0.55) / 0.45, 0.0, 1.0)
  stream[frame_labels < 2] = 0.0
  flowed = np.cumsum(stream)
  fill = flowed / max(flowed[-1], 1e-6)
  return frame_labels.astype(np.int64), {
      'x': x, 'y': y, 'tilt': tilt, 'stream': stream, 'fill': fill,
      'tip': tip}


class _Renderer:
  """Draws frames of one take for one camera."""

  def __init__(self, look, camera, image_size):
    self.look = look
    self.camera = camera
    self.size = image_size
    self.colors = {k: tuple(float(c) for c in 255.0 * look[k])
                   for k in ('container', 'bowl', 'liquid')}
    self.colors['inside'] = tuple(float(c) for c in 255.0 * look['background'])
    bg = np.empty((image_size, image_size, 3), np.float32)
    bg[:] = look['background']
    table_row = int(round(self._to_px(np.array([[0.0, look['table_y']]]))[0, 1]
                          / _SUBPIXEL))
    bg[max(0, table_row):] = look['table']
    bg += look['texture_amplitude'] * look['texture']
    self.background = np.clip(255.0 * bg, 0, 255).astype(np.uint8)

  def _to_px(self, points):
    """World [N, 2] (x right, y down, in [0, 1]) -> int32 1/16 pixels."""
    cam = self.camera
    px = ((points - 0.5) * cam['scale'] + 0.5 + cam['shift']) * self.size
    return np.round(px * _SUBPIXEL).astype(np.int32)

  def _thickness(self, world_width):
    return max(1, int(round(world_width * self.size * self.camera['scale'])))

  def draw(self, state, t, frame_index, rng):
    """Frame `t` as uint8 [S, S, 3]."""
    look = self.look
    img = self.background.copy()
    aa = cv2.LINE_AA
    for d in look['distractors']:
      xy = d['xy'] + d['velocity'] * frame_index / 100.0
      c = tuple(float(v) for v in 255.0 * d['color'])
      r = d['radius']
      if d['square']:
        pts = xy + np.array([[-r, -r], [r, -r], [r, r], [-r, r]])
        cv2.fillPoly(img, [self._to_px(pts)], c, aa, _SHIFT_BITS)
      else:
        center = self._to_px(xy[None])[0]
        cv2.circle(img, (int(center[0]), int(center[1])),
                   int(r * self.size * self.camera['scale'] * _SUBPIXEL), c,
                   -1, aa, _SHIFT_BITS)
    # Bowl: a thick U whose inside shows the background and the liquid.
    bx, top, bw, bh = (look['bowl_x'], look['table_y'] - look['bowl_h'],
                       look['bowl_w'], look['bowl_h'])
    bowl_pts = np.array([[bx - bw / 2, top], [bx - 0.3 * bw, top + bh],
                         [bx + 0.3 * bw, top + bh], [bx + bw / 2, top]])
    fill = state['fill'][t]
    surface_y = top + bh - 0.9 * bh * look['fill'] * fill
    if fill > 0:
      # The bowl's sides interpolated at the liquid surface.
      a = (top + bh - surface_y) / bh
      half = 0.3 * bw + a * 0.2 * bw
      liquid = np.array([[bx - 0.3 * bw, top + bh], [bx + 0.3 * bw, top + bh],
                         [bx + half, surface_y], [bx - half, surface_y]])
      cv2.fillPoly(img, [self._to_px(liquid)], self.colors['liquid'], aa,
                   _SHIFT_BITS)
    cv2.polylines(img, [self._to_px(bowl_pts)], False, self.colors['bowl'],
                  self._thickness(0.035), aa, _SHIFT_BITS)
    # Container: a body with a spout at its top right, rotated about its
    # center.
    w, h = look['container_w'], look['container_h']
    spout = 0.25 * w
    local = np.array([[-w / 2, h / 2], [w / 2, h / 2], [w / 2, -h / 2],
                      [w / 2 + spout, -h / 2 - spout], [w / 2 - spout, -h / 2],
                      [-w / 2, -h / 2]])
    cos, sin = np.cos(state['tilt'][t]), np.sin(state['tilt'][t])
    rot = np.array([[cos, sin], [-sin, cos]])
    center = np.array([state['x'][t], state['y'][t]])
    cv2.fillPoly(img, [self._to_px(local @ rot + center)],
                 self.colors['container'], aa, _SHIFT_BITS)
    # The container is hollow: its inside shows the liquid still in it, so a
    # full container (before pouring) looks different from an empty one
    # (after), as the bowl does.
    wall = 0.22 * w
    inner_w, inner_h = w / 2 - wall, h / 2 - wall
    inside = np.array([[-inner_w, inner_h], [inner_w, inner_h],
                       [inner_w, -inner_h], [-inner_w, -inner_h]])
    cv2.fillPoly(img, [self._to_px(inside @ rot + center)],
                 self.colors['inside'], aa, _SHIFT_BITS)
    remaining = 1.0 - fill
    if remaining > 0:
      level = inner_h - 2 * inner_h * 0.85 * remaining
      content = np.array([[-inner_w, inner_h], [inner_w, inner_h],
                          [inner_w, level], [-inner_w, level]])
      cv2.fillPoly(img, [self._to_px(content @ rot + center)],
                   self.colors['liquid'], aa, _SHIFT_BITS)
    strength = state['stream'][t]
    if strength > 0:
      tip = state['tip'] @ rot + center
      drop = np.linspace(0.0, 1.0, 5)
      stream = np.stack([tip[0] + 0.03 * np.sqrt(drop),
                         tip[1] + (surface_y - tip[1]) * drop], axis=1)
      cv2.polylines(img, [self._to_px(stream)], False, self.colors['liquid'],
                    self._thickness(0.012 + 0.025 * strength), aa, _SHIFT_BITS)
    if look['noise_std'] > 0:
      noise = rng.normal(0.0, 255.0 * look['noise_std'], img.shape)
      img = np.clip(img + noise, 0, 255).astype(np.uint8)
    if self.camera['flip']:
      img = img[:, ::-1]
    return img


def render_take(seed_sequence, image_size=64, min_frames=60, max_frames=100,
                num_views=1, variation=0.5, mirror=True,
                time_symmetric=False):
  """Renders one take (all views) deterministically from a seed.

  Args:
    seed_sequence: int or list of ints for `np.random.default_rng`.
    image_size: output frames are [S, S].
    min_frames, max_frames: inclusive range of the video length L.
    num_views: V synchronized cameras of the same take (same action state
      and objects; views 1.. differ in viewpoint, scale, background and
      distractors).
    variation: appearance variation in [0, 1] (module docstring).
    mirror: mirror the image horizontally in half of the views.
    time_symmetric: the container is put back where it was picked up, along
      the path it came (`_trajectory`).

  Returns:
    dict with `frames` uint8 [V, L, S, S, 3] (RGB), `frame_labels` int64 [L]
    (phase 0..4), `key_events` int [4] (first frame of phases 1..4).
  """
  if not 0.0 <= variation <= 1.0:
    raise ValueError('variation must be in [0, 1], got %r.' % variation)
  if not 10 <= min_frames <= max_frames:
    raise ValueError('need 10 <= min_frames <= max_frames, got %d, %d.' %
                     (min_frames, max_frames))
  rng = np.random.default_rng(seed_sequence)
  num_frames = int(rng.integers(min_frames, max_frames + 1))
  look = _sample_appearance(rng, variation, image_size)
  frame_labels, state = _trajectory(rng, num_frames, look, time_symmetric)
  frames = np.empty((num_views, num_frames, image_size, image_size, 3),
                    np.uint8)
  for view in range(num_views):
    # View 0 is drawn first, so that single-view takes do not depend on
    # the number of views; every other camera gets its own surroundings and
    # viewpoint.
    view_look = look if view == 0 else _sample_view_scene(
        rng, look, variation, image_size)
    renderer = _Renderer(view_look, _sample_camera(rng, variation, mirror,
                                                   view > 0), image_size)
    warp = None if view == 0 else _sample_view_warp(rng, image_size)
    for t in range(num_frames):
      frame = renderer.draw(state, t, t, rng)
      if warp is not None:
        frame = cv2.warpAffine(frame, warp, (image_size, image_size),
                               flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
      frames[view, t] = frame
  key_events = np.flatnonzero(np.diff(frame_labels)) + 1
  return {'frames': frames, 'frame_labels': frame_labels,
          'key_events': key_events}


def generate_dataset(output_dir, dataset_name='synthetic_pouring',
                     num_train=40, num_val=20, image_size=64, min_frames=60,
                     max_frames=100, num_views=1, seed=0, variation=0.5,
                     mirror=True, fps=20.0, jpeg_quality=95, num_shards=1,
                     time_symmetric=False):
  """Writes train and val TFRecords plus `dataset_info.json`.

  Videos are named `<dataset>_<split>_NNNN`; each take is rendered from the
  seed sequence (seed, crc32(split), index), so a video does not depend on
  how many others are generated.

  Args:
    output_dir: directory for `<dataset>_<split>-NNNNN-of-MMMMM.tfrecord`.
    dataset_name: file-name prefix.
    num_train, num_val: number of videos per split (a split with 0 videos is
      not written).
    image_size: frames are [image_size, image_size].
    min_frames, max_frames: inclusive range of video lengths.
    num_views: synchronized views per take (>= 2 adds `view0`, `view1`, ...).
    seed: everything is a function of it.
    variation: appearance variation in [0, 1].
    mirror: mirror half of the videos horizontally.
    fps: frame rate recorded in `dataset_info.json`.
    jpeg_quality: JPEG quality of the stored frames.
    num_shards: shards per split.
    time_symmetric: render time-symmetric takes (`render_take`).

  Returns:
    The dataset_info dict.
  """
  info = None
  generator = {'num_train': num_train, 'num_val': num_val,
               'image_size': image_size, 'min_frames': min_frames,
               'max_frames': max_frames, 'num_views': num_views, 'seed': seed,
               'variation': variation, 'mirror': mirror,
               'version': RENDER_VERSION}
  if time_symmetric:
    generator['time_symmetric'] = True
  for split, count in (('train', num_train), ('val', num_val)):
    if count <= 0:
      continue
    start = time.time()
    num_frames = 0
    with tfrecord_io.ShardedTFRecordWriter(output_dir, dataset_name, split,
                                           min(num_shards, count)) as writer:
      for index in range(count):
        take = render_take([seed, zlib.crc32(split.encode()), index],
                           image_size, min_frames, max_frames, num_views,
                           variation, mirror, time_symmetric)
        views = [[tfrecord_io.encode_jpeg(f, jpeg_quality) for f in view]
                 for view in take['frames']]
        example = tfrecord_io.make_sequence_example(
            '%s_%s_%04d' % (dataset_name, split, index), views[0],
            frame_labels=take['frame_labels'], label=0,
            views=views if num_views > 1 else None)
        writer.write(example.SerializeToString())
        num_frames += len(views[0])
    console.info('Wrote %d %s videos (%d frames) of %s to %s in %.1f s.',
                 count, split, num_frames, dataset_name, output_dir,
                 time.time() - start)
    info = tfrecord_io.update_dataset_info(
        output_dir, dataset_name, split, count, num_frames, NUM_PHASES, fps,
        (image_size, image_size), num_views, extra={'generator': generator})
  return info


FLAGS = flags.FLAGS


def _define_flags():
  flags.DEFINE_string('output_dir', None, 'Where to write the TFRecords '
                      '(default: config.tfrecords_dir(dataset_name)).')
  flags.DEFINE_string('dataset_name', 'synthetic_pouring', 'Dataset name.')
  flags.DEFINE_integer('num_train', 40, 'Training videos.')
  flags.DEFINE_integer('num_val', 20, 'Validation videos.')
  flags.DEFINE_integer('image_size', 64, 'Frame size in pixels.')
  flags.DEFINE_integer('min_frames', 60, 'Shortest video, frames.')
  flags.DEFINE_integer('max_frames', 100, 'Longest video, frames.')
  flags.DEFINE_integer('num_views', 1, 'Synchronized camera views per take.')
  flags.DEFINE_integer('seed', 0, 'Random seed.')
  flags.DEFINE_float('variation', 0.5, 'Appearance variation in [0, 1].')
  flags.DEFINE_bool('mirror', True, 'Mirror half of the videos.')
  flags.DEFINE_float('fps', 20.0, 'Frame rate stored in dataset_info.json.')
  flags.DEFINE_integer('jpeg_quality', 95, 'JPEG quality.')
  flags.DEFINE_integer('num_shards', 1, 'Shards per split.')
  flags.DEFINE_bool('time_symmetric', False, 'Put the container back where '
                    'it was picked up, along the path it came.')


def main(argv):
  del argv
  output_dir = FLAGS.output_dir
  if output_dir is None:
    output_dir = config.tfrecords_dir(FLAGS.dataset_name)
  try:
    info = generate_dataset(
        output_dir, FLAGS.dataset_name, FLAGS.num_train, FLAGS.num_val,
        FLAGS.image_size, FLAGS.min_frames, FLAGS.max_frames, FLAGS.num_views,
        FLAGS.seed, FLAGS.variation, FLAGS.mirror, FLAGS.fps,
        FLAGS.jpeg_quality, FLAGS.num_shards, FLAGS.time_symmetric)
  except ValueError as e:
    raise SystemExit('error: %s' % e) from None
  print('Wrote %s to %s: %s.' % (FLAGS.dataset_name, output_dir, ', '.join(
      '%s %d videos' % (split, counts['num_videos'])
      for split, counts in sorted((info or {}).get('splits', {}).items()))))


if __name__ == '__main__':
  cli.run(main, _define_flags)
