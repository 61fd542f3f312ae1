"""Query latency of the built engine: median and p95 milliseconds, image and text.

    python benchmarks/latency.py [--artifacts-dir artifacts] [--data-dir data] [--repeats 200] [--json] [--smoke]

Writes benchmarks/results/latency.json (``--out``); ``--smoke`` runs 3 queries a set and writes
nothing unless ``--out`` is given (the tests run it on the toy build).

Times what the app does for one query, end to end (see ``multimodal.evaluation.evaluate.measure_latency``),
on held-out items and on shopper queries worded unlike any training text. Text queries are timed
the first time they are seen (the sentence-vector cache cleared before each), on three sets: broad
(50 of one or two words), narrow (40 of five words or more) and the load benchmark's mix (100);
and once more with every cache of words cleared too (BM25 per word, phrases read, dictionary).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts-dir", type=Path, default=Path("artifacts"))
    parser.add_argument("--data-dir", type=Path, default=None, help="default: the one the build used")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="3 queries, no file written (a check that it runs)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/latency.json)")
    args = parser.parse_args()
    if args.smoke:
        args.repeats = 3
    out = args.out or (None if args.smoke else Path(__file__).resolve().parent / "results" / "latency.json")

    from multimodal import SearchEngine
    from multimodal.catalog.prepared import load_prepared
    from multimodal.errors import MultimodalError
    from multimodal.evaluation.evaluate import measure_latency
    from multimodal.evaluation.folder_text import shopper_queries
    from multimodal.models.text_data import eval_queries

    try:
        engine = SearchEngine.load(args.artifacts_dir, args.data_dir)
        prepared = load_prepared(engine.config.data_dir)
        rows, images = prepared.part("query")
        if engine.roles.is_folder:  # your own catalog: shopper queries made from its own values
            texts = shopper_queries(engine, prepared, engine.config.seed)
        else:
            texts = [q.text for q in eval_queries(rows, seed=engine.config.seed)]
        result = measure_latency(engine, images, texts, args.repeats)
    except MultimodalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result["results"] = [{"query": "image (held-out photos)", "caches": "warm", "queries": result["repeats"],
                          **result["image_query_ms"]}]
    for name, set_texts in text_sets(texts, engine.config.seed, args.repeats if args.smoke else None).items():
        for cold in (False, True):
            result["results"].append({"query": f"text, {name}", "caches": "all cleared" if cold else "query vector cleared",
                                      "queries": len(set_texts), **first_seen(engine, set_texts, cold)})
    result["machine"] = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()}
    result["catalog_items"] = len(engine.catalog)
    result["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for row in result["results"][1:]:
        print(f"  {row['query']:20} ({row['queries']:3}, {row['caches']:21}) median {row['median']:6.1f} ms   p95 {row['p95']:6.1f} ms")
    print(f"{result['repeats']} warm queries each against {result['catalog_items']:,} items on {result['machine']['cpus']} CPU(s)")
    for name, key in (("image query", "image_query_ms"), ("text query", "text_query_ms")):
        r = result[key]
        print(f"  {name:12} median {r['median']:6.1f} ms   p95 {r['p95']:6.1f} ms   max {r['max']:6.1f} ms")
    return 0


def text_sets(texts: list[str], seed: int, size: int | None = None) -> dict[str, list[str]]:
    """Broad (one or two words), narrow (five or more) and the load benchmark's mix, drawn with ``seed``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    distinct = list(dict.fromkeys(texts))

    def draw(pool: list[str], n: int) -> list[str]:
        n = min(size or n, len(pool))
        return [pool[i] for i in rng.choice(len(pool), size=n, replace=False)] if n else []

    return {"broad": draw([t for t in distinct if len(t.split()) <= 2], 50),
            "narrow": draw([t for t in distinct if len(t.split()) >= 5], 40),
            "load mix": draw(distinct, 100)}


def first_seen(engine, texts: list[str], cold: bool) -> dict[str, float]:  # noqa: ANN001 - a SearchEngine
    """Milliseconds of each query run once, its vector never cached; ``cold``: no word seen before either."""
    import numpy as np

    engine.search_text("something to wear", k=10)  # the models traced and the indexes touched
    times = []
    for text in texts:
        engine.sentence_encoder.clear_cache()
        if cold:
            engine.lexical.clear_cache()
            engine.matcher.clear_cache()
            if engine.dictionary is not None:
                engine.dictionary.clear_cache()
        t0 = time.perf_counter()
        engine.search_text(text, k=10)
        times.append((time.perf_counter() - t0) * 1000)
    if not times:
        return {"median": float("nan"), "p95": float("nan"), "mean": float("nan"), "max": float("nan")}
    return {"median": float(np.median(times)), "p95": float(np.percentile(times, 95)), "mean": float(np.mean(times)),
            "max": float(np.max(times))}


if __name__ == "__main__":
    raise SystemExit(main())
