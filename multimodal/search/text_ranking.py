"""Text ranking, model-free: stated constraints as hard filters (relaxed visibly when nothing
meets them all), dense and lexical signals fused inside them, price intents as the order.

``SearchEngine.rank_text`` encodes the query and calls ``constrained.rank_constrained``; everything here
works on arrays, so each step is tested on hand-made data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multimodal.search.query import PRICE_ASCENDING, Constraint, ParsedQuery
from multimodal.search.query import vocabulary as V
from multimodal.search.query.parsed import NAME_FIELD

RRF_K = 60  # Cormack et al. (2009)
FUSIONS: tuple[str, ...] = ("rrf", "weighted")
# Dropped first when nothing meets every stated constraint: the least important comes first.
# The sidebar's gender filter is never relaxed; a gender stated in the query is, nearly last.
RELAXATION_ORDER: tuple[str, ...] = (
    "season", "near_season", "occasion", "style", "colour", "brand", "material", "size", "exclusions", "price", "gender", "category",
)
# The seasons whose clothes are nearest a stated one's: all-season items, then the other transitional
# (or the milder) season. Without items of the stated season these come first ("near_season"), before
# the rest: a "light jacket for spring" had listed winter down puffers first.
NEAR_SEASONS: dict[str, tuple[str, ...]] = {
    "Spring": ("All-season", "Autumn"), "Autumn": ("All-season", "Spring"),
    "Summer": ("All-season", "Spring"), "Winter": ("All-season", "Autumn"),
}
_OTHER = {
    "season": "for other seasons", "near_season": "for other seasons", "occasion": "for other occasions", "style": "in other styles",
    "colour": "in other colours", "brand": "from other brands", "material": "in other materials", "size": "in other sizes",
    "exclusions": "including what you ruled out", "price": "at other prices", "gender": "for other genders",
    "category": "of other kinds",
}


@dataclass
class Relaxation:
    """Which groups of constraints were dropped, and the sentence that tells the shopper."""

    dropped: list[str] = field(default_factory=list)
    message: str | None = None

    @property
    def groups(self) -> list[str]:
        """The dropped groups as the shopper stated them: the nearest seasons are a step of "season"."""
        return [g for g in self.dropped if g != "near_season"]


@dataclass
class TextRanking:
    """Rows of the catalog (best first) with the score of each signal; model-free so it can be tested alone.

    ``matches[i]``: the stated constraints row i meets (for its card), ``misses[i]`` those it fails;
    ``relaxation``: what was dropped when nothing met every constraint; ``n_matching``: how many
    items passed the filters;
    ``exact[i]``: row i meets them (False: a partial match shown after the exact ones);
    ``match[i]``: the 0-1 score a shopper reads (``match_scores``).
    """

    rows: np.ndarray
    scores: np.ndarray
    signals: dict[str, np.ndarray] = field(default_factory=dict)
    matches: list[list[str]] = field(default_factory=list)
    misses: list[list[str]] = field(default_factory=list)
    relaxation: Relaxation = field(default_factory=Relaxation)
    n_matching: int = 0
    exact: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # meets every kept constraint
    match: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # 0-1, ``match_scores``


def constraint_groups(parsed: ParsedQuery, columns: Mapping[str, np.ndarray], prices: np.ndarray,
                      query_gender_mask: np.ndarray | None) -> dict[str, np.ndarray]:
    """One mask per relaxation group: per field, the rows with a stated value (``stated_values``);
    "exclusions", the rows meeting every negation; price, size and the query's gender."""
    n = len(prices)
    groups: dict[str, np.ndarray] = {name: np.isin(np.asarray(columns[name]), list(values))
                                     for name, (values, _) in stated_values(parsed).items()}
    for name in dict.fromkeys(c.field for c in parsed.constraints if c.applies_to):
        groups[name] = _tied_mask([c for c in parsed.constraints if c.field == name and not c.negated], columns)
    if (near := near_seasons(parsed)) and "season" in groups:
        groups["near_season"] = np.isin(np.asarray(columns["season"]), [*parsed.values("season"), *near])
    for c in parsed.constraints:
        if c.negated:
            mask = meets(c, columns[c.field])
            groups["exclusions"] = groups["exclusions"] & mask if "exclusions" in groups else mask
    price = np.ones(n, bool)
    if parsed.max_price is not None:
        price &= prices <= parsed.max_price
    if parsed.min_price is not None:
        price &= prices >= parsed.min_price
    if parsed.max_price is not None or parsed.min_price is not None:
        groups["price"] = price
    if parsed.size is not None and "sizes" in columns:
        groups["size"] = offers_size(columns["sizes"], parsed.size.tokens)
    if query_gender_mask is not None:
        groups["gender"] = query_gender_mask
    return groups


