"""Catalog stage: where products come from (Fashion-MNIST with generated metadata) and how their
images are read, checked and stored; the prepared dataset every later stage starts from."""
