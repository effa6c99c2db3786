"""The DAVIS folder layout: read sequences, write palette-PNG masks.

    <root>/JPEGImages/480p/<seq>/00000.jpg ...
    <root>/Annotations/480p/<seq>/00000.png ...  (palette PNGs, pixel = id)
    <root>/ImageSets/2017/<split>.txt            (one sequence name a line)

Keypoint tracks (not part of DAVIS; written by the synthetic generator) are
`<root>/Keypoints/<seq>.npz` with `coords` float [T, J, 2] (x, y pixels) and
`visible` bool [T, J].
"""

import glob
import os
import tempfile

import cv2
import numpy as np
from PIL import Image

RESOLUTION = '480p'


def davis_palette():
  """The DAVIS colour palette: uint8 [256, 3] (the PASCAL VOC bit scheme)."""
  palette = np.zeros((256, 3), np.uint8)
  for index in range(256):
    label, r, g, b = index, 0, 0, 0
    for shift in range(7, -1, -1):
      r |= ((label >> 0) & 1) << shift
      g |= ((label >> 1) & 1) << shift
      b |= ((label >> 2) & 1) << shift
      label >>= 3
    palette[index] = (r, g, b)
  return palette


def _atomic_path(path):
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp_',
                             suffix=os.path.splitext(path)[1])
  os.close(fd)
  return tmp


def _publish(tmp, path):
  os.chmod(tmp, 0o644)
  os.replace(tmp, path)


def write_palette_png(path, labels, palette=None):
  """Writes int [H, W] ids (0..255) as a palette PNG, atomically."""
  labels = np.asarray(labels)
  if labels.min() < 0 or labels.max() > 255:
    raise ValueError('%s: label ids must be in 0..255.' % path)
  image = Image.fromarray(labels.astype(np.uint8), mode='P')
  image.putpalette((davis_palette() if palette is None else
                    np.asarray(palette, np.uint8)).reshape(-1).tolist())
  tmp = _atomic_path(path)
  try:
    image.save(tmp, format='PNG')
    _publish(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def read_palette_png(path):
  """uint8 [H, W] ids of a palette (or grey) PNG mask."""
  try:
    image = Image.open(path)
    image.load()
  except (OSError, ValueError) as e:
    raise ValueError('%s: cannot read the mask (%s); masks must be palette '
                     'PNGs whose pixel values are object ids.' % (path, e))
  if image.mode not in ('P', 'L'):
    raise ValueError('%s: mask mode %s; DAVIS masks are palette ("P") PNGs '
                     'whose pixel values are object ids.' % (path, image.mode))
  return np.asarray(image, np.uint8)


def write_jpeg(path, rgb, quality=95):
  """Writes uint8 [H, W, 3] RGB as JPEG, atomically."""
  ok, data = cv2.imencode('.jpg', np.ascontiguousarray(rgb[..., ::-1]),
                          [cv2.IMWRITE_JPEG_QUALITY, quality])
  if not ok:
    raise ValueError('%s: JPEG encoding failed.' % path)
  write_bytes(path, data.tobytes())


def write_bytes(path, data):
  """Writes `data` to `path` atomically (temporary name, then rename; 0644)."""
  tmp = _atomic_path(path)
  try:
    with open(tmp, 'wb') as f:
      f.write(data)
    _publish(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def list_sequences(root, split='val', year='2017'):
  """Sequence names of `<root>/ImageSets/<year>/<split>.txt`."""
  path = os.path.join(root, 'ImageSets', year, split + '.txt')
  if not os.path.isfile(path):
    raise ValueError('%s: no such sequence list; a DAVIS root holds '
                     'ImageSets/%s/<split>.txt with one sequence name a '
                     'line.' % (path, year))
  with open(path) as f:
    return [line.strip() for line in f if line.strip()]


def write_sequence_list(root, split, names, year='2017'):
  """Writes `<root>/ImageSets/<year>/<split>.txt`, atomically."""
  path = os.path.join(root, 'ImageSets', year, split + '.txt')
  tmp = _atomic_path(path)
  with open(tmp, 'w') as f:
    f.write(''.join(n + '\n' for n in names))
  _publish(tmp, path)


def frame_paths(root, sequence, resolution=RESOLUTION):
  """Sorted JPEG paths of one sequence."""
  directory = os.path.join(root, 'JPEGImages', resolution, sequence)
  paths = sorted(glob.glob(os.path.join(directory, '*.jpg')))
  if not paths:
    raise ValueError('%s: no .jpg frames; DAVIS frames live in '
                     'JPEGImages/%s/<sequence>/NNNNN.jpg.' % (directory,
                                                              resolution))
  return paths


def read_frames(root, sequence, resolution=RESOLUTION):
  """uint8 [T, H, W, 3] RGB frames of one sequence."""
  frames = []
  for path in frame_paths(root, sequence, resolution):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
      raise ValueError('%s: unreadable JPEG; replace or delete it.' % path)
    frames.append(bgr[..., ::-1])
  return np.stack(frames)


def annotation_path(root, sequence, frame_path, resolution=RESOLUTION):
  """The mask path of a frame: same stem, .png, under Annotations/."""
  stem = os.path.splitext(os.path.basename(frame_path))[0]
  return os.path.join(root, 'Annotations', resolution, sequence, stem + '.png')


def read_annotations(root, sequence, resolution=RESOLUTION, first_only=False):
  """uint8 [T, H, W] masks of one sequence ([1, H, W] with first_only).

  Raises:
    ValueError: a missing mask (names the file).
  """
  paths = frame_paths(root, sequence, resolution)
  if first_only:
    paths = paths[:1]
  masks = []
  for frame in paths:
    path = annotation_path(root, sequence, frame, resolution)
    if not os.path.isfile(path):
      raise ValueError('%s: missing annotation for %s.' % (path, frame))
    masks.append(read_palette_png(path))
  return np.stack(masks)


def write_masks(out_dir, sequence, frame_names, masks):
  """Writes predicted masks [T, H, W] as `<out_dir>/<seq>/<stem>.png`."""
  for name, mask in zip(frame_names, masks):
    stem = os.path.splitext(os.path.basename(name))[0]
    write_palette_png(os.path.join(out_dir, sequence, stem + '.png'), mask)


def keypoints_path(root, sequence):
  return os.path.join(root, 'Keypoints', sequence + '.npz')


def read_keypoints(root, sequence):
  """(coords float [T, J, 2], visible bool [T, J]) or None when absent."""
  path = keypoints_path(root, sequence)
  if not os.path.isfile(path):
    return None
  with np.load(path) as data:
    return data['coords'].astype(np.float64), data['visible'].astype(bool)


def write_keypoints(root, sequence, coords, visible):
  path = keypoints_path(root, sequence)
  tmp = _atomic_path(path)
  with open(tmp, 'wb') as f:
    np.savez(f, coords=np.asarray(coords, np.float32),
             visible=np.asarray(visible, bool))
  _publish(tmp, path)
