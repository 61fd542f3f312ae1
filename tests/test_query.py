from __future__ import annotations

import pytest

from multimodal.errors import InvalidInputError
from multimodal.search.query import MAX_QUERY_CHARS, parse_query


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
     ("puloverr", "Pullover", None), ("handbgs", "Bag", None),
     # A letter typed twice before an ending is no English word with that ending ("dress" + "ses").
     ("dressses", "Dress", None), ("bootties", "Ankle boot", None), ("clothhes in bllack", None, "black")],
)
def test_parser_forgives_typos(query, category, colour) -> None:
    parsed = parse_query(query)
    assert parsed.category == category
    assert parsed.colours == ([colour] if colour else [])


def test_women_is_not_read_as_men() -> None:
    assert parse_query("women boots").gender == "Women"
    assert parse_query("womens boots").gender == "Women"


@pytest.mark.parametrize(("query", "gender"), [("pink hoodie for my daughter", "Women"), ("boots for my son", "Men"),
                                               ("a gift for my grandma", "Women"), ("shoes for the boys", "Men"),
                                               ("something for my boyfriend's birthday", "Men")])
def test_whom_a_gift_is_for_states_a_gender(query, gender) -> None:
    assert parse_query(query).gender == gender


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
        ("womens boots under £60", None, 60.0),  # one currency, the catalog's: other symbols read as it
        ("coat over €150", 150.0, None),
        ("bag £20-£40", 20.0, 40.0),
        ("jumper under 40 quid", None, 40.0),
        ("a 2 pound bag", None, None),
        ("boots about $80", 64.0, 96.0),  # a rough budget: within 20% either way
        ("coat 100 dollars", 80.0, 120.0),
        ("coat 100$", 80.0, 120.0),
        ("sandals around 30", 24.0, 36.0),
        ("dress for a girl about 12 years old", None, None),
        ("around 20% off dresses", None, None),
        ("jumpers from 30 to 60", 30.0, 60.0),
        ("summer sandals 30 to 60 dollars", 30.0, 60.0),  # a range with its currency (it had read "about 60")
        ("bag 50-100 euros", 50.0, 100.0),
        ("jeans 30-32", None, None),  # no currency: waists, perhaps
        ("cheap jeans under twenty dollars", None, 20.0),  # amounts in words, next to a price word
        ("boots between fifty and a hundred", 50.0, 100.0),
        ("coat under two hundred and fifty", None, 250.0),
        ("bag around thirty-five quid", 28.0, 42.0),
        ("two tops, one size", None, None),
        ("office shoes from nine to five", None, None),  # hours, not prices
        ("office wear for women over 50", None, None),  # ages, not prices
        ("over 50s fashion", None, None),
        ("dress for women under $50", None, 50.0),
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


# ---------------------------------------------------------------- every attribute, groups, intents


def _fields(parsed) -> dict:
    return {(c.field, c.negated): set(c.values) for c in parsed.constraints}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("high top sneakers", {("category", False): {"Sneaker"}}),
        ("something warm for winter", {("season", False): {"Winter"}}),
        ("shoes", {("category", False): {"Sneaker", "Sandal", "Ankle boot"}}),
        ("footwear for the beach", {("category", False): {"Sneaker", "Sandal", "Ankle boot"}, ("occasion", False): {"beach"}}),
        ("black heels for a wedding", {("category", False): {"Sandal", "Ankle boot"}, ("colour", False): {"black"},
                                       ("occasion", False): {"wedding"}}),  # sneakers have no heels
        ("red pumps", {("category", False): {"Sandal", "Ankle boot"}, ("colour", False): {"red"}}),
        ("chunky boots for autumn", {("category", False): {"Ankle boot"}, ("season", False): {"Autumn"}}),  # thick soles
        ("chunky cream sweater", {("category", False): {"Pullover"}, ("colour", False): {"cream"},
                                  ("material", False): {"chunky knit"}}),
        ("knitwear", {("category", False): {"Pullover"}}),
        ("outerwear", {("category", False): {"Coat"}}),
        ("accessories", {("category", False): {"Bag"}}),
        ("any wool coat", {("category", False): {"Coat"}, ("material", False): {"wool", "merino wool", "wool blend"}}),
        ("waterproof jacket", {("category", False): {"Coat"}, ("material", False): {"waterproof nylon", "waterproof leather"}}),
        ("boho dress for a festival", {("category", False): {"Dress"}, ("style", False): {"bohemian"},
                                       ("occasion", False): {"festival"}}),
        ("party dress", {("category", False): {"Dress"}, ("style", False): {"party"}}),
        ("dress for a party", {("category", False): {"Dress"}, ("occasion", False): {"party"}}),
        ("Harbor & Pine tote", {("category", False): {"Bag"}, ("brand", False): {"Harbor & Pine"}}),
        ("blue fjord shirt", {("category", False): {"Shirt"}, ("brand", False): {"Blue Fjord"}}),
        ("down jacket", {("category", False): {"Coat"}, ("material", False): {"down"}}),
        ("slow down", {}),
        ("jean jacket", {("category", False): {"Coat"}, ("material", False): {"denim"}}),
        ("black jeans", {("category", False): {"Trouser"}, ("colour", False): {"black"}}),
        ("knit sneakers", {("category", False): {"Sneaker"}, ("material", False): {"knit", "chunky knit", "cotton knit"}}),
        ("shirt dress", {("category", False): {"Dress"}}),
    ],
)
def test_parser_reads_every_attribute_and_category_groups(query, expected) -> None:
    assert _fields(parse_query(query)) == expected


