"""docs/results.md is generated from JSON, never typed: it matches the JSON it was written from."""

from __future__ import annotations

import json
from pathlib import Path

from multimodal.evaluation.results_doc import render, render_from, write_results

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _metrics() -> dict:
    ranking = {"top_k_accuracy": {"1": 0.8123, "5": 0.95}, "precision_at_k": {"10": 0.7456}, "mrr": 0.85,
               "map_at_10": 0.7, "ndcg_at_10": 0.75}
    return {"created_at": "2026-12-03T10:00:00+0000", "held_out_queries": 1000, "catalog_items": 4000,
            "image": {"learned": ranking, "baselines": {"raw_pixels": {**ranking, "mrr": 0.5432}},
                      "find_this_product": {"items": 300, "shipped_ranking": {"r_at_1": 0.9871, "r_at_10": 1.0}}},
            "classifier": {"accuracy": 0.9012},
            "latency": {"repeats": 50, "image_query_ms": {"median": 7.71, "p95": 11.8, "max": 18.0},
                        "text_query_ms": {"median": 17.6, "p95": 26.3, "max": 51.7}}}


def test_every_figure_of_the_json_is_on_the_page() -> None:
    page = render({"Fashion-MNIST": _metrics()}, {"load": {"created_at": "x", "rounds": [{"clients": 8, "qps": 101.25, "errors": 0}]}},
                  {"commit": "abc1234"})
    for figure in ("0.812", "0.746", "0.543", "0.987", "0.901", "7.710", "17.6", "101.2", "abc1234", "4,000"):
        assert figure in page


def test_the_same_json_always_gives_the_same_page(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps(_metrics()))
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "scale.json").write_text(json.dumps({"runs": [{"items": 10, "none": {"recall_at_10": 1.0}}]}))
    out = write_results({"Fashion-MNIST": metrics}, bench, tmp_path / "docs" / "results.md", commit="c0ffee",
                        machine=lambda: "test")
    assert out.read_text() == render_from(tmp_path / "docs" / "results")
    assert "c0ffee" in out.read_text() and "| 10 | 1.000 |" in out.read_text()


def test_the_committed_results_page_matches_the_json_it_was_written_from() -> None:
    assert (DOCS / "results.md").read_text() == render_from(DOCS / "results")


def test_a_folder_catalogs_figures_get_their_own_part() -> None:
    by = {"shipped_ranking": {"p_at_1": 0.8321, "p_at_10": 0.7312, "mrr": 0.88},
          "raw_pixels": {"p_at_1": 0.7011, "p_at_10": 0.5633, "mrr": 0.75}}
    folder = {"catalog": "shop", "category_column": "articleType", "queries": 1859, "catalog_items": 7434, "category": by,
              "attributes": {"baseColour": {"shipped_ranking": {"p_at_1": 0.5, "same_in_5": 0.7777}}},
              "find_this_product": {"items": 300, "shipped_ranking": {"r_at_1": 0.9555, "r_at_10": 0.9944}},
              "own_image_first": 1.0, "classifier_accuracy": 0.8}
    text = {"queries": 360, "fused": {"overall": 0.9123, "unseen_words": 0.8, "per_group": {"colour": 0.93}},
            "bm25_only": {"overall": 0.5, "unseen_words": 0.4, "per_group": {"colour": 0.6}}}
    page = render({"shop": {"folder": folder, "folder_text": text}}, {}, {"commit": "x"})
    assert "# shop" in page and "articleType P@1" in page
    for figure in ("0.832", "0.731", "0.701", "0.778", "0.956", "0.994", "0.912", "7,434"):
        assert figure in page


def test_a_benchmark_of_nested_figures_and_its_appended_runs_are_on_the_page() -> None:
    latency = {"created_at": "x", "repeats": 200, "text_query_ms": {"median": 26.04, "p95": 37.2}}
    scale = {"created_at": "2026-11-25", "runs": [{"items": 10, "none": {"recall_at_10": 1.0}}],
             "settings": {"appended": [{"created_at": "2026-12-04", "sizes": [1000000], "stores": ["milvus"]}]}}
    page = render({}, {"latency": latency, "scale": scale}, {"commit": "abc1234"})
    assert "| text_query_ms median | 26.0 |" in page and "| text_query_ms p95 | 37.2 |" in page
    assert "Run 2026-11-25" in page and "Rows added 2026-12-04" in page


def test_shipped_figures_say_where_they_were_measured() -> None:
    shipped = {**_metrics(), "provenance": {"source": "shipped", "measured_at": "2026-12-04T02:29", "machine": "x86_64, 2 CPUs"}}
    assert "shipped with the models (measured 2026-12-04T02:29 on x86_64, 2 CPUs)" in render({"Fashion-MNIST": shipped}, {}, {})
    assert "shipped with the models" not in render({"Fashion-MNIST": _metrics()}, {}, {})
