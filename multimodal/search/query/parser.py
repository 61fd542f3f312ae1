"""Parse a shopper's query into constraints: what it states, what it rules out, how to sort.

Three layers, most precise first: the hand-written phrases of ``vocabulary`` (every catalog
attribute, families and groups, price phrases and intents), typo correction for words that
are not English words, and, for the words left over, an optional learned matcher
(``semantic.AttributeMatcher``) that compares them with the attribute values by sentence-model
similarity. A word that names no attribute states nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from multimodal.search.query import vocabulary as V
from multimodal.search.query.garments import bind_to_garments
from multimodal.search.query.parsed import NAME_FIELD, OPEN_SOURCES, Constraint, ParsedQuery, clean_query
from multimodal.search.query.prices import read_prices
from multimodal.search.query.sizes import read_size
from multimodal.search.query.typos import closest, stems

_MAX_PHRASE = 4
# "a top to go with jeans", "shoes to match my red dress": what follows is what the shopper already
# has, not what they are looking for; it states nothing (up to the next comma or full stop).
_FOR_WHOM = r"\s+for\s+(?:(?:a|an|my|our|the)\s+)?(?:" + "|".join(re.escape(w) for w in sorted(V.GENDER_WORDS, key=len, reverse=True)) + r")\b"
_COMPANION_END = r"[^,;.!?]*?(?=" + _FOR_WHOM + r"|[,;.!?]|$)"  # "... for her" is who the item is for
_COMPANION = re.compile(r"\b(?:to go|that go(?:es)?|goes|to wear|to pair|that pairs?|pairs|to team|to style)\s+with\b" + _COMPANION_END
                        + r"|\b(?:to match|that match(?:es)?|matching)\s+(?:my|your|our|his|her|their)\b(?!\s+(?:and|&)\s+hers)"
                        + _COMPANION_END)  # "matching his and hers sneakers" are the sneakers wanted
# "a top with jeans", "red dress with black shoes": a garment after "with" that follows the garment
# wanted is what it goes with, as above (a hood, pockets or a collar are no garment words).
_GARMENT_WORDS = "|".join(re.escape(w) for w in sorted({*V.CATEGORY_WORDS, *V.CATEGORY_GROUPS} - {"outfit"}, key=len, reverse=True))
_WITH_GARMENT = re.compile(r"\bwith\s+(?:[a-z'\-]+\s+){0,3}?(?:" + _GARMENT_WORDS + r")\b")
_A_GARMENT = re.compile(r"\b(?:" + _GARMENT_WORDS + r"|top)\b")
# Words between a negator and what it rules out ("not in black", "without any leather", "not for the office").
_NEGATION_FILLERS = frozenset({"a", "an", "the", "any", "in", "of", "made", "from", "by", "with", "for", "too", "very", "so",
                               "that", "which", "is", "are", "be", "color", "colour", "colours", "colors", "want", "wanted"})
_OTHER_GENDER = {"Men": "Women", "Women": "Men"}
_KNIT_ONLY = frozenset({"chunky"})  # a knit's word that says another thing of other garments
_LIST_JOINERS = frozenset({"or", "nor", "and", ","})
_CATEGORY_JOINERS = frozenset({"and", "or", ",", "/", "plus"})
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


# ---------------------------------------------------------------- lexicon and typo correction

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


# ---------------------------------------------------------------- parsing

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


def _shade_names(units: list[_Unit], dictionary: Dictionary) -> list[_Unit]:
    """A word that names the shade of the colour after it ("snow white", "hot pink", "army green")
    joins that colour: "snow white sneakers" are white sneakers, not winter ones."""
    def colour_word(unit: _Unit) -> bool:
        return unit.meaning is not None and unit.meaning.kind == "field" and unit.meaning.field == "colour" and " " not in unit.words

    def may_name_a_shade(unit: _Unit) -> bool:  # a leftover word or another field's ("hot"), never a colour or garment
        m = unit.meaning
        return m is None or m.kind == "field" and m.field not in ("colour", "category")

    out: list[_Unit] = []
    for unit in units:
        previous = out[-1] if out else None
        if (previous is not None and colour_word(unit) and may_name_a_shade(previous)
                and dictionary.is_shade_name(previous.words, unit.words)):
            out[-1] = _Unit(previous.start, unit.end, f"{previous.words} {unit.words}", unit.meaning, unit.source)
        else:
            out.append(unit)
    return out


def _likely_value(word: str, fields: tuple[str, ...], dictionary: Dictionary) -> tuple[str, tuple[str, ...]] | None:
    """The dictionary's guess at what an unsure word names, colour first, within the fields its
    position allows: one colour or style, or the categories a garment word probably is ("loafers": shoes)."""
    for name, guess in (("colour", dictionary.likely_colour), ("style", dictionary.likely_style)):
        if name in fields and (value := guess(word)):
            return name, (value,)
    if "category" in fields and (values := dictionary.likely_category(word)):
        return "category", values
    return None


def _is_garment(unit: _Unit | None) -> bool:
    return unit is not None and unit.meaning is not None and unit.meaning.field == "category" and unit.meaning.kind in ("field", "weak")


def _resolve(units: list[_Unit], tokens: list[str]) -> None:
    """Words whose meaning depends on their neighbours: party/beach, down/knit, weak category words."""
    for j, unit in enumerate(units):
        m = unit.meaning
        if m is None:
            continue
        if m.kind == "style_or_occasion":
            before = [t for t in tokens[max(0, unit.start - 2) : unit.start] if t not in ("a", "an", "the")]
            occasion = bool(before) and before[-1] in ("for", "to", "at", "on")
            unit.meaning = _Meaning("field", "occasion" if occasion else "style", m.values)
        elif m.kind == "field" and m.field == "occasion" and unit.words in ("evening", "evenings") and j and _is_season(units[j - 1]):
            unit.meaning = None  # "a light jacket for spring evenings": a time of day, not an evening event
        elif m.kind == "field" and unit.words in _KNIT_ONLY and "Pullover" not in (_garment_after(units, j) or ("Pullover",)):
            unit.meaning = _Meaning("blocked")  # "chunky boots" have thick soles; only jumpers are chunky knit
        elif m.kind == "garment_material":
            following = units[j + 1] if j + 1 < len(units) else None
            if _is_garment(following):
                unit.meaning = _Meaning("field", "material", m.values)
            elif unit.words == "knit":
                unit.meaning = _Meaning("weak", "category", V.WEAK_CATEGORY_WORDS["knit"])
            elif unit.words in V.CATEGORY_WORDS:  # "black jeans"
                unit.meaning = _Meaning("field", "category", V.CATEGORY_WORDS[unit.words])
            else:
                unit.meaning = None


def _is_season(unit: _Unit) -> bool:
    return unit.meaning is not None and unit.meaning.kind == "field" and unit.meaning.field == "season"


def _garment_after(units: list[_Unit], j: int) -> tuple[str, ...] | None:
    """The categories of the garment word that follows unit ``j`` past its other modifiers, if any."""
    for unit in units[j + 1:]:
        m = unit.meaning
        if m is None or m.kind not in ("field", "weak"):
            return None
        if m.field == "category":
            return m.values
    return None


def _categories(units: list[_Unit], tokens: list[str], negated: set[int]) -> None:
    """Several category words: joined by and/or they add up ("bags and shoes"); otherwise the last
    is the head noun ("shirt dress" is a dress). Weak words count only when no other one is there."""
    strong = [u for j, u in enumerate(units) if u.meaning and u.meaning.kind == "field" and u.meaning.field == "category"
              and j not in negated]
    weak = [u for u in units if u.meaning and u.meaning.kind == "weak"]
    for u in weak:
        u.meaning = _Meaning("field", "category", u.meaning.values) if not strong else None
    if len(strong) < 2:
        return
    joined = any(t in _CATEGORY_JOINERS for t in tokens[strong[0].end : strong[-1].start])
    if not joined:
        for u in strong[:-1]:
            u.meaning = None


def _negations(units: list[_Unit], tokens: list[str]) -> set[int]:
    """Indices of the units a negator rules out: the attribute phrases right after it, and those
    joined to them by or/and/nor ("not black or brown") unless of another field and before a garment
    ("not sneakers and a black bag"); fillers between are skipped."""
    negated: set[int] = set()
    first_field = ""
    j = 0
    while j < len(units):
        if units[j].meaning is None or units[j].meaning.kind != "negator":
            j += 1
            continue
        j += 1
        found = False
        while j < len(units):
            unit = units[j]
            m = unit.meaning
            if m is not None and m.kind in ("field", "sort", "gender", "other_brand") and not found:
                negated.add(j)
                found, first_field = True, m.field
                j += 1
                continue
            if m is None and unit.words in _NEGATION_FILLERS and not found:
                j += 1
                continue
            if not found and _name_a_kind(units, j):  # "dresses but not maxi dresses"
                negated.update((j, j + 1))
                found, first_field = True, "category"
                j += 2
                continue
            if found and unit.words in _LIST_JOINERS - {","}:
                after = j + 1
                while after < len(units) and units[after].meaning is None and units[after].words in _NEGATION_FILLERS:
                    after += 1  # "not for a wedding or a party"
                if first_field == "category" and _name_a_kind(units, after):  # "not overcoats or rain coats"
                    negated.update((after, after + 1))
                    j = after + 2
                    continue
                if (after < len(units) and units[after].meaning is not None and units[after].meaning.kind in ("field", "other_brand")
                        and (units[after].meaning.field == first_field or not _is_garment(units[after + 1] if after + 1 < len(units) else None))):
                    # not "not sneakers and a black bag": another field's word before a garment starts a new part
                    negated.add(after)
                    j = after + 1
                    continue
            break
    return negated


def _name_a_kind(units: list[_Unit], j: int) -> bool:
    """Whether units ``j`` and ``j + 1`` are a word no list holds and a garment ("maxi dresses"): a
    kind of that garment, which a negation rules out by the product's name. Joins the two if so."""
    if j + 1 >= len(units) or units[j].meaning is not None or not _content(units[j].words) or not _is_garment(units[j + 1]):
        return False
    garment = units[j + 1]
    garment.words, garment.named = f"{units[j].words} {garment.words}", True
    return True


