"""What a parsed query states (``ParsedQuery``, ``Constraint``) and the views the UI and search
read from it: chips, soft words, a dict for JSON. ``parser`` fills it in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multimodal.errors import InvalidInputError
from multimodal.search.query import vocabulary as V
from multimodal.search.query.sizes import SizeAsk

MAX_QUERY_CHARS = 500  # longer queries are cut: the sentence model reads ~256 tokens anyway
FIELD_ORDER: tuple[str, ...] = V.FIELDS
# Layers that read words no list holds: a listed word of the same field overrides them.
OPEN_SOURCES = ("learned", "dictionary")
# A pseudo-field: a kind of a stated garment that the catalog files under the same category,
# ruled out by the product's name ("sandals but not flip-flops"; ``text_ranking.named``).
NAME_FIELD = "name"


@dataclass(frozen=True)
class Constraint:
    """One understood statement: ``field`` must (or, negated, must not) be one of ``values``.

    ``source`` says which layer understood it: "list" (hand-written phrase), "typo" (a corrected
    misspelling), "dictionary" (WordNet or the colour survey, ``dictionary``) or "learned"
    (sentence-model similarity, ``similarity`` holds the cosine).
    """

    field: str
    values: tuple[str, ...]
    words: str
    negated: bool = False
    source: str = "list"
    similarity: float | None = None
    # "black dress and red shoes": the garment this value was said of (its categories and words).
    # Empty: it holds for every item, as usual. Set only where the query pairs different values of
    # one field with different garments (``garments.bind_to_garments``).
    applies_to: tuple[str, ...] = ()
    garment: str = ""

    def label(self) -> str:
        if self.field == NAME_FIELD:
            return f"{'not ' if self.negated else ''}named: {self.words}"
        values = " / ".join(self.values)
        text = f"{'not ' if self.negated else ''}{self.field}: {values}"
        if self.source in OPEN_SOURCES:
            text += f" (≈ “{self.words}”)"
        if self.garment:
            text += f" · {self.garment}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "values": list(self.values), "words": self.words, "negated": self.negated,
                "source": self.source, "similarity": self.similarity, "applies_to": list(self.applies_to),
                "garment": self.garment}


@dataclass
class ParsedQuery:
    """What the query states; ``text`` is the cleaned query (the dense signals and BM25 read it less
    what filters make moot: ``text_ranking.dense_text``, ``lexical_text``)."""

    text: str
    gender: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    sort: str | None = None  # vocabulary.PRICE_ASCENDING / PRICE_DESCENDING
    size: SizeAsk | None = None  # "size M", "EU 42", "waist 32" (``sizes``)
    constraints: list[Constraint] = field(default_factory=list)
    matched: dict[str, str] = field(default_factory=dict)  # constraint -> the words that stated it
    companion: str | None = None  # "to go with jeans": what the shopper has, read as no constraint
    unsold_brands: list[str] = field(default_factory=list)  # "adidas": a brand the catalog does not sell
    # Words in an attribute position that the learned layer was not sure of, with the fields the
    # position allows: a soft ranking signal, never a filter.
    hints: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    # The values an unsure word probably names, where a dictionary has a guess: "raven" -> (colour,
    # (black,)), "loafers" -> (category, the shoes). They rank first among the word's likenesses;
    # still never a filter.
    likely: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    # ------------------------------------------------------------ views used by search and the UI

    def values(self, name: str, negated: bool = False) -> list[str]:
        """Every value of ``name`` that the query asks for (or, ``negated``, rules out), in query order."""
        out: list[str] = []
        for c in self.constraints:
            if c.field == name and c.negated == negated:
                out.extend(v for v in c.values if v not in out)
        return out

    @property
    def categories(self) -> list[str]:
        return self.values("category")

    @property
    def category(self) -> str | None:
        """The one category stated, or None when none or a group of several is stated."""
        cats = self.categories
        return cats[0] if len(cats) == 1 else None

    @property
    def colours(self) -> list[str]:
        return self.values("colour")

    def is_empty(self) -> bool:
        return not (self.constraints or self.gender or self.sort or self.size or self.min_price is not None
                    or self.max_price is not None)

    def price_label(self) -> str | None:
        if self.min_price is not None and self.max_price is not None:
            return f"price: ${self.min_price:g}-${self.max_price:g}"
        if self.max_price is not None:
            return f"price: under ${self.max_price:g}"
        if self.min_price is not None:
            return f"price: over ${self.min_price:g}"
        return None

    def chip_items(self) -> list[dict[str, Any]]:
        """One chip per understood constraint, in a stable order: kind ("include", "exclude", "gender",
        "size", "price", "sort", "unsold" for a brand the catalog does not sell, and "companion" for
        "to go with jeans"), the label shown, and the layer that understood it."""
        chips: list[dict[str, Any]] = []
        positive = [c for c in self.constraints if not c.negated]
        for name in FIELD_ORDER:
            for c in positive:
                if c.field == name:
                    chips.append({"kind": "include", "field": name, "label": c.label(), "source": c.source})
            if name == "category" and self.gender:
                chips.append({"kind": "gender", "field": "gender", "label": f"gender: {self.gender}", "source": "list"})
        if self.size is not None:
            chips.append({"kind": "size", "field": "size", "label": f"size: {self.size.label}", "source": "list"})
        if price := self.price_label():
            chips.append({"kind": "price", "field": "price", "label": price, "source": "list"})
        for c in self.constraints:
            if c.negated:
                chips.append({"kind": "exclude", "field": c.field, "label": c.label(), "source": c.source})
        if self.sort:
            label = "sort: price low to high" if self.sort == V.PRICE_ASCENDING else "sort: price high to low"
            chips.append({"kind": "sort", "field": "price", "label": label, "source": "list"})
        for brand in self.unsold_brands:  # said, so the shopper knows why no result is one
            chips.append({"kind": "unsold", "field": "brand", "label": f"{V.brand_name(brand)}: not sold here", "source": "list"})
        if self.companion:  # said, so the shopper sees why "jeans" filtered nothing
            chips.append({"kind": "companion", "field": "", "label": f"{self.companion}: not searched for", "source": "list"})
        return chips

    def hint_items(self) -> list[dict[str, Any]]:
        """One chip per unsure word: it names no value for certain, so it ranks items by how like
        their value it is in the fields its position allows, and never filters."""
        return [{"kind": "hint", "field": " / ".join(fields),
                 "label": (f"≈ {word}: probably {self.likely[word][0]} {' / '.join(self.likely[word][1])}, ranked by likeness"
                           if word in self.likely
                           else f"≈ {word}: {' or '.join(fields)}, ranked by likeness"),
                 "source": "soft"} for word, fields in self.hints]

    def chips(self) -> list[str]:
        """Short labels for the UI: what was understood."""
        return [c["label"] for c in self.chip_items()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text, "gender": self.gender, "colours": self.colours, "category": self.category,
            "categories": self.categories, "min_price": self.min_price, "max_price": self.max_price, "sort": self.sort,
            "constraints": [c.to_dict() for c in self.constraints], "matched": dict(self.matched), "companion": self.companion,
            "unsold_brands": list(self.unsold_brands),
            "hints": [[w, list(f)] for w, f in self.hints],
            "likely": {w: [name, list(values)] for w, (name, values) in self.likely.items()},
            "size": None if self.size is None else {"label": self.size.label, "words": self.size.words,
                                                     "sizes": sorted(self.size.tokens)},
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
