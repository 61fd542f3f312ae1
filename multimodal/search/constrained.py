"""``rank_constrained``: the text ranking from a parsed query and the catalog's columns. Stated
constraints filter (relaxed visibly when nothing meets them all), the signals are fused inside the
filter, a price intent orders, close matches fill the page, and each result says why."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from multimodal.search import explain
from multimodal.search import text_ranking as tr
from multimodal.search.filters import text_search_rows
from multimodal.search.query import ParsedQuery
from multimodal.search.text_ranking import Relaxation, TextRanking

# signals(dense_text, allowed rows, lexical_text) -> each signal's score for every catalog row
Signals = Callable[[str, np.ndarray, str], dict[str, np.ndarray]]


def rank_constrained(parsed: ParsedQuery, columns: Mapping[str, np.ndarray], prices: np.ndarray, genders: np.ndarray,
                     base: np.ndarray, query_gender: np.ndarray | None, signals: Signals,
                     weights: Mapping[str, float], method: str, k: int) -> TextRanking:
    """The ranking of one parsed query.

    Args:
        columns: the catalog's attribute columns (``SearchEngine._attribute_columns``).
        base: rows the shopper's own filters allow (the sidebar's gender, dislikes): never relaxed.
        query_gender: rows of the gender the query states, or None; relaxed like any constraint.
        signals: computes the signals inside the allowed rows (``SearchEngine.text_signals``).
        weights, method: the fusion (``tr.fuse``).
    """
    groups = tr.constraint_groups(parsed, columns, prices, query_gender)
    allowed, dropped = tr.relax(base, groups)
    scores_of = signals(tr.dense_text(parsed), allowed, tr.lexical_text(parsed, dropped))
    fused = tr.fuse(scores_of, weights, allowed, method)
    rows = tr.order_rows(fused, allowed, prices, parsed.sort, k, tr.alternative_of(parsed, columns))
    exact = len(rows)
    scores, batches = fused[rows].astype(np.float32), np.zeros(len(rows), np.int64)
    total = sum(weights.values())
    if exact < k:
        rows, scores, batches = tr.backfill(rows, scores, base, groups, dropped,
                                            lambda mask: tr.fuse(scores_of, weights, mask, method), k, total)
    matches = explain.matched_labels(parsed, columns, prices, genders, rows)
    misses = explain.missed_labels(parsed, columns, groups, rows)
    return TextRanking(
        rows=rows, scores=scores, exact=np.arange(len(rows)) < exact,
        signals={name: np.asarray(values)[rows] for name, values in scores_of.items()},
        matches=matches, misses=misses,
        relaxation=Relaxation(dropped, explain.relaxation_message(parsed, dropped)),
        n_matching=int(allowed.sum()),
        match=tr.match_scores(scores, batches, matches, misses, total, tr.fused_ceiling(weights, scores_of, method)),
    )


def engine_rank(engine: Any, parsed: ParsedQuery, k: int, gender: str | None, liked_rows: np.ndarray,
                disliked_rows: np.ndarray, fusion: str | None, chosen: np.ndarray | None = None) -> tuple[TextRanking, ParsedQuery]:
    """``SearchEngine.rank_text`` for the Fashion-MNIST catalog: the sidebar's gender, the shopper's
    dislikes and the facets chosen (``chosen``) filter and are never relaxed; the gender the query
    states is relaxed like any constraint; unsure words add their likeness as a fourth signal."""
    base, query_gender = text_search_rows(engine._genders, engine.gender_filters, gender, parsed.gender, disliked_rows, chosen)

    def signals(dense: str, allowed: np.ndarray, lexical: str) -> dict[str, np.ndarray]:
        found = engine.text_signals(dense, allowed, liked_rows, disliked_rows, lexical)
        if parsed.hints:
            found["attribute_score"] = engine.hint_scores(parsed)
        return found

    cfg = engine.config
    weights = {"image_score": cfg.w_image, "text_score": cfg.w_text, "bm25_score": cfg.w_bm25, "attribute_score": cfg.w_attribute}
    ranking = rank_constrained(parsed, engine._attribute_columns(), engine._prices, engine._genders, base, query_gender,
                               signals, weights, fusion or cfg.text_fusion, k)
    return ranking, parsed
