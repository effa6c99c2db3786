"""Synthetic moving objects, clip batches, FCResNet18, and crw / timecycle
trained by train.py and scored by the label_propagation task (tiny sizes)."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

import config
from config import CONFIG
from correspondence import davis_io
from correspondence import resnet
from data import sampling
import datasets
from dataset_preparation import generate
from dataset_preparation import synthetic_objects
import evaluation
from evaluation.base import EvalContext



def test_render_video_is_deterministic_and_consistent():
  video = synthetic_objects.render_video([3, 1], frame_size=32, num_frames=5,
                                         max_objects=3)
  again = synthetic_objects.render_video([3, 1], frame_size=32, num_frames=5,
                                         max_objects=3)
  np.testing.assert_array_equal(video['frames'], again['frames'])
  assert video['frames'].shape == (5, 32, 32, 3)
  assert video['masks'].shape == (5, 32, 32)
  assert video['keypoints'].shape == (5, 5, 2)
  assert 1 in video['masks'][0]
  # A visible keypoint lies on object 1 (the top-most object there).
  for t in range(5):
    for (x, y), vis in zip(video['keypoints'][t], video['visible'][t]):
      if vis:
        assert video['masks'][t, int(round(y)), int(round(x))] == 1


def test_generate_writes_davis_layout_and_tfrecords(tmp_path):
  out = str(tmp_path / 'objs')
  synthetic_objects.generate_dataset(out, 'synthetic_objects', num_train=2,
                                     num_val=1, frame_size=32, num_frames=4)
  root = os.path.join(out, 'davis')
  assert davis_io.list_sequences(root, 'val') == ['synthetic_objects_val_0000']
  name = davis_io.list_sequences(root, 'train')[1]
  frames = davis_io.read_frames(root, name)
  masks = davis_io.read_annotations(root, name)
  assert frames.shape == (4, 32, 32, 3) and masks.shape == (4, 32, 32)
  coords, visible = davis_io.read_keypoints(root, name)
  assert coords.shape == (4, 5, 2) and visible.dtype == bool
  videos = datasets.load_videos(sorted(glob.glob(os.path.join(
      out, 'synthetic_objects_train-*.tfrecord'))))
  assert [v['name'] for v in videos] == davis_io.list_sequences(root, 'train')
  # The same frames (up to JPEG): the TFRecords are the DAVIS videos.
  assert np.abs(videos[1]['frames'].astype(int) - frames.astype(int)).mean() < 3


def test_fc_resnet18_stride_8_and_stages():
  model = resnet.FCResNet18(width=4)
  feats = model(tf.zeros([1, 40, 24, 3]))
  assert feats.shape == (1, 5, 3, 32)
  assert model(tf.zeros([1, 40, 24, 3]), num_stages=3).shape == (1, 5, 3, 16)
  clone = resnet.FCResNet18.from_config(model.get_config())
  assert clone(tf.zeros([1, 16, 16, 3])).shape == (1, 2, 2, 32)
  with pytest.raises(ValueError, match='num_stages'):
    resnet.FCResNet18(width=4, num_stages=5)


TINY = ['DATASETS=[synthetic_objects]', 'IMAGE_SIZE=32',
        'TRAIN.BATCH_SIZE=2', 'MODEL.BASE_MODEL.NETWORK=FCResNet18',
        'FC_RESNET18.WIDTH=4', 'CRW.PATCH_SIZE=16', 'CRW.PATCH_STRIDE=8',
        'CRW.CLIP_LENGTH=3', 'TIMECYCLE.CLIP_LENGTH=2',
        'TIMECYCLE.FRAME_STRIDE=1', 'TIMECYCLE.TARGET_DISTANCE=1',
        'TIMECYCLE.FEATURE_DIM=8', 'TIMECYCLE.LOCALIZER=same3x3',
        'SYNTHETIC_OBJECTS.NUM_TRAIN_VIDEOS=2',
        'SYNTHETIC_OBJECTS.NUM_VAL_VIDEOS=1', 'SYNTHETIC_OBJECTS.FRAME_SIZE=32',
        'SYNTHETIC_OBJECTS.NUM_FRAMES=6', 'PROPAGATION.NUM_CONTEXT=2',
        'CHECKPOINT.SAVE_INTERVAL=2', 'LOGGING.REPORT_INTERVAL=1']


def test_clip_batches_are_consecutive_frames(tmp_path):
  config.load_config([], TINY + ['PATH_TO_TFRECORDS=%s' % (
      tmp_path / '%s'), 'CRW.FRAME_STRIDE=2'])
  import algos  # pylint: disable=g-import-not-at-top
  spec = algos.get_batch_spec('crw')
  assert spec.steps_per_video(CONFIG.TRAIN.NUM_FRAMES) == 3
  generate.ensure_generated(CONFIG)
  batch = next(iter(datasets.create_dataset('train', batch_spec=spec)))
  assert batch['frames'].shape == (2, 3, 32, 32, 3)
  steps = batch['steps'].numpy()
  np.testing.assert_array_equal(np.diff(steps, axis=1), 2)
  assert os.path.isdir(tmp_path / 'synthetic_objects' / 'davis')


def test_clip_steps_follow_the_offsets_from_a_random_start():
  offsets = [0, 2, 4, 6, 15, 17]  # the official TimeCycle sample
  starts = set()
  for _ in range(40):
    steps = sampling.clip_steps(tf.constant(30), offsets).numpy()
    np.testing.assert_array_equal(steps - steps[0], offsets)
    assert 0 <= steps[0] <= 30 - 18
    starts.add(int(steps[0]))
  assert len(starts) > 5
  # A video too short for the offsets: spread indices inside it.
  short = sampling.clip_steps(tf.constant(10), offsets).numpy()
  assert len(short) == 6 and short.min() >= 0 and short.max() <= 9
  assert np.all(np.diff(short) >= 0)


def test_timecycle_sample_offsets():
  config.load_config([], ['TRAINING_ALGO=timecycle'])
  import algos  # pylint: disable=g-import-not-at-top
  spec = algos.get_batch_spec('timecycle')
  assert spec.clip() == [0, 2, 4, 6, 15, 17]  # official defaults
  config.load_config([], ['TIMECYCLE.CLIP_LENGTH=2',
                          'TIMECYCLE.FRAME_STRIDE=1',
                          'TIMECYCLE.TARGET_DISTANCE=0'])
  with pytest.raises(ValueError, match='target after the clip'):
    algos.get_algo('timecycle')


def test_timecycle_step_reaches_every_part():
  """One eager training step: finite losses, and the encoder, projection
  and localiser all get gradients (the cycles are differentiable)."""
  import algos  # pylint: disable=g-import-not-at-top
  import keras  # pylint: disable=g-import-not-at-top
  config.load_config([], TINY + ['TRAINING_ALGO=timecycle'])
  algo = algos.get_algo()
  algo.build_all()
  batch = algo.dummy_batch()
  batch['frames'] = tf.random.stateless_uniform(batch['frames'].shape,
                                                [1, 2], -1, 1)
  with tf.GradientTape() as tape:
    embs = algo.embed(batch['frames'], training=True)
    losses = algo.compute_loss(embs, batch, training=True)
  grads = tape.gradient(losses['loss'], algo.trainable_variables)
  assert all(np.isfinite(float(v)) for v in losses.values())
  reached = {v.path.split('/')[0] for v, g in zip(algo.trainable_variables,
                                                  grads) if g is not None}
  assert {'fc_resnet18', 'timecycle_projection',
          'timecycle_localizer'} <= reached, reached
  optimizer = keras.optimizers.Adam(1e-3)
  assert np.isfinite(float(algo.train_one_iter(batch, optimizer)['loss']))


@pytest.mark.parametrize('jitter', [True, False])
def test_crw_training_embeddings_use_the_published_crops(jitter):
  """With CRW.FRAME_CROP_SCALE / PATCH_JITTER_SCALE (the default) every
  training pass crops afresh; with both [1, 1] training embeddings are a
  function of the frames; inference never crops."""
  import algos  # pylint: disable=g-import-not-at-top
  off = [] if jitter else ['CRW.FRAME_CROP_SCALE=[1.0, 1.0]',
                           'CRW.PATCH_JITTER_SCALE=[1.0, 1.0]']
  config.load_config([], TINY + ['TRAINING_ALGO=crw'] + off)
  algo = algos.get_algo()
  algo.build_all()
  frames = tf.random.stateless_uniform([2, 3, 32, 32, 3], [4, 5], -1, 1)
  train_a = algo.embed(frames, training=True).numpy()
  train_b = algo.embed(frames, training=True).numpy()
  assert train_a.shape == (2, 3, 9, CONFIG.CRW.EMBEDDING_SIZE)
  assert (np.abs(train_a - train_b).max() > 1e-3) == jitter
  np.testing.assert_array_equal(algo.embed(frames, training=False).numpy(),
                                algo.embed(frames, training=False).numpy())


@pytest.fixture
def op_determinism_reset():
  """Turns op determinism (process-wide) off again after the test."""
  yield
  from tensorflow.python.framework import config as tf_config  # pylint: disable=g-import-not-at-top
  tf_config.disable_op_determinism()


@pytest.mark.parametrize('algo', ['crw', 'timecycle'])
def test_deterministic_training_repeats_exactly(tmp_path, algo,
                                                op_determinism_reset):
  # Without TRAIN.DETERMINISTIC, two such runs differed by up to 0.06 (crw)
  # and 0.11 (timecycle) in some weight after 6 steps; for timecycle still
  # 0.11 with one tracked frame (TIMECYCLE.CLIP_LENGTH=1), which keeps its
  # graph, traced twice per run, small.
  import train  # pylint: disable=g-import-not-at-top
  overrides = TINY + ['PATH_TO_TFRECORDS=%s' % (tmp_path / '%s'),
                      'TRAINING_ALGO=%s' % algo, 'TRAIN.BATCH_SIZE=4',
                      'FC_RESNET18.WIDTH=8', 'TIMECYCLE.CLIP_LENGTH=1',
                      'TRAIN.DETERMINISTIC=true']
  weights = []
  for run in ('a', 'b'):
    logdir = str(tmp_path / run)
    train.train(logdir, [], overrides, max_iters=6)
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(logdir))
    weights.append({
        name: reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if name != '_CHECKPOINTABLE_OBJECT_GRAPH'})
  assert len(weights[0]) > 10 and set(weights[0]) == set(weights[1])
  for name, value in weights[0].items():
    np.testing.assert_array_equal(value, weights[1][name], err_msg=name)


def test_crw_trains_then_label_propagation_task(tmp_path, run_tool):
  algo = 'crw'
  import algos  # pylint: disable=g-import-not-at-top
  import train  # pylint: disable=g-import-not-at-top
  from runners import training  # pylint: disable=g-import-not-at-top
  overrides = TINY + ['PATH_TO_TFRECORDS=%s' % (tmp_path / '%s'),
                      'TRAINING_ALGO=%s' % algo]
  logdir = str(tmp_path / 'logdir')
  losses = train.train(logdir, [], overrides, max_iters=2)
  assert losses['step'] == 2 and np.isfinite(losses['total_loss'])
  # train.py's closing lines suggest propagation, not per-frame embeddings
  # (run below, as suggested).
  summary_lines = training.run_summary(logdir, 2, 2, 1.0).splitlines()
  assert ('  python -m tools.propagate_labels --logdir %s --output_dir %s' % (
      logdir, os.path.join(logdir, 'propagated_masks'))) in summary_lines
  assert ('  python -m tools.visualize_correspondence --logdir %s --output_dir %s'
          % (logdir, os.path.join(logdir, 'pictures'))) in summary_lines
  assert not any('extract_embeddings' in l for l in summary_lines)
  restored, step, run_config = algos.restore_algo(logdir)
  assert step == 2
  task = evaluation.get_tasks(['label_propagation'], config.CONFIG)[0]
  with config.use_config(run_config):
    metrics = task.evaluate(EvalContext(algo=restored, log=lambda m: None))
  assert 0 <= metrics['JF_mean'] <= 1 and 0 <= metrics['PCK@0.2'] <= 1
  assert set(metrics) >= {'J_mean', 'F_mean', 'J_recall', 'PCK@0.1'}

  # propagate_labels.py, called with another CONFIG (the defaults, data
  # elsewhere), works with the run's config plus overrides and leaves the
  # caller's as it was.
  from evaluation import label_propagation as propagate_labels  # pylint: disable=g-import-not-at-top
  config.reset_config()
  CONFIG.PATH_TO_TFRECORDS = str(tmp_path / 'nowhere' / '%s')
  callers = config.to_plain(CONFIG)
  masks = str(tmp_path / 'masks')
  summary = propagate_labels.propagate_labels(
      logdir, 'model', None, None, masks, ['PROPAGATION.SPLIT=train'])
  assert 0 <= summary['J&F-Mean'] <= 1
  root = str(tmp_path / 'synthetic_objects' / synthetic_objects.DAVIS_SUBDIR)
  assert sorted(os.listdir(masks)) == davis_io.list_sequences(root, 'train')
  assert not os.path.exists(str(tmp_path / 'nowhere'))
  assert config.to_plain(CONFIG) == callers
  # visualize_correspondence.py finds the run's DAVIS copy the same way.
  pictures = str(tmp_path / 'pictures')
  result = run_tool('tools.visualize_correspondence', '--logdir', logdir,
                    '--output_dir', pictures, '--override',
                    'PROPAGATION.FRAME_SCALE=2')
  assert result.returncode == 0, result.log[-3000:]
  sequence = davis_io.list_sequences(root, 'val')[0]
  assert sorted(os.listdir(pictures)) == [sequence + '_affinity.png',
                                          sequence + '_propagation.png']
