"""The dictionary layer: WordNet and the colour survey name what unlisted words mean, and stay silent
on words that name no attribute. WordNet tests need Debian's wordnet-base (`make wordnet`)."""

from __future__ import annotations

import pytest

from multimodal.search.query import parse_query
from multimodal.search.query.dictionary import DictionaryLayer, WordNet, colour_table

needs_wordnet = pytest.mark.skipif(not WordNet.available(), reason="WordNet not installed (make wordnet)")
MODIFIER = ("colour", "material", "style", "season", "occasion")


@pytest.fixture(scope="module")
def layer() -> DictionaryLayer:
    return DictionaryLayer()


@pytest.mark.parametrize(("name", "colour"), [("royal blue", "blue"), ("lemon yellow", "yellow"), ("chocolate brown", "brown"),
                                              ("blood red", "red"), ("forest green", "green"), ("light grey", "grey")])
def test_survey_colour_names_take_the_nearest_catalog_colour(name, colour) -> None:
    assert colour_table()[name] == colour


@needs_wordnet
@pytest.mark.parametrize(("word", "fields", "expected"), [
    ("cerulean", MODIFIER, ("colour", ("blue",))),              # survey name with a WordNet colour sense
    ("vermilion", MODIFIER, ("colour", ("red",))),              # not in the survey: WordNet's synonym "scarlet"
    ("huaraches", ("category",), ("category", ("Sandal",))),    # plural -> huarache -> sandal
    ("rucksack", ("category",), ("category", ("Bag",))),
    ("polyester", MODIFIER, ("material", ("synthetic",))),      # "any of a large class of synthetic fabrics"
])
def test_dictionary_reads_unlisted_words(layer, word, fields, expected) -> None:
    assert layer.meaning(word, fields) == expected


@needs_wordnet
@pytest.mark.parametrize("word", ["dust", "industry", "table", "happiness", "running"])
def test_words_that_name_no_attribute_state_nothing(layer, word) -> None:
    assert layer.meaning(word, MODIFIER) is None


@needs_wordnet
def test_a_word_is_read_only_for_the_fields_its_position_allows(layer) -> None:
    assert layer.meaning("huaraches", MODIFIER) is None  # before a garment it would be a modifier, not a sandal
    assert layer.meaning("cerulean", ("category",)) is None


@needs_wordnet
def test_the_parser_shows_dictionary_meanings_as_chips_and_lists_win(layer) -> None:
    parsed = parse_query("cerulean dress", None, layer)
    assert parsed.colours == ["blue"]
    assert [c.source for c in parsed.constraints if c.field == "colour"] == ["dictionary"]
    assert "colour: blue (≈ “cerulean”)" in parsed.chips()
    assert parse_query("cerulean black dress", None, layer).colours == ["black"]  # a listed colour overrides
    assert parse_query("cerulean", None, layer).is_empty()  # one word alone: no evidence of its role


def test_without_wordnet_only_the_colour_survey_answers(tmp_path) -> None:
    layer = DictionaryLayer(wordnet_dir=tmp_path)
    assert layer.wordnet is None
    assert layer.meaning("huaraches", ("category",)) is None
    assert layer.meaning("cerulean", MODIFIER) == ("colour", ("blue",))  # the survey alone still knows it


