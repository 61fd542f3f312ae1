"""Texts for the text side: training variants per product, and evaluation queries worded differently.

The evaluation queries use category, gender and colour words that no training text
contains, other word orders and typos, so the text figures measure generalisation to how
shoppers type, not recall of the catalog's own phrases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from multimodal.catalog.synthetic import CATEGORY_SYNONYMS

_GENDER_PLURAL = {"Men": "men", "Women": "women", "Unisex": "everyone"}
_GENDER_ADJ = {"Men": "men's", "Women": "women's", "Unisex": "unisex"}

# Query-only vocabulary; a test checks that none of it appears in any training text.
EVAL_CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "T-shirt/top": ("tees", "tank", "camisole"),
    "Trouser": ("leggings", "pant", "joggers"),
    "Pullover": ("hoodie", "cardigan", "knitwear"),
    "Dress": ("frock", "dresses"),
    "Coat": ("anorak", "raincoat", "parkas"),
    "Sandal": ("flip-flops", "espadrilles"),
    "Shirt": ("blouses", "button-downs"),
    "Sneaker": ("kicks", "runners", "plimsolls"),
    "Bag": ("satchel", "backpack", "clutch"),
    "Ankle boot": ("booties", "bootie"),
}
EVAL_GENDER_WORDS: dict[str, tuple[str, ...]] = {
    "Men": ("for him", "for guys", "gents", "for a man", "male"),
    "Women": ("for her", "ladies", "for a woman", "female", "for girls"),
    "Unisex": ("unisex",),
}
EVAL_COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "grey": ("gray", "charcoal"), "burgundy": ("maroon", "wine"), "beige": ("tan", "camel"),
    "cream": ("ivory", "off-white"), "red": ("scarlet", "crimson"), "pink": ("blush", "rose"),
    "yellow": ("mustard",), "olive": ("khaki",), "brown": ("chocolate", "cognac"),
    "navy": ("navy-blue",),
}
_EVAL_TEMPLATES = (
    "{colour} {category} {gender}",
    "{category} in {colour} {gender}",
    "{gender} {category}, {colour}",
    "looking for {colour} {category} {gender}",
    "{colour} {category}",
    "{category} {gender}",
    "need a {colour} {category} {gender} please",
)


def training_texts(row: pd.Series | dict, rng: np.random.Generator | None = None) -> list[str]:
    """Five texts per product: the catalog's title, description and keywords, and two short
    shopper-style phrases built from its attributes; given ``rng``, five more varied phrases that
    each name one or two attributes with a category word ("sporty trainers for gym", "wool coat"),
    so the mapper learns what single attributes and bare category words mean. The words come from
    the catalog's own vocabulary, never from the evaluation's held-out words."""
    noun = str(row["title"]).split(" ", 4)[-1].lower() if isinstance(row["title"], str) else row["category"].lower()
    synonym = CATEGORY_SYNONYMS[row["category"]][0]
    gender = row["gender"]
    return [
        str(row["title"]),
        str(row["description"]),
        str(row["keywords"]),
        f"{row['colour']} {noun} for {_GENDER_PLURAL[gender]}",
        f"{_GENDER_ADJ[gender]} {row['material']} {synonym} {row['style']}",
    ] + (_attribute_phrases(row, rng) if rng is not None else [])


def _attribute_phrases(row: pd.Series | dict, rng: np.random.Generator) -> list[str]:
    held_out = {w for ws in EVAL_CATEGORY_WORDS.values() for w in ws}
    words = [w for w in CATEGORY_SYNONYMS[row["category"]] if not set(w.split()) & held_out]
    noun = str(words[int(rng.integers(len(words)))])
    season = "all year" if row["season"] == "All-season" else str(row["season"]).lower()
    return [
        noun,
        f"{row['style']} {noun} for {row['occasion']}",
        f"{row['material']} {noun}",
        f"{row['colour']} {noun} for {season}",
        f"{noun} by {row['brand']} for {_GENDER_PLURAL[row['gender']]}",
    ]


@dataclass(frozen=True)
class EvalQuery:
    """A shopper query generated from a held-out product, with the constraints it states."""

    text: str
    source_product: str
    category: str
    gender: str | None
    colour: str | None


def _typo(word: str, rng: np.random.Generator) -> str:
    if len(word) < 5 or not word.isalpha():
        return word
    i = int(rng.integers(1, len(word) - 2))
    kind = rng.integers(0, 3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # swap neighbours
    if kind == 1:
        return word[:i] + word[i + 1 :]  # drop one letter
    return word[:i] + word[i] + word[i:]  # double one letter


def eval_queries(rows: pd.DataFrame, seed: int = 0, typo_rate: float = 0.25) -> list[EvalQuery]:
    """One query per held-out product, worded with the query-only vocabulary above."""
    rng = np.random.default_rng(seed + 11)
    out = []
    for row in rows.itertuples():
        template = str(rng.choice(_EVAL_TEMPLATES))
        category_word = str(rng.choice(EVAL_CATEGORY_WORDS[row.category]))
        states_gender = "{gender}" in template and row.gender != "Unisex" or (
            row.gender == "Unisex" and "{gender}" in template and rng.random() < 0.5)
        states_colour = "{colour}" in template
        gender_words = str(rng.choice(EVAL_GENDER_WORDS[row.gender])) if states_gender else ""
        colour_word = str(rng.choice(EVAL_COLOUR_WORDS.get(row.colour, (row.colour,)))) if states_colour else ""
        words = template.format(colour=colour_word, category=category_word, gender=gender_words).split()
        if rng.random() < typo_rate:
            j = int(rng.integers(0, len(words)))
            words[j] = _typo(words[j], rng)
        text = " ".join(words).replace(" ,", ",").strip(" ,")
        out.append(EvalQuery(text, row.product_id, row.category, row.gender if states_gender else None,
                             row.colour if states_colour else None))
    return out


TEXT_VECTORS_FILE = "item_text_vectors.npy"


def item_text(row: pd.Series | dict) -> str:
    """What the sentence model reads of a product."""
    return f"{row['title']}. {row['description']}"
