"""Loading an engine from the live generation: every file checked against its manifest, models,
store and catalog checked against each other, retried when a writer switched generations meanwhile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from multimodal.catalog.prepared import load_prepared
from multimodal.catalog.roles import Roles
from multimodal.config import Config
from multimodal.errors import ArtifactError
from multimodal.io import read_json
from multimodal.models.text_data import TEXT_VECTORS_FILE
from multimodal.search.same_product import carried_prints
from multimodal.store import open_store

CONFIG_FILE = "config.json"


def _live_name(root: Path) -> str | None:
    from multimodal import generations

    try:
        live = generations.current(root)
    except ArtifactError:
        return None
    return live.name if live else None


def _check_same_base(data_dir: Path, generation: Any) -> None:
    """Refuse a generation built from another prepared catalog than ``data_dir`` holds."""
    from multimodal.catalog.prepared import MANIFEST_FILE as DATA_MANIFEST

    path = data_dir / DATA_MANIFEST
    if not path.is_file():
        return  # the generation holds its own catalog; the prepared folder is optional
    mine = read_json(path)
    theirs = read_json(generation.data_dir / DATA_MANIFEST)
    base = mine.get("prepared_catalog_sha256", mine.get("catalog_sha256"))
    built = theirs.get("prepared_catalog_sha256", theirs.get("catalog_sha256"))
    if base != built:
        raise ArtifactError(
            f"the artifacts ({generation.name}) were built from another catalog than the one in {data_dir} "
            f"(catalog sha256 {str(built)[:12]} vs {str(base)[:12]}); run `python -m multimodal build` to rebuild for it"
        )


def load_folder(cls: Any, folder: Path, data_dir: str | Path | None, text: bool, reuse: Any,
                verified: Any = None, store: str | None = None, store_uri: str | None = None) -> Any:
    """Load one folder's files (a generation's, or the flat layout's) into a ``cls`` (the engine class)."""
    from multimodal.io import load_npy
    from multimodal.models.image_encoder import CLASSIFIER_FILE, EMBEDDING_FILE, ImageEncoder
    from multimodal.models.text_encoder import MAPPER_FILE
    from multimodal.store.faiss_index import model_fingerprint

    config_path = folder / CONFIG_FILE
    config = Config.from_dict(read_json(config_path)) if config_path.is_file() else Config(artifacts_dir=folder)
    config.artifacts_dir = folder
    if data_dir is not None:
        config.data_dir = Path(data_dir)
    prepared = load_prepared(config.data_dir, verify=verified is None)
    model_files = (EMBEDDING_FILE, CLASSIFIER_FILE, MAPPER_FILE)
    keys = {name: verified.manifest["files"].get(name, {}).get("sha256") for name in model_files} if verified else {}
    old_keys = getattr(reuse, "_model_keys", {}) if reuse is not None else {}

    def unchanged(*names: str) -> bool:
        return bool(keys) and all(keys.get(n) and keys.get(n) == old_keys.get(n) for n in names)

    encoder = reuse.image_encoder if unchanged(EMBEDDING_FILE, CLASSIFIER_FILE) else ImageEncoder.load(folder)
    fingerprint = keys.get(EMBEDDING_FILE) or model_fingerprint(folder / EMBEDDING_FILE)
    index = open_store(folder, Roles.of(prepared.manifest).filter_frame(prepared.catalog), expect={
        "model_fingerprint": fingerprint,
        "catalog_sha256": prepared.manifest["catalog_sha256"],
    }, store=store, uri=store_uri or (config.store_uri if config.store == "milvus" else None))
    position = {pid: i for i, pid in enumerate(prepared.catalog["product_id"])}
    try:
        rows = np.array([position[pid] for pid in index.product_ids], dtype=np.int64)
    except KeyError as exc:
        raise ArtifactError(f"the index holds product {exc} that the catalog does not have; rebuild the index") from exc
    catalog, images = prepared.catalog.iloc[rows].reset_index(drop=True), prepared.images[rows]
    mapper = text_vectors = None
    if text:
        from multimodal.models.text_encoder import TextMapper

        mapper = reuse.mapper if unchanged(MAPPER_FILE) and reuse.mapper is not None else TextMapper.load(folder)
        vectors_path = folder / TEXT_VECTORS_FILE
        if not vectors_path.is_file():
            raise ArtifactError(f"missing {vectors_path}; run `python -m multimodal build`")
        text_vectors = load_npy(vectors_path)
        if text_vectors.ndim != 2 or len(text_vectors) != len(catalog):
            raise ArtifactError(f"{vectors_path} has shape {text_vectors.shape} for {len(catalog)} indexed items; "
                                "run `python -m multimodal build`")
    engine = cls(catalog, images, index, encoder, config, mapper, text_vectors,
                 sentence_encoder=reuse._sentence if reuse is not None else None, roles=Roles.of(prepared.manifest))
    engine._model_keys = keys
    if reuse is not None and reuse._product_prints is not None and len(catalog):
        engine._product_prints = carried_prints(reuse.catalog["product_id"], reuse.images, reuse._product_prints,
                                                catalog["product_id"], images)
    return engine


def load_live(cls: Any, artifacts_dir: str | Path, data_dir: str | Path | None, text: bool, reuse: Any,
              store: str | None, store_uri: str | None) -> Any:
    """``SearchEngine.load``: the live generation, verified, retried when a writer switched it meanwhile."""
    from multimodal import generations

    artifacts_dir = Path(artifacts_dir)
    if not artifacts_dir.is_dir():
        raise ArtifactError(f"no artifacts folder at {artifacts_dir}; run `python -m multimodal build` (or `make run`)")
    for attempt in range(5):
        generation = None
        try:
            generation = generations.current(artifacts_dir)
            if generation is None:
                return load_folder(cls, artifacts_dir, data_dir, text, reuse, store=store, store_uri=store_uri)
            generation.verify()
            engine = load_folder(cls, generation.path, generation.data_dir, text, reuse, verified=generation,
                                store=store, store_uri=store_uri)
        except (ArtifactError, FileNotFoundError):
            # A writer may have switched generations (and removed an old one) while we read: retry.
            if attempt < 4 and generation is not None and _live_name(artifacts_dir) != generation.name:
                continue
            raise
        if data_dir is not None:
            _check_same_base(Path(data_dir), generation)
        engine.generation = generation.name
        engine.config.artifacts_dir = artifacts_dir
        engine.config.data_dir = Path(data_dir) if data_dir is not None else generation.data_dir
        engine._source = (artifacts_dir, data_dir, store, store_uri)
        return engine
    raise AssertionError("unreachable")
