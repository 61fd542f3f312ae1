"""How the vector stores behave at 10k, 100k and 1M items: build time, memory, recall@10, latency.

    nice -n 5 python benchmarks/scale.py --sizes 10000 100000 1000000   # JSON to benchmarks/results/scale.json
    python benchmarks/scale.py --sizes 1000000 --stores milvus --index-types hnsw --milvus-server --append
    python benchmarks/scale.py --smoke --artifacts-dir A      # seconds: a check that it all runs

Catalogs are the 70,000 real Fashion-MNIST images embedded by the build's image encoder, plus
jittered copies (Gaussian noise on the unit vector, renormalised) up to the size asked for. By
default the noise puts a copy as far from its source as a real item's nearest neighbour is
(median over 2,000 items), so copies look like further products of the same kind rather than
a cloud that drowns the real structure;
gender, category and price of every item are drawn by the catalog's rules (``catalog.SPECS``).
Queries are fresh jittered copies of random real items. For each store (FAISS, Milvus Lite or a
Milvus server given by ``--milvus-uri``, or started by ``--milvus-server``) and
index type (flat, HNSW, IVF) and each search setting, the script measures recall@10 against
exact search (ties within float round-off count as found) and the median / p95 latency of one query at a time, without a filter and with the
gender filter "women" (Women + Unisex, about half the items) applied inside the search.
Results are written to JSON after every measurement, so a long run keeps what it finished.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

FILTER_GENDER = "women"
K = 10
# Search settings swept per index type (ann-benchmarks style): FAISS names, Milvus names.
SWEEP = {
    "faiss": {"flat": [None], "hnsw": [16, 32, 64, 128, 256, 512], "ivf": [8, 16, 32, 64, 128, 256]},
    "milvus": {"flat": [None], "hnsw": [32, 64, 128], "ivf": [8, 16, 32]},
}


def rss_mb() -> float:
    """Resident memory of this process (Milvus Lite serves from threads of this process too)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def real_embeddings(artifacts_dir: Path, cache: Path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All 70,000 Fashion-MNIST images (train + test), or the first ``limit``, embedded as the index embeds them; cached."""
    if cache.is_file():
        saved = np.load(cache)
        return saved["vectors"], saved["labels"]
    from multimodal.catalog.fashion_mnist import load_fashion_mnist
    from multimodal.catalog.images import preprocess_batch
    from multimodal.config import Config
    from multimodal.models.image_encoder import ImageEncoder

    data = load_fashion_mnist(Config())
    images = np.concatenate([data.train_images, data.test_images])
    labels = np.concatenate([data.train_labels, data.test_labels]).astype(np.int64)
    images, labels = images[:limit], labels[:limit]
    from multimodal import generations

    encoder = ImageEncoder.load(generations.resolve(artifacts_dir))  # the live generation's encoder
    chunks = []
    for start in range(0, len(images), 5000):
        chunks.append(encoder.embed(preprocess_batch(images[start : start + 5000])))
        print(f"  embedded {start + len(chunks[-1]):,} / {len(images):,}", flush=True)
    vectors = np.concatenate(chunks).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=vectors, labels=labels)
    return vectors, labels


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def auto_jitter(real: np.ndarray, sample: int = 2000, seed: int = 0) -> float:
    """Noise per dimension that moves a vector by the median distance of a real item to its nearest neighbour."""
    import faiss

    index = faiss.IndexFlatIP(real.shape[1])
    index.add(real)
    picks = np.random.default_rng(seed).choice(len(real), size=min(sample, len(real)), replace=False)
    cosine = index.search(real[picks], 2)[0][:, 1]
    distance = float(np.median(np.sqrt(np.maximum(2 - 2 * cosine, 0))))
    return distance / np.sqrt(real.shape[1])


def make_catalog(real: np.ndarray, labels: np.ndarray, size: int, jitter: float, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    """``size`` items: the real vectors first, then jittered copies; metadata drawn by the catalog's rules."""
    from multimodal.catalog.synthetic import SPECS
    from multimodal.config import CATEGORIES

    rng = np.random.default_rng(seed)
    source = np.arange(size) % len(real)
    vectors = np.empty((size, real.shape[1]), np.float32)
    for start in range(0, size, 100_000):
        part = source[start : start + 100_000]
        block = real[part].copy()
        copies = start + np.arange(len(part)) >= len(real)
        block[copies] += rng.normal(0, jitter, size=(int(copies.sum()), real.shape[1])).astype(np.float32)
        vectors[start : start + len(part)] = unit(block)
    item_labels = labels[source]
    genders = np.empty(size, dtype=object)
    prices = np.empty(size, np.float64)
    for label, category in enumerate(CATEGORIES):
        rows = np.flatnonzero(item_labels == label)
        spec = SPECS[category]
        names, weights = zip(*spec.genders.items())
        genders[rows] = rng.choice(names, size=len(rows), p=np.asarray(weights) / sum(weights))
        low, high = spec.price
        prices[rows] = np.floor(rng.uniform(low, low + 0.6 * (high - low), size=len(rows))) + 0.99
    catalog = pd.DataFrame({
        "product_id": [f"S-{i:07d}" for i in range(size)],
        "gender": genders, "category": np.asarray(CATEGORIES, dtype=object)[item_labels], "price": prices,
    })
    return vectors, catalog


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-K (scores, rows) of each query among allowed items."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    if allowed is None:
        return index.search(queries, K)
    bits = np.packbits(allowed, bitorder="little")
    params = faiss.SearchParameters(sel=faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits)))
    return index.search(queries, K, params=params)


