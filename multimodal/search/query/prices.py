"""Price phrases: limits ("under $50", "over 100 dollars"), ranges ("between 20 and 80", "from 30
to 60", "$40-$90", "30 to 60 euros") and rough budgets ("about $80", "coat 100 dollars": within ``AROUND_PRICE``
either way); amounts in words too ("under fifty", "between twenty and a hundred").

The catalog has one currency: "£60", "60 euros" or "40 quid" are read as that number, and the chip
shows "$". A number with no price word and no currency states nothing ("jeans 32" may be a waist).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from multimodal.search.query.vocabulary import CURRENCY

if TYPE_CHECKING:  # the type only: parsed.py reads no prices
    from multimodal.search.query.parsed import ParsedQuery

_AMOUNT_CURRENCY = CURRENCY.replace("pounds?", "pounds")  # after a bare number "2 pound bag" is a weight
_PRICE = r"[$£€]?\s*(\d+(?:[.,]\d{1,2})?)\s*" + CURRENCY + "?"
_AGE = r"(?!\d)(?!s\b|\+|\s*(?:years?|yrs?|yo)\b)"  # "over 50s", "under 5 years": ages, not prices
_MAX_PRICE = re.compile(r"\b(?:under|below|less than|cheaper than|max(?:imum)?|up to|at most|no more than|within|<=?)\s*" + _PRICE + _AGE)
# "about $80", "around 30 quid", or an amount with its currency and no other price word ("coat 100
# dollars"): within AROUND_PRICE of it either way (a shopper's rough budget, not an exact price).
_NOT_MONEY = r"(?![\d.,%])(?!\s*(?:years?|yrs?|%|percent|cm|mm|inch|inches|kg|lbs?|pieces?|pairs?|items?|of)\b)"
_AROUND_PRICE = re.compile(r"\b(?:around|about|approximately|approx|roughly|circa|close to)\s*" + _PRICE + _NOT_MONEY
                           + r"|~\s*" + _PRICE + _NOT_MONEY
                           + r"|[$£€]\s*(\d+(?:[.,]\d{1,2})?)|(\d+(?:[.,]\d{1,2})?)\s*" + _AMOUNT_CURRENCY)
AROUND_PRICE = 0.2
_MIN_PRICE = re.compile(r"(?:\b(?:over|above|more than|at least|min(?:imum)?|from|>=?)|>)\s*" + _PRICE + _AGE)
# "women over 50", "for men under 30": after a word for people, a limit is an age
_PEOPLE = re.compile(r"\b(?:women|woman|men|man|ladies|lady|people|adults?|mums?|moms?|dads?|those|anyone|someone|guys|girls|boys)\s*$")
_RANGE = re.compile(r"\b(?:between|from)\s*" + _PRICE + r"\s*(?:and|-|to)\s*" + _PRICE + r"|" + r"[$£€]\s*(\d+)\s*(?:-|to)\s*[$£€]?\s*(\d+)"
                    + r"|\b(\d+)\s*(?:-|to)\s*(\d+)\s*" + _AMOUNT_CURRENCY)  # "30 to 60 dollars"; a bare "20-40" may be sizes

# Amounts in words ("under fifty", "between twenty and a hundred"), read where a price word or a
# currency is next to them: "one size" or "two tops" stay words.
_UNITS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                                      "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_UNIT = "|".join(w for w in _UNITS if w != "zero")
_BELOW_100 = rf"(?:(?:{'|'.join(_TENS)})(?:[\s-](?:{'|'.join(list(_UNITS)[1:10])}))?|{_UNIT})"
_WORDS_AMOUNT = rf"(?:(?:a|one|{'|'.join(list(_UNITS)[2:10])})\s+hundred(?:\s+(?:and\s+)?{_BELOW_100})?|{_BELOW_100})"
_PRICE_CUE = (r"under|below|less than|cheaper than|max(?:imum)?|up to|at most|no more than|within|over|above|more than|"
              r"at least|min(?:imum)?|from|between|around|about|approximately|roughly|close to")
_AMOUNT_IN_WORDS = re.compile(rf"\b(?P<cue>(?:{_PRICE_CUE})\s+|\d+\s*(?:and|to|-)\s*)(?P<amount>{_WORDS_AMOUNT})\b"
                              rf"|\b(?P<said>{_WORDS_AMOUNT})(?=\s*(?:dollars?|bucks|euros?|pounds|quid)\b)")


def _in_digits(match: re.Match[str]) -> str:
    """The match with its amount in digits ("under fifty" -> "under 50")."""
    amount = match.group("amount") or match.group("said")
    total = 0
    for word in amount.replace("-", " ").split():
        if word == "hundred":
            total = (total or 1) * 100
        elif word != "and":
            total += _UNITS.get(word, 0) + _TENS.get(word, 0) + (1 if word == "a" else 0)
    return (match.group("cue") or "") + str(total)


def read_prices(lower: str, parsed: ParsedQuery) -> str:
    """Price phrases into ``parsed`` (``min_price``, ``max_price``, ``matched``); returns the text
    with them blanked out."""
    for _ in range(2):  # twice: "between fifty and a hundred" reads the second amount after the first
        lower = _AMOUNT_IN_WORDS.sub(_in_digits, lower)
    if match := _RANGE.search(lower):
        numbers = [g for g in match.groups() if g is not None]
        if match.group(0).startswith("from") and _number(numbers[0]) > _number(numbers[1]):
            return lower  # "from nine to five": hours, not prices
        low, high = sorted((_number(numbers[0]), _number(numbers[1])))
        parsed.min_price, parsed.max_price = low, high
        parsed.matched["price"] = match.group(0).strip()
        return lower.replace(match.group(0), " ")
    for pattern, key in ((_MAX_PRICE, "max_price"), (_MIN_PRICE, "min_price")):
        if (match := pattern.search(lower)) and not (_PEOPLE.search(lower[: match.start()]) and not re.search(CURRENCY, match.group(0))):
            setattr(parsed, key, _number(match.group(1)))
            parsed.matched[key] = match.group(0).strip()
            lower = lower.replace(match.group(0), " ")
    if parsed.min_price is None and parsed.max_price is None and (match := _AROUND_PRICE.search(lower)):
        amount = _number(next(g for g in match.groups() if g is not None))
        parsed.min_price = round(amount * (1 - AROUND_PRICE), 2)
        parsed.max_price = round(amount * (1 + AROUND_PRICE), 2)
        parsed.matched["price"] = match.group(0).strip()
        lower = lower.replace(match.group(0), " ")
    return lower


def _number(text: str) -> float:
    return float(text.replace(",", "."))
