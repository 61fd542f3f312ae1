"""Shipped image-encoder weights: used only for their own catalog and settings, and only intact."""

from __future__ import annotations

import shutil

import numpy as np
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


@pytest.fixture()
def shipped_build(toy_build, tmp_path, monkeypatch):
    """The toy build's encoder, mapper and figures shipped into a temporary folder the build looks in,
    and a copy of its prepared data for a fresh build."""
    from multimodal import generations

    config, result, _ = toy_build
    live = generations.current(config.artifacts_dir)
    folder = tmp_path / "shipped"
    done = shipped.ship_build(config.replace(artifacts_dir=live.path, data_dir=live.data_dir), directory=folder)
    monkeypatch.setattr(shipped, "SHIPPED_DIR", folder)
    shutil.copytree(config.data_dir, tmp_path / "data")
    fresh = config.replace(data_dir=tmp_path / "data", artifacts_dir=tmp_path / "fresh")
    return fresh, folder, done, result["metrics"], live.path


def test_a_first_build_installs_the_shipped_mapper_and_figures_measured_on_the_same_build(shipped_build) -> None:
    from multimodal import SearchEngine, generations
    from multimodal.build import build, run_in_generation
    from multimodal.evaluation.evaluate import run_evaluation

    fresh, folder, done, measured, toy_live = shipped_build
    assert [line.split(" to ")[0] for line in done] == ["shipped the image encoder", "shipped the text mapper", "shipped the figures of "
                                                        + measured["created_at"]]
    log: list[str] = []
    metrics = build(fresh, report=log.append)["metrics"]
    assert any(line.startswith("[train-text] using the shipped mapper and product-text vectors") for line in log), log
    assert any(line.startswith("[evaluate] the figures shipped for this very build") for line in log), log
    assert metrics["provenance"]["source"] == "shipped" and metrics["provenance"]["measured_at"] == measured["created_at"]
    live = generations.current(fresh.artifacts_dir).path
    assert file_sha256(live / "text_mapper.keras") == file_sha256(folder / "text" / "text_mapper.keras")
    engine = SearchEngine.load(fresh.artifacts_dir, fresh.data_dir)
    toy = SearchEngine.load(toy_live.parent, None)
    assert np.array_equal(engine.text_vectors, toy.text_vectors)
    assert engine.search_text("black ankle boots", k=5).product_ids == toy.search_text("black ankle boots", k=5).product_ids

    # the figures a fresh evaluation measures here are the shipped ones, and say so no more
    again = run_in_generation(fresh, run_evaluation)
    assert "provenance" not in again
    assert again["image"]["learned"]["precision_at_k"] == metrics["image"]["learned"]["precision_at_k"]
    assert again["text"]["fused"]["strict_p_at_k"] == metrics["text"]["fused"]["strict_p_at_k"]
    kept = shipped.ship_build(fresh.replace(artifacts_dir=generations.current(fresh.artifacts_dir).path), directory=folder)
    assert kept[:2] == ["the image encoder is the shipped one already: kept", "the text mapper is the shipped one already: kept"]


def test_other_inputs_do_not_use_the_shipped_mapper_or_figures_and_a_damaged_one_is_refused(shipped_build) -> None:
    from multimodal import generations

    fresh, folder, _, _, toy_live = shipped_build
    toy = fresh.replace(artifacts_dir=toy_live, data_dir=generations.current(toy_live.parent).data_dir)
    assert shipped.shipped_text(toy) == folder / "text"
    assert shipped.shipped_text(toy.replace(text_epochs=toy.text_epochs + 1)) is None
    assert shipped.shipped_figures("another build") is None
    path = folder / "text" / "text_mapper.keras"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match="text_mapper.keras.*--retrain"):
        shipped.shipped_text(toy)
