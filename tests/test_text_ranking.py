"""Model-free text ranking: filters, relaxation, fusion and price order on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal.search.explain import matched_labels, missed_labels, relaxation_message
from multimodal.search.query import parse_query
from multimodal.search.text_ranking import (
    alternative_of,
    constraint_groups,
    dense_text,
    fuse,
    lexical_text,
    match_scores,
    name_column,
    order_rows,
    relax,
    stated_values,
)

COLUMNS = {
    "category": np.array(["Coat", "Coat", "Coat", "Dress"]),
    "colour": np.array(["black", "navy", "grey", "navy"]),
    "material": np.array(["shearling", "wool", "shearling", "silk"]),
    "style": np.array(["classic"] * 4), "occasion": np.array(["office"] * 4), "season": np.array(["Winter"] * 4),
    "brand": np.array(["Northline"] * 4),
}
PRICES = np.array([300.0, 150.0, 250.0, 90.0])


def _filter(query: str) -> tuple[np.ndarray, list[str], str | None]:
    parsed = parse_query(query)
    mask, dropped = relax(np.ones(4, bool), constraint_groups(parsed, COLUMNS, PRICES, None))
    return mask, dropped, relaxation_message(parsed, dropped)


def test_every_stated_constraint_filters() -> None:
    mask, dropped, message = _filter("shearling coats")
    assert mask.tolist() == [True, False, True, False] and dropped == [] and message is None


def test_negation_filters_out() -> None:
    mask, _, _ = _filter("coats not black")
    assert mask.tolist() == [False, True, True, False]


def test_a_kind_ruled_out_by_name_leaves_the_rest_of_its_category() -> None:
    columns = {**COLUMNS, "name": name_column(["Grey Shearling Coat", "Navy Wool Overcoat", "Black Rain-Coats", "Navy Silk Dress"])}
    parsed = parse_query("coats but not overcoats or rain coats")
    mask, dropped = relax(np.ones(4, bool), constraint_groups(parsed, columns, PRICES, None))
    assert mask.tolist() == [True, False, False, False] and dropped == []
    assert matched_labels(parsed, columns, PRICES, np.array(["Women"] * 4), np.arange(1))[0] == ["Coat", "not overcoats", "not rain coats"]


def test_without_the_season_asked_for_the_nearest_seasons_come_first_and_are_said() -> None:
    columns = {**COLUMNS, "season": np.array(["Winter", "Autumn", "All-season", "Summer"])}
    parsed = parse_query("spring coats")
    groups = constraint_groups(parsed, columns, PRICES, None)
    mask, dropped = relax(np.ones(4, bool), groups)
    assert mask.tolist() == [False, True, True, False] and dropped == ["season"]  # not the winter coat
    assert relaxation_message(parsed, dropped) == "No spring coats; showing coats for all seasons or autumn."
    assert missed_labels(parsed, columns, groups, np.arange(3)) == [["spring"], ["spring"], ["spring"]]
    columns["season"] = np.array(["Winter", "Winter", "Winter", "Summer"])
    mask, dropped = relax(np.ones(4, bool), constraint_groups(parsed, columns, PRICES, None))
    assert mask.tolist() == [True, True, True, False]
    assert relaxation_message(parsed, dropped) == "No spring coats; showing coats for other seasons."


def test_when_nothing_meets_everything_the_least_important_constraint_is_dropped_and_said() -> None:
    mask, dropped, message = _filter("navy shearling coats")
    assert dropped == ["colour"]
    assert mask.tolist() == [True, False, True, False]
    assert message == "No navy shearling coats; showing shearling coats in other colours."


def test_each_result_says_what_it_misses_in_the_shoppers_words() -> None:
    parsed = parse_query("navy or grey shearling coats not black under $280")
    groups = constraint_groups(parsed, COLUMNS, PRICES, None)
    assert missed_labels(parsed, COLUMNS, groups, np.arange(4)) == [
        ["navy or grey", "not black", "under $280"], ["shearling"], [], ["shearling", "coats"]]


def test_values_tied_to_garments_filter_each_garment_by_its_own() -> None:
    # "navy dress and black coats": the navy dress and the black coat, not the navy or grey coat.
    parsed = parse_query("navy dress and black coats")
    groups = constraint_groups(parsed, COLUMNS, PRICES, None)
    mask, dropped = relax(np.ones(4, bool), groups)
    assert mask.tolist() == [True, False, False, True] and dropped == []
    assert missed_labels(parsed, COLUMNS, groups, np.arange(4))[1] == ["black"]  # not "navy or black"
    assert matched_labels(parsed, COLUMNS, PRICES, COLUMNS["colour"], np.array([1, 3])) == [["Coat"], ["navy", "Dress"]]
    assert relaxation_message(parsed, ["colour"]) == "No navy dress or black coats; showing dress or coats in other colours."
    # A named garment with no value of its own is free: any bag, grey coats, the navy dress.
    columns = {name: np.append(values, "Bag" if name == "category" else values[0]) for name, values in COLUMNS.items()}
    parsed = parse_query("grey coats and a navy dress, or a bag")
    mask, _ = relax(np.ones(5, bool), constraint_groups(parsed, columns, np.append(PRICES, 50.0), None))
    assert mask.tolist() == [False, False, True, True, True]


def test_two_stated_values_of_one_field_are_alternatives() -> None:
    # A product has one colour: "navy or grey" means either, not both (which nothing meets).
    mask, dropped, _ = _filter("navy or grey coats")
    assert mask.tolist() == [False, True, True, False] and dropped == []
    mask, dropped, message = _filter("navy or grey shearling coats")
    assert mask.tolist() == [False, False, True, False] and dropped == [] and message is None
    mask, dropped, message = _filter("navy or black coats for the beach")
    assert dropped == ["occasion"] and mask.tolist() == [True, True, False, False]
    assert message == "No navy or black coats for beach; showing navy or black coats for other occasions."


def test_overlapping_stated_values_narrow_each_other() -> None:
    assert stated_values(parse_query("boots and other shoes"))["category"] == (frozenset({"Ankle boot"}), False)
    assert stated_values(parse_query("tops or dresses"))["category"][1] is True


def test_either_or_values_take_turns_at_the_top() -> None:
    # Coats score higher than the dress, yet "coats or dresses" shows the dress second.
    parsed = parse_query("coats or dresses")
    alternative = alternative_of(parsed, COLUMNS)
    assert alternative.tolist() == [0, 0, 0, 1]
    fused = np.array([0.9, 0.8, 0.7, 0.1])
    assert order_rows(fused, np.ones(4, bool), PRICES, None, 3, alternative).tolist() == [0, 3, 1]
    assert alternative_of(parse_query("navy coats"), COLUMNS) is None
    # Two either-or fields: every combination takes its turn (rows: black coat, navy coat, grey coat, navy dress).
    both = alternative_of(parse_query("navy or grey coats or dresses"), COLUMNS)
    assert len(set(both.tolist())) == 4 and both[1] != both[3]


def test_price_limits_filter() -> None:
    mask, _, _ = _filter("coat under $200")
    assert mask.tolist() == [False, True, False, False]


def test_rrf_adds_reciprocal_ranks_among_allowed_rows() -> None:
    allowed = np.array([True, True, True, False])
    a = np.array([0.9, 0.5, 0.1, 5.0])
    b = np.array([0.1, 0.5, 0.9, 5.0])
    fused = fuse({"a": a, "b": b}, {"a": 1.0, "b": 1.0}, allowed, "rrf")
    np.testing.assert_allclose(fused[:3], [1 / 61 + 1 / 63, 2 / 62, 1 / 63 + 1 / 61])
    weighted = fuse({"a": a, "b": b}, {"a": 2.0, "b": 1.0}, allowed, "weighted")
    assert np.argmax(weighted[:3]) == 0  # scaled over the allowed rows: a counts twice


def test_missing_scores_rank_last() -> None:
    fused = fuse({"a": np.array([np.nan, 0.1, 0.2])}, {"a": 1.0}, np.ones(3, bool), "rrf")
    assert fused.argmin() == 0


def test_unknown_fusion_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fusion"):
        fuse({}, {}, np.ones(1, bool), "max")


def test_price_intents_sort_by_price_then_score() -> None:
    fused = np.array([0.1, 0.9, 0.5, 0.7])
    allowed = np.array([True, True, True, False])
    assert order_rows(fused, allowed, PRICES, None, 3).tolist() == [1, 2, 0]
    assert order_rows(fused, allowed, PRICES, "price_asc", 3).tolist() == [1, 2, 0]
    assert order_rows(fused, allowed, PRICES, "price_desc", 2).tolist() == [0, 2]


def test_bm25_reads_the_query_without_filtering_garment_words_or_ruled_out_ones() -> None:
    parsed = parse_query("smart shoes for an interview")  # "shoes" filters; in BM25 it would favour "Running Shoes"
    assert lexical_text(parsed, []) == "smart for an interview"
    assert lexical_text(parse_query("black ankle boots, not leather"), []) == "black"  # BM25 cannot negate
    assert "blue" not in lexical_text(parse_query("jeans not blue"), [])  # it would favour the brand Blue Fjord
    assert lexical_text(parsed, ["category"]) == parsed.text  # a relaxed category ranks by its words again


def test_the_dense_signals_read_the_query_without_what_it_rules_out() -> None:
    assert dense_text(parse_query("jeans not blue")) == "jeans"  # a sentence model reads "not blue" as blue
    assert dense_text(parse_query("black dress")) == "black dress"
    assert dense_text(parse_query("not black")) == "not black"  # nothing else to read


def test_the_score_shown_puts_every_full_match_above_every_close_match_on_a_0_to_1_scale() -> None:
    # "navy wool coat for women under 120": two full matches, then close matches pushed a batch
    # down by the ranking (raw scores 1.75, 0.0, -2.25, as the issue saw them).
    total = 3.75
    scores = np.array([1.75, 0.0, 1.5 - total, 0.2 - total])
    batches = np.array([0, 0, 1, 1])
    stated = ["coat", "women", "navy", "wool", "under $120"]
    matches = [stated, stated, stated[:2] + stated[3:], stated[:2] + stated[3:]]
    misses = [[], [], ["navy"], ["navy"]]
    shown = match_scores(scores, batches, matches, misses, total, ceiling=1.75)
    assert shown[0] == pytest.approx(1.0)
    assert np.all(np.diff(shown) <= 0) and np.all((shown >= 0) & (shown <= 1))
    assert shown[1] >= 5 / 6 > shown[2], "a full match, however weak its signals, outranks one that lacks navy"


def test_a_query_stating_nothing_scores_by_the_strength_of_its_signals() -> None:
    shown = match_scores(np.array([1.0, 0.5, 0.0]), np.zeros(3, np.int64), [[], [], []], [[], [], []], 2.0, ceiling=1.0)
    assert shown.tolist() == pytest.approx([1.0, 0.5, 0.0])
