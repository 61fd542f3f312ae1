"""Multimodal fashion search: Fashion-MNIST catalog, image and text encoders, one FAISS index."""

from __future__ import annotations

import os

# TensorFlow, PyTorch and FAISS share the cores of one process. OpenMP threads that spin after
# each call (the default policy) steal the CPU from the next library: fresh text queries took a
# median 25 ms and p95 110-170 ms that way, 18 ms and 29 ms with passive waiting. Must be set
# before any of them loads, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# TensorFlow ships its own libsqlite3.so.0, built without FTS5; loaded first, it takes the place of
# the system library Python's sqlite3 links to, and the lexical text signal (FTS5 BM25) fails with
# "no such module: fts5". Loading sqlite3 before TensorFlow keeps the system library.
import sqlite3  # noqa: E402, F401

from multimodal.config import CATEGORIES, Config
from multimodal.errors import ArtifactError, DataNotFoundError, InvalidInputError, MultimodalError

__all__ = [
    "CATEGORIES", "ArtifactError", "Config", "DataNotFoundError", "InvalidInputError", "MultimodalError", "SearchEngine",
]


def __getattr__(name: str):
    # SearchEngine pulls in TensorFlow and FAISS: import it only when asked for, so
    # `import multimodal` stays fast for the CLI's help and for the data stages.
    if name == "SearchEngine":
        from multimodal.search.engine import SearchEngine

        return SearchEngine
    raise AttributeError(f"module 'multimodal' has no attribute {name!r}")