@pytest.mark.parametrize(
    ("query", "field", "values"),
    [
        ("dress not black", "colour", {"black"}),
        ("boots without leather", "material", {"leather", "waterproof leather"}),
        ("bags except Carryall", "brand", {"Carryall"}),
        ("no linen please, a summer shirt", "material", {"linen", "linen blend"}),
        ("non-leather boots", "material", {"leather", "waterproof leather"}),
        ("wool-free jumper", "material", {"wool", "merino wool", "wool blend"}),
        ("coat not for the office", "occasion", {"office"}),
        ("sandals not for winter", "season", {"Winter"}),
    ],
)
def test_negations_rule_values_out(query, field, values) -> None:
    parsed = parse_query(query)
    assert set(parsed.values(field, negated=True)) == values
    assert not set(parsed.values(field)) & values


def test_category_words_joined_by_and_add_up() -> None:
    assert set(parse_query("bags and shoes").categories) == {"Bag", "Sneaker", "Sandal", "Ankle boot"}
    assert set(parse_query("jeans and a jacket").categories) == {"Trouser", "Coat"}  # "jeans" is denim only before a garment


def test_a_group_minus_a_negated_member() -> None:
    parsed = parse_query("shoes but not sneakers")
    assert parsed.categories == ["Sandal", "Ankle boot"]
    assert parsed.chips() == ["category: Sandal / Ankle boot", "not category: Sneaker"]


def test_a_negated_kind_of_the_garment_asked_for_is_ruled_out_by_name() -> None:
    # Flip-flops are sandals to the catalog: ruling out the category would rule out every sandal.
    parsed = parse_query("sandals for the beach not flip flops")
    assert parsed.categories == ["Sandal"] and parsed.values("occasion") == ["beach"]
    assert parsed.chips() == ["category: Sandal", "occasion: beach", "not named: flip flops"]
    assert parse_query("boots but not chelsea boots").constraints[-1].values == ("chelsea boot",)
    # A kind no list names, said before the garment, is ruled out by name too, with or without it asked for.
    assert parse_query("dresses except maxi dresses").chips() == ["category: Dress", "not named: maxi dresses"]
    assert parse_query("not maxi dresses").chips() == ["not named: maxi dresses"]
    # A member of a group asked for is still a category: the rest of the group stays.
    assert parse_query("shoes but not sneakers").chips() == ["category: Sandal / Ankle boot", "not category: Sneaker"]


