"""Real processes: the API under uvicorn answers curl; the engine on Milvus Lite (a file, a server) and on
a real Milvus 2.3 standalone server, which may also freeze or vanish without a search hanging."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from multimodal import SearchEngine
from multimodal.build import add_items, build_index, run_in_generation
from multimodal.errors import ArtifactError
from multimodal.store.milvus_store import MilvusStore
from tests.milvus_server import milvus_server, milvus_server_uri  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "multimodal", *args], cwd=ROOT, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(check, process: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        if check():
            return
        time.sleep(0.5)
    pytest.fail(f"the server did not come up in {seconds} s:\n{log.read_text()[-2000:]}")


def _curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-s", "-S", "--max-time", "30", *args], capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_a_real_uvicorn_process_answers_curl(toy_build, tmp_path) -> None:
    config, _, _ = toy_build
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "api.log"
    server = _start(["api", "--host", "127.0.0.1", "--port", str(port),
                     "--artifacts-dir", str(config.artifacts_dir), "--data-dir", str(config.data_dir)], log)
    try:
        _wait_for(lambda: '"status":"ok"' in _curl(f"{base}/health").stdout, server, log)
        answer = _curl("-X", "POST", f"{base}/search/text", "-H", "content-type: application/json",
                       "-d", json.dumps({"query": "sneakers for men", "k": 3, "gender": "men"}))
        results = json.loads(answer.stdout)["results"]
        assert len(results) == 3 and all(r["gender"] in ("Men", "Unisex") for r in results)
        bad = _curl("-w", "%{http_code}", "-o", "/dev/null", "-X", "POST", f"{base}/search/text",
                    "-H", "content-type: application/json", "-d", '{"query": "boots", "gender": "kids"}')
        assert bad.stdout == "400"
    finally:
        _stop(server)
    assert server.returncode is not None


def _same_results(a: SearchEngine, b: SearchEngine) -> None:
    for gender in ("all", "women", "unisex"):
        for query in ("black ankle boots", "summer dress under 80"):
            assert a.search_text(query, k=8, gender=gender).rows["product_id"].tolist() == \
                b.search_text(query, k=8, gender=gender).rows["product_id"].tolist()
        image = a.images[11]
        assert a.search_image(image, k=8, gender=gender).rows["product_id"].tolist() == \
            b.search_image(image, k=8, gender=gender).rows["product_id"].tolist()


def _ring() -> np.ndarray:
    yy, xx = np.mgrid[0:28, 0:28]
    return ((np.abs(np.hypot(yy - 14, xx - 14) - 8) < 2) * 230).astype(np.uint8)


def _engine_on_milvus(toy_build, tmp_path, store_uri: str | None) -> None:
    """Index the toy build into Milvus; search must equal FAISS (both exact), and adding items must work."""
    config, _, _ = toy_build
    shutil.copytree(config.data_dir, tmp_path / "data")
    shutil.copytree(config.artifacts_dir, tmp_path / "artifacts")
    faiss_engine = SearchEngine.load(tmp_path / "artifacts", tmp_path / "data")
    milvus_config = config.replace(data_dir=tmp_path / "data", artifacts_dir=tmp_path / "artifacts",
                                   store="milvus", store_uri=store_uri)
    manifest = run_in_generation(milvus_config, build_index)  # commits a generation indexed in Milvus
    assert manifest["store"] == "milvus" and manifest["items"] == len(faiss_engine.catalog)
    engine = SearchEngine.load(tmp_path / "artifacts", tmp_path / "data")
    assert engine.index.kind == "milvus" and engine.index.count() == len(faiss_engine.catalog)
    _same_results(faiss_engine, engine)
    engine.index.close()

    added = add_items(milvus_config, [_ring()], metadata=[{"gender": "Women", "category": "Bag", "product_id": "RING-1"}])
    assert added.rows["product_id"].tolist() == ["RING-1"]
    engine = SearchEngine.load(tmp_path / "artifacts", tmp_path / "data")
    assert engine.index.count() == len(faiss_engine.catalog) + 1
    assert engine.search_image(_ring(), k=1, gender="women").rows["product_id"].iloc[0] == "RING-1"
    assert "RING-1" not in engine.search_image(_ring(), k=5, gender="men").rows["product_id"].tolist()
    engine.index.close()


def test_the_engine_runs_on_milvus_lite_in_a_local_folder(toy_build, tmp_path) -> None:
    _engine_on_milvus(toy_build, tmp_path, store_uri=None)
    assert (tmp_path / "artifacts" / "milvus.db").is_dir()


def test_the_engine_runs_against_a_milvus_lite_server(toy_build, tmp_path) -> None:
    port = _free_port()
    log = tmp_path / "milvus.log"
    server = _start(["milvus-server", "--data-dir", str(tmp_path / "milvus-data"), "--port", str(port)], log)
    try:
        def listening() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0
        _wait_for(listening, server, log, seconds=60)
        _engine_on_milvus(toy_build, tmp_path, store_uri=f"http://127.0.0.1:{port}")
    finally:
        _stop(server)


@pytest.mark.slow
def test_the_engine_runs_against_a_real_milvus_server(toy_build, tmp_path, request) -> None:
    _engine_on_milvus(toy_build, tmp_path, store_uri=request.getfixturevalue("milvus_server_uri"))


def _on_milvus_server(built, uri: str, collection: str):
    """The private toy build, its index moved into a collection of its own on the server."""
    config = built.replace(store="milvus", store_uri=uri, store_collection=collection)
    run_in_generation(config, build_index)
    return config


@pytest.mark.slow
def test_an_item_added_through_one_engine_is_found_through_another_after_a_refresh(built, request) -> None:
    """Two engines (as two API processes would) on one Milvus server answer alike; the second sees
    an addition through the first only once it refreshes, and never a row its catalog lacks."""
    config = _on_milvus_server(built, request.getfixturevalue("milvus_server_uri"), "two_engines")
    first, second = (SearchEngine.load(config.artifacts_dir, config.data_dir) for _ in range(2))
    _same_results(first, second)
    add_items(config, [_ring()], metadata=[{"gender": "Women", "category": "Bag", "product_id": "RING-2"}])
    before = second.search_image(_ring(), k=5).rows["product_id"].tolist()
    assert "RING-2" not in before and set(before) <= set(second.catalog["product_id"])
    assert second.refresh()
    assert second.search_image(_ring(), k=1).rows["product_id"].iloc[0] == "RING-2"
    first.refresh()
    _same_results(first, second)
    first.index.close()
    second.index.close()


MILVUS_KILLER = textwrap.dedent("""
    import json, os, signal, sys
    from pathlib import Path
    import numpy as np
    from multimodal.config import Config
    from multimodal.build import add_items

    kill_after, config, image = sys.argv[1], Config.from_dict(json.loads(sys.argv[2])), Path(sys.argv[3])

    def wrap(real):
        def call(src, dst, *args, **kwargs):
            result = real(src, dst, *args, **kwargs)
            if Path(dst).name.startswith(kill_after):
                os.kill(os.getpid(), signal.SIGKILL)  # the rows are in Milvus; the generation may not be
            return result
        return call

    os.replace, os.rename = wrap(os.replace), wrap(os.rename)
    add_items(config, [np.load(image)], metadata=[{"product_id": "SHOP-K", "gender": "Women", "category": "Bag"}])
