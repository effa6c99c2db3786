"""Reading data: the one sampler (`sampling`) and cached base features (`features`)."""
