"""Words no list holds, in a position that states an attribute ("a _ dress", "for the _"): which fields
they may state there, read by the dictionary layer first and the learned layer after."""

from __future__ import annotations

from multimodal.search.query.typos import stems
from multimodal.search.query.units import (
    _CATEGORY_JOINERS,
    _NEXT_CUES,
    STOPWORDS,
    Dictionary,
    Matcher,
    _is_garment,
    _Meaning,
    _phrases,
    _Unit,
)

_OCCASION_CUES = frozenset({"for", "to", "at", "during", "on"})


_MATERIAL_CUES = frozenset({"of", "from"})


_MODIFIER_FIELDS = frozenset({"colour", "material", "style", "season", "occasion"})


def _slots(units: list[_Unit], tokens: list[str], query_words: int | None = None) -> dict[int, frozenset[str]]:
    """Leftover words in a position that states an attribute, with the fields it may state there.

    Structural evidence comes first: a word right before a garment word modifies it ("vermilion
    dress"), also in a run of modifiers ("taupe calfskin boots"); one after "in" is a colour or
    material, after "made of" a material, after "for" an occasion or season, before "style",
    "look" or "looking" a style only (docs/decisions.md); the last leftover noun of a query that names no
    garment may be the garment ("a windbreaker for him"; a price phrase counts as another word of
    the query). A word with no such position (a query of one unknown word, "nice" in "nice shoes")
    is left to the dense ranking, never a filter.
    """
    has_category = any(u.meaning is not None and u.meaning.kind in ("field", "weak") and u.meaning.field == "category" for u in units)
    out: dict[int, frozenset[str]] = {}
    leftovers = [j for j, u in enumerate(units) if u.meaning is None and _content(u.words)]
    # Units in a run of modifiers that ends at a garment word, found from the right.
    content = [j for j, u in enumerate(units) if u.meaning is not None or _content(u.words)]
    modifies: set[int] = set()
    for j, k in reversed(list(zip(content, content[1:]))):
        m = units[j].meaning
        if (_is_garment(units[k]) or k in modifies) and (m is None or (m.kind == "field" and m.field in _MODIFIER_FIELDS)):
            modifies.add(j)
    for j in leftovers:
        before = [u.words for u in units[max(0, j - 2) : j] if u.words not in ("a", "an", "the", "some", "my", "your")]
        prev = before[-1] if before else ""
        k = next((k for k in range(j + 1, len(units)) if units[k].meaning is not None or _content(units[k].words)
                  or units[k].words in _NEXT_CUES), None)
        nxt = units[k] if k is not None else None
        fields: set[str] = set()
        cued = nxt is not None and nxt.words in _NEXT_CUES and not (k + 1 < len(units) and units[k + 1].words == "for")
        if cued:
            fields |= _NEXT_CUES[nxt.words]  # "comfy style", "retro-looking", not "desperately looking for"
        if prev in _OCCASION_CUES:
            fields |= {"occasion", "season"}
        if prev == "in":
            fields |= {"colour", "material", "season"}
        if prev in _MATERIAL_CUES:
            fields |= {"material"}
        if (j in modifies or nxt is not None and nxt.meaning is None and not has_category) and not cued:
            fields |= _MODIFIER_FIELDS
        if not has_category and j == leftovers[-1] and (len(tokens) if query_words is None else query_words) > 1:
            fields |= {"category"}
        if _listed_beside_a_garment(units, j):  # "a navy blazer and chinos": one more garment of the list
            fields |= {"category"}
        if fields:
            out[j] = frozenset(fields)
    return out


def _listed_beside_a_garment(units: list[_Unit], j: int) -> bool:
    """Unit ``j`` is joined by and/or to the garment phrase right after it ("blazer and chinos",
    "blazer and a white shirt")."""
    k = j + 1
    if k >= len(units) or units[k].words not in _CATEGORY_JOINERS:
        return False
    k += 1
    while k < len(units) and (units[k].words in ("a", "an", "the", "some") or _is_modifier(units[k])):
        k += 1
    return k < len(units) and _is_garment(units[k])


def _is_modifier(unit: _Unit) -> bool:
    return unit.meaning is not None and unit.meaning.kind == "field" and unit.meaning.field in _MODIFIER_FIELDS


def _learn(units: list[_Unit], tokens: list[str], matcher: Matcher | None, dictionary: Dictionary | None = None,
           query_words: int | None = None) -> None:
    """Leftover words in attribute positions (``_slots``) to the dictionary layer, then the rest to
    the learned layer; a match outside the fields its position allows is dropped."""
    slots = _slots(units, tokens, query_words)
    for j in [j for j in slots if _verb_form_of_listed(units[j].words)]:
        units[j].hint = slots.pop(j)
    if dictionary is not None:
        for j in list(slots):
            found = dictionary.meaning(units[j].words, slots[j])
            if found is not None:
                units[j].meaning = _Meaning("field", found[0], found[1])
                units[j].source = "dictionary"
                del slots[j]
    if not slots or matcher is None:
        for j, fields in slots.items():
            units[j].hint = fields
        return
    order = list(slots)
    results = matcher.match([units[j].words for j in order])
    for j, result in zip(order, results):
        if result is None or result[0] not in slots[j]:
            units[j].hint = slots[j]
            continue
        name, values, sim = result
        units[j].meaning = _Meaning("field", name, values)
        units[j].source, units[j].similarity = "learned", sim


def _verb_form_of_listed(word: str) -> bool:
    """A verb form of a listed word ("falling", "sanding", "creamed"): the lists hold the noun, and a
    shopper who means the attribute types the noun, so neither open layer reads it (it ranks softly).
    Dev words before a garment: 6 of 22 false parses gone; no evaluation word with a meaning is one."""
    table = _phrases()
    return word not in table and any(stem in table for stem in stems(word, ("ing", "ed")))


def _content(word: str) -> bool:
    return word not in STOPWORDS and word != "," and any(ch.isalpha() for ch in word) and len(word) > 2
