"""Sizes: the size a query asks for and the sizes an item comes in meet as tokens of one vocabulary."""

from __future__ import annotations

import pytest

from multimodal.search.query import parse_query
from multimodal.search.query.sizes import item_sizes, read_size


@pytest.mark.parametrize(("query", "label", "tokens"), [
    ("xl hoodie", "XL", {"XL"}),
    ("dress size m", "M", {"M"}),
    ("coat in size large", "L", {"L"}),
    ("coat size extra-large", "XL", {"XL"}),
    ("shirt size 2xl", "XXL", {"XXL"}),
    ("boots eu 42", "EU 42", {"EU42"}),
    ("size 38 boots", "38", {"EU38", "W38"}),  # an EU shoe size or a waist: each item has one kind
    ("jeans 32 waist", "waist 32", {"W32"}),
    ("running shoes size 9", "9 (US)", {"EU40", "EU42"}),  # a women's or a men's US shoe size
    ("size 8 dress", "8 (US)", {"EU39", "EU41", "M"}),  # or a US dress size
    ("bag, one size", "one size", {"ONE"}),
    ("dress size 12 uk", "UK 12", {"EU44", "EU46", "M"}),  # a UK dress size is 4 above the US one
    ("dress uk 8", "UK 8", {"EU40", "EU42", "S"}),
    ("plus size dress", "plus (XXL and up)", {"XXL", "XXXL"}),
    ("big and tall shirts", "plus (XXL and up)", {"XXL", "XXXL"}),
])
def test_size_phrases_are_read(query, label, tokens) -> None:
    ask, _ = read_size(query)
    assert ask is not None and ask.label == label and set(ask.tokens) == tokens


@pytest.mark.parametrize("query", ["small bag", "a medium coat", "sizeable tote", "mesh shirt", "size 120 shoes",
                                   "gifts for us 20 dollars", "gifts for us 9 quid", "size 10 quid", "2 plus 2 tees"])
def test_words_that_are_no_size_phrase_state_no_size(query) -> None:
    assert read_size(query)[0] is None


def test_item_sizes_expand_ranges_and_tell_waists_from_letters() -> None:
    assert item_sizes("EU 36-41") == {f"EU{n}" for n in range(36, 42)}
    assert item_sizes("XS, S, M, L, XL") == {"XS", "S", "M", "L", "XL"}
    assert item_sizes("28, 30, 32") == {"W28", "W30", "W32"}
    assert item_sizes("One size") == {"ONE"}


def test_a_size_is_a_chip_and_leaves_the_other_words_to_the_parser() -> None:
    parsed = parse_query("black xl hoodie for men under $50")
    assert parsed.chips() == ["category: Pullover", "gender: Men", "colour: black", "size: XL", "price: under $50"]
    assert parsed.to_dict()["size"] == {"label": "XL", "words": "xl", "sizes": ["XL"]}
    assert not parse_query("size 9").is_empty()  # a size alone is a query
