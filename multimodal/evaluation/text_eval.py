"""A generated evaluation of text search that understands how shoppers talk.

Queries are generated from catalog items in templates unlike any training text, one group per
attribute or intent (category, category groups, gender, colour, material, style, occasion,
season, brand, price range, price order, negation, combinations). In the attribute groups most
queries use words that neither the catalog's texts nor any hand-written list holds (``UNSEEN_TEST``),
so that only the learned layer (or the dense ranking) can find them; they are reported alone too.

Score of a query: the share of the top 10 that meets every stated constraint, over
min(10, items that meet them); for a price order, the items must also be among the
min(10, n) cheapest (dearest) of those. Words of ``UNSEEN_DEV`` choose the learned layer's
threshold and never appear in the test queries.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from multimodal.search.query import PRICE_ASCENDING, PRICE_DESCENDING
from multimodal.search.query import vocabulary as V

_WOOLS = ("wool", "merino wool", "wool blend")
_LEATHER = ("leather", "waterproof leather")
_LINEN = ("linen", "linen blend")

# word -> (field, values it means). Test words: only in test queries; dev words: only to choose the threshold.
UNSEEN_TEST: dict[str, tuple[str, tuple[str, ...]]] = {
    **{w: ("colour", ("red",)) for w in ("vermilion", "cherry")},
    **{w: ("colour", ("blue",)) for w in ("sapphire", "cerulean")},
    **{w: ("colour", ("green",)) for w in ("jade",)},
    **{w: ("colour", ("black",)) for w in ("onyx", "inky")},
    **{w: ("colour", ("grey",)) for w in ("slate", "graphite")},
    **{w: ("colour", ("navy",)) for w in ("midnight",)},
    **{w: ("colour", ("beige",)) for w in ("taupe", "oatmeal")},
    **{w: ("colour", ("brown",)) for w in ("mocha", "walnut", "coffee")},
    **{w: ("colour", ("pink",)) for w in ("salmon", "bubblegum")},
    **{w: ("colour", ("burgundy",)) for w in ("merlot", "claret")},
    **{w: ("colour", ("olive",)) for w in ("moss",)},
    **{w: ("colour", ("cream",)) for w in ("vanilla", "eggshell")},
    **{w: ("colour", ("yellow",)) for w in ("lemon", "canary")},
    "lambswool": ("material", _WOOLS), "calfskin": ("material", _LEATHER), "cowhide": ("material", _LEATHER),
    "nubuck": ("material", ("suede",)), "eiderdown": ("material", ("down",)), "silken": ("material", ("silk",)),
    "flax": ("material", _LINEN), "velour": ("material", ("velvet",)), "polyester": ("material", ("synthetic",)),
    "raffia": ("material", ("straw",)), "wicker": ("material", ("straw",)), "sheepskin": ("material", ("shearling",)),
    "athletic": ("style", ("sporty",)), "athleisure": ("style", ("sporty",)), "skater": ("style", ("streetwear",)),
    "understated": ("style", ("minimalist",)), "corporate": ("style", ("business",)), "sophisticated": ("style", ("elegant",)),
    "chic": ("style", ("elegant",)), "hippie": ("style", ("bohemian",)), "outdoorsy": ("style", ("outdoor",)),
    "throwback": ("style", ("retro",)), "nostalgic": ("style", ("retro",)), "timeless": ("style", ("classic",)),
    "slouchy": ("style", ("lounge",)), "laid-back": ("style", ("casual",)),
    "workout": ("occasion", ("gym",)), "fitness": ("occasion", ("gym",)), "jogging": ("occasion", ("running",)),
    "bridal": ("occasion", ("wedding",)), "seaside": ("occasion", ("beach",)), "poolside": ("occasion", ("pool",)),
    "workplace": ("occasion", ("office",)), "trekking": ("occasion", ("hiking",)), "concert": ("occasion", ("festival",)),
    "restaurant": ("occasion", ("dinner",)), "clubbing": ("occasion", ("night out",)), "gala": ("occasion", ("evening event",)),
    "getaway": ("occasion", ("vacation",)), "journey": ("occasion", ("travel",)), "indoors": ("occasion", ("home",)),
    "boardroom": ("occasion", ("meeting",)), "saturday": ("occasion", ("weekend",)),
    "snowy": ("season", ("Winter",)), "chilly": ("season", ("Winter",)), "december": ("season", ("Winter",)),
    "heatwave": ("season", ("Summer",)), "july": ("season", ("Summer",)), "springtime": ("season", ("Spring",)),
    "april": ("season", ("Spring",)), "october": ("season", ("Autumn",)), "harvest": ("season", ("Autumn",)),
    "henley": ("category", ("T-shirt/top",)), "singlet": ("category", ("T-shirt/top",)),
    "trackpants": ("category", ("Trouser",)), "culottes": ("category", ("Trouser",)),
    "turtleneck": ("category", ("Pullover",)), "crewneck": ("category", ("Pullover",)), "kaftan": ("category", ("Dress",)),
    "windbreaker": ("category", ("Coat",)), "peacoat": ("category", ("Coat",)), "mules": ("category", ("Sandal",)),
    "huaraches": ("category", ("Sandal",)), "hightops": ("category", ("Sneaker",)), "rucksack": ("category", ("Bag",)),
    "duffel": ("category", ("Bag",)), "briefcase": ("category", ("Bag",)), "chukkas": ("category", ("Ankle boot",)),
}
UNSEEN_DEV: dict[str, tuple[str, tuple[str, ...]]] = {
    "ruby": ("colour", ("red",)), "azure": ("colour", ("blue",)), "mint": ("colour", ("green",)), "raven": ("colour", ("black",)),
    "pewter": ("colour", ("grey",)), "stone": ("colour", ("beige",)), "chestnut": ("colour", ("brown",)),
    "coral": ("colour", ("pink",)), "plum": ("colour", ("burgundy",)), "sage": ("colour", ("olive",)),
    "sunflower": ("colour", ("yellow",)), "nappa": ("material", _LEATHER), "rattan": ("material", ("straw",)),
    "pashmina": ("material", ("cashmere",)), "sportswear": ("style", ("sporty",)), "refined": ("style", ("elegant",)),
    "professional": ("style", ("business",)), "comfy": ("style", ("lounge",)), "relaxed": ("style", ("casual",)),
    "traditional": ("style", ("classic",)), "weightlifting": ("occasion", ("gym",)), "marathon": ("occasion", ("running",)),
    "ceremony": ("occasion", ("wedding",)), "swimming": ("occasion", ("pool",)), "nightclub": ("occasion", ("night out",)),
    "commute": ("occasion", ("travel",)), "freezing": ("season", ("Winter",)), "blossom": ("season", ("Spring",)),
    "tunic": ("category", ("T-shirt/top",)), "cagoule": ("category", ("Coat",)), "holdall": ("category", ("Bag",)),
}

_CATEGORY_NOUNS = {c: tuple(w for w, v in V.CATEGORY_WORDS.items() if v == (c,) and " " not in w and len(w) > 3)
                   for c in V.CATEGORY_GROUPS["clothes"] + V.CATEGORY_GROUPS["shoes"] + ("Bag",)}
_GROUPS = {w: v for w, v in V.CATEGORY_GROUPS.items()
           if w in ("shoes", "footwear", "tops", "bottoms", "knitwear", "outerwear", "accessories", "clothes", "clothing")}
_GENDER_PHRASES = {"Men": ("for him", "for men", "men's", "for my husband", "gents"),
                   "Women": ("for her", "for women", "ladies'", "for my wife", "womens"), "Unisex": ("unisex",)}
GROUPS: tuple[str, ...] = ("category", "category_group", "gender", "colour", "material", "style", "occasion", "season",
                           "brand", "price_range", "price_order", "negation", "combined")
_UNSEEN_GROUPS = ("category", "colour", "material", "style", "occasion", "season")


@dataclass
class IntentQuery:
    """A generated query and what it states (the truth its results are scored against)."""

    text: str
    group: str
    include: dict[str, tuple[str, ...]] = field(default_factory=dict)
    exclude: dict[str, tuple[str, ...]] = field(default_factory=dict)
    gender: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    sort: str | None = None
    unseen: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def words_in_catalog(catalog: pd.DataFrame) -> set[str]:
    """Every word of the catalog's titles, descriptions and keywords (lower case)."""
    text = " ".join((catalog["title"] + " " + catalog["description"] + " " + catalog["keywords"]).str.lower())
    return set(re.findall(r"[a-z][a-z'\-]*", text))


