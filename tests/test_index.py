from __future__ import annotations

import numpy as np
import pytest

from multimodal.errors import ArtifactError, InvalidInputError
from multimodal.metrics import top_k_by_inner_product, unit_rows
from multimodal.store.faiss_index import VectorIndex


def _vectors(n: int = 200, d: int = 16, seed: int = 0) -> np.ndarray:
    return unit_rows(np.random.default_rng(seed).normal(size=(n, d)))


def _ids(n: int) -> list[str]:
    return [f"P{i}" for i in range(n)]


def test_flat_search_matches_brute_force_top_k() -> None:
    vectors, queries = _vectors(), _vectors(5, seed=1)
    index = VectorIndex.build(vectors, _ids(200))
    scores, rows = index.search(queries, 10)
    np.testing.assert_array_equal(rows, top_k_by_inner_product(queries, vectors, 10))
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ vectors.T, rows, axis=1), atol=1e-5)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_find_most_true_neighbours(kind: str) -> None:
    vectors, queries = _vectors(2000, 16), _vectors(20, 16, seed=1)
    index = VectorIndex.build(vectors, _ids(2000), kind=kind)
    _, rows = index.search(queries, 10)
    truth = top_k_by_inner_product(queries, vectors, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, truth)])
    assert recall > 0.6, recall


def test_filtered_search_returns_only_allowed_rows() -> None:
    vectors = _vectors()
    allowed = np.zeros(200, bool)
    allowed[::7] = True
    index = VectorIndex.build(vectors, _ids(200))
    _, rows = index.search(vectors[:3], 10, allowed=allowed)
    assert allowed[rows[rows >= 0]].all()
    expected = np.flatnonzero(allowed)[top_k_by_inner_product(vectors[:3], vectors[allowed], 10)]
    np.testing.assert_array_equal(rows, expected)


def test_a_filter_allowing_nothing_returns_no_rows() -> None:
    index = VectorIndex.build(_vectors(), _ids(200))
    _, rows = index.search(_vectors(1), 5, allowed=np.zeros(200, bool))
    assert (rows == -1).all()


def test_added_items_become_findable_without_rebuilding() -> None:
    index = VectorIndex.build(_vectors(), _ids(200))
    new = _vectors(3, seed=9)
    index.add(new, ["NEW-1", "NEW-2", "NEW-3"])
    _, rows = index.search(new, 1)
    assert [index.product_ids[r] for r in rows[:, 0]] == ["NEW-1", "NEW-2", "NEW-3"]
    assert index.manifest["items"] == 203
    with pytest.raises(InvalidInputError, match="already"):
        index.add(new[:1], ["NEW-1"])


def test_save_load_round_trip_and_manifest_mismatch_is_refused(tmp_path) -> None:
    vectors = _vectors()
    index = VectorIndex.build(vectors, _ids(200), model_fingerprint="abc", catalog_sha256="cat1")
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, expect={"model_fingerprint": "abc", "catalog_sha256": "cat1"})
    np.testing.assert_array_equal(loaded.search(vectors[:2], 5)[1], index.search(vectors[:2], 5)[1])
    with pytest.raises(ArtifactError, match="model_fingerprint"):
        VectorIndex.load(tmp_path, expect={"model_fingerprint": "other"})
    with pytest.raises(ArtifactError, match="catalog_sha256"):
        VectorIndex.load(tmp_path, expect={"catalog_sha256": "cat2"})


def test_query_of_the_wrong_dimension_is_an_artifact_mismatch() -> None:
    index = VectorIndex.build(_vectors(), _ids(200))
    with pytest.raises(ArtifactError, match="dimension"):
        index.search(np.ones((1, 8), np.float32), 3)


def test_nan_vectors_and_duplicate_ids_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="NaN"):
        VectorIndex.build(np.full((2, 4), np.nan), ["a", "b"])
    with pytest.raises(InvalidInputError, match="unique"):
        VectorIndex.build(_vectors(2, 4), ["a", "a"])


def test_loading_an_empty_folder_says_to_build(tmp_path) -> None:
    with pytest.raises(ArtifactError, match="multimodal build"):
        VectorIndex.load(tmp_path)
