"""Models stage: the image encoder (embedding + category head), the sentence model and the mapping
network into image space; the weights shipped for the default catalog live in ``shipped/``."""