class _KeywordEncoder:
    """A stand-in sentence model: a text's vector says which of a few words it contains, plus a
    small direction of its own (so unrelated texts are unrelated)."""

    words = ("red", "blue", "past")

    def encode(self, texts):
        import zlib

        import numpy as np

        rows = []
        for t in texts:
            own = np.random.default_rng(zlib.crc32(t.encode())).normal(size=32) * 0.1
            rows.append(np.concatenate([[1.0 if w in t.lower().split() else 0.0 for w in self.words], own]))
        out = np.array(rows, np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_unsure_words_are_ranked_by_their_definition_too() -> None:
    from multimodal.search.query.semantic import AttributeMatcher

    definitions = {"tomato": ["tomato: a red fruit"]}
    plain = AttributeMatcher(_KeywordEncoder())
    described = AttributeMatcher(_KeywordEncoder(), describe=lambda w, **_: definitions.get(w, []))
    alone = plain.field_similarities("tomato", ("colour",))["colour"]
    with_definition = described.field_similarities("tomato", ("colour",))["colour"]
    assert abs(alone["red"] - alone["blue"]) < 0.3  # the lone word says little about its colour
    assert with_definition["red"] > 0.5 > with_definition["blue"]  # its definition does


def test_an_unsure_style_word_is_read_in_sentences_on_the_scale_of_lone_words() -> None:
    from multimodal.search.query.semantic import TEMPLATES, AttributeMatcher

    class InContext(_KeywordEncoder):
        """Every sentence about clothes is alike ("past" stands for what they share), and "bygone" reads as
        retro only in one: lone words are unrelated."""

        def encode(self, texts):
            out = []
            for t in texts:
                if any(t == w.format(x) for w in TEMPLATES["style"] for x in ("bygone", "retro")):
                    t = "past red"
                elif any(t.startswith(w.split("{}")[0]) and t.endswith(w.split("{}")[1]) for w in TEMPLATES["style"]):
                    t = "past"
                out.append(t)
            return super().encode(out)

    sims = AttributeMatcher(InContext()).field_similarities("bygone", ("style", "colour"))
    style, colour = sims["style"], sims["colour"]
    assert max(style, key=style.get) == "retro"
    # the sentences' shared likeness is not counted: the other styles stay as unlike as the lone word's colours
    others = [v for k, v in style.items() if k != "retro"]
    assert max(others) < 0.3 and abs(sum(others) / len(others) - sum(colour.values()) / len(colour)) < 0.3


@needs_wordnet
def test_the_dictionary_reads_one_colour_never_a_family(layer) -> None:
    # WordNet files "chalky" under "achromatic", a synonym of "neutral": the listed family of five colours.
    found = layer.meaning("chalky", MODIFIER)
    assert found is None or len(found[1]) == 1
    assert layer.meaning("sooty", MODIFIER) == ("colour", ("black",))


def test_colour_families_are_no_anchors_of_the_learned_layer() -> None:
    from multimodal.search.query.semantic import anchors

    assert not [a for a in anchors() if a.field == "colour" and len(a.values) > 1]
    assert any(a.text == "navy blue" for a in anchors())


@needs_wordnet
def test_a_style_is_described_by_the_sense_the_catalog_means(layer) -> None:
    first = layer.descriptions("sporty", max_senses=1)
    chosen = layer.descriptions("sporty", only=("appropriate for sport",))
    assert first and "appropriate for sport" not in " ".join(first)  # its first sense is about fair play
    assert len(chosen) == 1 and "appropriate for sport" in chosen[0]


def test_an_unsure_style_word_is_ranked_by_the_chosen_sense_of_each_style() -> None:
    from multimodal.search.query.semantic import STYLE_SENSES, AttributeMatcher

    senses = {"retro": {"a fashion reminiscent": "retro: a fashion reminiscent of the past"}}

    def describe(word: str, max_senses: int = 3, only: tuple[str, ...] = ()) -> list[str]:
        if word == "bygone":
            return ["bygone: belonging to the past"]
        return [text for start, text in senses.get(word, {}).items() if start in only]

    assert "retro" in STYLE_SENSES
    style = AttributeMatcher(_KeywordEncoder(), describe=describe).field_similarities("bygone", ("style",))["style"]
    assert style["retro"] > 0.5 > max(v for k, v in style.items() if k != "retro")


@needs_wordnet
@pytest.mark.parametrize(("word", "colour"), [("coal", "black"),    # WordNet's shade name "coal-black"
                                              ("army", "olive"),    # the survey's "army green"
                                              ("raven", "black"),   # "large black bird"
                                              ("table", None), ("happiness", None)])
def test_a_word_that_names_a_shade_has_a_likely_colour(layer, word, colour) -> None:
    assert layer.likely_colour(word) == colour


@needs_wordnet
@pytest.mark.parametrize(("query", "colour"), [("snow white sneakers", "white"), ("hot pink dress", "pink"),
                                               ("coal black boots", "black"), ("bottle green coat", "green")])
def test_a_shade_name_is_its_colour_not_a_season_or_a_hint(layer, query, colour) -> None:
    parsed = parse_query(query, None, layer)
    assert [(c.field, c.values) for c in parsed.constraints if c.field != "category"] == [("colour", (colour,))]
    assert parsed.hints == []


@needs_wordnet
def test_a_word_before_a_colour_that_is_no_shade_name_keeps_its_meaning(layer) -> None:
    parsed = parse_query("summer white dress", None, layer)
    assert parsed.values("season") == ["Summer"] and parsed.colours == ["white"]


@needs_wordnet
@pytest.mark.parametrize(("word", "style"), [("classy", "elegant"),   # "elegant and fashionable"
                                             ("executive", "business"), ("table", None), ("happiness", None)])
def test_a_word_whose_dictionary_entry_names_a_style_has_a_likely_style(layer, word, style) -> None:
    assert layer.likely_style(word) == style


@needs_wordnet
@pytest.mark.parametrize(("word", "categories"), [("loafers", ("Sneaker", "Sandal", "Ankle boot")),  # "a low leather step-in shoe"
                                                  ("moccasins", ("Sneaker", "Sandal", "Ankle boot")),
                                                  ("jumpsuit", None),  # a garment, but "clothing" says nothing
                                                  ("table", None), ("network", None)])
def test_a_garment_word_naming_no_single_category_has_likely_categories(layer, word, categories) -> None:
    assert layer.likely_category(word) == categories
    assert layer.meaning(word, ("category",)) is None  # never a filter


@needs_wordnet
def test_a_garment_word_joined_to_a_listed_one_adds_up_with_it(layer) -> None:
    parsed = parse_query("black blazer and white shirt", None, layer)  # "blazer": no list holds it
    assert parsed.categories == ["Coat", "Shirt"]
    assert {c.words: c.applies_to for c in parsed.constraints if c.field == "colour"} == {"black": ("Coat",), "white": ("Shirt",)}
    assert parse_query("socks and shoes", None, layer).categories == ["Sneaker", "Sandal", "Ankle boot"]


@needs_wordnet
def test_a_query_of_one_such_garment_word_ranks_that_kind_first(layer) -> None:
    parsed = parse_query("loafers", None, layer)
    assert parsed.is_empty() and parsed.hints == [("loafers", ("category",))]
    assert parsed.likely == {"loafers": ("category", ("Sneaker", "Sandal", "Ankle boot"))}
    assert parse_query("black loafers for him", None, layer).likely["loafers"][0] == "category"
    assert parse_query("happiness", None, layer).hints == []  # an ordinary word stays the dense ranking's


@needs_wordnet
def test_a_likely_colour_ranks_but_never_filters(layer) -> None:
    parsed = parse_query("raven coloured slippers", None, layer)
    assert parsed.colours == [] and parsed.likely == {"raven": ("colour", ("black",))}
    assert "probably colour black" in parsed.hint_items()[0]["label"]


def test_the_likely_value_of_an_unsure_word_ranks_first_in_the_models_order() -> None:
    import numpy as np
    import pandas as pd

    from multimodal.search.engine import SearchEngine
    from multimodal.search.query import ParsedQuery

    class Matcher:
        def field_similarities(self, word, fields):
            return {"colour": {"red": 0.5, "black": 0.3, "grey": 0.1}}

    engine = SearchEngine.__new__(SearchEngine)
    engine.catalog = pd.DataFrame({"colour": ["red", "black", "grey"]})
    engine._attributes = {"colour": engine.catalog["colour"].to_numpy()}
    engine._matcher = Matcher()
    parsed = ParsedQuery(text="raven shirt", hints=[("raven", ("colour",))], likely={"raven": ("colour", ("black",))})
    assert np.allclose(engine.hint_scores(parsed), [0.5, 0.93, 0.1])
    # Several likely values (a garment word's kinds) each rank above the rest.
    parsed = ParsedQuery(text="raven", hints=[("raven", ("colour",))], likely={"raven": ("colour", ("black", "grey"))})
    assert np.allclose(engine.hint_scores(parsed), [0.5, 0.93, 0.91])


@needs_wordnet
def test_a_run_of_modifiers_and_a_price_phrase_give_words_their_position(layer) -> None:
    parsed = parse_query("taupe calfskin boots", None, layer)
    assert parsed.colours == ["beige"] and parsed.values("material") == ["leather", "waterproof leather"]
    assert parse_query("huaraches under $40", None, layer).categories == ["Sandal"]
    assert parse_query("huaraches", None, layer).is_empty()


def test_an_unsure_word_ranks_each_item_by_its_most_alike_field() -> None:
    import numpy as np
    import pandas as pd

    from multimodal.search.engine import SearchEngine
    from multimodal.search.query import ParsedQuery

    class Matcher:
        def field_similarities(self, word, fields):
            return {"colour": {"red": 0.9, "blue": 0.1}, "style": {"retro": 0.8, "casual": 0.0}}

    engine = SearchEngine.__new__(SearchEngine)
    engine.catalog = pd.DataFrame({"colour": ["blue", "red", "blue"], "style": ["retro", "casual", "casual"]})
    engine._attributes = {"colour": engine.catalog["colour"].to_numpy(), "style": engine.catalog["style"].to_numpy()}
    engine._matcher = Matcher()
    parsed = ParsedQuery(text="throwback shirt", hints=[("throwback", ("colour", "style"))])
    assert np.allclose(engine.hint_scores(parsed), [0.8, 0.9, 0.1])  # the retro item rises though colour is likelier
    two = ParsedQuery(text="retro throwback shirt", hints=[("retro", ("colour", "style")), ("throwback", ("colour", "style"))])
    assert np.allclose(engine.hint_scores(two), [0.8, 0.9, 0.1])  # the mean over the words (not 1.6, ...): a cosine


@needs_wordnet
def test_wordnet_reads_the_same_from_many_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    words = ["cerulean", "huarache", "sandal", "polyester", "vermilion", "rucksack", "velvet", "boot"] * 25
    expected = {w: [s.gloss for s in WordNet().senses(w)] for w in set(words)}
    fresh = WordNet()  # an empty sense cache, so every thread seeks and reads the files itself
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda w: [s.gloss for s in fresh.senses(w)], words))
    assert got == [expected[w] for w in words]


