r"""Renders how videos align through their embeddings.

    python visualize_alignment.py --embs_path /tmp/val_embs.npy \
        --video_path /tmp/align.mp4 [--reference 0] [--candidates 1,2,3] \
        [--grid] [--logdir DIR | --tfrecords DIR_OR_GLOB]

For each embedded frame of the reference video, the output mp4 shows it
beside the nearest-neighbour frame (in embedding space) of each candidate
video; every tile is labelled with its video, frame index and phase label.
Without --grid the tiles form one row; with --grid a near-square grid.
Default candidates: the next video (one row), or with --grid every other
video up to 15. A PNG of the similarity matrix of the reference and the first
candidate, with the nearest-neighbour path, is written beside the video
(--similarity_path, default `<video_path without extension>_similarity.png`).

Frames come from the embeddings file when it was extracted with
--keep_frames; otherwise they are read again from the TFRecords: --logdir
(its config.yml gives PATH_TO_TFRECORDS, and the file its dataset and split)
or --tfrecords (a directory, a file or a glob). Frames read from TFRecords
are decoded one at a time as the video is written (only the JPEG strings of
the shown videos are held), so long videos fit in memory. The mp4 ('mp4v')
is written under a temporary name and renamed.

Loading a pickled .npy runs code stored in the file: only pass .npy files
you trust (prefer the .npz that extract_embeddings.py writes without pickle).
"""

from utils import cli  # first: quiets TensorFlow's start-up

from absl import app  # pylint: disable=g-bad-import-order
from absl import flags

from evaluation.embeddings import load_embeddings
from utils import console
from visualization.alignment import check_video_indices
from visualization.alignment import default_candidates
from visualization.alignment import load_frames
from visualization.alignment import render_alignment


FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags.

  Called only when the file runs as a script, so that importing this module
  next to other tools never defines a flag twice.
  """
  flags.DEFINE_string('embs_path', None, 'Embeddings file (.npz or .npy) from '
                      'extract_embeddings.py. Loading a pickled .npy runs '
                      'code stored in it: only load .npy files you trust.')
  flags.DEFINE_string('video_path', None, 'Output .mp4 path.')
  flags.DEFINE_integer('reference', 0, 'Index of the reference video.')
  flags.DEFINE_list('candidates', None, 'Indices of the videos aligned to the '
                    'reference (comma-separated).')
  flags.DEFINE_bool('grid', False, 'Arrange the tiles in a grid.')
  flags.DEFINE_string('logdir', None, 'Training logdir, to re-read frames from '
                      'its TFRecords when the file has none.')
  flags.DEFINE_string('tfrecords', None, 'TFRecord directory, file or glob to '
                      're-read frames from.')
  flags.DEFINE_string('similarity_path', None, 'Output .png of the similarity '
                      'matrix (default: beside the video).')
  flags.DEFINE_enum('distance', 'sqeuclidean', ['sqeuclidean', 'cosine'],
                    'Distance of the nearest-neighbour search.')
  flags.DEFINE_integer('tile_size', 192, 'Tile side in pixels (even).')
  flags.DEFINE_float('fps', 10.0, 'Frames per second of the video.')


@cli.fails_on(ValueError)
def main(argv):
  console.start()
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  if not FLAGS.embs_path or not FLAGS.video_path:
    raise app.UsageError('--embs_path and --video_path are required.')
  data = load_embeddings(FLAGS.embs_path)
  candidates = None
  if FLAGS.candidates:
    try:
      candidates = [int(c) for c in FLAGS.candidates]
    except ValueError:
      raise ValueError('--candidates must be video indices, e.g. 1,2,3; '
                       'got %s.' % ','.join(FLAGS.candidates)) from None
  else:
    candidates = default_candidates(len(data['embs']), FLAGS.reference,
                                    FLAGS.grid)
  check_video_indices(len(data['embs']), FLAGS.reference, candidates)
  frames = load_frames(data, [FLAGS.reference] + candidates, FLAGS.logdir,
                       FLAGS.tfrecords)
  render_alignment(data, FLAGS.video_path, FLAGS.reference, candidates,
                   FLAGS.grid, frames, FLAGS.distance, FLAGS.tile_size,
                   FLAGS.fps, FLAGS.similarity_path)


if __name__ == '__main__':
  cli.run(main, define_flags)
