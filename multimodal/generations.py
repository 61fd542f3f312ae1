"""Generations: the engine's whole state changes in one atomic step, or not at all.

Everything a search engine serves (catalog, images, models, index, ids, text vectors,
config, metrics and their manifests) lives in one folder per generation under the artifacts
folder, and one small file says which generation is live, the way LevelDB's ``CURRENT``
names its ``MANIFEST``::

    artifacts/
      CURRENT            "gen-000007"  (replaced atomically: the commit point)
      LOCK               writers hold an flock on it, so only one writes at a time
      gen-000006/        the previous generation, kept until the next commit
      gen-000007/
        MANIFEST.json    sha256 and size of every other file of the generation
        data/            catalog.csv, images.npy, manifest.json (the catalog served)
        image.index, index_ids.json, item_text_vectors.npy, *.keras, config.json, metrics.json, ...

A writer (``build``, ``add-items``, a single stage) opens a :class:`Transaction`: a hidden
staging folder seeded with hard links to the live generation's files. Writers only ever
replace files (``multimodal.io`` writes a temporary file and renames it), never modify
one in place, so the links keep the live generation intact. ``commit`` records every
file's checksum in ``MANIFEST.json``, renames the staging folder to ``gen-N`` and then
replaces ``CURRENT``. A process killed anywhere before that last rename leaves the old
generation live and a stray folder that the next writer removes; killed after it, the new
generation is live and whole.

A reader resolves ``CURRENT`` once, checks every file against ``MANIFEST.json`` and loads
that one folder. A damaged file is an :class:`ArtifactError` that names it and the command
that repairs it (``python -m multimodal build`` rebuilds only what is damaged).

A folder without ``CURRENT`` is read as it is (the layout before generations, and the
staging folder itself while a build writes it); ``build`` or ``add-items`` turns it into the
first generation without retraining anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multimodal.errors import ArtifactError
from multimodal.io import REPAIR as _REPAIR
from multimodal.io import file_sha256, write_bytes_atomic

log = logging.getLogger(__name__)

CURRENT_FILE = "CURRENT"
LOCK_FILE = "LOCK"
MANIFEST_FILE = "MANIFEST.json"
DATA_DIR = "data"
# The prepared dataset inside a generation's data folder (written by ``catalog.prepared``).
DATA_CATALOG_FILE = "catalog.csv"
DATA_IMAGES_FILE = "images.npy"
DATA_MANIFEST_FILE = "manifest.json"
_GEN = re.compile(r"^gen-(\d{6,})$")
_STAGING_PREFIX = ".staging-"


def generation_name(number: int) -> str:
    return f"gen-{number:06d}"


@dataclass(frozen=True)
class Generation:
    """One committed generation: its folder and its manifest (checksums of every file)."""

    path: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def number(self) -> int:
        return int(self.manifest.get("generation", _number(self.path.name) or 0))

    @property
    def data_dir(self) -> Path:
        return self.path / DATA_DIR

    def verify(self, names: Any = None) -> None:
        """Check size and sha256 of every file the manifest lists (or only ``names``).

        Raises:
            ArtifactError: a file is missing or differs from the manifest; the message names it.
        """
        for name, entry in self.manifest["files"].items():
            if names is not None and name not in names:
                continue
            problem = _file_problem(self.path / name, entry)
            if problem:
                raise ArtifactError(
                    f"{self.path / name} {problem} (it differs from {self.name}/{MANIFEST_FILE}): "
                    f"the file was damaged or changed after it was written; {_REPAIR}"
                )

    def damaged(self) -> list[str]:
        """The names of the files that differ from the manifest (empty when the generation is intact)."""
        return [name for name, entry in self.manifest["files"].items() if _file_problem(self.path / name, entry)]


def _file_problem(path: Path, entry: dict[str, Any]) -> str | None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "is missing"
    if size != entry["bytes"]:
        return f"has {size:,} bytes instead of {entry['bytes']:,}"
    if file_sha256(path) != entry["sha256"]:
        return "has a different sha256 checksum"
    return None


def _number(name: str) -> int | None:
    match = _GEN.match(name)
    return int(match.group(1)) if match else None


def has_generations(root: str | os.PathLike[str]) -> bool:
    return (Path(root) / CURRENT_FILE).is_file()


def current(root: str | os.PathLike[str]) -> Generation | None:
    """The live generation named by ``root/CURRENT``, or None when ``root`` has no generations.

    Raises:
        ArtifactError: ``CURRENT`` or the manifest it points to is unreadable or names nothing.
    """
    root = Path(root)
    pointer = root / CURRENT_FILE
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"cannot read {pointer} ({exc}); {_REPAIR}") from exc
    if _number(name) is None:
        raise ArtifactError(f"{pointer} names no generation ({name[:40]!r}); {_REPAIR}")
    return open_generation(root / name)


def open_generation(path: str | os.PathLike[str]) -> Generation:
    """Read a generation's manifest (not yet its files: see ``Generation.verify``)."""
    path = Path(path)
    manifest_path = path / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
        if not isinstance(files, dict) or not all({"sha256", "bytes"} <= set(e) for e in files.values()):
            raise ValueError("'files' is not a table of sha256 and bytes")
    except FileNotFoundError as exc:
        raise ArtifactError(f"generation {path} has no {MANIFEST_FILE}; {_REPAIR}") from exc
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArtifactError(f"{manifest_path} is damaged ({type(exc).__name__}: {exc}); {_REPAIR}") from exc
    return Generation(path, manifest)


