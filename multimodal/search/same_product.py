"""Finding the very product in a shopper's photo of a colour catalog: each photo's product print
(the product cut from its background, cropped, shrunk, colour-standardised) and the placement of
the catalog item whose print matches best. The category-level embedding of a folder catalog does
not tell one product of a kind from the next; the print does (docs/decisions.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from multimodal.config import Config
from multimodal.search.image_ranking import ImageRanking, photo_backgrounds, visual_similarity

PRINT_SIDES = (6, 10)


def product_prints(images: np.ndarray, threshold: float = 0.08, sides: tuple[int, ...] = PRINT_SIDES) -> np.ndarray:
    """Each colour photo's product print, for finding the very product again in another photo: the
    product cut from its background (pixels unlike the border's median colour, by ``threshold``
    of the background's brightness), cropped to its extent (the outer 0.5% of its pixels left out
    on each side), padded square with its own mean colour, shrunk to each of ``sides`` squared,
    every colour channel standardised. Inner products of the unit-length prints are correlations
    that change little with the background, the framing, the brightness and a tint. (N, S, S, 3) -> (N, D)."""
    from PIL import Image

    x, background = photo_backgrounds(images)
    n = len(x)
    level = np.maximum(background.mean(axis=1), 0.2) * threshold
    product = np.abs(x - background[:, None, None, :]).max(axis=-1) > level[:, None, None]
    few = product.sum(axis=(1, 2)) < 20
    product[few] = True  # no product to cut out: the whole photo

    def extent(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cumulative = np.cumsum(counts, axis=1)
        total = cumulative[:, -1:]
        low = (cumulative <= 0.005 * total).sum(axis=1)
        high = (cumulative < 0.995 * total).sum(axis=1) + 1
        return low, np.maximum(high, low + 1)

    (top, bottom), (left, right) = extent(product.sum(axis=2)), extent(product.sum(axis=1))
    out = np.zeros((n, sum(3 * s * s for s in sides)), np.float32)
    for i in range(n):
        crop, inside = x[i, top[i]:bottom[i], left[i]:right[i]], product[i, top[i]:bottom[i], left[i]:right[i]]
        fill = crop[inside].mean(axis=0) if inside.any() else crop.reshape(-1, 3).mean(axis=0)
        h, w = inside.shape
        side = max(h, w)
        canvas = np.empty((side, side, 3), np.float32)
        canvas[:] = fill
        canvas[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = np.where(inside[..., None], crop, fill)
        square = Image.fromarray((np.clip(canvas, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
        parts = []
        for s in sides:
            v = np.asarray(square.resize((s, s), Image.Resampling.BOX), np.float32)
            v = (v - v.mean(axis=(0, 1))) / (v.std(axis=(0, 1)) + 1e-3)
            v = v.ravel() - v.mean()
            parts.append(v / max(float(np.linalg.norm(v)), 1e-6))
        out[i] = np.concatenate(parts) / np.sqrt(len(sides))
    return out


def carried_prints(old_ids: Sequence[str], old_images: np.ndarray, old_prints: np.ndarray, new_ids: Sequence[str],
                   new_images: np.ndarray) -> np.ndarray:
    """The new catalog's prints, taken from the old one's for every product whose photo is the same
    (an engine refreshed after add-items computes the added photos' prints only)."""
    where = {str(pid): i for i, pid in enumerate(old_ids)}
    old_rows = np.array([where.get(str(pid), -1) for pid in new_ids], np.int64)
    same = old_rows >= 0
    rows = np.flatnonzero(same)
    same[rows] = (np.asarray(old_images)[old_rows[rows]] == np.asarray(new_images)[rows]).reshape(len(rows), -1).all(axis=1)
    out = np.empty((len(new_ids), old_prints.shape[1]), np.float32)
    out[same] = old_prints[old_rows[same]]
    if (~same).any():
        out[~same] = product_prints(np.asarray(new_images)[~same])
    return out


def place_same_product(ranking: ImageRanking, query_prints: np.ndarray, item_prints: np.ndarray, allowed: np.ndarray | None,
                       probabilities: np.ndarray, labels: np.ndarray, similarity_of: Callable[[int, int], float],
                       config: Config) -> ImageRanking:
    """The very product in each query photo, by its print (``product_prints``). The allowed item
    whose print correlates best with the query's counts when the correlation is at least
    ``image_same_product`` and leads the next item's by ``image_same_product_margin`` (look-alikes
    tie). It then comes first if the classifier gives its category at least
    ``image_same_product_probability`` (``same_product`` marks it), else it takes the last of the
    first ``image_hedge_depth`` slots (if not there already). ``similarity_of(q, row)``: its
    similarity as the ranking measures it, for the scores shown. Unchanged when ``image_same_product`` is None."""
    threshold = config.image_same_product
    if threshold is None or not len(item_prints):
        return ranking
    corr = np.asarray(query_prints, np.float32) @ np.asarray(item_prints, np.float32).T
    if allowed is not None:
        corr[:, ~allowed] = -np.inf
    rows, scores = ranking.rows.copy(), ranking.scores.copy()
    similarity, category_p = ranking.similarity.copy(), ranking.category_probability.copy()
    same = np.zeros(rows.shape, bool)
    k = rows.shape[1]
    for q in range(len(rows)):
        if corr.shape[1] < 1:
            continue
        best = int(np.argmax(corr[q]))
        top2 = np.partition(corr[q], -2)[-2:] if corr.shape[1] > 1 else np.array([-np.inf, corr[q, best]])
        if not corr[q, best] >= threshold:
            continue
        if top2[1] - top2[0] < config.image_same_product_margin:
            continue  # another item's print is as close: a look-alike, not the product
        sure = probabilities[q, labels[best]] >= config.image_same_product_probability
        slot = 0 if sure else min(config.image_hedge_depth, k) - 1
        present = np.flatnonzero(rows[q] == best)
        if present.size and present[0] <= slot:
            same[q, present[0]] = sure
            continue
        keep = [j for j in range(k) if rows[q, j] != best][: k - 1]
        order = keep[:slot] + [-1] + keep[slot:]
        new_sim = float(similarity_of(q, best))
        new_p = float(probabilities[q, labels[best]])
        for values, fill in ((rows, best), (similarity, new_sim), (category_p, new_p),
                             (scores, new_sim + config.w_image_category * new_p)):
            values[q] = [values[q, j] if j >= 0 else fill for j in order]
        same[q, slot] = sure
    return ImageRanking(rows=rows, scores=scores, similarity=similarity, category_probability=category_p, same_product=same)


def same_product_ranking(ranking: ImageRanking, embeddings: np.ndarray, probabilities: np.ndarray, inputs: np.ndarray,
                         allowed: np.ndarray | None, vectors: np.ndarray, item_prints: Callable[[], np.ndarray],
                         labels: np.ndarray, config: Config, query_pixels: np.ndarray | None = None,
                         item_pixels: np.ndarray | None = None) -> ImageRanking:
    """``SearchEngine.rank_image``'s last step: ``place_same_product`` for colour query photos
    (``inputs`` (Q, S, S, 3)) when ``config.image_same_product`` is set, the placed item's
    similarity computed as the ranking's (cosine, blended with colour when ``w_image_pixels``)."""
    if config.image_same_product is None or np.ndim(inputs) != 4:
        return ranking

    def similarity_of(q: int, row: int) -> float:
        cosine = np.array([[float(np.asarray(embeddings[q], np.float32) @ vectors[row])]], np.float32)
        if query_pixels is None or item_pixels is None:
            return float(cosine[0, 0])
        return float(visual_similarity(cosine, np.array([[row]]), query_pixels[q : q + 1], item_pixels, config.w_image_pixels)[0, 0])

    return place_same_product(ranking, product_prints(inputs), item_prints(), allowed, np.atleast_2d(probabilities), labels,
                              similarity_of, config)
