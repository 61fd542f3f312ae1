"""benchmarks/load.py runs as the README says: it starts the API itself, drives clients on loopback
and writes JSON; the smoke mode does it in seconds on the toy build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_smoke_load_run_answers_every_query_as_the_sequential_run_did(toy_build, tmp_path) -> None:
    config, _, _ = toy_build
    out = tmp_path / "load.json"
    command = [sys.executable, "benchmarks/load.py", "--smoke", "--artifacts-dir", str(config.artifacts_dir),
               "--data-dir", str(config.data_dir), "--out", str(out)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["smoke"] is True and result["health"]["status"] == "ok"
    assert [r["clients"] for r in result["rounds"]] == [1, 2]
    for r in result["rounds"]:
        assert r["requests"] > 0
        assert (r["errors"], r["timeouts"], r["differs_from_sequential"]) == (0, 0, 0), r
    assert {"text", "image"} <= set(result["http_overhead"]) and result["http_overhead"]["changed_between_passes"] == 0
    assert result["server_metrics"]["routes"]["/search/text"]["errors"] == 0


def test_the_load_script_refuses_targets_off_this_machine_and_unbounded_runs() -> None:
    for args in (["--url", "http://example.com:8000"], ["--clients", "0"], ["--seconds", "0"], ["--clients", "100000"]):
        run = subprocess.run([sys.executable, "benchmarks/load.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert run.returncode == 2 and "error:" in run.stderr, (args, run.stderr)
