r"""Converts a folder of videos to TFRecords.

Every video file (mp4, avi, mov, mkv, webm; or every file matching
--file_pattern) in --input_dir becomes one SequenceExample named after the
file (without extension). Unreadable or truncated videos are reported by
name and skipped; the run ends with a summary. See docs/data_preparation.md.

Example:
  python -m dataset_preparation.videos_to_tfrecords \
      --input_dir ~/pouring/videos --output_dir ~/.cache/tcc_video/pouring_tfrecords \
      --dataset_name pouring --val_fraction 0.2 --target_fps 15 --resize 224 \
      --annotations ~/pouring/events.csv --num_workers 4 --num_shards 4
"""

from utils import cli  # first: quiets TensorFlow's start-up

import os  # pylint: disable=g-bad-import-order

from absl import flags

from dataset_preparation import conversion

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')


def list_videos(input_dir, file_pattern=None):
  """Video files of `input_dir` as {name: path}.

  Args:
    input_dir: folder of videos.
    file_pattern: glob of file names (e.g. '*.mp4'); default: every file
      with a video extension.

  Returns:
    {name: path}; the name is the file name without extension, or with it
    when two files share a stem.
  """
  if not os.path.isdir(input_dir):
    raise ValueError('%s: input directory not found.' % input_dir)
  files = sorted(f for f in os.listdir(input_dir)
                 if os.path.isfile(os.path.join(input_dir, f)))
  if file_pattern:
    files = conversion.select_sources(files, file_pattern)
  else:
    files = [f for f in files if f.lower().endswith(VIDEO_EXTENSIONS)]
  stems = [os.path.splitext(f)[0] for f in files]
  return {(stem if stems.count(stem) == 1 else f): os.path.join(input_dir, f)
          for f, stem in zip(files, stems)}


def videos_to_tfrecords(input_dir, output_dir, dataset_name, default_fps=None,
                        file_pattern=None, **kwargs):
  """Converts every video of `input_dir`.

  Args:
    input_dir: folder of video files.
    output_dir: where `<dataset>_<split>-NNNNN-of-MMMMM.tfrecord` go.
    dataset_name: file-name prefix.
    default_fps: frame rate for videos whose file reports none.
    file_pattern: glob of the file names to convert (see `list_videos`).
    **kwargs: the options of `conversion.convert` (split, val_fraction,
      seed, target_fps, resize, shorter_side, rotate, jpeg_quality,
      num_shards, num_workers, annotation_path, annotation_unit,
      expected_segments, action_label).

  Returns:
    The summary dict of `conversion.convert`.
  """
  videos = list_videos(input_dir, file_pattern)
  if not videos:
    raise ValueError('%s: no video files (%s).' % (
        input_dir, file_pattern or ', '.join(VIDEO_EXTENSIONS)))
  return conversion.convert('video', videos, output_dir, dataset_name,
                            default_fps=default_fps, **kwargs)


FLAGS = flags.FLAGS


def define_flags():
  """Defines the flags; only when run as a script (or by a test calling
  main), so that importing this module defines none."""
  conversion.define_common_flags()
  flags.DEFINE_float('default_fps', None, 'Frame rate of videos whose file '
                     'reports none (default 30).')
  flags.adopt_module_key_flags(conversion)


def main(argv):
  del argv
  try:
    videos_to_tfrecords(input_dir=FLAGS.input_dir,
                        default_fps=FLAGS.default_fps,
                        file_pattern=FLAGS.file_pattern,
                        **conversion.common_kwargs(FLAGS))
  except ValueError as e:
    raise SystemExit('error: %s' % e) from None


if __name__ == '__main__':
  cli.run(main, define_flags)
