"""The texts of a catalog brought as a folder and a sheet: what the sentence model reads of each
product (its text columns and attribute values), and the varied phrases the mapping network
learns from, built from the catalog's own values in the words of its own sheet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from multimodal.catalog.roles import Roles

_TEMPLATES = (
    "{colour} {category}", "{category} for {gender}", "{colour} {category} for {gender}", "{value} {category}",
    "{category} in {colour}", "{gender} {category}", "{value} {colour} {category}",
)


def _value(row: Mapping[str, Any], column: str | None) -> str:
    value = "" if column is None else str(row.get(column, "") or "")
    return "" if value.lower() in ("nan", "none") else value.strip()


def folder_item_text(row: Mapping[str, Any], roles: Roles) -> str:
    """The product's own words: its text columns, then each attribute value once."""
    texts = [_value(row, c) for c in roles.text]
    values = [_value(row, c) for c in (*roles.attributes, roles.gender)]
    words = [t for t in dict.fromkeys([*texts, *values]) if t]
    return ". ".join(words)


def folder_training_texts(row: Mapping[str, Any], roles: Roles, rng: np.random.Generator) -> list[str]:
    """The product's text and a few short shopper-style phrases made of its values ("Navy Blue
    Tshirts for Men", "Casual Tshirts"): the mapper learns what each value looks like."""
    category = _value(row, roles.category_column) or _value(row, "category")
    colour, gender = _value(row, roles.colour), _value(row, roles.gender)
    others = [v for c in roles.attributes if (v := _value(row, c)) and v not in (category, colour, gender)]
    out = [folder_item_text(row, roles)]
    if roles.title and _value(row, roles.title):
        out.append(_value(row, roles.title))
    for template in rng.permutation(_TEMPLATES)[:4]:
        value = others[int(rng.integers(len(others)))] if others else ""
        text = template.format(colour=colour, category=category, gender=gender, value=value)
        out.append(" ".join(text.replace("for  ", "").split()).strip())
    return [t for t in dict.fromkeys(out) if t]
