"""Shipped image-encoder weights: used only for their own catalog and settings, and only intact."""

from __future__ import annotations

import shutil

import pytest

from multimodal.build import shipped
from multimodal.errors import ArtifactError
from multimodal.io import file_sha256, read_json


@pytest.fixture()
def shipped_toy(toy_build, tmp_path, monkeypatch):
    """The toy build's encoder shipped into a temporary folder that the build then looks in."""
    from multimodal import generations

    config, _, _ = toy_build
    live = generations.current(config.artifacts_dir)
    config = config.replace(artifacts_dir=live.path, data_dir=live.data_dir)  # the served generation's files
    folder = tmp_path / "shipped"
    summary = read_json(config.artifacts_dir / "image_training.json")
    manifest = shipped.ship(config, summary, directory=folder, command="pytest toy build")
    monkeypatch.setattr(shipped, "SHIPPED_DIR", folder)
    return config, folder, manifest


def test_shipping_writes_checksums_and_a_model_card_with_the_figures(shipped_toy) -> None:
    config, folder, manifest = shipped_toy
    for name in shipped.FILES:
        assert manifest["sha256"][name] == file_sha256(folder / name) == file_sha256(config.artifacts_dir / name)
    card = (folder / shipped.MODEL_CARD).read_text()
    assert "pytest toy build" in card and f"seed {config.seed}" in card
    assert f"{manifest['figures']['classifier_accuracy']:.3f}" in card


def test_the_build_uses_shipped_weights_for_the_same_catalog_and_settings(shipped_toy, tmp_path) -> None:
    from multimodal.build import train_image

    config, folder, _ = shipped_toy
    fresh = config.replace(artifacts_dir=tmp_path / "fresh")
    summary = train_image(fresh, verbose=0, retrain=False)
    assert summary["source"] == "shipped"
    assert file_sha256(fresh.artifacts_dir / "image_embedding.keras") == file_sha256(folder / "image_embedding.keras")


def test_other_settings_or_another_catalog_do_not_use_them(shipped_toy) -> None:
    config, folder, _ = shipped_toy
    assert shipped.shipped_weights(config) == folder
    assert shipped.shipped_weights(config.replace(triplet_margin=0.3)) is None
    assert shipped.shipped_weights(config.replace(instance_weight=0.0)) is None


def test_a_damaged_shipped_file_is_refused_naming_the_fix(shipped_toy) -> None:
    config, folder, _ = shipped_toy
    path = folder / "image_embedding.keras"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="image_embedding.keras.*--retrain"):
        shipped.shipped_weights(config)
    shutil.rmtree(folder)
    assert shipped.shipped_weights(config) is None
