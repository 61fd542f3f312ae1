"""Load test of the REST API: concurrent clients sending mixed text and image queries.

    nice -n 5 python benchmarks/load.py [--clients 1 8 32] [--seconds 60]     # JSON to benchmarks/results/load.json
    python benchmarks/load.py --smoke --artifacts-dir A --out /tmp/load.json  # seconds, 1-2 clients, a few queries

Starts the API with the project's own command (``python -m multimodal api``) on a free port of
127.0.0.1, unless ``--url`` points at a running one (on loopback only: this is a load generator).
First a sequential pass records each query's results and the server's own engine time
(``took_ms``), so the HTTP overhead per request is measured too; then, for each number of
clients, that many threads send queries for ``--seconds`` (half text, half image uploads, each
thread starting at another place in the list). It reports queries per second, p50 / p95 / p99
latency of the answers, errors (answers other than 200 and 503, failed connections), timeouts,
503s (the server shedding load; the client waits ``Retry-After`` as a real one would) and
answers that differ from the sequential run. The queries come from the live generation's
held-out split (``multimodal.generations``), so the script reads nothing inside a generation by hand.
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
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402
import numpy as np  # noqa: E402

MAX_CLIENTS = 256
MAX_SECONDS = 3600.0
TIMEOUT_S = 30.0  # a request slower than this counts as a timeout: the server should answer or shed long before
SMOKE = {"clients": [1, 2], "seconds": 1.0, "queries": 6}


def data_folder(artifacts_dir: Path, data_dir: Path | None) -> Path:
    """The prepared dataset of the live generation (its held-out split gives the queries)."""
    from multimodal import generations

    if data_dir is not None:
        return data_dir
    live = generations.current(artifacts_dir)
    if live is not None:
        return live.data_dir
    return artifacts_dir / generations.DATA_DIR if (artifacts_dir / generations.DATA_DIR).is_dir() else Path("data")


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


def send(client: httpx.Client, query: dict[str, Any]) -> tuple[int, list[str] | None, float | None, float]:
    """One query: (status, result ids, the server's engine ms, Retry-After seconds)."""
    if query["kind"] == "text":
        response = client.post("/search/text", json=query["json"])
    else:
        response = client.post("/search/image", files={"file": ("q.png", query["png"], "image/png")},
                               data={"k": "10", "gender": query["gender"]})
    if response.status_code != 200:
        return response.status_code, None, None, float(response.headers.get("retry-after", 0) or 0)
    body = response.json()
    return 200, [r["product_id"] for r in body["results"]], body.get("took_ms"), 0.0


def _client(url: str) -> httpx.Client:
    key = os.environ.get("MULTIMODAL_API_READ_KEY")  # an API that asks for a read key gets it
    return httpx.Client(base_url=url, timeout=TIMEOUT_S, headers={"X-API-Key": key} if key else None)


def sequential(url: str, workload: list[dict[str, Any]]) -> tuple[list[list[str] | None], dict[str, Any]]:
    """Each query in order, twice: the reference answers (the first pass, which also warms the
    server), and from the second, client time against the server's engine time and any answer
    that changed between the passes."""
    reference: list[list[str] | None] = []
    timings: dict[str, tuple[list[float], list[float]]] = {"text": ([], []), "image": ([], [])}
    changed = 0
    with _client(url) as client:
        for query in workload:
            reference.append(send(client, query)[1])
        for query, expected in zip(workload, reference):
            started = time.perf_counter()
            status, ids, took, _ = send(client, query)
            elapsed = (time.perf_counter() - started) * 1000
            changed += ids != expected
            if status == 200 and took is not None:
                timings[query["kind"]][0].append(elapsed)
                timings[query["kind"]][1].append(took)
    overhead: dict[str, Any] = {"changed_between_passes": changed}
    for kind, (http_ms, engine_ms) in timings.items():
        if http_ms:
            overhead[kind] = {"http_p50_ms": round(float(np.median(http_ms)), 2), "engine_p50_ms": round(float(np.median(engine_ms)), 2),
                              "overhead_p50_ms": round(float(np.median(np.subtract(http_ms, engine_ms))), 2)}
    return reference, overhead


class Tally:
    """What the client threads of one round saw, merged under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ms: list[float] = []
        self.errors = self.timeouts = self.busy = self.differ = 0

    def merge(self, ms: list[float], errors: int, timeouts: int, busy: int, differ: int) -> None:
        with self.lock:
            self.ms += ms
            self.errors += errors
            self.timeouts += timeouts
            self.busy += busy
            self.differ += differ


def client_loop(url: str, workload: list[dict[str, Any]], reference: list[list[str] | None], offset: int, stop: float,
                tally: Tally) -> None:
    """One client: queries in turn until ``stop``; a 503 waits its Retry-After (never past the end)."""
    ms: list[float] = []
    errors = timeouts = busy = differ = 0
    i = offset
    with _client(url) as client:
        while time.monotonic() < stop:
            j = i % len(workload)
            i += 1
            started = time.perf_counter()
            try:
                status, ids, _, retry_after = send(client, workload[j])
            except httpx.TimeoutException:
                timeouts += 1
                continue
            except httpx.HTTPError:
                errors += 1
                continue
            if status == 503:
                busy += 1
                time.sleep(max(0.0, min(retry_after, stop - time.monotonic())))
                continue
            ms.append((time.perf_counter() - started) * 1000)
            errors += status != 200
            differ += status == 200 and ids != reference[j]
    tally.merge(ms, errors, timeouts, busy, differ)


def load_round(url: str, workload: list[dict[str, Any]], reference: list[list[str] | None], clients: int,
               seconds: float) -> dict[str, Any]:
    """``clients`` threads for ``seconds``: throughput, latency of the answers and everything that went wrong."""
    tally = Tally()
    stop = time.monotonic() + seconds
    threads = [threading.Thread(target=client_loop, args=(url, workload, reference, c * len(workload) // clients, stop, tally))
               for c in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    ms = np.asarray(tally.ms) if tally.ms else np.zeros(1)
    return {
        "clients": clients, "seconds": round(elapsed, 1), "requests": len(tally.ms), "qps": round(len(tally.ms) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1), "errors": tally.errors, "timeouts": tally.timeouts,
        "busy_503": tally.busy, "differs_from_sequential": tally.differ,
    }


def start_api(args: argparse.Namespace, log: Any) -> tuple[subprocess.Popen, str]:
    """The API as users start it, on a free port of 127.0.0.1; its output goes to ``log``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "multimodal", "api", "--host", "127.0.0.1", "--port", str(port),
               "--artifacts-dir", str(args.artifacts_dir), "--workers", str(args.workers)]
    if args.data_dir:
        command += ["--data-dir", str(args.data_dir)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + args.start_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the API exited with {process.returncode}:\n{_tail(log)}")
        try:
            health = httpx.get(f"{url}/health", timeout=5)
        except httpx.HTTPError:  # not listening yet: the engine loads before the server accepts connections
            time.sleep(0.5)
            continue
        if health.status_code == 200:
            return process, url
        stop_api(process)  # it loaded and has no engine: waiting will not help
        raise SystemExit(f"the API has no engine: {health.json().get('detail')}")
    stop_api(process)
    raise SystemExit(f"the API did not become healthy within {args.start_timeout:.0f} s:\n{_tail(log)}")


def stop_api(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(log: Any) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-3000:]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running API on this machine; default: start one with `python -m multimodal api`")
    parser.add_argument("--artifacts-dir", type=Path, default=Path("artifacts"))
    parser.add_argument("--data-dir", type=Path, default=None, help="default: the live generation's")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the API this script starts")
    parser.add_argument("--clients", type=int, nargs="+", default=None, help="default 1 8 32 (smoke: 1 2)")
    parser.add_argument("--seconds", type=float, default=None, help="per round; default 60 (smoke: 1)")
    parser.add_argument("--queries", type=int, default=None, help="distinct queries in the workload; default 200 (smoke: 6)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="a few seconds with 1-2 clients: checks that it all works")
    parser.add_argument("--start-timeout", type=float, default=300.0, help="seconds the API may take to load")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/load.json"))
    args = parser.parse_args(argv)
    defaults = SMOKE if args.smoke else {"clients": [1, 8, 32], "seconds": 60.0, "queries": 200}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if not all(1 <= c <= MAX_CLIENTS for c in args.clients):
        parser.error(f"--clients must be between 1 and {MAX_CLIENTS}")
    if not 0 < args.seconds <= MAX_SECONDS or args.queries < 2 or args.workers < 1:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS:.0f}], --queries at least 2, --workers at least 1")
    if args.url and urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--url must be on this machine (127.0.0.1): this script sends load")
    return args


