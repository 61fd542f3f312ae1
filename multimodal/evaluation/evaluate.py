"""Honest evaluation on held-out queries only: image -> image and text -> image, with baselines."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np

from multimodal.catalog.images import preprocess, preprocess_batch, render_product_photo
from multimodal.catalog.prepared import load_prepared
from multimodal.config import CATEGORIES, Config
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
from multimodal.models.text_data import EvalQuery, eval_queries
from multimodal.search.engine import SearchEngine
from multimodal.search.filters import GENDER_FILTERS
from multimodal.search.image_ranking import pixel_features

METRICS_FILE = "metrics.json"
TOP_KS = (1, 3, 5, 7, 9)


def _strict_relevance(engine: SearchEngine, rows: np.ndarray, query: EvalQuery) -> np.ndarray:
    """Every stated constraint holds: category, gender (Men = Men + Unisex ...) and colour."""
    valid = rows >= 0
    safe = np.where(valid, rows, 0)
    ok = valid & (engine._categories[safe] == query.category)
    if query.gender:
        ok &= np.isin(engine._genders[safe], list(GENDER_FILTERS[query.gender.lower()]))
    if query.colour:
        ok &= engine._colours[safe] == query.colour
    return ok


def _pad(rows: np.ndarray, k: int) -> np.ndarray:
    out = np.full(k, -1, dtype=np.int64)
    out[: min(k, len(rows))] = rows[:k]
    return out


def evaluate_text(engine: SearchEngine, queries: list[EvalQuery], k: int = 10) -> dict[str, Any]:
    """Category and strict precision@k and MRR of the fused ranking and of each signal alone.

    ``mapped_vector_only`` is the pure cross-modal path (the query mapped into image space,
    searched in the FAISS index, no parsing, no filters); ``sentence_only`` ranks by the
    sentence model's query-product similarity alone.
    """
    ranked: dict[str, list[np.ndarray]] = {"fused": [], "mapped_vector_only": [], "sentence_only": []}
    for query in queries:
        ranking, _ = engine.rank_text(query.text, k=k)
        ranked["fused"].append(_pad(ranking.rows, k))
        sentence = engine.sentence_encoder.encode_query(query.text)
        _, rows = engine.index.search(engine.mapper.map(sentence), k)
        ranked["mapped_vector_only"].append(_pad(rows[0], k))
        ranked["sentence_only"].append(_pad(np.argsort(-(engine.text_vectors @ sentence), kind="stable")[:k], k))
    out: dict[str, Any] = {"queries": len(queries), "k": k}
    for name, lists in ranked.items():
        rows_arr = np.stack(lists) if lists else np.zeros((0, k), np.int64)
        safe = np.where(rows_arr >= 0, rows_arr, 0)
        category = np.array([q.category for q in queries])
        cat_rel = (rows_arr >= 0) & (engine._categories[safe] == category[:, None])
        strict_rel = np.stack([_strict_relevance(engine, r, q) for r, q in zip(rows_arr, queries)]) if queries else cat_rel
        out[name] = {
            "top_k_accuracy": {str(t): hit_rate_at_k(cat_rel, t) for t in TOP_KS},
            "category_p_at_k": precision_at_k(cat_rel, k),
            "strict_p_at_k": precision_at_k(strict_rel, k),
            "category_mrr": mean_reciprocal_rank(cat_rel),
            "strict_mrr": mean_reciprocal_rank(strict_rel),
        }
    return out


def evaluate_text_intents(engine: SearchEngine, queries: list[Any], k: int = 10) -> dict[str, Any]:
    """The generated shopper-language set (``text_eval``): per group, the share of the top k that
    meets every stated constraint over min(k, items meeting them), for the fused ranking (both
    fusions) and for each signal alone (no parsing, no filters: BM25, sentence model, mapped vector)."""
    from multimodal.evaluation import text_eval

    columns = engine._attribute_columns()
    methods = ("fused", "fused_rrf", "fused_weighted", "bm25_only", "sentence_only", "mapped_vector_only")
    scores: dict[str, list[float]] = {m: [] for m in methods}
    parsed_right = []
    relaxed = 0
    for query in queries:
        relevant = text_eval.relevant_mask(query, columns, engine._prices, engine._genders)
        ranking, parsed = engine.rank_text(query.text, k=k)
        scores["fused"].append(text_eval.query_score(ranking.rows, relevant, k))
        relaxed += bool(ranking.relaxation.dropped)
        for fusion in ("rrf", "weighted"):
            if fusion == engine.config.text_fusion:
                scores[f"fused_{fusion}"].append(scores["fused"][-1])
                continue
            other, _ = engine.rank_text(query.text, k=k, parsed=parsed, fusion=fusion)
            scores[f"fused_{fusion}"].append(text_eval.query_score(other.rows, relevant, k))
        signals = engine.text_signals(query.text)
        for name, key in (("bm25_only", "bm25_score"), ("sentence_only", "text_score"), ("mapped_vector_only", "image_score")):
            values = np.nan_to_num(np.asarray(signals[key], np.float64), nan=-np.inf)
            scores[name].append(text_eval.query_score(np.argsort(-values, kind="stable")[:k], relevant, k))
        parsed_right.append(_states_truth(parsed, query))
    out: dict[str, Any] = {name: text_eval.summarise(queries, np.array(vals)) for name, vals in scores.items()}
    out["fusion"] = engine.config.text_fusion
    out["queries"] = len(queries)
    out["relaxed_queries"] = relaxed
    right = np.array(parsed_right)
    unseen = np.array([q.unseen for q in queries])
    out["parsed_exactly"] = {"all": float(right.mean()) if len(right) else float("nan"),
                             "unseen_words": float(right[unseen].mean()) if unseen.any() else float("nan")}
    out["examples"] = [q.to_dict() for q in queries[:: max(1, len(queries) // 26)]]
    return out


def _states_truth(parsed: Any, query: Any) -> bool:
    """The parser understood exactly what the generated query states (field by field)."""
    for name, values in query.include.items():
        if set(parsed.values(name)) != set(values):
            return False
    for name, values in query.exclude.items():
        if not set(values) <= set(parsed.values(name, negated=True)):
            return False
    return parsed.sort == query.sort and (query.gender is None or parsed.gender == query.gender)


def evaluate_query_understanding(engine: SearchEngine, seed: int = 0) -> dict[str, Any]:
    """False parses on ordinary English words (alone, and before a garment word), and the learned
    layer's threshold as chosen on dev words, with recall on the test words."""
    from multimodal.evaluation import text_eval
    from multimodal.search.query.semantic import choose_threshold

    words = text_eval.ordinary_words()
    if not words:
        return {"skipped": f"no word list at {text_eval.WORD_LIST}; install Debian's wamerican (`make words`)"}
    # The threshold is chosen on the unreviewed dev sample: attribute words there count as false
    # matches, the stricter choice. The reported rates leave out reviewed attribute words.
    dev, sample = text_eval.split_words(words, seed, per_side=engine.config.eval_ordinary_words)
    test, named = text_eval.without_reviewed(sample)
    matcher = engine.matcher
    matcher.nearest(sample)  # one batch for every word: parsing then reads the cache
    alone = [w for w in sample if not engine.parse(w).is_empty()]
    in_context = [w for w, parsed in ((w, engine.parse(f"{w} dress")) for w in sample)
                  if len(parsed.constraints) > 1 or parsed.gender]
    named_set = set(named)
    tuning = choose_threshold(matcher, text_eval.UNSEEN_DEV, dev)
    nearest = matcher.nearest(list(text_eval.UNSEEN_TEST))
    from multimodal.search.query.parser import _MODIFIER_FIELDS
    from multimodal.search.query.semantic import _agrees

    right = [w for w, (a, s) in zip(text_eval.UNSEEN_TEST, nearest) if s >= matcher.threshold and _agrees(a, text_eval.UNSEEN_TEST[w])]
    # The dictionary layer reads a word first, within the fields of the word's own slot kind
    # (a colour, material or style word stands before a garment; a garment word alone).
    dictionary = engine.dictionary
    read, read_right = [], []
    for word, (name, values) in text_eval.UNSEEN_TEST.items():
        found = dictionary.meaning(word, ("category",) if name == "category" else _MODIFIER_FIELDS) if dictionary else None
        if found is not None:
            read.append(word)
            if found[0] == name and set(found[1]) & set(values):
                read_right.append(word)
    either = set(read_right) | {w for w in right if w not in read}
    return {
        "ordinary_words": len(test),
        "false_parse_rate": sum(w not in named_set for w in alone) / len(test),
        "false_parses": [w for w in alone if w not in named_set][:50],
        "false_parse_rate_before_a_garment": sum(w not in named_set for w in in_context) / len(test),
        "false_parses_before_a_garment": [w for w in in_context if w not in named_set][:50],
        # Every drawn word, the ones a review found to name an attribute included:
        "unreviewed": {"ordinary_words": len(sample), "false_parse_rate": len(alone) / len(sample),
                       "false_parse_rate_before_a_garment": len(in_context) / len(sample),
                       "reviewed_attribute_words": len(named), "read_before_a_garment": [w for w in in_context if w in named_set]},
        "threshold_in_use": matcher.threshold,
        "threshold_dev": {k: v for k, v in tuning.items() if k != "sweep"},
        "threshold_sweep": tuning["sweep"],
        "unseen_test_words_matched_right": len(right) / len(text_eval.UNSEEN_TEST),
        "unseen_test_words_read_by_dictionary": len(read) / len(text_eval.UNSEEN_TEST),
        "unseen_test_words_read_right_by_dictionary": len(read_right) / len(text_eval.UNSEEN_TEST),
        "unseen_test_words_read_right_by_dictionary_or_learned": len(either) / len(text_eval.UNSEEN_TEST),
    }


