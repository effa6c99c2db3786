"""Public entry point of the TCC loss.

    from tcc.alignment import compute_alignment_loss
    loss = compute_alignment_loss(embs, batch_size=embs.shape[0])

Works eagerly, in `tf.function` (also with `jit_compile=True`), under a
`tf.distribute` strategy, and with float16/bfloat16 embeddings (computed and
returned in float32).
"""

from tcc.deterministic_alignment import align_pair_of_sequences
from tcc.deterministic_alignment import compute_deterministic_alignment_loss
from tcc.stochastic_alignment import compute_stochastic_alignment_loss
from tcc.stochastic_alignment import gen_cycles

__all__ = ['compute_alignment_loss', 'align_pair_of_sequences',
           'compute_deterministic_alignment_loss',
           'compute_stochastic_alignment_loss', 'gen_cycles']


def compute_alignment_loss(embs, batch_size, steps=None, seq_lens=None,
                           stochastic_matching=False,
                           normalize_embeddings=False,
                           loss_type='regression_mse_var',
                           similarity_type='l2', num_cycles=20, cycle_length=2,
                           temperature=0.1, label_smoothing=0.1,
                           variance_lambda=0.001, huber_delta=0.1,
                           normalize_indices=True, seed=None):
  """Temporal cycle-consistency loss of a batch of embedded videos.

  Args:
    embs: float [N, T, D] embeddings of T frames of each of N videos.
    batch_size: int N.
    steps: [N, T] frame index of each embedding in its video (int or float);
      default `range(T)` for every video.
    seq_lens: [N] video lengths in frames; default T.
    stochastic_matching: bool, random cycles instead of all ordered
      pairs.
    normalize_embeddings: bool, L2-normalize embeddings first.
    loss_type: 'classification', 'regression_mse', 'regression_mse_var' or
      'regression_huber'.
    similarity_type: 'l2' (negative squared distance) or 'cosine' (dot
      product); divided by D and by `temperature`.
    num_cycles: int, cycles drawn when `stochastic_matching`.
    cycle_length: int, distinct videos per cycle when `stochastic_matching`.
    temperature: float softmax temperature.
    label_smoothing: float, for 'classification'.
    variance_lambda: float, for 'regression_mse_var'.
    huber_delta: float, for 'regression_huber'.
    normalize_indices: bool, divide steps by seq_lens in regression losses.
    seed: for `stochastic_matching`: None (stateful `tf.random` draws) or an
      int32 [2] seed of stateless draws (same seed, same cycles).

  Returns:
    float32 scalar loss.

  Raises:
    ValueError: on a bad argument (one line naming it).
  """
  if stochastic_matching:
    return compute_stochastic_alignment_loss(
        embs, batch_size, steps=steps, seq_lens=seq_lens,
        normalize_embeddings=normalize_embeddings, loss_type=loss_type,
        similarity_type=similarity_type, num_cycles=num_cycles,
        cycle_length=cycle_length, temperature=temperature,
        label_smoothing=label_smoothing, variance_lambda=variance_lambda,
        huber_delta=huber_delta, normalize_indices=normalize_indices,
        seed=seed)
  return compute_deterministic_alignment_loss(
      embs, batch_size, steps=steps, seq_lens=seq_lens,
      normalize_embeddings=normalize_embeddings, loss_type=loss_type,
      similarity_type=similarity_type, temperature=temperature,
      label_smoothing=label_smoothing, variance_lambda=variance_lambda,
      huber_delta=huber_delta, normalize_indices=normalize_indices)