def near_seasons(parsed: ParsedQuery) -> tuple[str, ...]:
    """The seasons nearest the stated ones (``NEAR_SEASONS``), none where a season is tied to a garment."""
    stated = parsed.values("season")
    if any(c.applies_to for c in parsed.constraints if c.field == "season"):
        return ()
    return tuple(dict.fromkeys(n for s in stated for n in NEAR_SEASONS.get(s, ()) if n not in stated))


def stated_values(parsed: ParsedQuery) -> dict[str, tuple[frozenset[str], bool]]:
    """Per field, the values its stated (not negated) constraints allow, and whether they are
    alternatives. A product has one value per field, so two stated values that share nothing are
    either-or ("shoes for a beach holiday": beach or vacation; "red or white sneakers"); values that
    overlap narrow each other ("boots" among "shoes" leaves ankle boots)."""
    by_field: dict[str, list[frozenset[str]]] = {}
    for c in parsed.constraints:
        if not c.negated:
            by_field.setdefault(c.field, []).append(frozenset(c.values))
    out: dict[str, tuple[frozenset[str], bool]] = {}
    for name, sets in by_field.items():
        common = frozenset.intersection(*sets)
        out[name] = (common, False) if common else (frozenset.union(*sets), True)
    return out


def _tied_mask(stated: list[Constraint], columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Rows meeting a field whose values the query tied to garments ("black dress and red shoes"):
    a row of a named garment has that garment's value; a row of another category is free."""
    category = np.asarray(columns["category"])
    mask = ~np.isin(category, [v for c in stated for v in c.applies_to])
    for c in stated:
        mask |= np.isin(np.asarray(columns[c.field]), list(c.values)) & np.isin(category, list(c.applies_to))
    return mask


def _of_its_garment(c: Constraint, columns: Mapping[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Which rows are of the garment ``c`` was said of (all of them for a value said of every item)."""
    return np.isin(np.asarray(columns["category"])[rows], list(c.applies_to)) if c.applies_to else np.ones(len(rows), bool)


def offers_size(item_sizes: np.ndarray, wanted: frozenset[str]) -> np.ndarray:
    """Rows whose sizes (``query.sizes.item_sizes`` sets) include one of ``wanted``."""
    return np.fromiter((bool(sizes & wanted) for sizes in item_sizes), bool, len(item_sizes))


def dense_text(parsed: ParsedQuery) -> str:
    """The query for the sentence model and the mapped vector: without what a negation rules out.

    Neither can negate: "jeans not blue" ranked the brand Blue Fjord's jeans first. The negation
    itself is a hard filter; a query of nothing but a negation ("not black") keeps its words."""
    gone = {w for c in parsed.constraints if c.negated for w in c.words.lower().split()}
    if not gone:
        return parsed.text
    gone |= {w for w in V.NEGATORS if " " not in w}
    return _without(parsed.text, gone).strip(" ,") or parsed.text


def lexical_text(parsed: ParsedQuery, dropped: list[str]) -> str:
    """The query for BM25: ``dense_text`` without the garment words of a category filter that holds.

    Inside the filter every item is of a stated category, so its word only favours the items whose
    title happens to repeat it: "smart shoes for an interview" ranked running shoes first (their
    titles say "shoes"), not the elegant sandals and boots the other words ask for. Dev queries:
    0.875 -> 0.877. Other stated words are kept (every allowed item has their value anyway)."""
    text = dense_text(parsed)
    if "category" in dropped:
        return text
    garment = {w for c in parsed.constraints if c.field == "category" and not c.negated for w in c.words.lower().split()}
    return _without(text, garment)


def _without(text: str, words: set[str]) -> str:
    """``text`` less the words in ``words`` (lower case, trailing punctuation ignored)."""
    return " ".join(w for w in text.split() if w.lower().strip(",.!?") not in words)


def meets(constraint: Constraint, values: np.ndarray) -> np.ndarray:
    """Rows whose value is one of the constraint's (or, negated, none of them). For ``NAME_FIELD``
    the values are product names (``name_column``), and a row is inside when its name says one."""
    if constraint.field == NAME_FIELD:
        inside = named(values, constraint.values)
    else:
        inside = np.isin(np.asarray(values), list(constraint.values))
    return ~inside if constraint.negated else inside


def name_column(titles: Sequence[str]) -> np.ndarray:
    """Product names as ``named`` reads them: lower case, hyphens as spaces ("Flip-Flops" -> "flip flops")."""
    return np.array([str(t).lower().replace("-", " ") for t in titles], dtype=object)


def named(names: np.ndarray, phrases: Sequence[str]) -> np.ndarray:
    """Rows whose name holds one of ``phrases`` (singular forms, ``parser._name_form``) as whole
    words, singular or plural: "flip flop" finds "Red Flip-Flops"."""
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")(?:e?s)?\b")
    return np.fromiter((pattern.search(str(n)) is not None for n in names), bool, len(names))


def relax(base: np.ndarray, groups: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Rows meeting ``base`` and every group; when none do, drop groups in ``RELAXATION_ORDER``
    until some rows remain. Returns the rows and the groups dropped."""
    kept = dict(groups)
    dropped: list[str] = []
    while True:
        mask = base.copy()
        for m in kept.values():
            mask &= m
        if mask.any() or not kept:
            return mask, dropped
        name = next(g for g in RELAXATION_ORDER if g in kept)
        dropped.append(name)
        del kept[name]


def backfill(rows: np.ndarray, scores: np.ndarray, base: np.ndarray, groups: dict[str, np.ndarray], dropped: list[str],
             score: Callable[[np.ndarray], np.ndarray], k: int, total_weight: float,
             order: Sequence[str] = RELAXATION_ORDER) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """When fewer than k items meet every constraint, the next best items after them: those meeting
    all but the least important constraints (``order``), each batch by its own fused score.
    Shown after the exact matches and marked as partial; never outside ``base`` (the gender filter).

    Returns rows, scores and each row's batch (0: the exact matches); the score of batch i is its
    fused score minus ``i * total_weight`` (the most any fused score can be), so scores fall along the list."""
    chosen = list(rows)
    out_scores = [float(x) for x in scores]
    batches = [0] * len(chosen)
    batch = 0
    kept = {name: m for name, m in groups.items() if name not in dropped}
    taken = np.zeros(len(base), bool)
    taken[np.asarray(chosen, np.int64)] = True
    for name in [g for g in order if g in kept]:
        if len(chosen) >= k:
            break
        del kept[name]
        mask = base.copy()
        for m in kept.values():
            mask &= m
        mask &= ~taken
        if not mask.any():
            continue
        fused = score(mask)
        extra = np.flatnonzero(mask)
        extra = extra[np.argsort(-fused[extra], kind="stable")][: k - len(chosen)]
        batch += 1
        chosen.extend(extra.tolist())
        out_scores.extend((fused[extra] - batch * total_weight).tolist())
        batches.extend([batch] * len(extra))
        taken[extra] = True
    return np.asarray(chosen, np.int64), np.asarray(out_scores, np.float32), np.asarray(batches, np.int64)


def fused_ceiling(weights: Mapping[str, float], signals: Mapping[str, np.ndarray], method: str) -> float:
    """The most a fused score can be with these signals: the sum of their weights (``weighted``),
    or that sum over ``RRF_K + 1`` (``rrf``, every signal ranking the row first)."""
    total = sum(float(weights.get(name, 0.0)) for name in signals)
    return total / (RRF_K + 1) if method == "rrf" else total


def match_scores(scores: np.ndarray, batches: np.ndarray, matches: Sequence[Sequence[str]],
                 misses: Sequence[Sequence[str]], total_weight: float, ceiling: float) -> np.ndarray:
    """The score a shopper reads, 0 to 1 on every page: ``(constraints met + strength) / (constraints
    stated + 1)``, where strength is the fused score over the most it can be (0-1). A product meeting
    everything stated scores at least ``n / (n + 1)``, above any that lacks something; a query that
    states nothing scores by strength alone. The ranking's own ``score`` mixes scales (its close
    matches are pushed below every full match), so it is kept for ordering, not for reading."""
    raw = np.asarray(scores, np.float64) + np.asarray(batches, np.float64) * total_weight
    strength = np.clip(raw / ceiling if ceiling > 0 else np.zeros_like(raw), 0.0, 1.0)
    met = np.asarray([len(m) for m in matches], np.float64).reshape(-1)[: len(raw)]
    stated = met + np.asarray([len(m) for m in misses], np.float64).reshape(-1)[: len(raw)]
    if len(met) != len(raw):  # no labels (a caller that explains nothing): strength alone
        met, stated = np.zeros_like(raw), np.zeros_like(raw)
    return ((met + strength) / (stated + 1.0)).astype(np.float32)


def ranks_within(scores: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """1-based rank of each allowed row by ``scores`` (NaN last); disallowed rows get a large rank."""
    s = np.where(np.isnan(scores), -np.inf, scores)
    s = np.where(allowed, s, -np.inf)
    order = np.argsort(-s, kind="stable")
    rank = np.empty(len(s), np.float64)
    rank[order] = np.arange(1, len(s) + 1)
    return rank


def fuse(signals: Mapping[str, np.ndarray], weights: Mapping[str, float], allowed: np.ndarray, method: str = "rrf") -> np.ndarray:
    """One score per row from several signals.

    ``rrf``: sum of weight / (60 + rank of the row by that signal among the allowed rows);
    ``weighted``: sum of weight * signal, each signal min-max scaled over the allowed rows.
    Missing values (NaN) count as the worst.
    """
    if method not in FUSIONS:
        raise ValueError(f"unknown fusion {method!r}; use one of {', '.join(FUSIONS)}")
    total = np.zeros(len(allowed), np.float64)
    for name, values in signals.items():
        w = float(weights.get(name, 0.0))
        if w == 0.0:
            continue
        values = np.asarray(values, np.float64)
        if method == "rrf":
            total += w / (RRF_K + ranks_within(values, allowed))
        else:
            inside = values[allowed & ~np.isnan(values)]
            low, high = (float(inside.min()), float(inside.max())) if inside.size else (0.0, 1.0)
            scaled = (np.nan_to_num(values, nan=low) - low) / (high - low if high > low else 1.0)
            total += w * scaled
    return total


def order_rows(fused: np.ndarray, allowed: np.ndarray, prices: np.ndarray, sort: str | None, k: int,
               alternative: np.ndarray | None = None) -> np.ndarray:
    """The k best allowed rows: by fused score, or by price (then fused score) for a price intent.

    ``alternative`` (``alternative_of``): which of the stated either-or values each row has; the
    best row of each takes turns at the top, so "tops or dresses" shows both, not ten tops."""
    rows = np.flatnonzero(allowed)
    if sort is None:
        order = np.argsort(-fused[rows], kind="stable")
    else:
        direction = 1.0 if sort == PRICE_ASCENDING else -1.0
        order = np.lexsort((-fused[rows], direction * prices[rows]))
    ranked = rows[order]
    if sort is None and alternative is not None:
        ranked = _take_turns(ranked, alternative[ranked], k)
    return ranked[:k]


def alternative_of(parsed: ParsedQuery, columns: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """Per row, which combination of the stated either-or values it has ("grey hoodie or black coat":
    grey hoodie, grey coat, black hoodie, black coat), as one id (with one such field, the index of
    the value: 0 for tops, 1 for dresses, -1 for neither); None when the query states no
    alternatives. Every either-or field counts, not only the first: hoodies must show too."""
    either = [name for name, (_, alternatives) in stated_values(parsed).items() if alternatives]
    if not either:
        return None
    out = np.zeros(len(columns[either[0]]), np.int64)
    for name in either:
        stated = [c for c in parsed.constraints if c.field == name and not c.negated]
        index = np.full(len(out), -1, np.int64)  # the first stated value the row has; -1 for none
        for i, c in enumerate(stated):
            index[(index < 0) & np.isin(np.asarray(columns[name]), list(c.values))] = i
        out = out * (len(stated) + 1) + index + 1
    return out - 1  # one field: the index itself


def _take_turns(ranked: np.ndarray, group: np.ndarray, k: int) -> np.ndarray:
    """The first k of a round-robin over groups, each in its own ranked order, groups in the order
    of their best row."""
    queues = [list(ranked[group == g][:k]) for g in dict.fromkeys(group.tolist())]
    out: list[int] = []
    while len(out) < k and any(queues):
        for queue in queues:
            if queue and len(out) < k:
                out.append(queue.pop(0))
    return np.asarray(out, np.int64)


def hint_scores(parsed: ParsedQuery, columns: Mapping[str, np.ndarray], matcher: Any, n_items: int) -> np.ndarray:
    """Per item, how like its attribute values the query's unsure words are (``parsed.hints``):
    for each word, the learned layer's similarity to the item's value in whichever field its
    position allows is most alike, averaged over the words. A soft signal: it orders, it never
    filters (why each item's best field: docs/decisions.md). A value the dictionary guesses
    (``parsed.likely``) scores above every other (0.9 + a tenth of its similarity). The mean, not the sum, so the
    "likeness" on a card reads as a cosine; the fusion scales each signal, so the order is the same."""
    total = np.zeros(n_items, np.float64)
    words = 0
    for word, fields in parsed.hints:
        per_field = matcher.field_similarities(word, tuple(fields))
        if word in parsed.likely:  # a dictionary's guess comes first, in the model's own order
            name, values = parsed.likely[word]
            if name in per_field:
                per_field = {**per_field, name: {**per_field[name], **{v: 0.9 + 0.1 * per_field[name].get(v, 0.0) for v in values}}}
        if per_field:
            total += np.max([[per.get(v, -1.0) for v in columns[name]] for name, per in per_field.items()], axis=0)
            words += 1
    return total / max(1, words)
