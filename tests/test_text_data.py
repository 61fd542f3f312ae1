from __future__ import annotations

import re

import numpy as np

from multimodal.catalog.synthetic import build_catalog
from multimodal.models.text_data import EVAL_CATEGORY_WORDS, EVAL_COLOUR_WORDS, eval_queries, training_texts
from multimodal.search.query import parse_query


def _catalog():
    labels = np.repeat(np.arange(10), 40)
    return build_catalog(labels, np.where(np.arange(400) % 5 == 0, "query", "catalog"), seed=0)


def test_each_product_gets_several_training_texts() -> None:
    row = _catalog().iloc[0]
    texts = training_texts(row)
    assert len(texts) == 5 and len(set(texts)) == 5
    varied = training_texts(row, np.random.default_rng(0))
    assert len(varied) == 10 and varied[:5] == texts
    assert all(row["colour"] in t.lower() for t in (texts[0], texts[3]))


def test_eval_vocabulary_never_appears_in_training_texts() -> None:
    for seed in range(5):
        catalog = build_catalog(np.repeat(np.arange(10), 60), np.array(["catalog"] * 600), seed=seed)
        words = set()
        for _, row in catalog.iterrows():
            for text in training_texts(row, np.random.default_rng(seed)):
                words.update(re.findall(r"[a-z][a-z\-']*", text.lower()))
        query_words = {w for ws in EVAL_CATEGORY_WORDS.values() for w in ws}
        query_words |= {w for ws in EVAL_COLOUR_WORDS.values() for w in ws}
        assert not (query_words & words), query_words & words


def test_eval_queries_state_constraints_the_parser_can_read() -> None:
    rows = _catalog()
    queries = eval_queries(rows, seed=1, typo_rate=0.0)
    assert len(queries) == len(rows)
    understood = [parse_query(q.text).category == q.category for q in queries]
    assert np.mean(understood) > 0.95
    assert any(q.gender for q in queries) and any(q.colour for q in queries)
    assert any(q.gender is None for q in queries)


def test_eval_queries_include_typos_and_are_deterministic() -> None:
    rows = _catalog()
    a = [q.text for q in eval_queries(rows, seed=2)]
    assert a == [q.text for q in eval_queries(rows, seed=2)]
    clean = [q.text for q in eval_queries(rows, seed=2, typo_rate=0.0)]
    assert sum(x != y for x, y in zip(a, clean)) > 20
