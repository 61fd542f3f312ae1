"""The learned layer: words no hand-written list holds, matched to attribute values by the
sentence model's similarity ("vermilion" -> red, "calfskin" -> leather, "trekking" -> hiking).

Every phrase of the precise layer is an anchor for the values it means; a query word takes
the meaning of its most similar anchor when the cosine similarity reaches ``threshold``. The
threshold is chosen on data (``choose_threshold``: words with a known meaning against ordinary
English words) and reported by the evaluation. Anchor vectors are computed once per matcher.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from multimodal.search.query import vocabulary as V

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.78
# The soft signal also compares unsure words with the dictionary definition (first sense) of each
# one-word anchor of these fields: on dev queries colour 0.37 -> 0.38, material 0.43 -> 0.59;
# style, occasion and season lost (their anchors' first senses are rarely the fashion sense).
DESCRIBED_FIELDS: tuple[str, ...] = ("colour", "material")
DESCRIBED_SENSES = 1
# A style's first dictionary sense is rarely the one the catalog means ("retro: affecting things past"),
# so the style anchors' definitions are the senses chosen here, named by how their definition begins
# (a choice among WordNet's senses, not hand-written text; docs/decisions.md). Styles whose name has
# no fitting sense (streetwear, smart casual) have none.
STYLE_SENSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "bohemian": ("bohemian", ("unconventional in", "a nonconformist")),
    "casual": ("casual", ("appropriate for ordinary",)),
    "classic": ("classic", ("of recognized authority", "a creation of the highest")),
    "elegant": ("elegant", ("refined and tasteful", "suggesting taste")),
    "formal": ("formal", ("being in accord with established",)),
    "loungewear": ("lounge", ("clothing suitable",)),
    "beachwear": ("beach", ("clothing to be worn",)),
    "minimalist": ("minimalist", ("of or relating to artistic",)),
    "outdoor": ("outdoor", ("located, suited", "pertaining to or concerning")),
    "party": ("party", ("an occasion on which",)),
    "retro": ("retro", ("a fashion reminiscent",)),
    "rugged": ("rugged", ("sturdy and strong",)),
    "sport": ("sporty", ("an active diversion",)),
    "sporty": ("sporty", ("appropriate for sport",)),
    "business": ("business", ("the activity of providing",)),
}
# A lone style word reads better to the sentence model inside a sentence about clothes: the soft
# signal also compares "clothes in a comfy style" (and two more wordings, averaged) with the same
# sentences around each style anchor, and each style keeps the better of its lone-word and sentence
# likeness. Only style words are read in sentences; why: docs/decisions.md.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "style": ("clothes in a {} style", "dressed in a {} way", "a {} outfit"),
}
# A style word stands where a colour, material, occasion or season could (before a garment), and
# sentences are alike on another scale than lone words: a field's sentence likenesses are first
# shifted to the mean of its lone-word ones, or style would outweigh the other fields (docs/decisions.md).
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
            if name == "colour" and len(values) > 1:
                continue  # a family ("neutrals") is a shopper's shorthand, no evidence of which colour a word is
            if (text, name) not in seen:
                seen.add((text, name))
                out.append(Anchor(text, name, tuple(values)))
    return out


class AttributeMatcher:
    """Sentence-model similarity between query words and the anchors of every attribute value.

    Args:
        encoder: anything with ``encode(list[str]) -> unit vectors`` (``text_encoder.SentenceEncoder``).
        threshold: the least cosine similarity that counts as a match.
        describe: word -> short dictionary descriptions of its senses (``DictionaryLayer.descriptions``,
            with ``only=`` the beginnings of the senses wanted);
            the soft signal of unsure words compares those too, since the sentence model reads a
            definition far better than a lone rare word.
    """

    def __init__(self, encoder: Any, threshold: float = DEFAULT_THRESHOLD,
                 describe: Callable[..., list[str]] | None = None) -> None:
        self.encoder = encoder
        self.threshold = float(threshold)
        self.describe = describe
        self.anchors = anchors()
        self.vectors = np.asarray(encoder.encode([a.text for a in self.anchors]), np.float32)
        self._cache: dict[str, tuple[int, float]] = {}
        self._vectors_cache: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
        self.soft_anchors = list(self.anchors)
        if describe is not None:
            extra = [Anchor(d, a.field, a.values) for a in self.anchors if a.field in DESCRIBED_FIELDS and " " not in a.text
                     for d in describe(a.text)[:DESCRIBED_SENSES]]
            extra += [Anchor(d, "style", (value,)) for word, (value, senses) in STYLE_SENSES.items()
                      for d in describe(word, only=senses)]
            self.soft_anchors += extra
            extra_vectors = np.asarray(encoder.encode([a.text for a in extra]), np.float32) if extra else None
            self.soft_vectors = np.concatenate([self.vectors, extra_vectors]) if extra else self.vectors
        else:
            self.soft_vectors = self.vectors
        # field -> its anchors and, per template, their vectors inside it
        self.templated: dict[str, tuple[list[Anchor], list[np.ndarray]]] = {}
        for name, templates in TEMPLATES.items():
            field_anchors = [a for a in self.anchors if a.field == name]
            self.templated[name] = (field_anchors, [np.asarray(encoder.encode([t.format(a.text) for a in field_anchors]), np.float32)
                                                    for t in templates])

    def clear_cache(self) -> None:
        """Forget the phrases read before (a benchmark of queries whose words are all new)."""
        self._cache.clear()
        self._vectors_cache.clear()

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

    def field_similarities(self, phrase: str, fields: tuple[str, ...] | frozenset[str]) -> dict[str, dict[str, float]]:
        """For each field of ``fields``, the similarity of ``phrase`` (or of one of its dictionary
        definitions) to each value of the field (its best anchor): the graded signal of words below
        the threshold."""
        in_sentences = tuple(name for name in self.templated if name in fields)  # encoded only where they are read
        key = (phrase, in_sentences)
        if key not in self._vectors_cache:
            templated = [t.format(phrase) for name in in_sentences for t in TEMPLATES[name]]
            texts = [phrase, *(self.describe(phrase) if self.describe else []), *templated]
            if len(self._vectors_cache) > 50_000:
                self._vectors_cache.clear()
            self._vectors_cache[key] = np.asarray(self.encoder.encode(texts), np.float32)
        vectors = self._vectors_cache[key]
        at = len(vectors) - sum(len(TEMPLATES[name]) for name in in_sentences)
        out = _best_per_value(self.soft_anchors, (vectors[:at] @ self.soft_vectors.T).max(axis=0), fields)
        for name in in_sentences:
            field_anchors, anchor_vectors = self.templated[name]
            queries, at = vectors[at: at + len(anchor_vectors)], at + len(anchor_vectors)
            sims = np.mean([a @ q for a, q in zip(anchor_vectors, queries)], axis=0)
            read = _best_per_value(field_anchors, sims, (name,))[name]
            shift = float(np.mean(list(out[name].values())) - np.mean(list(read.values())))
            out[name] = {v: max(out[name].get(v, -1.0), sim + shift) for v, sim in read.items()}
        return {name: values for name, values in out.items() if values}

    def match(self, phrases: list[str]) -> list[tuple[str, tuple[str, ...], float] | None]:
        """For each phrase, (field, values, similarity) of its anchor when similar enough, else None."""
        return [(a.field, a.values, sim) if sim >= self.threshold else None for a, sim in self.nearest(phrases)]


def _best_per_value(anchors: Sequence[Anchor], sims: np.ndarray, fields: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per field of ``fields``, each value's best likeness among its anchors."""
    out: dict[str, dict[str, float]] = {name: {} for name in fields}
    for anchor, sim in zip(anchors, sims):
        if anchor.field in out:
            for v in anchor.values:
                out[anchor.field][v] = max(out[anchor.field].get(v, -1.0), float(sim))
    return out


