"""The whole pipeline at toy size, then the public API the app and scripts rely on."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from multimodal import InvalidInputError, SearchEngine, generations
from multimodal.catalog.images import preprocess_batch
from multimodal.errors import ArtifactError
from multimodal.search.results import SearchResult


@pytest.fixture(scope="module")
def engine(toy_build) -> SearchEngine:
    config, _, _ = toy_build
    return SearchEngine.load(config.artifacts_dir, config.data_dir)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _metrics(config) -> dict:
    return json.loads((generations.resolve(config.artifacts_dir) / "metrics.json").read_text())


def _same(a, b) -> bool:
    """Equal as JSON values, NaN equal to NaN (a figure can be undefined on toy data)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        try:
            return (np.isnan(a) and np.isnan(b)) or a == b
        except TypeError:
            return False
    return a == b


def test_build_runs_every_stage_and_commits_one_generation_with_metrics(toy_build) -> None:
    config, result, log = toy_build
    for stage in ("prepare", "train-image", "index", "train-text", "evaluate"):
        assert f"[{stage}] done" in " ".join(log), stage
    live = generations.current(config.artifacts_dir)
    assert live is not None and f"[commit] {live.name} is live" in log
    live.verify()
    metrics = _metrics(config)
    assert _same(metrics, result["metrics"]), "metrics.json holds exactly what the evaluation returned"
    learned = metrics["image"]["learned"]
    assert set(learned["top_k_accuracy"]) == {"1", "3", "5", "7", "9"}
    assert {"mrr", "map_at_10", "ndcg_at_10", "per_category"} <= set(learned)
    assert {"raw_pixels", "pca_64", "untrained_network"} == set(metrics["image"]["baselines"])
    assert {"fused", "mapped_vector_only", "sentence_only"} <= set(metrics["text"])


def test_evaluation_figures_match_a_brute_force_recomputation(toy_build, engine) -> None:
    """The figures in metrics.json, recomputed here without the evaluation code: numpy top-1
    over the index's vectors, and the classifier's argmax, on the held-out queries."""
    from multimodal.catalog.prepared import load_prepared

    config, _, _ = toy_build
    metrics = _metrics(config)
    rows, images = load_prepared(generations.current(config.artifacts_dir).data_dir).part("query")
    embeddings, probabilities = engine.image_encoder.encode(preprocess_batch(images))
    truth = rows["label"].to_numpy()
    nearest = np.argmax(embeddings @ engine.index.vectors().T, axis=1)
    p_at_1 = float(np.mean(engine.catalog["label"].to_numpy()[nearest] == truth))
    assert metrics["image"]["embedding_only"]["precision_at_k"]["1"] == pytest.approx(p_at_1, abs=1e-9)
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (truth, np.argmax(probabilities, axis=1)), 1)
    assert np.array_equal(np.array(metrics["classifier"]["confusion"]), confusion)
    assert metrics["classifier"]["accuracy"] == pytest.approx(np.trace(confusion) / len(truth))


def test_held_out_queries_are_never_indexed_or_trained_on(toy_build, engine) -> None:
    from multimodal.build import image_training_set
    from multimodal.catalog.prepared import load_prepared

    config, _, _ = toy_build
    prepared = load_prepared(config.data_dir)
    queries = set(prepared.catalog.loc[prepared.catalog["split"] == "query", "product_id"])
    assert queries and not queries & set(engine.index.product_ids)
    x, _ = image_training_set(prepared, config)
    _, query_images = prepared.part("query")
    trained = {row.tobytes() for row in np.round(x * 255).astype(np.uint8)}
    held_out = {row.tobytes() for row in np.round(preprocess_batch(query_images) * 255).astype(np.uint8)}
    assert len(x) > len(engine.catalog), "the extra Fashion-MNIST training images are used"
    assert not trained & held_out


def test_a_second_build_skips_what_is_up_to_date_and_commits_nothing(built) -> None:
    from multimodal.build import build

    before = generations.current(built.artifacts_dir).name
    log: list[str] = []
    build(built, report=log.append)
    for stage in ("prepare", "train-image", "index", "train-text", "evaluate"):
        assert f"[{stage}] up to date" in log, log
    assert generations.current(built.artifacts_dir).name == before


def test_text_search_returns_scored_products_best_first(engine) -> None:
    result = engine.search_text("black sneakers for men", k=5)
    assert isinstance(result, SearchResult) and isinstance(result.rows, pd.DataFrame) and len(result) == 5
    wanted = {"product_id", "category", "gender", "colour", "price", "title", "score", "image_score", "text_score"}
    assert wanted <= set(result.rows.columns)
    assert result.rows["score"].is_monotonic_decreasing
    assert result.rows["match"].is_monotonic_decreasing and result.rows["match"].between(0.0, 1.0).all()
    assert result.parsed["category"] == "Sneaker"
    assert set(result.rows["gender"]) <= {"Men", "Unisex"}