@pytest.mark.parametrize(("query", "chips"), [
    ("brown leather oxfords", ["category: Sneaker / Ankle boot", "colour: brown", "material: leather / waterproof leather"]),
    ("oxford shirt", ["category: Shirt", "material: oxford cotton"]),
    ("black tie event", ["style: formal"]),
    ("date night dress", ["category: Dress", "occasion: dinner / night out"]),
    ("something comfy to wear around the house", ["occasion: home"]),
    ("dress like a 70s hippie", []),
    ("shirt for a job interview", ["category: Shirt", "occasion: meeting"]),
    ("boots for rain", ["category: Ankle boot", "material: waterproof nylon / waterproof leather"]),
    ("yoga pants", ["category: Trouser", "occasion: gym"]),
    ("matching his and hers sneakers", ["category: Sneaker"]),  # the sneakers wanted, for both
    ("shoes that go with a navy suit", ["category: Sneaker / Sandal / Ankle boot", "that go with a navy suit: not searched for"]),
    ("light jacket for spring evenings", ["category: Coat", "season: Spring"]),  # a time of day, not an evening event
    ("breathable shirt for hot weather", ["category: Shirt", "season: Summer"]),
    ("neutral sweater", ["category: Pullover", "colour: black / white / grey / beige / cream"]),  # a colour family
    ("clothes in earth tones", ["category: T-shirt/top / Trouser / Pullover / Dress / Coat / Shirt", "colour: brown / beige / olive"]),
])
def test_shopper_phrases_read_as_shoppers_mean_them(query, chips) -> None:
    assert parse_query(query).chips() == chips


def test_a_negation_covers_a_list_joined_by_or() -> None:
    parsed = parse_query("boots not black or brown")
    assert parsed.values("colour", negated=True) == ["black", "brown"]
    assert parsed.categories == ["Ankle boot"]
    parsed = parse_query("dress not for a wedding or a party")
    assert parsed.values("occasion", negated=True) == ["wedding"] and parsed.values("style", negated=True) == ["party"]
    # Another field's word before a garment starts a new part of the query, not more of the negation.
    parsed = parse_query("shoes but not sneakers and a black bag")
    assert parsed.values("colour") == ["black"] and parsed.values("colour", negated=True) == []
    assert parsed.categories == ["Sandal", "Ankle boot", "Bag"]


def _tied(query: str) -> dict[str, tuple[str, ...]]:
    return {c.words: c.applies_to for c in parse_query(query).constraints if c.field != "category"}


def test_values_said_of_different_garments_are_tied_to_them() -> None:
    shoes = ("Sneaker", "Sandal", "Ankle boot")
    assert _tied("black dress and red shoes") == {"black": ("Dress",), "red": shoes}
    assert parse_query("black dress and red shoes").chips()[2:] == ["colour: black · dress", "colour: red · shoes"]
    assert _tied("red and black dress and white shoes") == {"red": ("Dress",), "black": ("Dress",), "white": shoes}
    assert _tied("dress in red or black and a white bag") == {"red": ("Dress",), "black": ("Dress",), "white": ("Bag",)}
    assert _tied("leather boots, a wool coat") == {"leather": ("Ankle boot",), "wool": ("Coat",)}
    # One value for several garments, or a value said once, holds for every item as before.
    assert _tied("black dress and shoes") == {"black": ()}
    assert _tied("black and white sneakers") == {"black": (), "white": ()}
    assert _tied("black dress and red shoes for a wedding")["wedding"] == ()
    assert _tied("black dress and red shoes, not leather")["leather"] == ()


@pytest.mark.parametrize(("query", "gender"), [("boots not for men", "Women"), ("jumper, not for women", "Men"),
                                               ("not unisex sneakers", None), ("sneakers for him, not black", "Men")])
def test_a_negated_gender_leaves_the_other_one_and_unisex(query, gender) -> None:
    assert parse_query(query).gender == gender


@pytest.mark.parametrize(
    ("query", "sort"),
    [("cheapest sandals", "price_asc"), ("budget trainers", "price_asc"), ("most expensive coat", "price_desc"),
     ("premium leather bag", "price_desc"), ("boots, not too expensive", "price_asc"), ("sandals", None)],
)
def test_price_order_intents(query, sort) -> None:
    assert parse_query(query).sort == sort


@pytest.mark.parametrize("word", ["wood", "lined", "greet", "winter", "boor", "nice", "comfortable", "table",
                                  "sadder", "quitting", "fuelled", "totters"])
def test_real_words_are_never_corrected_into_other_attributes(word) -> None:
    parsed = parse_query(word)
    assert all(c.source != "typo" for c in parsed.constraints)
    assert parse_query("something warm for winter").colours == []