def choose_threshold(
    matcher: AttributeMatcher,
    positives: dict[str, tuple[str, tuple[str, ...]]],
    negatives: Sequence[str],
    max_false_rate: float = 0.005,
) -> dict[str, Any]:
    """The lowest threshold whose false-match rate on ``negatives`` (ordinary words) stays within
    ``max_false_rate``, with the share of ``positives`` (word -> (field, values)) it then gets right.

    Lower thresholds find more unseen words; the bound keeps ordinary words from stating anything.
    The rate counts a word's nearest anchor alone: in a query the layer reads only words in an
    attribute position, so fewer false matches reach a query (the evaluation measures both). 0.5%,
    the false-parse bar, is the product's choice: a false match filters wrongly, a missed one still
    ranks softly. At 3% (threshold 0.62) the layer read 46 of 3,000 dev words before "dress" as an
    attribute; at 0.5% (0.78), 7, and the dev query set scored 0.645 against 0.640: the soft signal
    of unsure words, not the hard match, is what finds unseen words.
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


@functools.lru_cache(maxsize=8)
def shared_matcher(encoder: Any, threshold: float = DEFAULT_THRESHOLD, dictionary: Any = None) -> AttributeMatcher:
    """One ``AttributeMatcher`` per (encoder, threshold, dictionary) in a process: encoding its anchors
    takes about a second, and every engine loaded (a refresh after add-items, another catalog) reads
    queries alike. ``dictionary`` is a ``DictionaryLayer`` (its descriptions) or None."""
    return AttributeMatcher(encoder, threshold, dictionary.descriptions if dictionary is not None else None)
