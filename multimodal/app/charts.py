"""Plotly figures for the evaluation page: plain functions of ``metrics.json`` (testable without Streamlit)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

_NAMES = {
    "learned": "ours: embedding + category-aware ranking", "embedding_only": "ours: embedding only",
    "raw_pixels": "raw pixels", "pca_64": "PCA-64 of pixels",
    "untrained_network": "untrained network", "fused": "fused ranking (ours)",
    "mapped_vector_only": "mapped vector only", "sentence_only": "sentence model only",
    "fused_rrf": "fused, reciprocal-rank fusion", "fused_weighted": "fused, weighted sum", "bm25_only": "BM25 only",
}
INTENT_METHODS: tuple[str, ...] = ("fused", "fused_rrf", "fused_weighted", "bm25_only", "sentence_only", "mapped_vector_only")


def _image_methods(metrics: dict[str, Any]) -> dict[str, Any]:
    """Image search as shipped, the embedding alone (where measured), then the baselines."""
    image = metrics["image"]
    own = {"learned": image["learned"], **({"embedding_only": image["embedding_only"]} if "embedding_only" in image else {})}
    return {**own, **image["baselines"]}


def top_k_figure(metrics: dict[str, Any]) -> go.Figure:
    """Top-K accuracy curves: image search and its baselines, text search and its single signals."""
    rows = []
    image = _image_methods(metrics)
    for name, m in image.items():
        for k, v in m["top_k_accuracy"].items():
            rows.append({"K": int(k), "Top-K accuracy": v, "method": _NAMES.get(name, name), "search": "image → image"})
    for name in ("fused", "mapped_vector_only", "sentence_only"):
        for k, v in metrics["text"][name].get("top_k_accuracy", {}).items():
            rows.append({"K": int(k), "Top-K accuracy": v, "method": _NAMES[name], "search": "text → image"})
    frame = pd.DataFrame(rows)
    fig = px.line(frame, x="K", y="Top-K accuracy", color="method", facet_col="search", markers=True)
    fig.update_yaxes(range=[0, 1.02])
    fig.update_layout(title="Top-K accuracy on held-out queries (a hit = same category in the top K)", legend_title_text="")
    return fig


def shopper_figure(metrics: dict[str, Any]) -> go.Figure | None:
    """What a shopper sees: the very product found from a photo (R@1, R@10), self-retrieval, and
    the category figures on the 10,000 unseen test images, each beside the pixel baseline."""
    image = metrics["image"]
    find = image.get("find_this_product")
    if not find:
        return None
    names = {"shipped_ranking": "image search as shipped", "embedding_only": "embedding only",
             "pixel_correlation": "pixels (correlation)", "raw_pixels": "pixels (Euclidean)"}
    rows = [{"measure": f"find this product R@{k}", "method": names[m], "value": find[m][f"r_at_{k}"]}
            for m in ("shipped_ranking", "embedding_only", "pixel_correlation") for k in (1, 10)]
    if image.get("self_retrieval"):
        rows.append({"measure": "own image first", "method": names["shipped_ranking"], "value": image["self_retrieval"]["rate"]})
    test = image.get("test_images")
    if test:
        for m in ("shipped_ranking", "embedding_only", "raw_pixels"):
            rows.append({"measure": "test images P@1", "method": names[m], "value": test[m]["precision_at_k"]["1"]})
            rows.append({"measure": "test images Top-5", "method": names[m], "value": test[m]["top_k_accuracy"]["5"]})
    fig = px.bar(pd.DataFrame(rows), x="measure", y="value", color="method", barmode="group", text_auto=".3f")
    fig.update_yaxes(range=[0, 1.05])
    fig.update_layout(title=f"What shoppers see: {find['items']} products re-shot as photos, every catalog item's own "
                            "image, and the unseen test images", legend_title_text="")
    return fig


def ranking_bars(metrics: dict[str, Any]) -> go.Figure:
    """MRR, mAP@10 and NDCG@10 of image search against the baselines."""
    image = _image_methods(metrics)
    rows = [
        {"method": _NAMES.get(name, name), "metric": label, "value": m[key]}
        for name, m in image.items()
        for key, label in (("mrr", "MRR"), ("map_at_10", "mAP@10"), ("ndcg_at_10", "NDCG@10"))
    ]
    fig = px.bar(pd.DataFrame(rows), x="metric", y="value", color="method", barmode="group", text_auto=".3f")
    fig.update_yaxes(range=[0, 1.05])
    fig.update_layout(title="Image search: MRR, mAP@10, NDCG@10", legend_title_text="")
    return fig


def text_bars(metrics: dict[str, Any]) -> go.Figure:
    """Text search: precision@10 by category and with every stated constraint, per ranking signal."""
    rows = []
    for name in ("fused", "mapped_vector_only", "sentence_only"):
        m = metrics["text"][name]
        rows += [
            {"method": _NAMES[name], "metric": "category P@10", "value": m["category_p_at_k"]},
            {"method": _NAMES[name], "metric": "all constraints P@10", "value": m["strict_p_at_k"]},
            {"method": _NAMES[name], "metric": "MRR", "value": m["category_mrr"]},
        ]
    fig = px.bar(pd.DataFrame(rows), x="metric", y="value", color="method", barmode="group", text_auto=".3f")
    fig.update_yaxes(range=[0, 1.05])
    fig.update_layout(title="Text search: what each signal contributes", legend_title_text="")
    return fig


def per_category_figure(metrics: dict[str, Any]) -> go.Figure:
    per = metrics["image"]["learned"]["per_category"]
    frame = pd.DataFrame([{"category": c, "P@1": v["p_at_1"], "P@10": v["p_at_10"]} for c, v in per.items()])
    frame = frame.melt(id_vars="category", var_name="metric", value_name="precision")
    fig = px.bar(frame, x="category", y="precision", color="metric", barmode="group", text_auto=".2f")
    fig.update_yaxes(range=[0, 1.05])
    fig.update_layout(title="Image search precision per category", legend_title_text="")
    return fig


def confusion_figure(metrics: dict[str, Any]) -> go.Figure:
    labels = metrics["classifier"]["labels"]
    matrix = np.asarray(metrics["classifier"]["confusion"])
    fig = px.imshow(matrix, x=labels, y=labels, text_auto=True, color_continuous_scale="Blues",
                    labels={"x": "predicted", "y": "true", "color": "queries"})
    fig.update_layout(title=f"Classifier confusion matrix (accuracy {metrics['classifier']['accuracy']:.3f})")
    return fig


def training_curves(metrics: dict[str, Any]) -> go.Figure:
    """Loss and validation curves of the image encoder and the text mapper."""
    training = metrics.get("training", {})
    rows = []
    for model, keys in (("image encoder", ("loss", "val_p_at_1", "val_accuracy")), ("text mapper", ("loss", "val_loss"))):
        history = training.get("image" if model == "image encoder" else "text", {}).get("history", {})
        for key in keys:
            for epoch, value in enumerate(history.get(key, []), start=1):
                rows.append({"epoch": epoch, "value": value, "series": key, "model": model})
    if not rows:
        return go.Figure().update_layout(title="No training history recorded")
    fig = px.line(pd.DataFrame(rows), x="epoch", y="value", color="series", facet_col="model", markers=True)
    fig.update_yaxes(matches=None)
    fig.update_layout(title="Training curves", legend_title_text="")
    return fig


def embedding_map(vectors: np.ndarray, catalog: pd.DataFrame, max_points: int = 4000, seed: int = 0) -> go.Figure:
    """A 2-D PCA map of catalog embeddings coloured by category; hover shows the product."""
    if len(vectors) == 0:
        return go.Figure().update_layout(title="The index is empty")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(vectors), size=min(max_points, len(vectors)), replace=False))
    x = vectors[pick] - vectors[pick].mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T
    frame = catalog.iloc[pick][["product_id", "title", "category", "gender", "price"]].copy()
    frame["PC 1"], frame["PC 2"] = xy[:, 0], xy[:, 1]
    fig = px.scatter(frame, x="PC 1", y="PC 2", color="category", hover_name="title",
                     hover_data={"product_id": True, "gender": True, "price": ":.2f", "PC 1": False, "PC 2": False},
                     opacity=0.7)
    fig.update_traces(marker={"size": 5})
    fig.update_layout(title="Catalog embeddings (PCA to 2-D)", legend_title_text="")
    return fig


def scale_figure(results: dict[str, Any]) -> go.Figure:
    """Recall@10 against median latency per query for each store and index (``benchmarks/scale.py`` JSON).

    One panel per catalog size; each line sweeps the index's search setting (efSearch, nprobe);
    dashed lines are searches with the gender filter applied inside the index.
    """
    rows = []
    for run in results.get("runs", []):
        for filt, label in (("none", "no filter"), ("gender", "gender filter")):
            rows.append({
                "items": f"{run['items']:,} items", "engine": f"{run['store']} {run['index']}", "filter": label,
                "median ms per query": run[filt]["median_ms"], "recall@10": run[filt]["recall_at_10"],
                "setting": f"{run.get('param_name') or 'exact'} {run['param'] if run['param'] is not None else ''}".strip(),
                "n": run["items"],
            })
    if not rows:
        return go.Figure().update_layout(title="No scale benchmark yet: run benchmarks/scale.py")
    frame = pd.DataFrame(rows).sort_values(["n", "engine", "filter", "median ms per query"])
    fig = px.line(frame, x="median ms per query", y="recall@10", color="engine", line_dash="filter", facet_col="items",
                  markers=True, hover_data={"setting": True, "n": False}, log_x=True)
    fig.update_yaxes(range=[min(0.5, float(frame["recall@10"].min())) - 0.02, 1.01])
    fig.update_layout(title="Vector stores at scale: recall@10 against exact search vs. latency (one query at a time)",
                      legend_title_text="")
    return fig


def intent_table(metrics: dict[str, Any]) -> pd.DataFrame | None:
    """The shopper-language set per group (rows) and ranking (columns), plus the unseen-words third
    and the overall score; None when the evaluation predates it."""
    intents = metrics.get("text", {}).get("intents")
    if not intents:
        return None
    methods = [m for m in INTENT_METHODS if m in intents]
    groups = list(intents[methods[0]]["per_group"])
    rows = {g: [intents[m]["per_group"].get(g, np.nan) for m in methods] for g in groups}
    for extra in ("unseen_words", "seen_words", "overall"):
        rows[extra] = [intents[m][extra] for m in methods]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=[_NAMES.get(m, m) for m in methods])
    table.index.name = "group"
    return table


def intent_figure(metrics: dict[str, Any]) -> go.Figure:
    """Per group: the share of the top 10 meeting every stated constraint, fused ranking against each signal alone."""
    table = intent_table(metrics)
    if table is None:
        return go.Figure().update_layout(title="No shopper-language evaluation yet (run `python -m multimodal evaluate`)")
    keep = [c for c in table.columns if c in (_NAMES["fused"], _NAMES["bm25_only"], _NAMES["sentence_only"], _NAMES["mapped_vector_only"])]
    frame = table[keep].reset_index().melt(id_vars="group", var_name="ranking", value_name="score")
    fig = px.bar(frame, x="group", y="score", color="ranking", barmode="group", text_auto=".2f")
    fig.update_yaxes(range=[0, 1.05])
    fig.add_hline(y=0.85, line_dash="dot", annotation_text="group target 0.85")
    fig.update_layout(title="Shopper-language queries: share of the top 10 meeting every stated constraint", legend_title_text="")
    return fig


def folder_bars(metrics: dict[str, Any]) -> go.Figure:
    """A folder catalog's image search beside raw pixels: category P@1 and P@10 per ranking."""
    folder = metrics["folder"]
    names = {**_NAMES, "shipped_ranking": "ours: as served (embedding, category, colour, same product)"}
    rows = [{"ranking": names.get(name, name), "figure": figure, "value": r[key]}
            for name, r in folder["category"].items() for figure, key in (("P@1", "p_at_1"), ("P@10", "p_at_10"))]
    fig = px.bar(pd.DataFrame(rows), x="figure", y="value", color="ranking", barmode="group", text_auto=".3f",
                 title=f"Same {folder.get('category_column') or 'category'} among the first results (held-out products)")
    fig.update_yaxes(range=[0, 1])
    return fig


def folder_per_category(metrics: dict[str, Any]) -> go.Figure:
    """P@1 of image search per category, worst first."""
    per = metrics["folder"]["per_category"]
    frame = pd.DataFrame([{"category": name, "P@1": r["p_at_1"], "queries": r["queries"]} for name, r in per.items()])
    frame = frame.sort_values("P@1")
    fig = px.bar(frame, x="P@1", y="category", orientation="h", hover_data=["queries"], title="Image search P@1 per category")
    fig.update_layout(height=max(400, 16 * len(frame)))
    return fig


def folder_text_table(metrics: dict[str, Any]) -> pd.DataFrame | None:
    """Shopper queries made from the catalog's values: score per group and signal."""
    text = metrics.get("folder_text") or {}
    methods = [m for m in ("fused", "bm25_only", "sentence_only", "mapped_vector_only") if m in text]
    if not methods:
        return None
    groups = list(text[methods[0]]["per_group"])
    table = {m: {**text[m]["per_group"], "unseen words": text[m]["unseen_words"], "overall": text[m]["overall"]} for m in methods}
    return pd.DataFrame(table).reindex([*groups, "unseen words", "overall"])
