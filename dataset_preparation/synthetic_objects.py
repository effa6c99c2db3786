r"""Synthetic videos of textured objects with ground-truth masks and keypoints.

Each video shows 1..max_objects textured shapes that move, rotate, scale,
deform (a smooth travelling warp) and occlude each other (fixed depth order,
paths that cross) over a textured background that pans and zooms. Written:

- `<output_dir>/<dataset>_<split>-*.tfrecord`: the frames, for training
  (unlabelled: no frame labels);
- `<output_dir>/davis/`: the same videos in the DAVIS layout
  (JPEGImages/480p/<video>/NNNNN.jpg, Annotations/480p/<video>/NNNNN.png
  palette masks with one id per object, ImageSets/2017/{train,val}.txt) and
  keypoint tracks Keypoints/<video>.npz (5 points on object 1: its centre and
  four points half-way to its rim; `visible` is False where occluded or
  outside the frame).

Everything is a function of the seed; no download.

Named test sets (SETS; `--set`, or SYNTHETIC_OBJECTS.SET) change how the
objects are coloured, so that colour alone does not identify them, each with
its own fixed seed:

- `instance`: all objects of a video share one palette, distinct from the
  background's (colour separates objects from background, not objects from
  each other);
- `drift`: every validation frame gets its own colour gain, contrast and
  brightness (the training videos have none);
- `instance_drift`: both (the same videos as `instance`, with drift);
- `camouflage_A` for A in CAMOUFLAGE_LEVELS: each object's palette is
  (1 - A) * its own + A * the background's (1.0: the background's palette).
  The levels share one seed, so they differ only in that blend.

    python -m dataset_preparation.synthetic_objects --output_dir /tmp/objs
    python -m dataset_preparation.synthetic_objects --output_dir /tmp/inst \
        --set instance_drift
"""

from utils import cli  # first: quiets TensorFlow's start-up

import os
import time
import zlib

from absl import flags
from absl import logging
import cv2
import numpy as np

from correspondence import davis_io
from dataset_preparation import tfrecord_io

RENDER_VERSION = 1
DAVIS_SUBDIR = 'davis'
NUM_KEYPOINTS = 5
# Canonical object canvas side (pixels, before scaling into the frame).
_CANVAS = 64
# Colours of an object's and of the background's palette.
OBJECT_COLORS = 3
BACKGROUND_COLORS = 4

CAMOUFLAGE_LEVELS = (0.0, 0.5, 0.8, 1.0)
# The named test sets: a seed and the colouring options of `render_video`
# (fixed when written; never tuned after seeing scores).
SETS = {
    'instance': {'seed': 2901, 'instance': True},
    'instance_drift': {'seed': 2901, 'instance': True, 'drift': True},
    'drift': {'seed': 2902, 'drift': True},
}
SETS.update({'camouflage_%.1f' % alpha: {'seed': 2903, 'camouflage': alpha}
             for alpha in CAMOUFLAGE_LEVELS})
# `instance`: the shared object palette's mean colour is at least this many
# degrees (colours mapped to [-1, 1]) from the background palette's.
INSTANCE_MIN_ANGLE = 30.0
# `drift`: per-frame ranges of the colour gain (per channel), the contrast
# (about mid-grey) and the brightness offset (0..255 scale).
DRIFT_GAIN = (0.75, 1.25)
DRIFT_CONTRAST = (0.7, 1.3)
DRIFT_BRIGHTNESS = (-30.0, 30.0)


def set_options(name):
  """The seed and render options of the named set ('' = none: {}).

  Raises:
    ValueError: an unknown name (the message lists the known ones).
  """
  if not name:
    return {}
  if name not in SETS:
    raise ValueError('SYNTHETIC_OBJECTS.SET: unknown set %r; use one of %s '
                     "or '' (the default objects)." % (name, ', '.join(SETS)))
  return dict(SETS[name])


def _palette(rng, num_colors):
  return rng.uniform(0, 255, size=(num_colors, 3)).astype(np.float32)


