r"""Converts a folder of frame folders to TFRecords (SPEC section 4).

Each sub-folder of --input_dir is one video; its images (jpg, png, bmp,
webp) are its frames, sorted by name (numbers compare numerically, so
frame_2 comes before frame_10). --fps gives image i the timestamp i / fps,
used for key-event times in seconds and for --target_fps resampling.

Example:
  python -m dataset_preparation.images_to_tfrecords \
      --input_dir ~/penn_action/frames --output_dir /data/penn_tfrecords \
      --dataset_name penn_action --split train --fps 30 --resize 224
"""

import os

from absl import app
from absl import flags

from dataset_preparation import conversion


def list_frame_folders(input_dir):
  """Sub-folders of `input_dir` as {name: path}."""
  if not os.path.isdir(input_dir):
    raise ValueError('%s: input directory not found.' % input_dir)
  return {d: os.path.join(input_dir, d) for d in sorted(os.listdir(input_dir))
          if os.path.isdir(os.path.join(input_dir, d))}


def images_to_tfrecords(input_dir, output_dir, dataset_name, fps, **kwargs):
  """Converts every frame folder of `input_dir`.

  Args:
    input_dir: folder of frame folders.
    output_dir: where the shards go.
    dataset_name: file-name prefix.
    fps: images per second of the folders.
    **kwargs: the options of `conversion.convert`.

  Returns:
    The summary dict of `conversion.convert`.
  """
  folders = list_frame_folders(input_dir)
  if not folders:
    raise ValueError('%s: no frame folders (one sub-folder of images per '
                     'video).' % input_dir)
  return conversion.convert('images', folders, output_dir, dataset_name,
                            fps=fps, **kwargs)


FLAGS = flags.FLAGS


def main(argv):
  del argv
  try:
    images_to_tfrecords(input_dir=FLAGS.input_dir, fps=FLAGS.fps,
                        **conversion.common_kwargs(FLAGS))
  except ValueError as e:
    raise SystemExit('error: %s' % e) from None


if __name__ == '__main__':
  conversion.define_common_flags()
  flags.DEFINE_float('fps', None, 'Images per second (timestamps for labels '
                     'and resampling).')
  flags.mark_flag_as_required('fps')
  app.run(main)
