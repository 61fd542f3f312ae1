"""Stage functions shared by the CLI, the build and the tests: each reads and writes files."""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd

from .catalog import build_catalog, save_prepared
from .config import CATEGORIES, Config
from .data import load_fashion_mnist, make_subset

log = logging.getLogger(__name__)


def prepare(config: Config) -> dict[str, Any]:
    """Load Fashion-MNIST, draw the subset and split, build the catalog, write ``config.data_dir``.

    Every argument is checked (by ``Config`` and the subset) before a file is touched.
    Returns the manifest written.
    """
    started = time.monotonic()
    data = load_fashion_mnist(config)
    subset = make_subset(data, config)
    catalog = build_catalog(subset.labels, subset.split, config.seed)
    catalog.insert(2, "source_split", subset.source_split)
    catalog.insert(3, "source_index", subset.source_index)
    manifest = {
        "profile": config.profile,
        "seed": config.seed,
        "per_class": config.per_class if config.profile == "default" else None,
        "query_fraction": config.query_fraction if config.profile == "default" else None,
        "source": data.source,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    manifest = save_prepared(config.data_dir, catalog, subset.images, manifest)
    manifest["seconds"] = round(time.monotonic() - started, 2)
    return manifest


def summary_table(catalog: pd.DataFrame) -> pd.DataFrame:
    """Rows per category (in Fashion-MNIST order) and gender, with the split sizes."""
    table = pd.crosstab(catalog["category"], catalog["gender"]).reindex(list(CATEGORIES), fill_value=0)
    for split in ("catalog", "query"):
        table[split] = catalog[catalog["split"] == split].groupby("category").size().reindex(list(CATEGORIES), fill_value=0)
    table["total"] = catalog.groupby("category").size().reindex(list(CATEGORIES), fill_value=0)
    return table
