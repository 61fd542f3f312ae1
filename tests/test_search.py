from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from multimodal.errors import InvalidInputError
from multimodal.search.filters import facet_counts, facet_mask, gender_mask, normalise_gender

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


def test_category_aware_ranking_puts_the_believed_category_first_then_orders_by_similarity() -> None:
    from multimodal.search.image_ranking import category_aware_ranking

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
    from multimodal.search.image_ranking import category_aware_ranking

    ranking = category_aware_ranking(np.array([[0.5, -np.inf]]), np.array([[2, -1]]), np.array([[0.2, 0.8]]),
                                     np.array([1, 1, 0]), weight=1.0, k=2)
    assert ranking.rows.tolist() == [[2, -1]]
    assert np.isneginf(ranking.scores[0, 1])


def test_results_are_typed_and_the_old_dataframe_access_still_works_with_a_warning() -> None:
    import pandas as pd

    from multimodal.search.results import SearchResult

    rows = pd.DataFrame({"rank": [1, 2], "product_id": ["A", "B"], "score": [0.9, float("nan")], "row": [4, 7]})
    result = SearchResult(rows, "text", query="red dress", chips=["colour: red"], relaxed=None, n_matching=2)
    assert len(result) == 2 and result.product_ids == ["A", "B"]
    assert result.records() == [{"rank": 1, "product_id": "A", "score": 0.9}, {"rank": 2, "product_id": "B", "score": None}]
    with pytest.warns(DeprecationWarning, match="result.rows"):
        assert list(result["product_id"]) == ["A", "B"]
    with pytest.warns(DeprecationWarning, match="SearchResult fields"):
        assert result.attrs["chips"] == ["colour: red"]
    with pytest.warns(DeprecationWarning):
        assert not result.empty
    with pytest.raises(AttributeError):
        result.no_such_thing  # noqa: B018


SHEET = pd.DataFrame({"colour": ["Navy Blue", "Black", "Black", "Red", ""], "usage": ["Casual", "Sports", "Casual", "Casual", "Casual"]})


def test_facets_allow_any_value_chosen_in_every_column_named_in_any_case() -> None:
    assert facet_mask(SHEET, None, ["colour", "usage"]) is None and facet_mask(SHEET, {"colour": []}, ["colour"]) is None
    assert facet_mask(SHEET, {"colour": ["navy blue", "BLACK"]}, ["colour", "usage"]).tolist() == [True, True, True, False, False]
    both = facet_mask(SHEET, {"colour": ["Black", "Navy Blue"], "usage": "casual"}, ["colour", "usage"])
    assert both.tolist() == [True, False, True, False, False]


@pytest.mark.parametrize(("facets", "message"), [({"material": ["wool"]}, "no facet 'material'; the facets are colour, usage"),
                                                  ({"colour": ["Purple"]}, "no product has colour 'Purple'")])
def test_an_unknown_facet_or_value_is_refused_naming_it(facets, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        facet_mask(SHEET, facets, ["colour", "usage"])


def test_facet_counts_list_each_value_most_common_first_without_empty_cells() -> None:
    assert facet_counts(SHEET, ["colour", "usage"]) == {"colour": {"Black": 2, "Navy Blue": 1, "Red": 1},
                                                         "usage": {"Casual": 4, "Sports": 1}}
