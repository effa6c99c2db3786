"""Tests of visualize_embeddings.py on small made-up embeddings."""

import os

import cv2
import numpy as np
import pytest

from visualization import embeddings as viz


def _views_data(num_takes=3, num_views=2, length=12, dim=4):
  rng = np.random.default_rng(0)
  time = np.linspace(0, 1, length)[:, None]
  views = [[np.hstack([time, rng.normal(0, 0.05, [length, dim - 1])])
            for _ in range(num_views)] for _ in range(num_takes)]
  frames = [[np.full((length, 8, 8, 3), 40 * v + 20, np.uint8)
             for v in range(num_views)] for _ in range(num_takes)]
  return {'views': views, 'labels': [np.arange(length) * 5 // length
                                     for _ in range(num_takes)],
          'names': ['data_val_%04d' % t for t in range(num_takes)],
          'frames': frames}


def test_views_as_videos_names_and_candidates():
  data = viz.views_as_videos(_views_data())
  assert data['names'][:3] == ['0000/view0', '0000/view1', '0001/view0']
  assert data['takes'] == [0, 0, 1, 1, 2, 2]
  # Other view of the same take first, then view 1 of the other takes.
  assert viz.imitation_candidates(data, 0, 3) == [1, 3, 5]
  single = {'embs': [np.zeros((3, 2))] * 4}
  assert viz.imitation_candidates(single, 1, 2) == [0, 2]


@pytest.mark.parametrize('method', ['pca', 'tsne'])
def test_plot_trajectories(tmp_path, method):
  data = viz.views_as_videos(_views_data())
  path = str(tmp_path / ('%s.png' % method))
  viz.plot_trajectories(data, method, path, 'phase', max_points=40)
  image = cv2.imread(path)
  assert image is not None and image.shape[0] > 100
  assert oct(os.stat(path).st_mode & 0o777) == '0o644'


def test_projector_export(tmp_path):
  data = viz.views_as_videos(_views_data())
  out = str(tmp_path / 'projector')
  assert viz.export_projector(data, out, max_points=36, sprite_dim=8) == 36
  rows = open(os.path.join(out, 'metadata.tsv')).read().splitlines()
  assert rows[0] == 'video\tframe\ttime\tphase' and len(rows) == 37
  assert np.loadtxt(os.path.join(out, 'embeddings.tsv')).shape == (36, 4)
  assert cv2.imread(os.path.join(out, 'sprite.png')).shape == (48, 48, 3)
  config = open(os.path.join(out, 'projector_config.pbtxt')).read()
  assert 'sprite.png' in config and 'metadata.tsv' in config


def test_imitation_video(tmp_path):
  data = viz.views_as_videos(_views_data())
  path = str(tmp_path / 'imitation.mp4')
  num_frames, size = viz.render_imitation(data, path, query_take=1,
                                          num_candidates=3)
  assert num_frames == 12 and size == (384, 384)
  assert cv2.VideoCapture(path).get(cv2.CAP_PROP_FRAME_COUNT) == 12


def test_embed_logdir_uses_the_run_config_and_leaves_the_callers(tmp_path):
  """An untrained two-view run (ckpt-0), embedded from a caller whose CONFIG
  points elsewhere."""
  import config  # pylint: disable=g-import-not-at-top
  import train  # pylint: disable=g-import-not-at-top
  logdir = str(tmp_path / 'run')
  train.train(logdir, overrides=[
      'IMAGE_SIZE=32', 'PATH_TO_TFRECORDS=%s' % (tmp_path / '%s'),
      'SYNTHETIC.NUM_VIEWS=2', 'SYNTHETIC.NUM_TRAIN_VIDEOS=2',
      'SYNTHETIC.NUM_VAL_VIDEOS=2', 'SYNTHETIC.MIN_FRAMES=10',
      'SYNTHETIC.MAX_FRAMES=12', 'TRAIN.BATCH_SIZE=2', 'TRAIN.NUM_FRAMES=4',
      'MODEL.BASE_MODEL.SMALL_CNN_FILTERS=[8, 8]',
      'MODEL.CONV_EMBEDDER_MODEL.CONV_LAYERS=[[8, 3, True]]',
      'MODEL.CONV_EMBEDDER_MODEL.FC_LAYERS=[[8, True]]',
      'MODEL.CONV_EMBEDDER_MODEL.EMBEDDING_SIZE=4'], max_iters=0)
  config.reset_config()
  config.CONFIG.PATH_TO_TFRECORDS = str(tmp_path / 'nowhere' / '%s')
  callers = config.to_plain(config.CONFIG)
  data = viz.embed_logdir(logdir, 'val', keep_frames=False)
  assert data['takes'] == [0, 0, 1, 1] and data['view_ids'] == [0, 1, 0, 1]
  assert all(e.shape[1] == 4 and 10 <= len(e) <= 12 for e in data['embs'])
  assert not os.path.exists(str(tmp_path / 'nowhere'))
  assert config.to_plain(config.CONFIG) == callers