def check_unseen(catalog: pd.DataFrame) -> list[str]:
    """The evaluation's "unseen" words that are in fact in the catalog texts or a hand-written list (should be none)."""
    from multimodal.search.query.parser import known_phrases

    known = set(known_phrases()) | words_in_catalog(catalog)
    return sorted(w for w in (*UNSEEN_TEST, *UNSEEN_DEV) if w in known or w.rstrip("s") in known)


def _pick(rng: np.random.Generator, options: Iterable[Any]) -> Any:
    options = list(options)
    return options[int(rng.integers(len(options)))]


SEEN_WORDS_FILE = Path(__file__).with_name("data") / "seen_words.json"


@functools.lru_cache(maxsize=1)
def seen_words() -> dict[str, dict[str, tuple[str, ...]]]:
    """Per field, the hand-list words "seen" queries are worded with, and their values: frozen in
    ``SEEN_WORDS_FILE``, since drawing from the live lists redrew the whole test set whenever a list
    gained a word ("for rain" would even have stood where a fabric goes: "coat made of for rain")."""
    data = json.loads(SEEN_WORDS_FILE.read_text(encoding="utf-8"))
    return {name: {w: tuple(v) for w, v in words.items()} for name, words in data.items() if not name.startswith("_")}


def _seen_word(rng: np.random.Generator, field_name: str, value: str) -> str:
    """A hand-list word for ``value`` that means exactly that value (or a family holding it)."""
    words = [w for w, vals in seen_words()[field_name].items() if value in vals and (len(vals) == 1 or field_name == "material")]
    return _pick(rng, words) if words else value.lower()


