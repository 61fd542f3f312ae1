"""Multimodal fashion search: Fashion-MNIST catalog, image and text encoders, one FAISS index."""

from __future__ import annotations

from .config import CATEGORIES, Config
from .errors import ArtifactError, DataNotFoundError, InvalidInputError, MultimodalError

__all__ = [
    "CATEGORIES", "ArtifactError", "Config", "DataNotFoundError", "InvalidInputError", "MultimodalError", "SearchEngine",
]


def __getattr__(name: str):
    # SearchEngine pulls in TensorFlow and FAISS: import it only when asked for, so
    # `import multimodal` stays fast for the CLI's help and for the data stages.
    if name == "SearchEngine":
        from .search import SearchEngine

        return SearchEngine
    raise AttributeError(f"module 'multimodal' has no attribute {name!r}")
