from __future__ import annotations

import numpy as np
import pandas as pd

from multimodal.app import charts


def _metrics() -> dict:
    topk = {str(k): 0.5 + k / 20 for k in (1, 3, 5, 7, 9)}
    ranking = {"top_k_accuracy": topk, "precision_at_k": {"1": 0.5, "10": 0.4}, "mrr": 0.6, "map_at_10": 0.5, "ndcg_at_10": 0.55}
    text = {"top_k_accuracy": topk, "category_p_at_k": 0.9, "strict_p_at_k": 0.8, "category_mrr": 0.9, "strict_mrr": 0.8}
    return {
        "image": {"learned": {**ranking, "per_category": {"Bag": {"p_at_1": 0.9, "p_at_10": 0.8, "mrr": 0.9}}},
                  "baselines": {"raw_pixels": ranking, "pca_64": ranking}},
        "text": {"fused": text, "mapped_vector_only": text, "sentence_only": text},
        "classifier": {"accuracy": 0.5, "labels": ["a", "b"], "confusion": [[3, 1], [2, 4]]},
        "training": {"image": {"history": {"loss": [2.0, 1.0], "val_p_at_1": [0.5, 0.7]}},
                     "text": {"history": {"loss": [0.1], "val_loss": [0.2]}}},
    }


def test_every_chart_builds_from_metrics_with_its_data() -> None:
    m = _metrics()
    fig = charts.top_k_figure(m)
    assert len(fig.data) == 6  # 3 image methods + 3 text methods
    assert len(charts.ranking_bars(m).data) == 3
    assert len(charts.text_bars(m).data) == 3
    assert len(charts.per_category_figure(m).data) == 2
    assert charts.confusion_figure(m).data[0].z.tolist() == [[3, 1], [2, 4]]
    assert len(charts.training_curves(m).data) == 4


def test_embedding_map_has_a_point_per_item_and_hover_titles() -> None:
    vectors = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    catalog = pd.DataFrame({"product_id": [f"P{i}" for i in range(30)], "title": [f"t{i}" for i in range(30)],
                            "category": ["Bag", "Coat", "Dress"] * 10, "gender": ["Men"] * 30, "price": [1.0] * 30})
    fig = charts.embedding_map(vectors, catalog)
    assert sum(len(trace.x) for trace in fig.data) == 30
    assert {trace.name for trace in fig.data} == {"Bag", "Coat", "Dress"}


def test_scale_figure_draws_one_line_per_engine_and_filter() -> None:
    from multimodal.app.charts import scale_figure

    def run(store, index, param, recall):
        point = {"recall_at_10": recall, "median_ms": 0.5 + (param or 0) / 100, "p95_ms": 1.0}
        return {"items": 1000, "store": store, "index": index, "param": param, "param_name": "efSearch" if param else None,
                "none": point, "gender": point}

    results = {"runs": [run("faiss", "hnsw", 16, 0.9), run("faiss", "hnsw", 64, 0.99), run("milvus", "flat", None, 1.0)]}
    fig = scale_figure(results)
    names = {(trace.name, trace.line.dash) for trace in fig.data}
    assert len(fig.data) == 4 and {name for name, _ in names} == {"faiss hnsw, no filter", "faiss hnsw, gender filter",
                                                                  "milvus flat, no filter", "milvus flat, gender filter"}
    assert scale_figure({"runs": []}).layout.title.text.startswith("No scale benchmark")
