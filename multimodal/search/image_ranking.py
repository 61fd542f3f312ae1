"""Image ranking, pure functions over arrays: pixel correlation, Rocchio feedback in the image
space, and the category-aware re-ranking (similarity plus the classifier's belief, hedged across
the categories it is unsure about). ``SearchEngine`` calls them; evaluation and the build too."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multimodal.config import Config


def pixel_features(images: np.ndarray) -> np.ndarray:
    """What the ranking's pixel term compares: for preprocessed (N, 28, 28) images their
    ``correlation_vectors``; colour photos (N, S, S, 3) get their product's colour histogram instead
    (``colour_features``)."""
    if np.ndim(images) == 4:
        return colour_features(images)
    return correlation_vectors(images)


def correlation_vectors(images: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-length pixels of images of any shape (N, ...): their inner product is the
    pixel correlation (the naive baseline the evaluation reports beside every ranking)."""
    flat = np.asarray(images, np.float32).reshape(len(images), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-6)


def photo_backgrounds(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colour photos (N, S, S, 3) as floats in [0, 1], and each one's background: the median colour of its border."""
    x = np.asarray(images, np.float32)
    if x.max(initial=0.0) > 1.0:
        x = x / 255.0
    border = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1)
    return x, np.median(border, axis=1)


def colour_features(images: np.ndarray, bins: int = 4) -> np.ndarray:
    """Unit-length RGB histograms (``bins``^3 cells) of each photo's product pixels: those unlike the
    photo's background (its border's median colour). The square root of the shares is taken, so the
    inner product of two photos is the Bhattacharyya coefficient of their colours."""
    x, background = photo_backgrounds(images)
    n = len(x)
    product = np.abs(x - background[:, None, None, :]).max(axis=-1) > 0.1
    cells = np.minimum((x * bins).astype(np.int64), bins - 1)
    index = (cells[..., 0] * bins + cells[..., 1]) * bins + cells[..., 2]
    out = np.zeros((n, bins ** 3), np.float32)
    for i in range(n):
        chosen = index[i][product[i]] if product[i].any() else index[i].ravel()
        out[i] = np.bincount(chosen, minlength=bins ** 3)
    out = np.sqrt(out / np.maximum(out.sum(axis=1, keepdims=True), 1.0))
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


def visual_similarity(similarities: np.ndarray, rows: np.ndarray, query_pixels: np.ndarray, item_pixels: np.ndarray,
                      weight: float) -> np.ndarray:
    """Blend the embedding's cosine with pixel correlation over each query's candidates:
    ``(cos + weight * corr) / (1 + weight)``, still 1 for an identical image.

    The embedding knows what kind of product it is; pixel correlation, after the shared
    preprocessing, knows the exact silhouette and print. Only the index's candidates are
    compared, so the cost is fixed per query.
    """
    rows = np.atleast_2d(rows)
    safe = np.where(rows >= 0, rows, 0)
    corr = np.einsum("qcd,qd->qc", item_pixels[safe].astype(np.float32), np.asarray(query_pixels, np.float32))
    return ((np.atleast_2d(similarities) + weight * corr) / (1.0 + weight)).astype(np.float32)


def refine_vector(query: np.ndarray, liked: np.ndarray, disliked: np.ndarray, config: Config) -> np.ndarray:
    """Rocchio relevance feedback in the image space: ``query + a * mean(liked) - b * mean(disliked)``.

    Returns a unit (1, d) vector; with no marks it is the query itself. Liked products pull the
    search towards what they look like, disliked ones push it away (and are filtered out by the
    caller, so they never come back).
    """
    vector = np.asarray(query, np.float32).reshape(-1).copy()
    if len(liked):
        vector += config.feedback_liked * np.asarray(liked, np.float32).mean(axis=0)
    if len(disliked):
        vector -= config.feedback_disliked * np.asarray(disliked, np.float32).mean(axis=0)
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 1e-8 else np.asarray(query, np.float32).reshape(-1)).reshape(1, -1)


@dataclass
class ImageRanking:
    """Per query (rows of each array), the k best catalog rows with their scores; row -1 = no result."""

    rows: np.ndarray
    scores: np.ndarray
    similarity: np.ndarray
    category_probability: np.ndarray
    same_product: np.ndarray | None = None  # True where the row was put first by its product print (same look)


