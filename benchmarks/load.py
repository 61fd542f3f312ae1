"""Load test of the REST API: concurrent clients sending mixed text and image queries.

    nice -n 5 python benchmarks/load.py --artifacts-dir artifacts --clients 1 8 32 --seconds 60 \
        --out benchmarks/results/load.json

Starts the API with the project's own command (``python -m multimodal api``) on a free local
port, unless ``--url`` points at a running one. First a sequential pass records each query's
results; then, for each number of clients, that many threads send queries for ``--seconds``
(half text, half image uploads, each thread starting at another place in the list) and the
script reports queries per second, p50 / p95 / p99 latency, errors (non-200 answers or failed
connections) and answers that differ from the sequential run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402
import numpy as np  # noqa: E402


def queries(data_dir: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """Half shopper text queries (worded unlike the training texts), half held-out product photos as PNG."""
    from PIL import Image

    from multimodal.catalog.prepared import load_prepared
    from multimodal.models.text_data import eval_queries

    rows, images = load_prepared(data_dir).part("query")
    rng = np.random.default_rng(seed)
    texts = [q.text for q in eval_queries(rows, seed=seed)]
    genders = ("all", "men", "women", "unisex")
    out = []
    for i in range(n):
        gender = genders[i % len(genders)]
        if i % 2 == 0:
            out.append({"kind": "text", "json": {"query": texts[int(rng.integers(len(texts)))], "k": 10, "gender": gender}})
        else:
            buffer = io.BytesIO()
            Image.fromarray(images[int(rng.integers(len(images)))]).save(buffer, format="PNG")
            out.append({"kind": "image", "png": buffer.getvalue(), "gender": gender})
    return out


def send(client: httpx.Client, query: dict[str, Any]) -> tuple[int, list[str] | None]:
    if query["kind"] == "text":
        response = client.post("/search/text", json=query["json"])
    else:
        response = client.post("/search/image", files={"file": ("q.png", query["png"], "image/png")},
                               data={"k": "10", "gender": query["gender"]})
    ids = [r["product_id"] for r in response.json()["results"]] if response.status_code == 200 else None
    return response.status_code, ids


def load_round(url: str, workload: list[dict[str, Any]], reference: list[list[str] | None], clients: int,
               seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = mismatches = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(offset: int) -> None:
        nonlocal errors, mismatches
        mine: list[float] = []
        err = diff = 0
        i = offset
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.monotonic() < stop:
                j = i % len(workload)
                t0 = time.perf_counter()
                try:
                    status, ids = send(client, workload[j])
                except httpx.HTTPError:
                    status, ids = 0, None
                mine.append((time.perf_counter() - t0) * 1000)
                if status != 200:
                    err += 1
                elif ids != reference[j]:
                    diff += 1
                i += 1
        with lock:
            latencies.extend(mine)
            errors += err
            mismatches += diff

    threads = [threading.Thread(target=worker, args=(c * len(workload) // clients,)) for c in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    ms = np.asarray(latencies)
    return {
        "clients": clients, "seconds": round(elapsed, 1), "requests": len(ms), "qps": round(len(ms) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1), "errors": errors, "differs_from_sequential": mismatches,
    }


def start_api(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "multimodal", "api", "--host", "127.0.0.1", "--port", str(port),
               "--artifacts-dir", str(args.artifacts_dir), "--workers", str(args.workers)]
    if args.data_dir:
        command += ["--data-dir", str(args.data_dir)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the API exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    process.kill()
    raise SystemExit("the API did not become healthy within 300 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running API; default: start one with `python -m multimodal api`")
    parser.add_argument("--artifacts-dir", type=Path, default=Path("artifacts"))
    parser.add_argument("--data-dir", type=Path, default=None, help="default: the one the build used")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the API this script starts")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--queries", type=int, default=200, help="distinct queries in the workload")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/load.json"))
    args = parser.parse_args()

    from multimodal.io import read_json

    data_dir = args.data_dir or Path(read_json(args.artifacts_dir / "config.json").get("data_dir", "data"))
    workload = queries(data_dir, args.queries, args.seed)
    process = None
    if args.url is None:
        process, url = start_api(args)
    else:
        url = args.url.rstrip("/")
    try:
        health = httpx.get(f"{url}/health", timeout=10).json()
        with httpx.Client(base_url=url, timeout=60) as client:
            reference = [send(client, q)[1] for q in workload]
        if any(r is None for r in reference):
            raise SystemExit("the sequential pass had errors; is the API healthy?")
        print(f"API at {url}: {health['items']:,} items, {health['store']} {health['index_type']}; "
              f"{len(workload)} distinct queries (half text, half image)")
        print(f"{'clients':>7} {'qps':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'differ':>7} {'requests':>9}")
        rounds = []
        for clients in args.clients:
            r = load_round(url, workload, reference, clients, args.seconds)
            rounds.append(r)
            print(f"{clients:>7} {r['qps']:>7.1f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} "
                  f"{r['errors']:>7} {r['differs_from_sequential']:>7} {r['requests']:>9}", flush=True)
        metrics = httpx.get(f"{url}/metrics", timeout=10).json()
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    result = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "url": url, "health": health,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "workers": args.workers, "queries": len(workload), "seconds_per_round": args.seconds, "rounds": rounds,
        "server_metrics": metrics,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