def colour_angle(a, b):
  """Degrees between RGB colours (0..255, ...x3) mapped to [-1, 1]."""
  a = np.asarray(a, np.float64) / 127.5 - 1.0
  b = np.asarray(b, np.float64) / 127.5 - 1.0
  cosine = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) *
                              np.linalg.norm(b, axis=-1) + 1e-12)
  return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def _instance_palette(rng, background_palette, max_tries=1000):
  """An object palette whose mean colour is INSTANCE_MIN_ANGLE or more from
  the background palette's."""
  for _ in range(max_tries):
    palette = _palette(rng, OBJECT_COLORS)
    if colour_angle(palette.mean(0), background_palette.mean(0)) >= (
        INSTANCE_MIN_ANGLE):
      return palette
  raise RuntimeError('no palette %g degrees from the background in %d tries'
                     % (INSTANCE_MIN_ANGLE, max_tries))


def _drift(rng, image):
  """One frame's colour gain, contrast and brightness change (float)."""
  gain = rng.uniform(*DRIFT_GAIN, size=3)
  contrast = rng.uniform(*DRIFT_CONTRAST)
  brightness = rng.uniform(*DRIFT_BRIGHTNESS)
  return ((image - 127.5) * contrast + 127.5 + brightness) * gain


def _texture(rng, size, num_colors=3, palette=None):
  """A random smooth colour texture, uint8 [size, size, 3], mixing the
  colours of `palette` (float [num_colors, 3]; None: a random one)."""
  noise = rng.normal(size=(size, size, num_colors)).astype(np.float32)
  sigma = rng.uniform(1.0, 4.0)
  noise = cv2.GaussianBlur(noise, (0, 0), sigma)
  noise = (noise - noise.min()) / (np.ptp(noise) + 1e-6)
  if palette is None:
    palette = _palette(rng, num_colors)
  weights = noise / (noise.sum(-1, keepdims=True) + 1e-6)
  image = weights @ palette
  # Stripes or checks on some textures, so patches are locally distinctive.
  kind = rng.integers(3)
  ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
  if kind == 1:
    angle, period = rng.uniform(0, np.pi), rng.uniform(5, 12)
    wave = np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * 2 * np.pi /
                  period)
    image *= (0.75 + 0.25 * wave)[..., None]
  elif kind == 2:
    period = rng.uniform(6, 14)
    checks = (np.floor(xs / period) + np.floor(ys / period)) % 2
    image *= (0.7 + 0.3 * checks)[..., None]
  return np.clip(image, 0, 255).astype(np.uint8)


def _shape_radii(rng, num_angles=12):
  """Radii (fraction of the canvas half-side) of a random star-like blob."""
  return rng.uniform(0.45, 0.9, size=num_angles)


def _shape_mask(radii):
  """bool [_CANVAS, _CANVAS] filled polygon of the blob."""
  angles = np.linspace(0, 2 * np.pi, len(radii), endpoint=False)
  half = _CANVAS / 2.0
  points = np.stack([half + radii * half * np.cos(angles),
                     half + radii * half * np.sin(angles)], -1)
  mask = np.zeros((_CANVAS, _CANVAS), np.uint8)
  cv2.fillPoly(mask, [np.round(points * 4).astype(np.int32)], 1, shift=2)
  return mask.astype(bool)


def _sample_object(rng, frame_size, num_frames, palette=None):
  """Appearance and motion parameters of one object (its texture's palette:
  `palette`, or a random one when None)."""
  start = rng.uniform(0.2, 0.8, size=2) * frame_size
  end = rng.uniform(0.2, 0.8, size=2) * frame_size
  num_colors = OBJECT_COLORS if palette is None else len(palette)
  return {
      'texture': _texture(rng, _CANVAS, num_colors, palette),
      'mask': _shape_mask(_shape_radii(rng)),
      'start': start,
      'velocity': (end - start) / max(1, num_frames - 1),
      'wobble': rng.uniform(0, 0.04, size=2) * frame_size,
      'wobble_freq': rng.uniform(0.1, 0.4),
      'angle0': rng.uniform(0, 360),
      'spin': rng.uniform(-6, 6),
      'scale0': rng.uniform(0.35, 0.6) * frame_size / _CANVAS,
      'scale_amp': rng.uniform(0.0, 0.2),
      'scale_freq': rng.uniform(0.05, 0.2),
      'warp_amp': rng.uniform(0.0, 3.0),
      'warp_period': rng.uniform(20, 40),
      'warp_speed': rng.uniform(0.1, 0.4),
  }


def _warp_field(obj, t):
  """Canonical displacement (dx, dy) as a function of canonical (x, y)."""
  amp, period, phase = obj['warp_amp'], obj['warp_period'], obj['warp_speed'] * t

  def displacement(xs, ys):
    return (amp * np.sin(2 * np.pi * ys / period + phase),
            amp * np.sin(2 * np.pi * xs / period + 1.3 * phase))
  return displacement


