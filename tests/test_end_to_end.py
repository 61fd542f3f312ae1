"""The whole pipeline at toy size, then the public API the app and scripts rely on."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from multimodal import InvalidInputError, SearchEngine
from multimodal.errors import ArtifactError


@pytest.fixture(scope="module")
def engine(toy_build) -> SearchEngine:
    config, _, _ = toy_build
    return SearchEngine.load(config.artifacts_dir, config.data_dir)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_build_runs_every_stage_and_writes_metrics(toy_build) -> None:
    config, result, log = toy_build
    for stage in ("prepare", "train-image", "index", "train-text", "evaluate"):
        assert f"[{stage}] done" in " ".join(log), stage
    metrics = json.loads((config.artifacts_dir / "metrics.json").read_text())
    learned = metrics["image"]["learned"]
    assert set(learned["top_k_accuracy"]) == {"1", "3", "5", "7", "9"}
    assert {"mrr", "map_at_10", "ndcg_at_10", "per_category"} <= set(learned)
    assert {"raw_pixels", "pca_64", "untrained_network"} == set(metrics["image"]["baselines"])
    assert {"fused", "mapped_vector_only", "sentence_only"} <= set(metrics["text"])
    assert np.array(metrics["classifier"]["confusion"]).sum() == metrics["held_out_queries"]
    assert metrics["latency"]["image_query_ms"]["median"] > 0


def test_a_second_build_skips_what_is_up_to_date(toy_build) -> None:
    from multimodal.pipeline import build

    config, _, _ = toy_build
    log: list[str] = []
    build(config, report=log.append)
    for stage in ("prepare", "train-image", "index", "train-text", "evaluate"):
        assert f"[{stage}] up to date" in log, log


def test_text_search_returns_scored_products_best_first(engine) -> None:
    result = engine.search_text("black sneakers for men", k=5)
    assert isinstance(result, pd.DataFrame) and len(result) == 5
    assert {"product_id", "category", "gender", "colour", "price", "title", "score", "image_score", "text_score"} <= set(result.columns)
    assert result["score"].is_monotonic_decreasing
    assert result.attrs["parsed"]["category"] == "Sneaker"
    assert set(result["gender"]) <= {"Men", "Unisex"}


def test_image_search_accepts_every_input_kind_and_predicts_a_category(engine, toy_build, tmp_path) -> None:
    item = engine.images[0]
    path = tmp_path / "item.png"
    path.write_bytes(_png(item))
    results = [engine.search_image(x, k=3) for x in (item, _png(item), Image.fromarray(item), path, str(path))]
    for result in results:
        assert len(result) == 3 and result["score"].is_monotonic_decreasing
        assert 0.0 <= result.attrs["confidence"] <= 1.0
    assert all(r["product_id"].tolist() == results[0]["product_id"].tolist() for r in results)
    assert results[0]["product_id"].iloc[0] == engine.catalog["product_id"].iloc[0], "an indexed item finds itself first"


@pytest.mark.parametrize(("gender", "allowed"), [("men", {"Men", "Unisex"}), ("women", {"Women", "Unisex"}), ("unisex", {"Unisex"})])
def test_gender_filter_is_exact_for_both_modalities(engine, gender, allowed) -> None:
    text = engine.search_text("comfortable everyday clothes", k=50, gender=gender)
    image = engine.search_image(engine.images[3], k=50, gender=gender.upper())
    assert len(text) and len(image)
    assert set(text["gender"]) <= allowed and set(image["gender"]) <= allowed


@pytest.mark.parametrize(
    "payload",
    [b"", b"not an image at all", _png(np.zeros((28, 28), np.uint8))[:50], np.full((28, 28), np.nan)],
    ids=["empty", "non-image", "truncated", "nan-array"],
)
def test_bad_images_raise_invalid_input(engine, payload) -> None:
    with pytest.raises(InvalidInputError):
        engine.search_image(payload)


def test_decompression_bomb_raises_invalid_input(engine) -> None:
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, format="PNG")
    with pytest.raises(InvalidInputError):
        engine.search_image(buffer.getvalue())


@pytest.mark.parametrize("call", ["text", "image"])
def test_unknown_gender_and_bad_k_raise_invalid_input(engine, call) -> None:
    search = (lambda **kw: engine.search_text("boots", **kw)) if call == "text" else (lambda **kw: engine.search_image(engine.images[0], **kw))
    with pytest.raises(InvalidInputError, match="gender"):
        search(gender="kids")
    with pytest.raises(InvalidInputError):
        search(k=0)


def test_invalid_input_error_is_a_value_error() -> None:
    assert issubclass(InvalidInputError, ValueError)


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_queries_raise_invalid_input(engine, query) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        engine.search_text(query)


def test_huge_and_emoji_queries_still_return_results(engine) -> None:
    assert len(engine.search_text("boots " * 2000, k=3)) == 3
    assert len(engine.search_text("👢🔥✨", k=3)) == 3


def test_an_index_built_for_another_catalog_is_refused(toy_build, tmp_path) -> None:
    import shutil

    from multimodal.pipeline import prepare

    config, _, _ = toy_build
    other = config.replace(data_dir=tmp_path / "other-data", seed=99)
    prepare(other)
    with pytest.raises(ArtifactError, match="catalog"):
        SearchEngine.load(config.artifacts_dir, other.data_dir)
    artifacts = tmp_path / "artifacts"
    shutil.copytree(config.artifacts_dir, artifacts)
    (artifacts / "image.index").unlink()
    with pytest.raises(ArtifactError, match="build"):
        SearchEngine.load(artifacts, config.data_dir)


def test_changing_only_a_fusion_weight_re_evaluates_without_retraining(toy_build) -> None:
    from multimodal.pipeline import build

    config, _, _ = toy_build
    log: list[str] = []
    build(config.replace(w_bm25=0.9), report=log.append)
    assert "[evaluate] done" in " ".join(log)
    for stage in ("train-image", "index", "train-text"):
        assert f"[{stage}] up to date" in log, log
    assert json.loads((config.artifacts_dir / "config.json").read_text())["w_bm25"] == 0.9
