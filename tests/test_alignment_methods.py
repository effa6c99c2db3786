"""Tests of the LAV / SCL / GTA algorithms, SCL's two-view batches, CARL's
Transformer embedder (and TCC's trivial solution with positions), the
retrieval and progress_error tasks, and the training protocol record."""

import itertools
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import algos
from data import sampling
import datasets
import models
from runners import evaluation as eval_runner
from config import CONFIG
from evaluation import progress_error
from evaluation import retrieval_precision
from seqalign import gta
from seqalign import lav
from seqalign import scl
from tcc.alignment import compute_alignment_loss

SIZE = 16


@pytest.fixture(autouse=True)
def tiny(fresh_config):
  fresh_config.IMAGE_SIZE = SIZE
  fresh_config.TRAIN.NUM_FRAMES = 5
  fresh_config.DATA.NUM_STEPS = 1
  fresh_config.MODEL.BASE_MODEL.SMALL_CNN_FILTERS = [8]
  fresh_config.MODEL.CONV_EMBEDDER_MODEL.CONV_LAYERS = [[8, 3, True]]
  fresh_config.MODEL.CONV_EMBEDDER_MODEL.FC_LAYERS = [[8, True]]
  fresh_config.MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE = 6
  fresh_config.MODEL.TRANSFORMER_EMBEDDER_MODEL.FC_LAYERS = [[8, True]]
  fresh_config.MODEL.TRANSFORMER_EMBEDDER_MODEL.HIDDEN_SIZE = 8
  fresh_config.MODEL.TRANSFORMER_EMBEDDER_MODEL.NUM_HEADS = 2
  fresh_config.MODEL.TRANSFORMER_EMBEDDER_MODEL.D_FF = 8
  fresh_config.MODEL.TRANSFORMER_EMBEDDER_MODEL.EMBEDDING_SIZE = 6
  fresh_config.MODEL.TRANSFORMER_EMBEDDER_MODEL.DROPOUT_RATE = 0.0
  keras.utils.set_random_seed(0)


# ---------------------------------------------------------------------------
# Algorithms: the right library call on the right inputs.
# ---------------------------------------------------------------------------
def _random_batch_inputs(num_videos, num_steps, dim=6, seed=0):
  rng = np.random.RandomState(seed)
  embs = rng.randn(num_videos, num_steps, dim).astype(np.float32)
  steps = np.sort(rng.choice(60, (num_videos, num_steps)), axis=1)
  seq_lens = rng.randint(60, 80, num_videos)
  return embs, steps.astype(np.int32), seq_lens.astype(np.int32)


def test_lav_algorithm_averages_every_pair_of_normalised_videos():
  CONFIG.LAV.WINDOW = 3
  embs, steps, seq_lens = _random_batch_inputs(4, 5)
  unit = embs / np.linalg.norm(embs, axis=-1, keepdims=True)
  expected = np.mean([lav.lav_loss(
      unit[i:i + 1], unit[j:j + 1], steps[i:i + 1], steps[j:j + 1],
      seq_lens[i:i + 1], seq_lens[j:j + 1], 0.1, 0.5, 3, 2.0).numpy()
                      for i, j in itertools.combinations(range(4), 2)])
  got = algos.lav.lav_loss(tf.constant(embs), steps, seq_lens).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_gta_algorithm_pairs_the_first_video_with_each_other():
  embs, _, _ = _random_batch_inputs(3, 5)
  unit = embs / np.linalg.norm(embs, axis=-1, keepdims=True)
  per_pair = [gta.gta_loss(unit[:1], unit[j:j + 1]) for j in (1, 2)]
  loss, cycle_loss, alignment_cost = algos.gta.gta_losses(tf.constant(embs))
  np.testing.assert_allclose(loss.numpy(), np.mean(
      [p[0].numpy() for p in per_pair]), rtol=1e-5)
  np.testing.assert_allclose(cycle_loss.numpy(), np.mean(
      [p[1].numpy() for p in per_pair]), rtol=1e-5)
  np.testing.assert_allclose(alignment_cost.numpy(), np.mean(
      [p[2].numpy() for p in per_pair]), rtol=1e-5)


def test_scl_algorithm_splits_the_two_views():
  embs, steps, seq_lens = _random_batch_inputs(2, 8)
  expected = scl.scl_loss(embs[:, :4], embs[:, 4:], steps[:, :4],
                          steps[:, 4:], seq_lens, seq_lens, 0.1, 10.0)
  got = algos.scl.scl_loss(tf.constant(embs), steps, seq_lens)
  np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)
  assert algos.num_steps_per_batch('scl') == 2 * CONFIG.TRAIN.NUM_FRAMES


