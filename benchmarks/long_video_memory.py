r"""Peak memory of embedding one long video, against its length.

For each length (minutes of 30 fps video at 224 x 224 px), one TFRecord
holding that video is written (a few textured JPEG frames, encoded once and
repeated), then a fresh subprocess restores nothing but builds the model
(TRAINING_ALGO alignment, a SmallCNN of --small_cnn_filters, IMAGE_SIZE 224) and embeds
the video with `evaluation.embeddings.embed_split`, the code evaluate.py and
extract_embeddings.py run. The subprocess reports its peak resident memory
(VmHWM of /proc/self/status) before embedding (model built) and at the end.

For comparison, the old path (decode every frame of the video to float32 at
IMAGE_SIZE, then `Algorithm.embed_video` on the whole array) runs in the same
way on the lengths listed in --old_path_minutes only. `embed_video` no longer
keeps the base features of every frame as the old code did, so the old path's
peak is a lower bound of the old code's. The old path is not run on long
videos: at 224 px it needs
about 0.6 MB per frame, i.e. ~10.8 GB for 10 minutes, so it is not run on
long videos.

    python -m benchmarks.long_video_memory [--minutes 1,2.5,5,10] \
        [--old_path_minutes 1] [--stride 1] [--frames_per_batch 25]

The table gives, per length: frames, JPEG bytes of the record, peak RSS
with the model built and nothing embedded, peak RSS at the end, and the
time spent embedding.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

# The repository root, where the measuring child process runs.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FPS = 30
SIZE = 224
NUM_DISTINCT_FRAMES = 8

flags.DEFINE_list('minutes', ['1', '2.5', '5', '10'],
                  'Video lengths in minutes (30 fps).')
flags.DEFINE_list('old_path_minutes', ['1'],
                  'Lengths at which the old all-frames path is measured too.')
flags.DEFINE_integer('stride', 1, 'DATA.SAMPLE_ALL_STRIDE (embed every N-th '
                     'frame).')
flags.DEFINE_integer('frames_per_batch', 25, 'EVAL.FRAMES_PER_BATCH.')
flags.DEFINE_integer('jpeg_quality', 90, 'JPEG quality of the frames.')
flags.DEFINE_list('small_cnn_filters', ['8', '16', '32'],
                  'MODEL.BASE_MODEL.SMALL_CNN_FILTERS (a small network keeps '
                  'the run short on a CPU; memory is about the frames).')
# Internal: run one measurement in this process.
flags.DEFINE_string('child', None, 'Internal: JSON arguments of one run.')
FLAGS = flags.FLAGS


def peak_rss_mb():
  """VmHWM (peak resident set size) of this process, in MiB."""
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith('VmHWM:'):
        return int(line.split()[1]) / 1024.0
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def textured_jpegs(quality):
  """NUM_DISTINCT_FRAMES textured 224 px JPEGs (smoothed noise + gradient)."""
  import cv2  # pylint: disable=g-import-not-at-top
  from dataset_preparation import tfrecord_io  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(0)
  jpegs = []
  ramp = np.linspace(0, 120, SIZE)[None, :, None]
  for _ in range(NUM_DISTINCT_FRAMES):
    noise = cv2.GaussianBlur(rng.uniform(0, 255, (SIZE, SIZE, 3)), (0, 0), 2)
    frame = np.clip(0.6 * noise + ramp, 0, 255).astype(np.uint8)
    jpegs.append(tfrecord_io.encode_jpeg(frame, quality))
  return jpegs


def write_video(directory, dataset, num_frames, jpegs):
  """One-video 'val' split of `dataset` in `directory`; returns its bytes."""
  from dataset_preparation import tfrecord_io  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  os.makedirs(directory, exist_ok=True)
  frames = [jpegs[t % len(jpegs)] for t in range(num_frames)]
  example = tfrecord_io.make_sequence_example('long', frames)
  path = os.path.join(directory, '%s_val-00000-of-00001.tfrecord' % dataset)
  with tf.io.TFRecordWriter(path) as writer:
    writer.write(example.SerializeToString())
  tfrecord_io.update_dataset_info(directory, dataset, 'val', 1, num_frames,
                                  0, float(FPS), [SIZE, SIZE])
  return os.path.getsize(path)


def run_child(args):
  """Builds the model, embeds the video; prints one JSON line."""
  import algos  # pylint: disable=g-import-not-at-top
  import config  # pylint: disable=g-import-not-at-top
  from config import CONFIG  # pylint: disable=g-import-not-at-top
  import datasets  # pylint: disable=g-import-not-at-top
  from evaluation.embeddings import embed_split  # pylint: disable=g-import-not-at-top
  config.reset_config()
  CONFIG.PATH_TO_TFRECORDS = args['path']
  CONFIG.DATASETS = [args['dataset']]
  CONFIG.IMAGE_SIZE = SIZE
  CONFIG.DATA.SAMPLE_ALL_STRIDE = args['stride']
  CONFIG.EVAL.FRAMES_PER_BATCH = args['frames_per_batch']
  CONFIG.MODEL.BASE_MODEL.SMALL_CNN_FILTERS = args['filters']
  algo = algos.get_algo()
  algo.build_all()
  before = peak_rss_mb()
  start = time.time()
  if args['old_path']:
    # What evaluation did before: every frame decoded at IMAGE_SIZE, then
    # the whole float32 video embedded.
    embs = []
    for video in datasets.create_one_epoch_dataset(args['dataset'], 'val'):
      frames = datasets.decode_eval_frames(
          video['jpegs'], SIZE, CONFIG.AUGMENTATION.RANDOM_CROP)
      embs.append(algo.embed_video(frames, args['stride'],
                                   args['frames_per_batch']))
  else:
    embs = embed_split(algo, args['dataset'], 'val', CONFIG,
                       log=lambda _: None)['embs']
  seconds = time.time() - start
  print(json.dumps({'before_mb': before, 'peak_mb': peak_rss_mb(),
                    'seconds': seconds,
                    'num_embs': int(sum(len(e) for e in embs))}))


def measure(path, dataset, old_path):
  """Runs one measurement in a fresh Python process; returns its dict."""
  args = {'path': path, 'dataset': dataset, 'old_path': old_path,
          'stride': FLAGS.stride, 'frames_per_batch': FLAGS.frames_per_batch,
          'filters': [int(f) for f in FLAGS.small_cnn_filters]}
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
  result = subprocess.run(
      [sys.executable, '-m', 'benchmarks.long_video_memory', '--child',
       json.dumps(args)], capture_output=True, text=True, env=env, cwd=REPO,
      check=False)
  if result.returncode != 0:
    raise RuntimeError('measurement of %s failed:\n%s' % (
        dataset, result.stderr[-3000:]))
  return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv):
  del argv
  if FLAGS.child:
    run_child(json.loads(FLAGS.child))
    return
  minutes = [float(m) for m in FLAGS.minutes]
  old_minutes = {float(m) for m in FLAGS.old_path_minutes}
  jpegs = textured_jpegs(FLAGS.jpeg_quality)
  print('%d px, %d fps, stride %d, %d frames per chunk, SmallCNN filters %s; '
        'JPEG frames of %d bytes on average.' % (
            SIZE, FPS, FLAGS.stride, FLAGS.frames_per_batch,
            ','.join(FLAGS.small_cnn_filters),
            int(np.mean([len(j) for j in jpegs]))))
  rows = []
  with tempfile.TemporaryDirectory() as root:
    for length in minutes:
      num_frames = int(round(length * 60 * FPS))
      dataset = 'long%d' % num_frames
      size = write_video(os.path.join(root, dataset), dataset, num_frames,
                         jpegs)
      paths = [('chunked', False)]
      if length in old_minutes:
        paths.append(('all frames (old)', True))
      for name, old_path in paths:
        result = measure(os.path.join(root, '%s'), dataset, old_path)
        rows.append((length, num_frames, size, name, result))
        print('  measured %.1f min (%s): peak %.0f MiB' % (
            length, name, result['peak_mb']), flush=True)
  print()
  print('%7s %7s %10s %-17s %12s %10s %8s %7s' % (
      'minutes', 'frames', 'JPEG MiB', 'path', 'model MiB', 'peak MiB',
      'embs', 'time s'))
  for length, num_frames, size, name, r in rows:
    print('%7.1f %7d %10.1f %-17s %12.0f %10.0f %8d %7.1f' % (
        length, num_frames, size / 2.0 ** 20, name, r['before_mb'],
        r['peak_mb'], r['num_embs'], r['seconds']))
  chunked = {length: r for length, _, _, name, r in rows
             if name == 'chunked'}
  print()
  for length, _, _, name, r in rows:
    if name != 'chunked':
      new = chunked[length]
      print('%.1f min: old path peak %.0f MiB / chunked %.0f MiB = %.1fx '
            '(above the model: %.0f / %.0f MiB = %.1fx).' % (
                length, r['peak_mb'], new['peak_mb'],
                r['peak_mb'] / new['peak_mb'],
                r['peak_mb'] - r['before_mb'],
                new['peak_mb'] - new['before_mb'],
                (r['peak_mb'] - r['before_mb']) /
                max(1.0, new['peak_mb'] - new['before_mb'])))
  longest = max(chunked)
  print('Chunked peak at %.1f min: %.0f MiB (%s 2 GiB); growth from %.1f to '
        '%.1f min: %+.0f MiB.' % (
            longest, chunked[longest]['peak_mb'],
            'under' if chunked[longest]['peak_mb'] < 2048 else 'OVER',
            min(chunked), longest,
            chunked[longest]['peak_mb'] - chunked[min(chunked)]['peak_mb']))
  print('The old path is not run on longer videos: at %d px it holds %.1f '
        'MB of float32 per frame (%.1f GB for %.1f min).' % (
            SIZE, SIZE * SIZE * 3 * 4 / 1e6,
            SIZE * SIZE * 3 * 4 * longest * 60 * FPS / 1e9, longest))


if __name__ == '__main__':
  app.run(main)
