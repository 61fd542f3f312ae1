"""Adding products to a built catalog without retraining: checked, deduplicated, embedded by the
trained encoder and appended to catalog, store and text vectors in one new generation."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from multimodal.build.fingerprints import STATE_FILE, stage_inputs
from multimodal.catalog.images import preprocess_batch
from multimodal.catalog.prepared import PreparedData, load_prepared, save_prepared
from multimodal.config import CATEGORIES, Config
from multimodal.errors import ArtifactError, InvalidInputError
from multimodal.io import write_json_atomic

log = logging.getLogger(__name__)


def add_items(
    config: Config,
    images: Sequence[Any],
    names: Sequence[str] | None = None,
    metadata: Sequence[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Add products to a built catalog: embed their images with the trained encoder, append them to
    the catalog, the FAISS index and the product-text vectors. Nothing is retrained.

    ``metadata[i]`` may fix any catalog field of item i (``category``, ``gender``, ``colour``,
    ``price``, ``title`` ... and ``product_id``); missing fields are drawn under the catalog's
    rules, and a missing category is the classifier's prediction. Every image and value is checked
    before anything is written.

    Idempotent: an image already added (same pixels after preprocessing) or a product id
    already added with that image is skipped and listed in ``attrs["skipped"]``, so re-running
    an interrupted or finished run adds nothing twice. All files change in one committed
    generation (``multimodal.generations``): a run killed at any point adds nothing, and
    re-running it completes it.

    Returns the added rows (with ``predicted_category`` and ``confidence``); ``attrs["skipped"]``
    holds ``(name, product_id)`` of the items already in the catalog, ``attrs["generation"]`` the
    generation committed (None if nothing was added).

    Raises:
        InvalidInputError: an image cannot be used, a value breaks the catalog's rules, an id is taken.
        ArtifactError: there is no consistent build to add to.
    """
    from multimodal import generations
    from multimodal.catalog.images import preprocess, to_uint8
    from multimodal.catalog.synthetic import make_product
    from multimodal.io import read_json, save_npy_atomic
    from multimodal.models.text_data import TEXT_VECTORS_FILE, item_text
    from multimodal.search.engine import SearchEngine

    if len(images) == 0:
        raise InvalidInputError("no images to add")
    names = list(names) if names is not None else [f"image {i + 1}" for i in range(len(images))]
    metadata = [dict(m or {}) for m in metadata] if metadata is not None else [{} for _ in images]
    if not len(names) == len(metadata) == len(images):
        raise InvalidInputError(f"{len(images)} images but {len(names)} names and {len(metadata)} metadata rows")
    pixels = []
    for name, image in zip(names, images):
        try:
            pixels.append(to_uint8(preprocess(image)))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{name}: {exc}") from None

    with generations.transaction(config.artifacts_dir, legacy_data_dir=config.data_dir) as txn:
        if txn.base is None and not (txn.path / "image.index").is_file():
            raise ArtifactError(f"nothing built in {config.artifacts_dir} to add to; run `python -m multimodal build` first")
        staged_data = txn.data_dir
        # checks that models, index and catalog of the live generation agree
        engine = SearchEngine.load(txn.path, staged_data, store_uri=config.store_uri)
        prepared = load_prepared(staged_data)
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
        if not keep:
            log.info("all %d item(s) are already in the catalog; nothing to add", len(skipped))
            added = pd.DataFrame(columns=[*prepared.catalog.columns, "file", "predicted_category", "confidence"])
            added.attrs.update(skipped=skipped, generation=None)
            return added

        new_images = np.stack([pixels[j] for j in keep])
        vectors, probs = engine.image_encoder.encode(preprocess_batch(new_images))
        taken = set(ids_before)
        serial = len(prepared.catalog)
        rng = np.random.default_rng([config.seed, len(prepared.catalog)])
        rows = []
        for n, j in enumerate(keep):
            name, given = names[j], dict(metadata[j])
            label = _category_label(given.pop("category", None), int(np.argmax(probs[n])), name)
            product_id = str(given.pop("product_id", "") or "").strip()
            if not product_id:
                while f"NEW-{serial:06d}" in taken:
                    serial += 1
                product_id = f"NEW-{serial:06d}"
            if product_id in taken:
                raise InvalidInputError(f"{name}: product id {product_id!r} is given twice")
            taken.add(product_id)
            try:
                product = make_product(label, rng, given)
            except InvalidInputError as exc:
                raise InvalidInputError(f"{name}: {exc}") from None
            rows.append({
                "product_id": product_id, "image_index": len(prepared.images) + n, "source_split": "added",
                "source_index": -1, "split": "catalog", "label": label, **product,
            })
        added = pd.DataFrame(rows, columns=list(prepared.catalog.columns))
        text_vectors = engine.sentence_encoder.encode([item_text(r) for r in rows])

        # Everything below writes into the staged generation; nothing is live until the commit.
        keys_before = stage_inputs(engine.config)
        manifest = dict(prepared.manifest)
        manifest.setdefault("prepared_catalog_sha256", manifest["catalog_sha256"])
        manifest.setdefault("prepared_images_sha256", manifest["images_sha256"])
        manifest["added_items"] = int(manifest.get("added_items", 0)) + len(added)
        manifest = save_prepared(
            staged_data, pd.concat([prepared.catalog, added], ignore_index=True),
            np.concatenate([prepared.images, new_images]), manifest,
        )
        engine.index.add(vectors, added["product_id"].tolist(), added)
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
        generation = txn.commit(f"add-items: {len(added)} item(s)")

    added["file"] = [names[j] for j in keep]
    added["predicted_category"] = [CATEGORIES[int(i)] for i in np.argmax(probs, axis=1)]
    added["confidence"] = probs.max(axis=1).astype(float)
    added.attrs.update(skipped=skipped, generation=generation.name)
    return added


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
