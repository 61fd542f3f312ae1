from __future__ import annotations

import numpy as np
import pytest

from multimodal.config import Config
from multimodal.errors import InvalidInputError
from multimodal.query import parse_query
from multimodal.search import fuse_text_scores, gender_mask, normalise_gender

GENDERS = np.array(["Men", "Women", "Unisex", "Men", "Women", "Unisex"])


@pytest.mark.parametrize(
    ("gender", "expected"),
    [
        (None, {"Men", "Women", "Unisex"}),
        ("all", {"Men", "Women", "Unisex"}),
        ("men", {"Men", "Unisex"}),
        ("MEN", {"Men", "Unisex"}),
        ("Women", {"Women", "Unisex"}),
        ("unisex", {"Unisex"}),
    ],
)
def test_gender_filter_semantics(gender, expected) -> None:
    assert set(GENDERS[gender_mask(GENDERS, gender)]) == expected


def test_unknown_gender_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="unknown gender"):
        normalise_gender("kids")


def _fuse(query: str, image, text, categories, colours, allowed=None, k=10, **weights):
    cfg = Config(**weights) if weights else Config()
    n = len(text)
    return fuse_text_scores(
        np.asarray(image, np.float32), np.asarray(text, np.float32), np.asarray(categories), np.asarray(colours),
        parse_query(query), cfg, np.ones(n, bool) if allowed is None else np.asarray(allowed), k,
    )


def test_fusion_puts_the_stated_category_and_colour_first() -> None:
    # Item 0 matches category and colour, 1 only category, 2 only colour, 3 neither; raw similarities are equal.
    ranking = _fuse("red sneakers", [0.2] * 4, [0.3] * 4,
                    ["Sneaker", "Sneaker", "Sandal", "Bag"], ["red", "blue", "red", "red"])
    assert ranking.rows.tolist() == [0, 1, 2, 3]
    assert ranking.signals["category_match"].tolist() == [1, 1, 0, 0]
    assert ranking.signals["colour_match"].tolist() == [1, 0, 1, 1]


def test_fusion_orders_by_weighted_similarity_without_constraints() -> None:
    ranking = _fuse("something comfy", [0.9, 0.1, 0.5], [0.1, 0.9, 0.5], ["Bag"] * 3, ["red"] * 3,
                    w_image=1.0, w_text=2.0)
    # fused = 1*image + 2*text: 1.1, 1.9, 1.5
    assert ranking.rows.tolist() == [1, 2, 0]
    np.testing.assert_allclose(ranking.scores, [1.9, 1.5, 1.1], atol=1e-6)


def test_fusion_never_returns_filtered_rows_and_treats_missing_image_scores_as_lowest() -> None:
    ranking = _fuse("boots", [np.nan, 0.5, 0.9], [0.5, 0.5, 0.5], ["Ankle boot"] * 3, ["black"] * 3,
                    allowed=[True, True, False])
    assert ranking.rows.tolist() == [1, 0]


def test_fusion_returns_at_most_k() -> None:
    ranking = _fuse("bag", np.zeros(50), np.zeros(50), ["Bag"] * 50, ["red"] * 50, k=7)
    assert len(ranking.rows) == 7


def test_category_aware_ranking_puts_the_believed_category_first_then_orders_by_similarity() -> None:
    from multimodal.search import category_aware_ranking

    similarities = np.array([[0.9, 0.8, 0.7, 0.6]])
    rows = np.array([[0, 1, 2, 3]])
    labels = np.array([0, 1, 1, 0])  # item categories
    probs = np.array([[0.1, 0.9]])  # the classifier believes in category 1
    ranking = category_aware_ranking(similarities, rows, probs, labels, weight=0.5, k=3)
    assert ranking.rows.tolist() == [[1, 2, 0]]
    np.testing.assert_allclose(ranking.scores, [[0.8 + 0.45, 0.7 + 0.45, 0.9 + 0.05]])
    np.testing.assert_allclose(ranking.category_probability, [[0.9, 0.9, 0.1]])
    plain = category_aware_ranking(similarities, rows, probs, labels, weight=0.0, k=4)
    assert plain.rows.tolist() == [[0, 1, 2, 3]], "weight 0 is nearest-neighbour order"


def test_category_aware_ranking_keeps_missing_candidates_last() -> None:
    from multimodal.search import category_aware_ranking

    ranking = category_aware_ranking(np.array([[0.5, -np.inf]]), np.array([[2, -1]]), np.array([[0.2, 0.8]]),
                                     np.array([1, 1, 0]), weight=1.0, k=2)
    assert ranking.rows.tolist() == [[2, -1]]
    assert np.isneginf(ranking.scores[0, 1])
