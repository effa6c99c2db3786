"""LAV: Learning by Aligning Videos in Time (Haresh et al., CVPR 2021).

For a pair of sequences a, b of S embeddings each:

    loss = (soft_dtw(D_ab, gamma) + alpha * (IDM(a) + IDM(b))) / S

with D_ab[i, j] = ||a_i - b_j||^2 and the contrastive inverse difference
moment regulariser of one sequence (frame indices t, video length L,
d_ij = ||x_i - x_j||^2):

    IDM = sum_{i,j} [ d_ij                                 if |t_i - t_j| <= window
                    | (1 + ((t_i - t_j) / L)^2) max(0, margin - d_ij)  otherwise ]

Frames within `window` frames of each other are pulled together; frames
further apart are pushed at least `margin` apart, more strongly the further
apart they are in (normalised) time. Published defaults: gamma 0.1, alpha
0.5, window 10, margin 2, L2-normalised 128-d embeddings.
"""

import tensorflow as tf

from seqalign import dtw


def idm_regularizer(embs, steps, seq_lens, window, margin):
  """Contrastive inverse-difference-moment regulariser of each sequence.

  Args:
    embs: float [B, S, D] embeddings of S frames of each of B videos.
    steps: int or float [B, S] frame indices of those frames in their video.
    seq_lens: [B] number of frames of each video (L).
    window: frames; pairs at most this far apart count as positives.
    margin: squared distance that negative pairs are pushed beyond.

  Returns:
    float [B]: the sum over all S x S frame pairs of each sequence.
  """
  embs = tf.convert_to_tensor(embs)
  dtype = embs.dtype
  distances = dtw.squared_distances(embs, embs)                      # [B, S, S]
  steps = tf.cast(steps, dtype)
  gaps = steps[:, :, None] - steps[:, None, :]                       # [B, S, S]
  lengths = tf.cast(seq_lens, dtype)[:, None, None]
  weights = 1.0 + tf.square(gaps / lengths)
  outside = tf.abs(gaps) > tf.cast(window, dtype)
  pushed = weights * tf.nn.relu(tf.cast(margin, dtype) - distances)
  return tf.reduce_sum(tf.where(outside, pushed, distances), axis=[1, 2])


def lav_loss(embs_a, embs_b, steps_a, steps_b, seq_lens_a, seq_lens_b,
             gamma=0.1, alpha=0.5, window=10, margin=2.0):
  """LAV loss of B pairs of sequences, averaged over the pairs.

  Args:
    embs_a: float [B, S, D] first sequence of each pair.
    embs_b: float [B, S', D] second sequence of each pair.
    steps_a, steps_b: [B, S], [B, S'] frame indices in their videos.
    seq_lens_a, seq_lens_b: [B] video lengths.
    gamma: soft-DTW smoothing.
    alpha: weight of the IDM regulariser.
    window, margin: of the IDM regulariser (see `idm_regularizer`).

  Returns:
    scalar: mean over pairs of
    (soft_dtw(||a_i - b_j||^2) + alpha (IDM(a) + IDM(b))) / S.
  """
  embs_a = tf.convert_to_tensor(embs_a)
  embs_b = tf.convert_to_tensor(embs_b, embs_a.dtype)
  alignment = dtw.soft_dtw(dtw.squared_distances(embs_a, embs_b), gamma)
  regularizer = (idm_regularizer(embs_a, steps_a, seq_lens_a, window, margin) +
                 idm_regularizer(embs_b, steps_b, seq_lens_b, window, margin))
  num_frames = tf.cast(tf.shape(embs_a)[1], embs_a.dtype)
  return tf.reduce_mean((alignment + alpha * regularizer) / num_frames)
