"""Fashion-MNIST: find the IDX files, read them safely, draw a balanced subset and split it."""

from __future__ import annotations

import gzip
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multimodal.config import CATEGORIES, Config
from multimodal.errors import CorruptDataError, DataNotFoundError, InvalidInputError

log = logging.getLogger(__name__)

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_HOW_TO_FIX = (
    "Install it with `apt-get install -y dataset-fashion-mnist` (Debian/Ubuntu, as root), "
    "or set FASHION_MNIST_DIR to a folder holding the four IDX .gz files, "
    "or allow Keras to download it once (internet access needed)."
)


@dataclass(frozen=True)
class FashionMNIST:
    """The four arrays plus where they came from (shown in summaries and the app)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str


def read_idx(path: str | os.PathLike[str], expect_ndim: int) -> np.ndarray:
    """Read one IDX file (gzipped or not), checking its magic number and that its size is exact."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:  # gzip raises these for truncated/corrupt archives
        raise CorruptDataError(f"{path}: cannot be read as {'gzip' if opener is gzip.open else 'IDX'} ({exc})") from exc
    magic_expected = _IMAGES_MAGIC if expect_ndim == 3 else _LABELS_MAGIC
    header_len = 4 + 4 * expect_ndim
    if len(raw) < header_len:
        raise CorruptDataError(f"{path}: only {len(raw)} bytes, too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic != magic_expected:
        raise CorruptDataError(
            f"{path}: magic number {magic:#010x}, expected {magic_expected:#010x} "
            f"(an IDX file of uint8 with {expect_ndim} dimension(s))"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(expect_ndim))
    expected = int(np.prod(dims))
    body = len(raw) - header_len
    if body != expected:
        raise CorruptDataError(f"{path}: header declares shape {dims} ({expected} bytes) but holds {body} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims).copy()


def candidate_dirs(config: Config | None = None) -> list[Path]:
    """Folders searched, in order: configured/env folder, Debian's package, the Keras cache."""
    dirs: list[Path] = []
    configured = config.fashion_mnist_dir if config is not None else None
    env_dir = os.environ.get("FASHION_MNIST_DIR")
    if configured is not None:
        dirs.append(Path(configured))
    elif env_dir:
        dirs.append(Path(env_dir))
    dirs.append(DEBIAN_DIR)
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    dirs.append(keras_home / "datasets" / "fashion-mnist")
    return dirs


def load_from_dir(directory: str | os.PathLike[str]) -> FashionMNIST:
    directory = Path(directory)
    arrays = {}
    for key, name in FILES.items():
        arrays[key] = read_idx(directory / name, expect_ndim=3 if key.endswith("images") else 1)
    _check_shapes(arrays, str(directory))
    return FashionMNIST(**arrays, source=str(directory))


def load_fashion_mnist(config: Config | None = None, allow_download: bool = True) -> FashionMNIST:
    """Load Fashion-MNIST from the first place that has all four files intact.

    Raises:
        DataNotFoundError: nowhere had the data; the message lists every place tried.
    """
    tried: list[str] = []
    for directory in candidate_dirs(config):
        missing = [name for name in FILES.values() if not (directory / name).is_file()]
        if missing:
            tried.append(f"{directory} (missing {', '.join(missing)})")
            continue
        try:
            data = load_from_dir(directory)
        except CorruptDataError as exc:
            log.warning("skipping %s: %s", directory, exc)
            tried.append(f"{directory} (corrupt: {exc})")
            continue
        log.info("Fashion-MNIST loaded from %s", directory)
        return data
    if allow_download:
        try:
            return _download_with_keras()
        except Exception as exc:  # noqa: BLE001 - any failure here means "not available"
            tried.append(f"keras.datasets.fashion_mnist download ({type(exc).__name__}: {exc})")
    else:
        tried.append("keras.datasets.fashion_mnist download (disabled)")
    raise DataNotFoundError("Fashion-MNIST was not found. Looked in:\n  - " + "\n  - ".join(tried) + "\n" + _HOW_TO_FIX)


def _download_with_keras() -> FashionMNIST:
    from keras.datasets import fashion_mnist  # heavy import, only on this path

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    arrays = dict(train_images=x_train, train_labels=y_train, test_images=x_test, test_labels=y_test)
    _check_shapes(arrays, "keras download")
    return FashionMNIST(**{k: np.asarray(v, dtype=np.uint8) for k, v in arrays.items()}, source="keras download")


def _check_shapes(arrays: dict[str, np.ndarray], where: str) -> None:
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[1:] != (28, 28):
            raise CorruptDataError(f"{where}: {split} images have shape {images.shape}, expected (N, 28, 28)")
        if len(images) != len(labels):
            raise CorruptDataError(f"{where}: {len(images)} {split} images but {len(labels)} labels")
        if labels.size and labels.max() >= len(CATEGORIES):
            raise CorruptDataError(f"{where}: label {labels.max()} out of range 0..{len(CATEGORIES) - 1}")


@dataclass(frozen=True)
class Subset:
    """Images with their labels, the split of each ("catalog" or "query") and its source row."""

    images: np.ndarray
    labels: np.ndarray
    split: np.ndarray
    source_index: np.ndarray
    source_split: np.ndarray


def balanced_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` items of every class, drawn without replacement, class by class."""
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in range(len(CATEGORIES)):
        pool = np.flatnonzero(labels == cls)
        if per_class > len(pool):
            raise InvalidInputError(
                f"per-class count {per_class} exceeds the {len(pool)} images of class {CATEGORIES[cls]!r}"
            )
        chosen.append(np.sort(rng.choice(pool, size=per_class, replace=False)))
    return np.concatenate(chosen)


def stratified_split(labels: np.ndarray, query_fraction: float, seed: int) -> np.ndarray:
    """Mark each item "catalog" or "query", the same fraction within every class."""
    rng = np.random.default_rng(seed + 1)
    split = np.full(len(labels), "catalog", dtype=object)
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        n_query = int(round(len(members) * query_fraction))
        if len(members) > 1:
            n_query = min(max(n_query, 1), len(members) - 1)
        split[rng.choice(members, size=n_query, replace=False)] = "query"
    return split.astype(str)


def make_subset(data: FashionMNIST, config: Config) -> Subset:
    """The catalog + held-out queries for a profile, deterministic from ``config.seed``."""
    if config.profile == "full":
        images = np.concatenate([data.train_images, data.test_images])
        labels = np.concatenate([data.train_labels, data.test_labels])
        split = np.array(["catalog"] * len(data.train_labels) + ["query"] * len(data.test_labels))
        source_index = np.concatenate([np.arange(len(data.train_labels)), np.arange(len(data.test_labels))])
        source_split = np.array(["train"] * len(data.train_labels) + ["test"] * len(data.test_labels))
        return Subset(images, labels.astype(np.int64), split, source_index, source_split)
    idx = balanced_subset(data.train_labels, config.per_class, config.seed)
    labels = data.train_labels[idx].astype(np.int64)
    split = stratified_split(labels, config.query_fraction, config.seed)
    return Subset(data.train_images[idx], labels, split, idx, np.array(["train"] * len(idx)))
