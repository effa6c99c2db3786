"""Atomic file writes with the usual permissions.

Every output of the tools (config.yml, results.jsonl, embeddings, figures,
videos, TFRecord shards, dataset_info.json) is written under a hidden
temporary name beside its final path and renamed over it only once complete,
so a crash never leaves a partial file under the final name. Temporary files
are created like `open()` creates files (mode 0666 minus the umask, i.e.
-rw-r--r-- under the usual umask 022), not with `tempfile.mkstemp`'s 0600.
"""

import contextlib
import os
import secrets


def reserve_temp_path(path):
  """Creates an empty hidden file beside `path` and returns its path.

  The name is `.<basename>.<random>.tmp<ext>`: it keeps the extension, for
  writers that pick a format from it (OpenCV's VideoWriter), and glob
  patterns such as `*.tfrecord` skip it because it starts with a dot.
  """
  directory, base = os.path.split(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  extension = os.path.splitext(base)[1]
  while True:
    tmp = os.path.join(directory, '.%s.%s.tmp%s' % (
        base, secrets.token_hex(4), extension))
    try:
      fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
      continue
    os.close(fd)
    return tmp


def remove_if_exists(path):
  if os.path.lexists(path):
    os.remove(path)


@contextlib.contextmanager
def atomic_path(path):
  """Yields a temporary path to write; renames it to `path` on success.

  For writers that open a path themselves (cv2.VideoWriter,
  matplotlib's savefig, tf.io.TFRecordWriter). On an exception the temporary
  file is deleted and `path` is left untouched.
  """
  tmp = reserve_temp_path(path)
  try:
    yield tmp
    os.replace(tmp, path)
  finally:
    remove_if_exists(tmp)


@contextlib.contextmanager
def atomic_open(path, mode='w'):
  """Like `open(path, mode)` ('w' or 'wb'), but atomic (see the module doc).

  The data is flushed and fsync'ed before the rename.
  """
  if mode not in ('w', 'wb'):
    raise ValueError('atomic_open writes whole files: mode must be w or wb, '
                     'got %r.' % mode)
  with atomic_path(path) as tmp:
    with open(tmp, mode) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())


def write_text(path, text):
  """Writes a str to `path` atomically."""
  with atomic_open(path, 'w') as f:
    f.write(text)
  return path


def write_bytes(path, data):
  """Writes bytes to `path` atomically."""
  with atomic_open(path, 'wb') as f:
    f.write(data)
  return path
