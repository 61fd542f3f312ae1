"""The schema of a catalog brought as a folder of photos and a product sheet: which column is the
id, the image, the category, the gender, the colour, the title, and which are categorical (filters,
chips, facets), numeric (ranges, sort) or free text (titles, descriptions). Declared once (a TOML
catalog file, or flags), stored in the prepared manifest and read by every later stage.

Columns the schema does not name are classified from their content (``complete``), and the result
can be printed as a catalog file (``to_toml``) for the user to fix."""

from __future__ import annotations

import json
import os
import string
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from multimodal.errors import InvalidInputError

__all__ = ["RESERVED", "CatalogSchema", "classify_column", "default_gender_map", "load_catalog_file"]

# The columns the prepared table adds beside the sheet's own.
RESERVED = ("product_id", "image_index", "split", "label", "category")
DEFAULT_PATTERN = "{id}.jpg"
MAX_CATEGORICAL_VALUES = 60  # this many distinct values or fewer is a categorical column ...
CATEGORICAL_SHARE = 0.05  # ... or at most this share of the rows, on a large sheet
MAX_CATEGORICAL_LENGTH = 40  # longer values (on average) are free text
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 512

# Catalog-file key -> field; the file's spelling is also the manifest's (``to_dict``).
_KEYS = {
    "name": "name", "sheet": "sheet", "images": "images", "id": "id_column", "category": "category_column",
    "image_column": "image_column", "image_pattern": "image_pattern", "gender": "gender_column",
    "gender_map": "gender_map", "colour": "colour_column", "title": "title_column", "categorical": "categorical",
    "numeric": "numeric", "text": "text", "ignore": "ignore", "image_size": "image_size",
    "query_fraction": "query_fraction", "seed": "seed",
}
_ALIASES = {"color": "colour"}
_LISTS = ("categorical", "numeric", "text", "ignore")


