"""Which garment each stated value was said of, for queries that name several.

"black dress and red shoes" asks for black dresses and red shoes, not for red dresses or black
shoes: a product has one colour, so the parser's usual reading (either colour, either garment)
would show all four. Here a value is tied to the garment of its own part of the query, split at
"and", "or", commas and "plus". Only where one field has values tied to different garments;
"black dress and shoes" or "dress and shoes for a wedding" keep one value for every garment,
since the shopper may well mean both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from multimodal.search.query.parsed import Constraint

JOINERS = frozenset({"and", "or", ",", "plus", "/"})


def garment_of_parts(words: Sequence[str], garments: Sequence[int | None]) -> list[int | None]:
    """Per unit, the index of the garment unit its part of the query is about, or None.

    ``words``: each unit's words; ``garments``: for each unit, its own index when it names a
    garment, else None. A part is the run of units between joiners; it is about its last garment
    (the head noun). A part without one goes on the list of values that ended the part before it,
    after that part's garment ("dress in red or black"); else it is about the next part's garment
    ("red and black dress"), else the previous part's."""
    parts: list[list[int]] = [[]]
    for j, w in enumerate(words):
        if w in JOINERS:
            parts.append([])
        else:
            parts[-1].append(j)
    own: list[int | None] = [next((garments[j] for j in reversed(part) if garments[j] is not None), None) for part in parts]
    heads = list(own)
    for i in range(len(heads) - 1, -1, -1):
        if heads[i] is not None or not parts[i]:
            continue
        follows_values = i > 0 and own[i - 1] is not None and own[i - 1] != parts[i - 1][-1]
        if follows_values:
            heads[i] = own[i - 1]  # "dress in red or black": the list after a garment goes on
        elif i + 1 < len(heads):
            heads[i] = heads[i + 1]  # "red and black dress": a list before a garment
    for i in range(1, len(heads)):  # what is left ("dresses and shoes, for a wedding"): the previous part's
        if heads[i] is None:
            heads[i] = heads[i - 1]
    out: list[int | None] = [None] * len(words)
    for part, head in zip(parts, heads):
        for j in part:
            out[j] = head
    return out


def bind_to_garments(constraints: list[Constraint], unit_of: dict[Constraint, int], words: Sequence[str],
                     garments: Sequence[int | None]) -> list[Constraint]:
    """``constraints`` with ``applies_to`` set on the values of each field that the query ties to
    different garments; every other constraint is returned as it was.

    ``unit_of``: the unit each constraint was read from; ``words``/``garments`` as in
    ``garment_of_parts``. Negations stay general ("dresses and shoes, not black")."""
    about = garment_of_parts(words, garments)
    category_at = {unit_of[c]: c for c in constraints if c.field == "category" and not c.negated and c in unit_of}
    tied: dict[Constraint, Constraint] = {}
    for name in dict.fromkeys(c.field for c in constraints if c.field != "category" and not c.negated):
        stated = [c for c in constraints if c.field == name and not c.negated]
        heads = [about[unit_of[c]] if c in unit_of else None for c in stated]
        if any(h is None or h not in category_at for h in heads) or len(set(heads)) < 2:
            continue
        for c, h in zip(stated, heads):
            garment = category_at[h]
            tied[c] = replace(c, applies_to=garment.values, garment=garment.words)
    return [tied.get(c, c) for c in constraints]
