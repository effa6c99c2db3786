r"""Converts multi-view videos (one file per camera view) to TFRecords.

Takes are found as in the published TCN converter: a file whose name matches
`--view_pattern` (default `_view[_]*[0]+[.].*`, e.g. `pour3_view0.mp4`) is the
first view of a take; the take's name is the file name with the pattern
removed (`pour3`, with its folder relative to --input_dir), and its views are
the files of the same folder with that name followed by another view number
(`pour3_view1.mp4`, ...), in natural order. This is the layout that
`dataset_preparation/record_views.py` (and the published webcam.py) write.

Every take becomes one SequenceExample in the published TCN layout: context
`task` (take name) and `len` (frames), feature lists `view0`, `view1`, ... of
JPEG frames of equal length; plus what this framework reads too: context
`name`, `num_views`, `label`, and `frame_labels` when --annotations give key
events (times of the first view). Views are cut to the shortest one; a take
whose view lengths differ by more than --max_views_discrepancy frames, whose
number of views is not --expected_views, or with an unreadable view is
dropped and reported. Output shards `<dataset>_<split>-NNNNN-of-MMMMM.tfrecord`
and `dataset_info.json` as for single-view data.

Example:
  python -m dataset_preparation.multiview_videos_to_tfrecords \
      --input_dir ~/tcn/videos/mydata/train --output_dir ~/tcn/tfrecords \
      --dataset_name mydata --split train --resize 224
"""

from utils import cli  # first: quiets TensorFlow's start-up

import multiprocessing
import os
import re

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from dataset_preparation import conversion
from dataset_preparation import tfrecord_io
from dataset_preparation.videos_to_tfrecords import VIDEO_EXTENSIONS

# Published defaults (tensorflow/models research/tcn videos_to_tfrecords.py).
DEFAULT_VIEW_PATTERN = '_view[_]*[0]+[.].*'
DEFAULT_EXPECTED_VIEWS = 2
DEFAULT_MAX_VIEWS_DISCREPANCY = 100


def _any_view_pattern(view_pattern):
  """The first-view pattern generalised to any view number."""
  return view_pattern.replace('[0]+', '[0-9]+')


def find_takes(input_dir, view_pattern=DEFAULT_VIEW_PATTERN):
  """Groups the video files of `input_dir` (recursively) into takes.

  Args:
    input_dir: folder of per-view videos.
    view_pattern: regular expression matching the end of a first-view file
      name (from the view marker on, extension included).

  Returns:
    dict take name -> list of view paths (view 0 first, natural order).
  """
  if not os.path.isdir(input_dir):
    raise ValueError('%s: input directory not found.' % input_dir)
  first_view = re.compile('.*' + view_pattern)
  any_view = _any_view_pattern(view_pattern)
  takes = {}
  for root, _, files in sorted(os.walk(input_dir, followlinks=True)):
    videos = [f for f in files if f.lower().endswith(VIDEO_EXTENSIONS)]
    for filename in videos:
      if not first_view.match(filename):
        continue
      base = re.sub(view_pattern, '', filename)
      views = sorted((f for f in videos if re.sub(any_view, '', f) == base),
                     key=conversion._natural_key)  # pylint: disable=protected-access
      name = os.path.relpath(os.path.join(root, base), input_dir)
      takes[name] = [os.path.join(root, f) for f in views]
  return takes


def make_multiview_example(name, views, frame_labels=None, label=0):
  """One take in the published TCN layout (plus `name`, `num_views`).

  Args:
    name: take name (str).
    views: list of V lists of L JPEG bytes.
    frame_labels: optional int [L] per-frame phase labels.
    label: take-level class.

  Returns:
    `tf.train.SequenceExample`.
  """
  lengths = {len(v) for v in views}
  if len(lengths) != 1:
    raise ValueError('take %s: views have different lengths %s.' % (
        name, [len(v) for v in views]))
  num_frames = lengths.pop()
  name_bytes = name.encode('utf-8')
  bytes_feature = lambda v: tf.train.Feature(
      bytes_list=tf.train.BytesList(value=[v]))
  int_feature = lambda v: tf.train.Feature(
      int64_list=tf.train.Int64List(value=[int(v)]))
  context = {'task': bytes_feature(name_bytes), 'len': int_feature(num_frames),
             'name': bytes_feature(name_bytes),
             'num_views': int_feature(len(views)), 'label': int_feature(label)}
  lists = {'view%d' % i: tf.train.FeatureList(
      feature=[bytes_feature(j) for j in view]) for i, view in enumerate(views)}
  if frame_labels is not None:
    if len(frame_labels) != num_frames:
      raise ValueError('take %s: %d frame labels for %d frames.' % (
          name, len(frame_labels), num_frames))
    lists['frame_labels'] = tf.train.FeatureList(
        feature=[int_feature(l) for l in frame_labels])
  return tf.train.SequenceExample(
      context=tf.train.Features(feature=context),
      feature_lists=tf.train.FeatureLists(feature_list=lists))


