"""Multimodal fashion search: Fashion-MNIST catalog, image and text encoders, one FAISS index."""

from __future__ import annotations

from .config import CATEGORIES, Config
from .errors import ArtifactError, DataNotFoundError, InvalidInputError, MultimodalError

__all__ = ["CATEGORIES", "ArtifactError", "Config", "DataNotFoundError", "InvalidInputError", "MultimodalError"]
