from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from multimodal.catalog import fashion_mnist as data
from multimodal.config import Config
from multimodal.errors import CorruptDataError, DataNotFoundError, InvalidInputError
from tests.conftest import write_idx


def test_read_idx_returns_the_array_that_was_written(tmp_path: Path) -> None:
    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "x.gz", array)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "x.gz", expect_ndim=3), array)


def test_read_idx_reads_labels(tmp_path: Path) -> None:
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    write_idx(tmp_path / "y.gz", labels)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "y.gz", expect_ndim=1), labels)


def test_read_idx_rejects_a_wrong_magic_number(tmp_path: Path) -> None:
    write_idx(tmp_path / "x.gz", np.zeros((2, 28, 28), np.uint8), magic=1234)
    with pytest.raises(CorruptDataError, match="magic number"):
        data.read_idx(tmp_path / "x.gz", expect_ndim=3)


def test_read_idx_rejects_a_truncated_body(tmp_path: Path) -> None:
    import gzip

    header = (2051).to_bytes(4, "big") + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    with gzip.open(tmp_path / "x.gz", "wb") as handle:
        handle.write(header + b"\0" * 100)
    with pytest.raises(CorruptDataError, match="declares shape"):
        data.read_idx(tmp_path / "x.gz", expect_ndim=3)


def test_read_idx_rejects_a_file_that_is_not_gzip(tmp_path: Path) -> None:
    (tmp_path / "x.gz").write_bytes(b"this is not a gzip archive")
    with pytest.raises(CorruptDataError, match="cannot be read"):
        data.read_idx(tmp_path / "x.gz", expect_ndim=3)


def test_loader_prefers_the_configured_folder(fashion_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "DEBIAN_DIR", Path("/nonexistent/debian"))
    loaded = data.load_fashion_mnist(Config(fashion_mnist_dir=fashion_dir), allow_download=False)
    assert loaded.source == str(fashion_dir)
    assert loaded.train_images.shape == (300, 28, 28)
    assert loaded.test_labels.shape == (50,)


def test_loader_search_order_is_config_then_debian_then_keras_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    dirs = data.candidate_dirs(Config(fashion_mnist_dir=tmp_path / "mine"))
    assert dirs == [tmp_path / "mine", tmp_path / "debian", tmp_path / "keras" / "datasets" / "fashion-mnist"]


def test_loader_reads_the_environment_variable(fashion_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASHION_MNIST_DIR", str(fashion_dir))
    assert data.candidate_dirs(None)[0] == fashion_dir


def test_loader_falls_back_to_the_keras_cache(fashion_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keras_home = tmp_path / "keras"
    (keras_home / "datasets").mkdir(parents=True)
    fashion_dir.rename(keras_home / "datasets" / "fashion-mnist")
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    loaded = data.load_fashion_mnist(Config(), allow_download=False)
    assert loaded.source.endswith("fashion-mnist")


def test_loader_skips_a_corrupt_folder_for_a_good_one(fashion_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in data.FILES.values():
        (bad / name).write_bytes(b"garbage")
    monkeypatch.setattr(data, "DEBIAN_DIR", fashion_dir)
    loaded = data.load_fashion_mnist(Config(fashion_mnist_dir=bad), allow_download=False)
    assert loaded.source == str(fashion_dir)


def test_missing_data_error_lists_every_place_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    with pytest.raises(DataNotFoundError) as info:
        data.load_fashion_mnist(Config(fashion_mnist_dir=tmp_path / "mine"), allow_download=False)
    message = str(info.value)
    for place in ("mine", "debian", "keras", "download"):
        assert place in message
    assert "apt-get install -y dataset-fashion-mnist" in message


def test_balanced_subset_has_exactly_n_per_class_without_repeats() -> None:
    labels = np.repeat(np.arange(10), 50)
    idx = data.balanced_subset(labels, per_class=20, seed=0)
    assert len(idx) == len(set(idx.tolist())) == 200
    assert np.bincount(labels[idx], minlength=10).tolist() == [20] * 10


def test_balanced_subset_is_deterministic_and_seed_dependent() -> None:
    labels = np.repeat(np.arange(10), 50)
    a = data.balanced_subset(labels, 20, seed=1)
    assert np.array_equal(a, data.balanced_subset(labels, 20, seed=1))
    assert not np.array_equal(a, data.balanced_subset(labels, 20, seed=2))


def test_balanced_subset_refuses_more_than_a_class_holds() -> None:
    labels = np.repeat(np.arange(10), 5)
    with pytest.raises(InvalidInputError, match="exceeds"):
        data.balanced_subset(labels, per_class=6, seed=0)


def test_split_is_stratified_with_the_asked_fraction() -> None:
    labels = np.repeat(np.arange(10), 500)
    split = data.stratified_split(labels, 0.2, seed=0)
    for cls in range(10):
        assert (split[labels == cls] == "query").sum() == 100
    assert np.array_equal(split, data.stratified_split(labels, 0.2, seed=0))


def test_full_profile_uses_all_train_images_as_catalog_and_test_as_queries(fashion_dir: Path) -> None:
    loaded = data.load_from_dir(fashion_dir)
    subset = data.make_subset(loaded, Config(profile="full"))
    assert (subset.split == "catalog").sum() == 300
    assert (subset.split == "query").sum() == 50
    assert set(subset.source_split[subset.split == "query"]) == {"test"}
