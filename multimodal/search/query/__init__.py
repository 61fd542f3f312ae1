"""Query understanding: the constraints, intents and price limits a shopper's words state.

``parse_query`` reads the hand-written vocabulary (``vocabulary``), corrects plausible typos,
and, given a matcher (``semantic.AttributeMatcher``), maps words no list holds to attribute
values by sentence-model similarity.
"""

from __future__ import annotations

from multimodal.search.query.parsed import MAX_QUERY_CHARS, Constraint, ParsedQuery, clean_query
from multimodal.search.query.parser import correct_typo, parse_query
from multimodal.search.query.typos import english_words
from multimodal.search.query.vocabulary import FIELDS, PRICE_ASCENDING, PRICE_DESCENDING

__all__ = [
    "FIELDS", "MAX_QUERY_CHARS", "PRICE_ASCENDING", "PRICE_DESCENDING", "Constraint", "ParsedQuery", "clean_query",
    "correct_typo", "english_words", "parse_query",
]
