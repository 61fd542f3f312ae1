"""Who may change the catalog and who may search: keys, read-only servers and the loopback rule."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from multimodal import generations
from multimodal.api.gate import access, presented_key
from multimodal.api.server import ApiSettings, InsecureServerError, create_app, serve
from multimodal.api.settings import is_loopback

WRITE_KEY = "wk-3f9c1e7a5b2d48e6a0c4f1b9d7e2a6c8"
READ_KEY = "rk-8d2b6f0a4c9e13b7d5a1f3e9c2b8a0d6"


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (28, 28), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _new_item(seed: int, product_id: str) -> dict:
    meta = json.dumps([{"category": "Bag", "gender": "Women", "product_id": product_id}])
    return {"files": [("files", ("new.png", _png(seed), "image/png"))], "data": {"metadata": meta}}


@pytest.fixture(scope="module")
def copy(toy_build, tmp_path_factory):
    """A private copy of the toy build: the accepted write below commits a generation to it."""
    config, _, _ = toy_build
    root = tmp_path_factory.mktemp("api-keys")
    shutil.copytree(config.data_dir, root / "data")
    shutil.copytree(config.artifacts_dir, root / "artifacts")
    return config.replace(data_dir=root / "data", artifacts_dir=root / "artifacts")


@pytest.fixture
def restore_env():
    """``serve`` hands settings to uvicorn workers through the environment: put it back afterwards."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _state(client: TestClient, artifacts_dir) -> tuple[int, str]:
    return client.get("/health").json()["items"], generations.current(artifacts_dir).name


def test_writes_need_the_key_and_a_refused_write_changes_nothing(copy, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    settings = ApiSettings(artifacts_dir=copy.artifacts_dir, data_dir=copy.data_dir, api_key=WRITE_KEY)
    seen: list[str] = []
    with TestClient(create_app(settings)) as client:
        before = _state(client, copy.artifacts_dir)

        missing = client.post("/items", **_new_item(1, "KEY-1"))
        assert missing.status_code == 401 and "Bearer" in missing.headers["www-authenticate"]
        assert "key" in missing.json()["detail"]
        wrong = client.post("/items", headers={"X-API-Key": WRITE_KEY[:-1] + "x"}, **_new_item(1, "KEY-1"))
        assert wrong.status_code == 403 and "not accepted" in wrong.json()["detail"]
        basic = client.post("/items", headers={"Authorization": f"Basic {WRITE_KEY}"}, **_new_item(1, "KEY-1"))
        assert basic.status_code == 401
        assert _state(client, copy.artifacts_dir) == before  # same item count, no new generation

        assert client.post("/search/text", json={"query": "red bag"}).status_code == 200  # reads stay open
        right = client.post("/items", headers={"Authorization": f"Bearer {WRITE_KEY}"}, **_new_item(1, "KEY-1"))
        assert right.status_code == 201, right.text
        assert _state(client, copy.artifacts_dir)[0] == before[0] + 1
        seen += [r.text + json.dumps(dict(r.headers)) for r in (missing, wrong, basic, right)]
        seen.append(client.get("/metrics").text)
    seen += [record.getMessage() for record in caplog.records]
    seen.append(repr(settings))
    assert not [text for text in seen if WRITE_KEY in text]


def test_the_read_key_guards_searches_but_not_health_and_cannot_write(copy) -> None:
    settings = ApiSettings(artifacts_dir=copy.artifacts_dir, data_dir=copy.data_dir, api_key=WRITE_KEY, read_key=READ_KEY)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/docs").status_code == 200
        assert client.post("/search/text", json={"query": "boots"}).status_code == 401
        assert client.post("/search/text", json={"query": "boots"}, headers={"X-API-Key": "guess"}).status_code == 403
        for key in (READ_KEY, WRITE_KEY):
            assert client.post("/search/text", json={"query": "boots"}, headers={"X-API-Key": key}).status_code == 200
        product = client.app.state.holder.engine.catalog["product_id"].iloc[0]
        assert client.get(f"/items/{product}/similar").status_code == 401
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {READ_KEY}"}).status_code == 200
        before = _state(client, copy.artifacts_dir)
        assert client.post("/items", headers={"X-API-Key": READ_KEY}, **_new_item(2, "KEY-2")).status_code == 403
        assert _state(client, copy.artifacts_dir) == before
        assert "securitySchemes" in json.dumps(client.get("/openapi.json").json())


def test_keys_can_come_from_files_and_the_environment(copy, tmp_path, monkeypatch) -> None:
    key_file = tmp_path / "write.key"
    key_file.write_text(WRITE_KEY + "\n")
    monkeypatch.setenv("MULTIMODAL_API_KEY_FILE", str(key_file))
    monkeypatch.setenv("MULTIMODAL_API_READ_KEY", READ_KEY)
    settings = ApiSettings.from_env()
    assert (settings.write_key(), settings.read_key_value()) == (WRITE_KEY, READ_KEY)
    settings.artifacts_dir, settings.data_dir = tmp_path / "no-build", None
    with TestClient(create_app(settings)) as client:  # no engine: the gate answers first all the same
        assert client.post("/items", **_new_item(3, "KEY-3")).status_code == 401
        assert client.post("/items", headers={"X-API-Key": READ_KEY}, **_new_item(3, "KEY-3")).status_code == 403
    (tmp_path / "empty.key").write_text("\n")
    with pytest.raises(InsecureServerError, match="empty") as empty:
        create_app(ApiSettings(api_key_file=tmp_path / "empty.key"))
    with pytest.raises(InsecureServerError, match="cannot read") as missing:
        create_app(ApiSettings(read_key_file=tmp_path / "missing.key"))
    assert WRITE_KEY not in str(empty.value) + str(missing.value)


def test_a_read_only_server_refuses_writes_without_asking_for_a_key(copy) -> None:
    settings = ApiSettings(artifacts_dir=copy.artifacts_dir, data_dir=copy.data_dir, writes=False, host="0.0.0.0")
    with TestClient(create_app(settings)) as client:
        before = _state(client, copy.artifacts_dir)
        response = client.post("/items", **_new_item(4, "KEY-4"))
        assert response.status_code == 403 and "read-only" in response.json()["detail"]
        assert _state(client, copy.artifacts_dir) == before
        assert client.post("/search/text", json={"query": "boots"}).status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "shop.example.com"])