def _unseen_for(field_name: str, value: str) -> list[str]:
    return [w for w, (f, vals) in UNSEEN_TEST.items() if f == field_name and value in vals]


def _noun(rng: np.random.Generator, category: str) -> str:
    return _pick(rng, _CATEGORY_NOUNS[category])


def generate(catalog: pd.DataFrame, seed: int = 0, per_group: int = 60, unseen_groups_size: int = 100,
             unseen_share: float = 0.6) -> list[IntentQuery]:
    """The evaluation set: ``per_group`` queries per group, ``unseen_groups_size`` in the groups with
    unseen words, ``unseen_share`` of those worded with ``UNSEEN_TEST`` words.

    Every query is drawn from a catalog item, so at least one item meets what it states.
    """
    rng = np.random.default_rng(seed + 101)
    items = catalog.reset_index(drop=True)
    out: list[IntentQuery] = []
    makers: dict[str, Callable[[pd.Series, bool], IntentQuery | None]] = {
        "category": lambda r, u: _category(rng, r, u), "category_group": lambda r, u: _category_group(rng, r),
        "gender": lambda r, u: _gender(rng, r), "colour": lambda r, u: _attribute(rng, r, "colour", u),
        "material": lambda r, u: _attribute(rng, r, "material", u), "style": lambda r, u: _attribute(rng, r, "style", u),
        "occasion": lambda r, u: _attribute(rng, r, "occasion", u), "season": lambda r, u: _attribute(rng, r, "season", u),
        "brand": lambda r, u: _brand(rng, r), "price_range": lambda r, u: _price_range(rng, r, items),
        "price_order": lambda r, u: _price_order(rng, r), "negation": lambda r, u: _negation(rng, r, items),
        "combined": lambda r, u: _combined(rng, r),
    }
    for group in GROUPS:
        size = unseen_groups_size if group in _UNSEEN_GROUPS else per_group
        n_unseen = int(round(size * unseen_share)) if group in _UNSEEN_GROUPS else 0
        made = 0
        tries = 0
        while made < size and tries < size * 50:
            tries += 1
            row = items.iloc[int(rng.integers(len(items)))]
            query = makers[group](row, made < n_unseen)
            if query is not None and query.text not in {q.text for q in out}:
                out.append(query)
                made += 1
    return out


def _category(rng: np.random.Generator, row: pd.Series, unseen: bool) -> IntentQuery | None:
    cat = row["category"]
    if unseen:
        words = _unseen_for("category", cat)
        if not words:
            return None
        word = _pick(rng, words)
    else:
        word = _noun(rng, cat)
    template = _pick(rng, ("{w}", "show me {w}", "i need new {w}", "any {w}?", "looking for {w}", "{w} please"))
    return IntentQuery(template.format(w=word), "category", {"category": (cat,)}, unseen=unseen)


