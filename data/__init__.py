"""Reading data, config-free: the TFRecord format (`records`), JPEG frames
and their augmentation (`frames`), the one sampler (`sampling`) and cached
base features (`features`)."""
