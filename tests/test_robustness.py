"""Robustness of the command-line tools.

Each case runs the real CLIs on a tiny synthetic dataset and checks the one
clear message, the exit code, and that nothing already written (checkpoints,
config.yml, TFRecords, results) is lost or corrupted. Subprocesses where the
process is what is tested (kill -9, a trainer beside an evaluator, start-up
and exit output, the exit status of an error); otherwise the CLIs' main
functions run in-process (`run_tool`), where an exception escaping main
fails the test.
"""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import tensorflow as tf

import algos
import config
from config import CONFIG
from data import sampling
import datasets
from dataset_preparation import generate
from dataset_preparation import tfrecord_io

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASET = 'synthetic_robust'

TINY_MODEL = [
    'IMAGE_SIZE=32', 'TRAIN.BATCH_SIZE=2', 'TRAIN.NUM_FRAMES=4',
    'MODEL.BASE_MODEL.SMALL_CNN_FILTERS=[8, 16]',
    'MODEL.CONV_EMBEDDER_MODEL.CONV_LAYERS=[[8, 3, true]]',
    'MODEL.CONV_EMBEDDER_MODEL.FC_LAYERS=[[8, true]]',
    'MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE=8',
    'LOGGING.REPORT_INTERVAL=1', 'TRAIN.VISUALIZE_INTERVAL=0',
    'CHECKPOINT.SAVE_INTERVAL=2',
]
TINY_DATA = [
    'DATASETS=[%s]' % DATASET, 'SYNTHETIC.NUM_TRAIN_VIDEOS=3',
    'SYNTHETIC.NUM_VAL_VIDEOS=2', 'SYNTHETIC.MIN_FRAMES=12',
    'SYNTHETIC.MAX_FRAMES=16',
]
CHECKPOINT_FILE = re.compile(
    r'^ckpt-\d+\.(index|data-\d{5}-of-\d{5})$')


def _values(tfrecords_root, extra=()):
  """KEY=VALUE overrides of a tiny run reading data under `tfrecords_root`."""
  return TINY_MODEL + TINY_DATA + [
      'PATH_TO_TFRECORDS=%s/%%s' % tfrecords_root] + list(extra)


def _overrides(tfrecords_root, extra=()):
  """The same as --override flags."""
  return [arg for value in _values(tfrecords_root, extra)
          for arg in ('--override', value)]


def _env():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', PYTHONUNBUFFERED='1')


