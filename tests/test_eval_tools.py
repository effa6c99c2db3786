"""Tests of evaluate.py, extract_embeddings.py and visualize_alignment.py.

One tiny model is trained once per module (32 px synthetic videos, two
steps, a checkpoint per step); each test works on its own copy of the logdir.
"""

import json
import os
import shutil
import time

import cv2
import numpy as np
import pytest

import config
import evaluate
import evaluation
import extract_embeddings
from evaluation import embeddings as embeddings_io
from runners import evaluation as eval_runner
import visualize_alignment
from visualization import alignment as alignment_viz

NUM_TRAIN_VIDEOS = 3
NUM_VAL_VIDEOS = 2
EVERY_TASK_METRIC = [
    'algo_loss/loss', 'classification/accuracy@0.5',
    'classification/accuracy@1',
    'few_shot_classification/accuracy@1shot',
    'few_shot_classification/ci95@1shot', 'event_completion/r2@1',
    'kendalls_tau/train', 'kendalls_tau/val']


def tiny_overrides(data_dir):
  return [
      'IMAGE_SIZE=32', 'PATH_TO_TFRECORDS=%s/%%s' % data_dir,
      'SYNTHETIC.NUM_TRAIN_VIDEOS=%d' % NUM_TRAIN_VIDEOS,
      'SYNTHETIC.NUM_VAL_VIDEOS=%d' % NUM_VAL_VIDEOS,
      'SYNTHETIC.MIN_FRAMES=10', 'SYNTHETIC.MAX_FRAMES=14',
      'TRAIN.BATCH_SIZE=2', 'TRAIN.NUM_FRAMES=4',
      'EVAL.BATCH_SIZE=2', 'EVAL.NUM_FRAMES=4', 'EVAL.VAL_ITERS=1',
      'EVAL.CLASSIFICATION_FRACTIONS=[0.5, 1.0]',
      'EVAL.FEW_SHOT_NUM_LABELED=[1]', 'EVAL.FEW_SHOT_NUM_EPISODES=2',
      'EVAL.KENDALLS_TAU_STRIDE=1',
      'MODEL.BASE_MODEL.SMALL_CNN_FILTERS=[8, 8]',
      'MODEL.CONV_EMBEDDER_MODEL.CONV_LAYERS=[[8, 3, True]]',
      'MODEL.CONV_EMBEDDER_MODEL.FC_LAYERS=[[16, True]]',
      'MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE=8',
      'CHECKPOINT.SAVE_INTERVAL=1', 'CHECKPOINT.MAX_TO_KEEP=5']


@pytest.fixture(scope='module')
def trained_logdir(tmp_path_factory):
  import train  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('trained')
  logdir = str(root / 'logdir')
  train.train(logdir, overrides=tiny_overrides(str(root / 'data')),
              max_iters=2)
  assert [os.path.basename(c)
          for c in eval_runner.list_checkpoints(logdir)] == ['ckpt-1', 'ckpt-2']
  return logdir


@pytest.fixture
def logdir(trained_logdir, tmp_path):
  """A private copy of the trained logdir (its data stays shared)."""
  copy = str(tmp_path / 'logdir')
  shutil.copytree(trained_logdir, copy)
  return copy


