"""The named synthetic-object test sets (dataset_preparation/synthetic_objects
SETS): properties of the generated data, at tiny sizes."""

import os

import numpy as np
import pytest

import config
from correspondence import davis_io
from dataset_preparation import synthetic_objects

SMALL = {'frame_size': 32, 'num_frames': 4, 'max_objects': 3}


def _render(set_name, seed_sequence, drift=None):
  options = synthetic_objects.set_options(set_name)
  options.pop('seed')
  if drift is not None:
    options['drift'] = drift
  return synthetic_objects.render_video(seed_sequence, **SMALL, **options)


def _multi_object_seeds(set_name, count=3):
  """Seed sequences whose videos have two or more objects."""
  found = [[9, i] for i in range(40)
           if len(_render(set_name, [9, i])['object_palettes']) > 1]
  assert len(found) >= count
  return found[:count]


def test_default_videos_draw_their_palettes_with_the_textures():
  video = synthetic_objects.render_video([4, 2], **SMALL)
  assert video['background_palette'] is None
  assert all(p is None for p in video['object_palettes'])


def test_instance_objects_share_one_palette_far_from_the_background():
  for seeds in _multi_object_seeds('instance'):
    video = _render('instance', seeds)
    first, *others = video['object_palettes']
    for palette in others:
      np.testing.assert_array_equal(palette, first)
    assert synthetic_objects.colour_angle(
        first.mean(0), video['background_palette'].mean(0)) >= (
            synthetic_objects.INSTANCE_MIN_ANGLE)


def test_default_objects_have_palettes_of_their_own():
  # What `instance` changes: without it, objects differ in colour.
  video = _render('camouflage_0.0', _multi_object_seeds('camouflage_0.0')[0])
  first, second = video['object_palettes'][:2]
  assert np.abs(first - second).max() > 1.0


def test_texture_takes_its_colours_from_the_palette():
  rng = np.random.default_rng(3)
  colour = np.array([200.0, 100.0, 50.0], np.float32)
  texture = synthetic_objects._texture(rng, 32, 3, np.stack([colour] * 3))
  pixels = texture.reshape(-1, 3).astype(np.float64)
  # Stripes and checks only scale a colour: every pixel is a multiple of it.
  ratios = pixels / colour
  assert np.ptp(ratios, axis=1).max() < 0.03
  assert ratios.min() > 0.6


def test_camouflage_blends_each_palette_into_the_background():
  seeds = _multi_object_seeds('camouflage_0.0')[0]
  levels = {a: _render('camouflage_%.1f' % a, seeds)
            for a in synthetic_objects.CAMOUFLAGE_LEVELS}
  background = levels[0.0]['background_palette']
  for alpha, video in levels.items():
    np.testing.assert_array_equal(video['background_palette'], background)
    # The draws do not depend on alpha: the same shapes and motion.
    np.testing.assert_array_equal(video['masks'], levels[0.0]['masks'])
    for own, palette in zip(levels[0.0]['object_palettes'],
                            video['object_palettes']):
      np.testing.assert_allclose(
          palette, (1 - alpha) * own + alpha * background, atol=1e-3)
  for palette in levels[1.0]['object_palettes']:
    np.testing.assert_allclose(palette, background, atol=1e-3)


def _nearest_background_distance(video):
  """Median RGB distance from an object pixel of frame 0 to the nearest
  background pixel's colour."""
  frame, mask = video['frames'][0].astype(float), video['masks'][0]
  objects, background = frame[mask > 0], frame[mask == 0]
  distances = np.linalg.norm(objects[:, None] - background[None], axis=-1)
  return np.median(distances.min(1))


def test_camouflage_objects_take_the_background_colours():
  # The palettes are not the pixels: the rendered objects' colours come
  # close to some background colour as alpha goes to 1.
  seeds = _multi_object_seeds('camouflage_0.0')
  distance = {a: sum(_nearest_background_distance(
      _render('camouflage_%.1f' % a, s)) for s in seeds) for a in (0.0, 1.0)}
  assert distance[1.0] < 0.5 * distance[0.0]


def test_drift_changes_every_frame_and_nothing_else():
  still = _render('instance', [5, 1], drift=False)
  drifted = _render('instance', [5, 1], drift=True)
  for key in ('masks', 'keypoints', 'visible'):
    np.testing.assert_array_equal(drifted[key], still[key])
  means = lambda v: v['frames'].reshape(SMALL['num_frames'], -1, 3).mean(1)
  change = np.abs(means(drifted) - means(still)).max(1)
  assert (change > 1.0).all()


