"""Sequence-alignment losses after TCC; TensorFlow only, no CONFIG.

    from seqalign import soft_dtw
    values = soft_dtw(costs, gamma=0.1)      # costs [B, N, M] -> [B]

Modules:
  dtw    soft-DTW (Cuturi and Blondel, 2017) and the smoothed DTW of GTA, both
         computed on an anti-diagonal wavefront (one step per anti-diagonal).
  lav    LAV (Haresh et al., CVPR 2021): soft-DTW + contrastive IDM.
  scl    SCL, the sequence contrastive loss of CARL (Chen et al., CVPR 2022).
  gta    GTA (Hadji et al., CVPR 2021): smoothed DTW + global cycle.
"""

from seqalign.dtw import smoothed_dtw
from seqalign.dtw import soft_dtw

__all__ = ['soft_dtw', 'smoothed_dtw']