def read_take(name, view_paths, options, expected_views,
              max_views_discrepancy, annotation=None):
  """Reads every view of one take.

  Returns:
    (result, error): result dict with `views` (V lists of L JPEGs, cut to
    the shortest view), `lengths` (decoded frames per view), `frame_labels`,
    `shape`, `fps`; or (None, reason) when the take must be dropped.
  """
  if expected_views and len(view_paths) != expected_views:
    return None, 'expected %d views, found %d: %s' % (
        expected_views, len(view_paths), ', '.join(view_paths))
  if len(view_paths) < 2:
    return None, 'only one view (%s); a take needs >= 2' % view_paths[0]
  views, shapes = [], set()
  for path in view_paths:
    try:
      jpegs, indices, num_source, fps, shape = conversion.read_video(
          path, options)
    except conversion.SourceError as e:
      return None, '%s: %s' % (path, e)
    if not views:
      first = (indices, num_source, fps)
    views.append(jpegs)
    shapes.add(tuple(shape))
  lengths = [len(v) for v in views]
  if max(lengths) - min(lengths) > max_views_discrepancy:
    return None, ('view lengths %s differ by more than %d frames '
                  '(--max_views_discrepancy)' % (lengths,
                                                 max_views_discrepancy))
  if len(shapes) != 1:
    return None, 'views have different frame sizes %s; use --resize' % (
        sorted(shapes),)
  length = min(lengths)
  labels = None
  if annotation is not None:
    indices, num_source, fps = first
    labels = conversion.frame_labels_for(
        annotation, indices[:length], fps,
        options.get('annotation_unit', 'seconds'), num_source, name)
  return {'views': [v[:length] for v in views], 'lengths': lengths,
          'frame_labels': labels, 'shape': shapes.pop(),
          'fps': options.get('target_fps') or first[2]}, None


def multiview_videos_to_tfrecords(
    input_dir, output_dir, dataset_name, view_pattern=DEFAULT_VIEW_PATTERN,
    expected_views=DEFAULT_EXPECTED_VIEWS,
    max_views_discrepancy=DEFAULT_MAX_VIEWS_DISCREPANCY, split=None,
    val_fraction=0.0, seed=0, target_fps=None, resize=None,
    shorter_side=None, rotate=False, jpeg_quality=95, num_shards=1,
    num_workers=1, annotation_path=None, annotation_unit='seconds',
    expected_segments=None, action_label=0, default_fps=None,
    file_pattern=None):
  """Converts every take of `input_dir`.

  Args:
    input_dir: folder (searched recursively) of per-view videos.
    output_dir: where the shards and dataset_info.json go.
    dataset_name: file-name prefix.
    view_pattern: see `find_takes`.
    expected_views: takes with another number of views are dropped
      (0: any number >= 2).
    max_views_discrepancy: takes whose view lengths differ by more frames
      are dropped.
    split, val_fraction, seed: see `conversion.assign_splits`.
    target_fps, resize, shorter_side, rotate, jpeg_quality, default_fps:
      frame options of `conversion.read_video`.
    num_shards: shards per split.
    num_workers: reader processes (1 reads in this process).
    annotation_path, annotation_unit, expected_segments: key events per take
      (times of view 0), as `conversion.load_annotations` reads them.
    action_label: take-level class written in every record (context
      `label`).
    file_pattern: glob of the first-view file names whose takes are
      converted (e.g. "pour_*"); default every take.

  Returns:
    dict: 'written' {split: takes}, 'frames' {split: frames per view},
    'skipped' list of (take, reason).
  """
  takes = find_takes(input_dir, view_pattern)
  if file_pattern:
    takes = {name: views for name, views in takes.items()
             if conversion.select_sources([os.path.basename(views[0])],
                                          file_pattern)}
  if not takes:
    raise ValueError('%s: no first-view video matches --view_pattern %r%s '
                     '(e.g. NAME_view0.mp4).' % (
                         input_dir, view_pattern,
                         ' and --file_pattern %r' % file_pattern
                         if file_pattern else ''))
  conversion.parse_resize(resize)
  annotations = (conversion.load_annotations(annotation_path,
                                             expected_segments)
                 if annotation_path else None)
  options = {'target_fps': target_fps, 'resize': resize,
             'shorter_side': shorter_side, 'rotate': rotate,
             'jpeg_quality': jpeg_quality,
             'annotation_unit': annotation_unit, 'default_fps': default_fps}
  summary = {'written': {}, 'frames': {}, 'skipped': []}
  context = multiprocessing.get_context('spawn')
  pool = context.Pool(num_workers) if num_workers > 1 else None
  try:
    for split_name, names in conversion.assign_splits(
        takes, split, val_fraction, seed).items():
      jobs = []
      for name in names:
        annotation = None
        if annotations is not None:
          annotation = conversion.find_annotation(annotations, name)
          if annotation is None:
            summary['skipped'].append((name, 'no entry in the annotations'))
            continue
        jobs.append((name, takes[name], options, expected_views,
                     max_views_discrepancy, annotation))
      results = (pool.imap(_read_job, jobs) if pool is not None
                 else map(_read_job, jobs))
      _write_split(results, len(jobs), output_dir, dataset_name, split_name,
                   num_shards, action_label, summary)
  finally:
    if pool is not None:
      pool.terminate()
      pool.join()
  for name, reason in summary['skipped']:
    logging.warning('Dropped take %s: %s', name, reason)
  return summary