def test_generated_set_has_drift_in_validation_videos_only(tmp_path):
  out = {}
  for name in ('instance', 'instance_drift'):
    out[name] = str(tmp_path / name)
    synthetic_objects.generate_dataset(out[name], 'synthetic_objects',
                                       num_train=2, num_val=2,
                                       set_name=name, **SMALL)
  roots = {n: os.path.join(d, synthetic_objects.DAVIS_SUBDIR)
           for n, d in out.items()}
  for split, same in (('train', True), ('val', False)):
    for video in davis_io.list_sequences(roots['instance'], split):
      a = davis_io.read_frames(roots['instance'], video).astype(int)
      b = davis_io.read_frames(roots['instance_drift'], video).astype(int)
      # JPEG noise aside, the training frames are the same.
      assert (np.abs(a - b).mean() < 1.0) == same, (split, video)
      np.testing.assert_array_equal(
          davis_io.read_annotations(roots['instance'], video),
          davis_io.read_annotations(roots['instance_drift'], video))


def test_sets_have_their_own_seeds_and_folders():
  default = synthetic_objects.generator_params(2, 2, seed=0, **SMALL)
  params = synthetic_objects.generator_params(2, 2, seed=0,
                                              set_name='camouflage_0.5',
                                              **SMALL)
  assert 'set' not in default
  assert params['set'] == 'camouflage_0.5' and params['camouflage'] == 0.5
  assert params['seed'] == synthetic_objects.SETS['camouflage_0.5']['seed']
  assert params['seed'] != default['seed']
  cfg = config.build_config([], ['PATH_TO_TFRECORDS=/data/%s_tf'])
  assert config.tfrecords_dir('synthetic_objects', cfg) == (
      '/data/synthetic_objects_tf')
  cfg = config.build_config([], ['PATH_TO_TFRECORDS=/data/%s_tf',
                                'SYNTHETIC_OBJECTS.SET=instance_drift'])
  assert config.tfrecords_dir('synthetic_objects', cfg) == (
      '/data/synthetic_objects-instance_drift_tf')
  assert config.tfrecords_dir('pouring', cfg) == '/data/pouring_tf'


def test_unknown_set_is_one_clear_line():
  with pytest.raises(ValueError, match='SYNTHETIC_OBJECTS.SET.*instance'):
    synthetic_objects.set_options('instanse')


def test_patch_features_are_the_cells_pixels():
  from experiments import correspondence_sets
  rng = np.random.default_rng(0)
  frames = rng.integers(0, 256, size=(2, 13, 10, 3)).astype(np.uint8)
  feats = correspondence_sets.patch_features(frames, size=4)
  assert feats.shape == (2, 4, 3, 48)
  scaled = frames.astype(np.float32) / 127.5 - 1.0
  for t in range(2):
    for i in range(4):
      for j in range(3):
        cell = np.zeros((4, 4, 3), np.float32)
        block = scaled[t, 4 * i:4 * i + 4, 4 * j:4 * j + 4]
        cell[:block.shape[0], :block.shape[1]] = block
        np.testing.assert_allclose(feats[t, i, j], cell.ravel(), atol=1e-6)


def test_nearest_colour_labels_match_a_loop():
  from experiments import correspondence_sets
  rng = np.random.default_rng(1)
  frames = rng.integers(0, 256, size=(3, 8, 12, 3)).astype(np.uint8)
  masks = np.zeros((3, 8, 12), np.uint8)
  masks[:, :4, :8] = 1
  masks[1, 5, 5] = 2  # one impure cell in frame 1
  true, predicted = correspondence_sets.nearest_colour_labels(frames, masks,
                                                              size=4)
  cells = [(i, j) for i in range(2) for j in range(3)]
  mean = lambda t, i, j: frames[t, 4 * i:4 * i + 4, 4 * j:4 * j + 4].reshape(
      -1, 3).astype(float).mean(0) / 127.5 - 1.0
  pure = lambda t, i, j: len(np.unique(
      masks[t, 4 * i:4 * i + 4, 4 * j:4 * j + 4])) == 1
  label = lambda t, i, j: masks[t, 4 * i, 4 * j]
  reference = [(mean(0, i, j), label(0, i, j)) for i, j in cells]
  expected_true, expected_predicted = [], []
  for t in (1, 2):
    for i, j in cells:
      if not pure(t, i, j):
        continue
      query = mean(t, i, j)
      cosines = [q @ query / np.linalg.norm(q) / np.linalg.norm(query)
                 for q, _ in reference]
      expected_true.append(label(t, i, j))
      expected_predicted.append(reference[int(np.argmax(cosines))][1])
  assert len(expected_true) == 11
  np.testing.assert_array_equal(true, expected_true)
  np.testing.assert_array_equal(predicted, expected_predicted)