""")


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", ["gen-", "CURRENT"])
def test_kill_9_of_add_items_on_a_real_milvus_server_then_rerun_leaves_each_product_once(
        built, tmp_path, request, kill_after) -> None:
    """Killed after the stage's rename (rows upserted, not committed) or after the switch (committed):
    no search returns a product the committed catalog lacks, and a re-run leaves each product once."""
    config = _on_milvus_server(built, request.getfixturevalue("milvus_server_uri"), f"killed_{kill_after.strip('-')}")
    image = tmp_path / "ring.npy"
    np.save(image, _ring())
    before = SearchEngine.load(config.artifacts_dir, config.data_dir, text=False)
    before_ids = before.catalog["product_id"].tolist()
    before.index.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-c", MILVUS_KILLER, kill_after, json.dumps(config.to_dict()), str(image)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    committed = kill_after == "CURRENT"
    engine = SearchEngine.load(config.artifacts_dir, config.data_dir, text=False)
    assert engine.catalog["product_id"].tolist() == before_ids + ["SHOP-K"] * committed
    found = engine.search_image(_ring(), k=10).rows["product_id"].tolist()
    assert set(found) <= set(engine.catalog["product_id"]) and (found[0] == "SHOP-K") == committed
    engine.index.close()
    again = add_items(config, [_ring()], metadata=[{"product_id": "SHOP-K", "gender": "Women", "category": "Bag"}])
    assert len(again) == (0 if committed else 1)
    engine = SearchEngine.load(config.artifacts_dir, config.data_dir, text=False)
    ids = engine.catalog["product_id"].tolist()
    assert ids == before_ids + ["SHOP-K"] and engine.index.count() == len(ids), "each product once in Milvus"
    assert engine.search_image(_ring(), k=1).rows["product_id"].iloc[0] == "SHOP-K"
    engine.index.close()


@pytest.mark.slow
def test_a_frozen_milvus_server_times_out_with_one_clear_error(request) -> None:
    server = request.getfixturevalue("milvus_server")
    vectors = np.eye(4, 8, dtype=np.float32)
    meta = [{"gender": "Women", "category": "Bag", "price": 10.0}] * 4
    store = MilvusStore.build(vectors, ["A", "B", "C", "D"], meta, uri=server.uri, collection="frozen")
    assert store.search(vectors[:1], 1)[1].tolist() == [[0]]
    store.timeout = 3
    os.kill(server.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(ArtifactError, match=f"the Milvus server at {server.uri} does not answer"):
            store.search(vectors[:1], 1)
        assert time.monotonic() - started < 30
    finally:
        os.kill(server.pid, signal.SIGCONT)
    store.timeout = 60
    assert store.search(vectors[1:2], 1)[1].tolist() == [[1]]  # and it answers again once it runs
    store.close()


def test_asking_for_another_store_than_the_build_used_says_how_to_rebuild(toy_build, capsys) -> None:
    from multimodal.cli import main

    config, _, _ = toy_build
    code = main(["search", "--text", "boots", "--store", "milvus",
                 "--artifacts-dir", str(config.artifacts_dir), "--data-dir", str(config.data_dir)])
    assert code == 2
    assert "built for the faiss store" in capsys.readouterr().err
