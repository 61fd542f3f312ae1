"""The gender filter: Men = Men + Unisex, Women = Women + Unisex, Unisex = Unisex only, All = no
filter; the same rule as a row mask and as a store filter. A catalog with other gender values
(Boys, Girls) gets one choice per value, each with the unisex items."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from multimodal.errors import InvalidInputError
from multimodal.store import SearchFilter

GenderFilters = dict[str, frozenset[str] | None]

GENDER_FILTERS: GenderFilters = {
    "all": None,
    "men": frozenset({"Men", "Unisex"}),
    "women": frozenset({"Women", "Unisex"}),
    "unisex": frozenset({"Unisex"}),
}
_NO_FILTER = ("", "all", "any", "none")


def gender_filters(values: Iterable[Any], mapping: dict[str, Iterable[str]] | None = None) -> GenderFilters:
    """The filter choices of a catalog's gender values: each value with the unisex ones ("Boys" ->
    Boys + Unisex), a unisex value alone, and "all". ``mapping`` (choice -> values) overrides."""
    if mapping:
        return {"all": None, **{str(k).lower(): frozenset(map(str, v)) for k, v in mapping.items()}}
    present = sorted({str(v) for v in values if str(v).strip()})
    unisex = {v for v in present if v.lower() == "unisex"}
    filters: GenderFilters = {"all": None}
    for value in present:
        filters[value.lower()] = frozenset({value} | (set() if value in unisex else unisex))
    return filters


def normalise_gender(gender: str | None, filters: GenderFilters = GENDER_FILTERS) -> str:
    """A choice of ``filters`` ("all", "men", "women", "unisex" by default) from any case; None and "" mean all."""
    if gender is None:
        return "all"
    if not isinstance(gender, str):
        raise InvalidInputError(f"gender must be a string, got {type(gender).__name__}")
    key = gender.strip().lower()
    if key in _NO_FILTER:
        return "all"
    if key not in filters:
        raise InvalidInputError(f"unknown gender {gender!r}; use {', '.join(filters)}")
    return key


def gender_mask(genders: pd.Series | np.ndarray, gender: str | None, filters: GenderFilters = GENDER_FILTERS) -> np.ndarray:
    """Rows allowed by the filter: Men = Men + Unisex, Women = Women + Unisex, Unisex only, All = every row."""
    allowed = filters[normalise_gender(gender, filters)]
    values = np.asarray(genders)
    return np.ones(len(values), bool) if allowed is None else np.isin(values, list(allowed))


def gender_filter(gender: str | None, filters: GenderFilters = GENDER_FILTERS, **others: Any) -> SearchFilter:
    """The store filter for a gender choice (same semantics as ``gender_mask``) and any other constraints."""
    return SearchFilter(genders=filters[normalise_gender(gender, filters)], **others)