def _object_affine(obj, t):
  """2 x 3 affine from canonical canvas to frame pixels at frame t."""
  center = (obj['start'] + obj['velocity'] * t +
            obj['wobble'] * np.sin(obj['wobble_freq'] * t))
  scale = obj['scale0'] * (1 + obj['scale_amp'] * np.sin(obj['scale_freq'] * t))
  matrix = cv2.getRotationMatrix2D((_CANVAS / 2.0, _CANVAS / 2.0),
                                   obj['angle0'] + obj['spin'] * t, scale)
  matrix[:, 2] += center - np.array([_CANVAS / 2.0, _CANVAS / 2.0])
  return matrix


def _render_object(obj, t, frame_size):
  """(rgb float32 [S, S, 3], mask bool [S, S]) of one object at frame t."""
  ys, xs = np.mgrid[0:_CANVAS, 0:_CANVAS].astype(np.float32)
  dx, dy = _warp_field(obj, t)(xs, ys)
  map_x, map_y = (xs + dx).astype(np.float32), (ys + dy).astype(np.float32)
  texture = cv2.remap(obj['texture'], map_x, map_y, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REFLECT)
  mask = cv2.remap(obj['mask'].astype(np.uint8), map_x, map_y,
                   cv2.INTER_NEAREST, borderValue=0)
  affine = _object_affine(obj, t)
  size = (frame_size, frame_size)
  rgb = cv2.warpAffine(texture, affine, size, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT)
  mask = cv2.warpAffine(mask, affine, size, flags=cv2.INTER_NEAREST,
                        borderValue=0)
  return rgb.astype(np.float32), mask.astype(bool)


def _object_keypoints(obj, t):
  """float [NUM_KEYPOINTS, 2] frame (x, y) of the object's keypoints."""
  half = _CANVAS / 2.0
  angles = np.deg2rad([0, 90, 180, 270])
  canonical = np.concatenate([[[half, half]], np.stack(
      [half + 0.4 * half * np.cos(angles), half + 0.4 * half * np.sin(angles)],
      -1)])
  # The warp maps a rendered point p to the texture at p + d(p); invert it by
  # fixed-point iteration (the displacement is small and smooth).
  displacement = _warp_field(obj, t)
  points = canonical.copy()
  for _ in range(20):
    dx, dy = displacement(points[:, 0], points[:, 1])
    points = canonical - np.stack([dx, dy], -1)
  affine = _object_affine(obj, t)
  return points @ affine[:, :2].T + affine[:, 2]


def _background(rng, frame_size, num_frames, palette=None):
  """Per-frame background crops of a large texture that pans and zooms."""
  big = 2 * frame_size
  texture = _texture(rng, big, BACKGROUND_COLORS, palette).astype(np.float32)
  start = rng.uniform(0, big - frame_size, size=2)
  end = rng.uniform(0, big - frame_size, size=2)
  zoom_amp = rng.uniform(0, 0.15)
  frames = []
  for t in range(num_frames):
    u = t / max(1, num_frames - 1)
    offset = start + (end - start) * u
    zoom = 1 + zoom_amp * np.sin(np.pi * u)
    affine = np.array([[zoom, 0, -offset[0] * zoom],
                       [0, zoom, -offset[1] * zoom]], np.float64)
    frames.append(cv2.warpAffine(texture, affine, (frame_size, frame_size),
                                 flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT))
  return frames


def _palettes(rng, num_objects, instance, camouflage):
  """(object palettes, background palette) of a video; all None (random
  ones drawn with each texture) without instance or camouflage."""
  if instance and camouflage is not None:
    raise ValueError('instance and camouflage do not combine; pick one.')
  if not instance and camouflage is None:
    return [None] * num_objects, None
  background = _palette(rng, BACKGROUND_COLORS)
  if instance:
    return [_instance_palette(rng, background)] * num_objects, background
  return [(1.0 - camouflage) * _palette(rng, BACKGROUND_COLORS) +
          camouflage * background for _ in range(num_objects)], background


