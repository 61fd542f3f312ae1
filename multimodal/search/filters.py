"""The gender filter: Men = Men + Unisex, Women = Women + Unisex, Unisex = Unisex only, All = no
filter; the same rule as a row mask and as a store filter."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from multimodal.errors import InvalidInputError
from multimodal.store import SearchFilter

GENDER_FILTERS: dict[str, frozenset[str] | None] = {
    "all": None,
    "men": frozenset({"Men", "Unisex"}),
    "women": frozenset({"Women", "Unisex"}),
    "unisex": frozenset({"Unisex"}),
}


def normalise_gender(gender: str | None) -> str:
    """"all", "men", "women" or "unisex" from any case; None and "" mean all."""
    if gender is None:
        return "all"
    if not isinstance(gender, str):
        raise InvalidInputError(f"gender must be a string, got {type(gender).__name__}")
    key = gender.strip().lower()
    if key in ("", "any", "none"):
        return "all"
    if key not in GENDER_FILTERS:
        raise InvalidInputError(f"unknown gender {gender!r}; use all, men, women or unisex")
    return key


def gender_mask(genders: pd.Series | np.ndarray, gender: str | None) -> np.ndarray:
    """Rows allowed by the filter: Men = Men + Unisex, Women = Women + Unisex, Unisex only, All = every row."""
    allowed = GENDER_FILTERS[normalise_gender(gender)]
    values = np.asarray(genders)
    return np.ones(len(values), bool) if allowed is None else np.isin(values, list(allowed))


def gender_filter(gender: str | None, **others: Any) -> SearchFilter:
    """The store filter for a gender choice (same semantics as ``gender_mask``) and any other constraints."""
    return SearchFilter(genders=GENDER_FILTERS[normalise_gender(gender)], **others)
