from __future__ import annotations

import pytest

from multimodal.errors import InvalidInputError
from multimodal.query import MAX_QUERY_CHARS, parse_query


@pytest.mark.parametrize(
    ("query", "category", "gender", "colours"),
    [
        ("black leather ankle boots for women", "Ankle boot", "Women", ["black"]),
        ("Black trainers for men", "Sneaker", "Men", ["black"]),
        ("cozy wool jumper", "Pullover", None, []),
        ("navy blue chinos for him", "Trouser", "Men", ["navy"]),
        ("ladies' red dress", "Dress", "Women", ["red"]),
        ("a handbag for her in tan", "Bag", "Women", ["beige"]),
        ("grey hoodie", "Pullover", None, ["grey"]),
        ("gray tee", "T-shirt/top", None, ["grey"]),
        ("unisex white sneakers", "Sneaker", "Unisex", ["white"]),
        ("men's oxford shirt", "Shirt", "Men", []),
        ("running shoes", "Sneaker", None, []),
        ("burgundy or maroon coat", "Coat", None, ["burgundy"]),
        ("black and white sandals", "Sandal", None, ["black", "white"]),
        ("WOMENS JEANS", "Trouser", "Women", []),
        ("something nice", None, None, []),
    ],
)
def test_parser_understands_many_phrasings(query, category, gender, colours) -> None:
    parsed = parse_query(query)
    assert (parsed.category, parsed.gender, parsed.colours) == (category, gender, colours)


@pytest.mark.parametrize(
    ("query", "category", "colour"),
    [("sneekers", "Sneaker", None), ("blak boots", "Ankle boot", "black"), ("trowsers in biege", "Trouser", "beige"),
     ("puloverr", "Pullover", None), ("handbgs", "Bag", None)],
)
def test_parser_forgives_typos(query, category, colour) -> None:
    parsed = parse_query(query)
    assert parsed.category == category
    assert parsed.colours == ([colour] if colour else [])


def test_women_is_not_read_as_men() -> None:
    assert parse_query("women boots").gender == "Women"
    assert parse_query("womens boots").gender == "Women"


def test_two_genders_state_no_gender() -> None:
    assert parse_query("shirt for men and women").gender is None


@pytest.mark.parametrize(
    ("query", "low", "high"),
    [
        ("dress under $50", None, 50.0),
        ("boots below 120 dollars", None, 120.0),
        ("coat over $100", 100.0, None),
        ("bags between 20 and 80 dollars", 20.0, 80.0),
        ("sneakers $40-$90", 40.0, 90.0),
        ("tee less than 19.99", None, 19.99),
    ],
)
def test_parser_reads_price_phrases(query, low, high) -> None:
    parsed = parse_query(query)
    assert (parsed.min_price, parsed.max_price) == (low, high)


def test_chips_show_what_was_understood() -> None:
    chips = parse_query("black trainers for men under $100").chips()
    assert chips == ["category: Sneaker", "gender: Men", "colour: black", "price: under $100"]


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_an_empty_query_is_refused_clearly(query) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        parse_query(query)


def test_a_non_string_query_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        parse_query(None)  # type: ignore[arg-type]


def test_huge_and_emoji_only_queries_do_not_crash() -> None:
    long = parse_query("black boots " * 1000)
    assert len(long.text) <= MAX_QUERY_CHARS and long.category == "Ankle boot"
    emoji = parse_query("👢👢🔥")
    assert emoji.category is None and emoji.text == "👢👢🔥"
