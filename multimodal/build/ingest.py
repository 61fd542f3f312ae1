"""Adding products to a built catalog without retraining: checked, deduplicated, embedded by the
trained encoder and appended to catalog, store and text vectors in one new generation."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from multimodal.build.fingerprints import STATE_FILE, stage_inputs
from multimodal.build.ingest_folder import assign_product_id, folder_rows
from multimodal.build.stages import product_text
from multimodal.catalog.prepared import PreparedData, load_prepared, save_prepared
from multimodal.catalog.roles import Roles
from multimodal.config import CATEGORIES, Config
from multimodal.errors import ArtifactError, InvalidInputError
from multimodal.io import write_json_atomic
from multimodal.models.text_data import TEXT_VECTORS_FILE
from multimodal.search.results import FrameCompat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AddedItems(FrameCompat):
    """What ``add_items`` did: the rows added, the items skipped as already there, the generation,
    and the columns worth showing of each row, in the catalog's own names."""

    rows: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)
    generation: str | None = None
    shown: tuple[str, ...] = ("product_id", "file", "category", "predicted_category", "confidence",
                              "gender", "colour", "price", "title")

    def __len__(self) -> int:
        return len(self.rows)


def add_items(
    config: Config,
    images: Sequence[Any],
    names: Sequence[str] | None = None,
    metadata: Sequence[dict[str, Any]] | None = None,
) -> AddedItems:
    """Add products to a built catalog: embed their images with the trained encoder, append them to
    the catalog, the FAISS index and the product-text vectors. Nothing is retrained.

    ``metadata[i]`` may fix any catalog field of item i (``category``, ``gender``, ``colour``,
    ``price``, ``title`` ... and ``product_id``); missing fields are drawn under the catalog's
    rules, and a missing category is the classifier's prediction. Every image and value is checked
    before anything is written.

    Idempotent: an image already added (same pixels after preprocessing) or a product id
    already added with that image is skipped and listed in ``skipped``, so re-running
    an interrupted or finished run adds nothing twice. All files change in one committed
    generation (``multimodal.generations``): a run killed at any point adds nothing, and
    re-running it completes it.

    Returns an ``AddedItems``: the added rows (with ``predicted_category`` and ``confidence``),
    ``skipped``: ``(name, product_id)`` of the items already in the catalog, and ``generation``:
    the generation committed (None if nothing was added).

    Raises:
        InvalidInputError: an image cannot be used, a value breaks the catalog's rules, an id is taken.
        ArtifactError: there is no consistent build to add to.
    """
    from multimodal import generations
    from multimodal.search.engine import SearchEngine

    names, metadata = _checked_lists(images, names, metadata)
    with generations.transaction(config.artifacts_dir, legacy_data_dir=config.data_dir) as txn:
        if txn.base is None and not (txn.path / "image.index").is_file():
            raise ArtifactError(f"nothing built in {config.artifacts_dir} to add to; run `python -m multimodal build` first")
        # checks that models, index and catalog of the live generation agree
        engine = SearchEngine.load(txn.path, txn.data_dir, store_uri=config.store_uri)
        prepared = load_prepared(txn.data_dir)
        roles = Roles.of(prepared.manifest)
        pixels, inputs = _checked_images(images, names, roles)
        skipped, keep = _new_items(names, metadata, pixels, prepared)
        if not keep:
            log.info("all %d item(s) are already in the catalog; nothing to add", len(skipped))
            empty = pd.DataFrame(columns=[*prepared.catalog.columns, "file", "predicted_category", "confidence"])
            return AddedItems(empty, skipped, None, _shown(roles))
        new_images = np.stack([pixels[j] for j in keep])
        # The model input of each upload itself, as a search with that photo computes it: the stored
        # pixels are that input rounded to uint8, and preprocessing them again is not the identity.
        vectors, probs = engine.image_encoder.encode(np.stack([inputs[j] for j in keep]))
        kept_names, kept_metadata = [names[j] for j in keep], [metadata[j] for j in keep]
        added = (folder_rows(prepared, roles, kept_names, kept_metadata, probs) if roles.is_folder
                 else _product_rows(config, prepared, kept_names, kept_metadata, probs))
        text_vectors = engine.sentence_encoder.encode([product_text(r, roles) for r in added.to_dict("records")])
        _write_staged(txn, engine, prepared, added, new_images, vectors, text_vectors)
        generation = txn.commit(f"add-items: {len(added)} item(s)")

    added["file"] = kept_names
    added["predicted_category"] = [roles.categories[int(i)] for i in np.argmax(probs, axis=1)]
    added["confidence"] = probs.max(axis=1).astype(float)
    return AddedItems(added, skipped, generation.name, _shown(roles))


def _shown(roles: Roles) -> tuple[str, ...]:
    columns = ("product_id", "file", roles.category_column, "predicted_category", "confidence", roles.gender, roles.colour,
               roles.price, roles.title)
    return tuple(dict.fromkeys(c for c in columns if c))


def _checked_lists(images: Sequence[Any], names: Sequence[str] | None,
                   metadata: Sequence[dict[str, Any]] | None) -> tuple[list[str], list[dict[str, Any]]]:
    """A name and a metadata row per image, checked before anything is loaded."""
    if len(images) == 0:
        raise InvalidInputError("no images to add")
    names = list(names) if names is not None else [f"image {i + 1}" for i in range(len(images))]
    metadata = [dict(m or {}) for m in metadata] if metadata is not None else [{} for _ in images]
    if not len(names) == len(metadata) == len(images):
        raise InvalidInputError(f"{len(images)} images but {len(names)} names and {len(metadata)} metadata rows")
    return names, metadata


