"""Adding products to a built catalog: findable at once, nothing retrained, bad input writes nothing."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from multimodal import InvalidInputError, SearchEngine, generations
from multimodal.build import add_items, build
from multimodal.cli import main
from multimodal.io import file_sha256


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
    row = added.rows.iloc[0]
    assert row["product_id"].startswith("NEW-")
    assert row["category"] == before.describe_image(item)["predicted_category"], "no category given: the classifier's"
    assert (row["colour"], row["gender"], row["price"]) == ("burgundy", "Women", 49.5)
    assert "Burgundy" in row["title"], "the title is written from the given values"

    engine = SearchEngine.load(built.artifacts_dir, built.data_dir)
    assert len(engine.catalog) == len(before.catalog) + 1
    assert engine.search_image(item, k=1).rows["product_id"].iloc[0] == row["product_id"]
    assert row["product_id"] in engine.search_text(row["title"], k=3).rows["product_id"].tolist()
    assert file_sha256(_live(built) / "image_embedding.keras") == model_before
    assert file_sha256(_live(built) / "text_mapper.keras") == mapper_before


def test_a_given_category_is_kept_even_where_the_classifier_disagrees(built) -> None:
    added = add_items(built, [_new_item(5)], metadata=[{"category": "ankle BOOT"}])
    assert added.rows["category"].iloc[0] == "Ankle boot" and added.rows["label"].iloc[0] == 9
    engine = SearchEngine.load(built.artifacts_dir, built.data_dir)
    assert added.rows["product_id"].iloc[0] in engine.search_text("ankle boots", k=len(engine.catalog)).rows["product_id"].tolist()


def test_a_build_after_adding_items_retrains_nothing(built, stub_evaluation) -> None:
    add_items(built, [_new_item(1)])
    log: list[str] = []
    build(built, report=log.append)
    for stage in ("train-image", "index", "train-text"):
        assert f"[{stage}] up to date" in log, log
    assert "[evaluate] done" in " ".join(log), "the gallery changed, so the figures are measured again"


def test_a_missing_category_is_the_classifiers_prediction(built) -> None:
    engine = SearchEngine.load(built.artifacts_dir, built.data_dir)
    catalog_item = engine.images[5]
    # add-items classifies each upload as a search with that very photo does
    described = engine.describe_image(catalog_item)
    added = add_items(built, [catalog_item])
    assert added.rows["category"].iloc[0] == described["predicted_category"]
    assert added.rows["confidence"].iloc[0] == pytest.approx(described["confidence"], abs=1e-4)


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


def test_adding_the_same_images_again_adds_nothing_and_says_so(built, capsys) -> None:
    first = add_items(built, [_new_item(7), _new_item(8)], metadata=[{"product_id": "SHOP-7"}, {}])
    catalog = SearchEngine.load(built.artifacts_dir, built.data_dir).catalog
    again = add_items(built, [_png(_new_item(7)), _new_item(8), _new_item(9)], metadata=[{"product_id": "SHOP-7"}, {}, {}])
    assert len(again) == 1, "only the new image is added"
    assert sorted(pid for _, pid in again.skipped) == sorted(first.rows["product_id"])
    after = SearchEngine.load(built.artifacts_dir, built.data_dir).catalog
    assert len(after) == len(catalog) + 1 and after["product_id"].is_unique
    nothing = add_items(built, [_new_item(9)])
    assert nothing.rows.empty and nothing.generation is None
    dirs = ["--data-dir", str(built.data_dir), "--artifacts-dir", str(built.artifacts_dir)]
    folder = built.data_dir.parent / "again"
    folder.mkdir()
    (folder / "seven.png").write_bytes(_png(_new_item(7)))
    assert main(["add-items", str(folder), *dirs]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "SHOP-7" in out and "added nothing" in out


def test_a_product_id_taken_by_another_added_image_is_refused(built) -> None:
    add_items(built, [_new_item(10)], metadata=[{"product_id": "SHOP-10"}])
    with pytest.raises(InvalidInputError, match="SHOP-10"):
        add_items(built, [_new_item(11)], metadata=[{"product_id": "SHOP-10"}])


def test_a_loaded_engine_refreshes_to_the_new_generation_keeping_its_models(built) -> None:
    engine = SearchEngine.load(built.artifacts_dir, built.data_dir)
    encoder, mapper, size = engine.image_encoder, engine.mapper, len(engine.catalog)
    engine.search_text("red bag", k=1)  # reads the query: anchors encoded, WordNet read
    engine.search_image(engine.images[0], k=1)  # traces the one-image graph
    understanding = engine.matcher, engine.dictionary, engine.sentence_encoder, engine.image_encoder._single
    assert engine.refresh() is False, "nothing new yet"
    added = add_items(built, [_new_item(12)])
    assert engine.refresh() is True
    assert len(engine.catalog) == size + 1 and engine.generation == added.generation
    assert added.rows["product_id"].iloc[0] in engine.index.product_ids
    fresh = SearchEngine.load(built.artifacts_dir, built.data_dir)
    for query in (_new_item(12), engine.images[-1], engine.images[0]):
        assert engine.search_image(query, k=5).rows["product_id"].tolist() == fresh.search_image(query, k=5).rows["product_id"].tolist()
    assert engine.search_text("red bag", k=5).rows["product_id"].tolist() == fresh.search_text("red bag", k=5).rows["product_id"].tolist()
    assert engine.image_encoder is encoder and engine.mapper is mapper, "unchanged models are not reloaded"
    for again in (engine, fresh):  # what reads queries is made once per process, not once per engine
        assert (again.matcher, again.dictionary, again.sentence_encoder, again.image_encoder._single) == understanding


def test_items_added_survive_a_build_that_re_indexes(built, stub_evaluation) -> None:
    added = add_items(built, [_new_item(13)], metadata=[{"product_id": "SHOP-13", "colour": "red"}])
    log: list[str] = []
    build(built.replace(index_type="hnsw"), report=log.append)
    assert "[index] done" in " ".join(log), log
    engine = SearchEngine.load(built.artifacts_dir, built.data_dir)
    assert engine.index.manifest["index_type"] == "hnsw"
    row = engine.catalog[engine.catalog["product_id"] == "SHOP-13"]
    assert len(row) == 1 and row["colour"].iloc[0] == "red"
    assert added.rows["product_id"].iloc[0] == "SHOP-13" and "SHOP-13" in engine.index.product_ids
    stored = engine.images[int(np.flatnonzero(engine.catalog["product_id"] == "SHOP-13")[0])]
    assert np.array_equal(stored, SearchEngine.load(built.artifacts_dir, built.data_dir).images[-1])