def _read_job(job):
  """Worker: (name, view paths, options, ...) -> (name, result, error)."""
  name = job[0]
  result, error = read_take(*job)
  return name, result, error


def _write_split(results, num_takes, output_dir, dataset_name, split,
                 num_shards, action_label, summary):
  """Writes the read takes of one split and its dataset_info entry."""
  written = frames = 0
  max_label = -1
  shapes, rates, view_counts = set(), set(), set()
  with tfrecord_io.ShardedTFRecordWriter(
      output_dir, dataset_name, split,
      max(1, min(num_shards, num_takes))) as writer:
    for name, result, error in results:
      if error:
        summary['skipped'].append((name, error))
        continue
      writer.write(make_multiview_example(
          name, result['views'], result['frame_labels'],
          action_label).SerializeToString())
      written += 1
      frames += len(result['views'][0])
      shapes.add(result['shape'])
      rates.add(round(result['fps'], 3))
      view_counts.add(len(result['views']))
      if result['frame_labels'] is not None and len(result['frame_labels']):
        max_label = max(max_label, int(np.max(result['frame_labels'])))
      logging.info('%s: take %s, %d views of %s frames -> %d frames.', split,
                   name, len(result['views']), result['lengths'],
                   len(result['views'][0]))
    if written == 0:
      raise ValueError('split %s: none of the takes could be converted '
                       '(%s).' % (split, '; '.join(
                           '%s: %s' % s for s in summary['skipped'])))
  summary['written'][split] = written
  summary['frames'][split] = frames
  if len(view_counts) > 1:
    logging.warning('split %s: takes have different numbers of views %s; '
                    'training reads them per file.', split, sorted(
                        view_counts))
  tfrecord_io.update_dataset_info(
      output_dir, dataset_name, split, written, frames, max_label + 1,
      rates.pop() if len(rates) == 1 else None,
      list(shapes.pop()) if len(shapes) == 1 else None, min(view_counts))


FLAGS = flags.FLAGS


def define_flags():
  conversion.define_common_flags()
  flags.DEFINE_string('view_pattern', DEFAULT_VIEW_PATTERN,
                      'Regular expression of the end of a first-view file '
                      'name.')
  flags.DEFINE_integer('expected_views', DEFAULT_EXPECTED_VIEWS,
                       'Views per take (0: any number >= 2).')
  flags.DEFINE_integer('max_views_discrepancy', DEFAULT_MAX_VIEWS_DISCREPANCY,
                       'Drop takes whose view lengths differ by more frames.')
  flags.DEFINE_float('default_fps', None, 'Frame rate of videos whose file '
                     'reports none (default 30).')


@cli.fails_on(ValueError)
def main(argv):
  del argv
  summary = multiview_videos_to_tfrecords(
      FLAGS.input_dir, view_pattern=FLAGS.view_pattern,
      expected_views=FLAGS.expected_views,
      max_views_discrepancy=FLAGS.max_views_discrepancy,
      default_fps=FLAGS.default_fps, file_pattern=FLAGS.file_pattern,
      **conversion.common_kwargs(FLAGS))
  print('Wrote %s to %s; dropped %d take(s)%s' % (
      ', '.join('%d %s takes (%d frames per view)' % (
          n, s, summary['frames'][s]) for s, n in summary['written'].items()),
      FLAGS.output_dir, len(summary['skipped']), ''.join(
          '\n  dropped %s: %s' % s for s in summary['skipped'])))


if __name__ == '__main__':
  cli.run(main, define_flags)
