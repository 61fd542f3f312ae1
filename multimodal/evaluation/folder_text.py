"""Text search on a catalog brought as a folder and a sheet, measured with shopper queries made
from its held-out products' own values (category, colour, gender, usage, season and combinations),
a third of them in other wording (a colour's first word, the other number of a noun, "for him").
Score: the share of the first 10 results meeting every stated value, over min(10, items meeting them)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from multimodal.catalog.prepared import PreparedData
from multimodal.search.engine import SearchEngine
from multimodal.search.filters import gender_mask

_GENDER_WORDS = {"Men": ("for men", "mens", "for him"), "Women": ("for women", "womens", "for her"),
                 "Boys": ("for boys",), "Girls": ("for girls",), "Unisex": ("unisex",)}
_UNSEEN_GENDER = {"Men": "for him", "Women": "for her"}
GROUPS = ("category", "colour", "gender", "usage", "season", "combination")


def _other_number(word: str) -> str:
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word + "s"


def _queries(products: pd.DataFrame, engine: SearchEngine, seed: int, per_group: int) -> list[dict[str, Any]]:
    roles = engine.roles
    column = roles.category_column
    extra = {"usage": next((c for c in roles.attributes if c.lower() == "usage"), None),
             "season": next((c for c in roles.attributes if c.lower() == "season"), None)}
    rng = np.random.default_rng(seed + 5)
    out = []
    for group in GROUPS:
        picks = rng.permutation(len(products))
        made = 0
        for i in picks:
            if made >= per_group:
                break
            row = products.iloc[int(i)]
            unseen = made % 3 == 2
            category = str(row[column]).lower()
            category = _other_number(category) if unseen else category
            stated: dict[str, str] = {column: str(row[column])}
            words = [category]
            if group in ("colour", "combination") and roles.colour and str(row[roles.colour]):
                colour = str(row[roles.colour])
                stated[roles.colour] = colour
                words.insert(0, colour.lower().split()[0] if unseen and " " in colour else colour.lower())
            if group in ("usage", "season", "combination"):
                name = extra["usage"] if group != "season" else extra["season"]
                if name and str(row[name]):
                    stated[name] = str(row[name])
                    words.insert(0, str(row[name]).lower()) if group != "season" else words.append(f"for {str(row[name]).lower()}")
                elif group != "combination":
                    continue
            gender = None
            if group in ("gender", "combination") and roles.gender and str(row[roles.gender]) in _GENDER_WORDS:
                gender = str(row[roles.gender])
                words.append(_UNSEEN_GENDER.get(gender, _GENDER_WORDS[gender][0]) if unseen else _GENDER_WORDS[gender][0])
            if len(stated) == 1 and group != "category" and gender is None:
                continue
            out.append({"text": " ".join(words), "group": group, "unseen": unseen, "stated": stated, "gender": gender})
            made += 1
    return out


def _meets(engine: SearchEngine, query: dict[str, Any]) -> np.ndarray:
    ok = np.ones(len(engine.catalog), bool)
    for name, value in query["stated"].items():
        ok &= engine.catalog[name].astype(str).to_numpy() == value
    if query["gender"]:
        ok &= gender_mask(engine._genders, query["gender"].lower(), engine.gender_filters)
    return ok


def _score(rows: np.ndarray, meets: np.ndarray, k: int) -> float:
    rows = rows[rows >= 0][:k]
    best = min(k, int(meets.sum()))
    return float(meets[rows].sum() / best) if best else float("nan")


def shopper_queries(engine: SearchEngine, prepared: PreparedData, seed: int, per_group: int = 60) -> list[str]:
    """The texts of the generated shopper queries (held-out products' values), for timing them."""
    products = prepared.catalog[prepared.catalog["split"] == "query"].reset_index(drop=True)
    return [q["text"] for q in _queries(products, engine, seed, per_group)]


def evaluate_folder_text(engine: SearchEngine, prepared: PreparedData, seed: int, k: int = 10,
                         per_group: int = 60) -> dict[str, Any]:
    """The shopper-query figures of a folder catalog: fused (what the engine serves) and each signal alone."""
    if engine.mapper is None:
        return {"skipped": "no text artifacts"}
    products = prepared.catalog[prepared.catalog["split"] == "query"].reset_index(drop=True)
    queries = _queries(products, engine, seed, per_group)
    scores: dict[str, list[float]] = defaultdict(list)
    everything = np.ones(len(engine.catalog), bool)
    for query in queries:
        meets = _meets(engine, query)
        ranking, _ = engine.rank_text(query["text"], k=k)
        scores["fused"].append(_score(ranking.rows, meets, k))
        signals = engine.text_signals(query["text"], everything)
        for name, key in (("bm25_only", "bm25_score"), ("sentence_only", "text_score"), ("mapped_vector_only", "image_score")):
            values = np.nan_to_num(np.asarray(signals[key], np.float64), nan=-np.inf)
            scores[name].append(_score(np.argsort(-values, kind="stable")[:k], meets, k))
    out: dict[str, Any] = {"queries": len(queries), "k": k, "examples": [q["text"] for q in queries[::max(1, len(queries) // 12)]]}
    groups = np.array([q["group"] for q in queries])
    unseen = np.array([q["unseen"] for q in queries])
    for name, values in scores.items():
        v = np.asarray(values, np.float64)
        out[name] = {"overall": float(np.nanmean(v)) if len(v) else float("nan"),
                     "unseen_words": float(np.nanmean(v[unseen])) if unseen.any() else float("nan"),
                     "per_group": {g: float(np.nanmean(v[groups == g])) for g in GROUPS if (groups == g).any()}}
    return out
