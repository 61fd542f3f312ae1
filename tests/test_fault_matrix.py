"""The fault matrix on a real (toy) build: damaged artifacts, a crash at every write step of
add-items and build, real ``kill -9``s, and readers loading while items are added.

What must hold after each fault: the engine loads and serves one consistent generation (the
old one or the new one, whole), re-running the command completes the work, nothing is added
twice, and no temporary file or staging folder is left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from multimodal import SearchEngine, generations
from multimodal.build import add_items, build
from multimodal.errors import ArtifactError

from .faults import Crash, count_write_steps

ROOT = Path(__file__).resolve().parents[1]


def _item(seed: int) -> np.ndarray:
    yy, xx = np.mgrid[0:28, 0:28]
    square = ((np.abs(yy - 14) < 4 + seed % 5) & (np.abs(xx - 14) < 9 - seed % 4)).astype(np.float32) * 220
    return np.clip(square + np.random.default_rng(seed).normal(0, 6, square.shape), 0, 255).astype(np.uint8)


def _served(config) -> tuple[str, list[str]]:
    """The live generation and its product ids, after a full load (checksums included)."""
    engine = SearchEngine.load(config.artifacts_dir, config.data_dir, text=False)
    return engine.generation, engine.catalog["product_id"].tolist()


def _leftovers(config) -> list[str]:
    return sorted(p.name for p in config.artifacts_dir.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------- damaged artifacts


def _live_files(toy_build) -> list[str]:
    config, _, _ = toy_build
    return sorted(generations.current(config.artifacts_dir).manifest["files"])


def test_every_file_of_a_generation_is_checksummed(toy_build) -> None:
    names = set(_live_files(toy_build))
    expected = {"image.index", "index_ids.json", "index_manifest.json", "item_text_vectors.npy", "config.json",
                "image_embedding.keras", "image_classifier_head.keras", "text_mapper.keras", "metrics.json",
                "data/catalog.csv", "data/images.npy", "data/manifest.json", "build_state.json"}
    assert expected <= names, expected - names


FILES = ["image.index", "index_ids.json", "index_manifest.json", "item_text_vectors.npy", "config.json",
         "image_embedding.keras", "image_classifier_head.keras", "image_config.json", "text_mapper.keras",
         "metrics.json", "build_state.json", "data/catalog.csv", "data/images.npy", "data/manifest.json"]


@pytest.mark.parametrize("name", FILES)
def test_random_bytes_in_any_artifact_are_refused_naming_the_file(built, name) -> None:
    path = generations.resolve(built.artifacts_dir) / name
    data = bytearray(path.read_bytes())
    middle, size = len(data) // 2, min(4096, max(1, len(data) // 4))
    data[middle : middle + size] = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))  # same size: only the content tells
    with pytest.raises(ArtifactError, match=rf"{name.split('/')[-1]}.*`python -m multimodal build`"):
        SearchEngine.load(built.artifacts_dir, built.data_dir)


DAMAGE = {
    "index_manifest.json": b'{"items": 3,',
    "index_ids.json": b"[1, 2",
    "config.json": b"\x00\x01 not json",
    "item_text_vectors.npy": None,  # truncated
    "image.index": None,
    "image_embedding.keras": b"PK\x03\x04 garbage that is no zip archive",
    "text_mapper.keras": b"garbage",
    "data/manifest.json": b"{]",
}


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_every_loader_turns_a_damaged_file_into_an_artifact_error(toy_build, tmp_path, name) -> None:
    """Without checksums (a folder without generations), each reader still refuses, naming the file."""
    config, _, _ = toy_build
    flat = tmp_path / "flat"
    shutil.copytree(generations.resolve(config.artifacts_dir), flat)
    path = flat / name
    path.write_bytes(DAMAGE[name] if DAMAGE[name] is not None else path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(ArtifactError, match=rf"{name.split('/')[-1]}.*damaged") as info:
        SearchEngine.load(flat, flat / "data")
    assert "File not found" not in str(info.value)


def test_build_repairs_damaged_files_and_keeps_added_items(built, stub_evaluation) -> None:
    added = add_items(built, [_item(1)])
    live = generations.resolve(built.artifacts_dir)
    for name in ("image.index", "metrics.json"):
        (live / name).write_bytes(b"damaged")
    with pytest.raises(ArtifactError, match="image.index"):
        SearchEngine.load(built.artifacts_dir, built.data_dir)
    log: list[str] = []
    build(built, report=log.append)
    assert any(line.startswith("[repair]") and "image.index" in line for line in log), log
    assert "[index] done" in " ".join(log) and "[train-image] up to date" in log
    _, ids = _served(built)
    assert added.rows["product_id"].iloc[0] in ids and len(ids) == len(set(ids))


def test_a_flat_layout_of_an_older_build_becomes_a_generation_without_retraining(toy_build, tmp_path) -> None:
    config, _, _ = toy_build
    live = generations.current(config.artifacts_dir)
    old = config.replace(artifacts_dir=tmp_path / "artifacts", data_dir=tmp_path / "data")
    shutil.copytree(live.path, old.artifacts_dir, ignore=shutil.ignore_patterns("data", "MANIFEST.json"))
    shutil.copytree(live.data_dir, old.data_dir)
    SearchEngine.load(old.artifacts_dir, old.data_dir, text=False)  # still readable as it is
    log: list[str] = []
    build(old, report=log.append)
    for stage in ("prepare", "train-image", "index", "train-text", "evaluate"):
        assert f"[{stage}] up to date" in log, log
    assert generations.current(old.artifacts_dir) is not None and "[commit] gen-000001 is live" in log


# ---------------------------------------------------------------- a crash at every write step


def _restore(built, pristine) -> None:
    """Put the build back as it was before the crash under test."""
    shutil.rmtree(built.artifacts_dir)
    shutil.copytree(pristine / "artifacts", built.artifacts_dir)


def test_a_crash_at_every_write_step_of_add_items_leaves_one_generation_and_a_rerun_completes(
    built, monkeypatch, tmp_path
) -> None:
    pristine = tmp_path / "pristine"
    shutil.copytree(built.artifacts_dir, pristine / "artifacts")
    before_gen, before_ids = _served(built)
    with monkeypatch.context() as patch:
        steps = count_write_steps(patch, None)
        add_items(built, [_item(2)], metadata=[{"product_id": "SHOP-2"}])
    assert steps[-1] == "CURRENT" and len(steps) >= 8, steps
    for crash_at in range(1, len(steps) + 1):
        _restore(built, pristine)
        with monkeypatch.context() as patch:
            count_write_steps(patch, crash_at)
            with pytest.raises(Crash):
                add_items(built, [_item(2)], metadata=[{"product_id": "SHOP-2"}])
        generation, ids = _served(built)
        assert (generation, ids) == (before_gen, before_ids), f"crash at {steps[crash_at - 1]}: the old state is served"
        again = add_items(built, [_item(2)], metadata=[{"product_id": "SHOP-2"}])
        assert len(again) == 1
        _, ids = _served(built)
        assert ids == before_ids + ["SHOP-2"], f"crash at {steps[crash_at - 1]}"
        assert _leftovers(built) == [], f"crash at {steps[crash_at - 1]}"


def test_a_crash_at_every_write_step_of_build_leaves_one_generation_and_a_rerun_completes(
    built, stub_evaluation, monkeypatch, tmp_path
) -> None:
    """A build that re-indexes (another index type) and re-evaluates (a stub that writes
    metrics.json the same way: the write steps, not the figures, are tested here)."""
    pristine = tmp_path / "pristine"
    shutil.copytree(built.artifacts_dir, pristine / "artifacts")
    before_gen, before_ids = _served(built)
    hnsw = built.replace(index_type="hnsw")
    with monkeypatch.context() as patch:
        steps = count_write_steps(patch, None)
        build(hnsw, report=lambda _: None)
    assert steps[-1] == "CURRENT" and "image.index" in steps, steps
    for crash_at in range(1, len(steps) + 1):
        _restore(built, pristine)
        with monkeypatch.context() as patch:
            count_write_steps(patch, crash_at)
            with pytest.raises(Crash):
                build(hnsw, report=lambda _: None)
        assert _served(built) == (before_gen, before_ids), f"crash at {steps[crash_at - 1]}"
        log: list[str] = []
        build(hnsw, report=log.append)
        engine = SearchEngine.load(built.artifacts_dir, built.data_dir, text=False)
        assert engine.index.manifest["index_type"] == "hnsw" and engine.catalog["product_id"].tolist() == before_ids
        assert _leftovers(built) == [], f"crash at {steps[crash_at - 1]}"


# ---------------------------------------------------------------- real kill -9


KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import numpy as np
    from multimodal.config import Config
    from multimodal.build import add_items

    kill_after, artifacts, data, image = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])

    def wrap(real):
        def call(src, dst, *args, **kwargs):
            result = real(src, dst, *args, **kwargs)
            if Path(dst).name.startswith(kill_after):
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: the process just dies
            return result
        return call

    os.replace, os.rename = wrap(os.replace), wrap(os.rename)
    add_items(Config(artifacts_dir=artifacts, data_dir=data), [np.load(image)], metadata=[{"product_id": "SHOP-K"}])
""")


