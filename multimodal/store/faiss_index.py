"""One FAISS inner-product index of catalog image embeddings, with a manifest that guards its use.

Row i of the index is ``product_ids[i]``. The manifest records the embedding model's
fingerprint, the dimension, the item count and the catalog checksum; loading refuses an index
built with another model or for another catalog instead of returning the wrong items.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from multimodal.errors import ArtifactError, InvalidInputError
from multimodal.io import REPAIR, read_json, write_json_atomic, write_with

INDEX_FILE = "image.index"
IDS_FILE = "index_ids.json"
MANIFEST_FILE = "index_manifest.json"
INDEX_TYPES = ("flat", "hnsw", "ivf")


def model_fingerprint(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a saved model file: changes whenever the model is retrained."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _new_index(dim: int, kind: str, n_items: int) -> faiss.Index:
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
        return index
    if kind == "ivf":
        nlist = int(max(1, min(4 * np.sqrt(max(n_items, 1)), n_items // 39 or 1)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.nprobe = max(1, nlist // 8)
        return index
    raise InvalidInputError(f"unknown index type {kind!r}; choose one of {', '.join(INDEX_TYPES)}")


@dataclass
class VectorIndex:
    """A FAISS index plus the product id of each row and the manifest that describes it."""

    index: faiss.Index
    product_ids: list[str]
    manifest: dict[str, Any]

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, vectors: np.ndarray, product_ids: list[str], kind: str = "flat", **manifest: Any) -> VectorIndex:
        """Index unit vectors (inner product = cosine); ``manifest`` fields are recorded as given."""
        vectors = as_matrix(vectors)
        if len(vectors) != len(product_ids):
            raise InvalidInputError(f"{len(vectors)} vectors but {len(product_ids)} product ids")
        if len(set(product_ids)) != len(product_ids):
            raise InvalidInputError("product ids must be unique")
        index = _new_index(vectors.shape[1], kind, len(vectors))
        if not index.is_trained:
            index.train(vectors)
        index.add(vectors)
        info = {
            **manifest, "index_type": kind, "dim": int(vectors.shape[1]), "items": int(len(vectors)),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return cls(index, list(product_ids), info)

    def add(self, vectors: np.ndarray, product_ids: list[str]) -> None:
        """Add new items without retraining anything; ids must be new."""
        vectors = as_matrix(vectors, self.dim)
        if len(vectors) != len(product_ids):
            raise InvalidInputError(f"{len(vectors)} vectors but {len(product_ids)} product ids")
        clash = set(product_ids) & set(self.product_ids)
        if clash or len(set(product_ids)) != len(product_ids):
            raise InvalidInputError(f"product ids already in the index: {sorted(clash)[:5]}")
        self.index.add(vectors)
        self.product_ids.extend(product_ids)
        self.manifest["items"] = len(self)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows by inner product, best first; rows outside ``allowed`` (a boolean mask) never appear.

        Returns (scores, rows); missing results (fewer than k allowed items) are row -1.
        """
        queries = as_matrix(queries, self.dim)
        if k < 1:
            raise InvalidInputError(f"k must be at least 1, got {k}")
        k = min(k, len(self)) or 1
        params = None
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=bool)
            if allowed.shape != (len(self),):
                raise InvalidInputError(f"filter mask has shape {allowed.shape}, expected ({len(self)},)")
            ids = np.flatnonzero(allowed).astype(np.int64)
            if len(ids) == 0:
                return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
            selector = faiss.IDSelectorBatch(ids)
            params = faiss.SearchParameters(sel=selector)
        scores, rows = self.index.search(queries, k, params=params) if params else self.index.search(queries, k)
        return scores, rows

    def vectors(self) -> np.ndarray:
        """All stored vectors (flat/HNSW store them), for re-ranking and plots."""
        return self.index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dim), np.float32)

    def save(self, directory: str | os.PathLike[str]) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_with(directory / INDEX_FILE, lambda tmp: faiss.write_index(self.index, str(tmp)))
        write_json_atomic(directory / IDS_FILE, self.product_ids)
        write_json_atomic(directory / MANIFEST_FILE, self.manifest)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], expect: dict[str, Any] | None = None) -> VectorIndex:
        """Read the index and check its manifest against ``expect`` (e.g. model fingerprint, catalog checksum).

        Raises:
            ArtifactError: files missing, or any expected field differs from the manifest.
        """
        directory = Path(directory)
        missing = [n for n in (INDEX_FILE, IDS_FILE, MANIFEST_FILE) if not (directory / n).is_file()]
        if missing:
            raise ArtifactError(f"no search index in {directory} (missing {', '.join(missing)}); run `python -m multimodal build`")
        manifest = read_json(directory / MANIFEST_FILE)
        if not isinstance(manifest, dict):
            raise ArtifactError(f"{directory / MANIFEST_FILE} is damaged (not a JSON object); {REPAIR}")
        check_manifest(manifest, expect, str(directory))
        try:
            index = faiss.read_index(str(directory / INDEX_FILE))
        except RuntimeError as exc:
            raise ArtifactError(f"{directory / INDEX_FILE} is damaged: FAISS cannot read it ({str(exc)[:200]}); {REPAIR}") from exc
        product_ids = read_json(directory / IDS_FILE)
        if not isinstance(product_ids, list) or not all(isinstance(p, str) for p in product_ids):
            raise ArtifactError(f"{directory / IDS_FILE} is damaged (not a list of product ids); {REPAIR}")
        if index.ntotal != len(product_ids) or index.ntotal != manifest.get("items") or index.d != manifest.get("dim"):
            raise ArtifactError(f"the search index in {directory} is inconsistent (rows, ids and manifest disagree); rebuild it")
        return cls(index, product_ids, manifest)


def as_matrix(vectors: np.ndarray, dim: int | None = None) -> np.ndarray:
    """Float32, C-contiguous, 2-D, finite, of the index's dimension."""
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InvalidInputError(f"vectors must be 2-D, got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ArtifactError(f"vectors have dimension {x.shape[1]} but the index holds {dim}-d vectors: model and index do not match")
    if not np.all(np.isfinite(x)):
        raise InvalidInputError("vectors contain NaN or infinite values")
    return np.ascontiguousarray(x)


def check_manifest(manifest: dict[str, Any], expect: dict[str, Any] | None, where: str) -> None:
    """Refuse an index or store built for another model or catalog (the same rule for every store)."""
    for key, value in (expect or {}).items():
        if manifest.get(key) != value:
            raise ArtifactError(
                f"the search index in {where} does not match: its {key} is {str(manifest.get(key))[:16]!r}, "
                f"expected {str(value)[:16]!r}. It was built for another model or catalog; "
                "rebuild it with `python -m multimodal build`."
            )
