"""Safe, resumable downloads and archive extraction for the dataset scripts.

- `fetch(url, path)`: downloads into `<path>.part`, resuming it with an HTTP
  Range request when a previous run was cut off (a server that ignores the
  range restarts it from the start), checks the size (the expected one, or
  the one the server announces) and the checksum (an expected SHA-256, or
  the MD5 Google Cloud Storage sends in `x-goog-hash`), and only then renames
  it to `path`. A checksum mismatch deletes the partial file and fails.
- `extract(archive, target_dir)`: unpacks a .tar(.gz/.bz2/.xz) or .zip after
  checking every entry: absolute names, `..` components, links that point
  outside the target and special files are refused before anything is
  written. It unpacks into a hidden folder beside `target_dir` and renames
  it at the end, so an interrupted extraction never looks complete.
- `staged_directory(final_dir)`: the same write-then-rename for a whole
  dataset folder.
"""

import base64
import contextlib
import hashlib
import os
import posixpath
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile

from absl import logging

CHUNK_SIZE = 1 << 20
_RETRIES = 3


class DownloadError(Exception):
  """A download or an archive that cannot be used; the message says why."""


# ----------------------------------------------------------------------------
# Downloads.
# ----------------------------------------------------------------------------


def _default_opener(request):
  return urllib.request.urlopen(request, timeout=60)


def _status(response):
  """HTTP status of a response; file:// responses count as 200."""
  status = getattr(response, 'status', None)
  if status is None and hasattr(response, 'getcode'):
    status = response.getcode()
  return status or 200


def _google_md5(headers):
  """Hex MD5 from an `x-goog-hash: crc32c=...,md5=...` header, or None."""
  for part in (headers.get('x-goog-hash') or '').split(','):
    key, _, value = part.strip().partition('=')
    if key == 'md5' and value:
      return base64.b64decode(value).hex()
  return None


def file_digest(path, algorithm):
  """Hex digest of a file ('sha256', 'md5', ...)."""
  digest = hashlib.new(algorithm)
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(CHUNK_SIZE), b''):
      digest.update(chunk)
  return digest.hexdigest()


def _verify(path, url, expected_size, sha256, md5):
  """Raises DownloadError when `path` has the wrong size or checksum.

  A file that is too long or has a wrong checksum is deleted (resuming it
  cannot help); a short one is kept for the next run to resume.
  """
  size = os.path.getsize(path)
  if expected_size is not None and size != expected_size:
    if size > expected_size:
      os.remove(path)
    raise DownloadError('%s: got %d bytes, expected %d; run again to %s.' % (
        url, size, expected_size,
        'resume' if size < expected_size else 'download it anew'))
  for algorithm, expected in (('sha256', sha256), ('md5', md5)):
    if not expected:
      continue
    actual = file_digest(path, algorithm)
    if actual != expected.lower():
      os.remove(path)
      raise DownloadError(
          '%s: %s checksum mismatch (expected %s, got %s); the corrupt '
          'download was deleted, run again to download it anew.' % (
              url, algorithm, expected, actual))


def _transfer(url, part, opener, expected_size):
  """One attempt: appends the rest of `url` to `part`.

  Returns:
    (total size announced by the server or None, MD5 it announced or None).
  """
  offset = os.path.getsize(part) if os.path.exists(part) else 0
  if expected_size is not None and offset == expected_size:
    return expected_size, None
  request = urllib.request.Request(url)
  if offset:
    request.add_header('Range', 'bytes=%d-' % offset)
  try:
    response = opener(request)
  except urllib.error.HTTPError as e:
    if e.code == 416 and offset:
      # The range starts at the end: the part file is complete.
      return offset, None
    raise
  with contextlib.closing(response):
    status = _status(response)
    headers = response.headers
    total = None
    if status == 206:
      content_range = headers.get('Content-Range', '')
      start = content_range.split(' ')[-1].split('-')[0]
      if not start.isdigit() or int(start) != offset:
        raise DownloadError('%s: the server answered the range request '
                            'with %r.' % (url, content_range))
      total_text = content_range.rpartition('/')[2]
      total = int(total_text) if total_text.isdigit() else None
      mode = 'ab'
    else:
      if offset:
        logging.info('%s: the server cannot resume; downloading it again.',
                     url)
      offset = 0
      length = headers.get('Content-Length')
      total = int(length) if length and length.isdigit() else None
      mode = 'wb'
    received = offset
    last_report = time.time()
    with open(part, mode) as f:
      for chunk in iter(lambda: response.read(CHUNK_SIZE), b''):
        f.write(chunk)
        received += len(chunk)
        if time.time() - last_report > 10:
          last_report = time.time()
          logging.info('%s: %.1f / %s MB', os.path.basename(part),
                       received / 1e6, '%.1f' % (total / 1e6) if total
                       else '?')
    return total, _google_md5(headers)


