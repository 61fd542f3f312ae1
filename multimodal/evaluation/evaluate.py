"""Honest evaluation on held-out queries only: image -> image and text -> image, with baselines."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np

from multimodal.catalog.images import preprocess, preprocess_batch, render_product_photo
from multimodal.catalog.prepared import load_prepared
from multimodal.config import CATEGORIES, Config
from multimodal.evaluation.text_search import METRICS_FILE, TOP_KS, evaluate_text, run_text_evaluation, run_text_only  # noqa: F401 - run_text_only: the CLI's
from multimodal.io import read_json, write_json_atomic
from multimodal.metrics import (
    average_precision_at_k,
    hit_rate_at_k,
    mean_reciprocal_rank,
    ndcg_at_k,
    precision_at_k,
    relevance_by_label,
    top_k_by_inner_product,
    top_k_by_l2,
    unit_rows,
)
from multimodal.models.text_data import eval_queries
from multimodal.search.engine import SearchEngine
from multimodal.search.image_ranking import pixel_features


def ranking_metrics(ranked: np.ndarray, gallery_labels: np.ndarray, query_labels: np.ndarray, k: int = 10) -> dict[str, Any]:
    """Top-K accuracy (K = 1, 3, 5, 7, 9), precision@K, MRR, mAP@10 and NDCG@10 for same-category retrieval."""
    rel = relevance_by_label(ranked, gallery_labels, query_labels)
    n_relevant = np.array([(gallery_labels == q).sum() for q in query_labels])
    return {
        "top_k_accuracy": {str(t): hit_rate_at_k(rel, t) for t in TOP_KS},
        "precision_at_k": {str(t): precision_at_k(rel, t) for t in (*TOP_KS, 10)},
        "mrr": mean_reciprocal_rank(rel),
        "map_at_10": float(average_precision_at_k(rel, k, n_relevant).mean()),
        "ndcg_at_10": float(ndcg_at_k(rel, k, n_relevant).mean()),
    }


def per_category(ranked: np.ndarray, gallery_labels: np.ndarray, query_labels: np.ndarray) -> dict[str, dict[str, float]]:
    rel = relevance_by_label(ranked, gallery_labels, query_labels)
    out = {}
    for label, name in enumerate(CATEGORIES):
        rows = query_labels == label
        if rows.any():
            out[name] = {"p_at_1": precision_at_k(rel[rows], 1), "p_at_10": precision_at_k(rel[rows], 10),
                         "mrr": mean_reciprocal_rank(rel[rows])}
    return out


def _baselines(cat_x: np.ndarray, q_x: np.ndarray, cat_y: np.ndarray, q_y: np.ndarray, config: Config, k: int) -> dict[str, Any]:
    """Raw pixels (Euclidean), PCA-64 of pixels (cosine) and the untrained network, in the same run."""
    from multimodal.models.image_encoder import build_embedding_model, embed

    flat_cat, flat_q = cat_x.reshape(len(cat_x), -1), q_x.reshape(len(q_x), -1)
    out = {"raw_pixels": ranking_metrics(top_k_by_l2(flat_q, flat_cat, k), cat_y, q_y, k)}
    mean = flat_cat.mean(axis=0)
    _, _, vt = np.linalg.svd(flat_cat - mean, full_matrices=False)
    components = vt[: config.embedding_dim].T
    pca_cat, pca_q = unit_rows((flat_cat - mean) @ components), unit_rows((flat_q - mean) @ components)
    out["pca_64"] = ranking_metrics(top_k_by_inner_product(pca_q, pca_cat, k), cat_y, q_y, k)
    import keras

    keras.utils.set_random_seed(config.seed)
    untrained = build_embedding_model(config)
    out["untrained_network"] = ranking_metrics(
        top_k_by_inner_product(embed(untrained, q_x), embed(untrained, cat_x), k), cat_y, q_y, k)
    return out


def _upload_robustness(engine: SearchEngine, q_images: np.ndarray, q_y: np.ndarray, cat_y: np.ndarray, n: int, seed: int) -> dict[str, Any]:
    """P@1 of held-out items given as 28x28 originals vs re-shot as shoppers' photos (and naively resized),
    ranked exactly as image search ranks them."""
    from PIL import Image

    rng = np.random.default_rng(seed + 5)
    pick = rng.choice(len(q_images), size=min(n, len(q_images)), replace=False)
    photos = [render_product_photo(q_images[i], rng) for i in pick]
    naive = np.stack([
        np.asarray(Image.open(io.BytesIO(p)).convert("L").resize((28, 28)), np.float32) / 255.0 for p in photos
    ])
    inputs = {
        "original_28x28": preprocess_batch(q_images[pick]),
        "shopper_photo": np.stack([preprocess(p) for p in photos]),
        "shopper_photo_naive_resize": naive,
    }
    result: dict[str, Any] = {}
    for name, x in inputs.items():
        vectors, probs = engine.image_encoder.encode(x)
        rel = relevance_by_label(engine.rank_image(vectors, probs, 10, inputs=x).rows, cat_y, q_y[pick])
        result[name] = {"p_at_1": precision_at_k(rel, 1), "p_at_10": precision_at_k(rel, 10)}
    result["items"] = int(len(pick))
    return result


def _recall(ranked: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    hits = np.asarray(ranked) == np.asarray(targets)[:, None]
    return {"r_at_1": float(hits[:, :1].any(axis=1).mean()), "r_at_10": float(hits[:, :10].any(axis=1).mean())}


def find_this_product(engine: SearchEngine, n: int, seed: int, k: int = 10) -> dict[str, Any]:
    """Catalog products re-shot as shoppers' photos: is the very product found (R@1, R@10)?

    Each of ``n`` catalog items is rendered as a photo (tint, darkness, size, position, noise,
    JPEG quality vary) and searched three ways: the shipped image ranking, the embedding's
    nearest neighbours alone, and pixel correlation after the same preprocessing (the baseline).
    """
    rng = np.random.default_rng(seed + 11)
    targets = rng.choice(len(engine.catalog), size=min(n, len(engine.catalog)), replace=False)
    photos = np.stack([preprocess(render_product_photo(engine.images[i], rng)) for i in targets])
    vectors, probs = engine.image_encoder.encode(photos)
    shipped = engine.rank_image(vectors, probs, k, inputs=photos).rows
    _, nearest = engine.index.search(vectors, k)
    pixels = top_k_by_inner_product(pixel_features(photos), pixel_features(preprocess_batch(engine.images)), k)
    return {"items": int(len(targets)), "shipped_ranking": _recall(shipped, targets),
            "embedding_only": _recall(nearest, targets), "pixel_correlation": _recall(pixels, targets)}


def self_retrieval(engine: SearchEngine, chunk: int = 1024) -> dict[str, Any]:
    """Share of catalog items whose own image returns them first; every miss checked for a pixel duplicate."""
    n = len(engine.catalog)
    first = np.empty(n, np.int64)
    for start in range(0, n, chunk):
        x = preprocess_batch(engine.images[start : start + chunk])
        vectors, probs = engine.image_encoder.encode(x)
        first[start : start + chunk] = engine.rank_image(vectors, probs, 1, inputs=x).rows[:, 0]
    misses = np.flatnonzero(first != np.arange(n))
    duplicates = [bool(np.array_equal(engine.images[i], engine.images[first[i]])) for i in misses if first[i] >= 0]
    return {"items": int(n), "rate": float(1.0 - len(misses) / max(n, 1)), "misses": int(len(misses)),
            "misses_that_are_pixel_duplicates": int(sum(duplicates)),
            "examples": [[str(engine.catalog["product_id"][i]), str(engine.catalog["product_id"][first[i]])]
                         for i in misses[:10] if first[i] >= 0]}


def similarity_gap(similarity: np.ndarray) -> float:
    """Mean similarity of result 1 minus that of result 10, as the cards show them (collapse reads ~0)."""
    similarity = np.asarray(similarity, np.float64)
    if similarity.ndim != 2 or similarity.shape[1] < 10:
        return float("nan")
    return float(np.nanmean(similarity[:, 0] - similarity[:, 9]))


def fashion_mnist_test_queries(engine: SearchEngine, config: Config, k: int = 10) -> dict[str, Any] | None:
    """The 10,000 Fashion-MNIST test images as queries against the catalog (category relevance).

    The default catalog comes from the training images only, so none of these were seen in
    training or indexing. Settings are chosen on the held-out split; this is the report.
    """
    from multimodal.catalog.fashion_mnist import load_fashion_mnist

    if (engine.catalog["source_split"] == "test").any():
        return None  # the full profile's queries are the test images already
    data = load_fashion_mnist(config)
    q_x, q_y = preprocess_batch(data.test_images), data.test_labels.astype(np.int64)
    cat_y = engine.catalog["label"].to_numpy()
    vectors, probs = engine.image_encoder.encode(q_x)
    ranking = engine.rank_image(vectors, probs, k, inputs=q_x)
    _, nearest = engine.index.search(vectors, k)
    flat_cat = preprocess_batch(engine.images).reshape(len(cat_y), -1)
    pixels = top_k_by_l2(q_x.reshape(len(q_x), -1), flat_cat, k)
    return {
        "queries": int(len(q_y)),
        "shipped_ranking": ranking_metrics(ranking.rows, cat_y, q_y, k),
        "embedding_only": ranking_metrics(nearest, cat_y, q_y, k),
        "raw_pixels": ranking_metrics(pixels, cat_y, q_y, k),
        "classifier_accuracy": float(np.mean(np.argmax(probs, axis=1) == q_y)),
        "similarity_gap": similarity_gap(ranking.similarity),
    }


def measure_latency(engine: SearchEngine, images: np.ndarray, texts: list[str], repeats: int = 50) -> dict[str, Any]:
    """Warm wall-clock milliseconds of one query, end to end, as the app runs it.

    Image: PNG bytes -> decode, preprocess, encode, search, result table. Text: a query the
    engine has not seen (its sentence-vector cache is cleared) -> parse, encode, map, search,
    fuse, result table. Each repeat uses a different image and a different query.
    """
    from PIL import Image

    def png(array: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        return buffer.getvalue()

    payloads = [png(images[i % len(images)]) for i in range(repeats + 1)]
    texts = list(dict.fromkeys(texts)) or ["black boots"]
    texts = [texts[i % len(texts)] for i in range(repeats + 1)]
    engine.search_image(payloads[0], k=10)  # warm up: trace the models, touch the index
    engine.search_text(texts[0], k=10)
    image_ms, text_ms = [], []
    for payload, text in zip(payloads[1:], texts[1:]):
        t0 = time.perf_counter()
        engine.search_image(payload, k=10)
        image_ms.append((time.perf_counter() - t0) * 1000)
        engine.sentence_encoder.clear_cache()  # time the model, not the cache of queries seen before
        t0 = time.perf_counter()
        engine.search_text(text, k=10)
        text_ms.append((time.perf_counter() - t0) * 1000)

    def summary(values: list[float]) -> dict[str, float]:
        return {"median": float(np.median(values)), "p95": float(np.percentile(values, 95)),
                "mean": float(np.mean(values)), "max": float(np.max(values))}

    return {"image_query_ms": summary(image_ms), "text_query_ms": summary(text_ms), "repeats": len(image_ms)}


def run_evaluation(config: Config, k: int = 10) -> dict[str, Any]:
    """Every figure of the evaluation, computed now on the held-out queries, written to ``metrics.json``."""
    engine = SearchEngine.load(config.artifacts_dir, config.data_dir)
    if engine.roles.is_folder:
        return _run_folder(config, engine, k)
    prepared = load_prepared(config.data_dir)
    q_rows, q_images = prepared.part("query")
    cat_y = engine.catalog["label"].to_numpy()
    q_y = q_rows["label"].to_numpy()
    cat_x, q_x = preprocess_batch(engine.images), preprocess_batch(q_images)

    q_emb, probs = engine.image_encoder.encode(q_x)
    shipped = engine.rank_image(q_emb, probs, k, inputs=q_x)  # exactly what image search returns
    ranked = shipped.rows
    nearest_similarity, nearest = engine.index.search(q_emb, k)  # the embedding alone
    predicted = np.argmax(probs, axis=1)
    confusion = np.zeros((len(CATEGORIES), len(CATEGORIES)), dtype=np.int64)
    np.add.at(confusion, (q_y, predicted), 1)

    queries = eval_queries(q_rows, seed=config.seed)
    metrics = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "profile": config.profile,
        "catalog_items": int(len(cat_y)),
        "held_out_queries": int(len(q_y)),
        "image": {
            "learned": {**ranking_metrics(ranked, cat_y, q_y, k), "per_category": per_category(ranked, cat_y, q_y),
                        "w_image_category": engine.config.w_image_category},
            "embedding_only": {**ranking_metrics(nearest, cat_y, q_y, k), "per_category": per_category(nearest, cat_y, q_y)},
            "baselines": _baselines(cat_x, q_x, cat_y, q_y, engine.image_encoder.config, k),
            "uploads": _upload_robustness(engine, q_images, q_y, cat_y, config.eval_upload_items, config.seed),
            "similarity_gap": {"shipped_ranking": similarity_gap(shipped.similarity),
                               "embedding_only": similarity_gap(nearest_similarity)},
            "find_this_product": find_this_product(engine, config.eval_product_photos, config.seed, k),
            "self_retrieval": self_retrieval(engine),
            "test_images": fashion_mnist_test_queries(engine, config, k),
        },
        "classifier": {"accuracy": float(np.mean(predicted == q_y)), "confusion": confusion.tolist(),
                       "labels": list(CATEGORIES)},
        "text": {**evaluate_text(engine, queries, k), "examples": [q.text for q in queries[:12]],
                 **run_text_evaluation(engine, config.seed, k)},
        "latency": measure_latency(engine, q_images, [q.text for q in queries], config.eval_latency_repeats),
        "training": _training_histories(config),
    }
    write_json_atomic(config.artifacts_dir / METRICS_FILE, metrics)
    return metrics


def _run_folder(config: Config, engine: SearchEngine, k: int) -> dict[str, Any]:
    """A folder catalog's figures (``folder_eval``), its text set, latency and training curves."""
    from multimodal.evaluation.folder_eval import run_folder_evaluation
    from multimodal.evaluation.folder_text import evaluate_folder_text

    prepared = load_prepared(config.data_dir)
    _, q_images = prepared.part("query")
    text = evaluate_folder_text(engine, prepared, config.seed, k)
    metrics = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "profile": "folder",
        "catalog_items": int(len(engine.catalog)),
        "held_out_queries": int(prepared.part("query")[0].shape[0]),
        "folder": run_folder_evaluation(config, engine, k),
        "folder_text": text,
        "latency": measure_latency(engine, q_images, text.get("examples", []), config.eval_latency_repeats),
        "training": _training_histories(config),
    }
    write_json_atomic(config.artifacts_dir / METRICS_FILE, metrics)
    return metrics


def _training_histories(config: Config) -> dict[str, Any]:
    out = {}
    for name, file in (("image", "image_history.json"), ("text", "text_history.json"), ("image_summary", "image_training.json")):
        path = config.artifacts_dir / file
        if path.is_file():
            out[name] = read_json(path)
    return out
