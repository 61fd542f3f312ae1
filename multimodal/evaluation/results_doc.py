"""``docs/results.md``, written from the served ``metrics.json`` and the benchmark JSON by
``python -m multimodal results``: no figure is ever typed by hand. The JSON it was written from is
copied beside it (``docs/results/``), so a test can render it again and compare."""

from __future__ import annotations

import json
import math
import platform
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCHMARKS = ("latency", "scale", "load", "gender_filter", "outside_photos")


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; numbers get three decimals below 10, one above."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _get(data: dict[str, Any], path: str, default: Any = None) -> Any:
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def _image_section(m: dict[str, Any]) -> list[str]:
    image = m.get("image", {})
    if not image:
        return []
    rows = []
    named = [("learned (embedding + category-aware ranking)", image.get("learned")),
             ("embedding only", image.get("embedding_only")), *image.get("baselines", {}).items()]
    for name, r in named:
        if r:
            rows.append([name, _get(r, "top_k_accuracy.1"), _get(r, "top_k_accuracy.5"), _get(r, "precision_at_k.10"),
                         r.get("mrr"), r.get("map_at_10"), r.get("ndcg_at_10")])
    out = [f"## Image search\n\n{m.get('held_out_queries', 0):,} held-out products as queries against "
           f"{m.get('catalog_items', 0):,} catalog items; relevant = same category.\n",
           table(["ranking", "Top-1", "Top-5", "P@10", "MRR", "mAP@10", "NDCG@10"], rows)]
    if "find_this_product" in image:
        f = image["find_this_product"]
        out.append(f"\nFind this product from a re-shot photo ({f['items']:,} catalog items, darker, off-centre, "
                   "rescaled, JPEG, on another background):\n")
        out.append(table(["ranking", "R@1", "R@10"], [[n, _get(f, f"{n}.r_at_1"), _get(f, f"{n}.r_at_10")]
                                                       for n in ("shipped_ranking", "embedding_only", "pixel_correlation")
                                                       if n in f]))
    extra = [["own image first", _get(image, "self_retrieval.rate")],
             ["similarity of result 1 minus result 10", _get(image, "similarity_gap.shipped_ranking")],
             ["classifier accuracy", _get(m, "classifier.accuracy")]]
    out.append("\n" + table(["figure", "value"], [r for r in extra if r[1] is not None]))
    return out


def _text_section(m: dict[str, Any]) -> list[str]:
    t = m.get("text", {})
    if not t:
        return []
    out = [f"## Text search\n\n{t.get('queries', 0):,} held-out shopper queries with unseen wording:\n",
           table(["signal", "category P@10", "strict P@10", "category MRR", "strict MRR"],
                 [[n, t[n].get("category_p_at_k"), t[n].get("strict_p_at_k"), t[n].get("category_mrr"), t[n].get("strict_mrr")]
                  for n in ("fused", "mapped_vector_only", "sentence_only") if n in t])]
    intents = t.get("intents")
    if intents:
        methods = [n for n in ("fused", "fused_rrf", "bm25_only", "sentence_only", "mapped_vector_only") if n in intents]
        groups = list(intents["fused"].get("per_group", {}))
        rows = [[g, *(_get(intents, f"{n}.per_group.{g}") for n in methods)] for g in groups]
        rows += [[g, *(intents[n].get(g) for n in methods)] for g in ("unseen_words", "seen_words", "overall")]
        out.append(f"\nThe shopper-language set: {intents.get('queries', 0):,} generated queries; score = share of the "
                   "top 10 meeting every stated constraint, over min(10, items meeting them):\n")
        out.append(table(["group", *methods], rows))
    u = t.get("understanding", {})
    if "false_parse_rate" in u:
        out.append(f"\nFalse parses on {u['ordinary_words']:,} ordinary English words: {u['false_parse_rate']:.4f} alone, "
                   f"{u['false_parse_rate_before_a_garment']:.4f} before a garment word.")
    return out


def _folder_section(m: dict[str, Any]) -> list[str]:
    f = m.get("folder")
    if not f:
        return []
    column = f.get("category_column") or "category"
    out = [f"## Image search on {f.get('catalog', 'the catalog')}\n\n{f['queries']:,} held-out products as queries against "
           f"{f['catalog_items']:,} catalog items; relevant = same `{column}`.\n",
           table(["ranking", f"{column} P@1", "P@10", "MRR"],
                 [[n, r["p_at_1"], r["p_at_10"], r["mrr"]] for n, r in f["category"].items()])]
    rows = [[f"{name} ({ranking})", r["p_at_1"], r["same_in_5"]] for name, by in f.get("attributes", {}).items()
            for ranking, r in by.items() if ranking != "embedding_only"]
    if rows:
        out += ["\nThe other attributes of the first results:\n", table(["attribute (ranking)", "P@1", "same in first 5"], rows)]
    find = f.get("find_this_product")
    if find:
        out += [f"\nFind this product from a re-shot photo ({find['items']:,} products):\n",
                table(["ranking", "R@1", "R@10"], [[n, r["r_at_1"], r["r_at_10"]] for n, r in find.items() if isinstance(r, dict)])]
    out += ["\n" + table(["figure", "value"], [["own image first", f.get("own_image_first")],
                                                ["classifier accuracy", f.get("classifier_accuracy")]])]
    text = m.get("folder_text", {})
    methods = [n for n in ("fused", "bm25_only", "sentence_only", "mapped_vector_only") if n in text]
    if methods:
        groups = list(text[methods[0]]["per_group"])
        body = [[g, *(text[n]["per_group"].get(g) for n in methods)] for g in groups]
        body += [[g, *(text[n][g] for n in methods)] for g in ("unseen_words", "overall")]
        out += [f"\nShopper queries made from held-out products' values ({text['queries']:,}; a third in other wording); "
                "score = share of the top 10 meeting every stated value:\n", table(["group", *methods], body)]
    return out


