"""What each build stage reads, as a fingerprint: a stage re-runs only when its inputs changed
(data checksums, the settings it reads, the image model's hash); also whether the prepared data is current."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from multimodal.config import Config
from multimodal.errors import ArtifactError

_IMAGE_FIELDS = (
    "seed", "image_input_size", "image_alpha", "image_weights", "image_backbone_layer", "embedding_dim",
    "triplet_margin", "classifier_weight", "instance_weight", "instance_temperature", "image_epochs", "batch_classes",
    "batch_per_class", "learning_rate",
    "bn_momentum", "early_stopping_patience", "validation_fraction", "image_extra_training_data", "image_max_seconds",
    "image_flip_tta",
)


# Fields added after weights were shipped: part of the key only when set, so older keys stay valid.
_NEW_IMAGE_FIELDS = {"image_backbone": "mobilenetv2"}


def _changed(cfg: dict[str, Any], fields: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    changed = {k: cfg[k] for k, default in fields.items() if cfg.get(k, default) != default}
    return (changed,) if changed else ()


_TEXT_FIELDS = ("seed", "sentence_model", "text_epochs", "text_objective", "text_temperature", "text_item_weight")


STATE_FILE = "build_state.json"


def fingerprint(*parts: Any) -> str:
    import json

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _training_sha256_of(path: Path) -> str | None:
    """``training_sha256`` of a table whose manifest predates that key (None without a table)."""
    from multimodal.catalog.prepared import training_sha256

    try:
        return training_sha256(pd.read_csv(path, keep_default_na=False, dtype=str))
    except (OSError, ValueError, KeyError):
        return None


def stage_inputs(config: Config) -> dict[str, str]:
    """A fingerprint of what each stage reads; a stage re-runs only when its fingerprint changes."""
    from multimodal.catalog.prepared import CATALOG_FILE, MANIFEST_FILE
    from multimodal.io import read_json
    from multimodal.models.image_encoder import EMBEDDING_FILE
    from multimodal.store.faiss_index import model_fingerprint

    data_manifest = config.data_dir / MANIFEST_FILE
    data = read_json(data_manifest) if data_manifest.is_file() else {}
    data_key = (data.get("catalog_sha256"), data.get("images_sha256"))
    # Image training reads the images and, from the table, ids, split and labels: its key is those
    # alone, so new titles or prices do not retrain it, nor do items added later (``add_items``).
    training = data.get("training_sha256") or _training_sha256_of(config.data_dir / CATALOG_FILE)
    image_key = (training, data.get("prepared_images_sha256", data_key[1]))
    model_path = config.artifacts_dir / EMBEDDING_FILE
    model_key = model_fingerprint(model_path) if model_path.is_file() else None
    cfg = config.to_dict()
    return {
        "train-image": fingerprint(image_key, {k: cfg[k] for k in _IMAGE_FIELDS}, *_changed(cfg, _NEW_IMAGE_FIELDS)),
        # The default store keeps the old key, so FAISS builds made before stores existed stay up to date.
        "index": fingerprint(data_key, model_key, cfg["index_type"],
                              *(() if cfg["store"] == "faiss" else (cfg["store"], cfg["store_uri"], cfg["store_collection"]))),
        "train-text": fingerprint(data_key, model_key, {k: cfg[k] for k in _TEXT_FIELDS}),
    }


def evaluation_key(config: Config, state: dict[str, str]) -> str:
    """What the figures depend on: every setting and every model stage's inputs."""
    return fingerprint(settings_without_folders(config.to_dict()), {k: v for k, v in state.items() if k != "evaluate"})


def from_shipped(config: Config) -> bool:
    from multimodal.io import read_json

    path = config.artifacts_dir / "image_training.json"
    try:
        return path.is_file() and read_json(path).get("source") == "shipped"
    except (OSError, ValueError):
        return False


def settings_without_folders(values: dict[str, Any]) -> dict[str, Any]:
    """Settings without the folders: a build copied or moved elsewhere is the same build."""
    return {k: v for k, v in values.items() if k not in ("data_dir", "artifacts_dir", "fashion_mnist_dir")}


def prepared_matches(config: Config) -> bool:
    from multimodal.catalog.prepared import MANIFEST_FILE
    from multimodal.io import read_json

    path = config.data_dir / MANIFEST_FILE
    if not path.is_file():
        return False
    from multimodal.catalog.prepared import CATALOG_FILE, IMAGES_FILE
    from multimodal.io import file_sha256

    try:
        manifest = read_json(path)
        intact = all(
            (config.data_dir / name).is_file() and file_sha256(config.data_dir / name) == manifest.get(key)
            for name, key in ((CATALOG_FILE, "catalog_sha256"), (IMAGES_FILE, "images_sha256"))
        )
    except ArtifactError:
        return False  # a damaged or half-written prepare: run it again (it is deterministic)
    wanted = {"profile": config.profile, "seed": config.seed}
    if config.profile == "default":
        wanted.update(per_class=config.per_class, query_fraction=config.query_fraction)
    return intact and all(manifest.get(k) == v for k, v in wanted.items())


STAGE_OUTPUTS = {
    "train-image": ("image_embedding.keras", "image_classifier_head.keras", "image_config.json"),
    "index": ("image.index", "index_ids.json", "index_manifest.json"),
    "train-text": ("text_mapper.keras", "item_text_vectors.npy"),
}
