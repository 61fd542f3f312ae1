"""Query understanding: pull out what a shopper states explicitly (gender, colour, category, price).

Only explicit words become constraints; everything else about the query's meaning is left
to the sentence model. Misspelt words are matched to the vocabulary with a similarity
cutoff, so "sneekers" still means sneakers and "blak" black.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from .catalog import CATEGORY_SYNONYMS, COLOURS
from .errors import InvalidInputError

MAX_QUERY_CHARS = 500  # longer queries are cut: the sentence model reads ~256 tokens anyway

GENDER_WORDS: dict[str, str] = {
    **dict.fromkeys(("men", "man", "mens", "men's", "male", "males", "his", "him", "he", "guy", "guys",
                     "gent", "gents", "gentleman", "gentlemen", "boyfriend", "husband", "dad", "father"), "Men"),
    **dict.fromkeys(("women", "woman", "womens", "women's", "womans", "female", "females", "her", "hers", "she",
                     "lady", "ladies", "girl", "girls", "girlfriend", "wife", "mum", "mom", "mother"), "Women"),
    **dict.fromkeys(("unisex", "gender-neutral", "genderless", "everyone", "anyone"), "Unisex"),
}
COLOUR_WORDS: dict[str, str] = {
    **{c: c for c in COLOURS},
    "gray": "grey", "charcoal": "grey", "silver": "grey",
    "navy-blue": "navy", "dark-blue": "navy",
    "light-blue": "blue", "denim-blue": "blue", "sky-blue": "blue", "cobalt": "blue",
    "scarlet": "red", "crimson": "red",
    "emerald": "green", "forest-green": "green", "khaki": "olive",
    "tan": "beige", "camel": "beige", "sand": "beige", "nude": "beige",
    "chocolate": "brown", "cognac": "brown",
    "rose": "pink", "blush": "pink", "fuchsia": "pink",
    "maroon": "burgundy", "wine": "burgundy", "oxblood": "burgundy",
    "ivory": "cream", "off-white": "cream", "ecru": "cream",
    "mustard": "yellow",
    "jet-black": "black", "ebony": "black",
}
# Words a shopper uses for each category: the catalog's synonyms plus a few more.
CATEGORY_WORDS: dict[str, str] = {}
for _category, _words in CATEGORY_SYNONYMS.items():
    for _word in (*_words, _category.lower()):
        CATEGORY_WORDS[_word] = _category
CATEGORY_WORDS.update({
    "tees": "T-shirt/top", "t-shirts": "T-shirt/top", "tops": "T-shirt/top", "tank": "T-shirt/top", "camisole": "T-shirt/top",
    "pant": "Trouser", "jean": "Trouser", "joggers": "Trouser", "leggings": "Trouser", "slack": "Trouser", "chino": "Trouser",
    "jumpers": "Pullover", "sweaters": "Pullover", "hoodie": "Pullover", "cardigan": "Pullover", "knitwear": "Pullover", "pullovers": "Pullover",
    "dresses": "Dress", "frock": "Dress", "gowns": "Dress",
    "coats": "Coat", "jackets": "Coat", "parkas": "Coat", "anorak": "Coat", "overcoats": "Coat", "puffer": "Coat", "raincoat": "Coat",
    "flip-flop": "Sandal", "slide": "Sandal", "slippers": "Sandal", "espadrilles": "Sandal",
    "shirts": "Shirt", "blouses": "Shirt", "button-downs": "Shirt", "oxford": "Shirt",
    "trainer": "Sneaker", "runners": "Sneaker", "plimsolls": "Sneaker", "tennis shoes": "Sneaker", "sport shoes": "Sneaker",
    "bags": "Bag", "handbags": "Bag", "purses": "Bag", "totes": "Bag", "backpacks": "Bag", "satchel": "Bag", "clutches": "Bag", "shoulder bag": "Bag", "crossbody": "Bag",
    "boot": "Ankle boot", "bootie": "Ankle boot", "chelsea boot": "Ankle boot", "ankle-boots": "Ankle boot",
})
# Fixed per process: phrases longest first, and the single words fuzzy matching compares against.
_CATEGORY_PHRASES = sorted(((p, c) for p, c in CATEGORY_WORDS.items() if " " in p), key=lambda kv: -len(kv[0]))
_SINGLE_WORDS = {id(v): [w for w in v if " " not in w] for v in (CATEGORY_WORDS, COLOUR_WORDS)}
_PRICE = r"\$?\s*(\d+(?:[.,]\d{1,2})?)\s*(?:\$|usd|dollars?|bucks)?"
_MAX_PRICE = re.compile(r"\b(?:under|below|less than|cheaper than|max(?:imum)?|up to|at most|no more than|<=?)\s*" + _PRICE)
_MIN_PRICE = re.compile(r"\b(?:over|above|more than|at least|min(?:imum)?|from|>=?)\s*" + _PRICE)
_RANGE = re.compile(r"\bbetween\s*" + _PRICE + r"\s*(?:and|-|to)\s*" + _PRICE + r"|" + r"\$\s*(\d+)\s*(?:-|to)\s*\$?\s*(\d+)")
_TOKEN = re.compile(r"[a-z0-9$][a-z0-9'\-/]*")


@dataclass
class ParsedQuery:
    """What the query states explicitly; ``text`` is the cleaned query given to the sentence model."""

    text: str
    gender: str | None = None
    colours: list[str] = field(default_factory=list)
    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    matched: dict[str, str] = field(default_factory=dict)  # constraint -> the words that stated it

    def chips(self) -> list[str]:
        """Short labels for the UI: what was understood."""
        out = []
        if self.category:
            out.append(f"category: {self.category}")
        if self.gender:
            out.append(f"gender: {self.gender}")
        out.extend(f"colour: {c}" for c in self.colours)
        if self.min_price is not None and self.max_price is not None:
            out.append(f"price: ${self.min_price:g}-${self.max_price:g}")
        elif self.max_price is not None:
            out.append(f"price: under ${self.max_price:g}")
        elif self.min_price is not None:
            out.append(f"price: over ${self.min_price:g}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text, "gender": self.gender, "colours": list(self.colours), "category": self.category,
            "min_price": self.min_price, "max_price": self.max_price, "matched": dict(self.matched),
        }


def clean_query(query: str) -> str:
    """Validate and normalise a query: refuse empty ones, cut very long ones, drop control characters."""
    if not isinstance(query, str):
        raise InvalidInputError(f"a text query must be a string, got {type(query).__name__}")
    # Look at a bounded prefix only: the work per query stays fixed however much text is pasted.
    text = "".join(ch if ch.isprintable() else " " for ch in query[: 4 * MAX_QUERY_CHARS])
    text = " ".join(text.split())
    if not text:
        raise InvalidInputError("the query is empty; type what you are looking for, e.g. 'black leather ankle boots'")
    return text[:MAX_QUERY_CHARS]


def _fuzzy(token: str, vocabulary: dict[str, str], cutoff: float) -> str | None:
    if token in vocabulary:
        return vocabulary[token]
    if len(token) < 4 or not token.isalpha():  # short words are too easy to confuse ("red" ~ "bed")
        return None
    close = difflib.get_close_matches(token, _SINGLE_WORDS[id(vocabulary)], n=1, cutoff=cutoff)
    return vocabulary[close[0]] if close else None


def _price(text: str) -> float:
    return float(text.replace(",", "."))


def parse_query(query: str) -> ParsedQuery:
    """Parse a shopper's query into explicit constraints.

    Raises:
        InvalidInputError: the query is empty or not a string.
    """
    text = clean_query(query)
    lower = text.lower()
    parsed = ParsedQuery(text=text)

    if match := _RANGE.search(lower):
        numbers = [g for g in match.groups() if g is not None]
        low, high = sorted((_price(numbers[0]), _price(numbers[1])))
        parsed.min_price, parsed.max_price = low, high
        parsed.matched["price"] = match.group(0).strip()
    else:
        if match := _MAX_PRICE.search(lower):
            parsed.max_price = _price(match.group(1))
            parsed.matched["max_price"] = match.group(0).strip()
        if match := _MIN_PRICE.search(lower):
            parsed.min_price = _price(match.group(1))
            parsed.matched["min_price"] = match.group(0).strip()

    # Multi-word phrases first ("ankle boots", "running shoes", "navy blue").
    joined = re.sub(r"\s+", " ", lower)
    for phrase, category in _CATEGORY_PHRASES:
        if re.search(rf"\b{re.escape(phrase)}\b", joined):
            parsed.category = category
            parsed.matched["category"] = phrase
            break
    joined = re.sub(r"\b(navy|dark|light|sky|forest|jet|off|denim)[\s-]+(blue|green|black|white)\b", r"\1-\2", joined)

    tokens = _TOKEN.findall(joined)
    genders: list[str] = []
    for token in tokens:
        word = token.strip("'-/")
        if word in GENDER_WORDS:
            genders.append(GENDER_WORDS[word])
            parsed.matched.setdefault("gender", word)
            continue
        # Exact words first, so a real category word is never "corrected" into a colour.
        colour = COLOUR_WORDS.get(word)
        category = CATEGORY_WORDS.get(word)
        if colour is None and category is None:
            colour = _fuzzy(word, COLOUR_WORDS, 0.8)
            category = None if colour else _fuzzy(word, CATEGORY_WORDS, 0.8)
        if colour and colour not in parsed.colours:
            parsed.colours.append(colour)
            parsed.matched[f"colour:{colour}"] = word
        elif category and parsed.category is None:
            parsed.category = category
            parsed.matched["category"] = word
    distinct = list(dict.fromkeys(genders))
    if len(distinct) == 1:
        parsed.gender = distinct[0]
    elif "Unisex" in distinct or len(distinct) > 1:  # "for men and women" means either: unisex is not implied
        parsed.gender = None
        parsed.matched.pop("gender", None)
    return parsed