def _category_group(rng: np.random.Generator, row: pd.Series) -> IntentQuery | None:
    options = [w for w, cats in _GROUPS.items() if row["category"] in cats]
    if not options:
        return None
    word = _pick(rng, options)
    template = _pick(rng, ("{w}", "all the {w}", "browse {w}", "{w} for the weekend shop", "new {w} please", "show {w}",
                           "what {w} do you have", "i want to see {w}", "{w} on sale", "latest {w}", "some {w}"))
    text = template.format(w=word)
    include = {"category": _GROUPS[word]}
    if "weekend" in text:
        include["occasion"] = ("weekend",)
    return IntentQuery(text, "category_group", include)


def _gender(rng: np.random.Generator, row: pd.Series) -> IntentQuery | None:
    gender = row["gender"]
    phrase = _pick(rng, _GENDER_PHRASES[gender])
    noun = _noun(rng, row["category"])
    text = f"{phrase} {noun}" if phrase.endswith("'") or phrase in ("womens", "gents", "unisex") else f"{noun} {phrase}"
    return IntentQuery(text, "gender", {"category": (row["category"],)}, gender=gender)


def _attribute(rng: np.random.Generator, row: pd.Series, name: str, unseen: bool) -> IntentQuery | None:
    value = row[name]
    cat = row["category"]
    noun = _noun(rng, cat)
    if unseen:
        words = _unseen_for(name, value)
        if not words:
            return None
        word = _pick(rng, words)
        truth = UNSEEN_TEST[word][1]
    else:
        word = _seen_word(rng, name, value)
        truth = (seen_words()[name].get(word) or (value,))
        if name == "style" and word in V.STYLE_OR_OCCASION:
            truth = (value,)
    templates = {
        "colour": ("{w} {n}", "{n} in {w}", "a {w} {n} please", "{w} coloured {n}"),
        "material": ("{w} {n}", "{n} made of {w}", "{n} in {w}", "something in {w}, a {n}"),
        "style": ("{w} {n}", "a {w} {n}", "{n} with a {w} style", "{w} looking {n}"),
        "occasion": ("{n} for {w}", "{n} to wear for {w}", "what to wear for {w}: {n}", "{n} for the {w}"),
        "season": ("{n} for {w}", "{w} {n}", "{n} in {w}", "{n} for {w} days"),
    }[name]
    if name == "style" and value in V.STYLE_OR_OCCASION and not unseen:
        word = f"{value} style"
    if name == "occasion" and not unseen:
        templates = ("{n} for {w}", "{n} to wear for {w}", "{n} for the {w}")
    text = _pick(rng, templates).format(w=word, n=noun)
    return IntentQuery(text, name, {"category": (cat,), name: tuple(truth)}, unseen=unseen)


def _brand(rng: np.random.Generator, row: pd.Series) -> IntentQuery:
    noun = _noun(rng, row["category"])
    text = _pick(rng, ("{b} {n}", "{n} by {b}", "{n} from {b}")).format(b=row["brand"], n=noun)
    return IntentQuery(text, "brand", {"category": (row["category"],), "brand": (row["brand"],)})


def _price_range(rng: np.random.Generator, row: pd.Series, items: pd.DataFrame) -> IntentQuery:
    cat, price = row["category"], float(row["price"])
    noun = _noun(rng, cat)
    kind = int(rng.integers(3))
    if kind == 0:
        limit = float(np.ceil(price / 10) * 10)
        return IntentQuery(f"{noun} under ${limit:g}", "price_range", {"category": (cat,)}, max_price=limit)
    if kind == 1:
        limit = float(np.floor(price / 10) * 10)
        return IntentQuery(f"{noun} over {limit:g} dollars", "price_range", {"category": (cat,)}, min_price=limit)
    low, high = float(np.floor(price / 10) * 10), float(np.ceil(price / 10) * 10 + 20)
    return IntentQuery(f"{noun} between {low:g} and {high:g} dollars", "price_range", {"category": (cat,)}, min_price=low, max_price=high)


def _price_order(rng: np.random.Generator, row: pd.Series) -> IntentQuery:
    cat = row["category"]
    noun = _noun(rng, cat)
    cheap = bool(rng.integers(2))
    word = _pick(rng, ("cheapest", "budget", "affordable", "least expensive") if cheap else
                 ("most expensive", "premium", "luxury", "high-end"))
    text = _pick(rng, ("{w} {n}", "{n}, {w} first", "show me the {w} {n}")).format(w=word, n=noun)
    return IntentQuery(text, "price_order", {"category": (cat,)}, sort=PRICE_ASCENDING if cheap else PRICE_DESCENDING)


