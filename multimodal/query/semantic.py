"""The learned layer: words no hand-written list holds, matched to attribute values by the
sentence model's similarity ("vermilion" -> red, "calfskin" -> leather, "trekking" -> hiking).

Every phrase of the precise layer is an anchor for the values it means; a query word takes
the meaning of its most similar anchor when the cosine similarity reaches ``threshold``. The
threshold is chosen on data (``choose_threshold``: words with a known meaning against ordinary
English words) and reported by the evaluation. Anchor vectors are computed once per matcher.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import vocabulary as V

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.62
# Fields the learned layer may state; gender and price stay with the precise layer.
LEARNED_FIELDS: tuple[str, ...] = ("category", "colour", "material", "style", "occasion", "season")
# The brand names are invented: no sentence model knows what they are similar to.
_EXTRA_ANCHORS: dict[str, dict[str, tuple[str, ...]]] = {
    "colour": {f"{c} colour": (c,) for c in V.COLOURS},
    "season": {"cold weather": ("Winter",), "hot weather": ("Summer",)},
}


@dataclass(frozen=True)
class Anchor:
    text: str
    field: str
    values: tuple[str, ...]


def anchors() -> list[Anchor]:
    """Every hand-written phrase of the learned fields, with the values it means."""
    out: list[Anchor] = []
    seen: set[tuple[str, str]] = set()
    for name in LEARNED_FIELDS:
        phrases = {**V.LEXICON[name], **_EXTRA_ANCHORS.get(name, {})}
        if name == "style":
            phrases.update({s: (s,) for s in V.ALL_STYLES})
        for text, values in phrases.items():
            if (text, name) not in seen:
                seen.add((text, name))
                out.append(Anchor(text, name, tuple(values)))
    return out


class AttributeMatcher:
    """Sentence-model similarity between query words and the anchors of every attribute value.

    Args:
        encoder: anything with ``encode(list[str]) -> unit vectors`` (``text_encoder.SentenceEncoder``).
        threshold: the least cosine similarity that counts as a match.
    """

    def __init__(self, encoder: Any, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.encoder = encoder
        self.threshold = float(threshold)
        self.anchors = anchors()
        self.vectors = np.asarray(encoder.encode([a.text for a in self.anchors]), np.float32)
        self._cache: dict[str, tuple[int, float]] = {}
        self._vectors_cache: dict[str, np.ndarray] = {}

    def nearest(self, phrases: Sequence[str]) -> list[tuple[Anchor, float]]:
        """The most similar anchor of each phrase and its cosine similarity."""
        todo = [p for p in dict.fromkeys(phrases) if p not in self._cache]
        if todo:
            sims = np.asarray(self.encoder.encode(todo), np.float32) @ self.vectors.T
            best = sims.argmax(axis=1)
            for p, j, row in zip(todo, best, sims):
                self._cache[p] = (int(j), float(row[j]))
            if len(self._cache) > 50_000:
                self._cache.clear()
        return [(self.anchors[self._cache[p][0]], self._cache[p][1]) for p in phrases]

    def value_similarities(self, phrase: str, fields: tuple[str, ...] | frozenset[str]) -> tuple[str, dict[str, float]] | None:
        """The field among ``fields`` whose values ``phrase`` is most like, and the similarity of the
        phrase to each value of it (its best anchor): a graded signal for words below the threshold."""
        key = f"\x00values:{phrase}"
        if key not in self._cache:
            self._vectors_cache[phrase] = np.asarray(self.encoder.encode([phrase]), np.float32)[0]
            self._cache[key] = (0, 0.0)
        sims = self.vectors @ self._vectors_cache[phrase]
        best: tuple[str, dict[str, float]] | None = None
        top = -np.inf
        for name in fields:
            per_value: dict[str, float] = {}
            for anchor, sim in zip(self.anchors, sims):
                if anchor.field == name:
                    for v in anchor.values:
                        per_value[v] = max(per_value.get(v, -1.0), float(sim))
            if per_value and max(per_value.values()) > top:
                top, best = max(per_value.values()), (name, per_value)
        return best

    def match(self, phrases: list[str]) -> list[tuple[str, tuple[str, ...], float] | None]:
        """For each phrase, (field, values, similarity) of its anchor when similar enough, else None."""
        return [(a.field, a.values, sim) if sim >= self.threshold else None for a, sim in self.nearest(phrases)]


def choose_threshold(
    matcher: AttributeMatcher,
    positives: dict[str, tuple[str, tuple[str, ...]]],
    negatives: Sequence[str],
    max_false_rate: float = 0.03,
) -> dict[str, Any]:
    """The lowest threshold whose false-match rate on ``negatives`` (ordinary words) stays within
    ``max_false_rate``, with the share of ``positives`` (word -> (field, values)) it then gets right.

    Lower thresholds find more unseen words; the bound keeps ordinary words from stating anything.
    The rate counts a word's nearest anchor alone: in a query the layer reads only words in an
    attribute position, so fewer false matches reach a query (the evaluation measures both). 3% is
    the product's choice: a false match filters wrongly, a missed one still ranks softly.
    """
    pos_words = list(positives)
    pos = matcher.nearest(pos_words)
    neg_sims = np.array([s for _, s in matcher.nearest(list(negatives))], np.float64)
    candidates = np.round(np.arange(0.40, 0.90, 0.01), 2)
    rows = []
    for t in candidates:
        false_rate = float(np.mean(neg_sims >= t)) if len(neg_sims) else 0.0
        right = sum(1 for w, (a, s) in zip(pos_words, pos) if s >= t and _agrees(a, positives[w]))
        rows.append({"threshold": float(t), "false_rate": false_rate, "recall": right / max(1, len(pos_words))})
    ok = [r for r in rows if r["false_rate"] <= max_false_rate]
    chosen = min(ok, key=lambda r: r["threshold"]) if ok else rows[-1]
    return {"chosen": chosen, "max_false_rate": max_false_rate, "sweep": rows,
            "positives": len(pos_words), "negatives": len(neg_sims)}


def _agrees(anchor: Anchor, truth: tuple[str, tuple[str, ...]]) -> bool:
    field, values = truth
    return anchor.field == field and bool(set(anchor.values) & set(values))