@pytest.mark.parametrize("kill_after", ["images.npy", "MANIFEST.json", "gen-", "CURRENT"])
def test_kill_9_during_add_items_then_rerun_completes_without_duplicates(built, tmp_path, kill_after) -> None:
    """A real SIGKILL right after a write step: after the staged catalog, after the manifest,
    after the rename of the stage, after the switch of CURRENT (committed, not yet cleaned)."""
    image = tmp_path / "item.npy"
    np.save(image, _item(3))
    before_gen, before_ids = _served(built)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-c", KILLER, kill_after, str(built.artifacts_dir), str(built.data_dir), str(image)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    if kill_after != "CURRENT":
        assert any(p.name.startswith((".staging-", "gen-")) for p in built.artifacts_dir.iterdir() if p.name != before_gen)
    generation, ids = _served(built)
    committed = kill_after == "CURRENT"
    assert ids == before_ids + ["SHOP-K"] * committed and (generation != before_gen) == committed
    again = add_items(built, [_item(3)], metadata=[{"product_id": "SHOP-K"}])
    assert len(again) == (0 if committed else 1) and bool(again.skipped) == committed
    _, ids = _served(built)
    assert ids == before_ids + ["SHOP-K"] and _leftovers(built) == []
    assert sorted(p.name for p in built.artifacts_dir.glob("gen-*")) == sorted({before_gen, _served(built)[0]})


