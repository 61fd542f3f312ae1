"""The gender filter: Men = Men + Unisex, Women = Women + Unisex, Unisex = Unisex only, All = no
filter; the same rule as a row mask and as a store filter. A catalog with other gender values
(Boys, Girls) gets one choice per value, each with the unisex items. And the facet filters on a
catalog's other attribute columns."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
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


def text_search_rows(genders: np.ndarray, filters: GenderFilters, gender: str | None, stated_gender: str | None,
                     disliked_rows: np.ndarray, chosen: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """A text search's rows: ``base``, what the sidebar's gender, the shopper's dislikes and the facets
    chosen allow (never relaxed), and the rows of the gender the query states when the sidebar says
    All (None otherwise; relaxed like any constraint)."""
    base = gender_mask(genders, gender, filters)
    base[disliked_rows] = False
    if chosen is not None:
        base &= chosen
    query_gender = None
    if normalise_gender(gender, filters) == "all" and stated_gender:
        query_gender = gender_mask(genders, stated_gender, filters)
    return base, query_gender


def gender_filter(gender: str | None, filters: GenderFilters = GENDER_FILTERS, **others: Any) -> SearchFilter:
    """The store filter for a gender choice (same semantics as ``gender_mask``) and any other constraints."""
    return SearchFilter(genders=filters[normalise_gender(gender, filters)], **others)


Facets = Mapping[str, Collection[str]]


class FacetIndex:
    """A catalog's facet columns as integer codes, read once, so a search's mask costs microseconds,
    not the milliseconds of comparing its strings again."""

    def __init__(self, catalog: pd.DataFrame, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self._codes: dict[str, np.ndarray] = {}
        self._values: dict[str, list[str]] = {}
        self._spelled: dict[str, dict[str, int]] = {}
        for column in self.columns:
            codes, values = pd.factorize(catalog[column].astype(str))
            self._codes[column], self._values[column] = codes, [str(v) for v in values]
            self._spelled[column] = {str(v).strip().lower(): i for i, v in enumerate(values)}

    def counts(self) -> dict[str, dict[str, int]]:
        """Each facet's values with the number of products holding them, the most common first."""
        out = {}
        for column in self.columns:
            values = self._values[column]
            counts = np.bincount(self._codes[column], minlength=len(values))
            out[column] = {values[i]: int(counts[i]) for i in np.argsort(-counts, kind="stable") if values[i].strip()}
        return out

    def mask(self, facets: Facets | None) -> np.ndarray | None:
        """Rows holding, in every column named, one of the values chosen there (a shop's facet
        filters: colour Navy Blue or Black, and usage Casual); None when nothing is chosen. Values
        match in any case; like the gender filter, facets are never relaxed.

        Raises:
            InvalidInputError: a column that is not a facet, or a value no product has.
        """
        mask = None
        for column, chosen in (facets or {}).items():
            if column not in self._codes:
                raise InvalidInputError(f"no facet {column!r}; the facets are {', '.join(self.columns)}")
            values = [chosen] if isinstance(chosen, str) else list(chosen)
            if not values:
                continue
            unknown = [v for v in values if str(v).strip().lower() not in self._spelled[column]]
            if unknown:
                raise InvalidInputError(f"no product has {column} {unknown[0]!r}")
            rows = np.isin(self._codes[column], [self._spelled[column][str(v).strip().lower()] for v in values])
            mask = rows if mask is None else mask & rows
        return mask


def facet_mask(catalog: pd.DataFrame, facets: Facets | None, columns: Sequence[str]) -> np.ndarray | None:
    """``FacetIndex(catalog, columns).mask(facets)``, for one search."""
    return FacetIndex(catalog, columns).mask(facets)


def facet_counts(catalog: pd.DataFrame, columns: Sequence[str]) -> dict[str, dict[str, int]]:
    """``FacetIndex(catalog, columns).counts()``, for one catalog read once."""
    return FacetIndex(catalog, columns).counts()