def test_chips_show_negations_sort_and_families() -> None:
    chips = parse_query("cheapest leather boots not black for her").chips()
    assert chips == ["category: Ankle boot", "gender: Women", "material: leather / waterproof leather",
                     "not colour: black", "sort: price low to high"]
    kinds = [c["kind"] for c in parse_query("cheapest leather boots not black for her").chip_items()]
    assert kinds == ["include", "gender", "include", "exclude", "sort"]


class _FakeMatcher:
    """A learned layer with known answers: only 'vermilion' is like red."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def match(self, phrases):
        self.asked.extend(phrases)
        return [("colour", ("red",), 0.9) if p == "vermilion" else None for p in phrases]


def test_the_learned_layer_reads_words_in_attribute_positions_only() -> None:
    matcher = _FakeMatcher()
    parsed = parse_query("vermilion dress", matcher)
    assert parsed.colours == ["red"]
    assert [c.source for c in parsed.constraints if c.field == "colour"] == ["learned"]
    assert "colour: red (≈ “vermilion”)" in parsed.chips()
    matcher = _FakeMatcher()
    assert parse_query("vermilion", matcher).is_empty() and matcher.asked == []  # one word alone: no evidence


def test_a_word_before_style_or_coloured_may_state_only_that_field() -> None:
    hints = {q: dict(parse_query(q, _FakeMatcher()).hints) for q in (
        "sweaters with a comfy style", "comfy looking sweaters", "mulberry coloured gowns", "desperately looking for boots")}
    assert hints["sweaters with a comfy style"] == {"comfy": ("style",)}
    assert hints["comfy looking sweaters"] == {"comfy": ("style",)}
    assert hints["mulberry coloured gowns"] == {"mulberry": ("colour",)}
    assert hints["desperately looking for boots"].get("desperately") != ("style",)  # "looking for" is no style cue


def test_an_unsure_word_gets_a_soft_chip_of_its_own() -> None:
    parsed = parse_query("sweaters with a comfy style", _FakeMatcher())
    assert parsed.chips() == ["category: Pullover"]  # it states nothing for certain
    assert parsed.hint_items() == [{"kind": "hint", "field": "style", "label": "≈ comfy: style, ranked by likeness",
                                    "source": "soft"}]


def test_a_verb_form_of_a_listed_word_is_left_to_the_soft_signal() -> None:
    class Eager(_FakeMatcher):  # a learned layer that would read anything as a season
        def match(self, phrases):
            self.asked.extend(phrases)
            return [("season", ("Autumn",), 0.95) for _ in phrases]

    matcher = Eager()
    parsed = parse_query("falling dress", matcher)  # "fall" is listed; "falling" is the verb
    assert parsed.chips() == ["category: Dress"] and matcher.asked == []
    assert dict(parsed.hints)["falling"]
    assert parse_query("trekking boots", Eager()).chips() == ["category: Ankle boot", "season: Autumn (≈ “trekking”)"]


def test_the_precise_layer_wins_over_the_learned_one() -> None:
    assert parse_query("vermilion black dress", _FakeMatcher()).colours == ["black"]


def test_the_vocabulary_names_only_catalog_values() -> None:
    from multimodal.catalog.synthetic import COLOURS, SPECS, STYLE_OCCASIONS
    from multimodal.search.query import vocabulary as V

    catalog = {
        "category": set(SPECS), "colour": set(COLOURS), "style": set(STYLE_OCCASIONS),
        "material": {m for s in SPECS.values() for m in s.materials}, "occasion": {o for s in SPECS.values() for o in s.occasions},
        "season": {x for s in SPECS.values() for x in s.seasons}, "brand": {b for s in SPECS.values() for b in s.brands},
    }
    for field, words in V.LEXICON.items():
        named = {v for values in words.values() for v in values}
        assert named <= catalog[field], (field, named - catalog[field])
        either = set(V.STYLE_OR_OCCASION.values()) if field in ("style", "occasion") else set()
        assert catalog[field] <= named | either, (field, catalog[field] - named)


def test_ordinary_english_words_state_nothing() -> None:
    """The precise layers (lists and typo correction) on 2,000 dictionary words that name no attribute."""
    from multimodal.evaluation.text_eval import ordinary_words, split_words

    words = ordinary_words()
    if not words:
        pytest.skip("no /usr/share/dict/words (Debian's wamerican; `make words`)")
    _, sample = split_words(words, seed=0, per_side=2000)
    assert "wood" in words and "black" not in words and "sneakers" not in words
    parsed = [w for w in sample if not parse_query(w).is_empty()]
    assert len(parsed) / len(sample) <= 0.005, parsed


def test_a_word_joining_a_list_leaves_the_word_samples_alone() -> None:
    from multimodal.evaluation.text_eval import split_words

    words = [f"word{i}" for i in range(1000)]
    dev, test = split_words(words, seed=42, per_side=100)
    assert len(dev) == len(test) == 100 and not set(dev) & set(test)
    listed = dev[10]  # a list gains it: it leaves the pool
    dev2, test2 = split_words([w for w in words if w != listed], seed=42, per_side=100)
    assert test2 == test and set(dev) - set(dev2) == {listed} and len(set(dev2) - set(dev)) == 1
    assert split_words(words, seed=43, per_side=100) != (dev, test)


def test_the_evaluations_seen_words_are_frozen_and_still_listed_with_their_values() -> None:
    # Drawn from the live lists, every word a list gained redrew the whole shopper-language test set.
    from multimodal.evaluation.text_eval import seen_words
    from multimodal.search.query import vocabulary as V

    frozen = seen_words()
    assert set(frozen) == {"colour", "material", "style", "occasion", "season"}
    for name, words in frozen.items():
        for word, values in words.items():
            assert V.LEXICON[name].get(word) == values, (name, word)


def test_reviewed_attribute_words_leave_the_sample_but_judgement_calls_stay() -> None:
    from multimodal.evaluation.text_eval import ordinary_words, reviewed_attribute_words, split_words, without_reviewed

    reviewed = reviewed_attribute_words()
    assert reviewed["snow"] == ("season", ("Winter",), False) and reviewed["duvet"][2] is True
    kept, named = without_reviewed(["snow", "duvet", "wood"])
    assert kept == ["duvet", "wood"] and named == ["snow"]
    words = ordinary_words()
    if not words:
        pytest.skip("no /usr/share/dict/words (Debian's wamerican; `make words`)")
    _, sample = split_words(words, seed=42)  # the reported sample: the review covers exactly its words
    assert set(reviewed) <= set(sample)


@pytest.mark.parametrize(("query", "category", "colours", "gender"), [
    ("a top to go with jeans", "T-shirt/top", [], None),
    ("shoes to match my red dress", "Sneaker", [], None),
    ("top to wear with a navy skirt, in white", "T-shirt/top", ["white"], None),
    ("a bag to go with my black boots for her", "Bag", [], "Women"),
    ("a red top with blue jeans", "T-shirt/top", ["red"], None),  # a garment after "with" is what it goes with
    ("red dress with black shoes", "Dress", ["red"], None),
])
def test_what_an_item_should_go_with_states_nothing_and_is_said(query, category, colours, gender) -> None:
    parsed = parse_query(query)
    assert parsed.categories[0] == category and parsed.colours == colours and parsed.gender == gender
    said = parsed.chips()[-1]
    assert said.endswith(": not searched for") and ("with" in said or "match" in said)


def test_with_and_no_garment_after_it_is_part_of_what_is_wanted() -> None:
    assert parse_query("jacket with a hood").companion is None and parse_query("dress with pockets").categories == ["Dress"]
    assert parse_query("something with leather").values("material") == ["leather", "waterproof leather"]


@pytest.mark.parametrize(("query", "category", "said"), [
    ("adidas trainers", "Sneaker", "Adidas: not sold here"), ("h&m dress", "Dress", "H&M: not sold here"),
    ("the north face jacket for hiking", "Coat", "The North Face: not sold here"),
])
def test_a_brand_the_catalog_does_not_sell_filters_nothing_and_is_said(query, category, said) -> None:
    parsed = parse_query(query)
    assert parsed.categories == [category] and parsed.values("brand") == []
    assert parsed.chips()[-1] == said
    # Ruling such a brand out rules nothing out and needs no word.
    assert parse_query("white sneakers, not nike or adidas").chips() == ["category: Sneaker", "colour: white"]
