"""Losses on cycle-back logits, and the input checks shared by both TCC versions.

Every loss takes logits [R, T] (one row per cycle-back query: R rows, each a
score over the T frames of the query's own video), one-hot labels [R, T]
marking the frame the cycle started from, and returns the mean over the R rows
as a float32 scalar.
"""

import numbers

import tensorflow as tf

LOSS_TYPES = ('classification', 'regression_mse', 'regression_mse_var',
              'regression_huber')
SIMILARITY_TYPES = ('l2', 'cosine')


def classification_loss(logits, labels, label_smoothing):
  """Softmax cross-entropy with label smoothing, averaged over rows.

  Args:
    logits: float32 [R, T] cycle-back scores.
    labels: float32 [R, T] one-hot targets.
    label_smoothing: float eps; targets become `labels * (1 - eps) + eps / T`.

  Returns:
    float32 scalar, mean over the R rows.
  """
  num_frames = tf.cast(tf.shape(logits)[-1], tf.float32)
  targets = labels * (1.0 - label_smoothing) + label_smoothing / num_frames
  # Cross-entropy is shift-invariant per row, so logits that differ from the
  # definition by a per-row constant give the same loss.
  log_probs = tf.nn.log_softmax(logits, axis=-1)
  return tf.reduce_mean(-tf.reduce_sum(targets * log_probs, axis=-1))


def regression_loss(logits, labels, steps, seq_lens, loss_type,
                    normalize_indices, variance_lambda, huber_delta):
  """Regression of the cycle-back time index, averaged over rows.

  With `s` the frame indices of each row (divided by `seq_len` when
  `normalize_indices`), `beta = softmax(logits)`, `mu = sum(beta * s)` and
  `true = sum(labels * s)`:
  `regression_mse`: `(true - mu)^2`;
  `regression_mse_var`: `(true - mu)^2 / var + variance_lambda * log(var)` with
  `var = sum(beta * (s - mu)^2)`;
  `regression_huber`: Huber(true, mu) with threshold `huber_delta`.

  Args:
    logits: float32 [R, T] cycle-back scores.
    labels: float32 [R, T] one-hot targets.
    steps: float32 [R, T] frame index (in the original video) of each column.
    seq_lens: float32 [R] length in frames of the video of each row.
    loss_type: one of 'regression_mse', 'regression_mse_var',
      'regression_huber'.
    normalize_indices: bool, divide `steps` by `seq_lens`.
    variance_lambda: float weight of `log(var)` for 'regression_mse_var'.
    huber_delta: float Huber threshold (in units of `s`).

  Returns:
    float32 scalar, mean over the R rows.
  """
  if normalize_indices:
    steps = steps / seq_lens[:, None]
  beta = tf.nn.softmax(logits, axis=-1)
  true_time = tf.reduce_sum(labels * steps, axis=-1)
  pred_time = tf.reduce_sum(beta * steps, axis=-1)
  error = true_time - pred_time
  if loss_type == 'regression_mse':
    return tf.reduce_mean(tf.square(error))
  if loss_type == 'regression_mse_var':
    pred_var = tf.reduce_sum(beta * tf.square(steps - pred_time[:, None]),
                             axis=-1)
    log_var = tf.math.log(pred_var)
    return tf.reduce_mean(tf.square(error) * tf.exp(-log_var)
                          + variance_lambda * log_var)
  if loss_type == 'regression_huber':
    abs_error = tf.abs(error)
    quadratic = tf.minimum(abs_error, huber_delta)
    linear = abs_error - quadratic
    return tf.reduce_mean(0.5 * tf.square(quadratic) + huber_delta * linear)
  raise ValueError(f'tcc/losses.py: unknown regression loss_type {loss_type!r};'
                   ' use one of regression_mse, regression_mse_var, '
                   'regression_huber.')


def loss_from_logits(logits, labels, steps, seq_lens, loss_type,
                     label_smoothing, normalize_indices, variance_lambda,
                     huber_delta):
  """Dispatches to the loss named by `loss_type`; shapes as in the losses."""
  if loss_type == 'classification':
    return classification_loss(logits, labels, label_smoothing)
  return regression_loss(logits, labels, steps, seq_lens, loss_type,
                         normalize_indices, variance_lambda, huber_delta)


def prepare_alignment_inputs(embs, batch_size, steps, seq_lens, loss_type,
                             similarity_type, normalize_embeddings):
  """Checks the TCC arguments and returns float32 tensors with defaults.

  Args:
    embs: [N, T, D] embeddings of N videos, T frames each, any float dtype.
    batch_size: int N (checked against `embs` when its shape is known).
    steps: None or [N, T] frame indices of the embedded frames.
    seq_lens: None or [N] video lengths in frames.
    loss_type: a name in LOSS_TYPES.
    similarity_type: a name in SIMILARITY_TYPES.
    normalize_embeddings: bool, L2-normalize each embedding.

  Returns:
    `(embs, steps, seq_lens)`: float32 [N, T, D], float32 [N, T], float32 [N].

  Raises:
    ValueError: one line saying which argument is wrong and how.
  """
  if loss_type not in LOSS_TYPES:
    raise ValueError(f'tcc: unknown loss_type {loss_type!r}; use one of '
                     f'{", ".join(LOSS_TYPES)}.')
  if similarity_type not in SIMILARITY_TYPES:
    raise ValueError(f'tcc: unknown similarity_type {similarity_type!r}; use '
                     f'one of {", ".join(SIMILARITY_TYPES)}.')
  embs = tf.convert_to_tensor(embs)
  if embs.shape.rank != 3:
    raise ValueError(f'tcc: embs must have shape [batch, frames, dim], got '
                     f'shape {embs.shape}.')
  num_videos, num_frames = embs.shape[0], embs.shape[1]
  if (num_videos is not None and isinstance(batch_size, numbers.Integral)
      and batch_size != num_videos):
    raise ValueError(f'tcc: batch_size={batch_size} but embs has '
                     f'{num_videos} videos (shape {embs.shape}); pass '
                     f'batch_size=embs.shape[0].')
  if num_videos is not None and num_videos < 2:
    raise ValueError(f'tcc: alignment needs at least 2 videos, embs has shape '
                     f'{embs.shape}.')
  if num_frames is not None and num_frames < 2:
    raise ValueError(f'tcc: alignment needs at least 2 frames per video, embs '
                     f'has shape {embs.shape}.')
  embs = tf.cast(embs, tf.float32)
  if normalize_embeddings:
    embs = tf.math.l2_normalize(embs, axis=-1)
  shape = tf.shape(embs)
  if steps is None:
    steps = tf.tile(tf.range(shape[1])[None, :], [shape[0], 1])
  else:
    steps = tf.convert_to_tensor(steps)
    if not steps.shape.is_compatible_with(embs.shape[:2]):
      raise ValueError(f'tcc: steps must have shape [batch, frames] = '
                       f'{embs.shape[:2]}, got {steps.shape}.')
  if seq_lens is None:
    seq_lens = tf.fill(shape[:1], shape[1])
  else:
    seq_lens = tf.convert_to_tensor(seq_lens)
    if not seq_lens.shape.is_compatible_with(embs.shape[:1]):
      raise ValueError(f'tcc: seq_lens must have shape [batch] = '
                       f'{embs.shape[:1]}, got {seq_lens.shape}.')
  return embs, tf.cast(steps, tf.float32), tf.cast(seq_lens, tf.float32)