def fetch(url, path, expected_size=None, sha256=None, opener=None):
  """Downloads `url` to `path` (see the module doc); returns `path`.

  Args:
    url: http(s):// or file:// URL.
    path: destination file. When it exists already it is checked (if a size
      or SHA-256 is given) and kept.
    expected_size: size in bytes, or None to trust the server's.
    sha256: hex SHA-256, or None.
    opener: callable(urllib.request.Request) -> response, for tests;
      default urllib.request.urlopen.

  Raises:
    DownloadError: wrong size or checksum, or the download kept failing.
  """
  opener = opener or _default_opener
  if os.path.exists(path):
    if expected_size is not None or sha256:
      _verify(path, url, expected_size, sha256, None)
    return path
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  part = path + '.part'
  for attempt in range(1, _RETRIES + 1):
    try:
      total, md5 = _transfer(url, part, opener, expected_size)
      break
    except urllib.error.HTTPError as e:
      raise DownloadError('%s: %s.' % (url, e)) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
      if attempt == _RETRIES:
        raise DownloadError('%s: download failed (%s); run again to resume.'
                            % (url, e)) from None
      logging.warning('%s: %s; resuming (attempt %d of %d).', url, e,
                      attempt + 1, _RETRIES)
  if expected_size is None:
    expected_size = total
  _verify(part, url, expected_size, sha256, md5)
  os.replace(part, path)
  return path


# ----------------------------------------------------------------------------
# Archives.
# ----------------------------------------------------------------------------


def _check_member_name(archive, name):
  """Raises DownloadError unless `name` stays inside the target folder."""
  normalized = name.replace('\\', '/')
  if (normalized.startswith('/') or posixpath.isabs(normalized) or
      (len(normalized) > 1 and normalized[1] == ':')):
    raise DownloadError('%s: refused: entry %r has an absolute path.' %
                        (archive, name))
  if '..' in normalized.split('/'):
    raise DownloadError('%s: refused: entry %r leaves the target folder '
                        '(..).' % (archive, name))


def _check_tar_member(archive, member):
  _check_member_name(archive, member.name)
  if member.issym() or member.islnk():
    target = member.linkname.replace('\\', '/')
    if member.issym():
      target = posixpath.join(posixpath.dirname(member.name), target)
    resolved = posixpath.normpath(target)
    if (target.startswith('/') or resolved == '..' or
        resolved.startswith('../')):
      raise DownloadError('%s: refused: link %r points outside the target '
                          'folder (%r).' % (archive, member.name,
                                            member.linkname))
  elif not (member.isfile() or member.isdir()):
    raise DownloadError('%s: refused: entry %r is not a file, folder or '
                        'link.' % (archive, member.name))


def list_safe_members(archive):
  """Checks every entry of a tar or zip archive before anything is written.

  Returns:
    ('tar', members) or ('zip', infos).

  Raises:
    DownloadError: an unsafe entry, or not an archive.
  """
  if tarfile.is_tarfile(archive):
    with tarfile.open(archive) as tar:
      members = tar.getmembers()
    for member in members:
      _check_tar_member(archive, member)
    return 'tar', members
  if zipfile.is_zipfile(archive):
    with zipfile.ZipFile(archive) as zf:
      infos = zf.infolist()
    for info in infos:
      _check_member_name(archive, info.filename)
      # Unix mode bits in the high word: refuse symbolic links.
      if (info.external_attr >> 16) & 0o170000 == 0o120000:
        raise DownloadError('%s: refused: entry %r is a symbolic link.' %
                            (archive, info.filename))
    return 'zip', infos
  raise DownloadError('%s: not a tar or zip archive; delete it and run '
                      'again.' % archive)


@contextlib.contextmanager
def staged_directory(final_dir):
  """Yields a hidden folder beside `final_dir`, renamed to it on success.

  `final_dir` must not exist yet (the rename is atomic then). On an
  exception the hidden folder is deleted.
  """
  parent = os.path.dirname(os.path.abspath(final_dir))
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(dir=parent, prefix='.%s.staging-' %
                             os.path.basename(os.path.normpath(final_dir)))
  try:
    yield staging
    os.chmod(staging, 0o777 & ~_umask())
    os.rename(staging, final_dir)
  finally:
    shutil.rmtree(staging, ignore_errors=True)


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


def extract(archive, target_dir):
  """Unpacks `archive` into `target_dir` (which must not exist yet).

  Every entry is checked first (`list_safe_members`); the archive is
  unpacked into a hidden folder beside `target_dir`, renamed at the end.

  Returns:
    `target_dir`.
  """
  if os.path.exists(target_dir):
    raise DownloadError('%s exists already; delete it to extract %s again.'
                        % (target_dir, archive))
  kind, _ = list_safe_members(archive)
  with staged_directory(target_dir) as staging:
    if kind == 'tar':
      with tarfile.open(archive) as tar:
        if hasattr(tarfile, 'data_filter'):
          tar.extractall(staging, filter='data')
        else:
          tar.extractall(staging)  # Every member was checked above.
    else:
      with zipfile.ZipFile(archive) as zf:
        zf.extractall(staging)
  return target_dir