def run_text_evaluation(engine: SearchEngine, seed: int, k: int = 10) -> dict[str, Any]:
    """The shopper-language evaluation and the query-understanding figures (``evaluate --text-only``)."""
    from multimodal.evaluation import text_eval

    catalog = engine.catalog
    queries = text_eval.generate(catalog, seed=seed, per_group=engine.config.eval_intents_per_group,
                                 unseen_groups_size=engine.config.eval_intents_per_unseen_group)
    started = time.perf_counter()
    out = {"intents": evaluate_text_intents(engine, queries, k), "understanding": evaluate_query_understanding(engine, seed)}
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def run_text_only(config: Config, k: int = 10) -> dict[str, Any]:
    """Every text figure, computed now; replaces the text part of ``metrics.json`` (the rest is kept)."""
    engine = SearchEngine.load(config.artifacts_dir, config.data_dir)
    prepared = load_prepared(config.data_dir)
    q_rows, _ = prepared.part("query")
    queries = eval_queries(q_rows, seed=config.seed)
    text = {**evaluate_text(engine, queries, k), "examples": [q.text for q in queries[:12]],
            **run_text_evaluation(engine, config.seed, k)}
    path = config.artifacts_dir / METRICS_FILE
    metrics = read_json(path) if path.is_file() else {}
    metrics["text"] = text
    write_json_atomic(path, metrics)
    return text


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


def _training_histories(config: Config) -> dict[str, Any]:
    out = {}
    for name, file in (("image", "image_history.json"), ("text", "text_history.json"), ("image_summary", "image_training.json")):
        path = config.artifacts_dir / file
        if path.is_file():
            out[name] = read_json(path)
    return out
