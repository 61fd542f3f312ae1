"""Sizes: what a shopper asks for ("size M", "XL", "EU 42", "size 9", "waist 32", "one size") and
the sizes each item comes in (the catalog's ``sizes``: "XS, S, M, L, XL", "EU 36-41", "28, 30, 32").

Both sides become tokens of one vocabulary, so a size filter is a set intersection: letters ("M"),
EU shoe sizes ("EU42"), waist sizes ("W32") and "ONE". A shopper's number is read every way it can
mean: 20-50 is an EU shoe size or a waist; under 20 a US shoe size (EU = US + 31 for women's,
+ 33 for men's, the usual charts) or a US dress size (8 is M). An item of any kind matches only the
readings of its own kind, so "size 9 sneakers" and "size 8 dress" each find their meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from multimodal.search.query.vocabulary import CURRENCY

_LETTERS = {
    "xxs": "XXS", "xs": "XS", "s": "S", "m": "M", "l": "L", "xl": "XL", "xxl": "XXL", "2xl": "XXL", "xxxl": "XXXL",
    "3xl": "XXXL", "x-small": "XS", "extra small": "XS", "extra-small": "XS", "small": "S", "medium": "M", "large": "L",
    "x-large": "XL", "extra large": "XL", "extra-large": "XL", "xx-large": "XXL",
}
_US_DRESS = {0: "XS", 2: "XS", 4: "S", 6: "S", 8: "M", 10: "M", 12: "L", 14: "L", 16: "XL", 18: "XL", 20: "XXL"}
_WORD = r"(?:xxs|xs|xxxl|xxl|xl|2xl|3xl|x-small|x-large|xx-large|extra[ -]small|extra[ -]large|small|medium|large|s|m|l)"
_NUMBER = r"\d{1,2}(?:[.,]5)?"
_NOT_MONEY = r"(?![\w$£€])(?!\s*" + CURRENCY + ")"  # "for us 20 dollars" or "size 10 quid" is a price
_PATTERNS = (
    re.compile(rf"\b(?:in\s+)?(?:a\s+)?(?:sizes?|sz)(?![a-z])\s*[:#]?\s*(?:(?P<sys>eu|us|uk)\s*)?(?P<v>{_WORD}|{_NUMBER}){_NOT_MONEY}"
               rf"(?:\s*(?P<sys_after>eu|us|uk)\b)?"),  # "size 12 uk"
    re.compile(rf"\b(?P<sys>eu|us|uk)\s*(?:size\s*)?(?P<v>{_NUMBER}){_NOT_MONEY}"),
    re.compile(r"\b(?:waist\s*(?P<w>\d{2})|(?P<w2>\d{2})\s*(?:inch\s+|in\s+|\"\s*)?waist)\b"),
    re.compile(r"\b(?P<v>xxs|xs|xl|xxl|xxxl|2xl|3xl)\b"),  # letters no other word spells
    re.compile(r"\b(?P<one>one[ -]size)\b"),
    re.compile(r"\b(?P<plus>plus[ -]sizes?|plus(?=\s+(?:dress|top|shirt|coat|jean|trouser|pant|clothe))|big (?:and|&) tall)\b"),
)
# Plus sizes (and menswear's "big and tall") begin beyond the standard range's XL.
_PLUS = frozenset({"XXL", "XXXL"})


@dataclass(frozen=True)
class SizeAsk:
    """A size the query asks for: the tokens that meet it and the label its chip shows."""

    tokens: frozenset[str]
    label: str
    words: str


def item_sizes(sizes: str) -> frozenset[str]:
    """The size tokens of a catalog ``sizes`` string ("EU 36-41" -> EU36 ... EU41)."""
    text = str(sizes).strip()
    if text.lower() == "one size":
        return frozenset({"ONE"})
    if match := re.fullmatch(r"EU (\d+)\s*-\s*(\d+)", text):
        return frozenset(f"EU{n}" for n in range(int(match[1]), int(match[2]) + 1))
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return frozenset(f"W{p}" if p.isdigit() else p.upper() for p in parts)


def read_size(lower: str) -> tuple[SizeAsk | None, str]:
    """The first size phrase of a lower-case query and the query with it blanked out."""
    for pattern in _PATTERNS:
        if match := pattern.search(lower):
            ask = _ask(match)
            if ask is not None:
                return ask, lower[: match.start()] + " " + lower[match.end() :]
    return None, lower


def _ask(match: re.Match[str]) -> SizeAsk | None:
    groups = match.groupdict()
    words = match.group(0).strip()
    if groups.get("one"):
        return SizeAsk(frozenset({"ONE"}), "one size", words)
    if groups.get("plus"):
        return SizeAsk(_PLUS, "plus (XXL and up)", words)
    if waist := groups.get("w") or groups.get("w2"):
        return SizeAsk(frozenset({f"W{int(waist)}"}), f"waist {int(waist)}", words)
    value = groups["v"].replace(",", ".")
    system = groups.get("sys") or groups.get("sys_after")
    if value in _LETTERS:
        return SizeAsk(frozenset({_LETTERS[value]}), _LETTERS[value], words)
    number = float(value)
    whole = int(number)
    if system == "eu" or (system is None and 20 <= number <= 50):
        tokens = {f"EU{whole}"} | ({f"W{whole}"} if system is None and number == whole else set())
        return SizeAsk(frozenset(tokens), f"EU {value}" if system == "eu" else value, words)
    if number >= 20:
        return None
    # A US (or UK, one size smaller) shoe size, or a US dress size (UK dress sizes are 4 more: UK 12 = US 8).
    us = number + (1 if system == "uk" else 0)
    tokens = {f"EU{round(us + 31)}", f"EU{round(us + 33)}"}
    dress = whole - 4 if system == "uk" else whole
    if number == whole and dress in _US_DRESS:
        tokens.add(_US_DRESS[dress])
    return SizeAsk(frozenset(tokens), f"{system.upper()} {value}" if system else f"{value} (US)", words)
