"""Command-line tools beyond the four main ones: label propagation, and
pictures of correspondence, embeddings and TFRecords. Run each with
`python -m tools.<name>`."""
