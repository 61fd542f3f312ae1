"""The embedded store: a FAISS index in this process, filters applied inside the search.

Filters become a bitmap ID selector handed to FAISS (``SearchParameters(sel=...)``), so the
index walks only allowed items and a narrow filter still returns k results; nothing is cut
from a fixed top-k afterwards. The filter fields live in memory beside the index and are
re-read from the catalog when the store is opened (the manifest's catalog checksum ties the
two together).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np
import pandas as pd

from multimodal.errors import ArtifactError, InvalidInputError
from multimodal.store.base import SearchFilter, as_matrix, check_k, check_new_ids, filter_columns
from multimodal.store.faiss_index import VectorIndex

_CACHE_SIZE = 64


class FaissStore:
    """A ``VectorIndex`` (flat, HNSW or IVF) plus the filterable fields of each row."""

    kind = "faiss"

    def __init__(self, index: VectorIndex, columns: dict[str, np.ndarray]) -> None:
        self._index = index
        self._genders = np.asarray(columns["gender"], dtype=object)
        self._categories = np.asarray(columns["category"], dtype=object)
        self._prices = np.asarray(columns["price"], dtype=np.float64)
        if not len(self._genders) == len(self._categories) == len(self._prices) == len(index):
            raise ArtifactError("the search index and its filter fields disagree in length; rebuild the index")
        self._selectors: dict[Any, tuple[np.ndarray, Any, int]] = {}
        self._lock = threading.Lock()
        self._index.manifest.setdefault("store", self.kind)

    # ------------------------------------------------------------ construction

    @classmethod
    def build(cls, vectors: np.ndarray, product_ids: Sequence[str], metadata: pd.DataFrame | Sequence[dict],
              kind: str = "flat", **manifest: Any) -> FaissStore:
        """Index ``vectors`` (unit rows) with their ids and filter fields; ``manifest`` is recorded as given."""
        columns = filter_columns(metadata, len(product_ids))
        index = VectorIndex.build(vectors, list(product_ids), kind=kind, store=cls.kind, **manifest)
        return cls(index, columns)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], catalog: pd.DataFrame, expect: dict[str, Any] | None = None) -> FaissStore:
        """Open a saved index, check its manifest and take the filter fields from ``catalog``.

        Raises:
            ArtifactError: files missing, manifest mismatch, or ids the catalog lacks.
        """
        index = VectorIndex.load(directory, expect=expect)
        by_id = catalog.set_index("product_id")
        missing = [p for p in index.product_ids[:5] if p not in by_id.index]
        if missing or not by_id.index.is_unique:
            raise ArtifactError(f"the index holds products the catalog does not have ({missing}); rebuild the index")
        try:
            rows = by_id.loc[index.product_ids, ["gender", "category", "price"]]
        except KeyError as exc:
            raise ArtifactError(f"the index holds products the catalog does not have: {exc}; rebuild the index") from None
        return cls(index, {name: rows[name].to_numpy() for name in rows.columns})

    # ------------------------------------------------------------ the protocol

    @property
    def manifest(self) -> dict[str, Any]:
        return self._index.manifest

    @property
    def dim(self) -> int:
        return self._index.dim

    @property
    def product_ids(self) -> list[str]:
        return self._index.product_ids

    @property
    def faiss_index(self) -> faiss.Index:
        return self._index.index

    def __len__(self) -> int:
        return len(self._index)

    def count(self) -> int:
        return int(self._index.index.ntotal)

    def add(self, vectors: np.ndarray, product_ids: Sequence[str], metadata: pd.DataFrame | Sequence[dict]) -> None:
        ids = check_new_ids(product_ids, set(self.product_ids))
        columns = filter_columns(metadata, len(ids))
        with self._lock:
            self._index.add(vectors, ids)
            self._genders = np.concatenate([self._genders, columns["gender"]])
            self._categories = np.concatenate([self._categories, columns["category"]])
            self._prices = np.concatenate([self._prices, columns["price"]])
            self._selectors.clear()

    def search(self, queries: np.ndarray, k: int, where: SearchFilter | None = None,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        queries = as_matrix(queries, self.dim)
        k = min(check_k(k), max(len(self), 1))
        selector = self._selector(where, allowed)
        if selector is not None and selector[2] == 0:
            return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        params = self._params(selector[1] if selector is not None else None)
        scores, rows = self.faiss_index.search(queries, k, params=params) if params is not None else self.faiss_index.search(queries, k)
        scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32)
        return scores, rows.astype(np.int64)

    def remove(self, product_ids: Sequence[str]) -> int:
        """Delete items by rebuilding the index from the rows kept (HNSW cannot delete in place)."""
        drop = set(str(p) for p in product_ids)
        keep = np.array([p not in drop for p in self.product_ids], dtype=bool)
        removed = int((~keep).sum())
        if removed == 0:
            return 0
        with self._lock:
            vectors = self.vectors()[keep]
            manifest = {k: v for k, v in self.manifest.items() if k not in ("index_type", "dim", "items", "created_at")}
            kept_ids = [p for p, k in zip(self.product_ids, keep) if k]
            if len(kept_ids):
                self._index = VectorIndex.build(vectors, kept_ids, kind=self.manifest.get("index_type", "flat"), **manifest)
            else:
                self._index = VectorIndex.build(np.zeros((0, self.dim), np.float32), [], kind="flat", **manifest)
            self._genders, self._categories, self._prices = self._genders[keep], self._categories[keep], self._prices[keep]
            self._selectors.clear()
        return removed

    def vectors(self) -> np.ndarray:
        index = self.faiss_index
        if len(self) == 0:
            return np.zeros((0, self.dim), np.float32)
        if isinstance(index, faiss.IndexIVF):
            index.make_direct_map()
        return index.reconstruct_n(0, len(self))

    def save(self, directory: str | os.PathLike[str]) -> None:
        self._index.save(directory)

    # ------------------------------------------------------------ filters inside FAISS

    def filter_mask(self, where: SearchFilter | None) -> np.ndarray:
        """Rows that pass ``where`` (all rows for no filter)."""
        if where is None or where.is_empty:
            return np.ones(len(self), dtype=bool)
        return where.mask(self._genders, self._categories, self._prices)

    def _selector(self, where: SearchFilter | None, allowed: np.ndarray | None) -> tuple[np.ndarray, Any, int] | None:
        """A bitmap ID selector for the rows allowed, cached per filter: a shop has few distinct filters."""
        if allowed is None and (where is None or where.is_empty):
            return None
        if allowed is not None:
            mask = np.asarray(allowed, dtype=bool)
            if mask.shape != (len(self),):
                raise InvalidInputError(f"filter mask has shape {mask.shape}, expected ({len(self)},)")
            if where is not None and not where.is_empty:
                mask = mask & self.filter_mask(where)
            return self._make_selector(mask)
        cached = self._selectors.get(where)
        if cached is None:
            cached = self._make_selector(self.filter_mask(where))
            with self._lock:  # requests run in threads: evict and insert as one step
                if len(self._selectors) >= _CACHE_SIZE:
                    self._selectors.pop(next(iter(self._selectors)))
                self._selectors[where] = cached
        return cached

    def _make_selector(self, mask: np.ndarray) -> tuple[np.ndarray, Any, int]:
        bits = np.packbits(mask, bitorder="little")  # FAISS reads bit i of byte i >> 3
        # The selector points into ``bits``: the tuple keeps the array alive as long as the selector.
        return bits, faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits)), int(mask.sum())

    def _params(self, selector: Any) -> Any:
        """Search parameters of the index's own type (IVF refuses the generic kind)."""
        if selector is None:
            return None
        index = self.faiss_index
        if isinstance(index, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(sel=selector, efSearch=index.hnsw.efSearch)
        if isinstance(index, faiss.IndexIVF):
            return faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
        return faiss.SearchParameters(sel=selector)
