"""What a text ranking tells the shopper: the message when constraints were relaxed, and per result
the stated constraints it meets and those it lacks, in the shopper's words."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from multimodal.search.query import ParsedQuery
from multimodal.search.text_ranking import _OTHER, _of_its_garment, meets, near_seasons, offers_size, stated_values


def describe(parsed: ParsedQuery, skip: set[str] | frozenset[str] = frozenset()) -> str:
    """The stated constraints in the shopper's own words ("navy shearling coats for men under $200")."""
    words = _stated_words(parsed)
    either = {name for name, (_, alternatives) in stated_values(parsed).items() if alternatives}
    tied = [c for c in parsed.constraints if c.applies_to and not c.negated and c.field not in skip] if "category" not in skip else []
    front = [(" or " if name in either else " ").join(words[name]) for name in ("season", "colour", "material", "style")
             if name not in skip and words[name] and not any(c.field == name for c in tied)]
    # "black dress or red shoes": a value tied to a garment goes with it
    noun = (" or ".join(" ".join([*(c.words for c in tied if c.garment == w), w]) for w in words["category"])
            if "category" not in skip and words["category"] else "items")
    parts = [" ".join([*front, noun])]
    if "brand" not in skip and words["brand"]:
        parts.append("by " + " or ".join(words["brand"]))
    for name in ("occasion",):
        if name not in skip and words[name]:
            parts.append("for " + " or ".join(words[name]))
    if "gender" not in skip and parsed.gender:
        parts.append(f"for {parsed.gender.lower()}")
    if "size" not in skip and parsed.size is not None:
        parts.append(f"in size {parsed.size.label}")
    if "price" not in skip and (label := parsed.price_label()):
        parts.append(label.removeprefix("price: "))
    if "exclusions" not in skip:
        ruled_out = [c.words for c in parsed.constraints if c.negated]
        if ruled_out:
            parts.append("not " + " or ".join(ruled_out))
    return " ".join(parts)


def _stated_words(parsed: ParsedQuery) -> defaultdict[str, list[str]]:
    """Per field, the shopper's words of its stated (not negated) constraints ("navy", "coats")."""
    words: defaultdict[str, list[str]] = defaultdict(list)
    for c in parsed.constraints:
        if not c.negated:
            words[c.field].append(c.words)
    return words


def relaxation_message(parsed: ParsedQuery, dropped: list[str]) -> str | None:
    """"no navy shearling coats; showing shearling coats in other colours"."""
    if not dropped:
        return None
    said = dict(_OTHER)
    if "season" in dropped and "near_season" not in dropped and (near := near_seasons(parsed)):
        said["season"] = "for " + " or ".join("all seasons" if n == "All-season" else n.lower() for n in near)
    others = " and ".join(said[d] for d in dropped if not (d == "season" and "near_season" in dropped))
    return f"No {describe(parsed)}; showing {describe(parsed, set(dropped))} {others}."


def matched_labels(parsed: ParsedQuery, columns: Mapping[str, np.ndarray], prices: np.ndarray, genders: np.ndarray,
                   rows: np.ndarray) -> list[list[str]]:
    """For each result row, the stated constraints it meets, as short labels for its card."""
    out: list[list[str]] = [[] for _ in rows]
    for c in parsed.constraints:
        ok = meets(c, columns[c.field][rows]) & _of_its_garment(c, columns, rows)
        for i in np.flatnonzero(ok):
            value = columns[c.field][rows[i]]
            out[i].append(f"not {c.words}" if c.negated else str(value))
    if parsed.gender:
        allowed = {"Men": ("Men", "Unisex"), "Women": ("Women", "Unisex"), "Unisex": ("Unisex",)}[parsed.gender]
        for i, r in enumerate(rows):
            if genders[r] in allowed:
                out[i].append(str(genders[r]))
    if parsed.size is not None and "sizes" in columns:
        for i in np.flatnonzero(offers_size(columns["sizes"][rows], parsed.size.tokens)):
            out[i].append(f"size {parsed.size.label}")
    if parsed.min_price is not None or parsed.max_price is not None:
        low = parsed.min_price if parsed.min_price is not None else -np.inf
        high = parsed.max_price if parsed.max_price is not None else np.inf
        for i, r in enumerate(rows):
            if low <= prices[r] <= high:
                out[i].append(f"${prices[r]:.2f}")
    return out


def missed_labels(parsed: ParsedQuery, columns: Mapping[str, np.ndarray], groups: Mapping[str, np.ndarray],
                  rows: np.ndarray) -> list[list[str]]:
    """For each result row, what it misses of the query, in the shopper's words ("hiking", "not red",
    "under $40"): the constraint groups (``constraint_groups``) its row fails. Empty for an exact
    match; a partial match's card says what it lacks rather than only that it lacks something."""
    stated = _stated_words(parsed)
    negated = [c for c in parsed.constraints if c.negated]
    out: list[list[str]] = [[] for _ in rows]
    for name, mask in groups.items():
        if name == "near_season":
            continue  # an item of another season misses the season once
        for i in np.flatnonzero(~mask[rows]):
            if name == "exclusions":
                out[i].extend(f"not {c.words}" for c in negated if not meets(c, columns[c.field][rows[i:i + 1]])[0])
            elif name == "price":
                out[i].append((parsed.price_label() or "price").removeprefix("price: "))
            elif name == "size" and parsed.size is not None:
                out[i].append(f"size {parsed.size.label}")
            elif name == "gender" and parsed.gender:
                out[i].append(f"for {parsed.gender.lower()}")
            else:
                own = [c.words for c in parsed.constraints if c.field == name and not c.negated and c.applies_to
                       and _of_its_garment(c, columns, rows[i:i + 1])[0]]  # a red dress lacks "black", not "black or red"
                out[i].append(" or ".join(dict.fromkeys(own or stated[name] or [name])))
    return out
