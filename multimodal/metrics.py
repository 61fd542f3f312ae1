"""Ranking metrics over a boolean relevance matrix: row q, column r = "result r of query q is relevant".

Model-free and vectorised, so they are checked against hand-computed values in the tests
and shared by training summaries, the evaluation and the dashboard.
"""

from __future__ import annotations

import numpy as np


def _rel(relevance: np.ndarray) -> np.ndarray:
    rel = np.asarray(relevance, dtype=bool)
    if rel.ndim != 2:
        raise ValueError(f"relevance must be 2-D (queries x ranks), got shape {rel.shape}")
    return rel


def hit_rate_at_k(relevance: np.ndarray, k: int) -> float:
    """Share of queries with at least one relevant result in the top k ("Top-K accuracy")."""
    return float(_rel(relevance)[:, :k].any(axis=1).mean())


def precision_at_k(relevance: np.ndarray, k: int) -> float:
    """Mean share of relevant results among the top k."""
    return float(_rel(relevance)[:, :k].mean(axis=1).mean())


def reciprocal_ranks(relevance: np.ndarray) -> np.ndarray:
    """1 / rank of the first relevant result per query (0 when none is retrieved)."""
    rel = _rel(relevance)
    first = np.argmax(rel, axis=1)
    return np.where(rel.any(axis=1), 1.0 / (first + 1.0), 0.0)


def mean_reciprocal_rank(relevance: np.ndarray) -> float:
    return float(reciprocal_ranks(relevance).mean())


def average_precision_at_k(relevance: np.ndarray, k: int, n_relevant: np.ndarray | None = None) -> np.ndarray:
    """AP@k per query: mean of precision@i over the relevant ranks i <= k.

    Normalised by min(k, number of relevant items in the collection) when ``n_relevant``
    is given, else by the relevant results retrieved (the usual choice without full labels).
    """
    rel = _rel(relevance)[:, :k].astype(np.float64)
    ranks = np.arange(1, rel.shape[1] + 1)
    precision = np.cumsum(rel, axis=1) / ranks
    hits = (precision * rel).sum(axis=1)
    if n_relevant is None:
        denom = rel.sum(axis=1)
    else:
        denom = np.minimum(np.asarray(n_relevant, dtype=np.float64), k)
    return np.divide(hits, denom, out=np.zeros_like(hits), where=denom > 0)


def ndcg_at_k(relevance: np.ndarray, k: int, n_relevant: np.ndarray | None = None) -> np.ndarray:
    """NDCG@k per query with binary gains; the ideal ranking puts min(k, n_relevant) hits first."""
    rel = _rel(relevance)[:, :k].astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(2, rel.shape[1] + 2))
    dcg = (rel * discounts).sum(axis=1)
    ideal_hits = rel.sum(axis=1) if n_relevant is None else np.minimum(np.asarray(n_relevant), rel.shape[1])
    cumulative = np.concatenate([[0.0], np.cumsum(discounts)])
    idcg = cumulative[np.asarray(ideal_hits, dtype=np.int64)]
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)


def relevance_by_label(ranked: np.ndarray, gallery_labels: np.ndarray, query_labels: np.ndarray) -> np.ndarray:
    """Relevance matrix for "same category": ranked[q] holds gallery indices, best first (-1 = none)."""
    ranked = np.asarray(ranked)
    labels = np.where(ranked >= 0, np.asarray(gallery_labels)[np.clip(ranked, 0, None)], -1)
    return labels == np.asarray(query_labels)[:, None]


def top_k_by_inner_product(queries: np.ndarray, gallery: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k indices by inner product, best first (brute force; the reference for FAISS)."""
    return top_k_of_scores(np.asarray(queries, np.float32) @ np.asarray(gallery, np.float32).T, k)


def retrieval_summary(
    queries: np.ndarray, query_labels: np.ndarray, gallery: np.ndarray, gallery_labels: np.ndarray,
    k: int = 10, metric: str = "ip",
) -> dict[str, float]:
    """P@1, P@k, hit rates and MRR of same-category retrieval, in one call (metric "ip" or "l2")."""
    search = top_k_by_inner_product if metric == "ip" else top_k_by_l2
    ranked = search(queries, gallery, k)
    rel = relevance_by_label(ranked, gallery_labels, query_labels)
    return {
        "p_at_1": precision_at_k(rel, 1),
        f"p_at_{k}": precision_at_k(rel, k),
        "hit_at_5": hit_rate_at_k(rel, 5),
        "mrr": mean_reciprocal_rank(rel),
    }


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), so inner product is cosine similarity."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def top_k_by_l2(queries: np.ndarray, gallery: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k indices by Euclidean distance, nearest first (raw-pixel baselines use this)."""
    q = np.asarray(queries, np.float32)
    g = np.asarray(gallery, np.float32)
    d2 = (q * q).sum(1, keepdims=True) - 2.0 * q @ g.T + (g * g).sum(1)[None, :]
    return top_k_of_scores(-d2, k)


def top_k_of_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k highest scores, highest first."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)
