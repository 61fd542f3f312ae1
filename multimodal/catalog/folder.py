"""A catalog brought as a folder of product photos and a product sheet, described by a
``CatalogSchema``: the sheet read in whatever encoding and delimiter it came in, its rows matched to
their photos, every photo read once (any format, size and mode) and stored as a square colour image,
a stratified share of every category held out as evaluation queries, and the prepared dataset written.

What cannot be used is skipped and reported with its reason, counts and first ids, never as a
traceback; nothing is written when the catalog file or the sheet is wrong, or no product remains."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from multimodal.catalog.images import square_colour
from multimodal.catalog.prepared import save_prepared
from multimodal.catalog.schema import RESERVED, CatalogSchema
from multimodal.errors import InvalidInputError

__all__ = ["FolderCatalog", "FolderReport", "Sheet", "prepare_folder", "read_folder", "read_sheet", "split_queries"]

log = logging.getLogger(__name__)

ENCODINGS = ("utf-8-sig", "utf-8", "cp1252", "latin-1")
DELIMITERS = (",", ";", "\t", "|")
PARQUET_SUFFIXES = (".parquet", ".pq")
SHOWN = 5  # ids shown per reason in the report
# Why a row or file was left out, in the order the report lists them.
REASONS = ("malformed line", "empty id", "duplicate id", "empty category", "no image file", "image outside the folder",
           "unreadable image", "image with no row")


@dataclass(frozen=True)
class Sheet:
    """A product sheet as read: every cell a stripped string ("" when empty)."""

    frame: pd.DataFrame
    bad_lines: list[str]
    encoding: str
    delimiter: str


@dataclass
class FolderReport:
    """What preparing a folder catalog kept, left out and why."""

    name: str
    sheet_rows: int = 0
    products: int = 0
    catalog: int = 0
    queries: int = 0
    categories: int = 0
    skipped: dict[str, list[str]] = field(default_factory=dict)
    small_categories: list[str] = field(default_factory=list)  # fewer than 2 products: kept, none held out
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """Rows, products, split sizes and one count per reason something was left out."""
        return {"sheet_rows": self.sheet_rows, "products": self.products, "catalog": self.catalog, "queries": self.queries,
                "categories": self.categories, "small_categories": len(self.small_categories),
                **{reason: len(self.skipped.get(reason, ())) for reason in REASONS}}

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON values (the prepared manifest keeps it)."""
        return {"counts": self.counts(),
                "skipped": {r: {"count": len(ids), "first": ids[:SHOWN]} for r, ids in self.skipped.items() if ids},
                "small_categories": self.small_categories, "notes": self.notes, "seconds": self.seconds}

    def lines(self) -> list[str]:
        """The report for a person: one line per reason with its count and first ids."""
        out = [f"{self.sheet_rows:,} sheet rows -> {self.products:,} products in {self.categories:,} categories"]
        for reason in REASONS:
            ids = self.skipped.get(reason, [])
            if ids:
                more = f" and {len(ids) - SHOWN:,} more" if len(ids) > SHOWN else ""
                out.append(f"skipped {len(ids):,} ({reason}): {', '.join(ids[:SHOWN])}{more}")
        if self.small_categories:
            out.append(f"{len(self.small_categories):,} categories with fewer than 2 products (kept, none held out): "
                       + ", ".join(self.small_categories[:SHOWN]) + (" ..." if len(self.small_categories) > SHOWN else ""))
        return out + [f"note: {note}" for note in self.notes]


