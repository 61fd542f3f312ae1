"""Tiny Fashion-MNIST look-alikes written by the tests themselves, so no test needs the real data."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from multimodal.config import Config


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> None:
    """Write ``array`` (uint8) as a gzipped IDX file with a correct header unless ``magic`` overrides it."""
    magic = magic if magic is not None else (2051 if array.ndim == 3 else 2049)
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def synthetic_fashion(n_per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images a small network can tell apart: each class is a distinct blob shape plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    images, labels = [], []
    for cls in range(10):
        cy, cx = 6 + (cls % 4) * 5, 6 + (cls // 4) * 7
        base = np.exp(-(((yy - cy) / (2 + cls % 3)) ** 2 + ((xx - cx) / (2 + cls % 2 * 2)) ** 2)) * 255
        for _ in range(n_per_class):
            noisy = base + rng.normal(0, 20, base.shape)
            images.append(np.clip(noisy, 0, 255).astype(np.uint8))
            labels.append(cls)
    return np.stack(images), np.array(labels, dtype=np.uint8)


def write_fashion_dir(folder: Path) -> Path:
    """Write the four IDX files of a tiny dataset (30 train, 5 test images per class) into ``folder``."""
    folder.mkdir(parents=True)
    x_train, y_train = synthetic_fashion(30, seed=1)
    x_test, y_test = synthetic_fashion(5, seed=2)
    write_idx(folder / "train-images-idx3-ubyte.gz", x_train)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y_train)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", x_test)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", y_test)
    return folder


@pytest.fixture()
def fashion_dir(tmp_path: Path) -> Path:
    return write_fashion_dir(tmp_path / "fashion")


@pytest.fixture(scope="session")
def toy_build(tmp_path_factory):
    """The whole build at toy size: prepare, train-image, index, train-text, evaluate (about a minute)."""
    from multimodal.build import build

    root = tmp_path_factory.mktemp("toy")
    folder = write_fashion_dir(root / "fashion")
    config = Config(
        per_class=20, seed=3, data_dir=root / "data", artifacts_dir=root / "artifacts", fashion_mnist_dir=folder,
        image_alpha=0.35, image_epochs=1, validation_fraction=0.1, text_epochs=4,
        eval_upload_items=10, eval_latency_repeats=2, eval_intents_per_group=4, eval_intents_per_unseen_group=6,
        eval_ordinary_words=200,
    )
    log: list[str] = []
    result = build(config, report=log.append)
    return config, result, log


@pytest.fixture()
def built(toy_build, tmp_path):
    """A private copy of the toy build, for tests that write (add items, rebuild, damage files):
    the session build itself is only ever read, so no test depends on another's order."""
    import shutil

    config, _, _ = toy_build
    shutil.copytree(config.data_dir, tmp_path / "data")
    shutil.copytree(config.artifacts_dir, tmp_path / "artifacts")
    return config.replace(data_dir=tmp_path / "data", artifacts_dir=tmp_path / "artifacts")


@pytest.fixture()
def stub_evaluation(monkeypatch):
    """Replace the evaluation stage (the slowest, and measured by its own tests) with a stub that
    writes metrics.json the same way, for tests about files, stages and generations."""
    import multimodal.evaluation.evaluate
    from multimodal.io import write_json_atomic

    def run_evaluation(config):
        from multimodal import SearchEngine

        engine = SearchEngine.load(config.artifacts_dir, config.data_dir, text=False)
        metrics = {"stub": True, "catalog_items": len(engine.catalog)}
        write_json_atomic(config.artifacts_dir / "metrics.json", metrics)
        return metrics

    monkeypatch.setattr(multimodal.evaluation.evaluate, "run_evaluation", run_evaluation)
