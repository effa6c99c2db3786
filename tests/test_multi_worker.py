"""MULTI-WORKER TEST: 2 train.py workers on localhost (MultiWorkerMirrored).

Starts two worker processes with TF_CONFIG (CPU, free ports, bounded time)
on a tiny synthetic dataset and checks that only the chief writes
checkpoints, summaries and config.yml, that killing the other worker with
SIGKILL mid-run leaves every checkpoint of the logdir restorable, and that
the workers read disjoint videos (each records the names it reads).
"""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import tensorflow as tf

import algos
import config
import datasets
from dataset_preparation import generate
from test_train import TINY

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASET = 'synthetic_workers'
OVERRIDES = TINY + [
    'TRAIN.BATCH_SIZE=4', 'CHECKPOINT.MAX_TO_KEEP=100',
    'LOGGING.REPORT_INTERVAL=2', 'TRAIN.VISUALIZE_INTERVAL=0',
    'TRAIN.STEPS_PER_LOOP=2', 'DATASETS=[%s]' % DATASET,
    'SYNTHETIC.NUM_TRAIN_VIDEOS=6', 'SYNTHETIC.NUM_VAL_VIDEOS=1',
    'SYNTHETIC.MIN_FRAMES=10', 'SYNTHETIC.MAX_FRAMES=12',
]

# One worker: train.train() with the real pipeline; every batch's video
# names are appended to a file, one line per batch.
_WORKER = r'''
import sys
repo, logdir, names_path = sys.argv[1:4]
sys.path.insert(0, repo)
import tensorflow as tf
from runners import training
import train

create_dataset = training.datasets.create_dataset


def record(names):
  with open(names_path, 'a') as f:
    f.write(' '.join(n.decode() for n in names.numpy()) + '\n')
  return names


def recording_dataset(split, mode='train', batch_spec=None,
                      input_context=None):
  dataset = create_dataset(split, mode, batch_spec,
                           input_context=input_context)
  return dataset.map(lambda b: dict(b, names=tf.py_function(
      record, [b['names']], tf.string)))


training.datasets.create_dataset = recording_dataset
train.train(logdir, overrides=sys.argv[4:], max_iters=100000)
'''


def _free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(('localhost', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _checkpoint_steps(logdir):
  state = tf.train.get_checkpoint_state(logdir)
  if state is None:
    return []
  return [int(p.rsplit('-', 1)[1]) for p in state.all_model_checkpoint_paths]


def test_two_workers_chief_writes_shards_and_survives_a_killed_worker(
    tmp_path):
  root = str(tmp_path / 'tfrecords')
  overrides = OVERRIDES + ['PATH_TO_TFRECORDS=%s/%%s' % root]
  config.load_config((), overrides)
  generate.ensure_generated(config.CONFIG)
  config.reset_config()
  logdir = str(tmp_path / 'run')
  cluster = {'worker': ['localhost:%d' % p for p in _free_ports(2)]}
  workers = []
  for index in range(2):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', TF_CONFIG=json.dumps(
        {'cluster': cluster, 'task': {'type': 'worker', 'index': index}}))
    log = open(tmp_path / ('worker%d.log' % index), 'w')
    workers.append(subprocess.Popen(
        [sys.executable, '-c', _WORKER, REPO, logdir,
         str(tmp_path / ('names%d.txt' % index))] + overrides,
        env=env, stdout=log, stderr=subprocess.STDOUT))
  try:
    deadline = time.time() + 180
    while len(_checkpoint_steps(logdir)) < 3 and time.time() < deadline:
      assert all(w.poll() is None for w in workers), (
          (tmp_path / 'worker0.log').read_text()[-3000:] +
          (tmp_path / 'worker1.log').read_text()[-3000:])
      time.sleep(0.1)
    assert len(_checkpoint_steps(logdir)) >= 3, 'no checkpoints in 180 s'
    # Kill the other worker mid-run; the chief cannot go on without it.
    workers[1].send_signal(signal.SIGKILL)
    workers[1].wait(timeout=10)
    try:
      workers[0].wait(timeout=10)
    except subprocess.TimeoutExpired:
      workers[0].send_signal(signal.SIGKILL)
      workers[0].wait(timeout=10)
  finally:
    for worker in workers:
      if worker.poll() is None:
        worker.kill()
        worker.wait()

  # Only the chief wrote into the logdir: one summary file, config.yml.
  assert len(glob.glob(os.path.join(logdir, 'train', 'events.out.*'))) == 1
  assert os.path.isfile(os.path.join(logdir, 'config.yml'))
  # Every checkpoint the logdir lists restores; steps follow the interval.
  steps = _checkpoint_steps(logdir)
  assert steps == list(range(2, 2 * len(steps) + 1, 2)), steps
  state = tf.train.get_checkpoint_state(logdir)
  for path in state.all_model_checkpoint_paths:
    step = algos.restore_algo(logdir, path)[1]
    assert path.endswith('ckpt-%d' % step)

  # The workers read disjoint videos, 2 per batch (4 per global batch).
  seen = []
  for index in range(2):
    batches = (tmp_path / ('names%d.txt' % index)).read_text().split('\n')
    batches = [b.split() for b in batches if b]
    assert batches and all(len(b) == 2 for b in batches)
    seen.append({name for b in batches for name in b})
  assert seen[0] and seen[1] and not seen[0] & seen[1], seen
  assert len(seen[0] | seen[1]) == 6
