"""Search stage: the ``SearchEngine`` facade over store, models and catalog; query understanding
(``query``), and the model-free image and text rankings that the engine and the evaluation share."""

from __future__ import annotations

__all__ = ["SearchEngine", "SearchResult"]


def __getattr__(name: str):
    # The engine pulls in FAISS and, on use, TensorFlow: the query parser and the rankings stay
    # importable without them.
    if name == "SearchEngine":
        from multimodal.search.engine import SearchEngine

        return SearchEngine
    if name == "SearchResult":
        from multimodal.search.results import SearchResult

        return SearchResult
    raise AttributeError(f"module 'multimodal.search' has no attribute {name!r}")
