from __future__ import annotations

from pathlib import Path

import pytest

from multimodal.catalog.prepared import load_prepared
from multimodal.cli import main


def _args(cfg_dir: Path, fashion_dir: Path, *extra: str) -> list[str]:
    return ["prepare", "--data-dir", str(cfg_dir), "--fashion-mnist-dir", str(fashion_dir), *extra]


def test_prepare_writes_a_balanced_catalog_and_prints_a_summary(tmp_path: Path, fashion_dir: Path, capsys) -> None:
    assert main(_args(tmp_path / "data", fashion_dir, "--per-class", "10")) == 0
    prepared = load_prepared(tmp_path / "data")
    assert len(prepared.catalog) == 100
    assert prepared.catalog.groupby("category").size().eq(10).all()
    assert (prepared.catalog["split"] == "query").sum() == 20
    out = capsys.readouterr().out
    assert "Ankle boot" in out and "wrote 100 products" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--per-class", "-5"], "positive"),
        (["--per-class", "0"], "positive"),
        (["--per-class", "many"], "whole number"),
        (["--profile", "huge"], "invalid choice"),
        (["--query-fraction", "1.5"], "between 0 and 1"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_message(tmp_path: Path, fashion_dir: Path, capsys, extra, message) -> None:
    with pytest.raises(SystemExit) as info:
        main(_args(tmp_path / "data", fashion_dir, *extra))
    assert info.value.code != 0
    assert message in capsys.readouterr().err


def test_too_many_per_class_fails_and_leaves_existing_data_untouched(tmp_path: Path, fashion_dir: Path, capsys) -> None:
    data_dir = tmp_path / "data"
    assert main(_args(data_dir, fashion_dir, "--per-class", "10")) == 0
    before = {p.name: p.read_bytes() for p in data_dir.iterdir()}
    assert main(_args(data_dir, fashion_dir, "--per-class", "31")) == 2
    assert "exceeds the 30 images" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in data_dir.iterdir()} == before


def test_missing_dataset_is_reported_without_a_traceback(tmp_path: Path, capsys, monkeypatch) -> None:
    from multimodal.catalog import fashion_mnist as data

    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(data, "_download_with_keras", lambda: (_ for _ in ()).throw(OSError("offline")))
    assert main(_args(tmp_path / "data", tmp_path / "empty")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Fashion-MNIST was not found") and "Traceback" not in err