def render_video(seed_sequence, frame_size=96, num_frames=24, max_objects=3,
                 instance=False, camouflage=None, drift=False):
  """Renders one video.

  Args:
    seed_sequence: anything `np.random.default_rng` accepts.
    frame_size: frames are [frame_size, frame_size].
    num_frames: T.
    max_objects: 1..max_objects objects.
    instance: all objects share one palette, INSTANCE_MIN_ANGLE or more from
      the background's.
    camouflage: None, or alpha in [0, 1]: each object's palette is
      (1 - alpha) * its own (BACKGROUND_COLORS colours) + alpha * the
      background's. The random draws do not depend on alpha.
    drift: every frame gets its own colour gain, contrast and brightness
      (`_drift`), drawn from a stream of its own, so the video is otherwise
      the one rendered without drift.

  Returns:
    dict: `frames` uint8 [T, S, S, 3]; `masks` uint8 [T, S, S] (object ids
    1..K by depth, back to front; 0 background); `keypoints` float32
    [T, 5, 2] (x, y) on object 1; `visible` bool [T, 5];
    `object_palettes` (one float [colours, 3] per object) and
    `background_palette`, None where drawn with the texture (the default).
  """
  if camouflage is not None and not 0.0 <= camouflage <= 1.0:
    raise ValueError('camouflage must be in [0, 1], not %r.' % camouflage)
  rng = np.random.default_rng(seed_sequence)
  drift_rng = np.random.default_rng(
      np.random.SeedSequence(seed_sequence).spawn(1)[0])
  num_objects = int(rng.integers(1, max_objects + 1))
  object_palettes, background_palette = _palettes(rng, num_objects, instance,
                                                  camouflage)
  objects = [_sample_object(rng, frame_size, num_frames, palette)
             for palette in object_palettes]
  backgrounds = _background(rng, frame_size, num_frames, background_palette)
  noise_level = rng.uniform(0, 4)
  frames, masks, keypoints, visible = [], [], [], []
  for t in range(num_frames):
    image = backgrounds[t].copy()
    ids = np.zeros((frame_size, frame_size), np.uint8)
    for index, obj in enumerate(objects):
      rgb, mask = _render_object(obj, t, frame_size)
      image[mask] = rgb[mask]
      ids[mask] = index + 1
    image += rng.normal(scale=noise_level, size=image.shape)
    if drift:
      image = _drift(drift_rng, image)
    points = _object_keypoints(objects[0], t)
    inside = np.all((points >= 0) & (points <= frame_size - 1), axis=1)
    rounded = np.clip(np.round(points).astype(int), 0, frame_size - 1)
    on_top = ids[rounded[:, 1], rounded[:, 0]] == 1
    frames.append(np.clip(image, 0, 255).astype(np.uint8))
    masks.append(ids)
    keypoints.append(points.astype(np.float32))
    visible.append(inside & on_top)
  return {'frames': np.stack(frames), 'masks': np.stack(masks),
          'keypoints': np.stack(keypoints), 'visible': np.stack(visible),
          'object_palettes': object_palettes,
          'background_palette': background_palette}


def generator_params(num_train, num_val, frame_size, num_frames, max_objects,
                     seed, set_name=''):
  """The parameters recorded in dataset_info.json (regenerate on change);
  a named set (SETS) also records its name and options, its seed replacing
  `seed`."""
  options = set_options(set_name)
  params = {'num_train': int(num_train), 'num_val': int(num_val),
            'frame_size': int(frame_size), 'num_frames': int(num_frames),
            'max_objects': int(max_objects),
            'seed': int(options.pop('seed', seed)),
            'version': RENDER_VERSION}
  if set_name:
    params.update(set=set_name, **options)
  return params


