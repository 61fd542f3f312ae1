"""Image-encoder weights that ship with the project, so a first `make run` needs no long training.

The weights are trained once with the project's own command (`python -m multimodal build
--retrain`, then `python -m multimodal ship-weights`) and kept in ``multimodal/models/shipped/`` with a
manifest and a model card. ``build`` uses them only when they were trained for exactly the
catalog and settings in use (the train-image stage fingerprint: data checksums and every
image-encoder setting) and every file matches its recorded sha256; otherwise it trains.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from multimodal.config import Config
from multimodal.errors import ArtifactError
from multimodal.io import atomic_path, file_sha256, read_json, write_bytes_atomic, write_json_atomic

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "models" / "shipped"
MANIFEST = "manifest.json"
MODEL_CARD = "MODEL_CARD.md"
FILES = ("image_embedding.keras", "image_classifier_head.keras", "image_config.json", "image_history.json")
MAX_BYTES = 10 * 1024 * 1024


def shipped_weights(config: Config, directory: Path | None = None) -> Path | None:
    """The folder of shipped weights trained for ``config``'s catalog and settings, or None.

    Raises:
        ArtifactError: weights for this very configuration are there but a file is missing or
            does not match its checksum (a damaged checkout): restore it or build with --retrain.
    """
    from multimodal.build.fingerprints import stage_inputs

    directory = Path(directory or SHIPPED_DIR)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        return None
    try:
        manifest = read_json(manifest_path)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{manifest_path} is unreadable ({exc}); restore it (git checkout) or run build --retrain") from exc
    if manifest.get("stage_key") != stage_inputs(config)["train-image"]:
        return None
    for name, digest in manifest.get("sha256", {}).items():
        path = directory / name
        if not path.is_file() or file_sha256(path) != digest:
            raise ArtifactError(
                f"shipped weights file {path} is missing or does not match its checksum; restore it "
                "(`git checkout multimodal/shipped`) or train from scratch with `python -m multimodal build --retrain`"
            )
    return directory


def install(source: Path, destination: Path) -> None:
    """Copy the image-encoder files from one folder to another, each file atomically."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        with atomic_path(destination / name, suffix=Path(name).suffix) as tmp:
            shutil.copyfile(source / name, tmp)


def ship(config: Config, summary: dict[str, Any], directory: Path | None = None, command: str = "") -> dict[str, Any]:
    """Copy the trained image encoder in ``config.artifacts_dir`` into ``directory`` with a manifest and model card.

    ``summary`` is the train-image measurement (``artifacts/image_training.json``); the card
    records it with the command, seed and data checksums, so the figures travel with the weights.
    """
    from multimodal.build.fingerprints import stage_inputs
    from multimodal.catalog.prepared import MANIFEST_FILE

    missing = [n for n in FILES if not (config.artifacts_dir / n).is_file()]
    if missing:
        raise ArtifactError(f"no trained image encoder to ship in {config.artifacts_dir} (missing {', '.join(missing)}); "
                            "run `python -m multimodal build --retrain` first")
    directory = Path(directory or SHIPPED_DIR)
    size = sum((config.artifacts_dir / n).stat().st_size for n in FILES)
    if size > MAX_BYTES:
        raise ArtifactError(f"the image encoder is {size / 1e6:.1f} MB; shipped weights are capped at {MAX_BYTES / 1e6:.0f} MB")
    directory.mkdir(parents=True, exist_ok=True)
    install(config.artifacts_dir, directory)
    data = read_json(config.data_dir / MANIFEST_FILE)
    manifest = {
        "stage_key": stage_inputs(config)["train-image"],
        "sha256": {name: file_sha256(directory / name) for name in FILES},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command or "python -m multimodal build --retrain && python -m multimodal ship-weights",
        "seed": config.seed,
        "profile": config.profile,
        "data": {key: data.get(key) for key in ("source", "catalog_sha256", "images_sha256", "training_sha256", "rows")},
        "figures": summary,
    }
    write_json_atomic(directory / MANIFEST, manifest)
    write_bytes_atomic(directory / MODEL_CARD, model_card(manifest, read_json(config.artifacts_dir / "image_config.json")).encode())
    return manifest


def model_card(manifest: dict[str, Any], settings: dict[str, Any]) -> str:
    """A short model card: what the weights are, how they were made, what they score."""
    figures = manifest.get("figures", {})
    search = figures.get("image_search", {})
    learned = figures.get("learned", {})
    keys = ("image_input_size", "image_alpha", "image_backbone_layer", "embedding_dim", "triplet_margin", "instance_weight",
            "instance_temperature", "classifier_weight", "image_epochs", "batch_classes", "batch_per_class",
            "learning_rate", "image_extra_training_data", "image_flip_tta")
    lines = [
        "# Model card: shipped image encoder",
        "",
        "MobileNetV2 (trained from scratch on Fashion-MNIST) with a 64-d unit embedding head and a",
        "category classifier head; batch-hard triplet loss on categories plus NT-Xent between each",
        "image and a re-shot view of it (so items of one category stay apart), and cross-entropy.",
        "",
        f"- Command: `{manifest['command']}`",
        f"- Created: {manifest['created_at']}; seed {manifest['seed']}; profile {manifest['profile']}",
        f"- Data: {manifest['data'].get('rows')} rows from {manifest['data'].get('source')}",
        f"  (catalog sha256 {str(manifest['data'].get('catalog_sha256'))[:16]}..., images sha256 "
        f"{str(manifest['data'].get('images_sha256'))[:16]}...). The held-out queries were never used in training.",
        f"- Training: {figures.get('train_images', '?')} images, {figures.get('epochs', '?')} epochs, "
        f"{figures.get('train_seconds', '?')} s on the build machine's CPU",
        "- Settings: " + ", ".join(f"{k}={settings.get(k)}" for k in keys),
        "",
        "Figures on the held-out queries of that catalog, measured right after training:",
        "",
        "| measure | value |",
        "|---|---|",
        f"| classifier accuracy | {figures.get('classifier_accuracy', float('nan')):.3f} |",
        f"| embedding alone, category P@1 / P@10 | {learned.get('p_at_1', float('nan')):.3f} / "
        f"{learned.get('p_at_10', float('nan')):.3f} |",
        f"| image search (ranking settings of that run), category P@1 / P@10 | {search.get('p_at_1', float('nan')):.3f} / "
        f"{search.get('p_at_10', float('nan')):.3f} |",
        "",
        "`build` uses these weights only for the catalog and settings above (their fingerprint is",
        f"`{manifest['stage_key'][:16]}...`) after checking every file's sha256 in `{MANIFEST}`;",
        "`python -m multimodal build --retrain` trains from scratch instead. The full evaluation of a",
        "build (`python -m multimodal evaluate`) is in the README.",
        "",
    ]
    return "\n".join(lines)


def describe(directory: Path | None = None) -> dict[str, Any] | None:
    """The shipped manifest, for the app and the CLI to show where the weights came from."""
    path = Path(directory or SHIPPED_DIR) / MANIFEST
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None