def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """The sequential pass, then one round per number of clients; prints a table as it goes."""
    health = httpx.get(f"{url}/health", timeout=10).json()
    workload = queries(data_folder(args.artifacts_dir, args.data_dir), args.queries, args.seed)
    reference, overhead = sequential(url, workload)
    if any(r is None for r in reference) or overhead["changed_between_passes"]:
        raise SystemExit("the sequential passes had errors or disagreed; is the API healthy?")
    print(f"API at {url}: {health['items']:,} items, {health['store']} {health['index_type']}; "
          f"{len(workload)} distinct queries (half text, half image)")
    for kind in ("text", "image"):
        o = overhead[kind]
        print(f"  {kind:5}: one client p50 {o['http_p50_ms']:.1f} ms over HTTP, engine {o['engine_p50_ms']:.1f} ms "
              f"(overhead p50 {o['overhead_p50_ms']:.1f} ms)")
    print(f"{'clients':>7} {'qps':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'timeout':>7} {'503':>6} "
          f"{'differ':>7} {'requests':>9}")
    rounds = []
    for clients in args.clients:
        r = load_round(url, workload, reference, clients, args.seconds)
        rounds.append(r)
        print(f"{clients:>7} {r['qps']:>7.1f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['errors']:>7} "
              f"{r['timeouts']:>7} {r['busy_503']:>6} {r['differs_from_sequential']:>7} {r['requests']:>9}", flush=True)
    with _client(url) as client:
        metrics = client.get("/metrics").json()
    return {"health": health, "queries": len(workload), "http_overhead": overhead, "rounds": rounds, "server_metrics": metrics}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryFile() as log:
        process, url = start_api(args, log) if args.url is None else (None, args.url.rstrip("/"))
        try:
            measured = run(args, url)
        finally:
            if process is not None:
                stop_api(process)
    result = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": _commit(), "url": url, "smoke": args.smoke,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "workers": args.workers, "seconds_per_round": args.seconds, **measured,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


if __name__ == "__main__":
    raise SystemExit(main())