# ---------------------------------------------------------------------------
# SCL's batches: two views, each its own temporal crop and augmentation.
# ---------------------------------------------------------------------------
def test_temporal_crop_steps_sorted_distinct_inside_one_crop():
  tf.random.set_seed(0)
  spans = []
  for _ in range(40):
    steps = sampling.temporal_crop_steps(tf.constant(50), 8, 0.5).numpy()
    assert np.all(np.diff(steps) > 0) and steps.min() >= 0 and steps.max() < 50
    spans.append(steps.max() - steps.min())
  # The crops differ in length (hence rate) and start.
  assert max(spans) - min(spans) >= 10
  short = sampling.temporal_crop_steps(tf.constant(4), 6, 0.5).numpy()
  assert len(short) == 6 and np.all(np.diff(short) >= 0) and short.max() < 4


def _write_gray_video(path, num_frames):
  """Frame t is a uniform gray of level 4 t (readable back after JPEG)."""
  with tf.io.TFRecordWriter(path) as writer:
    example = tf.train.SequenceExample()
    example.context.feature['name'].bytes_list.value.append(b'gray')
    example.context.feature['len'].int64_list.value.append(num_frames)
    video = example.feature_lists.feature_list['video']
    labels = example.feature_lists.feature_list['frame_labels']
    for t in range(num_frames):
      frame = np.full((SIZE, SIZE, 3), 4 * t, np.uint8)
      video.feature.add().bytes_list.value.append(
          tf.io.encode_jpeg(frame, quality=100).numpy())
      labels.feature.add().int64_list.value.append(t // 20)
    writer.write(example.SerializeToString())


def test_scl_batches_hold_two_views_of_one_video(tmp_path):
  os.makedirs(tmp_path / 'gray')
  _write_gray_video(str(tmp_path / 'gray' / 'gray_train-00000-of-00001'), 60)
  CONFIG.PATH_TO_TFRECORDS = str(tmp_path / '%s')
  CONFIG.DATASETS = ['gray']
  CONFIG.TRAIN.BATCH_SIZE = CONFIG.EVAL.BATCH_SIZE = 2
  CONFIG.EVAL.NUM_FRAMES = 5
  spec = algos.get_batch_spec('scl')
  batch = next(iter(datasets.create_dataset('train', 'eval', spec)))
  steps = batch['steps'].numpy()
  assert steps.shape == (2, 10) and batch['frames'].shape[1] == 10
  for video_steps in steps:
    first, second = video_steps[:5], video_steps[5:]
    assert np.all(np.diff(first) > 0) and np.all(np.diff(second) > 0)
  assert any(not np.array_equal(s[:5], s[5:]) for s in steps)
  # Each frame is the frame its step names, labels too.
  gray = (batch['frames'].numpy().mean(axis=(2, 3, 4)) + 1) / 2 * 255
  np.testing.assert_allclose(gray, 4 * steps, atol=2)
  np.testing.assert_array_equal(batch['frame_labels'].numpy(), steps // 20)
  # Training mode: the two views get their own augmentation.
  CONFIG.AUGMENTATION.RANDOM_CROP = False
  CONFIG.AUGMENTATION.CONTRAST = False
  CONFIG.AUGMENTATION.BRIGHTNESS_MAX_DELTA = 0.3
  tf.random.set_seed(1)
  batch = next(iter(datasets.create_dataset('train', 'train', spec)))
  shift = ((batch['frames'].numpy().mean(axis=(2, 3, 4)) + 1) / 2 * 255 -
           4 * batch['steps'].numpy())
  view_shift = np.stack([shift[:, :5].mean(1), shift[:, 5:].mean(1)], 1)
  assert np.abs(view_shift[:, 0] - view_shift[:, 1]).max() > 3


# ---------------------------------------------------------------------------
# CARL's Transformer embedder.
# ---------------------------------------------------------------------------
def test_transformer_embeds_each_view_as_its_own_sequence():
  CONFIG.MODEL.EMBEDDER_TYPE = 'transformer'
  algo = algos.get_algo('scl')
  algo.build_all()
  rng = np.random.RandomState(0)
  frames = rng.uniform(-1, 1, [2, 10, SIZE, SIZE, 3]).astype(np.float32)
  embs = algo.embed(frames, training=False).numpy()
  assert embs.shape == (2, 10, 6)
  # Changing view 0 of a video changes neither its view 1 nor other videos.
  changed = frames.copy()
  changed[0, :5] = rng.uniform(-1, 1, [5, SIZE, SIZE, 3])
  embs_changed = algo.embed(changed, training=False).numpy()
  np.testing.assert_allclose(embs_changed[0, 5:], embs[0, 5:], atol=1e-5)
  np.testing.assert_allclose(embs_changed[1], embs[1], atol=1e-5)
  assert np.abs(embs_changed[0, :5] - embs[0, :5]).max() > 1e-3
  config = algo.embedder.get_config()
  assert config['positional_encoding'] and config['train_length'] == 5
  # A whole video is embedded as one sequence.
  algo = algos.get_algo('alignment')
  algo.build_all()
  video = rng.uniform(-1, 1, [7, SIZE, SIZE, 3]).astype(np.float32)
  np.testing.assert_allclose(
      algo.embed_video(video), algo.embed(video[None], False)[0].numpy(),
      rtol=1e-4, atol=1e-5)


def _train_on_content_free_frames(positional_encoding, loss_name, steps=25,
                                  compiled=True):
  """Trains a tiny Transformer on all-zero features.

  Returns:
    (first loss, mean of the last 5 losses).
  """
  keras.utils.set_random_seed(0)
  embedder = models.TransformerEmbedder(
      fc_layers=[], hidden_size=16, num_layers=1, num_heads=2, d_ff=32,
      embedding_size=8, train_length=8, dropout_rate=0.0,
      positional_encoding=positional_encoding, l2_normalize=False)
  optimizer = keras.optimizers.Adam(3e-2)
  features = tf.zeros([2, 8, 1, 1, 1, 4])

  def step(frame_steps):
    with tf.GradientTape() as tape:
      embs = embedder(features, training=True)
      if loss_name == 'tcc':
        loss = compute_alignment_loss(embs, 2, loss_type='classification',
                                      similarity_type='l2', temperature=0.1,
                                      label_smoothing=0.0)
      else:
        loss = scl.scl_loss(embs[:1], embs[1:], frame_steps[:1],
                            frame_steps[1:], [40], [40])
    grads = tape.gradient(loss, embedder.trainable_variables)
    optimizer.apply_gradients(zip(grads, embedder.trainable_variables))
    return loss

  if compiled:
    step = tf.function(step)
  rng = np.random.RandomState(0)
  losses = []
  for _ in range(steps):
    frame_steps = np.stack([np.sort(rng.choice(np.arange(s, s + 24), 8, False))
                            for s in rng.randint(0, 16, 2)])
    losses.append(float(step(tf.constant(frame_steps, tf.int32))))
  return losses[0], np.mean(losses[-5:])


def test_positions_alone_solve_tcc_but_not_scl():
  # The TCC authors' warning: an encoder that can read frame positions gives
  # TCC a trivial solution. On content-free inputs (all frames identical),
  # positional encoding alone drives the TCC loss to ~0 ...
  first, last = _train_on_content_free_frames(True, 'tcc')
  assert first > 0.5 and last < 1e-3
  # ... without it the embeddings cannot differ and TCC stays at log(8).
  first, last = _train_on_content_free_frames(False, 'tcc', 5, False)
  np.testing.assert_allclose([first, last], np.log(8), rtol=1e-5)
  # SCL's target depends on each view's random crop, which positions do not
  # reveal: it stays far from 0.
  _, last = _train_on_content_free_frames(True, 'scl')
  assert last > 0.3


# ---------------------------------------------------------------------------
# Evaluation tasks.
# ---------------------------------------------------------------------------
def np_retrieval(embs, labels, k, stride):
  precisions = []
  for i in range(len(embs)):
    candidates = [(j, t) for j in range(len(embs)) if j != i
                  for t in range(0, len(embs[j]), stride)]
    hits = []
    for q in range(0, len(embs[i]), stride):
      dist = [np.sum((embs[i][q] - embs[j][t]) ** 2) for j, t in candidates]
      order = sorted(range(len(candidates)), key=lambda c: (dist[c], c))[:k]
      hits.append(np.mean([labels[candidates[c][0]][candidates[c][1]] ==
                           labels[i][q] for c in order]))
    precisions.append(np.mean(hits))
  return np.mean(precisions)


@pytest.mark.parametrize('k,stride', [(1, 1), (5, 1), (10, 2)])
def test_retrieval_precision_matches_reference(k, stride):
  rng = np.random.RandomState(k)
  embs = [rng.randn(n, 3) for n in (9, 12, 7, 10)]
  labels = [rng.randint(0, 3, len(e)) for e in embs]
  np.testing.assert_allclose(retrieval_precision(embs, labels, k, stride),
                             np_retrieval(embs, labels, k, stride), rtol=1e-12)


def test_retrieval_is_one_for_phase_clusters_and_excludes_own_video():
  labels = [np.repeat([0, 1, 2], 4) for _ in range(3)]
  embs = [np.eye(3)[l] * 10 + 0.01 * np.random.RandomState(v).randn(12, 3)
          for v, l in enumerate(labels)]
  assert retrieval_precision(embs, labels, 8) == 1.0
  # Only the own video would match: precision 0 since it is excluded.
  own = [np.full((4, 1), 100.0 * v) for v in range(3)]
  assert retrieval_precision(own, [np.full(4, v) for v in range(3)], 2) == 0.0


def test_progress_error_matches_least_squares_reference():
  rng = np.random.RandomState(0)
  train = [rng.randn(n, 3) for n in (10, 14, 9)]
  val = [rng.randn(n, 3) for n in (8, 11)]
  design = np.concatenate([np.concatenate(train), np.ones((33, 1))], 1)
  targets = np.concatenate([np.arange(n) / (n - 1) for n in (10, 14, 9)])
  weights = np.linalg.lstsq(design, targets, rcond=None)[0]
  expected = np.mean([np.mean(np.abs(np.clip(
      np.concatenate([e, np.ones((len(e), 1))], 1) @ weights, 0, 1) -
                                      np.arange(len(e)) / (len(e) - 1)))
                      for e in val])
  np.testing.assert_allclose(progress_error(train, val), expected, rtol=1e-9)
  # Embeddings that hold the progress give no error.
  exact = [np.arange(n)[:, None] / (n - 1) for n in (5, 9)]
  assert progress_error(exact, exact) < 1e-12


# ---------------------------------------------------------------------------
# Training protocol.
# ---------------------------------------------------------------------------
def test_training_protocol_record():
  CONFIG.DATASETS = ['pouring']
  assert eval_runner.training_protocol() == 'single dataset: pouring'
  CONFIG.DATASETS = ['golf_swing']
  CONFIG.DATA.PROTOCOL = 'per_class'
  assert eval_runner.training_protocol() == 'per_class: golf_swing'
  CONFIG.DATASETS = ['golf_swing', 'squat']
  with pytest.raises(ValueError, match='one model per class'):
    eval_runner.training_protocol()
  CONFIG.DATA.PROTOCOL = 'all_classes'
  assert eval_runner.training_protocol() == 'all_classes: golf_swing, squat'
  CONFIG.DATA.PROTOCOL = 'per_video'
  with pytest.raises(ValueError, match='DATA.PROTOCOL'):
    eval_runner.training_protocol()


# ---------------------------------------------------------------------------
# Time-symmetric synthetic takes.
# ---------------------------------------------------------------------------
def _container_path(time_symmetric):
  from dataset_preparation import synthetic  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng([3, 1, 4])
  look = synthetic._sample_appearance(rng, 0.5, 64)  # pylint: disable=protected-access
  labels, state = synthetic._trajectory(rng, 90, look, time_symmetric)  # pylint: disable=protected-access
  return labels, np.stack([state['x'], state['y']], 1), look


@pytest.mark.parametrize('time_symmetric', [False, True])
def test_time_symmetric_take_retraces_its_path(time_symmetric):
  labels, path, look = _container_path(time_symmetric)
  outbound, back = path[labels <= 1], path[labels == 4]
  # Distance of every point of the way back to the way out.
  gap = np.min(np.linalg.norm(back[:, None] - outbound[None], axis=-1), 1)
  ends_where_it_began = abs(path[-1, 0] - look['start_x']) < 1e-9
  if time_symmetric:
    assert ends_where_it_began and gap.max() < 0.03
  else:
    assert not ends_where_it_began and gap.max() > 0.05


def test_time_symmetric_key_reaches_the_generator(tmp_path):
  from dataset_preparation import generate  # pylint: disable=g-import-not-at-top
  from dataset_preparation import synthetic  # pylint: disable=g-import-not-at-top
  assert 'time_symmetric' not in generate.synthetic_params(CONFIG)
  CONFIG.SYNTHETIC.TIME_SYMMETRIC = True
  assert generate.synthetic_params(CONFIG)['time_symmetric']
  info = synthetic.generate_dataset(str(tmp_path), 'sym', 1, 0, 16, 12, 12,
                                    time_symmetric=True)
  assert info['generator']['time_symmetric'] is True
