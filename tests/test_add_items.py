"""Adding products to a built catalog: findable at once, nothing retrained, bad input writes nothing."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from multimodal import InvalidInputError, SearchEngine, generations
from multimodal.cli import main
from multimodal.io import file_sha256
from multimodal.pipeline import add_items, build


@pytest.fixture()
def built(toy_build, tmp_path):
    """A private copy of the toy build, so adding items does not disturb other tests."""
    config, _, _ = toy_build
    shutil.copytree(config.data_dir, tmp_path / "data")
    shutil.copytree(config.artifacts_dir, tmp_path / "artifacts")
    return config.replace(data_dir=tmp_path / "data", artifacts_dir=tmp_path / "artifacts")


def _new_item(seed: int) -> np.ndarray:
    """A product photo unlike any catalog image: a bright ring on black."""
    yy, xx = np.mgrid[0:28, 0:28]
    radius = np.hypot(yy - 14, xx - 14)
    ring = (np.abs(radius - 8 - seed % 3) < 2).astype(np.float32) * 230
    return np.clip(ring + np.random.default_rng(seed).normal(0, 5, ring.shape), 0, 255).astype(np.uint8)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _fingerprints(config) -> dict[str, str]:
    folders = (config.data_dir, config.artifacts_dir)
    return {str(p): file_sha256(p) for folder in folders for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _live(config) -> Path:
    return generations.resolve(config.artifacts_dir)


def test_added_items_are_found_by_image_and_by_text_without_retraining(built) -> None:
    model_before = file_sha256(_live(built) / "image_embedding.keras")
    mapper_before = file_sha256(_live(built) / "text_mapper.keras")
    before = SearchEngine.load(built.artifacts_dir, built.data_dir)
    item = _new_item(0)
    added = add_items(built, [_png(item)], names=["ring.png"],
                      metadata=[{"colour": "burgundy", "gender": "women", "price": "49.5"}])
    assert len(added) == 1
    row = added.iloc[0]
    assert row["product_id"].startswith("NEW-") and row["category"] == row["predicted_category"]
    assert (row["colour"], row["gender"], row["price"]) == ("burgundy", "Women", 49.5)
    assert "Burgundy" in row["title"], "the title is written from the given values"

    engine = SearchEngine.load(built.artifacts_dir, built.data_dir)
    assert len(engine.catalog) == len(before.catalog) + 1
    assert engine.search_image(item, k=1)["product_id"].iloc[0] == row["product_id"]
    assert row["product_id"] in engine.search_text(row["title"], k=3)["product_id"].tolist()
    assert file_sha256(_live(built) / "image_embedding.keras") == model_before
    assert file_sha256(_live(built) / "text_mapper.keras") == mapper_before


def test_a_given_category_is_kept_even_where_the_classifier_disagrees(built) -> None:
    added = add_items(built, [_new_item(5)], metadata=[{"category": "ankle BOOT"}])
    assert added["category"].iloc[0] == "Ankle boot" and added["label"].iloc[0] == 9
    engine = SearchEngine.load(built.artifacts_dir, built.data_dir)
    assert added["product_id"].iloc[0] in engine.search_text("ankle boots", k=len(engine.catalog))["product_id"].tolist()


def test_a_build_after_adding_items_retrains_nothing(built) -> None:
    add_items(built, [_new_item(1)])
    log: list[str] = []
    build(built, report=log.append)
    for stage in ("train-image", "index", "train-text"):
        assert f"[{stage}] up to date" in log, log
    assert "[evaluate] done" in " ".join(log), "the gallery changed, so the figures are measured again"


def test_a_missing_category_is_the_classifiers_prediction(built) -> None:
    engine = SearchEngine.load(built.artifacts_dir, built.data_dir)
    catalog_item = engine.images[5]
    added = add_items(built, [catalog_item])
    assert added["category"].iloc[0] == added["predicted_category"].iloc[0]
    assert 0.0 < added["confidence"].iloc[0] <= 1.0


@pytest.mark.parametrize(
    ("images", "metadata", "message"),
    [
        ([b"not an image"], None, "broken.png"),
        ([_new_item(2)], [{"category": "Dress", "gender": "Men"}], "cannot be 'Men'"),
        ([_new_item(2)], [{"category": "Sandal", "season": "Winter"}], "Winter"),
        ([_new_item(2)], [{"category": "Hat"}], "unknown category"),
        ([_new_item(2)], [{"colour": "ultraviolet"}], "unknown colour"),
        ([_new_item(2)], [{"price": "-3"}], "positive"),
        ([_new_item(2)], [{"product_id": "FM-000000"}], "already in the catalog"),
        ([], None, "no images"),
    ],
    ids=["corrupt", "mens-dress", "winter-sandal", "category", "colour", "price", "taken-id", "nothing"],
)
def test_bad_items_are_refused_before_anything_is_written(built, images, metadata, message) -> None:
    before = _fingerprints(built)
    with pytest.raises(InvalidInputError, match=message):
        add_items(built, images, names=["broken.png"] * len(images) or None, metadata=metadata)
    assert _fingerprints(built) == before


def test_cli_adds_a_folder_with_a_metadata_csv_and_search_finds_it(built, tmp_path, capsys) -> None:
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "ring.png").write_bytes(_png(_new_item(3)))
    (folder / "notes.txt").write_text("not an image, and not picked up")
    (tmp_path / "meta.csv").write_text("file,category,colour,product_id\nring.png,Bag,red,SHOP-1\n")
    dirs = ["--data-dir", str(built.data_dir), "--artifacts-dir", str(built.artifacts_dir)]
    assert main(["add-items", str(folder), "--metadata", str(tmp_path / "meta.csv"), *dirs]) == 0
    assert "SHOP-1" in capsys.readouterr().out
    assert main(["search", "--image", str(folder / "ring.png"), "--k", "1", *dirs]) == 0
    assert "SHOP-1" in capsys.readouterr().out


def test_cli_refuses_metadata_for_files_it_was_not_given(built, tmp_path, capsys) -> None:
    image = tmp_path / "ring.png"
    image.write_bytes(_png(_new_item(4)))
    (tmp_path / "meta.csv").write_text("file,colour\nother.png,red\n")
    code = main(["add-items", str(image), "--metadata", str(tmp_path / "meta.csv"),
                 "--data-dir", str(built.data_dir), "--artifacts-dir", str(built.artifacts_dir)])
    assert code == 2 and "other.png" in capsys.readouterr().err