def test_a_pale_shade_takes_its_hue_rather_than_cream() -> None:
    from multimodal.search.query.dictionary import colour_table

    table = colour_table()
    assert table["pistachio"] == table["mint"] == "green"  # plain CIELAB distance read both as cream
    assert table["banana"] == "yellow"


@needs_wordnet
def test_a_survey_colour_name_is_a_colour_where_only_a_colour_may_stand(layer) -> None:
    assert layer.meaning("mulberry", ("colour",)) == ("colour", ("burgundy",))  # "mulberry coloured gowns"
    assert layer.meaning("mulberry", ("colour", "material", "style")) is None  # a tree, before a garment
    assert layer.meaning("dust", ("colour", "material")) is None


def test_a_listed_colour_or_material_with_a_suffix_is_read(layer) -> None:
    assert parse_query("reddish dress", None, layer).colours == ["red"]
    assert parse_query("bluish shirt", None, layer).colours == ["blue"]
    assert parse_query("woolly jumper", None, layer).values("material") == ["wool", "merino wool", "wool blend"]
    assert parse_query("silky blouse", None, layer).values("material") == ["silk"]
    assert len(parse_query("silly dress", None, layer).constraints) == 1  # "sill" names nothing
    assert parse_query("reddish", None, layer).is_empty()  # no position: one word alone


@needs_wordnet
def test_a_thing_made_of_cloth_is_no_fabric(layer) -> None:
    assert layer.meaning("royal", ("material",)) is None  # a sail: WordNet files sails under "piece of cloth"
    assert layer.meaning("mainsail", ("material",)) is None
    assert layer.meaning("percale", ("material",))[1][0] == "cotton"


@needs_wordnet
def test_a_material_is_read_only_through_a_words_main_sense(layer) -> None:
    for word in ("kids", "network", "counter", "material"):  # a child, a net of links, a shop table, stuff
        assert layer.meaning(word, MODIFIER) is None, word
    assert parse_query("kids shoes", None, layer).chips() == ["category: Sneaker / Sandal / Ankle boot"]
    field, values = layer.meaning("chintz", MODIFIER)  # a fabric is its first sense: still read
    assert field == "material" and "cotton" in values
