"""Both vector stores pass the same tests: exact filters inside the search, adding, removing, manifests.

Milvus runs twice: Milvus Lite in a folder, and (slow tier) a real Milvus 2.3 standalone server.
"""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest

from multimodal.config import CATEGORIES, GENDERS, Config
from multimodal.errors import ArtifactError, InvalidInputError
from multimodal.metrics import top_k_by_inner_product, unit_rows
from multimodal.store import SearchFilter, VectorStore, build_store, milvus_store, open_store
from multimodal.store.milvus_store import MilvusStore, filter_expression
from tests.milvus_server import milvus_server, milvus_server_uri  # noqa: F401 - fixtures

N, DIM = 300, 16


def _vectors(n: int = N, seed: int = 0) -> np.ndarray:
    return unit_rows(np.random.default_rng(seed).normal(size=(n, DIM))).astype(np.float32)


def _catalog(n: int = N, seed: int = 0, prefix: str = "P") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "product_id": [f"{prefix}{i}" for i in range(n)],
        "gender": rng.choice(GENDERS, size=n, p=[0.45, 0.45, 0.10]),
        "category": rng.choice(CATEGORIES, size=n),
        "price": np.round(rng.uniform(10, 300, size=n), 2),
    })


_OPENED: list[VectorStore] = []


@pytest.fixture(params=["faiss", "milvus", pytest.param("milvus-server", marks=pytest.mark.slow)])
def config(request, tmp_path):
    if request.param == "milvus-server":
        uri = request.getfixturevalue("milvus_server_uri")
        yield Config(artifacts_dir=tmp_path / "artifacts", store="milvus", store_uri=uri)
    else:
        yield Config(artifacts_dir=tmp_path / "artifacts", store=request.param)
    while _OPENED:  # close Milvus clients: an idle open channel keeps pinging its server
        store = _OPENED.pop()
        if hasattr(store, "close"):
            store.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """``_build``'s store for tests that only search it: one per store and index type in the module,
    in a collection of its own (creating, filling and flushing one on a Milvus server takes ~5 s)."""
    stores: dict[tuple, tuple[VectorStore, np.ndarray, pd.DataFrame]] = {}

    def get(config: Config, kind: str = "flat") -> tuple[VectorStore, np.ndarray, pd.DataFrame]:
        key = (config.store, config.store_uri, kind)
        if key not in stores:
            vectors, catalog = _vectors(), _catalog()
            own = config.replace(index_type=kind, artifacts_dir=tmp_path_factory.mktemp("shared"), store_collection=f"shared_{kind}")
            stores[key] = build_store(own, vectors, catalog["product_id"].tolist(), catalog), vectors, catalog
        return stores[key]

    yield get
    for store, _, _ in stores.values():
        if hasattr(store, "close"):
            store.close()


def _build(config: Config, kind: str = "flat", **manifest) -> tuple[VectorStore, np.ndarray, pd.DataFrame]:
    vectors, catalog = _vectors(), _catalog()
    store = build_store(config.replace(index_type=kind), vectors, catalog["product_id"].tolist(), catalog, **manifest)
    _OPENED.append(store)
    return store, vectors, catalog


def test_unfiltered_search_matches_brute_force(config, shared) -> None:
    store, vectors, _ = shared(config)
    queries = _vectors(4, seed=1)
    scores, rows = store.search(queries, 10)
    np.testing.assert_array_equal(rows, top_k_by_inner_product(queries, vectors, 10))
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ vectors.T, rows, axis=1), atol=1e-5)
    assert store.count() == len(store) == N


