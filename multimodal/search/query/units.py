"""The words of a query as units: tokens, the listed phrases they form (longest first), typo
correction and singular forms; the parser reads meaning from these units."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from multimodal.search.query import vocabulary as V
from multimodal.search.query.typos import closest

_MAX_PHRASE = 4


# Words the learned layer never reads: function words and the shopping talk around attributes.
STOPWORDS = frozenset("""
a an the and or nor but of for to in on at by with from as into onto about than then that this these those it its
i me my mine we our you your he she they them their is are was were be been being am do does did have has had
will would can could should shall may might must want wants wanted need needs needed looking look looks find show
give get buy buying shop shopping please some any something anything thing things one ones pair pairs item items
piece pieces kind sort type style look very really so too just also more most less least much many lot lots
good nice great best new like love perfect ideal suitable wear wearing worn go going use used what which who
where when how why if all each every other another same such only own both either neither
colour colours color colors coloured colored shade shades tone tones hue hues
""".split())


class Dictionary(Protocol):
    """What the dictionary layer offers the parser (``dictionary.DictionaryLayer`` is one)."""

    def meaning(self, word: str, fields: Iterable[str]) -> tuple[str, tuple[str, ...]] | None: ...

    def is_shade_name(self, first: str, colour_word: str) -> bool: ...

    def likely_colour(self, word: str) -> str | None: ...

    def likely_style(self, word: str) -> str | None: ...

    def likely_category(self, word: str) -> tuple[str, ...] | None: ...


class Matcher(Protocol):
    """What the learned layer offers the parser (``semantic.AttributeMatcher`` is one)."""

    def match(self, phrases: list[str]) -> list[tuple[str, tuple[str, ...], float] | None]: ...


@dataclass(frozen=True)
class _Meaning:
    kind: str  # "field", "gender", "sort", "negator", "blocked", "weak", "style_or_occasion", "garment_material", "other_brand"
    field: str = ""
    values: tuple[str, ...] = ()


@functools.lru_cache(maxsize=1)
def _phrases() -> dict[str, _Meaning]:
    """Every phrase of the precise layer with its meaning; earlier kinds win a clash."""
    table: dict[str, _Meaning] = {}

    def add(phrase: str, meaning: _Meaning) -> None:
        table.setdefault(phrase, meaning)

    for phrase in V.BLOCKED_PHRASES:
        add(phrase, _Meaning("blocked"))
    for phrase, direction in V.SORT_WORDS.items():
        add(phrase, _Meaning("sort", values=(direction,)))
    for phrase in V.NEGATORS:
        add(phrase, _Meaning("negator"))
    for phrase, gender in V.GENDER_WORDS.items():
        add(phrase, _Meaning("gender", values=(gender,)))
    for phrase in V.OTHER_BRANDS:
        add(phrase, _Meaning("other_brand"))
    for phrase, value in V.STYLE_OR_OCCASION.items():
        add(phrase, _Meaning("style_or_occasion", values=(value,)))
    for phrase, values in V.MATERIAL_BEFORE_GARMENT.items():
        add(phrase, _Meaning("garment_material", "material", values))
    for phrase, values in V.WEAK_CATEGORY_WORDS.items():
        add(phrase, _Meaning("weak", "category", values))
    for name, words in V.LEXICON.items():
        for phrase, values in words.items():
            add(phrase, _Meaning("field", name, values))
    return table


@functools.lru_cache(maxsize=1)
def _fuzzy_targets() -> list[str]:
    """Single words typo correction may correct to: attribute and gender words of 4+ letters."""
    return sorted(p for p, m in _phrases().items() if " " not in p and len(p) >= 4 and m.kind in ("field", "gender", "sort")
                  and p.replace("-", "").isalpha())


def correct_typo(word: str) -> str | None:
    """The attribute word ``word`` is a plausible misspelling of, or None (``typos.closest``)."""
    return closest(word, _fuzzy_targets(), _phrases().__getitem__)


def _singular(word: str) -> str | None:
    """The listed word ``word`` is the plural or possessive of ("sneakers", "boyfriend's"), or None."""
    table = _phrases()
    for cut in ("'s", "es", "s"):
        if word.endswith(cut) and word[: -len(cut)] in table:
            return word[: -len(cut)]
    return None


@dataclass
class _Unit:
    start: int
    end: int
    words: str
    meaning: _Meaning | None  # None = a leftover word
    source: str = "list"
    similarity: float | None = None
    hint: frozenset[str] | None = None
    named: bool = False  # a kind of garment no list names ("maxi dresses"), matched by the product's name


def _tokens(text: str) -> list[str]:
    """Lower-case words (hyphens and apostrophes kept inside); commas stay, as they end a negation.
    A negating affix becomes its own negator: "non-leather" -> "non leather", "wool-free" -> "without wool"."""
    text = text.lower().replace("’", "'").replace("&", " and ")
    text = re.sub(r"\bnon-(?=[a-z])", "non ", text)
    text = re.sub(r"\b([a-z][a-z']*)-free\b", r"without \1", text)
    return [t.strip("'-/") for t in re.findall(r",|[a-z0-9][a-z0-9'\-/]*", text) if t.strip("'-/")]


def _scan(tokens: list[str]) -> list[_Unit]:
    """Greedy longest-phrase reading of the tokens into units (known phrases and leftover words)."""
    table = _phrases()
    units: list[_Unit] = []
    i = 0
    while i < len(tokens):
        for n in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
            phrase = " ".join(tokens[i : i + n])
            meaning = table.get(phrase)
            source = "list"
            if meaning is None and n == 1:
                if (single := _singular(phrase)) is not None:
                    meaning = table[single]
                elif (fixed := correct_typo(phrase)) is not None:
                    meaning, source = table[fixed], "typo"
            if meaning is not None:
                units.append(_Unit(i, i + n, phrase, meaning, source))
                i += n
                break
        else:
            units.append(_Unit(i, i + 1, tokens[i], None))
            i += 1
    return units


def known_phrases() -> Iterable[str]:
    """Every phrase the precise layer knows (for tests and for checking evaluation words are new)."""
    return _phrases().keys()


_CATEGORY_JOINERS = frozenset({"and", "or", ",", "/", "plus"})


def _is_garment(unit: _Unit | None) -> bool:
    return unit is not None and unit.meaning is not None and unit.meaning.field == "category" and unit.meaning.kind in ("field", "weak")


_STYLE_NOUNS = frozenset({"style", "look", "vibe", "vibes", "feel", "aesthetic"})
# A word before one of these states only that field ("comfy style", "mulberry coloured").
_NEXT_CUES: dict[str, frozenset[str]] = {
    **{w: frozenset({"style"}) for w in (*_STYLE_NOUNS, "styled", "looking")},
    **{w: frozenset({"colour"}) for w in ("coloured", "colored", "colour", "color", "toned", "tone", "shade", "hued")},
}
