"""Temporal cycle-consistency (TCC) losses; TensorFlow only, no CONFIG.

The entry point is `tcc.alignment.compute_alignment_loss`.
"""