def test_evaluate_once_cli_writes_every_task(logdir, run_tool):
  output = run_tool('evaluate', '--logdir', logdir, '--once')
  assert output.returncode == 0, output.log[-3000:]
  records = eval_runner.read_results(logdir)
  assert len(records) == 1
  record = records[0]
  assert record['step'] == 2
  assert record['checkpoint'] == os.path.join(logdir, 'ckpt-2')
  for key in EVERY_TASK_METRIC:
    assert isinstance(record[key], float), key
    assert key in output.stdout  # The table printed at the end.
  assert 0.0 <= record['classification/accuracy@1'] <= 1.0
  assert -1.0 <= record['kendalls_tau/val'] <= 1.0
  eval_dir = os.path.join(logdir, 'eval')
  files = os.listdir(eval_dir)
  assert 'similarity_step2.png' in files
  assert 'classification_step2.png' in files
  assert any(f.startswith('events.out.tfevents') for f in files)
  for name in ('results.jsonl', 'similarity_step2.png'):
    assert os.stat(os.path.join(eval_dir, name)).st_mode & 0o777 == 0o644

  # The same checkpoint again: answered from results.jsonl, nothing appended.
  again = evaluate.evaluate_once(logdir)
  assert again == record
  assert len(eval_runner.read_results(logdir)) == 1

  # The metric agrees with the NumPy function on extracted embeddings.
  path = extract_embeddings.extract(logdir, None, 'val',
                                    os.path.join(logdir, 'val.npz'))
  data = embeddings_io.load_embeddings(path)
  assert record['kendalls_tau/val'] == pytest.approx(
      evaluation.kendalls_tau(data['embs'], 1, 'sqeuclidean'), abs=1e-5)


