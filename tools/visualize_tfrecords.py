r"""Renders one video of a TFRecord file as a contact sheet (PNG) or an mp4.

Each frame is labelled with its index and phase label; the video name heads
the sheet and every mp4 frame.

Examples:
  python -m tools.visualize_tfrecords \
      --tfrecord /data/pouring_train-00000-of-00004.tfrecord --index 3 \
      --output /tmp/video3.png
  python -m tools.visualize_tfrecords \
      --tfrecord ... --name pour_012 --output /tmp/pour_012.mp4
"""

from utils import cli  # first: quiets TensorFlow's start-up

from absl import flags  # pylint: disable=g-bad-import-order

from visualization.tfrecords import describe
from visualization.tfrecords import visualize

FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags (only when run as a script)."""
  flags.DEFINE_string('tfrecord', None, 'TFRecord file.')
  flags.DEFINE_string('output', None, '.png (contact sheet) or .mp4.')
  flags.DEFINE_integer('index', 0, 'Which video of the file.')
  flags.DEFINE_string('name', None, 'Pick the video by name instead.')
  flags.DEFINE_integer('max_frames', 24, 'Frames on the contact sheet.')
  flags.DEFINE_integer('columns', 6, 'Contact sheet columns.')
  flags.DEFINE_float('fps', 10.0, 'Frame rate of the mp4.')
  flags.mark_flags_as_required(['tfrecord', 'output'])


def main(argv):
  """Renders the video the flags name; prints what it wrote.

  Args:
    argv: absl's argv (ignored).
  """
  del argv
  try:
    video = visualize(FLAGS.tfrecord, FLAGS.output, FLAGS.index, FLAGS.name,
                      FLAGS.max_frames, FLAGS.columns, FLAGS.fps)
  except ValueError as e:
    raise SystemExit('error: %s' % e) from None
  print(describe(video, FLAGS.output))


if __name__ == '__main__':
  cli.run(main, define_flags)
