"""Typo correction only where a typo is plausible: a string that is no English word, one or two
typist's slips away from an attribute word ("sneekers", "blak", "biege"), never a real word
("winter" is not "wine", "wood" not "wool")."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable


@functools.lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole English words known to the sentence model's tokenizer (its WordPiece vocabulary).

    A real word is never "corrected" into an attribute ("wood" is not wool, "winter" not wine);
    only strings that are no word at all are read as typos. Empty when the model package is missing.
    """
    try:
        from pathlib import Path

        from multimodal.models.text_encoder import resolve_sentence_model

        path = Path(resolve_sentence_model()) / "vocab.txt"
        words = path.read_text(encoding="utf-8").split()
    except Exception:  # noqa: BLE001 - no model package: typo correction falls back to the cutoff alone
        return frozenset()
    return frozenset(w for w in words if w.isalpha() and not w.startswith("##") and len(w) > 1)


_SUFFIXES = ("iness", "ness", "iest", "ier", "ies", "ing", "ers", "est", "ied", "ish", "ed", "er", "es", "ly", "s", "y")


_VOWELS = frozenset("aeiou")


def stems(word: str, suffixes: Iterable[str] = _SUFFIXES) -> list[str]:
    """What ``word`` may be built on, one of ``suffixes`` off: the bare stem, with a dropped "e" or
    "y" restored, or with a doubled final consonant undoubled ("reddish" -> red, "sadder" -> sad).
    English doubles a consonant only after a single vowel, so "dressses", "clothhes", "bootties"
    and "meetting" are typos of dresses, clothes, booties and meeting, not dress, cloth and boot
    or meet with an ending."""
    out: list[str] = []
    for suffix in suffixes:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            out += [stem, stem + "e", stem + "y"]
            if len(stem) > 3 and _doubled_after_one_vowel(stem):
                out.append(stem[:-1])
    return list(dict.fromkeys(out))


def _doubled_after_one_vowel(stem: str) -> bool:
    """"redd", "sadd", "quitt"... end in a doubled consonant that follows a single vowel (the "u"
    of "qu" is none); British spelling doubles an "l" after two ("fuell", "wooll")."""
    last, before, vowel, ahead = stem[-1], stem[-2], stem[-3], stem[-4]
    if last != before or last in _VOWELS or last in "hwxy" or vowel not in _VOWELS:
        return False
    single = ahead not in _VOWELS or (ahead == "u" and stem[-5:-4] == "q")
    return single or last == "l"


def is_english(word: str) -> bool:
    """A word of the tokenizer's vocabulary, or one with a common English ending on such a word
    ("sneers", "totters", "summering"): a real word, never a typo."""
    known = english_words()
    return word in known or any(stem in known for stem in stems(word))


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of neighbours."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _slip(word: str, target: str) -> bool:
    """``word`` is ``target`` with one letter dropped, doubled, or two neighbours swapped."""
    if len(word) == len(target) - 1:
        return any(target[:i] + target[i + 1 :] == word for i in range(len(target)))
    if len(word) == len(target) + 1:
        return any(word[:i] + word[i + 1 :] == target and word[i] == word[i - 1] for i in range(1, len(word)))
    if len(word) == len(target):
        return any(target[:i] + target[i + 1] + target[i] + target[i + 2 :] == word for i in range(len(target) - 1))
    return False


def _two_slips(word: str, target: str) -> bool:
    letters = set(word)
    once = {target[:i] + target[i + 1 :] for i in range(len(target))}
    once |= {target[:i] + target[i] + target[i:] for i in range(len(target))}
    once |= {target[:i] + target[i + 1] + target[i] + target[i + 2 :] for i in range(len(target) - 1)}
    return any(_slip(word, middle) for middle in once if set(middle) <= letters | set(target))


def closest(word: str, targets: Iterable[str], meaning: Callable[[str], Hashable]) -> str | None:
    """The attribute word ``word`` is a plausible misspelling of, or None.

    Plausible: ``word`` is no English word (``is_english``), has 4+ letters, starts with the
    same letter as the attribute word and is one edit away from it: for words of 6-7 letters any
    edit (one edit for longer ones too), for shorter ones only a dropped, doubled or swapped letter (the slips typists make: one
    changed letter turns many short words into others), for 8+ letters up to two such slips;
    and no attribute word of another meaning is as close.
    """
    if len(word) < 4 or not word.replace("-", "").isalpha() or is_english(word):
        return None
    allowed = 1 if len(word) < 8 else 2
    best: list[tuple[int, str]] = []
    for target in targets:
        if target[0] != word[0] or abs(len(target) - len(word)) > allowed:
            continue
        distance = edit_distance(word, target)
        close = (len(word) > 5 and distance == 1) or _slip(word, target) or (distance == 2 and _two_slips(word, target))
        if distance <= allowed and close:
            best.append((distance, target))
    if not best:
        return None
    best.sort()
    nearest = [t for d, t in best if d == best[0][0]]
    if len({meaning(t) for t in nearest}) > 1:  # torn between two meanings: not plausible
        return None
    return nearest[0]
