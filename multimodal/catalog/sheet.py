"""A catalog brought as a folder of product photos and a sheet (CSV): described by a small TOML
file or by flags, read once, checked, and written as the prepared dataset every later stage reads.
Rows without an image, images without a row, duplicate ids, empty categories and unreadable
images are skipped and reported; nothing is written when the description or the sheet is wrong."""

from __future__ import annotations

import csv
import io
import time
import tomllib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from multimodal.catalog.images import square_colour
from multimodal.catalog.prepared import save_prepared
from multimodal.errors import InvalidInputError

RESERVED = ("product_id", "image_index", "split", "label", "category")
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")


def read_schema(path: str | Path) -> dict[str, Any]:
    """A catalog file (TOML, a ``[catalog]`` table or top-level keys), paths made absolute."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"cannot read the catalog file {path}: {exc}") from None
    schema = dict(data.get("catalog", data))
    for key in ("sheet", "images"):
        if key not in schema:
            raise InvalidInputError(f"{path}: the catalog file must name `{key}`")
        schema[key] = str((path.parent / schema[key]).resolve())
    schema.setdefault("name", path.stem)
    return schema


def read_sheet(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """The sheet as strings ("" for empty cells) in the first encoding that reads it, with the
    delimiter sniffed; malformed lines are skipped and returned."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"no sheet at {path}")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path).astype(str).replace({"nan": "", "None": ""}), []
    raw = path.read_bytes()
    for encoding in ENCODINGS:
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    try:
        delimiter = csv.Sniffer().sniff(text[:20000], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    bad: list[str] = []
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, engine="python",
                            on_bad_lines=lambda line: bad.append(delimiter.join(line)) and None)
    except (pd.errors.ParserError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the sheet {path}: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, bad


def infer_schema(frame: pd.DataFrame, schema: dict[str, Any]) -> dict[str, Any]:
    """Columns not named in ``schema`` classified from their content: numbers are numeric, few
    distinct values categorical, the rest free text. Refuses unknown or reserved columns."""
    named = {k: schema.get(k) for k in ("id", "category", "gender", "colour", "title", "image_column")}
    for role, column in named.items():
        if column and column not in frame.columns:
            raise InvalidInputError(f"the sheet has no column {column!r} (for `{role}`); its columns: {', '.join(frame.columns)}")
    for role in ("id", "category"):
        if not named[role]:
            raise InvalidInputError(f"name the {role} column (`{role} = ...` in the catalog file, or --{role}-column)")
    clash = [c for c in frame.columns if c in RESERVED and c != named["category"]]
    if clash:
        raise InvalidInputError(f"the sheet's columns {clash} clash with the prepared table's own; rename them")
    out = dict(schema)
    taken = {c for c in named.values() if c}
    categorical, numeric, text = list(schema.get("categorical", [])), list(schema.get("numeric", [])), list(schema.get("text", []))
    for column in frame.columns:
        if column in taken or column in categorical + numeric + text:
            continue
        values = frame[column][frame[column] != ""]
        if len(values) and pd.to_numeric(values, errors="coerce").notna().all():
            numeric.append(column)
        elif values.nunique() <= max(60, int(0.05 * len(frame))) and values.str.len().mean() < 30:
            categorical.append(column)
        else:
            text.append(column)
    for column in (named["category"], named["colour"]):
        if column and column not in categorical:
            categorical.insert(0, column)
    out.update(categorical=categorical, numeric=numeric, text=text, title=schema.get("title") or (text[0] if text else None))
    return out


def _read_image(path: Path, size: int) -> np.ndarray | str:
    try:
        return square_colour(path, size)
    except (InvalidInputError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def _images_for(frame: pd.DataFrame, schema: dict[str, Any]) -> list[Path]:
    folder = Path(schema["images"])
    if not folder.is_dir():
        raise InvalidInputError(f"no image folder at {folder}")
    if schema.get("image_column"):
        return [folder / name for name in frame[schema["image_column"]]]
    pattern = schema.get("image_pattern", "{id}.jpg")
    return [folder / pattern.format(id=pid) for pid in frame[schema["id"]]]


def _clean_rows(frame: pd.DataFrame, schema: dict[str, Any], report: dict[str, list[str]]) -> pd.DataFrame:
    ids, category = frame[schema["id"]].str.strip(), frame[schema["category"]].str.strip()
    for reason, mask in (("empty id", ids == ""), ("empty category", (ids != "") & (category == "")),
                         ("duplicate id", (ids != "") & ids.duplicated())):
        report[reason] = ids[mask].tolist()
    keep = (ids != "") & (category != "") & ~ids.duplicated()
    return frame[keep].reset_index(drop=True)


def _split(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Hold out ``fraction`` of every category with at least two products as queries."""
    rng = np.random.default_rng(seed)
    split = np.full(len(labels), "catalog", dtype=object)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        if len(members) >= 2:
            split[members[: max(1, int(round(fraction * len(members))))]] = "query"
    return split


def prepare_sheet(schema: dict[str, Any], data_dir: str | Path,
                  progress: Callable[[Sequence[Any]], Any] | None = None) -> dict[str, Any]:
    """Read the sheet and its photos, write the prepared dataset; returns the manifest with the report."""
    started = time.monotonic()
    frame, bad_lines = read_sheet(schema["sheet"])
    schema = infer_schema(frame, schema)
    report: dict[str, list[str]] = {"malformed line": bad_lines}
    frame = _clean_rows(frame, schema, report)
    paths = _images_for(frame, schema)
    size = int(schema.get("image_size", 64))
    with ThreadPoolExecutor(max_workers=4) as pool:
        read = list((progress or (lambda x: x))(pool.map(lambda p: _read_image(p, size), paths)))
    missing = [i for i, p in enumerate(paths) if not p.is_file()]
    unreadable = [i for i, r in enumerate(read) if isinstance(r, str) and i not in set(missing)]
    report["no image file"] = frame[schema["id"]].iloc[missing].tolist()
    report["unreadable image"] = [f"{frame[schema['id']].iloc[i]} ({read[i]})" for i in unreadable]
    listed = {p.name for p in paths}
    report["image with no row"] = sorted(p.name for p in Path(schema["images"]).iterdir() if p.is_file() and p.name not in listed)
    ok = [i for i, r in enumerate(read) if not isinstance(r, str)]
    if not ok:
        raise InvalidInputError("no product has both a row and a readable image; nothing was written")
    rows = frame.iloc[ok].reset_index(drop=True)
    categories = sorted(rows[schema["category"]].str.strip().unique())
    labels = rows[schema["category"]].str.strip().map({c: i for i, c in enumerate(categories)}).to_numpy(np.int64)
    table = pd.DataFrame({"product_id": rows[schema["id"]].str.strip(), "image_index": np.arange(len(rows)),
                          "split": _split(labels, float(schema.get("query_fraction", 0.2)), int(schema.get("seed", 42))),
                          "label": labels, "category": rows[schema["category"]].str.strip()})
    table = pd.concat([table, rows.drop(columns=[c for c in RESERVED if c in rows.columns])], axis=1)
    manifest = {"source": "folder", "schema": schema, "categories": categories, "image_size": size,
                "skipped": {k: {"count": len(v), "first": v[:5]} for k, v in report.items() if v},
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    manifest = save_prepared(data_dir, table, np.stack([read[i] for i in ok]), manifest)
    manifest["seconds"] = round(time.monotonic() - started, 1)
    return manifest
