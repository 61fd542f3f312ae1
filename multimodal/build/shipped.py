"""What ships with the project so a first `make run` needs no long training: the image encoder,
the text mapper and the evaluation figures of the default build.

They are made once with the project's own commands (`python -m multimodal build --retrain`, then
`python -m multimodal ship-weights`) and kept in ``multimodal/models/shipped/`` (the mapper in
``text/``, the figures in ``figures/``), each part with a manifest of checksums; the encoder with a
model card. ``build`` uses a part only when it was made for exactly the inputs in use (that
stage's fingerprint: data checksums, the settings it reads, the image model's hash; for the
figures, every stage's and every setting) and every file matches its sha256; otherwise it trains
or measures. Shipped figures say so (``metrics["provenance"]``) until `make evaluate` measures.
"""

from __future__ import annotations

import json
import logging
import os
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
# the product-text vectors too: one sentence-model pass over the catalog costs ~45 s on 2 cores
TEXT_DIR, TEXT_FILES = "text", ("text_mapper.keras", "text_history.json", "item_text_vectors.npy")
FIGURES_DIR, FIGURES_FILES = "figures", ("metrics.json",)
TEXT_SUMMARY = "text_training.json"  # where train-text says whether it trained or installed the mapper
MAX_BYTES = 10 * 1024 * 1024


def shipped_weights(config: Config, directory: Path | None = None) -> Path | None:
    """The folder of shipped weights trained for ``config``'s catalog and settings, or None.

    Raises:
        ArtifactError: weights for this very configuration are there but a file is missing or
            does not match its checksum (a damaged checkout): restore it or build with --retrain.
    """
    from multimodal.build.fingerprints import stage_inputs

    return _verified(Path(directory or SHIPPED_DIR), stage_inputs(config)["train-image"])


def shipped_text(config: Config, directory: Path | None = None) -> Path | None:
    """The folder of the shipped text mapper trained for these inputs (data, image model, text settings), or None.

    Raises:
        ArtifactError: as ``shipped_weights``.
    """
    from multimodal.build.fingerprints import stage_inputs

    return _verified(Path(directory or SHIPPED_DIR) / TEXT_DIR, stage_inputs(config)["train-text"])


def shipped_figures(evaluation_key: str, directory: Path | None = None) -> Path | None:
    """The folder of the shipped figures measured on a build with this evaluation key, or None.

    Raises:
        ArtifactError: as ``shipped_weights``.
    """
    return _verified(Path(directory or SHIPPED_DIR) / FIGURES_DIR, evaluation_key)


def _verified(directory: Path, key: str) -> Path | None:
    """``directory`` when its manifest was made for ``key`` and every file matches its checksum."""
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        return None
    try:
        manifest = read_json(manifest_path)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{manifest_path} is unreadable ({exc}); restore it (git checkout) or run build --retrain") from exc
    if manifest.get("stage_key") != key:
        return None
    for name, digest in manifest.get("sha256", {}).items():
        path = directory / name
        if not path.is_file() or file_sha256(path) != digest:
            raise ArtifactError(
                f"shipped file {path} is missing or does not match its checksum; restore it "
                "(`git checkout multimodal/models/shipped`) or train from scratch with `python -m multimodal build --retrain`"
            )
    return directory


def install(source: Path, destination: Path, names: tuple[str, ...] = FILES) -> None:
    """Copy shipped files (the image encoder's by default) from one folder to another, each atomically."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in names:
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


def install_figures(source: Path, destination: Path) -> dict[str, Any]:
    """The shipped figures as this build's ``metrics.json``, saying where and when they were measured."""
    manifest = read_json(source / MANIFEST)
    metrics = read_json(source / "metrics.json")
    metrics["provenance"] = {"source": "shipped", "measured_at": metrics.get("created_at"),
                             "machine": manifest.get("machine"), "commit": manifest.get("commit")}
    write_json_atomic(destination / "metrics.json", metrics)
    return metrics


def ship_build(config: Config, directory: Path | None = None) -> list[str]:
    """Ship what the served build made itself: its image encoder, its text mapper and its figures
    (a part that was installed from the shipped files stays as it is). Returns what was done.

    Raises:
        ArtifactError: nothing built, or the figures are older than the build (run `evaluate`).
    """
    from multimodal.build.fingerprints import STATE_FILE

    directory = Path(directory or SHIPPED_DIR)
    folder, done = config.artifacts_dir, []
    image = read_json(folder / "image_training.json") if (folder / "image_training.json").is_file() else {}
    if image.get("source") == "shipped":
        done.append("the image encoder is the shipped one already: kept")
    else:
        manifest = ship(config, image, directory)
        done.append(f"shipped the image encoder to {directory}/ (fingerprint {manifest['stage_key'][:12]}...; MODEL_CARD.md)")
    state = read_json(folder / STATE_FILE) if (folder / STATE_FILE).is_file() else {}
    text = read_json(folder / TEXT_SUMMARY) if (folder / TEXT_SUMMARY).is_file() else {}
    if text.get("source") == "shipped":
        done.append("the text mapper is the shipped one already: kept")
    elif state.get("train-text"):
        _ship_files(folder, directory / TEXT_DIR, TEXT_FILES, state["train-text"], {"figures": text})
        done.append(f"shipped the text mapper to {directory / TEXT_DIR}/")
    metrics = read_json(folder / "metrics.json") if (folder / "metrics.json").is_file() else {}
    if metrics.get("provenance", {}).get("source") == "shipped":
        done.append("the figures are the shipped ones: kept (`python -m multimodal evaluate` measures them here)")
    elif metrics and state.get("evaluate"):
        _ship_files(folder, directory / FIGURES_DIR, FIGURES_FILES, state["evaluate"], {"measured_at": metrics.get("created_at")})
        done.append(f"shipped the figures of {metrics.get('created_at')} to {directory / FIGURES_DIR}/")
    return done


def _ship_files(source: Path, directory: Path, names: tuple[str, ...], key: str, extra: dict[str, Any]) -> None:
    import platform
    import subprocess

    missing = [n for n in names if not (source / n).is_file()]
    if missing:
        raise ArtifactError(f"nothing to ship in {source} (missing {', '.join(missing)}); run `python -m multimodal build` first")
    install(source, directory, names)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                                cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    write_json_atomic(directory / MANIFEST, {
        "stage_key": key, "sha256": {name: file_sha256(directory / name) for name in names},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", **extra,
    })


def describe(directory: Path | None = None) -> dict[str, Any] | None:
    """The shipped manifest, for the app and the CLI to show where the weights came from."""
    path = Path(directory or SHIPPED_DIR) / MANIFEST
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None
