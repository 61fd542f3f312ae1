"""Generations on their own (no models): atomic commits, checksums, cleanup, readers during writes."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from multimodal import generations
from multimodal.errors import ArtifactError
from multimodal.io import atomic_path, load_npy, read_json, write_bytes_atomic, write_json_atomic

from .faults import Crash, count_write_steps


def _commit(root: Path, files: dict[str, bytes], note: str = "") -> generations.Generation:
    with generations.transaction(root) as txn:
        for name, data in files.items():
            write_bytes_atomic(txn.path / name, data)
        return txn.commit(note)


def _state(root: Path) -> dict[str, bytes]:
    """What a reader sees: the files of the live generation, checked against its manifest."""
    live = generations.current(root)
    live.verify()
    return {name: (live.path / name).read_bytes() for name in live.manifest["files"]}


def _strays(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


def test_a_commit_switches_every_file_at_once_and_keeps_the_previous_generation(tmp_path) -> None:
    first = _commit(tmp_path, {"a.txt": b"1", "data/b.txt": b"1"})
    second = _commit(tmp_path, {"a.txt": b"2"})
    assert _state(tmp_path) == {"a.txt": b"2", "data/b.txt": b"1"}, "unchanged files carry over"
    assert (tmp_path / "CURRENT").read_text().strip() == second.name
    assert first.path.is_dir(), "the previous generation stays until the next commit"
    third = _commit(tmp_path, {"a.txt": b"3"})
    assert not first.path.exists() and second.path.is_dir() and third.path.is_dir()
    assert (first.path.parent / "CURRENT").read_text().strip() == third.name


def test_files_of_a_committed_generation_are_never_modified_by_the_next(tmp_path) -> None:
    first = _commit(tmp_path, {"a.txt": b"one", "b.txt": b"bee"})
    _commit(tmp_path, {"a.txt": b"two"})
    first.verify()  # hard links are shared, but every write replaces a file instead of changing it
    assert (first.path / "a.txt").read_bytes() == b"one"


def test_an_uncommitted_transaction_changes_nothing(tmp_path) -> None:
    _commit(tmp_path, {"a.txt": b"1"})
    with pytest.raises(Crash), generations.transaction(tmp_path) as txn:
        write_bytes_atomic(txn.path / "a.txt", b"2")
        raise Crash
    with generations.transaction(tmp_path) as txn:
        write_bytes_atomic(txn.path / "a.txt", b"3")  # no commit: dropped
    assert _state(tmp_path) == {"a.txt": b"1"} and _strays(tmp_path) == []


def test_a_crash_at_any_write_step_leaves_one_whole_generation(tmp_path, monkeypatch) -> None:
    old = {"a.txt": b"old", "data/b.txt": b"old"}
    new = {"a.txt": b"new", "data/b.txt": b"new"}
    with monkeypatch.context() as patch:
        steps = count_write_steps(patch, None)
        _commit(tmp_path / "dry", old)
        steps.clear()
        _commit(tmp_path / "dry", new)
    assert steps[-2:] == [generations.generation_name(2), "CURRENT"], steps
    for crash_at in range(1, len(steps) + 1):
        root = tmp_path / f"crash-{crash_at}"
        _commit(root, old)
        with monkeypatch.context() as patch:
            count_write_steps(patch, crash_at)
            with pytest.raises(Crash):
                _commit(root, new)
        assert _state(root) == old, f"crash before {steps[crash_at - 1]}: the old generation stays live"
        _commit(root, new)  # the re-run completes the work
        assert _state(root) == new and _strays(root) == []
        assert sorted(p.name for p in root.glob("gen-*")) == ["gen-000001", "gen-000002"]


def test_what_killed_writers_left_is_removed_by_the_next_writer(tmp_path) -> None:
    _commit(tmp_path, {"a.txt": b"1"})
    (tmp_path / ".staging-123-456").mkdir()
    (tmp_path / ".staging-123-456" / "big.npy").write_bytes(b"x" * 1000)
    (tmp_path / ".CURRENT.abc.tmp").write_text("gen-000009")
    (tmp_path / "gen-000005").mkdir()  # renamed but never made CURRENT
    _commit(tmp_path, {"a.txt": b"2"})
    assert _strays(tmp_path) == [] and not (tmp_path / "gen-000005").exists()
    assert _state(tmp_path) == {"a.txt": b"2"}


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_a_damaged_file_is_refused_by_name_and_left_out_of_the_next_stage(tmp_path, damage) -> None:
    live = _commit(tmp_path, {"index.bin": bytes(range(256)) * 64, "ok.txt": b"fine"})
    path = live.path / "index.bin"
    if damage == "flip":
        data = bytearray(path.read_bytes())
        data[5000:5100] = os.urandom(100)
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    else:
        path.unlink()
    with pytest.raises(ArtifactError, match=r"index\.bin.*multimodal build"):
        generations.current(tmp_path).verify()
    with generations.transaction(tmp_path) as txn:
        assert txn.dropped == ["index.bin"] and not (txn.path / "index.bin").exists()
        assert (txn.path / "ok.txt").read_bytes() == b"fine"


@pytest.mark.parametrize("pointer", [b"\xff\xfe garbage", b"gen-999999\n", b""])
def test_a_damaged_current_pointer_is_a_clear_error(tmp_path, pointer) -> None:
    _commit(tmp_path, {"a.txt": b"1"})
    (tmp_path / "CURRENT").write_bytes(pointer)
    with pytest.raises(ArtifactError, match="CURRENT|generation"):
        generations.current(tmp_path)


def test_a_damaged_manifest_is_a_clear_error(tmp_path) -> None:
    live = _commit(tmp_path, {"a.txt": b"1"})
    (live.path / "MANIFEST.json").write_text("{ not json")
    with pytest.raises(ArtifactError, match="MANIFEST.json"):
        generations.current(tmp_path)


def test_readers_during_commits_always_see_one_whole_generation(tmp_path) -> None:
    """Each generation's two files carry the same number; a reader must never see two numbers."""
    _commit(tmp_path, {"a.txt": b"0", "data/b.txt": b"0"})
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        seen = 0
        while not stop.is_set() or seen < 5:
            for attempt in range(5):  # SearchEngine.load retries the same way when a generation is replaced
                try:
                    state = _state(tmp_path)
                    break
                except (ArtifactError, FileNotFoundError):
                    if attempt == 4:
                        raise
            assert state["a.txt"] == state["data/b.txt"], state
            seen += 1

    def guarded() -> None:
        try:
            read()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    readers = [threading.Thread(target=guarded) for _ in range(3)]
    for thread in readers:
        thread.start()
    for i in range(1, 40):
        _commit(tmp_path, {"a.txt": str(i).encode(), "data/b.txt": str(i).encode()})
    stop.set()
    for thread in readers:
        thread.join(timeout=60)
    assert not errors, errors[0]


def test_atomic_path_keeps_the_old_file_when_the_write_fails(tmp_path) -> None:
    target = tmp_path / "x.json"
    write_json_atomic(target, {"v": 1})
    with pytest.raises(Crash), atomic_path(target) as tmp:
        tmp.write_text('{"v": 2, "half')
        raise Crash
    assert read_json(target) == {"v": 1} and [p.name for p in tmp_path.iterdir()] == ["x.json"]


@pytest.mark.parametrize(("name", "content"), [("x.json", b'{"a": 1,'), ("x.json", b"\xff\xfe\x00"),
                                              ("x.npy", b"\x93NUMPY\x01\x00v\x00{'descr'")])
def test_damaged_json_and_npy_are_artifact_errors_naming_the_file(tmp_path, name, content) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    reader = read_json if name.endswith(".json") else load_npy
    with pytest.raises(ArtifactError, match=rf"{name}.*damaged.*multimodal build"):
        reader(path)