def parse_query(query: str, matcher: Matcher | None = None, dictionary: Dictionary | None = None) -> ParsedQuery:
    """Parse a shopper's query into constraints, intents and price limits.

    Args:
        query: what the shopper typed.
        matcher: the learned layer for words no list holds (``semantic.AttributeMatcher``); without
            it only the hand-written phrases and typo correction are used.
        dictionary: the dictionary layer (``dictionary.DictionaryLayer``), read before the matcher.

    Raises:
        InvalidInputError: the query is empty or not a string.
    """
    text = clean_query(query)
    parsed = ParsedQuery(text=text)
    parsed.size, lower = read_size(text.lower())
    if parsed.size is not None:
        parsed.matched["size"] = parsed.size.words
    lower = read_prices(lower, parsed)
    match = _COMPANION.search(lower)
    if match is None and (match := _WITH_GARMENT.search(lower)) is not None and not _A_GARMENT.search(lower[: match.start()]):
        match = None  # "something with jeans": no garment before it is wanted
    if match is not None:
        parsed.companion = match.group(0).strip()
        lower = lower[: match.start()] + " " + lower[match.end():]
    tokens = _tokens(lower)
    units = _scan(tokens)
    _resolve(units, tokens)
    if dictionary is not None:
        units = _shade_names(units, dictionary)
    if matcher is not None or dictionary is not None:
        # A price phrase is evidence too: "huaraches under $40" names a garment, "huaraches" alone may not.
        _learn(units, tokens, matcher, dictionary, query_words=len(_tokens(text.lower())))
    negated = _negations(units, tokens)
    _categories(units, tokens, negated)

    genders: list[str] = []
    unit_of: dict[Constraint, int] = {}
    listed_fields = {u.meaning.field for u in units if u.meaning and u.meaning.kind == "field" and u.source not in OPEN_SOURCES}
    for j, unit in enumerate(units):
        m = unit.meaning
        if m is None or m.kind in ("negator", "blocked"):
            continue
        if m.kind == "gender":
            # "not for men" leaves women's and unisex items: the Women filter; "not unisex" states nothing.
            gender = _OTHER_GENDER.get(m.values[0]) if j in negated else m.values[0]
            if gender:
                genders.append(gender)
                parsed.matched.setdefault("gender", unit.words)
            continue
        if m.kind == "other_brand":
            if j not in negated and unit.words not in parsed.unsold_brands:  # "not nike": nothing to rule out
                parsed.unsold_brands.append(unit.words)
            continue
        if m.kind == "sort":
            direction = m.values[0]
            if j in negated:  # "not expensive" asks for the cheap end
                direction = V.PRICE_ASCENDING if direction == V.PRICE_DESCENDING else V.PRICE_DESCENDING
            parsed.sort = direction
            parsed.matched["sort"] = unit.words
            continue
        if m.kind != "field":
            continue
        if unit.source in OPEN_SOURCES and m.field in listed_fields and j not in negated and m.field != "category":
            continue  # the precise layer already states this field (garments joined by and/or add up instead)
        if unit.named:
            constraint = Constraint(NAME_FIELD, (_name_form(unit.words),), unit.words, j in negated, unit.source)
        else:
            constraint = Constraint(m.field, m.values, unit.words, j in negated, unit.source, unit.similarity)
        if constraint not in parsed.constraints:
            parsed.constraints.append(constraint)
            unit_of[constraint] = j
            key = f"{'not ' if constraint.negated else ''}{constraint.field}:{'/'.join(constraint.values)}"
            parsed.matched.setdefault(key, unit.words)
    garments = [j if u.meaning is not None and u.meaning.kind == "field" and u.meaning.field == "category" and j not in negated
                else None for j, u in enumerate(units)]
    parsed.constraints = bind_to_garments(parsed.constraints, unit_of, [u.words for u in units], garments)
    _narrower_kinds(parsed)
    _subtract_negated(parsed)
    stated = {c.field for c in parsed.constraints if not c.negated}
    for j, unit in enumerate(units):
        if unit.meaning is None and unit.hint and j not in negated:
            fields = tuple(sorted(unit.hint - stated))
            if fields:
                parsed.hints.append((unit.words, fields))
                if dictionary is not None and (likely := _likely_value(unit.words, fields, dictionary)):
                    parsed.likely[unit.words] = likely
    if dictionary is not None and not parsed.hints and len(units) == 1 and units[0].meaning is None:
        # A query of one garment word no list holds ("loafers") states nothing, but the kind of
        # garment its dictionary entry names ranks first.
        word = units[0].words
        if _content(word) and (likely := _likely_value(word, ("category",), dictionary)):
            parsed.hints.append((word, ("category",)))
            parsed.likely[word] = likely
    distinct = list(dict.fromkeys(genders))
    if len(distinct) == 1:
        parsed.gender = distinct[0]
    else:  # "for men and women" means either: unisex is not implied
        parsed.matched.pop("gender", None)
    return parsed


