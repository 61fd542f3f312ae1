"""Parse a shopper's query into constraints: what it states, what it rules out, how to sort.

Three layers, most precise first: the hand-written phrases of ``vocabulary`` (every catalog
attribute, families and groups, price phrases and intents), typo correction for words that
are not English words, and, for the words left over, an optional learned matcher
(``semantic.AttributeMatcher``) that compares them with the attribute values by sentence-model
similarity. A word that names no attribute states nothing.
"""

from __future__ import annotations

import re
from dataclasses import replace

from multimodal.search.query import vocabulary as V
from multimodal.search.query.garments import bind_to_garments
from multimodal.search.query.parsed import NAME_FIELD, OPEN_SOURCES, Constraint, ParsedQuery, clean_query
from multimodal.search.query.prices import read_prices
from multimodal.search.query.sizes import read_size
from multimodal.search.query.slots import _MODIFIER_FIELDS, _content, _learn  # noqa: F401 - the evaluation reads _MODIFIER_FIELDS
from multimodal.search.query.units import (  # noqa: F401 - correct_typo, known_phrases, _singular: the parser's API
    _CATEGORY_JOINERS,
    STOPWORDS,
    Dictionary,
    Matcher,
    _is_garment,
    _Meaning,
    _phrases,
    _scan,
    _singular,
    _tokens,
    _Unit,
    correct_typo,
    known_phrases,
)

# "a top to go with jeans", "shoes to match my red dress": what follows is what the shopper already
# has, not what they are looking for; it states nothing (up to the next comma or full stop).
_FOR_WHOM = (r"\s+for\s+(?:(?:a|an|my|our|the)\s+)?(?:"
             + "|".join(re.escape(w) for w in sorted(V.GENDER_WORDS, key=len, reverse=True)) + r")\b")
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


# ---------------------------------------------------------------- lexicon and typo correction


# ---------------------------------------------------------------- parsing


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
                        and (units[after].meaning.field == first_field
                             or not _is_garment(units[after + 1] if after + 1 < len(units) else None))):
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
    lower = _phrases_before_words(text, parsed)
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
    genders, unit_of = _read_units(units, negated, parsed)
    garments = [j if u.meaning is not None and u.meaning.kind == "field" and u.meaning.field == "category" and j not in negated
                else None for j, u in enumerate(units)]
    parsed.constraints = bind_to_garments(parsed.constraints, unit_of, [u.words for u in units], garments)
    _narrower_kinds(parsed)
    _subtract_negated(parsed)
    _soft_hints(units, negated, parsed, dictionary)
    distinct = list(dict.fromkeys(genders))
    if len(distinct) == 1:
        parsed.gender = distinct[0]
    else:  # "for men and women" means either: unisex is not implied
        parsed.matched.pop("gender", None)
    return parsed


def _phrases_before_words(text: str, parsed: ParsedQuery) -> str:
    """Sizes, prices and what the item should go with, read off the whole text first; the rest."""
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
    return lower


def _read_units(units: list[_Unit], negated: set[int], parsed: ParsedQuery) -> tuple[list[str], dict[Constraint, int]]:
    """Each unit's meaning into the parse: genders (returned), brands, the price order, constraints."""
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
        elif m.kind == "other_brand":
            if j not in negated and unit.words not in parsed.unsold_brands:  # "not nike": nothing to rule out
                parsed.unsold_brands.append(unit.words)
        elif m.kind == "sort":
            direction = m.values[0]
            if j in negated:  # "not expensive" asks for the cheap end
                direction = V.PRICE_ASCENDING if direction == V.PRICE_DESCENDING else V.PRICE_DESCENDING
            parsed.sort = direction
            parsed.matched["sort"] = unit.words
        elif m.kind == "field":
            if unit.source in OPEN_SOURCES and m.field in listed_fields and j not in negated and m.field != "category":
                continue  # the precise layer already states this field (garments joined by and/or add up instead)
            _add_constraint(unit, j, negated, parsed, unit_of)
    return genders, unit_of


def _add_constraint(unit: _Unit, j: int, negated: set[int], parsed: ParsedQuery, unit_of: dict[Constraint, int]) -> None:
    m = unit.meaning
    if unit.named:
        constraint = Constraint(NAME_FIELD, (_name_form(unit.words),), unit.words, j in negated, unit.source)
    else:
        constraint = Constraint(m.field, m.values, unit.words, j in negated, unit.source, unit.similarity)
    if constraint not in parsed.constraints:
        parsed.constraints.append(constraint)
        unit_of[constraint] = j
        key = f"{'not ' if constraint.negated else ''}{constraint.field}:{'/'.join(constraint.values)}"
        parsed.matched.setdefault(key, unit.words)


def _soft_hints(units: list[_Unit], negated: set[int], parsed: ParsedQuery, dictionary: Dictionary | None) -> None:
    """Unsure words in attribute positions: they rank softly (``hints``), never filter."""
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