def test_writes_without_a_key_are_refused_off_loopback_before_anything_listens(host, monkeypatch, restore_env) -> None:
    import uvicorn

    for name in ("MULTIMODAL_API_KEY", "MULTIMODAL_API_KEY_FILE", "MULTIMODAL_API_READ_ONLY"):
        monkeypatch.delenv(name, raising=False)
    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append(kw["host"]))
    with pytest.raises(InsecureServerError, match="MULTIMODAL_API_KEY"):
        serve(host, 8000)
    with pytest.raises(InsecureServerError, match="read-only"):
        create_app(ApiSettings(host=host))
    assert started == []
    serve(host, 8000, writes=False)  # read-only: nothing to protect
    os.environ["MULTIMODAL_API_READ_ONLY"] = "0"
    os.environ["MULTIMODAL_API_KEY"] = WRITE_KEY
    serve(host, 8000)  # with a key
    assert started == [host, host]


def test_the_command_line_says_why_it_will_not_start(monkeypatch, restore_env, capsys) -> None:
    import uvicorn

    from multimodal import cli

    for name in ("MULTIMODAL_API_KEY", "MULTIMODAL_API_KEY_FILE", "MULTIMODAL_API_READ_ONLY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: pytest.fail("the server started"))
    assert cli.main(["api", "--host", "0.0.0.0", "--port", "8001"]) == 2
    assert "MULTIMODAL_API_KEY" in capsys.readouterr().err


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True), ("LOCALHOST", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.com", False), ("", False)])
def test_loopback_means_only_this_machine(host, loopback) -> None:
    assert is_loopback(host) is loopback


def test_the_gate_reads_both_header_forms_and_knows_which_routes_write() -> None:
    assert presented_key([(b"authorization", b"Bearer abc")]) == b"abc"
    assert presented_key([(b"authorization", b"bearer  abc ")]) == b"abc"
    assert presented_key([(b"x-api-key", b"abc")]) == b"abc"
    assert presented_key([(b"authorization", b"Basic abc")]) is None
    assert presented_key([]) is None
    assert access("POST", "/items") == "write" and access("DELETE", "/items/FM-1") == "write"
    assert access("POST", "/search/text") == "read" and access("GET", "/items/FM-1/similar") == "read"
    assert access("GET", "/health") == "open" and access("GET", "/metrics") == "read"
