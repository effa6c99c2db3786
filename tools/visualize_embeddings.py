r"""Pictures of an embedding space: PCA / t-SNE plots, TensorBoard projector
export, and the imitation (cross-view nearest-neighbour) video.

One command each, from an embeddings file of extract_embeddings.py (any
single-view run) or from a training logdir (every view of a multi-view split
is embedded):

    python -m tools.visualize_embeddings --mode pca --embs_path val.npy \
        --output pca.png [--color_by time|phase]
    python -m tools.visualize_embeddings --mode tsne --logdir DIR --output tsne.png
    python -m tools.visualize_embeddings --mode projector --logdir DIR \
        --output projector_dir [--sprite_dim 64] [--max_points 1000]
    python -m tools.visualize_embeddings --mode imitation --logdir DIR \
        --output imitation.mp4 [--query 0] [--num_candidates 3]

- pca / tsne: every video's embeddings projected to 2-D (PCA, or t-SNE of at
  most --max_points evenly subsampled frames), drawn as a trajectory with
  points coloured by normalised time t / T or by phase label.
- projector: `embeddings.tsv`, `metadata.tsv` (video, frame, time, phase),
  `sprite.png` (when frames are available) and a checkpoint plus
  `projector_config.pbtxt`; view with `tensorboard --logdir OUTPUT`.
- imitation: the query (view 0 of take --query) beside, for each of its
  frames, the nearest frame of its other views and of other takes (view 1
  when they have one), as visualize_alignment.py renders it. With
  --embs_path it aligns the query video to the next videos of the file.

With --logdir, frames come with the embeddings; with --embs_path they come
from the file (extracted with --keep_frames) or from --tfrecords.
"""

from utils import cli  # first: quiets TensorFlow's start-up

from absl import app  # pylint: disable=g-bad-import-order
from absl import flags
from absl import logging

from evaluation.embeddings import load_embeddings
from visualization import alignment
from visualization.embeddings import MODES
from visualization.embeddings import embed_logdir
from visualization.embeddings import export_projector
from visualization.embeddings import plot_trajectories
from visualization.embeddings import render_imitation



FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_enum('mode', None, list(MODES), 'What to draw.')
  flags.DEFINE_string('embs_path', None, 'Embeddings file of '
                      'extract_embeddings.py (.npy or .npz).')
  flags.DEFINE_string('logdir', None, 'Training logdir: embed a split (all '
                      'views) with its latest checkpoint.')
  flags.DEFINE_string('checkpoint', None, 'Checkpoint with --logdir.')
  flags.DEFINE_string('dataset', None, 'Dataset with --logdir (default: the '
                      'first of DATASETS).')
  flags.DEFINE_string('split', 'val', 'Split with --logdir.')
  flags.DEFINE_string('tfrecords', None, 'TFRecords to read frames from '
                      '(--embs_path without frames).')
  flags.DEFINE_string('output', None, 'PNG (pca, tsne), directory '
                      '(projector) or .mp4 (imitation).')
  flags.DEFINE_enum('color_by', 'time', ['time', 'phase'], 'Point colours.')
  flags.DEFINE_integer('max_points', 1000, 't-SNE / projector: at most this '
                       'many frames, evenly subsampled per video.')
  flags.DEFINE_integer('sprite_dim', 64, 'Projector thumbnail side.')
  flags.DEFINE_integer('query', 0, 'Imitation: index of the query take.')
  flags.DEFINE_integer('num_candidates', 3, 'Imitation: aligned videos.')
  flags.DEFINE_integer('seed', 0, 't-SNE seed.')


@cli.fails_on(ValueError)
def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Unexpected arguments: %s' % ' '.join(argv[1:]))
  if not FLAGS.mode or not FLAGS.output or not (FLAGS.embs_path or
                                                FLAGS.logdir):
    raise app.UsageError('--mode, --output and --embs_path or --logdir are '
                         'required.')
  if FLAGS.embs_path:
    data = load_embeddings(FLAGS.embs_path)
  else:
    data = embed_logdir(FLAGS.logdir, FLAGS.split, FLAGS.dataset,
                        FLAGS.checkpoint)
  if FLAGS.mode in ('pca', 'tsne'):
    plot_trajectories(data, FLAGS.mode, FLAGS.output, FLAGS.color_by,
                      FLAGS.max_points, FLAGS.seed)
    logging.info('Wrote %s.', FLAGS.output)
  elif FLAGS.mode == 'projector':
    if data.get('frames') is None and FLAGS.tfrecords:
      data['frames'] = [alignment.load_frames(
          data, [i], tfrecords=FLAGS.tfrecords)[i]
                        for i in range(len(data['embs']))]
    count = export_projector(data, FLAGS.output, FLAGS.max_points,
                             FLAGS.sprite_dim)
    logging.info('Wrote a projector of %d points to %s; run tensorboard '
                 '--logdir %s.', count, FLAGS.output, FLAGS.output)
  else:
    render_imitation(data, FLAGS.output, FLAGS.query, FLAGS.num_candidates,
                     FLAGS.tfrecords)


if __name__ == '__main__':
  cli.run(main, define_flags)
