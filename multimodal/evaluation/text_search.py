"""Text search measured on held-out queries: the ranking the engine serves, each signal alone, the
shopper-language set by group, and how well the parser reads words (false parses on ordinary words)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from multimodal.catalog.prepared import load_prepared
from multimodal.config import Config
from multimodal.io import read_json, write_json_atomic
from multimodal.metrics import (
    hit_rate_at_k,
    mean_reciprocal_rank,
    precision_at_k,
)
from multimodal.models.text_data import EvalQuery, eval_queries
from multimodal.search.engine import SearchEngine
from multimodal.search.filters import GENDER_FILTERS

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
