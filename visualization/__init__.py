"""Pictures and videos, one package: figures of evaluation (`figures`),
alignment videos (`alignment`), embedding plots and the TensorBoard
projector (`embeddings`), correspondence overlays (`correspondence`) and
TFRecord contact sheets (`tfrecords`). The command-line tools that write them
are `visualize_alignment.py` and `tools/`."""
