"""What every vector store offers the engine: the protocol, the filter and the shared checks."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from multimodal.errors import InvalidInputError
from multimodal.store.faiss_index import as_matrix, check_manifest  # noqa: F401 - one validator and one manifest rule for every store

STORE_TYPES = ("faiss", "milvus")
FILTER_FIELDS = ("gender", "category", "price")
# A catalog value as it may appear in a filter: letters (any script), digits, spaces and common punctuation.
_SAFE_VALUE = re.compile(r"[\w &'()+,./:-]{0,200}")


@dataclass(frozen=True)
class SearchFilter:
    """Which items a search may return: genders and categories (catalog spellings) and a price range.

    The engine builds filters from the catalog's own values, never from raw user text; values are
    also checked on construction to be plain catalog spellings (no quotes, backslashes or control
    characters), so a store can turn a filter into its own query language (a FAISS ID selector, a
    Milvus expression) safely. ``None`` means "no constraint on this field".
    """

    genders: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    min_price: float | None = None
    max_price: float | None = None

    def __post_init__(self) -> None:
        for name in ("genders", "categories"):
            values = getattr(self, name)
            if values is None:
                continue
            if isinstance(values, str):
                values = (values,)
            values = frozenset(values)
            unsafe = sorted(v for v in values if not isinstance(v, str) or not _SAFE_VALUE.fullmatch(v))
            if unsafe:
                raise InvalidInputError(f"unknown {name[:-1]} {unsafe[0]!r} in a filter: not a catalog value")
            object.__setattr__(self, name, values)
        for name in ("min_price", "max_price"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
                raise InvalidInputError(f"{name.replace('_', ' ')} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))

    @property
    def is_empty(self) -> bool:
        """True when the filter lets every item through."""
        return self.genders is None and self.categories is None and self.min_price is None and self.max_price is None

    def mask(self, genders: np.ndarray, categories: np.ndarray, prices: np.ndarray) -> np.ndarray:
        """Rows (aligned arrays of the three fields) that pass the filter."""
        allowed = np.ones(len(prices), dtype=bool)
        if self.genders is not None:
            allowed &= np.isin(genders, sorted(self.genders))
        if self.categories is not None:
            allowed &= np.isin(categories, sorted(self.categories))
        if self.min_price is not None:
            allowed &= prices >= self.min_price
        if self.max_price is not None:
            allowed &= prices <= self.max_price
        return allowed


@runtime_checkable
class VectorStore(Protocol):
    """Unit vectors (inner product = cosine) keyed by product id, with filterable fields.

    Row ``i`` is ``product_ids[i]``; searches return rows so the engine can line results up
    with its catalog. The manifest (model fingerprint, catalog checksum, dim, items ...) is
    checked when the store is opened, whichever engine holds the vectors.
    """

    kind: str
    manifest: dict[str, Any]

    @property
    def dim(self) -> int: ...

    @property
    def product_ids(self) -> list[str]: ...

    def __len__(self) -> int: ...

    def count(self) -> int:
        """Items held (asks the engine itself, not a cached figure)."""
        ...

    def add(self, vectors: np.ndarray, product_ids: Sequence[str], metadata: pd.DataFrame | Sequence[dict]) -> None:
        """Add new items; ``metadata`` gives each one's gender, category and price."""
        ...

    def search(self, queries: np.ndarray, k: int, where: SearchFilter | None = None,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows per query, best first, only among items passing ``where`` (and the row mask ``allowed``).

        Returns (scores, rows) of shape (queries, k); missing results are row -1, score -inf.
        """
        ...

    def remove(self, product_ids: Sequence[str]) -> int:
        """Delete items by id; returns how many were removed. Rows after them move up."""
        ...

    def vectors(self) -> np.ndarray:
        """All stored vectors in row order (for plots and re-ranking)."""
        ...

    def save(self, directory: Any) -> None:
        """Persist what the engine does not persist itself, and the manifest."""
        ...


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"k must be at least 1, got {k!r}")
    return int(k)


def filter_columns(metadata: pd.DataFrame | Sequence[dict], n: int) -> dict[str, np.ndarray]:
    """The filterable fields of ``n`` new items, checked against the catalog's vocabularies."""
    frame = metadata if isinstance(metadata, pd.DataFrame) else pd.DataFrame(list(metadata))
    if len(frame) != n:
        raise InvalidInputError(f"{n} vectors but metadata for {len(frame)} items")
    missing = [f for f in FILTER_FIELDS if f not in frame.columns]
    if missing:
        raise InvalidInputError(f"item metadata lacks {', '.join(missing)}")
    genders = frame["gender"].astype(str).to_numpy(dtype=object)
    categories = frame["category"].astype(str).to_numpy(dtype=object)
    prices = pd.to_numeric(frame["price"], errors="coerce").to_numpy(np.float64)
    bad = sorted(v for v in {*genders, *categories} if not _SAFE_VALUE.fullmatch(v))
    if bad or not np.all(np.isfinite(prices)):
        raise InvalidInputError(
            f"item metadata has values outside the catalog's rules: {bad[:3]} are no plain catalog spellings, "
            f"{int(np.sum(~np.isfinite(prices)))} non-numeric prices"
        )
    return {"gender": genders, "category": categories, "price": prices}


def check_new_ids(product_ids: Sequence[str], existing: set[str] | Sequence[str]) -> list[str]:
    ids = [str(p) for p in product_ids]
    if len(set(ids)) != len(ids):
        raise InvalidInputError("product ids must be unique")
    clash = set(ids) & set(existing)
    if clash:
        raise InvalidInputError(f"product ids already in the index: {sorted(clash)[:5]}")
    return ids
