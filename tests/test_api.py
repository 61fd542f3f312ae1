"""The REST API through FastAPI's TestClient: every endpoint, every error a client can cause."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from multimodal.api.server import ApiSettings, create_app


def _png(array: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
    image = Image.fromarray(array)
    if size:
        image = image.resize(size)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def built(toy_build, tmp_path_factory):
    """A private copy of the toy build: POST /items writes to it."""
    config, _, _ = toy_build
    root = tmp_path_factory.mktemp("api")
    shutil.copytree(config.data_dir, root / "data")
    shutil.copytree(config.artifacts_dir, root / "artifacts")
    return config.replace(data_dir=root / "data", artifacts_dir=root / "artifacts")


@pytest.fixture(scope="module")
def client(built):
    with TestClient(create_app(ApiSettings(artifacts_dir=built.artifacts_dir, data_dir=built.data_dir))) as client:
        yield client


@pytest.fixture
def engine(client):
    """The engine the app serves now (POST /items swaps it for the new generation's)."""
    return client.app.state.holder.engine


def test_health_reports_the_loaded_catalog(client, engine) -> None:
    body = client.get("/health").json()
    assert body == {"status": "ok", "items": len(engine.catalog), "store": "faiss", "index_type": "flat"}


def test_text_search_returns_ranked_products_with_their_fields(client, engine) -> None:
    response = client.post("/search/text", json={"query": "ankle boots", "k": 5, "gender": "women"})
    assert response.status_code == 200
    body = response.json()
    results = body["results"]
    assert len(results) == 5 and [r["rank"] for r in results] == [1, 2, 3, 4, 5]
    assert {"product_id", "category", "gender", "colour", "price", "match", "score", "text_score"} <= set(results[0])
    assert all(0.0 <= r["match"] <= 1.0 for r in results)
    assert all(r["gender"] in ("Women", "Unisex") for r in results)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    expected = engine.search_text("ankle boots", k=5, gender="women").product_ids
    assert [r["product_id"] for r in results] == expected
    assert body["parsed"]["category"] == "Ankle boot"


def test_text_search_says_what_it_understood_relaxed_and_each_result_matches(client) -> None:
    body = client.post("/search/text", json={"query": "winter sandals not red in size 38", "k": 4}).json()
    assert [(c["kind"], c["label"]) for c in body["understood"]] == [
        ("include", "category: Sandal"), ("include", "season: Winter"), ("size", "size: 38"), ("exclude", "not colour: red")]
    assert body["relaxed_groups"] == ["season"] and body["relaxed"].startswith("No winter sandals")
    first = body["results"][0]
    assert first["exact_match"] is True and {"Sandal", "not red", "size 38"} <= set(first["matches"])
    assert all("winter" in r["misses"] for r in body["results"])  # the constraint it relaxed, named on each result
    assert {"material", "style", "occasion", "season", "brand", "sizes", "bm25_score"} <= set(first)


def test_image_search_takes_a_multipart_upload(client, engine) -> None:
    photo = _png(engine.images[3], size=(120, 120))
    response = client.post("/search/image", files={"file": ("shoe.png", photo, "image/png")}, data={"k": "4", "gender": "men"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["results"]) == 4 and all(r["gender"] in ("Men", "Unisex") for r in body["results"])
    assert body["predicted_category"] in engine.catalog["category"].unique()
    assert [r["product_id"] for r in body["results"]] == engine.search_image(photo, k=4, gender="men").product_ids


def test_a_photo_decoded_once_by_the_api_ranks_as_the_engine_ranks_its_bytes(client, engine) -> None:
    from multimodal.catalog.images import render_product_photo

    photo = render_product_photo(engine.images[5], np.random.default_rng(1), size=1400)  # a JPEG the decoder drafts
    body = client.post("/search/image", files={"file": ("photo.jpg", photo, "image/jpeg")}, data={"k": "5"}).json()
    direct = engine.search_image(photo, k=5)
    assert [r["product_id"] for r in body["results"]] == direct.product_ids
    assert [r["score"] for r in body["results"]] == pytest.approx(direct.rows["score"].tolist())
    assert body["predicted_category"] == direct.predicted_category


def test_a_truncated_image_is_a_400_not_a_500(client) -> None:
    image = _png(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    response = client.post("/search/image", files={"file": ("cut.png", image[: len(image) // 2], "image/png")})
    assert response.status_code == 400 and "damaged or truncated" in response.json()["detail"]


def test_answers_are_compact_json(client) -> None:
    response = client.post("/search/text", json={"query": "red dress", "k": 3})
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.content)["results"] and b'", "' not in response.content


def test_similar_items_leave_the_product_itself_out(client, engine) -> None:
    product = engine.catalog["product_id"].iloc[7]
    body = client.get(f"/items/{product}/similar", params={"k": 6, "gender": "unisex"}).json()
    ids = [r["product_id"] for r in body["results"]]
    assert len(ids) == 6 and product not in ids
    assert all(r["gender"] == "Unisex" for r in body["results"])


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "detail"),
    [
        ("post", "/search/text", {"json": {"query": "", "k": 5}}, 422, "at least 1 character"),
        ("post", "/search/text", {"json": {"query": "boots", "k": 0}}, 422, "greater than or equal to 1"),
        ("post", "/search/text", {"json": {"query": "boots", "k": 1000}}, 422, "less than or equal to 100"),
        ("post", "/search/text", {"json": {"query": "boots", "gender": "kids"}}, 400, "unknown gender"),
        ("post", "/search/text", {"json": {"query": "   "}}, 400, "empty"),
        ("post", "/search/text", {"content": b"not json", "headers": {"content-type": "application/json"}}, 422, "JSON"),
        ("post", "/search/image", {"data": {"k": "3"}}, 422, "file"),
        ("post", "/search/image", {"files": {"file": ("x.png", b"not an image", "image/png")}}, 400, "not an image"),
        ("post", "/search/image", {"files": {"file": ("x.png", b"", "image/png")}}, 400, "empty"),
        ("post", "/search/image", {"files": {"file": ("x.png", _png(np.zeros((28, 28), np.uint8)), "image/png")},
                                   "data": {"gender": "kids"}}, 400, "unknown gender"),
        ("post", "/search/image", {"files": {"file": ("x.png", _png(np.zeros((28, 28), np.uint8)), "image/png")},
                                   "data": {"k": "0"}}, 422, "greater than or equal to 1"),
        ("get", "/items/NO-SUCH-ID/similar", {}, 404, "no product"),
        ("get", "/items/FM-000000/similar", {"params": {"k": 0}}, 400, "k must be between"),
        ("get", "/items/FM-000000/similar", {"params": {"k": "many"}}, 422, "integer"),
        ("post", "/items", {"data": {"metadata": "[]"}}, 422, "files"),
    ],
    ids=["empty-query", "k-zero", "k-huge", "bad-gender", "blank-query", "bad-json", "no-file", "corrupt-image",
         "empty-file", "image-bad-gender", "image-k-zero", "unknown-product", "similar-k-zero", "similar-k-text", "items-no-files"],
)
def test_client_errors_are_4xx_with_a_json_detail(client, method, path, kwargs, status, detail) -> None:
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    assert detail in json.dumps(response.json()["detail"])


def test_uploads_over_the_byte_or_pixel_cap_are_refused_with_413(client) -> None:
    settings = client.app.state.settings
    small = _png(np.zeros((28, 28), np.uint8))
    wide = _png(np.zeros((28, 28), np.uint8), size=(300, 300))
    old = settings.max_upload_bytes, settings.max_image_pixels
    try:
        settings.max_upload_bytes = len(small) - 1
        response = client.post("/search/image", files={"file": ("big.png", small, "image/png")})
        assert response.status_code == 413 and "larger than" in response.json()["detail"]
        settings.max_upload_bytes, settings.max_image_pixels = old[0], 200 * 200
        response = client.post("/search/image", files={"file": ("wide.png", wide, "image/png")})
        assert response.status_code == 413 and "300x300" in response.json()["detail"]
    finally:
        settings.max_upload_bytes, settings.max_image_pixels = old


def test_adding_items_makes_them_searchable_at_once(client, built) -> None:
    yy, xx = np.mgrid[0:28, 0:28]
    ring = ((np.abs(np.hypot(yy - 14, xx - 14) - 8) < 2) * 230).astype(np.uint8)
    before = client.get("/health").json()["items"]
    meta = json.dumps([{"category": "Bag", "gender": "Women", "colour": "red", "price": 42, "product_id": "API-1"}])
    response = client.post("/items", files=[("files", ("ring.png", _png(ring), "image/png"))], data={"metadata": meta})
    assert response.status_code == 201, response.text
    added = response.json()["added"][0]
    assert (added["product_id"], added["category"], added["gender"], added["price"]) == ("API-1", "Bag", "Women", 42.0)
    assert client.get("/health").json()["items"] == before + 1
    # The toy encoder ranks one catalog dress above the ring's own image (also in the engine itself): top 3, not 1.
    found = client.post("/search/image", files={"file": ("ring.png", _png(ring), "image/png")}, data={"k": "3"}).json()
    assert "API-1" in [r["product_id"] for r in found["results"]]
    assert client.get("/items/API-1/similar", params={"k": 3}).status_code == 200


@pytest.mark.parametrize(
    ("metadata", "detail"),
    [
        ("{not json", "not valid JSON"),
        ('[{"colour": "red"}, {"colour": "blue"}]', "list of 1 objects"),
        ('[{"category": "Hat"}]', "unknown category"),
        ('[{"product_id": "FM-000000"}]', "already in the catalog"),
    ],
    ids=["bad-json", "wrong-count", "bad-category", "taken-id"],
)
def test_bad_new_items_are_refused_and_nothing_is_added(client, metadata, detail) -> None:
    before = client.get("/health").json()["items"]
    image = _png(np.full((28, 28), 128, np.uint8))
    response = client.post("/items", files=[("files", ("a.png", image, "image/png"))], data={"metadata": metadata})
    assert response.status_code == 400 and detail in response.json()["detail"]
    assert client.get("/health").json()["items"] == before


def test_metrics_count_requests_and_errors_per_route(client) -> None:
    client.post("/search/text", json={"query": "red dress", "k": 2})
    client.post("/search/text", json={"query": "red dress", "gender": "kids"})
    body = client.get("/metrics").json()
    text = body["routes"]["/search/text"]
    assert text["requests"] >= 2 and text["errors"] >= 1 and text["p95_ms"] >= text["p50_ms"] > 0
    assert body["items"] > 0 and body["uptime_s"] >= 0


def test_openapi_docs_list_every_endpoint(client) -> None:
    assert client.get("/docs").status_code == 200
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/health", "/search/text", "/search/image", "/items/{product_id}/similar", "/items", "/metrics"} <= paths


def test_without_a_build_the_api_answers_503_with_what_to_run(tmp_path) -> None:
    with TestClient(create_app(ApiSettings(artifacts_dir=tmp_path / "none", data_dir=tmp_path / "data"))) as client:
        health = client.get("/health")
        assert health.status_code == 503 and "multimodal build" in health.json()["detail"]
        response = client.post("/search/text", json={"query": "boots"})
        assert response.status_code == 503 and "multimodal build" in response.json()["detail"]
        assert client.get("/metrics").json()["items"] is None


def test_facets_are_listed_with_counts_and_narrow_every_search(client) -> None:
    facets = client.get("/facets").json()
    assert {"category", "colour", "material"} <= set(facets) and "gender" not in facets
    assert sum(facets["category"].values()) == client.get("/health").json()["items"]
    body = {"query": "boots", "k": 8, "facets": {"material": ["leather"], "colour": ["black", "brown"]}}
    results = client.post("/search/text", json=body).json()["results"]
    assert results and {r["material"] for r in results} == {"leather"} and {r["colour"] for r in results} <= {"black", "brown"}
    first = results[0]["product_id"]
    similar = client.get(f"/items/{first}/similar", params={"k": 4, "facets": '{"category": "Bag"}'}).json()["results"]
    assert {r["category"] for r in similar} == {"Bag"}
    bad = client.get(f"/items/{first}/similar", params={"facets": "[1, 2]"})
    assert bad.status_code == 400 and "JSON object" in bad.json()["detail"]


def test_an_item_added_through_one_api_process_is_served_by_another_after_its_refresh(toy_build, tmp_path) -> None:
    import time

    config, _, _ = toy_build
    shutil.copytree(config.data_dir, tmp_path / "data")
    shutil.copytree(config.artifacts_dir, tmp_path / "artifacts")
    dirs = {"artifacts_dir": tmp_path / "artifacts", "data_dir": tmp_path / "data"}
    yy, xx = np.mgrid[0:28, 0:28]
    ring = _png(((np.abs(np.hypot(yy - 14, xx - 14) - 6) < 2) * 240).astype(np.uint8))
    with TestClient(create_app(ApiSettings(**dirs, refresh_s=0))) as writer, \
            TestClient(create_app(ApiSettings(**dirs, refresh_s=0.2))) as reader:
        before, encoder = reader.get("/health").json()["items"], reader.app.state.holder.engine.image_encoder
        meta = json.dumps([{"category": "Bag", "gender": "Women", "product_id": "OTHER-1"}])
        assert writer.post("/items", files=[("files", ("ring.png", ring, "image/png"))], data={"metadata": meta}).status_code == 201
        deadline = time.monotonic() + 30
        while reader.get("/health").json()["items"] == before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert reader.get("/health").json()["items"] == before + 1, "the reader picked up the writer's generation"
        found = reader.post("/search/image", files={"file": ("ring.png", ring, "image/png")}, data={"k": "3"}).json()
        assert "OTHER-1" in [r["product_id"] for r in found["results"]]
        assert reader.app.state.holder.engine.image_encoder is encoder, "unchanged models are kept, not loaded again"


def test_an_api_started_before_any_build_serves_the_first_build_committed(toy_build, tmp_path) -> None:
    import os
    import time

    config, _, _ = toy_build
    shutil.copytree(config.data_dir, tmp_path / "data")
    settings = ApiSettings(artifacts_dir=tmp_path / "artifacts", data_dir=tmp_path / "data", refresh_s=0.2)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 503
        shutil.copytree(config.artifacts_dir, tmp_path / "staging")
        os.rename(tmp_path / "staging", tmp_path / "artifacts")  # the build appears whole, as a commit makes it
        deadline = time.monotonic() + 30
        while client.get("/health").status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get("/health").json()["status"] == "ok"
        assert client.post("/search/text", json={"query": "black boots", "k": 3}).status_code == 200
