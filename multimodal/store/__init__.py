"""Vector stores behind one small protocol: FAISS embedded (the default) or Milvus (Lite or a cluster).

The engine and the build call only ``build_store`` / ``open_store`` and the ``VectorStore``
methods (add, search with a ``SearchFilter``, count, remove, product ids, save); which engine
holds the vectors is ``Config.store`` and ``Config.store_uri`` (``--store``, ``--store-uri``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from multimodal.config import Config
from multimodal.errors import ArtifactError, InvalidInputError
from multimodal.io import read_json
from multimodal.store.base import STORE_TYPES, SearchFilter, VectorStore
from multimodal.store.faiss_index import MANIFEST_FILE

__all__ = ["STORE_TYPES", "SearchFilter", "VectorStore", "build_store", "open_store", "store_uri"]


def store_uri(config: Config) -> str | None:
    """Where the store lives: None for FAISS (files in the artifacts folder), a Lite folder or URL for Milvus."""
    if config.store == "faiss":
        return None
    from multimodal.store.milvus_store import default_uri

    return config.store_uri or default_uri(config.artifacts_dir)


def build_store(config: Config, vectors: np.ndarray, product_ids: Sequence[str],
                metadata: pd.DataFrame | Sequence[dict], **manifest: Any) -> VectorStore:
    """A new store of ``config.store`` and ``config.index_type`` holding these items."""
    if config.store == "faiss":
        from multimodal.store.faiss_store import FaissStore

        return FaissStore.build(vectors, product_ids, metadata, kind=config.index_type, **manifest)
    if config.store == "milvus":
        from multimodal.store.milvus_store import MilvusStore

        return MilvusStore.build(vectors, product_ids, metadata, kind=config.index_type, uri=store_uri(config),
                                 collection=config.store_collection, **manifest)
    raise InvalidInputError(f"unknown store {config.store!r}; choose one of {', '.join(STORE_TYPES)}")


def open_store(directory: str | os.PathLike[str], catalog: pd.DataFrame, expect: dict[str, Any] | None = None,
               store: str | None = None, uri: str | None = None) -> VectorStore:
    """Open the store the build left in ``directory``, checking its manifest against ``expect``.

    ``store`` (if given) must be the kind that was built; ``uri`` points a Milvus store at another
    address of the same collection (a cluster behind a load balancer, a ``milvus-lite server``).

    Raises:
        ArtifactError: nothing built, built for another store, model or catalog.
    """
    path = Path(directory) / MANIFEST_FILE
    built = read_json(path).get("store", "faiss") if path.is_file() else (store or "faiss")
    if store is not None and store != built:
        raise ArtifactError(
            f"the index in {directory} was built for the {built} store, not {store}; "
            f"rebuild it with `python -m multimodal build --store {store}`"
        )
    if built == "milvus":
        from multimodal.store.milvus_store import MilvusStore

        return MilvusStore.load(directory, expect=expect, uri=uri)
    from multimodal.store.faiss_store import FaissStore

    return FaissStore.load(directory, catalog, expect=expect)