@pytest.mark.parametrize(
    "where",
    [
        SearchFilter(genders=frozenset({"Men", "Unisex"})),
        SearchFilter(genders=frozenset({"Unisex"})),
        SearchFilter(genders=frozenset({"Women", "Unisex"}), categories=frozenset({"Dress", "Bag"})),
        SearchFilter(min_price=50, max_price=80.5),
    ],
    ids=["men", "unisex-only", "women-dress-or-bag", "price-range"],
)
def test_filters_are_exact_and_fill_k_inside_the_search(config, shared, where) -> None:
    store, vectors, catalog = shared(config)
    allowed = where.mask(catalog["gender"].to_numpy(), catalog["category"].to_numpy(), catalog["price"].to_numpy())
    k = min(10, int(allowed.sum()))
    queries = _vectors(3, seed=2)
    _, rows = store.search(queries, k, where=where)
    expected = np.flatnonzero(allowed)[top_k_by_inner_product(queries, vectors[allowed], k)]
    np.testing.assert_array_equal(rows, expected)  # exactly the best allowed items, k of them


@pytest.mark.parametrize("keep", [0.05, 0.95], ids=["few-rows", "all-but-few"])
def test_a_row_mask_combines_with_the_filter_inside_the_search(config, shared, keep) -> None:
    store, vectors, catalog = shared(config)
    mask = np.random.default_rng(5).random(N) < keep
    where = SearchFilter(genders=frozenset({"Women", "Unisex"}))
    allowed = mask & where.mask(catalog["gender"].to_numpy(), catalog["category"].to_numpy(), catalog["price"].to_numpy())
    k = min(5, int(allowed.sum()))
    queries = _vectors(2, seed=6)
    _, rows = store.search(queries, k, where=where, allowed=mask)
    expected = np.flatnonzero(allowed)[top_k_by_inner_product(queries, vectors[allowed], k)]
    np.testing.assert_array_equal(rows[:, :k], expected)


def test_a_filter_nothing_passes_returns_no_rows(config, shared) -> None:
    store, _, _ = shared(config)
    _, rows = store.search(_vectors(1, seed=3), 5, where=SearchFilter(min_price=1e6))
    assert (rows == -1).all()


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_keep_filters_exact(config, shared, kind) -> None:
    store, _, catalog = shared(config, kind=kind)
    where = SearchFilter(genders=frozenset({"Unisex"}))
    _, rows = store.search(_vectors(5, seed=4), 10, where=where)
    found = rows[rows >= 0]
    assert len(found) > 0 and set(catalog["gender"].to_numpy()[found]) == {"Unisex"}


def test_added_items_are_found_and_filtered(config) -> None:
    store, _, _ = _build(config)
    new = _vectors(3, seed=9)
    meta = pd.DataFrame({"gender": ["Women", "Men", "Unisex"], "category": ["Dress", "Coat", "Bag"], "price": [40.0, 99.0, 20.0]})
    store.add(new, ["NEW-1", "NEW-2", "NEW-3"], meta)
    assert store.count() == len(store) == N + 3
    _, rows = store.search(new, 1)
    assert [store.product_ids[r] for r in rows[:, 0]] == ["NEW-1", "NEW-2", "NEW-3"]
    _, rows = store.search(new[1:2], 1, where=SearchFilter(genders=frozenset({"Women"})))
    assert store.product_ids[rows[0, 0]] != "NEW-2"
    with pytest.raises(InvalidInputError, match="already"):
        store.add(new[:1], ["NEW-1"], meta[:1])
    with pytest.raises(InvalidInputError, match="catalog's rules"):
        store.add(new[:1], ["NEW-9"], [{"gender": 'Kids" or 1==1', "category": "Dress", "price": 5}])
    with pytest.raises(InvalidInputError, match="catalog's rules"):
        store.add(new[:1], ["NEW-9"], [{"gender": "Kids", "category": "Dress", "price": "cheap"}])


def test_removed_items_are_gone_and_rows_stay_aligned(config) -> None:
    store, vectors, _ = _build(config)
    assert store.remove(["P0", "P1", "missing"]) == 2
    assert store.count() == len(store) == N - 2 and store.product_ids[0] == "P2"
    _, rows = store.search(vectors[5:6], 1)
    assert store.product_ids[rows[0, 0]] == "P5"


