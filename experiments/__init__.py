"""Quality studies: methods trained and scored over seeds, with records.

Run from the repository root as modules:
`python -m experiments.correspondence_quality`. Each study keeps its runs in
experiments/results/<study>.jsonl; `python -m experiments.make_results`
turns them into docs/results/<study>.md.
"""