@dataclass(frozen=True)
class CatalogSchema:
    """What each column of a product sheet is, and where the sheet and its photos are.

    Args:
        sheet: the product sheet (CSV in any common encoding and delimiter, or Parquet).
        images: the folder of product photos.
        id_column: the product id; unique per product.
        category_column: what image search learns and is evaluated on (e.g. articleType).
        image_column: a column holding each product's image file (a name or a path relative to
            ``images``); or else ``image_pattern``, the file name from the id ("{id}.jpg", the default).
        gender_column: optional; its values make the gender filter.
        gender_map: optional gender filter choices (choice -> values it keeps); by default each value V
            keeps V and the unisex value ("Unisex" keeps only itself; "all" keeps everything).
        colour_column, title_column: optional roles; the colour is categorical, the title text.
        categorical, numeric, text: the kinds of the other columns; ``ignore``: columns kept in the
            table with no role. ``complete`` classifies the columns none of these name.
        image_size: the side of the stored square colour photos, in pixels.
        query_fraction: the share of every category held out as evaluation queries.
        seed: the seed of that hold-out.

    Raises:
        InvalidInputError: a field of the wrong type or range, a column given two roles, an image
            pattern other than one ``{id}`` field, or both an image column and a pattern.
    """

    sheet: Path
    images: Path
    id_column: str
    category_column: str
    name: str = ""
    image_column: str | None = None
    image_pattern: str | None = None
    gender_column: str | None = None
    gender_map: Mapping[str, tuple[str, ...]] | None = field(default=None, hash=False)
    colour_column: str | None = None
    title_column: str | None = None
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    image_size: int = 64
    query_fraction: float = 0.2
    seed: int = 42

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for key in ("sheet", "images"):  # absolute, ".." folded: the same schema compares equal wherever it was read
            set_(self, key, Path(os.path.abspath(Path(getattr(self, key)).expanduser())))
        for key in ("id", "category", "image_column", "image_pattern", "gender", "colour", "title"):
            value = getattr(self, _KEYS[key])
            if value is None and key in ("id", "category"):
                raise InvalidInputError(f"name the `{key}` column ({_REQUIRED[key]})")
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise InvalidInputError(f"`{key}` must be a column name (a non-empty string), got {value!r}")
        for key in _LISTS:
            set_(self, key, tuple(dict.fromkeys(_strings(getattr(self, key), key))))
        set_(self, "name", str(self.name or self.sheet.parent.name or "catalog"))
        if self.image_column is not None and self.image_pattern is not None:
            raise InvalidInputError("give either `image_column` or `image_pattern`, not both")
        if self.image_column is None:
            set_(self, "image_pattern", _check_pattern(self.image_pattern or DEFAULT_PATTERN))
        _check_number("image_size", self.image_size, int, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
        _check_number("seed", self.seed, int, 0, 2**32 - 1)
        _check_number("query_fraction", self.query_fraction, float, 0.0, 1.0)
        if self.query_fraction in (0, 1):
            raise InvalidInputError(f"`query_fraction` must be between 0 and 1 (both excluded), got {self.query_fraction}")
        set_(self, "gender_map", self._checked_gender_map())
        self._check_roles()

    def _checked_gender_map(self) -> Mapping[str, tuple[str, ...]] | None:
        if self.gender_map is None:
            return None
        if self.gender_column is None:
            raise InvalidInputError("`gender_map` needs a `gender` column")
        if not isinstance(self.gender_map, Mapping) or not self.gender_map:
            raise InvalidInputError("`gender_map` must be a table of filter choices, e.g. men = [\"Men\", \"Unisex\"]")
        out = {}
        for choice, values in self.gender_map.items():
            key = str(choice).strip().lower()
            if key in ("", "all", "any", "none"):
                raise InvalidInputError(f"`gender_map` cannot define {choice!r}: \"all\" (or any, none) always means no gender filter")
            out[key] = tuple(dict.fromkeys(_strings([values] if isinstance(values, str) else values, f"gender_map.{choice}")))
            if not out[key]:
                raise InvalidInputError(f"`gender_map.{choice}` keeps no value; list the gender values it keeps")
        return MappingProxyType(out)

    def _check_roles(self) -> None:
        """Each column plays one role; the category and colour are categorical columns, the title a text one."""
        seen: dict[str, tuple[str, str]] = {}
        singles = (("id", self.id_column, "id"), ("image_column", self.image_column, "image_column"),
                   ("gender", self.gender_column, "gender"), ("category", self.category_column, "categorical"),
                   ("colour", self.colour_column, "categorical"), ("title", self.title_column, "text"))
        for role, column, kind in (*singles, *((k, c, k) for k in _LISTS for c in getattr(self, k))):
            if column is None:
                continue
            if column in seen:
                before, before_kind = seen[column]
                if before_kind != kind or kind not in (role, before):
                    raise InvalidInputError(f"the column {column!r} is given two roles: `{before}` and `{role}`")
            seen.setdefault(column, (role, kind))
        object.__setattr__(self, "categorical", _with(self.categorical, self.category_column, self.colour_column))
        object.__setattr__(self, "text", _with(self.text, self.title_column))

    # -- the sheet --------------------------------------------------------------------------------

    @property
    def named_columns(self) -> dict[str, str]:
        """Every column the schema names, with the first role it plays there (``key`` spelling)."""
        named: dict[str, str] = {}
        for key in ("id", "category", "image_column", "gender", "colour", "title"):
            column = getattr(self, _KEYS[key])
            if column is not None:
                named.setdefault(column, key)
        for kind in _LISTS:
            for column in getattr(self, kind):
                named.setdefault(column, kind)
        return named

    def check_files(self) -> None:
        """Refuse a sheet or an image folder that is not there."""
        if not self.sheet.is_file():
            raise InvalidInputError(f"`sheet`: no file at {self.sheet}")
        if not self.images.is_dir():
            raise InvalidInputError(f"`images`: no folder at {self.images}")

    def check_columns(self, columns: Sequence[str]) -> None:
        """Refuse columns the sheet lacks, and sheet columns whose names the prepared table takes.

        A sheet column may carry a reserved name only where it plays that very part (an id column
        called ``product_id``, a category column called ``category``).
        """
        present = set(columns)
        for column, role in self.named_columns.items():
            if column not in present:
                raise InvalidInputError(f"`{role}` names the column {column!r}, which the sheet does not have; "
                                        f"its columns: {', '.join(columns)}")
        allowed = {"product_id": self.id_column, "category": self.category_column}
        clash = [c for c in columns if c in RESERVED and allowed.get(c) != c]
        if clash:
            raise InvalidInputError(f"the sheet's column(s) {', '.join(map(repr, clash))} clash with the prepared table's own "
                                    f"({', '.join(RESERVED)}); rename them in the sheet")

    def complete(self, frame: pd.DataFrame) -> tuple[CatalogSchema, dict[str, str]]:
        """This schema with every column of ``frame`` given a kind: the ones it does not name are
        classified from their content (``classify_column``). Returns the schema and what was inferred."""
        self.check_columns(list(frame.columns))
        named = self.named_columns
        inferred = {c: classify_column(frame[c], len(frame)) for c in frame.columns if c not in named}
        kinds = {kind: (*getattr(self, kind), *(c for c, k in inferred.items() if k == kind))
                 for kind in ("categorical", "numeric", "text")}
        return replace(self, **kinds), inferred

    def gender_filters(self, values: Iterable[Any]) -> dict[str, tuple[str, ...]]:
        """The gender filter's choices (lower case) and the values each keeps; "all" is no filter."""
        return dict(self.gender_map) if self.gender_map is not None else default_gender_map(values)

    # -- files and manifests ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The schema as plain JSON values, in the catalog file's spelling (paths absolute)."""
        out: dict[str, Any] = {}
        for key, name in _KEYS.items():
            value = getattr(self, name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = {k: list(v) for k, v in value.items()}
            out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: str | Path | None = None, where: str = "the catalog") -> CatalogSchema:
        """A schema from ``to_dict``'s output or a catalog file's table; relative paths are taken
        from ``base``. Unknown keys and wrong types are refused, naming the key (``where`` says in what)."""
        data = {_ALIASES.get(k, k): v for k, v in data.items()}
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise InvalidInputError(f"{where}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(_KEYS)}")
        for key in ("sheet", "images", "id", "category"):
            if data.get(key) in (None, ""):
                raise InvalidInputError(f"{where}: name `{key}` (" + _REQUIRED[key] + ")")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if value is None:
                continue
            if key in ("sheet", "images"):
                if not isinstance(value, str):
                    raise InvalidInputError(f"{where}: `{key}` must be a path (a string), got {value!r}")
                value = Path(base or ".") / Path(value).expanduser()  # an absolute path stays as it is
            elif key in _LISTS:
                value = tuple(_strings(value, key))
            elif key == "gender_map" and not isinstance(value, Mapping):
                raise InvalidInputError(f"{where}: `gender_map` must be a table, e.g. men = [\"Men\", \"Unisex\"]")
            kwargs[_KEYS[key]] = value
        try:
            return cls(**kwargs)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: {exc}") from None

    def to_toml(self) -> str:
        """The schema as a catalog file (``[catalog]`` table, absolute paths), to save and edit."""
        lines = ["[catalog]"]
        mapping = None
        for key, value in self.to_dict().items():
            if value is None or value == []:
                continue
            if isinstance(value, dict):
                mapping = value
                continue
            lines.append(f"{key} = {_toml(value)}")
        if mapping:
            lines += ["", "[catalog.gender_map]", *(f"{_toml(k)} = {_toml(v)}" for k, v in mapping.items())]
        return "\n".join(lines) + "\n"


_REQUIRED = {"sheet": "the product sheet", "images": "the folder of photos", "id": "the product id column",
             "category": "the column image search learns, e.g. articleType"}


def load_catalog_file(path: str | Path) -> CatalogSchema:
    """A schema from a TOML catalog file: a ``[catalog]`` table (or top-level keys), paths relative
    to the file, the name its stem unless it says one.

    Raises:
        InvalidInputError: the file is missing or not TOML, or a key is unknown or wrong.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"cannot read the catalog file {path}: {exc}") from None
    table = data.get("catalog", data)
    if not isinstance(table, dict):
        raise InvalidInputError(f"{path}: `catalog` must be a table ([catalog])")
    return CatalogSchema.from_dict({"name": path.stem, **table}, base=path.resolve().parent, where=f"catalog file {path}")


def classify_column(values: pd.Series, rows: int | None = None) -> str:
    """The kind of a column from its content: "numeric" when every filled cell is a number,
    "categorical" when it has few distinct short values (at most 60, or 5% of ``rows``),
    "text" when its values are long or mostly unique."""
    filled = values.astype(str).str.strip()
    filled = filled[filled != ""]
    if filled.empty:
        return "text"
    if pd.to_numeric(filled, errors="coerce").notna().all():
        return "numeric"
    distinct = filled.nunique()
    if filled.str.len().mean() > MAX_CATEGORICAL_LENGTH or (len(filled) >= 10 and distinct > 0.5 * len(filled)):
        return "text"
    if distinct <= max(MAX_CATEGORICAL_VALUES, CATEGORICAL_SHARE * (rows or len(values))):
        return "categorical"
    return "text"


def default_gender_map(values: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    """Each gender value V keeps V and the unisex value ("boys" -> Boys, Unisex); the unisex value
    keeps itself alone. Keys are lower case; "all" (no filter) is implied."""
    present = sorted({str(v).strip() for v in values} - {""})
    unisex = tuple(v for v in present if v.lower() == "unisex")
    return {v.lower(): (v,) if v in unisex else (v, *unisex) for v in present}


def _strings(values: Any, key: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidInputError(f"`{key}` must be a list of column names, got {values!r}")
    out = list(values)
    if not all(isinstance(v, str) and v.strip() for v in out):
        raise InvalidInputError(f"`{key}` must be a list of non-empty strings, got {out!r}")
    return out


def _with(columns: tuple[str, ...], *extra: str | None) -> tuple[str, ...]:
    return (*(c for c in extra if c is not None and c not in columns), *columns)


def _check_number(key: str, value: Any, kind: type, low: float, high: float) -> None:
    ok = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
    if not ok or not low <= value <= high:
        noun = "a whole number" if kind is int else "a number"
        raise InvalidInputError(f"`{key}` must be {noun} between {low:g} and {high:g}, got {value!r}")


def _check_pattern(pattern: Any) -> str:
    if not isinstance(pattern, str):
        raise InvalidInputError(f"`image_pattern` must be a string such as \"{{id}}.jpg\", got {pattern!r}")
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    except ValueError as exc:
        raise InvalidInputError(f"`image_pattern` {pattern!r} is not a pattern ({exc}); e.g. \"{{id}}.jpg\"") from None
    if names != {"id"}:
        raise InvalidInputError(f"`image_pattern` {pattern!r} must use exactly one field, {{id}}, e.g. \"{{id}}.jpg\"")
    return pattern


def _toml(value: Any) -> str:
    """A TOML value: JSON's strings, numbers and arrays are TOML's too."""
    return json.dumps(value, ensure_ascii=False)
