"""Atomic writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from multimodal.errors import ArtifactError

REPAIR = "run `python -m multimodal build` to rebuild what is damaged"


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only if the block succeeds.

    The temporary file lives in the same directory so ``os.replace`` is atomic.
    ``suffix`` matters for writers that pick a format from the extension (Keras).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(target: str | os.PathLike[str], obj: Any) -> None:
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default)
    write_bytes_atomic(target, (text + "\n").encode("utf-8"))


def save_npy_atomic(target: str | os.PathLike[str], array: np.ndarray) -> None:
    with atomic_path(target, suffix=".npy") as tmp:
        np.save(tmp, array, allow_pickle=False)


def write_with(target: str | os.PathLike[str], writer: Callable[[Path], None], suffix: str = "") -> None:
    """Run ``writer(tmp_path)`` and move the result onto ``target`` atomically."""
    with atomic_path(target, suffix=suffix) as tmp:
        writer(tmp)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON artifact; a damaged one is an ``ArtifactError`` naming the file, not a traceback."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"{path} is damaged ({type(exc).__name__}: {exc}); {REPAIR}") from exc


def load_npy(path: str | os.PathLike[str], mmap_mode: str | None = None) -> np.ndarray:
    """Read an .npy artifact (no pickles); a truncated or garbled one is an ``ArtifactError`` naming the file.
    ``mmap_mode="r"`` maps it read-only instead of reading it (for a file whose checksum was verified)."""
    try:
        return np.load(path, allow_pickle=False, mmap_mode=mmap_mode)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise ArtifactError(f"{path} is damaged ({type(exc).__name__}: {exc}); {REPAIR}") from exc


KERAS_KEPT = 8  # models kept loaded, by the checksum of their file (a few MB each)
_keras_models: OrderedDict[str, Any] = OrderedDict()
_keras_lock = threading.Lock()


def load_keras(path: str | os.PathLike[str]) -> Any:
    """Load a saved Keras model; a damaged file is an ``ArtifactError`` naming it (Keras itself
    may say "File not found" for a file that exists but is not a valid archive).

    The same bytes loaded again in this process give the model already loaded (about 0.8 s
    each: a build's stages, an engine refreshed or loaded anew). Loaded models are only ever
    run, never trained or changed, so sharing one is safe."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"missing {path}; run `python -m multimodal build`")
    digest = file_sha256(path)
    with _keras_lock:
        if digest in _keras_models:
            _keras_models.move_to_end(digest)
            return _keras_models[digest]
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
        raise ArtifactError(f"{path} is damaged: Keras cannot load it ({type(exc).__name__}); {REPAIR}") from exc
    with _keras_lock:
        _keras_models[digest] = model
        while len(_keras_models) > KERAS_KEPT:
            _keras_models.popitem(last=False)
    return model


def remove_stray_temp_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that writes killed mid-way left in ``directory`` (``.NAME.XXXX.tmp*``)."""
    removed = []
    for path in Path(directory).glob(".*.tmp*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
