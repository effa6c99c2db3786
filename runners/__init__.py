"""Runners: the importable bodies of train.py and evaluate.py.

Above the algorithms, evaluation tasks and pictures, below the command
lines; no library module imports them, and they import no command line.
"""
