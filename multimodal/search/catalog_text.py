"""Text ranking for a catalog brought as a folder and a sheet: the values the query names filter
(relaxed visibly, last stated first, when nothing meets them all), the dense and lexical signals
are fused inside the filter with ``text_ranking.fuse``, close matches fill the page after the
exact ones, and each result names the stated values it meets and lacks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from multimodal.search import text_ranking as tr
from multimodal.search.catalog_query import CatalogQuery, constraint_masks
from multimodal.search.text_ranking import Relaxation, TextRanking

Signals = Callable[[str, np.ndarray, str], dict[str, np.ndarray]]


def relax_in_order(base: np.ndarray, groups: Mapping[str, np.ndarray], order: list[str]) -> tuple[np.ndarray, list[str]]:
    """Rows meeting ``base`` and every group; when none do, drop groups in ``order`` until some remain."""
    kept, dropped = dict(groups), []
    while True:
        mask = base.copy()
        for m in kept.values():
            mask &= m
        if mask.any() or not kept:
            return mask, dropped
        name = next(g for g in order if g in kept)
        dropped.append(name)
        del kept[name]


def _labels(query: CatalogQuery, groups: Mapping[str, np.ndarray], rows: np.ndarray) -> tuple[list[list[str]], list[list[str]]]:
    matches: list[list[str]] = [[] for _ in rows]
    misses: list[list[str]] = [[] for _ in rows]
    for label, mask in groups.items():
        for i, row in enumerate(rows):
            (matches if mask[row] else misses)[i].append(label.split(": ", 1)[-1] if not label.startswith("not ") else label)
    return matches, misses


def rank_catalog_text(query: CatalogQuery, columns: Mapping[str, np.ndarray], base: np.ndarray,
                      query_gender: np.ndarray | None, signals: Signals, weights: Mapping[str, float],
                      method: str, k: int, category_column: str | None = None) -> TextRanking:
    """The ranking of one query parsed against the catalog's values (``CatalogVocabulary.parse``)."""
    groups = constraint_masks(query, columns)
    if query_gender is not None:
        groups[f"gender: {query.gender}"] = query_gender
    # Given up first: the last stated; the category's column and the gender last of all.
    order = [g for g in reversed(list(groups)) if not g.startswith(("gender:", f"{category_column}:"))]
    order += [g for g in groups if g.startswith(f"{category_column}:")] + [g for g in groups if g.startswith("gender:")]
    allowed, dropped = relax_in_order(base, groups, order)
    dense = query.text
    lexical = " ".join(query.leftover + [c.words for c in query.constraints if not c.negated])
    scores = signals(dense, allowed, lexical or dense)
    fused = tr.fuse(scores, weights, allowed, method)
    rows = tr.order_rows(fused, allowed, np.zeros(len(allowed)), None, k)
    exact = len(rows)
    out_scores, batches = fused[rows].astype(np.float32), np.zeros(len(rows), np.int64)
    total = sum(weights.values())
    if exact < k:  # close matches: all but the first-relaxed constraints, each batch below the last
        rows, out_scores, batches = tr.backfill(rows, out_scores, base, groups, dropped,
                                                lambda mask: tr.fuse(scores, weights, mask, method), k, total, order)
    matches, misses = _labels(query, groups, rows)
    message = None
    if dropped:
        message = "Nothing meets every stated value; showing items without " + ", ".join(dropped) + "."
    return TextRanking(rows=rows, scores=out_scores, exact=np.arange(len(rows)) < exact,
                       signals={name: np.asarray(v)[rows] for name, v in scores.items()}, matches=matches, misses=misses,
                       relaxation=Relaxation(dropped, message), n_matching=int(allowed.sum()),
                       match=tr.match_scores(out_scores, batches, matches, misses, total,
                                             tr.fused_ceiling(weights, scores, method)))


def engine_rank(engine: Any, query: str, k: int, gender: str | None, liked_rows: np.ndarray, disliked_rows: np.ndarray,
                fusion: str | None, allowed: np.ndarray | None = None) -> tuple[TextRanking, CatalogQuery]:
    """``SearchEngine.rank_text`` for a folder catalog: the engine's columns, filters and signals;
    ``allowed`` (the facets chosen) narrows it, never relaxed."""
    from multimodal.search.filters import text_search_rows

    parsed = engine.catalog_vocabulary.parse(query)
    base, query_gender = text_search_rows(engine._genders, engine.gender_filters, gender, parsed.gender, disliked_rows, allowed)

    def signals(dense: str, allowed: np.ndarray, lexical: str) -> dict[str, np.ndarray]:
        return engine.text_signals(dense, allowed, liked_rows, disliked_rows, lexical)

    weights = {"image_score": engine.config.w_image, "text_score": engine.config.w_text, "bm25_score": engine.config.w_bm25}
    columns = engine.catalog_vocabulary.columns
    ranking = rank_catalog_text(parsed, columns, base, query_gender, signals, weights, fusion or engine.config.text_fusion,
                                k, engine.roles.category_column)
    return ranking, parsed