def test_save_open_round_trip_checks_the_manifest(config) -> None:
    store, vectors, catalog = _build(config, model_fingerprint="abc", catalog_sha256="cat1")
    store.save(config.artifacts_dir)
    opened = open_store(config.artifacts_dir, catalog, expect={"model_fingerprint": "abc", "catalog_sha256": "cat1"})
    _OPENED.append(opened)
    assert opened.kind == config.store and len(opened) == N
    np.testing.assert_array_equal(opened.search(vectors[:2], 5)[1], store.search(vectors[:2], 5)[1])
    with pytest.raises(ArtifactError, match="model_fingerprint"):
        open_store(config.artifacts_dir, catalog, expect={"model_fingerprint": "other"})
    with pytest.raises(ArtifactError, match="catalog_sha256"):
        open_store(config.artifacts_dir, catalog, expect={"catalog_sha256": "cat2"})
    other = "faiss" if config.store == "milvus" else "milvus"
    with pytest.raises(ArtifactError, match=f"not {other}"):
        open_store(config.artifacts_dir, catalog, store=other)


def test_query_of_the_wrong_dimension_is_an_artifact_mismatch(config, shared) -> None:
    store, _, _ = shared(config)
    with pytest.raises(ArtifactError, match="dimension"):
        store.search(np.ones((1, 8), np.float32), 3)


def test_filters_refuse_values_that_are_no_catalog_spelling() -> None:
    with pytest.raises(InvalidInputError, match="unknown gender"):
        SearchFilter(genders=frozenset({'Men" or 1==1 or "'}))
    with pytest.raises(InvalidInputError, match="unknown categor"):
        SearchFilter(categories=frozenset({"Hat\\"}))
    assert SearchFilter(categories=frozenset({"Casual Shoes", "Men's T-shirts"})).categories  # any catalog's values
    with pytest.raises(InvalidInputError, match="finite"):
        SearchFilter(max_price=float("nan"))


def test_milvus_expressions_are_built_from_checked_values_only() -> None:
    where = SearchFilter(genders=frozenset({"Women", "Unisex"}), categories=frozenset({"Ankle boot"}), min_price=10, max_price=99.5)
    assert filter_expression(where) == (
        'gender in ["Unisex", "Women"] and category in ["Ankle boot"] and price >= 10.0 and price <= 99.5'
    )
    assert filter_expression(None) == filter_expression(SearchFilter()) == ""


def test_big_requests_are_split_into_calls_milvus_accepts(config, monkeypatch) -> None:
    """Many queries, a large k, many rows: every call within the limits, the answer as one call's."""
    if config.store == "faiss":
        pytest.skip("Milvus' per-call limits")
    store, vectors, _ = _build(config)
    monkeypatch.setattr(milvus_store, "MAX_HITS", 64)  # as if the 300 items were 300k: forces many calls
    monkeypatch.setattr(milvus_store, "MAX_PAGE", 16)
    calls: list[tuple[int, int]] = []
    search = store._client.search

    def counted(*args, **kwargs):
        calls.append((len(kwargs["data"]), kwargs["limit"]))
        return search(*args, **kwargs)

    monkeypatch.setattr(store._client, "search", counted)
    queries = _vectors(40, seed=7)
    scores, rows = store.search(queries, 20)
    np.testing.assert_array_equal(rows, top_k_by_inner_product(queries, vectors, 20))
    assert len(calls) == 14 and all(nq * k <= 64 for nq, k in calls)  # 3 queries of top 20 per call
    store.save(config.artifacts_dir)
    opened = MilvusStore.load(config.artifacts_dir, uri=store.uri)  # ids read back 16 keys at a time
    _OPENED.append(opened)
    assert opened.product_ids == store.product_ids
    store.remove([f"P{i}" for i in range(16, 48)])  # two whole empty windows: a gap, not the end
    np.testing.assert_array_equal(store.vectors(), np.delete(vectors, np.s_[16:48], axis=0))


def test_a_milvus_server_that_is_gone_is_one_clear_error(tmp_path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ArtifactError, match=f"the Milvus server at http://127.0.0.1:{port} does not answer"):
        MilvusStore.connect(f"http://127.0.0.1:{port}", timeout=2)