BUILD_KILLER = textwrap.dedent("""
    import json, os, signal, sys
    from pathlib import Path
    import multimodal.evaluation.evaluate
    from multimodal.config import Config
    from multimodal.io import write_json_atomic
    from multimodal.build import build

    kill_after, config = sys.argv[1], Config.from_dict(json.loads(sys.argv[2]))

    def stub(config):  # the evaluation's figures are not what is tested; its write is
        write_json_atomic(config.artifacts_dir / "metrics.json", {"stub": True})
        return {"stub": True}

    def wrap(real):
        def call(src, dst, *args, **kwargs):
            result = real(src, dst, *args, **kwargs)
            if Path(dst).name.startswith(kill_after):
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return call

    multimodal.evaluation.evaluate.run_evaluation = stub
    os.replace, os.rename = wrap(os.replace), wrap(os.rename)
    build(config, report=lambda line: None)
""")


@pytest.mark.parametrize("kill_after", ["index_ids.json", "gen-"])
def test_kill_9_during_build_then_rebuild_completes(built, stub_evaluation, kill_after) -> None:
    import json

    before = _served(built)
    hnsw = built.replace(index_type="hnsw")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-c", BUILD_KILLER, kill_after, json.dumps(hnsw.to_dict())],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    assert _served(built) == before, "the old generation is served, whole"
    uncommitted = [p.name for p in built.artifacts_dir.glob("gen-*") if p.name != before[0]]
    assert _leftovers(built) or uncommitted, "the killed build left its stage (removed by the next writer)"
    build(hnsw, report=lambda line: None)
    engine = SearchEngine.load(built.artifacts_dir, built.data_dir, text=False)
    assert engine.index.manifest["index_type"] == "hnsw" and engine.catalog["product_id"].tolist() == before[1]
    assert _leftovers(built) == [] and len(list(built.artifacts_dir.glob("gen-*"))) == 2


# ---------------------------------------------------------------- readers during a write


def test_loading_while_items_are_added_never_fails(built) -> None:
    errors: list[BaseException] = []
    sizes: list[int] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                engine = SearchEngine.load(built.artifacts_dir, built.data_dir, text=False)
                assert len(engine.index) == len(engine.catalog) == len(engine.images)
                sizes.append(len(engine.catalog))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    start = len(SearchEngine.load(built.artifacts_dir, built.data_dir, text=False).catalog)
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for seed in range(20, 24):
            add_items(built, [_item(seed)])
    finally:
        done.set()
        thread.join(timeout=300)
    assert not errors, repr(errors[0])
    assert sizes and set(sizes) <= set(range(start, start + 5))
