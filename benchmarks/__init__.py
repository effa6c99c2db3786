"""Speed benchmarks, each against a baseline measured in the same run.

Run from the repository root as modules: `python -m benchmarks.tcc_loss`.
"""
