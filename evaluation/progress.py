"""Online progress error: how well one frame's embedding tells the progress.

The progress of frame t of a video of L frames is t / (L - 1) (0 at the first
frame, 1 at the last). The progress head is a linear regression from the
embedding of a single frame, fit on every frame of the training videos
(ordinary least squares; no labels are needed); its predictions on the
validation frames are clipped to [0, 1]. The error is the mean absolute
difference to the true progress, averaged over the frames of a video, then
over videos (lower is better; predicting 0.5 everywhere scores 0.25 on
uniformly spread frames).

"Online": the conv and convgru embedders embed frame t from frames up to t
only, so the prediction never uses the future. The Transformer embedder sees
the whole video, so with it the number is an offline progress error.
"""

import numpy as np
from sklearn.linear_model import LinearRegression

from evaluation.base import Task


def progress_targets(num_frames):
  """[L] true progress t / (L - 1) (0 for a single frame)."""
  return np.arange(num_frames, dtype=np.float64) / max(1, num_frames - 1)


def progress_error(train_embs, val_embs):
  """Mean absolute progress error of a linear progress head.

  Args:
    train_embs: list of arrays [T_i, D] (every frame of each training video).
    val_embs: list of arrays [T_j, D].

  Returns:
    float: mean over validation videos of mean_t |clip(pred_t) - t/(T-1)|.
  """
  if not train_embs or not val_embs:
    raise ValueError('progress_error needs training and validation videos.')
  frames = np.concatenate(train_embs)
  targets = np.concatenate([progress_targets(len(e)) for e in train_embs])
  head = LinearRegression().fit(frames, targets)
  errors = [np.mean(np.abs(np.clip(head.predict(e), 0.0, 1.0) -
                           progress_targets(len(e)))) for e in val_embs]
  return float(np.mean(errors))


class ProgressError(Task):
  """`progress_error`: mae of a linear per-frame progress head (val split)."""

  name = 'progress_error'

  def evaluate(self, context):
    return {'mae': progress_error(context.train['embs'], context.val['embs'])}