@dataclass(frozen=True)
class FolderCatalog:
    """A folder catalog read and checked, not yet written: the prepared table (row i is image i),
    its images (N, S, S, 3) uint8, the complete schema and the report."""

    table: pd.DataFrame
    images: np.ndarray
    schema: CatalogSchema
    categories: list[str]
    report: FolderReport

    def manifest(self) -> dict[str, Any]:
        """What the prepared manifest says of this catalog (``save_prepared`` adds the checksums)."""
        gender = self.schema.gender_column
        return {"source": "folder", "name": self.schema.name, "schema": self.schema.to_dict(), "categories": self.categories,
                "image_size": self.schema.image_size,
                "gender_filters": ({k: list(v) for k, v in self.schema.gender_filters(self.table[gender]).items()}
                                   if gender else None),
                "report": self.report.to_dict(), "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def read_sheet(path: str | Path) -> Sheet:
    """Read a product sheet: Parquet by its suffix, else CSV in the first of ``ENCODINGS`` that
    decodes it (UTF-16 where it starts with that byte-order mark), with the delimiter (``DELIMITERS``)
    that splits its lines most consistently. Every cell is a stripped string, "" when empty; lines
    with too many fields, or that break the quoting rules, are skipped and returned.

    Raises:
        InvalidInputError: the file is missing, empty, or not a table pandas can read.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"`sheet`: no file at {path}")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return Sheet(_as_strings(_read_parquet(path)), [], "parquet", "")
    raw = path.read_bytes()
    encodings = ("utf-16", *ENCODINGS) if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else ENCODINGS  # Excel's "Unicode text"
    encoding, text = next((e, t) for e, t in ((e, _decode(raw, e)) for e in encodings) if t is not None)
    delimiter = _sniff(text)
    scan = _scan(text, delimiter)
    if scan.unclosed is not None:  # pandas would silently read everything after it as one cell
        raise InvalidInputError(f"cannot read the sheet {path}: a quote (\") opened on line {scan.unclosed} is never closed; "
                                "close or remove it")
    bad: list[str] = []

    def skip(fields: list[str]) -> None:  # pandas calls this for a line with too many fields; None drops it
        bad.append(delimiter.join(fields).replace("\n", " ")[:60])

    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, engine="python",
                            on_bad_lines=skip, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as exc:
        raise InvalidInputError(f"cannot read the sheet {path}: {exc}") from None
    if len(frame.columns) < 2:
        raise InvalidInputError(f"the sheet {path} has {len(frame.columns)} column(s) ({', '.join(frame.columns)}); "
                                f"expected an id, a category and more, separated by one of {' '.join(map(repr, DELIMITERS))}")
    if len(frame) + len(bad) < scan.records:  # records pandas dropped without calling ``skip``
        bad += scan.broken
    return Sheet(_as_strings(frame), bad, encoding, delimiter)


def _decode(raw: bytes, encoding: str) -> str | None:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class _Scan:
    records: int  # data records, blank lines left out
    broken: list[str]  # records the strict csv rules refuse, as "line N: why"
    unclosed: int | None  # the line of a quote never closed


def _scan(text: str, delimiter: str) -> _Scan:
    """One strict pass over the CSV: how many records it holds, which break the rules, where a
    quote is left open. pandas' python engine drops broken records without a word."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    records, broken = 0, []
    while True:
        start = reader.line_num + 1
        try:
            records += bool(next(reader))
        except StopIteration:
            return _Scan(max(0, records - 1), broken, None)
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                return _Scan(max(0, records - 1), broken, start)
            records += 1
            broken.append(f"line {start}: {exc}")


def _sniff(text: str, lines: int = 50) -> str:
    """The delimiter that gives the header most fields and the most lines with as many (quotes respected)."""
    sample = [line for line in text.splitlines()[:lines] if line.strip()]
    if not sample:
        return ","

    def score(delimiter: str) -> tuple[float, int]:
        rows = list(csv.reader(sample, delimiter=delimiter))
        width = len(rows[0])
        return (sum(len(r) == width for r in rows) / len(rows) if width > 1 else 0.0), width

    return max(DELIMITERS, key=score)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, dtype_backend="numpy_nullable")
    except ImportError:
        raise InvalidInputError(f"reading {path.name} needs pyarrow (pip install pyarrow), or save the sheet as CSV") from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the sheet {path}: {exc}") from None


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in frame.columns:
        frame[column] = [("" if _missing(v) else str(v).strip()) for v in frame[column].tolist()]
    return frame.reset_index(drop=True)


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array in a Parquet cell
        return False


def split_queries(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """"catalog" or "query" per row: ``fraction`` of every label's rows (at least one, never all)
    held out as queries, drawn with ``seed``; a label with fewer than 2 rows keeps them all."""
    rng = np.random.default_rng(seed)
    split = np.full(len(labels), "catalog", dtype=object)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) >= 2:
            held = min(len(members) - 1, max(1, int(round(fraction * len(members)))))
            split[rng.permutation(members)[:held]] = "query"
    return split