def _checked_images(images: Sequence[Any], names: list[str], roles: Roles) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The pixels stored (uint8) and the model inputs, read as a search with each photo reads it;
    every image is checked before anything is written."""
    from multimodal.catalog.images import preprocess, preprocess_colour, to_uint8

    pixels, inputs = [], []
    for name, image in zip(names, images):
        try:
            inputs.append(preprocess_colour(image, roles.image_size) if roles.is_folder else preprocess(image))
            pixels.append(to_uint8(inputs[-1]))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{name}: {exc}") from None
    return pixels, inputs


def _new_items(names: list[str], metadata: list[dict[str, Any]], pixels: list[np.ndarray],
               prepared: PreparedData) -> tuple[list[tuple[str, str]], list[int]]:
    """Which items are new (their positions) and which are in the catalog already ((name, id) pairs)."""
    already = _added_by_pixels(prepared)
    ids_before = set(prepared.catalog["product_id"])
    skipped, keep = [], []
    for j, (name, given) in enumerate(zip(names, metadata)):
        digest = _pixel_key(pixels[j])
        wanted_id = str(given.get("product_id", "") or "").strip()
        if digest in already:
            existing = already[digest]
            if wanted_id and wanted_id != existing and wanted_id in ids_before:
                raise InvalidInputError(f"{name}: product id {wanted_id!r} is already in the catalog")
            skipped.append((name, existing))
            continue
        if wanted_id and wanted_id in ids_before:
            raise InvalidInputError(f"{name}: product id {wanted_id!r} is already in the catalog with another image")
        already[digest] = wanted_id or f"#{j}"  # the same image twice in one call is added once
        keep.append(j)
    return skipped, keep


def _product_rows(config: Config, prepared: PreparedData, names: list[str], metadata: list[dict[str, Any]],
                  probs: np.ndarray) -> pd.DataFrame:
    """Catalog rows of the new items: given values checked, the rest drawn under the catalog's rules."""
    from multimodal.catalog.synthetic import make_product

    taken = set(prepared.catalog["product_id"])
    serial = len(prepared.catalog)
    rng = np.random.default_rng([config.seed, len(prepared.catalog)])
    rows = []
    for n, (name, given) in enumerate(zip(names, metadata)):
        given = dict(given)
        label = _category_label(given.pop("category", None), int(np.argmax(probs[n])), name)
        product_id, serial = assign_product_id(given.pop("product_id", ""), taken, serial, name)
        try:
            product = make_product(label, rng, given)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{name}: {exc}") from None
        rows.append({
            "product_id": product_id, "image_index": len(prepared.images) + n, "source_split": "added",
            "source_index": -1, "split": "catalog", "label": label, **product,
        })
    return pd.DataFrame(rows, columns=list(prepared.catalog.columns))


def _write_staged(txn: Any, engine: Any, prepared: PreparedData, added: pd.DataFrame, new_images: np.ndarray,
                  vectors: np.ndarray, text_vectors: np.ndarray) -> None:
    """Catalog, store, text vectors and build state of the staged generation; nothing is live until the commit."""
    from multimodal.io import read_json, save_npy_atomic

    keys_before = stage_inputs(engine.config)
    manifest = dict(prepared.manifest)
    manifest.setdefault("prepared_catalog_sha256", manifest["catalog_sha256"])
    manifest.setdefault("prepared_images_sha256", manifest["images_sha256"])
    manifest["added_items"] = int(manifest.get("added_items", 0)) + len(added)
    catalog = pd.concat([prepared.catalog, added], ignore_index=True)
    catalog["source_split"] = catalog["source_split"].fillna("")  # a folder catalog's first addition adds the column
    manifest = save_prepared(txn.data_dir, catalog, np.concatenate([prepared.images, new_images]), manifest)
    engine.index.add(vectors, added["product_id"].tolist(), Roles.of(manifest).filter_frame(added))
    engine.index.manifest.update(catalog_sha256=manifest["catalog_sha256"])
    engine.index.save(txn.path)
    save_npy_atomic(txn.path / TEXT_VECTORS_FILE, np.concatenate([engine.text_vectors, text_vectors]))
    state_path = txn.path / STATE_FILE
    state = read_json(state_path) if state_path.is_file() else {}
    if state:
        keys_after = stage_inputs(engine.config)
        for stage in ("index", "train-text"):
            if state.get(stage) == keys_before[stage]:  # was current before: the addition keeps it current
                state[stage] = keys_after[stage]
        write_json_atomic(state_path, state)


def _pixel_key(pixels: np.ndarray) -> str:
    """The identity of an added image: sha256 of its preprocessed 28x28 pixels."""
    return hashlib.sha256(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).hexdigest()


def _added_by_pixels(prepared: PreparedData) -> dict[str, str]:
    """Product id of every item added so far, by the hash of its image."""
    if "source_split" not in prepared.catalog:
        return {}
    added = prepared.catalog[prepared.catalog["source_split"] == "added"]
    return {_pixel_key(prepared.images[int(i)]): str(pid) for i, pid in zip(added["image_index"], added["product_id"])}


def _category_label(category: Any, predicted: int, name: str) -> int:
    if category is None or (isinstance(category, float) and np.isnan(category)) or str(category).strip() == "":
        return predicted
    wanted = str(category).strip().lower()
    for label, known in enumerate(CATEGORIES):
        if wanted == known.lower():
            return label
    raise InvalidInputError(f"{name}: unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