def _latency_section(m: dict[str, Any]) -> list[str]:
    lat = m.get("latency")
    if not lat:
        return []
    rows = [[kind, _get(lat, f"{key}.median"), _get(lat, f"{key}.p95"), _get(lat, f"{key}.max")]
            for kind, key in (("image", "image_query_ms"), ("text", "text_query_ms"))]
    return [f"## Latency in the engine\n\nWarm queries, {lat.get('repeats', 0)} each, milliseconds:\n",
            table(["query", "median", "p95", "max"], rows)]


def _scalar_rows(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """A header and rows of the scalar fields (nested dicts flattened one level) of benchmark rows."""
    flat = []
    for row in rows:
        cells: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, dict):
                cells.update({f"{key} {k}": v for k, v in value.items() if not isinstance(v, (dict, list))})
            elif not isinstance(value, list):
                cells[key] = value
        flat.append(cells)
    header = list(dict.fromkeys(k for cells in flat for k in cells))
    return header, [[cells.get(k) for k in header] for cells in flat]


def _benchmark_section(name: str, data: dict[str, Any]) -> list[str]:
    rows = data.get("rounds") or data.get("runs") or data.get("results")
    created = data.get("created_at", "date not recorded")
    out = [f"### `benchmarks/{name}.py`\n\nRun {created}; machine {json.dumps(data.get('machine', {}))}.\n"]
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        header, body = _scalar_rows(rows)
        out.append(table(header, body))
    else:
        scalars = [[k, v] for k, v in data.items() if not isinstance(v, (dict, list)) and k != "created_at"]
        scalars += [[f"{k} {sub}", v] for k, part in data.items() if isinstance(part, dict) and k != "machine"
                    for sub, v in part.items() if not isinstance(v, (dict, list))]
        out.append(table(["figure", "value"], scalars))
    appended = data.get("settings", {}).get("appended") if isinstance(data.get("settings"), dict) else None
    for run in appended or []:
        out.append(f"\nRows added {run.get('created_at')}: sizes {run.get('sizes')}, stores {run.get('stores')}, "
                   f"indexes {run.get('index_types')}.")
    return out


def render(metrics: dict[str, dict[str, Any]], benchmarks: dict[str, dict[str, Any]], provenance: dict[str, Any]) -> str:
    """The whole results page, one part per catalog measured; the same inputs always give the same text."""
    out = ["# Results", "",
           "Written by `python -m multimodal results`; do not edit by hand. Every figure below comes from the JSON "
           "copied in [results/](results/), which a test renders again and compares with this file.", "",
           table(["source", "run"], [[k, v] for k, v in provenance.items()]), ""]
    if not metrics:
        out += ["No `metrics.json` was served when this page was written: run `python -m multimodal build`.", ""]
    for name, m in metrics.items():
        shipped = m.get("provenance", {})
        note = (f" These figures shipped with the models (measured {shipped.get('measured_at')} on {shipped.get('machine')}); "
                "`python -m multimodal evaluate` measures them here." if shipped.get("source") == "shipped" else "")
        out += [f"# {name}", "", f"`metrics.json` created {m.get('created_at', 'at a time not recorded')}.{note}", ""]
        for section in (_image_section, _folder_section, _text_section, _latency_section):
            part = section(m)
            out += [*part, ""] if part else []
    if benchmarks:
        out += ["# Benchmarks", ""]
        for name in sorted(benchmarks):
            out += [*_benchmark_section(name, benchmarks[name]), ""]
    return "\n".join(out).rstrip() + "\n"


def _git_commit(root: Path) -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def write_results(metrics_paths: dict[str, Path], bench_dir: Path, out: Path, commit: str | None = None,
                  machine: Callable[[], str] | None = None) -> Path:
    """Copy the JSON sources next to ``out`` (``results/``) and write ``out`` from those copies.
    ``metrics_paths``: a ``metrics.json`` per catalog, by the name its part of the page gets."""
    sources = out.parent / "results"
    if sources.is_dir():
        shutil.rmtree(sources)
    sources.mkdir(parents=True)
    order = []
    for name, path in metrics_paths.items():
        if path is not None and Path(path).is_file():
            slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
            shutil.copyfile(path, sources / f"metrics-{slug}.json")
            order.append([name, f"metrics-{slug}.json"])
    for name in BENCHMARKS:
        if (bench_dir / f"{name}.json").is_file():
            shutil.copyfile(bench_dir / f"{name}.json", sources / f"{name}.json")
    provenance = {
        "commit": commit or _git_commit(Path.cwd()),
        "machine": (machine or (lambda: f"{platform.machine()}, {platform.system()}"))(),
    }
    (sources / "provenance.json").write_text(json.dumps({**provenance, "catalogs": order}, indent=2) + "\n")
    out.write_text(render_from(sources))
    return out


def render_from(sources: Path) -> str:
    """``render`` of the JSON in a ``results/`` folder, as ``write_results`` left it."""
    def load(name: str) -> Any:
        path = sources / name
        return json.loads(path.read_text()) if path.is_file() else None

    provenance = load("provenance.json") or {}
    metrics = {name: data for name, file in provenance.pop("catalogs", []) if (data := load(file)) is not None}
    benchmarks = {name: data for name in BENCHMARKS if (data := load(f"{name}.json")) is not None}
    return render(metrics, benchmarks, provenance)
