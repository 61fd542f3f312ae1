"""Exceptions a caller can catch and show to a person as they are."""

from __future__ import annotations


class MultimodalError(Exception):
    """Base class: every message is written for the person using the tool."""


class InvalidInputError(MultimodalError, ValueError):
    """A query, upload or argument that cannot be used (empty, corrupt, out of range)."""


class UnknownItemError(InvalidInputError):
    """A product id that the catalog does not hold."""


class DataNotFoundError(MultimodalError, FileNotFoundError):
    """Fashion-MNIST (or a prepared catalog) could not be found anywhere we looked."""


class CorruptDataError(MultimodalError, ValueError):
    """A data file exists but is not what it claims to be (bad magic number, truncated)."""


class ArtifactError(MultimodalError, RuntimeError):
    """A model, index or metrics file is missing, stale, or does not match the others."""