_OCCASION_CUES = frozenset({"for", "to", "at", "during", "on"})
_MATERIAL_CUES = frozenset({"of", "from"})
_STYLE_NOUNS = frozenset({"style", "look", "vibe", "vibes", "feel", "aesthetic"})
# A word before one of these states only that field ("comfy style", "mulberry coloured").
_NEXT_CUES: dict[str, frozenset[str]] = {
    **{w: frozenset({"style"}) for w in (*_STYLE_NOUNS, "styled", "looking")},
    **{w: frozenset({"colour"}) for w in ("coloured", "colored", "colour", "color", "toned", "tone", "shade", "hued")},
}
_MODIFIER_FIELDS = frozenset({"colour", "material", "style", "season", "occasion"})


def _slots(units: list[_Unit], tokens: list[str], query_words: int | None = None) -> dict[int, frozenset[str]]:
    """Leftover words in a position that states an attribute, with the fields it may state there.

    Structural evidence comes first: a word right before a garment word modifies it ("vermilion
    dress"), also in a run of modifiers ("taupe calfskin boots"); one after "in" is a colour or
    material, after "made of" a material, after "for" an occasion or season, before "style",
    "look" or "looking" a style only (dev queries, style group: 0.462, against 0.415 with every
    modifier field and 0.372 with no position); the last leftover noun of a query that names no
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


def _narrower_kinds(parsed: ParsedQuery) -> None:
    """A negated garment word that would rule out all of a stated garment names a kind of it: "sandals
    for the beach but not flip-flops", "boots but not chelsea boots". The catalog files both under one
    category, so the negation rules out the items so named (``NAME_FIELD``), not the garment asked for
    (before, "not flip flops" ruled out every sandal and the results were sneakers)."""
    wanted = [c for c in parsed.constraints if c.field == "category" and not c.negated]
    out = []
    for c in parsed.constraints:
        if (c.field == "category" and c.negated
                and any(set(w.values) <= set(c.values) and w.words.lower() != c.words.lower() for w in wanted)):
            c = Constraint(NAME_FIELD, (_name_form(c.words),), c.words, True, c.source, c.similarity)
        out.append(c)
    parsed.constraints = out


def _name_form(words: str) -> str:
    """The words as a product name would hold them: lower case, hyphens as spaces, the last word
    singular ("Flip-Flops" -> "flip flop"), so that one pattern finds both numbers."""
    parts = words.lower().replace("-", " ").split()
    last = parts[-1]
    if last.endswith(("sses", "shes", "ches", "xes")):
        last = last[:-2]  # dresses, sashes, watches, boxes
    elif last.endswith("s") and not last.endswith("ss") and len(last) > 3:
        last = last[:-1]
    return " ".join(parts[:-1] + [last])


def _subtract_negated(parsed: ParsedQuery) -> None:
    """A group minus what is ruled out ("shoes but not sneakers" states sandals and ankle boots)."""
    out = []
    for c in parsed.constraints:
        if not c.negated:
            ruled_out = set(parsed.values(c.field, negated=True))
            kept = tuple(v for v in c.values if v not in ruled_out)
            if not kept:
                continue
            if len(kept) < len(c.values):
                c = replace(c, values=kept)
        out.append(c)
    parsed.constraints = out


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


def known_phrases() -> Iterable[str]:
    """Every phrase the precise layer knows (for tests and for checking evaluation words are new)."""
    return _phrases().keys()