def read_folder(schema: CatalogSchema, progress: bool = True,
                on_schema: Callable[[CatalogSchema, Mapping[str, str]], None] | None = None) -> FolderCatalog:
    """Read and check a folder catalog without writing anything.

    Args:
        schema: the catalog's schema; columns it does not name are classified from their content.
        progress: show a progress bar (with the time left) while the photos are read.
        on_schema: called with the complete schema and the inferred columns once the sheet is read,
            before the photos are (the CLI prints them there).

    Returns:
        The prepared table, the images, the complete schema and the report.

    Raises:
        InvalidInputError: a missing sheet or folder, an unreadable sheet, a column the sheet lacks or
            that clashes with the prepared table's, a gender map naming absent values, or no usable product.
    """
    started = time.monotonic()
    schema.check_files()
    sheet = read_sheet(schema.sheet)
    schema, inferred = schema.complete(sheet.frame)
    if on_schema is not None:
        on_schema(schema, inferred)
    report = FolderReport(name=schema.name, sheet_rows=len(sheet.frame) + len(sheet.bad_lines))
    report.skipped["malformed line"] = sheet.bad_lines
    rows = _usable_rows(sheet.frame, schema, report)
    _check_gender_map(rows, schema)
    paths = _image_paths(rows, schema, report)
    images, ok = _read_images(paths, rows, schema, report, progress)
    _unlisted_images(sheet.frame, schema, report)
    if not ok.any():
        reasons = "; ".join(f"{r}: {len(ids):,}" for r, ids in report.skipped.items() if ids) or "the sheet has no rows"
        raise InvalidInputError(f"no product has both a usable row and a readable image ({reasons}); nothing was written")
    rows, images = rows[ok].reset_index(drop=True), images[ok]
    table, categories = _table(rows, schema, report)
    _note_numbers(table, schema, report)
    report.seconds = round(time.monotonic() - started, 1)
    return FolderCatalog(table, images, schema, categories, report)


def prepare_folder(schema: CatalogSchema, data_dir: str | os.PathLike[str], progress: bool = True,
                   on_schema: Callable[[CatalogSchema, Mapping[str, str]], None] | None = None) -> FolderReport:
    """Read a folder catalog (``read_folder``) and write it as the prepared dataset in ``data_dir``
    (``catalog.csv``, ``images.npy``, ``manifest.json``), only once everything has been checked.

    Returns:
        The report: what was kept, what was skipped and why, the split, the seconds it took.

    Raises:
        InvalidInputError: as ``read_folder``; ``data_dir`` is then left as it was.
    """
    started = time.monotonic()
    folder = read_folder(schema, progress=progress, on_schema=on_schema)
    save_prepared(data_dir, folder.table, folder.images, folder.manifest())
    folder.report.seconds = round(time.monotonic() - started, 1)
    log.info("prepared %d products of %s in %.1f s", folder.report.products, schema.name, folder.report.seconds)
    return folder.report


def _usable_rows(frame: pd.DataFrame, schema: CatalogSchema, report: FolderReport) -> pd.DataFrame:
    """Rows with an id and a category, the first of each id; the others reported."""
    ids, category = frame[schema.id_column], frame[schema.category_column]
    empty_id = ids == ""
    report.skipped["empty id"] = [f"sheet row {i + 1}" for i in np.flatnonzero(empty_id)]
    duplicate = ~empty_id & ids.duplicated()
    report.skipped["duplicate id"] = ids[duplicate].tolist()
    empty_category = ~empty_id & ~duplicate & (category == "")
    report.skipped["empty category"] = ids[empty_category].tolist()
    return frame[~(empty_id | duplicate | empty_category)].reset_index(drop=True)


def _check_gender_map(rows: pd.DataFrame, schema: CatalogSchema) -> None:
    if schema.gender_map is None:
        return
    present = set(rows[schema.gender_column])
    for choice, values in schema.gender_map.items():
        absent = [v for v in values if v not in present]
        if absent:
            raise InvalidInputError(f"`gender_map.{choice}` keeps {', '.join(map(repr, absent))}, not a value of the column "
                                    f"{schema.gender_column!r} (its values: {', '.join(sorted(present - {''}))})")


def _image_names(frame: pd.DataFrame, schema: CatalogSchema) -> list[str]:
    """Each row's image file, as the sheet names it (its image column) or the pattern makes it from the id."""
    if schema.image_column is not None:
        return frame[schema.image_column].tolist()
    return [schema.image_pattern.format(id=pid) for pid in frame[schema.id_column]]