def _run(args, timeout=150):
  """Runs a repo script (path relative to the repo) or `-m module`."""
  result = subprocess.run([sys.executable] + list(args), cwd=REPO,
                          env=_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
  return result, result.stdout + result.stderr


def _lines(output, *needles):
  return [l for l in output.splitlines() if all(n in l for n in needles)]


def _assert_checkpoint_readable(path):
  """All tensors of checkpoint `path` load and the floats are finite."""
  reader = tf.train.load_checkpoint(path)
  names = [n for n in reader.get_variable_to_shape_map()
           if n != '_CHECKPOINTABLE_OBJECT_GRAPH']
  assert names, path
  for name in names:
    value = reader.get_tensor(name)
    if getattr(value, 'dtype', np.dtype(object)).kind == 'f':
      assert np.all(np.isfinite(value)), (path, name)


def _checkpoint_step(path):
  return int(tf.train.load_checkpoint(path).get_tensor(
      'step/.ATTRIBUTES/VARIABLE_VALUE'))


def _assert_logdir_intact(logdir):
  """config.yml and every kept checkpoint readable; no partial final files."""
  config.read_config_from_logdir(logdir)
  state = tf.train.get_checkpoint_state(logdir)
  assert state is not None and state.all_model_checkpoint_paths
  for path in state.all_model_checkpoint_paths:
    _assert_checkpoint_readable(path)
  for name in os.listdir(logdir):
    if name.startswith('ckpt-') and os.path.isfile(os.path.join(logdir, name)):
      assert CHECKPOINT_FILE.match(name), name
  # A checkpoint the state file does not list can only be the one a kill
  # interrupted, newer than the latest complete one.
  latest_step = int(state.model_checkpoint_path.rsplit('-', 1)[1])
  listed = {os.path.basename(p) for p in state.all_model_checkpoint_paths}
  for index in glob.glob(os.path.join(logdir, 'ckpt-*.index')):
    prefix = os.path.basename(index)[:-len('.index')]
    if prefix not in listed:
      assert int(prefix.rsplit('-', 1)[1]) > latest_step, index
  assert not [n for n in os.listdir(logdir) if n.endswith('.tmp')]


@pytest.fixture(scope='module')
def tfrecords_root(tmp_path_factory):
  """The tiny synthetic dataset, generated once, shared read-only."""
  root = str(tmp_path_factory.mktemp('tfrecords'))
  config.load_config((), _values(root))
  generate.ensure_generated(config.CONFIG)
  config.reset_config()
  return root


def _wait_for_checkpoint(logdir, process, min_step, timeout=120):
  """Polls until the latest checkpoint of `logdir` has step >= min_step."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    assert process.poll() is None, 'train.py ended before the kill'
    latest = tf.train.latest_checkpoint(logdir)
    if latest and int(latest.rsplit('-', 1)[1]) >= min_step:
      return
    time.sleep(0.05)
  pytest.fail('no checkpoint of step >= %d within %d s' % (min_step, timeout))


def test_kill_9_then_restart_resumes(tfrecords_root, tmp_path, run_tool):
  logdir = str(tmp_path / 'run')
  process = subprocess.Popen(
      [sys.executable, 'train.py', '--logdir', logdir] + _overrides(
          tfrecords_root, ['TRAIN.MAX_ITERS=100000']),
      cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL)
  try:
    _wait_for_checkpoint(logdir, process, min_step=4)
  finally:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
  assert process.returncode == -signal.SIGKILL
  _assert_logdir_intact(logdir)
  killed_at = _checkpoint_step(tf.train.latest_checkpoint(logdir))
  assert killed_at >= 4
  kept_before = tf.train.get_checkpoint_state(
      logdir).all_model_checkpoint_paths

  # The restart reads config.yml; only the length of the run changes.
  target = killed_at + 3
  result = run_tool('train', '--logdir', logdir, '--override',
                    'TRAIN.MAX_ITERS=%d' % target)
  output = result.stdout + result.log
  assert result.returncode == 0, output[-3000:]
  resumed = _lines(output, 'Resumed from', 'at step %d' % killed_at)
  assert len(resumed) == 1, output[-3000:]
  # The first step after the restart is killed_at + 1, not 1.
  assert _lines(output, 'step %d/%d' % (killed_at + 1, target))
  assert not _lines(output, 'step 1/%d' % target)
  latest = tf.train.latest_checkpoint(logdir)
  assert latest.endswith('ckpt-%d' % target)
  assert _checkpoint_step(latest) == target
  _assert_logdir_intact(logdir)
  run_config = config.read_config_from_logdir(logdir)
  assert (run_config.TRAIN.MAX_ITERS, run_config.IMAGE_SIZE) == (target, 32)
  # Checkpoints of the killed run that the manager still keeps are intact.
  kept_after = tf.train.get_checkpoint_state(
      logdir).all_model_checkpoint_paths
  for path in set(kept_before) & set(kept_after):
    _assert_checkpoint_readable(path)


def test_continuous_evaluation_beside_training(tfrecords_root, tmp_path,
                                               run_tool):
  logdir = str(tmp_path / 'run')
  # Rotation (MAX_TO_KEEP=2) while the evaluator is busy, so it has to skip
  # checkpoints that disappear.
  train_process = subprocess.Popen(
      [sys.executable, 'train.py', '--logdir', logdir] + _overrides(
          tfrecords_root, [
              'TRAIN.MAX_ITERS=60', 'CHECKPOINT.SAVE_INTERVAL=10',
              'CHECKPOINT.MAX_TO_KEEP=2',
              'EVAL.TASKS=[kendalls_tau, classification]',
              'EVAL.CLASSIFICATION_FRACTIONS=[1.0]']),
      cwd=REPO, env=_env(), stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True)
  # The evaluator in this process, the trainer in its own.
  try:
    evaluator = run_tool('evaluate', '--logdir', logdir, '--continuous',
                         '--timeout', '150', '--override',
                         'EVAL.POLL_INTERVAL=1')
    train_output, _ = train_process.communicate(timeout=200)
  finally:
    if train_process.poll() is None:
      train_process.kill()
      train_process.wait()
  eval_output = evaluator.stdout + evaluator.log
  assert train_process.returncode == 0, train_output[-3000:]
  assert evaluator.returncode == 0, eval_output[-3000:]
  assert 'Traceback' not in train_output
  assert _lines(eval_output, 'training finished')

  results = os.path.join(logdir, 'eval', 'results.jsonl')
  with open(results) as f:
    lines = [l for l in f.read().splitlines() if l.strip()]
  records = [json.loads(l) for l in lines]
  steps = [r['step'] for r in records]
  assert len(records) >= 2, eval_output[-3000:]
  assert steps == sorted(set(steps)) and steps[-1] == 60
  for record in records:
    assert os.path.basename(record['checkpoint']) == 'ckpt-%d' % record[
        'step']
    assert -1.0 <= record['kendalls_tau/val'] <= 1.0
    assert 0.0 <= record['classification/accuracy@1'] <= 1.0
  _assert_logdir_intact(logdir)


def _write_avi(path, num_frames, size=(32, 24)):
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10.0, size)
  for t in range(num_frames):
    frame = np.full((size[1], size[0], 3), (t * 6) % 256, np.uint8)
    frame[:, : (t % size[0])] = 200
    writer.write(frame)
  writer.release()


def _convert(run_tool, *args):
  """videos_to_tfrecords' main in-process: (result, output)."""
  result = run_tool('dataset_preparation.videos_to_tfrecords', *args)
  return result, result.stdout + result.log


def test_truncated_video_is_reported_and_conversion_continues(tmp_path,
                                                              run_tool):
  src = tmp_path / 'videos'
  src.mkdir()
  for name in ('good_a', 'good_b'):
    _write_avi(str(src / ('%s.avi' % name)), 20)
  _write_avi(str(src / 'cut_clip.avi'), 60)
  data = (src / 'cut_clip.avi').read_bytes()
  (src / 'cut_clip.avi').write_bytes(data[:len(data) // 3])
  out = tmp_path / 'out'
  # A val split written before must survive the train conversion.
  (tmp_path / 'val_src').mkdir()
  _write_avi(str(tmp_path / 'val_src' / 'val.avi'), 15)
  result, output = _convert(run_tool, '--input_dir', tmp_path / 'val_src',
                            '--output_dir', out, '--dataset_name', 'toy',
                            '--split', 'val')
  assert result.returncode == 0, output[-3000:]

  result, output = _convert(run_tool, '--input_dir', src, '--output_dir',
                            out, '--dataset_name', 'toy', '--split', 'train')
  assert result.returncode == 0, output[-3000:]
  skipped = _lines(output, 'Skipped cut_clip', 'truncated')
  assert len(skipped) == 1, output[-3000:]
  summary = _lines(output, 'Done: wrote 2 train videos', 'skipped 1')
  assert len(summary) == 1, output[-3000:]
  train_videos = datasets.load_videos(glob.glob(str(out / 'toy_train-*')))
  assert sorted(v['name'] for v in train_videos) == ['good_a', 'good_b']
  assert [v['len'] for v in train_videos] == [20, 20]
  val_videos = datasets.load_videos(glob.glob(str(out / 'toy_val-*')))
  assert [(v['name'], v['len']) for v in val_videos] == [('val', 15)]
  info = tfrecord_io.read_dataset_info(str(out))
  assert info['splits'] == {'val': {'num_videos': 1, 'num_frames': 15},
                            'train': {'num_videos': 2, 'num_frames': 40}}
  assert not [n for n in os.listdir(out) if n.startswith('.')]


def _train(run_tool, logdir, tfrecords_root, extra=()):
  """train.py's main in-process: (result, output)."""
  result = run_tool('train', '--logdir', logdir,
                    *_overrides(tfrecords_root, extra))
  return result, result.stdout + result.log


def test_truncated_tfrecord_is_one_clear_error(tfrecords_root, tmp_path,
                                               run_tool):
  root = str(tmp_path / 'data')
  shutil.copytree(os.path.join(tfrecords_root, DATASET), os.path.join(
      root, DATASET))
  path, = glob.glob(os.path.join(root, DATASET, '%s_train-*' % DATASET))
  with open(path, 'rb') as f:
    data = f.read()
  with open(path, 'wb') as f:
    f.write(data[:len(data) * 2 // 3])
  logdir = str(tmp_path / 'run')
  result, output = _train(run_tool, logdir, root, ['TRAIN.MAX_ITERS=2'])
  assert result.returncode == 1
  errors = _lines(output, path, 'truncated')
  assert len(errors) == 1, output[-3000:]
  assert 'convert the dataset again' in errors[0]
  # The val split, untouched, is still readable.
  val_path, = glob.glob(os.path.join(root, DATASET, '%s_val-*' % DATASET))
  assert len(datasets.load_videos(val_path)) == 2
  assert not tf.train.latest_checkpoint(logdir)


def test_video_shorter_than_a_sample_trains_and_warns_once(tmp_path,
                                                           run_tool,
                                                           monkeypatch):
  # The warning is given once per process; this test runs in-process.
  monkeypatch.setattr(sampling, '_warned_short_video', False)
  root = str(tmp_path / 'data')
  logdir = str(tmp_path / 'run')
  # Videos of 10 or 11 frames; a sample needs 12.
  result, output = _train(run_tool, logdir, root, [
      'SYNTHETIC.MIN_FRAMES=10', 'SYNTHETIC.MAX_FRAMES=11',
      'TRAIN.NUM_FRAMES=12', 'TRAIN.MAX_ITERS=4'])
  assert result.returncode == 0, output[-3000:]
  warnings = _lines(output, 'sampled with repeated frames')
  assert len(warnings) == 1, output[-3000:]
  assert re.search(r'has 1[01] frames, fewer than the 13', warnings[0])
  assert tf.train.latest_checkpoint(logdir).endswith('ckpt-4')
  _assert_logdir_intact(logdir)


def test_labels_not_matching_frames_name_the_video(tmp_path, run_tool):
  src = tmp_path / 'videos'
  src.mkdir()
  _write_avi(str(src / 'fine.avi'), 10)
  _write_avi(str(src / 'mislabeled.avi'), 8)
  annotations = tmp_path / 'labels.json'
  annotations.write_text(json.dumps({
      'fine': {'frame_labels': [0] * 5 + [1] * 5},
      'mislabeled': {'frame_labels': [0] * 11}}))
  out = tmp_path / 'out'
  result, output = _convert(run_tool, '--input_dir', src, '--output_dir',
                            out, '--dataset_name', 'mm', '--split', 'train',
                            '--annotations', annotations)
  assert result.returncode == 1
  errors = _lines(output, 'mislabeled', '11', '8 frames')
  assert len(errors) == 1, output[-3000:]
  assert not glob.glob(str(out / '*tfrecord*'))


def test_tfrecord_with_mismatched_labels_is_one_clear_error(tmp_path,
                                                            run_tool):
  """Records written by another tool: label count != frame count."""
  directory = tmp_path / 'data' / 'foreign'
  directory.mkdir(parents=True)
  jpeg = tfrecord_io.encode_jpeg(np.zeros((32, 32, 3), np.uint8))

  def record(name, num_frames, num_labels):
    example = tf.train.SequenceExample()
    example.context.feature['name'].bytes_list.value.append(name.encode())
    example.context.feature['len'].int64_list.value.append(num_frames)
    frames = example.feature_lists.feature_list['video']
    labels = example.feature_lists.feature_list['frame_labels']
    for _ in range(num_frames):
      frames.feature.add().bytes_list.value.append(jpeg)
    for _ in range(num_labels):
      labels.feature.add().int64_list.value.append(0)
    return example.SerializeToString()
  for split in ('train', 'val'):
    with tf.io.TFRecordWriter(str(directory / (
        'foreign_%s-00000-of-00001.tfrecord' % split))) as writer:
      writer.write(record('ok_video', 12, 12))
      writer.write(record('bad_video', 12, 7))
  logdir = str(tmp_path / 'run')
  result, output = _train(run_tool, logdir, str(tmp_path / 'data'),
                          ['DATASETS=[foreign]', 'TRAIN.MAX_ITERS=2'])
  assert result.returncode == 1
  errors = _lines(output, 'bad_video', '7 frame labels', '12 frames')
  assert len(errors) == 1, output[-3000:]


def test_unknown_config_key_on_the_cli(tfrecords_root, tmp_path, run_tool):
  # In-process main(); the exit status of a CLI error as a process is
  # checked by test_quiet_start_summary_and_unburied_mismatch_error.
  logdir = tmp_path / 'run'
  logdir.mkdir()
  # A previous run's config.yml must stay as it was.
  config.load_config((), ['IMAGE_SIZE=32'])
  config.save_config(str(logdir))
  before = (logdir / 'config.yml').read_text()
  result, output = _train(run_tool, str(logdir), tfrecords_root,
                          ['MODEL.EMBEDER_TYPE=conv'])
  assert result.returncode == 1
  errors = _lines(output, 'unknown config key MODEL.EMBEDER_TYPE')
  assert len(errors) == 1, output[-3000:]
  assert 'MODEL.EMBEDDER_TYPE' in errors[0]
  assert (logdir / 'config.yml').read_text() == before
  assert sorted(os.listdir(logdir)) == ['config.yml']


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tfrecords_root,
                                                              tmp_path,
                                                              run_tool):
  logdir = str(tmp_path / 'run')
  # Three normal updates (saved as ckpt-3), then a learning rate of ~1e30:
  # the 4th update makes the weights ~1e30 and the next L2 regularization
  # (sum of squared weights) overflows float32.
  result, output = _train(run_tool, logdir, tfrecords_root, [
      'TRAIN.MAX_ITERS=20', 'CHECKPOINT.SAVE_INTERVAL=3',
      'OPTIMIZER.LR.DECAY_TYPE=manual',
      'OPTIMIZER.LR.MANUAL_LR_STEP_BOUNDARIES=[3]',
      'OPTIMIZER.LR.MANUAL_LR_DECAY_RATE=1.0e+33'])
  assert result.returncode == 1
  errors = _lines(output, 'non-finite loss')
  assert len(errors) == 1, output[-3000:]
  assert 'last good checkpoint: %s' % os.path.join(logdir, 'ckpt-3') in (
      errors[0])
  assert tf.train.latest_checkpoint(logdir).endswith('ckpt-3')
  assert not glob.glob(os.path.join(logdir, 'ckpt-[4-9]*'))
  _assert_logdir_intact(logdir)
  algo, step, run_config = algos.restore_algo(logdir)
  assert step == 3
  with config.use_config(run_config):
    embs = algo.embed(tf.zeros([1, 2 * CONFIG.DATA.NUM_STEPS, 32, 32, 3]),
                      training=False)
  assert np.all(np.isfinite(embs.numpy()))


def test_quiet_start_summary_and_unburied_mismatch_error(tfrecords_root,
                                                         tmp_path):
  logdir = str(tmp_path / 'run')
  env = dict(_env(), TF_CPP_MIN_LOG_LEVEL='')  # the tools' own default
  result = subprocess.run(
      [sys.executable, 'train.py', '--logdir', logdir] + _overrides(
          tfrecords_root, ['TRAIN.MAX_ITERS=2']), cwd=REPO, env=env,
      capture_output=True, text=True, timeout=150, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  # No TensorFlow start-up noise (CUDA probes, absl pre-init notice).
  assert 'cuda' not in result.stderr.lower(), result.stderr[:2000]
  assert 'absl::InitializeLog' not in result.stderr
  # Progress lines carry no absl prefix; the log file has the full lines.
  absl_prefix = r'^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] '
  assert not re.search(absl_prefix, result.stderr, re.M), result.stderr[:2000]
  assert re.search(r'^Training alignment for 2 steps', result.stderr, re.M)
  with open(os.path.join(logdir, 'train.log')) as f:
    assert re.search(absl_prefix + 'Training alignment for 2 steps', f.read(),
                     re.M)
  # The run ends with the summary, not with a log line.
  summary = result.stdout.strip().splitlines()
  assert summary[0].startswith('Trained to step 2 of TRAIN.MAX_ITERS=2')
  assert summary[1] == 'Last checkpoint: %s' % os.path.join(logdir, 'ckpt-2')
  assert '  python evaluate.py --logdir %s --once' % logdir in summary
  assert any(l.startswith('  python extract_embeddings.py --logdir %s' %
                          logdir) for l in summary)
  # A restart with another model: the error is the last thing printed.
  result, output = _run(['train.py', '--logdir', logdir] + _overrides(
      tfrecords_root, ['TRAIN.MAX_ITERS=4',
                       'MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE=16']))
  assert result.returncode == 1
  assert 'Traceback' not in output
  last = output.strip().splitlines()[-1]
  assert 'checkpoint does not match the configured model' in last, output
  assert 'unrestored' not in output and 'could not be found' not in output


def test_skipped_similarity_figure_says_so(tmp_path):
  import types  # pylint: disable=g-import-not-at-top
  from runners import evaluation as eval_runner  # pylint: disable=g-import-not-at-top
  messages = []
  context = types.SimpleNamespace(val={'embs': [np.zeros((3, 2))],
                                       'names': ['only']})
  eval_runner._write_figures(str(tmp_path), 5, context, {}, '', messages.append)
  assert messages == ['similarity matrix skipped: it needs 2 validation '
                      'videos, got 1.']
  assert not os.path.exists(tmp_path / 'eval')


def test_outputs_have_the_usual_permissions_and_are_atomic(tmp_path):
  from utils import atomic_files  # pylint: disable=g-import-not-at-top
  from evaluation import embeddings as embeddings_io  # pylint: disable=g-import-not-at-top
  mask = os.umask(0o022)
  try:
    written = [
        config.save_config(str(tmp_path / 'logdir')),
        embeddings_io.save_embeddings(
            {'embs': [np.zeros((2, 3))], 'names': ['a'],
             'labels': [np.zeros(2)], 'steps': [np.arange(2)]},
            str(tmp_path / 'embs.npz')),
        atomic_files.write_text(str(tmp_path / 'sub' / 'note.txt'), 'x'),
    ]
    for path in written:
      assert os.stat(path).st_mode & 0o777 == 0o644, path
    # A failed write leaves the old file and no temporary file.
    with pytest.raises(RuntimeError):
      with atomic_files.atomic_open(written[2], 'w') as f:
        f.write('partial')
        raise RuntimeError('interrupted')
    assert open(written[2]).read() == 'x'
    assert os.listdir(tmp_path / 'sub') == ['note.txt']
  finally:
    os.umask(mask)
