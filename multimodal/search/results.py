"""Typed search results: the rows found and what the engine understood, relaxed and predicted,
as fields the API, the CLI and the app read (no contract hidden in ``DataFrame.attrs``)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd


class FrameCompat:
    """The DataFrame API of earlier releases on a typed result (``rows`` holds the table): kept for
    one release, each use warns with what to write instead."""

    rows: pd.DataFrame

    @property
    def attrs(self) -> dict[str, Any]:
        _deprecated("result.attrs[...]", f"the {type(self).__name__} fields")
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rows"}  # type: ignore[arg-type]

    def __getitem__(self, key: Any) -> Any:
        _deprecated("result[...]", "result.rows[...]")
        return self.rows[key]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "rows":
            raise AttributeError(name)
        if hasattr(pd.DataFrame, name):
            _deprecated(f"result.{name}", f"result.rows.{name}")
            return getattr(self.rows, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


@dataclass(frozen=True)
class SearchResult(FrameCompat):
    """One search's answer, best first.

    Attributes:
        rows: one row per product: ``rank``, the catalog's columns, ``match`` (0-1, the score shown
            on every page and in the API), ``score`` (the ranking's own order) and the signals that
            made it (text: ``image_score``, ``text_score``, ``bm25_score``, ``attribute_score``,
            ``matches``, ``misses``, ``exact_match``; image: ``similarity``,
            ``category_probability``), and ``row`` (the catalog row).
        kind: "text", "image" or "similar".
        query: the text typed (text search) or the source product id (more like this).
        parsed: the constraints understood, as ``ParsedQuery.to_dict()`` (text search).
        chips: their labels; ``chip_items`` the same with their kind; ``hint_items`` the unsure
            words that rank softly and never filter.
        relaxed: the message when no product met every constraint (None when all were met);
            ``relaxed_groups`` the constraint groups dropped.
        n_matching: how many products met the kept constraints.
        predicted_category, confidence: the classifier's reading of the query image.
        model_input: the query image as the encoder saw it (preprocessed).
    """

    rows: pd.DataFrame
    kind: str
    query: str | None = None
    parsed: dict[str, Any] | None = None
    chips: list[str] = field(default_factory=list)
    chip_items: list[dict[str, Any]] = field(default_factory=list)
    hint_items: list[dict[str, Any]] = field(default_factory=list)
    relaxed: str | None = None
    relaxed_groups: list[str] = field(default_factory=list)
    n_matching: int | None = None
    predicted_category: str | None = None
    confidence: float | None = None
    model_input: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def product_ids(self) -> list[str]:
        return [str(pid) for pid in self.rows["product_id"]]

    @property
    def understood(self) -> list[dict[str, Any]]:
        """Every constraint and soft hint read from the query, as the chips show them."""
        return [*self.chip_items, *self.hint_items]

    def records(self, drop: tuple[str, ...] = ("row",)) -> list[dict[str, Any]]:
        """The rows as JSON-ready dicts (NaN as None, numpy scalars as Python ones)."""
        columns = [c for c in self.rows.columns if c not in drop]
        return [{c: json_value(v) for c, v in zip(columns, values)} for values in self.rows[columns].itertuples(index=False)]

    @property
    def attrs(self) -> dict[str, Any]:
        _deprecated("result.attrs[...]", "the SearchResult fields (result.chips, result.relaxed, ...)")
        return {
            "parsed": self.parsed, "chips": self.chips, "chip_items": self.chip_items, "hint_items": self.hint_items,
            "relaxed": self.relaxed, "relaxed_groups": self.relaxed_groups, "n_matching": self.n_matching,
            "predicted_category": self.predicted_category, "confidence": self.confidence,
            "model_input": self.model_input, **({"source_product": self.query} if self.kind == "similar" else {}),
        }


def json_value(value: Any) -> Any:
    """A cell as JSON: numpy scalars and arrays as Python values, NaN and infinity as None."""
    if isinstance(value, np.ndarray):
        return [json_value(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"search results are a SearchResult, not a DataFrame: {old} is deprecated and goes in the next "
                  f"release; use {new}", DeprecationWarning, stacklevel=3)