def category_aware_ranking(
    similarities: np.ndarray,
    rows: np.ndarray,
    probabilities: np.ndarray,
    item_labels: np.ndarray,
    weight: float,
    k: int,
    hedge_min: float | None = None,
    hedge_depth: int = 5,
    max_hedges: int = 2,
    exact_similarity: float | None = None,
) -> ImageRanking:
    """Re-rank each query's index candidates by ``similarity + weight * P(item's category | query)``,
    then hedge the top of the list across the categories the classifier is unsure about.

    - The weight lets the classifier order items of similar look by how likely their category
      is, without hiding a much closer match of another category: the instance-level
      embedding spreads items of one category, so a photo of a product scores clearly
      higher on that product than on its neighbours.
    - Hedge: every other category with ``P >= hedge_min`` (at most ``max_hedges``, most
      likely first) that has no item in the first ``hedge_depth`` results gets its best
      item placed at the end of those ``hedge_depth`` slots. When the classifier is sure,
      nothing moves; when it is torn, the shopper sees both readings near the top.
    - ``exact_similarity``: candidates at least this similar (the item's own image, a pixel
      duplicate) come first whatever the classifier says.

    ``weight = 0`` and ``hedge_min = None`` (or > 1) give plain nearest-neighbour order. Arrays:
    ``similarities``/``rows`` (Q, C) from the index (row -1 = no candidate),
    ``probabilities`` (Q, classes), ``item_labels`` (N,).
    """
    similarities = np.atleast_2d(np.asarray(similarities, np.float32))
    rows = np.atleast_2d(np.asarray(rows, np.int64))
    probabilities = np.atleast_2d(np.asarray(probabilities, np.float32))
    valid = rows >= 0
    safe = np.where(valid, rows, 0)
    labels = np.where(valid, np.asarray(item_labels, np.int64)[safe], -1)
    category_p = np.take_along_axis(probabilities, np.maximum(labels, 0), axis=1)
    fused = np.where(valid, similarities + weight * category_p, -np.inf)
    # An exact match jumps the queue; the score shown stays the ranking formula's.
    first = (similarities >= exact_similarity) if exact_similarity is not None else np.zeros_like(valid)
    full = np.lexsort((-fused, ~(first & valid)), axis=1)
    order = full[:, :k].copy()
    if hedge_min is not None and hedge_min <= 1.0 and max_hedges > 0 and k > 1:
        depth = min(hedge_depth, k)
        for q in range(len(order)):
            _hedge(order[q], full[q], labels[q], probabilities[q], fused[q], hedge_min, depth, max_hedges)

    def pick(values: np.ndarray, fill: float) -> np.ndarray:
        taken = np.take_along_axis(values, order, axis=1)
        return np.where(np.take_along_axis(valid, order, axis=1), taken, fill)

    return ImageRanking(
        rows=pick(rows, -1).astype(np.int64), scores=pick(fused, -np.inf),
        similarity=pick(similarities, np.nan), category_probability=pick(category_p, np.nan),
    )


def _hedge(order: np.ndarray, full: np.ndarray, labels: np.ndarray, probs: np.ndarray, fused: np.ndarray,
           hedge_min: float, depth: int, max_hedges: int) -> None:
    """In place: give each unsure category one of the first ``depth`` slots (see ``category_aware_ranking``)."""
    # Hedges never take more than half of the slots after the first, so a short list stays mostly
    # in the category the classifier believes in.
    unsure = [int(c) for c in np.argsort(-probs, kind="stable")[1:] if probs[c] >= hedge_min][: min(max_hedges, (depth - 1) // 2)]
    head_labels = set(labels[order[:depth]].tolist())
    hedges = []
    for category in unsure:
        if category in head_labels:
            continue
        candidates = full[(labels[full] == category) & np.isfinite(fused[full])]
        if len(candidates):
            hedges.append(int(candidates[0]))
    if not hedges:
        return
    rest = [int(r) for r in full if int(r) not in hedges and np.isfinite(fused[r])]
    keep = depth - len(hedges)
    merged = rest[:keep] + hedges + rest[keep:]
    merged += [int(r) for r in full if not np.isfinite(fused[r])]  # empty slots stay last
    order[:] = merged[: len(order)]


def image_match(scores: np.ndarray, probabilities: np.ndarray, config: Config) -> np.ndarray:
    """The score a shopper reads, 0 to 1 as for text search: the ranking score
    ``similarity + w_image_category * P`` over the most it can be for this query
    (``1 + w_image_category * max P``), so the query's own image scores 1. The same order as the
    ranking score, on the scale every page and the API show. ``scores`` (Q, k) or (k,),
    ``probabilities`` (Q, classes) or (classes,)."""
    scores = np.asarray(scores, np.float64)
    top = np.max(np.atleast_2d(np.asarray(probabilities, np.float64)), axis=1)
    ceiling = 1.0 + config.w_image_category * (top[:, None] if scores.ndim == 2 else top[0])
    return np.clip(scores / ceiling, 0.0, 1.0).astype(np.float32)


def rank_candidates(similarities: np.ndarray, rows: np.ndarray, probabilities: np.ndarray, labels: np.ndarray,
                    config: Config, k: int, query_pixels: np.ndarray | None = None,
                    item_pixels: np.ndarray | None = None) -> ImageRanking:
    """The image ranking of candidates found by a store (or by brute force): pixel similarity mixed
    in when ``config.w_image_pixels`` is on, then ``category_aware_ranking``. The engine and the
    training-time measurement both call this, so the figures measured are the ranking served."""
    if config.w_image_pixels and query_pixels is not None and item_pixels is not None:
        similarities = visual_similarity(similarities, rows, query_pixels, item_pixels, config.w_image_pixels)
    return category_aware_ranking(similarities, rows, probabilities, labels, config.w_image_category, k,
                                  hedge_min=config.image_hedge_min, hedge_depth=config.image_hedge_depth,
                                  exact_similarity=config.image_exact_similarity)
