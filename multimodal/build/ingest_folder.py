"""The rows of products added to a catalog brought as a folder and a sheet: the sheet's own columns,
each given value checked against what the trained models and filters know, the rest left empty
as the sheet itself allows; a missing category is the classifier's prediction."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from multimodal.catalog.prepared import PreparedData
from multimodal.catalog.roles import Roles
from multimodal.errors import InvalidInputError

SHOWN = 8  # known values named in an error


def folder_rows(prepared: PreparedData, roles: Roles, names: list[str], metadata: list[dict[str, Any]],
                probs: np.ndarray) -> pd.DataFrame:
    """Table rows of the new products of a folder catalog, in the prepared table's columns.

    ``metadata[i]`` is keyed by the sheet's column names (``product_id`` or the sheet's id column
    for the id; ``category`` for the category column). The category and the gender must be values
    the catalog has: the classifier and the gender filter know no others without a new build.

    Raises:
        InvalidInputError: an unknown column, category or gender value, a number column given words,
            or an id that is taken or given twice, naming the item.
    """
    catalog = prepared.catalog
    schema = dict(prepared.manifest.get("schema") or {})
    id_column, image_column = schema.get("id"), schema.get("image_column")
    category_column = roles.category_column
    own = [c for c in catalog.columns if c not in ("product_id", "image_index", "split", "label", "category", "source_split")]
    taken = set(catalog["product_id"].astype(str))
    serial, rows = len(catalog), []
    for n, (name, given) in enumerate(zip(names, metadata)):
        values = _known_keys(given, own, id_column, category_column, name)
        category = _category(values.pop(category_column, None), roles.categories, int(np.argmax(probs[n])), name)
        product_id, serial = assign_product_id(values.pop("product_id", ""), taken, serial, name)
        if roles.gender and values.get(roles.gender):
            values[roles.gender] = _known(values[roles.gender], catalog[roles.gender], f"{roles.gender} value", name)
        for column in roles.numeric:
            if values.get(column) and not _is_number(values[column]):
                raise InvalidInputError(f"{name}: {column} must be a number, got {values[column]!r}")
        row = {c: "" for c in own} | values | {category_column: category}
        if id_column in own:
            row[id_column] = product_id
        if image_column in own and not values.get(image_column):
            row[image_column] = Path(name).name
        rows.append({"product_id": product_id, "image_index": len(prepared.images) + n, "split": "catalog",
                     "label": roles.categories.index(category), "category": category, **row, "source_split": "added"})
    return pd.DataFrame(rows, columns=[*catalog.columns, *(["source_split"] if "source_split" not in catalog else [])])


def assign_product_id(wanted: Any, taken: set[str], serial: int, name: str) -> tuple[str, int]:
    """An added product's id: the one given, else the next free ``NEW-nnnnnn`` from ``serial``;
    added to ``taken``. Returns the id and the serial to go on from.

    Raises:
        InvalidInputError: the id given is taken (in the catalog, or earlier in the same call).
    """
    product_id = str(wanted or "").strip()
    if not product_id:
        while f"NEW-{serial:06d}" in taken:
            serial += 1
        product_id = f"NEW-{serial:06d}"
    if product_id in taken:
        raise InvalidInputError(f"{name}: product id {product_id!r} is already in the catalog or given twice")
    taken.add(product_id)
    return product_id, serial


def _known_keys(given: dict[str, Any], own: list[str], id_column: str | None, category_column: str,
                name: str) -> dict[str, str]:
    """The given values as strings under the table's column names; an unknown key is an error."""
    values: dict[str, str] = {}
    for key, value in given.items():
        column = {"category": category_column, id_column: "product_id"}.get(key, key)
        if column not in (*own, "product_id", category_column):
            raise InvalidInputError(f"{name}: the catalog has no column {key!r}; its columns are {', '.join(own)}")
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        values[column] = "" if missing else str(value).strip()
    return values


def _category(given: str | None, categories: tuple[str, ...], predicted: int, name: str) -> str:
    if not given:
        return categories[predicted]
    return _known(given, pd.Series(categories), "category", name,
                  hint="; a new category needs `prepare` and `build` again, as the classifier knows only these")


def _known(value: str, known: pd.Series, what: str, name: str, hint: str = "") -> str:
    """The catalog's own spelling of a value it has (case aside)."""
    spelled = {str(v).lower(): str(v) for v in known.unique() if str(v)}
    if value.lower() in spelled:
        return spelled[value.lower()]
    shown = sorted(spelled.values())
    more = f" and {len(shown) - SHOWN} more" if len(shown) > SHOWN else ""
    raise InvalidInputError(f"{name}: unknown {what} {value!r}; the catalog's are {', '.join(shown[:SHOWN])}{more}{hint}")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
