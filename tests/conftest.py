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


CACHE = Path(__file__).resolve().parents[1] / ".cache"
SLOW_FIXTURES = frozenset({"toy_build", "toy_encoder"})  # fixtures that train models


def toy_config(root: Path) -> Config:
    return Config(
        per_class=20, seed=3, data_dir=root / "data", artifacts_dir=root / "artifacts", fashion_mnist_dir=root / "fashion",
        image_alpha=0.35, image_epochs=1, validation_fraction=0.1, text_epochs=4,
        eval_upload_items=10, eval_latency_repeats=2, eval_intents_per_group=4, eval_intents_per_unseen_group=6,
        eval_ordinary_words=200, eval_product_photos=40,
    )


def _code_fingerprint(settings: Config, *sources: Path) -> str:
    """What a cached build depends on: the package's code and data files, the test files that make
    its inputs, and its settings."""
    import hashlib

    package = Path(__file__).resolve().parents[1] / "multimodal"
    digest = hashlib.sha256(repr(sorted(settings.to_dict().items())).encode())
    for path in [*sorted(package.rglob("*")), *sources]:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(package.parent)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def shared_build(name: str, settings: Config, make, *sources: Path):
    """``make(root)`` run once per version of the code and cached in ``.cache/<name>/<fingerprint>``
    (any change to the package or to ``sources`` makes it anew), under a file lock so that parallel
    workers (``-n 2``) share one build; returns ``(root, what make returned)``. Only ever read."""
    import fcntl
    import json
    import shutil

    cache = CACHE / name
    root = cache / _code_fingerprint(settings, *sources)
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / "build.json"
        if not done.is_file():
            for stale in cache.iterdir():
                if stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
            root.mkdir(parents=True)
            done.write_text(json.dumps(make(root), default=str))
        return root, json.loads(done.read_text())


def build_toy() -> tuple[Config, dict, list[str]]:
    """The whole build at toy size: prepare, train-image, index, train-text, evaluate (about a minute),
    made once per version of the code for all workers (``shared_build``)."""
    from multimodal.build import build

    def make(root: Path) -> dict:
        write_fashion_dir(root / "fashion")
        log: list[str] = []
        result = build(toy_config(root), report=log.append)
        return {"result": result, "log": log}

    root, saved = shared_build("toy-build", toy_config(Path("/")), make)
    return toy_config(root), saved["result"], saved["log"]


@pytest.fixture(scope="session")
def toy_build():
    """``build_toy()``: only ever read; tests that write take a private copy (``built``)."""
    return build_toy()


SHARED_BUILDS = {"toy_build": "tests.conftest:build_toy", "folder_build": "tests.test_catalog_folder_served:build_shop"}
PREBUILD = """
import importlib, sys
for target in sys.argv[1:]:
    module, name = target.split(":")
    getattr(importlib.import_module(module), name)()
"""


def pytest_collection_modifyitems(config, items) -> None:
    """Tests that need the toy build are the slow tier (``-m "not slow"`` leaves them out)."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


class SharedBuildsInTheBackground:
    """While the shared builds are made, the workers run other tests.

    After pytest-randomly's shuffle and the ``-m``/``-k`` selection, the order is grouped, stably:
    the fast tier, then slow tests that need no shared build, then those that need the folder
    build, then the toy build; and one worker (or the only process) starts a background process
    for each build the selected tests need (``shared_build``'s lock makes a test wait for it)."""

    def __init__(self) -> None:
        self.processes: list = []

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items) -> None:
        def needs(item) -> set[str]:
            return set(SHARED_BUILDS) & set(getattr(item, "fixturenames", ()))

        order = list(SHARED_BUILDS)[::-1]  # the folder build is the shorter: its tests can start sooner
        items.sort(key=lambda item: 0 if item.get_closest_marker("slow") is None else
                   1 + max((1 + order.index(name) for name in needs(item)), default=0))
        wanted = sorted(set().union(*(needs(item) for item in items)))
        worker = getattr(config, "workerinput", {}).get("workerid", "gw0")
        if wanted and worker == "gw0" and not getattr(config, "workerinput", {}).get("prebuilding"):
            self.start(wanted)

    def pytest_configure(self, config) -> None:
        """The whole suite on workers (``make test``): the controller starts the builds at once, before
        the workers are up (~10 s sooner); the workers are told so."""
        whole = not (config.args and config.args != config.getini("testpaths")) and not config.option.keyword \
            and not config.option.markexpr
        if whole and getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
            self.start(sorted(SHARED_BUILDS))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:  # xdist's hook, on the controller, per worker
        node.workerinput["prebuilding"] = bool(self.processes)

    def start(self, wanted: list[str]) -> None:
        import subprocess
        import sys

        CACHE.mkdir(exist_ok=True)
        for name in wanted:  # one process each: the workers waiting for them leave the CPU free
            with (CACHE / f"prebuild-{name}.log").open("wb") as log:
                self.processes.append(subprocess.Popen([sys.executable, "-c", PREBUILD, SHARED_BUILDS[name]],
                                                       cwd=CACHE.parent, stdout=log, stderr=subprocess.STDOUT))

    def pytest_unconfigure(self, config) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()  # an interrupted run: the unfinished build is made anew next time
                process.wait()


def pytest_configure(config) -> None:
    config.pluginmanager.register(SharedBuildsInTheBackground(), "shared-builds-in-the-background")


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