def strict_recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the exact top-K ids returned, ties not tolerated (a lower bound)."""
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / K for f, t in zip(found, truth)]))


TIE = 1e-6  # float32 round-off of a 64-d inner product; real neighbours differ by ~1e-5


def recall(found: np.ndarray, queries: np.ndarray, vectors: np.ndarray, kth: np.ndarray, allowed: np.ndarray | None) -> float:
    """Recall@K tolerating ties (as ann-benchmarks and faiss' tests do): a returned item counts when it is
    allowed and scores at least the exact K-th best score, less float round-off."""
    hits = []
    for f, q, threshold in zip(found, queries, kth):
        rows = np.unique(f[f >= 0])
        ok = (vectors[rows].astype(np.float64) @ q.astype(np.float64)) >= threshold - TIE
        if allowed is not None:
            ok &= allowed[rows]
        hits.append(min(int(ok.sum()), K) / K)
    return float(np.mean(hits))


def milvus_target(uri: str | None) -> str:
    """What served the Milvus runs: Milvus Lite in a folder, or a server at an address."""
    return "lite" if uri is None or "://" not in uri else f"server {uri}"


def set_search_param(store: Any, value: int | None) -> None:
    """efSearch (HNSW) or nprobe (IVF) for the next searches."""
    if value is None:
        return
    if store.kind == "faiss":
        import faiss

        index = store.faiss_index
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efSearch = value
        else:
            index.nprobe = value
    else:
        key = "ef" if store.manifest["index_type"] == "hnsw" else "nprobe"
        store._search_params = {key: value}  # noqa: SLF001 - the benchmark sweeps the store's own setting


def time_queries(store: Any, queries: np.ndarray, where: Any) -> tuple[np.ndarray, np.ndarray]:
    """Rows found and per-query milliseconds, one query per call as a shopper's request makes it."""
    rows = np.full((len(queries), K), -1, np.int64)
    ms = np.empty(len(queries))
    for _ in range(3):  # warm up
        store.search(queries[:1], K, where=where)
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        _, found = store.search(q[None, :], K, where=where)
        ms[i] = (time.perf_counter() - t0) * 1000
        rows[i, : found.shape[1]] = found[0]
    return rows, ms


def run(args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    from multimodal.config import Config
    from multimodal.search.filters import gender_filter
    from multimodal.store import build_store

    faiss.omp_set_num_threads(args.threads)
    real, labels = real_embeddings(args.artifacts_dir, args.cache, limit=args.real_items)
    if args.jitter is None:
        args.jitter = auto_jitter(real, seed=args.seed)
        print(f"jitter {args.jitter:.6f} per dimension (a copy sits at the median real nearest-neighbour distance)")
    rng = np.random.default_rng(args.seed)
    out: dict[str, Any] = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "faiss_threads": args.threads, "processor": platform.processor() or platform.machine()},
        "settings": {"k": K, "queries": args.queries, "milvus_queries": args.milvus_queries, "jitter": args.jitter,
                     "filter": f"gender={FILTER_GENDER}", "real_items": int(len(real))},
        "runs": [],
    }
    if args.append and args.out.is_file():  # add runs (e.g. Milvus at 1M with fewer queries) to an earlier file
        earlier = json.loads(args.out.read_text())
        out["runs"], out["created_at"] = earlier["runs"], earlier.get("created_at", out["created_at"])
        out["settings"]["appended"] = earlier.get("settings", {}).get("appended", []) + [
            {"created_at": out["created_at"], "sizes": args.sizes, "stores": args.stores, "index_types": args.index_types,
             "queries": args.queries, "milvus_queries": args.milvus_queries}]
        out["settings"].update({k: earlier["settings"][k] for k in ("queries", "milvus_queries")})
    where = gender_filter(FILTER_GENDER)
    for size in args.sizes:
        vectors, catalog = make_catalog(real, labels, size, args.jitter, args.seed)
        allowed = where.mask(catalog["gender"].to_numpy(), catalog["category"].to_numpy(), catalog["price"].to_numpy())
        picks = rng.choice(len(real), size=args.queries, replace=False)
        queries = unit(real[picks] + rng.normal(0, args.jitter, size=(args.queries, real.shape[1])).astype(np.float32))
        t0 = time.perf_counter()
        masks = {"none": None, "gender": allowed}
        truth = {name: exact_top_k(vectors, queries, mask) for name, mask in masks.items()}
        print(f"\n{size:,} items ({allowed.mean():.0%} pass the filter); exact top-{K} in {time.perf_counter() - t0:.1f} s", flush=True)
        for store_kind in args.stores:
            for index_type in args.index_types:
                if size > args.max_milvus and store_kind == "milvus":
                    continue
                workdir = Path(tempfile.mkdtemp(prefix="scale-", dir=args.tmp))
                config = Config(artifacts_dir=workdir, store=store_kind, index_type=index_type,
                                store_uri=args.milvus_uri if store_kind == "milvus" else None)
                gc.collect()
                before = rss_mb()
                t0 = time.perf_counter()
                store = build_store(config, vectors, catalog["product_id"].tolist(), catalog)
                build_s = time.perf_counter() - t0
                memory = rss_mb() - before
                disk = sum(p.stat().st_size for p in workdir.rglob("*") if p.is_file()) / 2**20
                n_q = args.queries if store_kind == "faiss" else min(args.queries, args.milvus_queries)
                for value in SWEEP[store_kind][index_type]:
                    set_search_param(store, value)
                    entry = {"items": size, "store": store_kind, "index": index_type, "param": value,
                             "param_name": {"hnsw": "efSearch", "ivf": "nprobe"}.get(index_type),
                             "target": milvus_target(args.milvus_uri) if store_kind == "milvus" else "embedded",
                             "build_s": round(build_s, 2), "memory_mb": round(memory, 1), "disk_mb": round(disk, 1), "queries": n_q}
                    for name, filt in (("none", None), ("gender", where)):
                        rows, ms = time_queries(store, queries[:n_q], filt)
                        kth, exact_rows = truth[name][0][:n_q, -1], truth[name][1][:n_q]
                        entry[name] = {"recall_at_10": round(recall(rows, queries[:n_q], vectors, kth, masks[name]), 4),
                                       "strict_recall_at_10": round(strict_recall(rows, exact_rows), 4),
                                       "median_ms": round(float(np.median(ms)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3)}
                    out["runs"].append(entry)
                    print(f"  {store_kind:6} {index_type:4} {entry['param_name'] or '':8} {value!s:>4}  build {build_s:7.1f} s  "
                          f"mem {memory:7.0f} MB | recall {entry['none']['recall_at_10']:.3f} "
                          f"({entry['none']['strict_recall_at_10']:.3f}) median {entry['none']['median_ms']:.3f} ms "
                          f"p95 {entry['none']['p95_ms']:.3f} | filtered recall {entry['gender']['recall_at_10']:.3f} "
                          f"({entry['gender']['strict_recall_at_10']:.3f}) "
                          f"median {entry['gender']['median_ms']:.3f} ms p95 {entry['gender']['p95_ms']:.3f}", flush=True)
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(out, indent=2) + "\n")
                if hasattr(store, "close"):
                    store.close()
                del store
                shutil.rmtree(workdir, ignore_errors=True)
        del vectors, catalog
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts-dir", type=Path, default=Path("artifacts"), help="a build whose image encoder embeds the images")
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/.cache/fashion_mnist_embeddings.npz"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--stores", nargs="+", default=["faiss", "milvus"], choices=["faiss", "milvus"])
    parser.add_argument("--index-types", nargs="+", default=["flat", "hnsw", "ivf"], choices=["flat", "hnsw", "ivf"])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--milvus-queries", type=int, default=100)
    parser.add_argument("--max-milvus", type=int, default=1_000_000, help="largest catalog to load into Milvus")
    parser.add_argument("--milvus-uri", default=None,
                        help="a Milvus server (http://host:19530) instead of Milvus Lite in a temp folder")
    parser.add_argument("--milvus-server", action="store_true",
                        help="start a Milvus 2.3 standalone server (PyPI's `milvus`, as the tests do) in a temp folder, "
                             "measure it, stop it")
    parser.add_argument("--jitter", type=float, default=None,
                        help="noise per dimension of the copies (default: the median real nearest-neighbour distance / sqrt(dim))")
    parser.add_argument("--threads", type=int, default=2, help="FAISS threads (the machine has 2 cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmp", type=Path, default=None, help="where stores are built (removed after each)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.json"))
    parser.add_argument("--append", action="store_true", help="keep the runs already in --out and add these")
    parser.add_argument("--smoke", action="store_true",
                        help="seconds: 2,000 real items, 3,000 in the stores, 20 queries, FAISS and Milvus Lite; "
                             "writes only to --out, in a temp folder by default")
    args = parser.parse_args()
    args.real_items = None
    if args.smoke:
        scratch = Path(tempfile.mkdtemp(prefix="scale-smoke-"))
        args.real_items, args.sizes, args.queries, args.milvus_queries = 2000, [3000], 20, 10
        args.cache = scratch / "embeddings.npz"
        if args.out == parser.get_default("out"):
            args.out = scratch / "scale.json"
    if not args.milvus_server:
        run(args)
    else:
        from tests.milvus_server import MilvusServerProcess, missing

        if missing():
            parser.error(missing())
        with tempfile.TemporaryDirectory(prefix="milvus-bench-") as folder:
            server = MilvusServerProcess(Path(folder))
            args.milvus_uri = server.start()
            try:
                run(args)
            finally:
                server.stop()
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
