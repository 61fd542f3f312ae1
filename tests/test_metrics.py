from __future__ import annotations

import numpy as np
import pytest

from multimodal import metrics as m

# Three queries, five ranks: first hits at ranks 1, 3 and never.
REL = np.array([
    [1, 0, 1, 0, 0],
    [0, 0, 1, 1, 0],
    [0, 0, 0, 0, 0],
], dtype=bool)


def test_hit_rate_and_precision_match_hand_counts() -> None:
    assert m.hit_rate_at_k(REL, 1) == pytest.approx(1 / 3)
    assert m.hit_rate_at_k(REL, 3) == pytest.approx(2 / 3)
    assert m.precision_at_k(REL, 1) == pytest.approx(1 / 3)
    assert m.precision_at_k(REL, 5) == pytest.approx((2 / 5 + 2 / 5 + 0) / 3)


def test_mrr_of_a_known_ranking() -> None:
    assert m.mean_reciprocal_rank(REL) == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_average_precision_of_a_known_ranking() -> None:
    ap = m.average_precision_at_k(REL, 5)
    assert ap[0] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert ap[1] == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert ap[2] == 0.0
    # With 4 relevant items in the collection, AP@5 divides by min(5, 4) = 4.
    assert m.average_precision_at_k(REL[:1], 5, n_relevant=np.array([4]))[0] == pytest.approx((1 + 2 / 3) / 4)


def test_ndcg_of_a_known_ranking() -> None:
    ndcg = m.ndcg_at_k(REL, 5)
    dcg0 = 1 / np.log2(2) + 1 / np.log2(4)
    idcg0 = 1 / np.log2(2) + 1 / np.log2(3)
    assert ndcg[0] == pytest.approx(dcg0 / idcg0)
    assert ndcg[2] == 0.0
    assert m.ndcg_at_k(np.ones((1, 4), bool), 4)[0] == pytest.approx(1.0)


def test_top_k_matches_a_brute_force_sort() -> None:
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(7, 5)), rng.normal(size=(40, 5))
    expected = np.argsort(-(q @ g.T), axis=1)[:, :6]
    np.testing.assert_array_equal(m.top_k_by_inner_product(q, g, 6), expected)
    d = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(m.top_k_by_l2(q, g, 6), np.argsort(d, axis=1)[:, :6])


def test_relevance_by_label_treats_missing_results_as_irrelevant() -> None:
    ranked = np.array([[0, 2, -1]])
    rel = m.relevance_by_label(ranked, np.array([1, 0, 1]), np.array([1]))
    assert rel.tolist() == [[True, True, False]]
