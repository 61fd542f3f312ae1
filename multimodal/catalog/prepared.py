"""The prepared dataset on disk: the catalog table, its images (row i is image i) and a manifest
of checksums, as ``prepare`` writes it and every later stage reads it."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from multimodal.errors import ArtifactError
from multimodal.generations import DATA_CATALOG_FILE as CATALOG_FILE
from multimodal.generations import DATA_IMAGES_FILE as IMAGES_FILE
from multimodal.generations import DATA_MANIFEST_FILE as MANIFEST_FILE
from multimodal.io import REPAIR, file_sha256, load_npy, read_json, remove_stray_temp_files, save_npy_atomic, write_json_atomic, write_with

__all__ = ["CATALOG_FILE", "IMAGES_FILE", "MANIFEST_FILE", "PreparedData", "load_prepared", "save_prepared", "training_sha256"]


@dataclass(frozen=True)
class PreparedData:
    """The catalog table and its images (row i of the table is image i), as written by ``prepare``:
    (N, S, S) grayscale (Fashion-MNIST, S = 28) or (N, S, S, 3) colour (a folder catalog), uint8."""

    catalog: pd.DataFrame
    images: np.ndarray
    manifest: dict[str, Any]

    def part(self, split: str) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows and images of one split ("catalog" or "query"), in table order."""
        mask = (self.catalog["split"] == split).to_numpy()
        return self.catalog[mask].reset_index(drop=True), self.images[mask]


TRAINING_COLUMNS: tuple[str, ...] = ("product_id", "image_index", "split", "label")


def training_sha256(catalog: pd.DataFrame) -> str:
    """A checksum of what image training reads from the table (ids, image rows, split, labels) over
    the prepared items, not ones added later: titles or prices may change without a retrain."""
    rows = catalog[catalog["source_split"] != "added"] if "source_split" in catalog else catalog
    text = rows[list(TRAINING_COLUMNS)].astype(str).to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()


def save_prepared(directory: str | os.PathLike[str], catalog: pd.DataFrame, images: np.ndarray, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write images, table and manifest, each atomically; the manifest (last) records checksums."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    remove_stray_temp_files(directory)
    save_npy_atomic(directory / IMAGES_FILE, np.ascontiguousarray(images, dtype=np.uint8))
    write_with(directory / CATALOG_FILE, lambda tmp: catalog.to_csv(tmp, index=False))
    manifest = {
        **manifest,
        "rows": int(len(catalog)),
        "catalog_sha256": file_sha256(directory / CATALOG_FILE),
        "images_sha256": file_sha256(directory / IMAGES_FILE),
        "training_sha256": training_sha256(catalog),
    }
    write_json_atomic(directory / MANIFEST_FILE, manifest)
    return manifest


def load_prepared(directory: str | os.PathLike[str], verify: bool = True) -> PreparedData:
    """Read what ``prepare`` wrote, refusing files that do not belong together.

    Raises:
        ArtifactError: a file is missing, or the table and images do not match the manifest.
    """
    directory = Path(directory)
    missing = [n for n in (CATALOG_FILE, IMAGES_FILE, MANIFEST_FILE) if not (directory / n).is_file()]
    if missing:
        raise ArtifactError(
            f"no prepared catalog in {directory} (missing {', '.join(missing)}). "
            "Run `python -m multimodal prepare` (or `make run`) first."
        )
    manifest = read_json(directory / MANIFEST_FILE)
    if verify:
        for name, key in ((CATALOG_FILE, "catalog_sha256"), (IMAGES_FILE, "images_sha256")):
            if file_sha256(directory / name) != manifest.get(key):
                raise ArtifactError(f"{directory / name} does not match {directory / MANIFEST_FILE} (a write was "
                                    f"interrupted or the file was changed); {REPAIR}")
    try:
        catalog = pd.read_csv(directory / CATALOG_FILE, keep_default_na=False, dtype={"product_id": str})
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ArtifactError(f"{directory / CATALOG_FILE} is damaged ({type(exc).__name__}: {exc}); {REPAIR}") from exc
    required = ("product_id", "image_index", "split", "label") + (() if manifest.get("source") == "folder" else ("gender", "price"))
    missing_columns = [c for c in required if c not in catalog.columns]
    if missing_columns:
        raise ArtifactError(f"{directory / CATALOG_FILE} lacks the columns {', '.join(missing_columns)}; {REPAIR}")
    # Verified against its checksum, the file can be mapped rather than read: a large colour catalog
    # costs no memory until its images are used, and processes serving it share the pages. Safe as
    # every writer replaces the file (``save_npy_atomic``); one rewritten in place under a running
    # server (``cp`` over it) would change, or vanish, under the mapping.
    images = load_npy(directory / IMAGES_FILE, mmap_mode="r" if verify else None)
    square = images.ndim in (3, 4) and images.shape[1] == images.shape[2] and images.shape[3:] in ((), (3,))
    if len(images) != len(catalog) or not square or images.dtype != np.uint8:
        raise ArtifactError(f"{directory}: {len(catalog)} catalog rows but images of shape {images.shape} ({images.dtype}); "
                            f"expected ({len(catalog)}, S, S) or ({len(catalog)}, S, S, 3) uint8; {REPAIR}")
    return PreparedData(catalog, images, manifest)