def _negation(rng: np.random.Generator, row: pd.Series, items: pd.DataFrame) -> IntentQuery | None:
    cat = row["category"]
    noun = _noun(rng, cat)
    kind = int(rng.integers(4))
    neg = _pick(rng, ("not", "no", "without", "except", "but not"))
    if kind == 0:  # another colour than this item's
        others = [c for c in V.COLOURS if c != row["colour"]]
        colour = _pick(rng, others)
        return IntentQuery(f"{noun} {neg} {colour}", "negation", {"category": (cat,)}, {"colour": (colour,)})
    if kind == 1:
        materials = sorted(set(items.loc[items["category"] == cat, "material"]) - {row["material"]})
        if not materials:
            return None
        material = _pick(rng, materials)
        word = _seen_word(rng, "material", material)
        values = seen_words()["material"].get(word, (material,))
        if row["material"] in values:
            return None
        return IntentQuery(f"{noun} {neg} {word}", "negation", {"category": (cat,)}, {"material": tuple(values)})
    if kind == 2:
        group = [g for g, cats in (("shoes", V.CATEGORY_GROUPS["shoes"]), ("clothes", V.CATEGORY_GROUPS["clothes"])) if cat in cats]
        if not group:
            return None
        cats = V.CATEGORY_GROUPS[group[0]]
        other = _pick(rng, [c for c in cats if c != cat])
        return IntentQuery(f"{group[0]} {neg} {_noun(rng, other)}", "negation", {"category": cats}, {"category": (other,)})
    brands = sorted(set(items.loc[items["category"] == cat, "brand"]) - {row["brand"]})
    brand = _pick(rng, brands)
    return IntentQuery(f"{noun} {neg} {brand}", "negation", {"category": (cat,)}, {"brand": (brand,)})


def _combined(rng: np.random.Generator, row: pd.Series) -> IntentQuery:
    cat = row["category"]
    noun = _noun(rng, cat)
    colour = _seen_word(rng, "colour", row["colour"])
    material = _seen_word(rng, "material", row["material"])
    gender = _pick(rng, _GENDER_PHRASES[row["gender"]]) if row["gender"] != "Unisex" else ""
    season = row["season"].lower() if row["season"] != "All-season" else ""
    text = " ".join(x for x in (colour, material, noun, gender, f"for {season}" if season and rng.random() < 0.5 else "") if x)
    include = {"category": (cat,), "colour": (row["colour"],), "material": seen_words()["material"].get(material, (row["material"],))}
    if "for " + season in text and season:
        include["season"] = (row["season"],)
    return IntentQuery(text, "combined", include, gender=row["gender"] if gender else None)


# ---------------------------------------------------------------- scoring

_GENDER_ALLOWED = {"Men": ("Men", "Unisex"), "Women": ("Women", "Unisex"), "Unisex": ("Unisex",)}


def relevant_mask(query: IntentQuery, columns: Mapping[str, np.ndarray], prices: np.ndarray, genders: np.ndarray) -> np.ndarray:
    """Items that meet everything the query states; for a price order, only the first
    min(10, n) of them by price (ties included)."""
    ok = np.ones(len(prices), bool)
    for name, values in query.include.items():
        ok &= np.isin(columns[name], list(values))
    for name, values in query.exclude.items():
        ok &= ~np.isin(columns[name], list(values))
    if query.gender:
        ok &= np.isin(genders, list(_GENDER_ALLOWED[query.gender]))
    if query.min_price is not None:
        ok &= prices >= query.min_price
    if query.max_price is not None:
        ok &= prices <= query.max_price
    if query.sort and ok.any():
        inside = np.sort(prices[ok])
        n = min(10, len(inside))
        if query.sort == PRICE_ASCENDING:
            ok &= prices <= inside[n - 1]
        else:
            ok &= prices >= inside[::-1][n - 1]
    return ok