def generate_dataset(output_dir, dataset_name='synthetic_objects',
                     num_train=40, num_val=8, frame_size=96, num_frames=24,
                     max_objects=3, seed=0, jpeg_quality=95, fps=24.0,
                     set_name=''):
  """Writes TFRecords (train, val) and the DAVIS copy under output_dir/davis.

  Video i of a split is rendered from (seed, crc32(split), i); a named set
  (`set_name`, one of SETS) uses its own seed and options, drift in the
  validation videos only.

  Returns:
    The dataset_info dict.
  """
  davis_root = os.path.join(output_dir, DAVIS_SUBDIR)
  params = generator_params(num_train, num_val, frame_size, num_frames,
                            max_objects, seed, set_name)
  options = set_options(set_name)
  options.pop('seed', None)
  drift = options.pop('drift', False)
  info = None
  for split, count in (('train', num_train), ('val', num_val)):
    if count <= 0:
      continue
    start = time.time()
    names = []
    with tfrecord_io.ShardedTFRecordWriter(output_dir, dataset_name,
                                           split) as writer:
      for index in range(count):
        name = '%s_%s_%04d' % (dataset_name, split, index)
        video = render_video(
            [params['seed'], zlib.crc32(split.encode()), index], frame_size,
            num_frames, max_objects, drift=drift and split == 'val',
            **options)
        jpegs = [tfrecord_io.encode_jpeg(f, jpeg_quality)
                 for f in video['frames']]
        writer.write(tfrecord_io.make_sequence_example(
            name, jpegs).SerializeToString())
        write_davis_video(davis_root, name, video, jpeg_quality)
        names.append(name)
    davis_io.write_sequence_list(davis_root, split, names)
    logging.info('Wrote %d %s videos of %s to %s in %.1f s.', count, split,
                 dataset_name, output_dir, time.time() - start)
    info = tfrecord_io.update_dataset_info(
        output_dir, dataset_name, split, count, count * num_frames, 0, fps,
        (frame_size, frame_size), extra={'generator': params})
  return info


def write_davis_video(davis_root, name, video, jpeg_quality=95):
  """Writes one rendered video into the DAVIS layout (frames, masks,
  keypoints)."""
  for t, (frame, mask) in enumerate(zip(video['frames'], video['masks'])):
    davis_io.write_jpeg(os.path.join(
        davis_root, 'JPEGImages', davis_io.RESOLUTION, name, '%05d.jpg' % t),
                        frame, jpeg_quality)
    davis_io.write_palette_png(os.path.join(
        davis_root, 'Annotations', davis_io.RESOLUTION, name, '%05d.png' % t),
                               mask)
  davis_io.write_keypoints(davis_root, name, video['keypoints'],
                           video['visible'])


def ensure_generated(output_dir, dataset_name, **kwargs):
  """Generates the dataset unless output_dir holds it with these params.

  Returns:
    output_dir.
  """
  params = generator_params(**kwargs)
  stored = tfrecord_io.read_dataset_info(output_dir).get('generator')
  davis_root = os.path.join(output_dir, DAVIS_SUBDIR)
  lists_exist = all(os.path.isfile(os.path.join(
      davis_root, 'ImageSets', '2017', s + '.txt')) for s in ('train', 'val'))
  if stored == params and lists_exist:
    return output_dir
  logging.info('Generating the synthetic objects dataset %r in %s (%s).',
               dataset_name, output_dir,
               ', '.join('%s=%s' % kv for kv in params.items()))
  generate_dataset(output_dir, dataset_name, **kwargs)
  return output_dir


FLAGS = flags.FLAGS


def _define_flags():
  flags.DEFINE_string('output_dir', None, 'Where to write the TFRecords and '
                      'the DAVIS copy (<output_dir>/davis).')
  flags.DEFINE_string('dataset_name', 'synthetic_objects', 'File prefix.')
  flags.DEFINE_integer('num_train', 40, 'Training videos.')
  flags.DEFINE_integer('num_val', 8, 'Validation videos.')
  flags.DEFINE_integer('frame_size', 96, 'Frame side in pixels.')
  flags.DEFINE_integer('num_frames', 24, 'Frames per video.')
  flags.DEFINE_integer('max_objects', 3, 'Objects per video: 1..this.')
  flags.DEFINE_integer('seed', 0, 'Random seed (a named --set has its own).')
  flags.DEFINE_enum('set', '', [''] + list(SETS), 'A named test set (SETS); '
                    "'' = the default objects.")
  flags.mark_flag_as_required('output_dir')


def main(argv):
  del argv
  start = time.time()
  info = generate_dataset(FLAGS.output_dir, FLAGS.dataset_name,
                          FLAGS.num_train, FLAGS.num_val, FLAGS.frame_size,
                          FLAGS.num_frames, FLAGS.max_objects, FLAGS.seed,
                          set_name=FLAGS.set)
  print('Wrote %s (%s) and its DAVIS copy %s in %.1f s.' % (
      FLAGS.output_dir, ', '.join('%s: %d videos' % (s, v['num_videos'])
                                  for s, v in info['splits'].items()),
      os.path.join(FLAGS.output_dir, DAVIS_SUBDIR), time.time() - start))


if __name__ == '__main__':
  cli.run(main, _define_flags)
