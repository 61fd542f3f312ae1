"""Query understanding for a catalog brought as a folder and a sheet, built from the catalog's own
values: a value named in the query ("navy blue", "tshirts", "casual") filters its column, a word
that is part of values ("navy" -> Navy Blue, "shoes" -> Casual Shoes, Sports Shoes ...) filters to
all of them, "not"/"no"/"without" rules a value out, gender words pick the gender filter. Words
no value holds are left to the dense and lexical signals, which rank but never filter."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_NEGATORS = frozenset({"not", "no", "without", "except", "non", "excluding"})
_GENDER_WORDS = {
    "men": ("men", "man", "mens", "men's", "male", "him", "his", "gents", "guys"),
    "women": ("women", "woman", "womens", "women's", "female", "her", "ladies", "lady"),
    "boys": ("boys", "boy", "boys'", "son"),
    "girls": ("girls", "girl", "girls'", "daughter"),
    "unisex": ("unisex",),
}
_STOP = frozenset({"and", "or", "the", "a", "an", "for", "in", "of", "with", "to", "on", "my", "some", "i", "want",
                   "need", "looking", "show", "me"})
_MAX_PHRASE = 4


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _forms(word: str) -> set[str]:
    """A word and its plural or singular: tshirt / tshirts, dress / dresses, watch / watches."""
    out = {word}
    if word.endswith("ies") and len(word) > 4:
        out.add(word[:-3] + "y")
    elif word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        out.add(word[:-2])
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        out.add(word[:-1])
    else:
        out.add(word + ("es" if word.endswith(("s", "x", "z", "ch", "sh")) else "s"))
    return out


@dataclass(frozen=True)
class CatalogConstraint:
    column: str
    values: frozenset[str]
    words: str
    negated: bool = False

    @property
    def label(self) -> str:
        shown = " / ".join(sorted(self.values)) if len(self.values) <= 3 else f"{len(self.values)} {self.column} values"
        return f"{'not ' if self.negated else ''}{self.column}: {shown}"


@dataclass
class CatalogQuery:
    text: str
    constraints: list[CatalogConstraint] = field(default_factory=list)
    gender: str | None = None
    leftover: list[str] = field(default_factory=list)

    def chips(self) -> list[str]:
        return [c.label for c in self.constraints] + ([f"gender: {self.gender}"] if self.gender else [])

    def chip_items(self) -> list[dict[str, str]]:
        items = [{"kind": "exclude" if c.negated else "include", "field": c.column, "label": c.label, "source": "catalog"}
                 for c in self.constraints]
        return items + ([{"kind": "gender", "field": "gender", "label": f"gender: {self.gender}", "source": "list"}]
                        if self.gender else [])

    def hint_items(self) -> list[dict[str, str]]:
        return []

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "gender": self.gender, "leftover": self.leftover,
                "constraints": [{"column": c.column, "values": sorted(c.values), "words": c.words, "negated": c.negated}
                                for c in self.constraints]}


class CatalogVocabulary:
    """Phrases of the catalog's attribute values, by column; built once per engine."""

    def __init__(self, columns: Mapping[str, Sequence[str]], genders: Sequence[str] = ()) -> None:
        self.columns = dict(columns)  # each column's values, row by row, as the constraints are checked on
        self.phrases: dict[tuple[str, ...], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        parts: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for column, values in columns.items():
            for value in {str(v) for v in values if str(v).strip() and str(v).lower() != "nan"}:
                tokens = words(value)
                if not tokens:
                    continue
                for last in _forms(tokens[-1]):
                    self.phrases[(*tokens[:-1], last)][column].add(value)
                self.phrases[tuple(words(value.replace(" ", "")))][column].add(value)  # "t shirts" -> "tshirts"
                if len(tokens) > 1:
                    for token in tokens:
                        for form in _forms(token):
                            parts[form][column].add(value)
        for token, by_column in parts.items():  # a part of values names them all, unless it is a whole value too
            if (token,) not in self.phrases and token not in _STOP and len(token) > 2:
                for column, values in by_column.items():
                    self.phrases[(token,)][column] |= values
        present = {g.lower() for g in genders}
        self.gender_words = {w: choice for choice, ws in _GENDER_WORDS.items() if choice in present for w in ws}

    def parse(self, text: str) -> CatalogQuery:
        tokens = words(text)
        query = CatalogQuery(text=text)
        found: dict[tuple[str, bool], CatalogConstraint] = {}
        negate_next, i = False, 0
        while i < len(tokens):
            token = tokens[i]
            if token in _NEGATORS:
                negate_next, i = True, i + 1
                continue
            if token in self.gender_words and not negate_next:
                query.gender, i = self.gender_words[token], i + 1
                continue
            for n in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
                match = self.phrases.get(tuple(tokens[i : i + n]))
                if match:
                    for column, values in match.items():
                        key = (column, negate_next)
                        old = found.get(key)
                        merged = (old.values | values) if old else frozenset(values)
                        wording = f"{old.words} or {' '.join(tokens[i:i + n])}" if old else " ".join(tokens[i : i + n])
                        found[key] = CatalogConstraint(column, frozenset(merged), wording, negate_next)
                    i += n
                    break
            else:
                if token not in _STOP:
                    query.leftover.append(token)
                    negate_next = False
                i += 1
                continue
            if negate_next and (i >= len(tokens) or tokens[i] not in ("or", "nor", ",")):
                negate_next = False
        query.constraints = list(found.values())
        return query


def constraint_masks(query: CatalogQuery, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One row mask per constraint (by its label), in the order they are given up when nothing meets them all:
    the last stated first, the category's column last."""
    return {c.label: (~np.isin(columns[c.column], list(c.values)) if c.negated else np.isin(columns[c.column], list(c.values)))
            for c in query.constraints}