def test_image_search_accepts_every_input_kind_and_predicts_a_category(engine, toy_build, tmp_path) -> None:
    item = engine.images[0]
    path = tmp_path / "item.png"
    path.write_bytes(_png(item))
    results = [engine.search_image(x, k=3) for x in (item, _png(item), Image.fromarray(item), path, str(path))]
    for result in results:
        assert len(result) == 3 and result.rows["score"].is_monotonic_decreasing
        assert 0.0 <= result.confidence <= 1.0
    assert all(r.rows["product_id"].tolist() == results[0].rows["product_id"].tolist() for r in results)
    assert results[0].rows["product_id"].iloc[0] == engine.catalog["product_id"].iloc[0], "an indexed item finds itself first"
    # 1 when the classifier also gives the item's category the highest probability, a little less when it doubts
    assert results[0].rows["match"].iloc[0] >= 0.9, "its own image reads as a full match"
    assert results[0].rows["match"].is_monotonic_decreasing and results[0].rows["match"].between(0.0, 1.0).all()


@pytest.mark.parametrize(("gender", "allowed"), [("men", {"Men", "Unisex"}), ("women", {"Women", "Unisex"}), ("unisex", {"Unisex"})])
def test_gender_filter_is_exact_for_both_modalities(engine, gender, allowed) -> None:
    """Asked for every item, each search returns exactly the allowed ones: all of them, no other."""
    every = len(engine.catalog)
    expected = set(engine.catalog.loc[engine.catalog["gender"].isin(allowed), "product_id"])
    text = engine.search_text("comfortable everyday clothes", k=every, gender=gender)
    image = engine.search_image(engine.images[3], k=every, gender=gender.upper())
    assert set(text.rows["product_id"]) == expected and len(text) == len(expected)
    assert set(image.rows["product_id"]) == expected and len(image) == len(expected)


@pytest.mark.parametrize(("query", "low", "high", "category"),
                         [("bag under $100", 0, 100, "Bag"), ("coat over 150", 150, np.inf, "Coat"),
                          ("sneakers between 60 and 90 dollars", 60, 90, "Sneaker")])
def test_price_phrases_filter_results_through_the_engine(engine, query, low, high, category) -> None:
    parsed = engine.search_text(query, k=1).parsed
    assert (parsed["min_price"] or 0) == low and (parsed["max_price"] or np.inf) == high, parsed
    rows = engine.search_text(query, k=len(engine.catalog)).rows
    rows = rows[rows["exact_match"]]  # partial matches (other constraints unmet) follow, marked
    prices = engine.catalog["price"]
    in_range = (prices >= low) & (prices <= high)
    stated = engine.catalog["category"] == category
    assert ((rows["price"] >= low) & (rows["price"] <= high)).all()
    assert set(rows["product_id"]) == set(engine.catalog.loc[in_range & stated, "product_id"])


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
    def search(**kw):
        return engine.search_text("boots", **kw) if call == "text" else engine.search_image(engine.images[0], **kw)
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


def test_query_work_is_bounded_whatever_is_pasted() -> None:
    from multimodal.search.query import MAX_QUERY_CHARS, parse_query

    class Pasted(str):
        """A huge paste that fails the test if anything walks all of it."""

        def __iter__(self):
            raise AssertionError("the whole query was read")

    parsed = parse_query(Pasted("black boots " + "x" * 10_000_000))
    assert parsed.category == "Ankle boot" and len(parsed.text) <= MAX_QUERY_CHARS


def test_an_index_built_for_another_catalog_is_refused(toy_build, tmp_path) -> None:
    import shutil

    from multimodal.build import prepare

    config, _, _ = toy_build
    other = config.replace(data_dir=tmp_path / "other-data", seed=99)
    prepare(other)
    with pytest.raises(ArtifactError, match="catalog"):
        SearchEngine.load(config.artifacts_dir, other.data_dir)
    artifacts = tmp_path / "artifacts"
    shutil.copytree(config.artifacts_dir, artifacts)
    (generations.resolve(artifacts) / "image.index").unlink()
    with pytest.raises(ArtifactError, match="image.index is missing.*build"):
        SearchEngine.load(artifacts, config.data_dir)


def test_an_index_built_with_another_model_is_refused(toy_build, tmp_path) -> None:
    """Checksums pass (a consistent folder, no generations), but the model is not the index's."""
    import shutil

    config, _, _ = toy_build
    flat = tmp_path / "flat"
    shutil.copytree(generations.resolve(config.artifacts_dir), flat)
    shutil.copy(flat / "text_mapper.keras", flat / "image_embedding.keras")  # a loadable, other model
    with pytest.raises(ArtifactError, match="model_fingerprint"):
        SearchEngine.load(flat, flat / "data")


def test_changing_only_a_fusion_weight_re_evaluates_without_retraining(built) -> None:
    from multimodal.build import build

    log: list[str] = []
    build(built.replace(w_bm25=0.9), report=log.append)
    assert "[evaluate] done" in " ".join(log)
    for stage in ("train-image", "index", "train-text"):
        assert f"[{stage}] up to date" in log, log
    assert json.loads((generations.resolve(built.artifacts_dir) / "config.json").read_text())["w_bm25"] == 0.9
    assert SearchEngine.load(built.artifacts_dir, built.data_dir, text=False).config.w_bm25 == 0.9
