r"""Converts a folder of frame folders to TFRecords.

Each sub-folder of --input_dir (or each one matching --file_pattern) is one
video; its images (jpg, png, bmp, webp) are its frames, sorted by name
(numbers compare numerically, so frame_2 comes before frame_10). --fps gives
image i the timestamp i / fps, used for key-event times in seconds and for
--target_fps resampling. See docs/data_preparation.md.

Example:
  python -m dataset_preparation.images_to_tfrecords \
      --input_dir ~/penn_action/frames --output_dir /data/penn_tfrecords \
      --dataset_name penn_action --split train --fps 30 --resize 224
"""

from utils import cli  # first: quiets TensorFlow's start-up

import os  # pylint: disable=g-bad-import-order

from absl import flags

from dataset_preparation import conversion


def list_frame_folders(input_dir, file_pattern=None):
  """Sub-folders of `input_dir` (matching the glob `file_pattern`) as
  {name: path}."""
  if not os.path.isdir(input_dir):
    raise ValueError('%s: input directory not found.' % input_dir)
  names = [d for d in sorted(os.listdir(input_dir))
           if os.path.isdir(os.path.join(input_dir, d))]
  return {d: os.path.join(input_dir, d)
          for d in conversion.select_sources(names, file_pattern)}


def images_to_tfrecords(input_dir, output_dir, dataset_name, fps,
                        file_pattern=None, **kwargs):
  """Converts every frame folder of `input_dir`.

  Args:
    input_dir: folder of frame folders.
    output_dir: where the shards go.
    dataset_name: file-name prefix.
    fps: images per second of the folders.
    file_pattern: glob of the folder names to convert (default: all).
    **kwargs: the options of `conversion.convert`.

  Returns:
    The summary dict of `conversion.convert`.
  """
  folders = list_frame_folders(input_dir, file_pattern)
  if not folders:
    raise ValueError('%s: no frame folders (one sub-folder of images per '
                     'video%s).' % (input_dir, ', matching %s' % file_pattern
                                    if file_pattern else ''))
  return conversion.convert('images', folders, output_dir, dataset_name,
                            fps=fps, **kwargs)


FLAGS = flags.FLAGS


def define_flags():
  """Defines the command-line flags (only when run as a script)."""
  conversion.define_common_flags()
  flags.DEFINE_float('fps', None, 'Images per second (timestamps for labels '
                     'and resampling).')
  flags.mark_flag_as_required('fps')
  flags.adopt_module_key_flags(conversion)


def main(argv):
  del argv
  try:
    images_to_tfrecords(input_dir=FLAGS.input_dir, fps=FLAGS.fps,
                        file_pattern=FLAGS.file_pattern,
                        **conversion.common_kwargs(FLAGS))
  except ValueError as e:
    raise SystemExit('error: %s' % e) from None


if __name__ == '__main__':
  cli.run(main, define_flags)