def resolve(root: str | os.PathLike[str]) -> Path:
    """The folder whose files are live: the current generation's, or ``root`` itself without generations."""
    generation = current(root)
    return generation.path if generation is not None else Path(root)


def committed(root: str | os.PathLike[str]) -> list[Generation]:
    """Every generation folder with a readable manifest, newest first."""
    found = []
    for path in Path(root).glob("gen-*"):
        if path.is_dir() and _number(path.name) is not None:
            with contextlib.suppress(ArtifactError):
                found.append(open_generation(path))
    return sorted(found, key=lambda g: _number(g.name) or 0, reverse=True)


# ---------------------------------------------------------------- writing


@dataclass
class Transaction:
    """A staging folder that becomes the next generation on ``commit`` (see the module docstring)."""

    root: Path
    path: Path
    base: Generation | None
    seeded_from: str
    dropped: list[str] = field(default_factory=list)
    committed: Generation | None = None

    @property
    def data_dir(self) -> Path:
        return self.path / DATA_DIR

    def commit(self, note: str = "") -> Generation:
        """Checksum every file, rename the staging folder to ``gen-N``, then switch ``CURRENT`` to it."""
        files = {}
        for path in sorted(p for p in self.path.rglob("*") if p.is_file()):
            name = path.relative_to(self.path).as_posix()
            if path.name.startswith("."):
                path.unlink()  # a temporary file of a write that failed inside the stage
            elif name != MANIFEST_FILE:
                files[name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
        number = max([_number(p.name) or 0 for p in self.root.glob("gen-*")] + [self.base.number if self.base else 0]) + 1
        manifest = {
            "generation": number, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "parent": self.base.name if self.base else None, "note": note, "files": files,
        }
        write_bytes_atomic(self.path / MANIFEST_FILE, (json.dumps(manifest, indent=1) + "\n").encode())
        _fsync_tree(self.path)
        target = self.root / generation_name(number)
        os.rename(self.path, target)
        _fsync_dir(self.root)
        write_bytes_atomic(self.root / CURRENT_FILE, (target.name + "\n").encode())  # the commit point
        _fsync_dir(self.root)
        self.path = target
        self.committed = Generation(target, manifest)
        log.info("committed %s (%s)", target.name, note or "no note")
        return self.committed


@contextlib.contextmanager
def transaction(root: str | os.PathLike[str], legacy_data_dir: str | os.PathLike[str] | None = None) -> Iterator[Transaction]:
    """Stage the next generation under ``root``; the caller writes into ``txn.path`` and calls ``commit``.

    Only one writer at a time (an flock on ``root/LOCK``). Before staging, what killed writers
    left behind (staging folders, temporary files, generations older than the previous one)
    is removed. The stage starts as a copy (hard links) of the live generation's intact
    files; damaged ones are left out so that ``build`` recreates them. Without generations
    it starts from the files of the old flat layout (``root`` and ``legacy_data_dir``).
    If the block raises or does not commit, the staging folder is removed and nothing changes.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        cleanup(root)
        staging = root / f"{_STAGING_PREFIX}{os.getpid()}-{time.time_ns()}"
        staging.mkdir()
        try:
            txn = _seed(root, staging, legacy_data_dir)
            yield txn
        finally:
            if staging.exists():  # not committed (a commit renames it)
                shutil.rmtree(staging, ignore_errors=True)
        if txn.committed is not None:
            cleanup(root)


def _seed(root: Path, staging: Path, legacy_data_dir: str | os.PathLike[str] | None) -> Transaction:
    try:
        base = current(root)
    except ArtifactError as exc:
        log.warning("%s; starting from the newest intact generation", exc)
        base = next((g for g in committed(root) if not g.damaged()), None)
    if base is not None:
        damaged = set(base.damaged())
        if any(name.startswith(f"{DATA_DIR}/") for name in damaged):
            # The catalog's three files only make sense together; build re-creates them from `prepare`.
            damaged |= {name for name in base.manifest["files"] if name.startswith(f"{DATA_DIR}/")}
        for name in base.manifest["files"]:
            if name not in damaged:
                _link(base.path / name, staging / name)
        if damaged:
            log.warning("%s: left out damaged files %s; `build` recreates them", base.name, ", ".join(sorted(damaged)))
        return Transaction(root, staging, base, base.name, sorted(damaged))
    # No generation yet: start from the flat layout written before generations existed.
    for path in root.iterdir():
        if path.is_file() and not path.name.startswith(".") and path.name not in (CURRENT_FILE, LOCK_FILE):
            _link(path, staging / path.name)
    if legacy_data_dir is not None and Path(legacy_data_dir).is_dir():
        for name in (DATA_CATALOG_FILE, DATA_IMAGES_FILE, DATA_MANIFEST_FILE):
            if (Path(legacy_data_dir) / name).is_file():
                _link(Path(legacy_data_dir) / name, staging / DATA_DIR / name)
    return Transaction(root, staging, None, "flat layout")


def _link(source: Path, target: Path) -> None:
    """A hard link (free, and safe because committed files are never modified), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def cleanup(root: str | os.PathLike[str]) -> list[str]:
    """Remove what killed writers left: staging folders, temporary files, generations neither
    current nor the one before it. Call only while holding the lock (``transaction`` does)."""
    root = Path(root)
    removed = []
    try:
        live = current(root)
    except ArtifactError:
        live = None
    keep: set[str] = set()
    if live is not None:
        keep.add(live.name)
        older = sorted((n for n in (_number(p.name) for p in root.glob("gen-*")) if n is not None and n < live.number), reverse=True)
        if older:
            keep.add(generation_name(older[0]))
    elif has_generations(root):
        return removed  # CURRENT is unreadable: delete nothing that could still be needed
    flat = set(live.manifest["files"]) if live is not None else set()  # copies of the layout before generations
    for path in root.iterdir():
        stray = path.name.startswith(_STAGING_PREFIX) or (path.name.startswith(".") and ".tmp" in path.name)
        old = _number(path.name) is not None and path.name not in keep and live is not None
        stray = stray or (path.is_file() and path.name in flat and path.name != MANIFEST_FILE)
        if stray or old:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path.name)
    if removed:
        log.info("removed %s", ", ".join(sorted(removed)))
    return removed


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    with open(root / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another build or add-items is writing %s; waiting for it", root)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_tree(path: Path) -> None:
    """Flush the stage's files before the rename that publishes them (a crash of the machine,
    not only of the process, must not publish a generation of empty files)."""
    for file in path.rglob("*"):
        if file.is_file():
            fd = os.open(file, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for folder in [path, *[p for p in path.rglob("*") if p.is_dir()]]:
        _fsync_dir(folder)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