def _inside(root: str, name: str) -> str | None:
    """``root/name`` with ".." folded, or None when that leaves ``root`` (the folder's own links are followed later)."""
    path = os.path.normpath(os.path.join(root, name))
    return path if path.startswith(root + os.sep) else None


def _image_paths(rows: pd.DataFrame, schema: CatalogSchema, report: FolderReport) -> list[Path | None]:
    """Each row's photo, or None (reported) where there is no such file inside the folder."""
    root = str(schema.images)
    paths: list[Path | None] = []
    missing, outside = [], []
    for pid, name in zip(rows[schema.id_column], _image_names(rows, schema)):
        path = _inside(root, name) if name else None
        if name and path is None:
            outside.append(pid)
        elif path is None or not os.path.isfile(path):
            missing.append(pid)
            path = None
        paths.append(Path(path) if path else None)
    report.skipped["no image file"], report.skipped["image outside the folder"] = missing, outside
    return paths


def _read_one(path: Path | None, size: int) -> np.ndarray | str | None:
    if path is None:
        return None
    try:
        return square_colour(path, size)
    except Exception as exc:  # noqa: BLE001 - a damaged photo is reported and skipped, whatever Pillow raised
        return f"{type(exc).__name__}: {exc}"[:120]


def _read_images(paths: list[Path | None], rows: pd.DataFrame, schema: CatalogSchema, report: FolderReport,
                 progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Every photo read once into one (N, S, S, 3) uint8 array, in threads (Pillow decodes without
    the GIL); returns it and which rows have a photo."""
    size = schema.image_size
    images = np.zeros((len(paths), size, size, 3), np.uint8)
    ok = np.zeros(len(paths), bool)
    unreadable = []
    workers = max(1, min(4, os.cpu_count() or 1))
    todo = sum(p is not None for p in paths)
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=todo, desc="reading photos", unit="img", disable=not progress, leave=False) as bar:
        for i, result in enumerate(pool.map(lambda p: _read_one(p, size), paths)):
            if result is None:
                continue
            bar.update()
            if isinstance(result, str):
                unreadable.append(f"{rows[schema.id_column].iloc[i]} ({result})")
            else:
                images[i], ok[i] = result, True
    report.skipped["unreadable image"] = unreadable
    return images, ok


def _unlisted_images(frame: pd.DataFrame, schema: CatalogSchema, report: FolderReport) -> None:
    """Image files in the folder that no row of the sheet names (skipped rows included)."""
    root = str(schema.images)
    named = {_inside(root, n) for n, pid in zip(_image_names(frame, schema), frame[schema.id_column]) if n and pid}
    suffixes = {s.lower() for s in Image.registered_extensions()}
    unlisted = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = os.path.join(folder, name)
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in suffixes and path not in named:
                unlisted.append(os.path.relpath(path, root).replace(os.sep, "/"))
    report.skipped["image with no row"] = unlisted


def _table(rows: pd.DataFrame, schema: CatalogSchema, report: FolderReport) -> tuple[pd.DataFrame, list[str]]:
    """The prepared table: product_id, image_index, split, label, category, then the sheet's own columns."""
    category = rows[schema.category_column]
    categories = sorted(category.unique())
    labels = category.map({c: i for i, c in enumerate(categories)}).to_numpy(np.int64)
    split = split_queries(labels, schema.query_fraction, schema.seed)
    table = pd.DataFrame({"product_id": rows[schema.id_column], "image_index": np.arange(len(rows)), "split": split,
                          "label": labels, "category": category})
    table = pd.concat([table, rows.drop(columns=[c for c in RESERVED if c in rows.columns])], axis=1)
    sizes = category.value_counts()
    report.products, report.categories = len(table), len(categories)
    report.queries = int((split == "query").sum())
    report.catalog = report.products - report.queries
    report.small_categories = sorted(sizes[sizes < 2].index)
    return table, categories


def _note_numbers(table: pd.DataFrame, schema: CatalogSchema, report: FolderReport) -> None:
    """Say where a numeric column holds words (kept as they are; ranges and sorting skip them)."""
    for column in schema.numeric:
        values = table[column][table[column] != ""]
        words = values[pd.to_numeric(values, errors="coerce").isna()]
        if len(words):
            report.notes.append(f"the numeric column {column!r} holds {len(words):,} cell(s) that are not numbers "
                                f"(e.g. {words.iloc[0]!r}); ranges and sorting leave those products out")
