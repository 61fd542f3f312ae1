"""Every benchmark runs as the README says: its smoke mode (tiny sizes, seconds) on data the test makes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=BENCHMARKS.parent)


def run_here(script: str, *args: str) -> subprocess.CompletedProcess:
    """``python benchmarks/<script> args`` run in this process, as ``python`` runs a script (``runpy``,
    ``__name__ == "__main__"``): TensorFlow and the models load once per worker, not per benchmark
    (~6 s each). What a script changes in the process (environment, FAISS threads) is put back."""
    import contextlib
    import io
    import os
    import runpy

    import faiss

    path = BENCHMARKS / script
    environ, threads, argv, search_path = dict(os.environ), faiss.omp_get_max_threads(), sys.argv, sys.path[:]
    out, err = io.StringIO(), io.StringIO()
    sys.argv, code = [str(path), *args], 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(str(path), run_name="__main__")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv, sys.path[:] = argv, search_path
        os.environ.clear()
        os.environ.update(environ)
        faiss.omp_set_num_threads(threads)
    return subprocess.CompletedProcess([script, *args], code, out.getvalue(), err.getvalue())


def test_the_checksum_benchmark_runs_in_smoke_mode() -> None:
    done = _run(str(BENCHMARKS / "checksum_speed.py"), "--smoke")
    assert done.returncode == 0, done.stderr
    assert "sha256" in done.stdout and "GB/s" in done.stdout


def test_the_preprocessing_memory_benchmark_runs_in_smoke_mode() -> None:
    done = _run(str(BENCHMARKS / "preprocess_memory.py"), "--smoke", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows[0]["outcome"].startswith("refused") and rows[1]["outcome"].startswith("result")


@pytest.mark.slow
def test_the_latency_benchmark_runs_on_a_build_and_writes_its_json(toy_build, tmp_path) -> None:
    config, _, _ = toy_build
    out = tmp_path / "latency.json"
    done = run_here("latency.py", "--smoke", "--artifacts-dir", str(config.artifacts_dir), "--out", str(out))
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["repeats"] == 3 and result["image_query_ms"]["median"] > 0 and result["catalog_items"] > 0


@pytest.mark.slow
def test_the_gender_filter_benchmark_finds_no_result_outside_the_rule(toy_build) -> None:
    config, _, _ = toy_build
    done = run_here("gender_filter.py", "--smoke", "--artifacts-dir", str(config.artifacts_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 outside the rule" in done.stdout


@pytest.mark.slow
def test_the_scale_benchmark_measures_every_store_and_index_on_the_live_generation(toy_build, tmp_path) -> None:
    """It reads the encoder of the build's live generation (it once read artifacts/ by hand and broke)."""
    config, _, _ = toy_build
    out = tmp_path / "scale.json"
    done = run_here("scale.py", "--smoke", "--artifacts-dir", str(config.artifacts_dir), "--out", str(out),
                "--tmp", str(tmp_path))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    runs = json.loads(out.read_text())["runs"]
    assert {(r["store"], r["index"]) for r in runs} == {(s, i) for s in ("faiss", "milvus") for i in ("flat", "hnsw", "ivf")}
    exact = [r for r in runs if r["index"] == "flat"]
    assert all(r["none"]["recall_at_10"] >= 0.99 and r["gender"]["recall_at_10"] >= 0.99 for r in exact)


@pytest.mark.slow
def test_the_outside_photos_benchmark_scores_photos_per_category_and_keeps_each_catalogs_run(toy_build, tmp_path) -> None:
    config, _, _ = toy_build
    out = tmp_path / "outside_photos.json"
    out.write_text(json.dumps({"catalogs": {"another-shop": {"catalog": "another-shop", "scored": 1, "per_category": {},
                                                         "first_result_fits": {"served_ranking": 1.0, "raw_pixels": 0.0,
                                                                               "classifier": 1.0}}}}))
    done = run_here("outside_photos.py", "--smoke", "--artifacts-dir", str(config.artifacts_dir), "--out", str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result["catalogs"]) == {"another-shop", "Fashion-MNIST"}
    run = result["catalogs"]["Fashion-MNIST"]
    assert run["scored"] == 6 and sum(e["photos"] for e in run["per_category"].values()) == 6
    assert 0.0 <= run["first_result_fits"]["served_ranking"] <= 1.0
    assert [r["category"] for r in result["results"] if r["catalog"] == "Fashion-MNIST"][-1] == "all"