def test_continuous_survives_rotated_and_partial_checkpoints(logdir,
                                                              monkeypatch):
  import algos  # pylint: disable=g-import-not-at-top
  # ckpt-3 is half-written: its index exists, its data file is truncated.
  shutil.copy(os.path.join(logdir, 'ckpt-2.index'),
              os.path.join(logdir, 'ckpt-3.index'))
  data_name = 'ckpt-2.data-00000-of-00001'
  with open(os.path.join(logdir, data_name), 'rb') as f:
    payload = f.read()
  with open(os.path.join(logdir, 'ckpt-3' + data_name[6:]), 'wb') as f:
    f.write(payload[:len(payload) // 3])

  # Training rotates ckpt-1 away after the evaluator listed it and while it
  # restores it.
  real_restore = algos.restore_algo
  def rotate_then_restore(logdir_arg, checkpoint_path=None, overrides=()):
    if checkpoint_path.endswith('ckpt-1'):
      for path in os.listdir(logdir):
        if path.startswith('ckpt-1.'):
          os.remove(os.path.join(logdir, path))
    return real_restore(logdir_arg, checkpoint_path, overrides)
  monkeypatch.setattr(algos, 'restore_algo', rotate_then_restore)

  messages = []
  start = time.time()
  records = evaluate.evaluate_continuously(logdir, timeout=120,
                                           poll_interval=0.1,
                                           log=messages.append)
  # Step 2 is TRAIN.MAX_ITERS: training is finished, no waiting for timeout.
  assert time.time() - start < 100
  assert [os.path.basename(r['checkpoint']) for r in records] == ['ckpt-2']
  assert [r['step'] for r in eval_runner.read_results(logdir)] == [2]
  skips = [m for m in messages if 'skipped' in m]
  assert any('ckpt-1' in m for m in skips), messages
  assert any('ckpt-3' in m for m in skips), messages
  assert any('training finished' in m for m in messages)

  # --once: the latest (ckpt-3) is partial, so it falls back to ckpt-2,
  # which is already scored.
  messages = []
  record = evaluate.evaluate_once(logdir, log=messages.append)
  assert record == eval_runner.read_results(logdir)[0]
  assert 'ckpt-3' in messages[0] and 'already in' in messages[1]
  with pytest.raises(eval_runner.CheckpointUnavailable, match='ckpt-3'):
    evaluate.evaluate_once(logdir, os.path.join(logdir, 'ckpt-3'))


def test_continuous_stops_on_timeout_and_done_marker(tmp_path):
  messages = []
  start = time.time()
  assert evaluate.evaluate_continuously(str(tmp_path), timeout=0.3,
                                        poll_interval=0.05,
                                        log=messages.append) == []
  assert time.time() - start < 10
  assert 'timeout' in messages[-1]
  (tmp_path / eval_runner.DONE_FILENAME).write_text('')
  messages = []
  assert evaluate.evaluate_continuously(str(tmp_path), timeout=60,
                                        log=messages.append) == []
  assert 'DONE' in messages[-1]


def test_missing_checkpoint_is_a_clear_error(tmp_path):
  with pytest.raises(ValueError, match='no checkpoint'):
    evaluate.evaluate_once(str(tmp_path))


def test_append_result_keeps_lines_and_writes_null_for_nan(tmp_path):
  logdir = str(tmp_path)
  os.makedirs(os.path.join(logdir, 'eval'))
  with open(eval_runner.results_path(logdir), 'w') as f:
    f.write('{"step": 1, "checkpoint": "a/ckpt-1"}\n{"step": 2, "chec')
  eval_runner.append_result(logdir, {'step': 3, 'checkpoint': 'a/ckpt-3',
                                  'x/y': float('nan'), 'x/z': 0.5})
  with open(eval_runner.results_path(logdir)) as f:
    lines = f.read().splitlines()
  assert lines[0] == '{"step": 1, "checkpoint": "a/ckpt-1"}'
  assert lines[1] == '{"step": 2, "chec'
  assert json.loads(lines[2]) == {'step': 3, 'checkpoint': 'a/ckpt-3',
                                  'x/y': None, 'x/z': 0.5}
  # The broken line is reported and ignored.
  assert [r['step'] for r in eval_runner.read_results(logdir)] == [1, 3]
  assert not [f for f in os.listdir(os.path.join(logdir, 'eval'))
              if f.startswith('.')]


def test_checkpoints_sorted_by_number(tmp_path):
  for name in ('ckpt-10', 'ckpt-9', 'ckpt-100'):
    (tmp_path / (name + '.index')).write_bytes(b'')
  assert [os.path.basename(p) for p in eval_runner.list_checkpoints(
      str(tmp_path))] == ['ckpt-9', 'ckpt-10', 'ckpt-100']


def read_video(path):
  capture = cv2.VideoCapture(path)
  frames = []
  while True:
    ok, frame = capture.read()
    if not ok:
      break
    frames.append(frame)
  capture.release()
  return frames


def test_extract_then_visualize(logdir, tmp_path, run_tool):
  npy = extract_embeddings.extract(logdir, None, 'train',
                                   str(tmp_path / 'train.npy'),
                                   keep_frames=True)
  npz = extract_embeddings.extract(logdir, 'synthetic_pouring', 'train',
                                   str(tmp_path / 'train.npz'),
                                   checkpoint=os.path.join(logdir, 'ckpt-2'))
  from_npy = embeddings_io.load_embeddings(npy)
  from_npz = embeddings_io.load_embeddings(npz)
  assert len(from_npy['embs']) == NUM_TRAIN_VIDEOS
  assert from_npy['names'] == from_npz['names']
  for a, b, labels, frames, num_frames in zip(
      from_npy['embs'], from_npz['embs'], from_npy['labels'],
      from_npy['frames'], from_npy['num_frames']):
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert a.shape == (num_frames, 8)
    assert labels.shape == (num_frames,) and labels.min() >= 0
    assert frames.shape == (num_frames, 32, 32, 3) and frames.dtype == np.uint8
  assert from_npz['has_labels'].all() and from_npy['has_labels'].all()
  assert 'frames' not in from_npz
  assert from_npz['step'] == 2 and from_npz['split'] == 'train'
  # The published tools' way of reading the .npy works too (layout checked
  # in test_npy_has_the_published_layout).
  raw = np.load(npy, allow_pickle=True).item()
  assert sorted(n[0].decode() for n in raw['names']) == sorted(
      from_npy['names'])

  # Grid of the reference and 2 candidates (frames from the .npy): 2 x 2.
  video = str(tmp_path / 'grid.mp4')
  result = run_tool('visualize_alignment', '--embs_path', npy,
                    '--video_path', video, '--grid', '--reference', '1',
                    '--tile_size', '64')
  assert result.returncode == 0, result.log[-3000:]
  frames = read_video(video)
  assert len(frames) == len(from_npy['embs'][1])
  assert frames[0].shape == (128, 128, 3)
  assert os.path.isfile(str(tmp_path / 'grid_similarity.png'))

  # One row, frames re-read from the TFRecords of the logdir (.npz has none).
  row_video = str(tmp_path / 'row.mp4')
  frames_by_video = alignment_viz.load_frames(from_npz, [0, 2],
                                                    logdir=logdir)
  for index in (0, 2):
    np.testing.assert_array_equal(
        np.stack([frames_by_video[index][t]
                  for t in range(len(frames_by_video[index]))]),
        from_npy['frames'][index])
  tfrecords_dir = config.tfrecords_dir(
      'synthetic_pouring', config.read_config_from_logdir(logdir))
  from_dir = alignment_viz.load_frames(from_npz, [1],
                                             tfrecords=tfrecords_dir)
  np.testing.assert_array_equal(from_dir[1][len(from_dir[1]) - 1],
                                from_npy['frames'][1][-1])
  count, size = alignment_viz.render_alignment(
      from_npz, row_video, reference=0, candidates=[2], frames=frames_by_video,
      tile_size=48)
  frames = read_video(row_video)
  assert count == len(frames) == len(from_npz['embs'][0])
  assert size == (96, 48) and frames[0].shape == (48, 96, 3)
  assert os.stat(row_video).st_mode & 0o777 == 0o644
  assert not [f for f in os.listdir(tmp_path) if f.startswith('.')]


def synthetic_embeddings(with_frames):
  rng = np.random.RandomState(0)
  lengths = [5, 3, 4]
  data = {'embs': [rng.normal(size=(n, 4)).astype(np.float32)
                   for n in lengths],
          'labels': [rng.randint(0, 3, size=n) for n in lengths],
          'steps': [np.arange(0, 2 * n, 2) for n in lengths],
          'names': ['a', 'bb', 'ccc'], 'video_labels': np.array([0, 1, 0]),
          'num_frames': np.array(lengths) * 2,
          'has_labels': np.array([True, True, False]), 'stride': 2,
          'dataset': 'toy', 'split': 'val', 'step': 7,
          'checkpoint': '/x/ckpt-7'}
  if with_frames:
    data['frames'] = [rng.randint(0, 255, size=(n, 6, 6, 3)).astype(np.uint8)
                      for n in lengths]
  return data


@pytest.mark.parametrize('suffix', ['.npy', '.npz'])
def test_embeddings_round_trip(tmp_path, suffix):
  data = synthetic_embeddings(with_frames=True)
  path = embeddings_io.save_embeddings(data, str(tmp_path / ('e' +
                                                                  suffix)))
  loaded = embeddings_io.load_embeddings(path)
  for key in ('embs', 'labels', 'steps', 'frames'):
    assert len(loaded[key]) == 3
    for a, b in zip(loaded[key], data[key]):
      np.testing.assert_array_equal(a, b)
  assert loaded['names'] == data['names']
  for key in ('video_labels', 'num_frames', 'has_labels'):
    np.testing.assert_array_equal(loaded[key], data[key])
  for key in ('stride', 'dataset', 'split', 'step', 'checkpoint'):
    assert loaded[key] == data[key]
  if suffix == '.npz':
    with np.load(path, allow_pickle=False) as npz:
      assert npz['offsets'].tolist() == [0, 5, 8, 12]
  assert os.listdir(tmp_path) == ['e' + suffix]


def test_embeddings_bad_paths(tmp_path):
  data = synthetic_embeddings(with_frames=False)
  with pytest.raises(ValueError, match='.npy'):
    embeddings_io.save_embeddings(data, str(tmp_path / 'e.pkl'))
  with pytest.raises(ValueError, match='no such embeddings file'):
    embeddings_io.load_embeddings(str(tmp_path / 'missing.npy'))
  np.save(str(tmp_path / 'array.npy'), np.zeros(3))
  with pytest.raises(ValueError, match='not an embeddings dict'):
    embeddings_io.load_embeddings(str(tmp_path / 'array.npy'))


def test_render_alignment_of_synthetic_embeddings(tmp_path):
  data = synthetic_embeddings(with_frames=True)
  # Candidate 1 is the reference itself: every frame is its own nearest
  # neighbour, so the candidate tile shows the same image.
  data['embs'][1] = data['embs'][0].copy()
  data['frames'][1] = data['frames'][0].copy()
  data['labels'][1] = data['labels'][0].copy()
  video = str(tmp_path / 'v.mp4')
  count, size = alignment_viz.render_alignment(
      data, video, reference=0, candidates=[1, 2], tile_size=40)
  frames = read_video(video)
  assert count == len(frames) == 5
  assert size == (120, 40) and frames[0].shape == (40, 120, 3)
  # The image rows below the text (tile bottom) of tiles 0 and 1 agree.
  np.testing.assert_allclose(frames[2][30:, :40].astype(float),
                             frames[2][30:, 40:80].astype(float), atol=40)
  with pytest.raises(ValueError, match='out of range'):
    alignment_viz.render_alignment(data, video, reference=0,
                                         candidates=[5])
  with pytest.raises(ValueError, match='no frames'):
    alignment_viz.load_frames(synthetic_embeddings(False), [0])


def test_overrides_select_tasks_and_label_tasks_need_labels(logdir):
  messages = []
  record = evaluate.evaluate_once(
      logdir, os.path.join(logdir, 'ckpt-1'),
      overrides=['DATA.FRAME_LABELS=false',
                 'EVAL.TASKS=[classification, kendalls_tau]'],
      log=messages.append)
  assert record['step'] == 1
  assert sorted(k for k in record if '/' in k) == ['kendalls_tau/train',
                                                   'kendalls_tau/val']
  skips = [m for m in messages if m.startswith('classification: skipped')]
  assert len(skips) == 1 and '0 labelled training video' in skips[0]


def test_evaluate_scores_with_the_run_config_and_leaves_the_callers(
    logdir, tmp_path):
  """In process, evaluation uses config.yml plus overrides whatever CONFIG
  the caller holds, and hands CONFIG back unchanged."""
  config.CONFIG.PATH_TO_TFRECORDS = str(tmp_path / 'nowhere' / '%s')
  config.CONFIG.EVAL.TASKS = ['algo_loss']
  before = config.to_plain(config.CONFIG)
  record = evaluate.evaluate_once(
      logdir, overrides=['EVAL.TASKS=[kendalls_tau]'], log=lambda m: None)
  assert sorted(k for k in record if '/' in k) == ['kendalls_tau/train',
                                                   'kendalls_tau/val']
  # The caller's data path was not used (synthetic data would be made there).
  assert not os.path.exists(str(tmp_path / 'nowhere'))
  assert config.to_plain(config.CONFIG) == before


LABEL_TASKS = ('classification', 'few_shot_classification', 'event_completion')


def _write_clips(directory, num_clips=6, size=40, num_frames=12):
  """Tiny mp4 clips (moving bright square), as a user would bring."""
  os.makedirs(directory)
  for c in range(num_clips):
    writer = cv2.VideoWriter(os.path.join(directory, 'clip%d.mp4' % c),
                             cv2.VideoWriter_fourcc(*'mp4v'), 10.0,
                             (size, size))
    for t in range(num_frames):
      frame = np.full((size, size, 3), 30 + 20 * c, np.uint8)
      x = 2 + t * 2
      frame[10:20, x:x + 8] = 250
      writer.write(frame)
    writer.release()


def test_unlabelled_clips_end_with_no_label_based_score(tmp_path):
  """The issue's scenario: six clips converted without annotations, an
  untrained model (TRAIN.MAX_ITERS=0), one evaluation."""
  import train  # pylint: disable=g-import-not-at-top
  from dataset_preparation import videos_to_tfrecords  # pylint: disable=g-import-not-at-top
  _write_clips(str(tmp_path / 'clips'))
  data_dir = tmp_path / 'data'
  summary = videos_to_tfrecords.videos_to_tfrecords(
      str(tmp_path / 'clips'), str(data_dir / 'clips'), 'clips',
      val_fraction=0.34, resize='32')
  assert sum(summary['written'].values()) == 6
  logdir = str(tmp_path / 'logdir')
  overrides = tiny_overrides(str(data_dir)) + [
      'DATASETS=[clips]', 'TRAIN.MAX_ITERS=0',
      'EVAL.TASKS=[algo_loss, classification, few_shot_classification, '
      'event_completion, kendalls_tau]']
  train.train(logdir, overrides=overrides)
  messages = []
  record = evaluate.evaluate_once(logdir, log=messages.append)
  scored = [k for k in record if '/' in k]
  assert not [k for k in scored if k.split('/')[0] in LABEL_TASKS], scored
  assert 'kendalls_tau/val' in scored and 'algo_loss/loss' in scored
  for task in LABEL_TASKS:
    skips = [m for m in messages if m.startswith(task + ':')]
    assert len(skips) == 1 and 'skipped, 0 labelled training video' in (
        skips[0]), skips
  line = eval_runner.read_results(logdir)[0]
  assert not [k for k in line if k.split('/')[0] in LABEL_TASKS]

  # The supervised baseline refuses the same clips, naming them.
  import datasets  # pylint: disable=g-import-not-at-top
  with pytest.raises(datasets.DatasetError, match='clip') as error:
    train.train(str(tmp_path / 'cls'), overrides=overrides + [
        'TRAINING_ALGO=classification'])
  assert 'unlabelled' in str(error.value)


def test_npy_has_the_published_layout(tmp_path):
  data = synthetic_embeddings(with_frames=True)
  path = embeddings_io.save_embeddings(data, str(tmp_path / 'e.npy'))
  assert oct(os.stat(path).st_mode & 0o777) == '0o644'
  raw = np.load(path, allow_pickle=True).item()
  for key in ('embs', 'names', 'labels', 'steps', 'seq_lens', 'seq_labels',
              'frames'):
    assert isinstance(raw[key], list) and len(raw[key]) == 3, key
  for i, length in enumerate([5, 3, 4]):
    assert raw['embs'][i].dtype == np.float32
    assert raw['embs'][i].shape == (length, 4)
    assert raw['names'][i].dtype.kind == 'S'
    assert raw['names'][i].tolist() == [data['names'][i].encode()] * length
    assert raw['labels'][i].dtype == np.int64
    np.testing.assert_array_equal(raw['steps'][i], 2 * np.arange(length))
    assert raw['seq_lens'][i].dtype == np.int32
    np.testing.assert_array_equal(raw['seq_lens'][i], length)
    np.testing.assert_array_equal(raw['seq_labels'][i],
                                  data['video_labels'][i])
    frames = raw['frames'][i]
    assert frames.dtype == np.float32 and frames.shape == (length, 6, 6, 3)
    np.testing.assert_allclose(frames, data['frames'][i] / 127.5 - 1.0,
                               atol=1e-6)


def test_published_npy_is_read(tmp_path):
  """A .npy as the published extract_embeddings.py writes it (no extras)."""
  rng = np.random.RandomState(3)
  lengths = [4, 6]
  published = {
      'embs': [rng.normal(size=(n, 3)).astype(np.float32) for n in lengths],
      'names': [np.array([b'vid%d' % i] * n) for i, n in enumerate(lengths)],
      'labels': [np.arange(n) % 2 for n in lengths],
      'steps': [np.arange(0, 3 * n, 3) for n in lengths],
      'seq_lens': [np.full(n, n, np.int32) for n in lengths],
      'seq_labels': [np.full(n, 5 + i) for i, n in enumerate(lengths)],
      'frames': [rng.uniform(-1, 1, size=(n, 4, 4, 3)).astype(np.float32)
                 for n in lengths]}
  path = str(tmp_path / 'published.npy')
  np.save(path, published)
  data = embeddings_io.load_embeddings(path)
  assert data['names'] == ['vid0', 'vid1'] and data['stride'] == 3
  np.testing.assert_array_equal(data['video_labels'], [5, 6])
  np.testing.assert_array_equal(data['num_frames'], [10, 16])
  assert data['has_labels'].all()
  assert data['frames'][1].dtype == np.uint8
  assert data['frames'][1].shape == (6, 4, 4, 3)


def test_extract_stride_and_override(logdir, tmp_path, run_tool):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  full = embeddings_io.load_embeddings(extract_embeddings.extract(
      logdir, None, 'val', str(tmp_path / 'full.npz')))
  # Another data path (--override): a copy of the dataset whose val split
  # holds only the first validation video.
  original = config.tfrecords_dir('synthetic_pouring',
                                  config.read_config_from_logdir(logdir))
  elsewhere = tmp_path / 'elsewhere' / 'synthetic_pouring'
  shutil.copytree(original, str(elsewhere))
  source = sorted(p for p in os.listdir(original)
                  if p.startswith('synthetic_pouring_val'))
  for name in source:
    os.remove(str(elsewhere / name))
  with tf.io.TFRecordWriter(str(elsewhere / source[0])) as writer:
    writer.write(next(iter(tf.data.TFRecordDataset(os.path.join(
        original, source[0])))).numpy())
  moved = embeddings_io.load_embeddings(extract_embeddings.extract(
      logdir, None, 'val', str(tmp_path / 'moved.npz'), overrides=[
          'PATH_TO_TFRECORDS=%s' % str(tmp_path / 'elsewhere' / '%s')]))
  assert moved['names'] == full['names'][:1]
  np.testing.assert_allclose(moved['embs'][0], full['embs'][0], atol=1e-5)
  # The CLI: --stride and a repeatable --override.
  out = str(tmp_path / 'strided.npz')
  result = run_tool('extract_embeddings', '--logdir', logdir, '--split',
                    'val', '--output', out, '--stride', '3', '--override',
                    'EVAL.FRAMES_PER_BATCH=2', '--override',
                    'EVAL.BATCH_SIZE=1')
  assert result.returncode == 0, result.log[-3000:]
  strided = embeddings_io.load_embeddings(out)
  assert strided['stride'] == 3
  for a, b, steps in zip(full['embs'], strided['embs'], strided['steps']):
    np.testing.assert_array_equal(steps, np.arange(0, len(a), 3))
    # Context frames are the same whatever the stride and chunk size.
    np.testing.assert_allclose(a[::3], b, atol=1e-5)


def test_chunked_embedding_matches_per_step_embedding(logdir):
  """embed_video_chunks against embedding each step on its own, with the
  number of frames fetched at a time bounded and each frame fetched once."""
  import algos  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  algo, _, run_config = algos.restore_algo(logdir,
                                           os.path.join(logdir, 'ckpt-2'))
  rng = np.random.RandomState(0)
  num_frames = 23
  frames = rng.uniform(-1, 1, size=(num_frames, 32, 32, 3)).astype(np.float32)
  context = (algo.num_context_steps, algo.frame_stride)
  with config.use_config(run_config):
    for stride, per_batch in [(1, 4), (2, 5), (3, 40)]:
      fetched = []

      def fetch(indices):
        fetched.append(np.asarray(indices))
        return tf.gather(frames, indices)
      embs = algo.embed_video_chunks(num_frames, fetch, stride, per_batch)
      all_fetched = np.concatenate(fetched)
      assert max(len(f) for f in fetched) <= per_batch
      assert len(all_fetched) == len(np.unique(all_fetched))
      steps = np.arange(0, num_frames, stride)
      assert embs.shape[0] == len(steps)
      for n, t in enumerate(steps):
        ctx = [max(0, t - k * context[1])
               for k in range(context[0] - 1, -1, -1)]
        expected = algo.embed(frames[ctx][None], training=False).numpy()[0, 0]
        np.testing.assert_allclose(embs[n], expected, atol=1e-4)