def query_score(rows: np.ndarray, relevant: np.ndarray, k: int = 10) -> float:
    """Share of the top k that is relevant, over min(k, number of relevant items)."""
    rows = np.asarray(rows, np.int64)[:k]
    rows = rows[rows >= 0]
    n_relevant = int(relevant.sum())
    if n_relevant == 0:
        return float("nan")
    if relevant.sum() >= k and not len(rows):
        return 0.0
    return float(relevant[rows].sum() / min(k, n_relevant))


def summarise(queries: list[IntentQuery], scores: np.ndarray) -> dict[str, Any]:
    """Mean score overall, per group, and for the queries worded with unseen words."""
    scores = np.asarray(scores, np.float64)
    out: dict[str, Any] = {"overall": float(np.nanmean(scores)) if len(scores) else float("nan"), "queries": len(queries)}
    out["per_group"] = {g: float(np.nanmean(scores[[q.group == g for q in queries]])) for g in GROUPS
                        if any(q.group == g for q in queries)}
    unseen = np.array([q.unseen for q in queries])
    out["unseen_words"] = float(np.nanmean(scores[unseen])) if unseen.any() else float("nan")
    out["seen_words"] = float(np.nanmean(scores[~unseen])) if (~unseen).any() else float("nan")
    out["unseen_share"] = float(unseen.mean()) if len(unseen) else 0.0
    out["unseen_per_group"] = {g: float(np.nanmean(scores[[q.group == g and q.unseen for q in queries]])) for g in GROUPS
                               if any(q.group == g and q.unseen for q in queries)}
    return out


# ---------------------------------------------------------------- ordinary English words

WORD_LIST = "/usr/share/dict/words"  # Debian's wamerican (`make words`)


def ordinary_words(path: str = WORD_LIST) -> list[str]:
    """Lower-case English words of 3+ letters that no list holds: not a phrase of the hand-written
    lists nor its plural, nor an evaluation word with a known meaning. Empty if the list is missing.
    Words a review found to name an attribute leave the samples after ``split_words``
    (``without_reviewed``), so the review never changes which words are drawn."""
    from multimodal.search.query.parser import _singular, known_phrases

    file = Path(path)
    if not file.is_file():
        return []
    # Brands the catalog does not sell state nothing, so they stay ordinary words.
    known = (set(known_phrases()) - V.OTHER_BRANDS) | set(UNSEEN_TEST) | set(UNSEEN_DEV)
    words = {w.lower() for w in file.read_text(encoding="utf-8", errors="ignore").split() if re.fullmatch(r"[a-z]{3,}", w)}
    return sorted(w for w in words if w not in known and _singular(w) in (None, *V.OTHER_BRANDS))


REVIEWED_WORDS_FILE = Path(__file__).with_name("data") / "reviewed_attribute_words.tsv"


@functools.cache
def reviewed_attribute_words(path: Path = REVIEWED_WORDS_FILE) -> dict[str, tuple[str, tuple[str, ...], bool]]:
    """Words of the reported ordinary-word sample (seed 42) that a reviewer, without the parser's
    output, judged to name a catalog attribute: word -> (field, values, judgement call)."""
    out: dict[str, tuple[str, tuple[str, ...], bool]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            word, name, values, *note = line.split("\t")
            out[word] = (name, tuple(values.split(",")), "?" in "".join(note))
    return out


def without_reviewed(words: list[str]) -> tuple[list[str], list[str]]:
    """(words that name no attribute, words the review found to name one). Judgement calls ("?")
    stay ordinary words: a doubtful word may still count as a false parse."""
    named = {w for w, (_, _, doubtful) in reviewed_attribute_words().items() if not doubtful}
    return [w for w in words if w not in named], [w for w in words if w in named]


def split_words(words: list[str], seed: int = 0, per_side: int = 3000) -> tuple[list[str], list[str]]:
    """Two disjoint seeded samples: dev words (to choose the threshold) and test words (reported).

    Each word's side and place come from a hash of the seed and the word itself, not from its
    position in ``words``: a word that joins a hand-written list leaves its sample alone, and every
    other word stays where it was (a seeded permutation of the list had redrawn both samples, and
    voided their review, whenever a list gained a word)."""
    key = {w: hashlib.blake2b(f"{seed}:{w}".encode(), digest_size=8).digest() for w in words}
    ranked = sorted(words, key=key.__getitem__)
    dev = [w for w in ranked if key[w][0] & 1 == 0][:per_side]
    test = [w for w in ranked if key[w][0] & 1 == 1][:per_side]
    return dev, test
