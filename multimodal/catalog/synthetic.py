"""Synthetic, category-consistent e-commerce metadata for each Fashion-MNIST image.

Every attribute is drawn from lists that belong to the item's category, and seasons
and occasions are narrowed by the material and style drawn before them, so that a
catalog never offers winter sandals, men's dresses or formal gym sneakers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from multimodal.config import CATEGORIES
from multimodal.errors import InvalidInputError

COLOURS: tuple[str, ...] = (
    "black", "white", "grey", "navy", "blue", "red", "green", "beige",
    "brown", "pink", "burgundy", "olive", "cream", "yellow",
)
SEASONS: tuple[str, ...] = ("Spring", "Summer", "Autumn", "Winter", "All-season")
COLUMNS: tuple[str, ...] = (
    "product_id", "image_index", "split", "label", "category", "gender", "colour", "material",
    "style", "occasion", "season", "brand", "price", "sizes", "title", "description", "keywords",
)

_WARM = ("Autumn", "Winter")
_LIGHT = ("Spring", "Summer")
# Materials that only make sense in some seasons; others fit the category's seasons.
MATERIAL_SEASONS: dict[str, tuple[str, ...]] = {
    "linen": _LIGHT, "linen blend": _LIGHT, "chiffon": _LIGHT, "straw": _LIGHT, "cork": _LIGHT,
    "seersucker": _LIGHT, "mesh": ("Spring", "Summer", "All-season"),
    "wool": _WARM, "merino wool": _WARM, "cashmere": _WARM, "fleece": _WARM, "down": _WARM,
    "tweed": _WARM, "flannel": _WARM, "corduroy": _WARM, "shearling": _WARM, "wool blend": _WARM,
    "chunky knit": _WARM, "velvet": _WARM,
}
# Occasions each style is worn to; an item's occasion is in both its style's and its category's list.
STYLE_OCCASIONS: dict[str, tuple[str, ...]] = {
    "casual": ("everyday", "weekend", "travel"),
    "sporty": ("gym", "running", "weekend", "everyday"),
    "streetwear": ("everyday", "weekend", "night out"),
    "minimalist": ("everyday", "office", "travel"),
    "formal": ("office", "wedding", "evening event"),
    "business": ("office", "meeting", "travel"),
    "smart casual": ("office", "dinner", "weekend"),
    "elegant": ("evening event", "wedding", "dinner"),
    "party": ("party", "night out", "evening event"),
    "bohemian": ("festival", "vacation", "weekend"),
    "beach": ("beach", "vacation", "pool"),
    "outdoor": ("hiking", "travel", "everyday"),
    "classic": ("everyday", "office", "dinner"),
    "retro": ("everyday", "weekend", "night out"),
    "rugged": ("everyday", "hiking", "weekend"),
    "lounge": ("home", "weekend", "travel"),
}


@dataclass(frozen=True)
class CategorySpec:
    """What an item of one category may be: each tuple is a list to draw from."""

    genders: dict[str, float]
    materials: tuple[str, ...]
    styles: tuple[str, ...]
    occasions: tuple[str, ...]
    seasons: tuple[str, ...]
    colours: tuple[str, ...]
    price: tuple[float, float]
    nouns: tuple[str, ...]
    brands: tuple[str, ...]
    sizing: str


_APPAREL_BRANDS = ("Northline", "Urban Thread", "Maison Lune", "Harbor & Pine", "Kestrel", "Atelier Nord", "Blue Fjord", "Common Field")
_SPORT_BRANDS = ("Stridewell", "Kestrel", "Velocity Lab", "Common Field", "Apex Motion")
_SHOE_BRANDS = ("Stridewell", "Cobble & Co", "Maison Lune", "Terra Step", "Velocity Lab", "Northline")
_BAG_BRANDS = ("Carryall", "Maison Lune", "Harbor & Pine", "Atelier Nord", "Wayfarer Goods")
_ALL_COLOURS = COLOURS

SPECS: dict[str, CategorySpec] = {
    "T-shirt/top": CategorySpec(
        genders={"Men": 0.4, "Women": 0.4, "Unisex": 0.2},
        materials=("cotton", "organic cotton", "jersey", "linen blend", "bamboo", "mesh"),
        styles=("casual", "sporty", "streetwear", "minimalist", "lounge"),
        occasions=("everyday", "weekend", "gym", "running", "travel", "night out", "home", "office"),
        seasons=("Spring", "Summer", "All-season"),
        colours=_ALL_COLOURS,
        price=(12.0, 45.0),
        nouns=("t-shirt", "tee", "top"),
        brands=_APPAREL_BRANDS + _SPORT_BRANDS,
        sizing="apparel",
    ),
    "Trouser": CategorySpec(
        genders={"Men": 0.45, "Women": 0.45, "Unisex": 0.1},
        materials=("denim", "cotton twill", "wool blend", "linen", "corduroy", "stretch cotton"),
        styles=("casual", "formal", "business", "streetwear", "smart casual", "classic"),
        occasions=("everyday", "weekend", "office", "meeting", "travel", "dinner", "wedding", "night out"),
        seasons=("Spring", "Summer", "Autumn", "Winter", "All-season"),
        colours=("black", "grey", "navy", "blue", "beige", "brown", "olive", "cream", "white", "burgundy"),
        price=(30.0, 120.0),
        nouns=("trousers", "pants", "slacks"),
        brands=_APPAREL_BRANDS,
        sizing="waist",
    ),
    "Pullover": CategorySpec(
        genders={"Men": 0.4, "Women": 0.4, "Unisex": 0.2},
        materials=("wool", "merino wool", "cashmere", "cotton knit", "fleece", "chunky knit"),
        styles=("casual", "classic", "minimalist", "smart casual", "lounge"),
        occasions=("everyday", "weekend", "office", "travel", "home", "dinner"),
        seasons=("Autumn", "Winter"),
        colours=_ALL_COLOURS,
        price=(35.0, 150.0),
        nouns=("pullover", "sweater", "knit sweater"),
        brands=_APPAREL_BRANDS,
        sizing="apparel",
    ),
    "Dress": CategorySpec(
        genders={"Women": 1.0},
        materials=("cotton", "silk", "chiffon", "linen", "satin", "jersey", "viscose", "velvet"),
        styles=("casual", "elegant", "bohemian", "formal", "party", "minimalist"),
        occasions=("everyday", "weekend", "wedding", "evening event", "party", "dinner", "festival", "vacation", "office", "night out"),
        seasons=("Spring", "Summer", "Autumn", "All-season"),
        colours=_ALL_COLOURS,
        price=(35.0, 220.0),
        nouns=("dress", "midi dress", "maxi dress"),
        brands=_APPAREL_BRANDS,
        sizing="apparel",
    ),
    "Coat": CategorySpec(
        genders={"Men": 0.45, "Women": 0.45, "Unisex": 0.1},
        materials=("wool", "down", "leather", "waterproof nylon", "tweed", "shearling", "wool blend"),
        styles=("classic", "formal", "casual", "outdoor", "business"),
        occasions=("everyday", "office", "travel", "hiking", "evening event", "meeting", "dinner"),
        seasons=("Autumn", "Winter"),
        colours=("black", "grey", "navy", "beige", "brown", "olive", "cream", "burgundy", "red", "green"),
        price=(80.0, 400.0),
        nouns=("coat", "overcoat", "jacket"),
        brands=_APPAREL_BRANDS,
        sizing="apparel",
    ),
    "Sandal": CategorySpec(
        genders={"Men": 0.3, "Women": 0.5, "Unisex": 0.2},
        materials=("leather", "suede", "rubber", "cork", "synthetic", "straw"),
        styles=("casual", "beach", "bohemian", "minimalist", "elegant"),
        occasions=("everyday", "beach", "vacation", "pool", "weekend", "festival", "dinner", "wedding"),
        seasons=("Spring", "Summer"),
        colours=("black", "white", "brown", "beige", "navy", "red", "pink", "cream", "yellow", "green"),
        price=(20.0, 120.0),
        nouns=("sandals", "slides", "strappy sandals"),
        brands=_SHOE_BRANDS,
        sizing="shoe",
    ),
    "Shirt": CategorySpec(
        genders={"Men": 0.55, "Women": 0.35, "Unisex": 0.1},
        materials=("cotton", "linen", "oxford cotton", "flannel", "chambray", "silk", "seersucker"),
        styles=("formal", "business", "casual", "smart casual", "classic"),
        occasions=("office", "meeting", "wedding", "dinner", "weekend", "everyday", "evening event", "travel"),
        seasons=("Spring", "Summer", "Autumn", "Winter", "All-season"),
        colours=("white", "blue", "navy", "black", "grey", "pink", "green", "beige", "burgundy", "cream", "olive"),
        price=(25.0, 110.0),
        nouns=("shirt", "button-up shirt", "collared shirt"),
        brands=_APPAREL_BRANDS,
        sizing="apparel",
    ),
    "Sneaker": CategorySpec(
        genders={"Men": 0.3, "Women": 0.3, "Unisex": 0.4},
        materials=("canvas", "leather", "mesh", "suede", "knit"),
        styles=("sporty", "casual", "streetwear", "retro", "minimalist"),
        occasions=("everyday", "gym", "running", "weekend", "travel", "night out"),
        seasons=("Spring", "Summer", "Autumn", "All-season"),
        colours=_ALL_COLOURS,
        price=(45.0, 180.0),
        nouns=("sneakers", "trainers", "running shoes"),
        brands=_SHOE_BRANDS + _SPORT_BRANDS,
        sizing="shoe",
    ),
    "Bag": CategorySpec(
        genders={"Men": 0.1, "Women": 0.45, "Unisex": 0.45},
        materials=("leather", "canvas", "nylon", "faux leather", "suede", "straw"),
        styles=("casual", "elegant", "business", "minimalist", "classic"),
        occasions=("everyday", "office", "travel", "evening event", "weekend", "dinner", "meeting"),
        seasons=("All-season", "Spring", "Summer"),
        colours=_ALL_COLOURS,
        price=(30.0, 350.0),
        nouns=("bag", "handbag", "tote bag", "shoulder bag"),
        brands=_BAG_BRANDS,
        sizing="one",
    ),
    "Ankle boot": CategorySpec(
        genders={"Men": 0.3, "Women": 0.55, "Unisex": 0.15},
        materials=("leather", "suede", "faux leather", "waterproof leather", "shearling"),
        styles=("casual", "elegant", "rugged", "classic", "minimalist"),
        occasions=("everyday", "office", "weekend", "hiking", "dinner", "evening event", "night out"),
        seasons=("Autumn", "Winter", "All-season"),
        colours=("black", "brown", "grey", "beige", "navy", "burgundy", "olive", "cream", "white"),
        price=(60.0, 260.0),
        nouns=("ankle boots", "boots", "chelsea boots"),
        brands=_SHOE_BRANDS,
        sizing="shoe",
    ),
}

# Words shoppers use for each category; the catalog's texts use them, and the query parser reads them.
CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "T-shirt/top": ("t-shirt", "tshirt", "tee", "top", "tank top"),
    "Trouser": ("trousers", "trouser", "pants", "jeans", "slacks", "chinos"),
    "Pullover": ("pullover", "jumper", "sweater", "knit", "sweatshirt"),
    "Dress": ("dress", "gown", "sundress"),
    "Coat": ("coat", "jacket", "overcoat", "parka", "trench"),
    "Sandal": ("sandal", "sandals", "slides", "flip-flops"),
    "Shirt": ("shirt", "blouse", "button-down", "button-up"),
    "Sneaker": ("sneaker", "sneakers", "trainers", "running shoes", "kicks"),
    "Bag": ("bag", "handbag", "purse", "tote", "backpack", "clutch"),
    "Ankle boot": ("ankle boot", "ankle boots", "boots", "booties", "chelsea boots"),
}

_SIZES = {
    ("apparel", "Men"): "S, M, L, XL, XXL",
    ("apparel", "Women"): "XS, S, M, L, XL",
    ("apparel", "Unisex"): "XS, S, M, L, XL, XXL",
    ("waist", "Men"): "28, 30, 32, 34, 36, 38",
    ("waist", "Women"): "24, 26, 28, 30, 32",
    ("waist", "Unisex"): "26, 28, 30, 32, 34, 36",
    ("shoe", "Men"): "EU 40-46",
    ("shoe", "Women"): "EU 36-41",
    ("shoe", "Unisex"): "EU 36-46",
}
_PREMIUM = {"cashmere": 1.5, "silk": 1.4, "leather": 1.3, "shearling": 1.5, "down": 1.3, "merino wool": 1.2, "suede": 1.2,
            "waterproof leather": 1.3}
_BUDGET = {"synthetic": 0.7, "rubber": 0.7, "faux leather": 0.8, "jersey": 0.9, "nylon": 0.9}

_DESCRIPTION_TEMPLATES = (
    "A {style} {noun} in {colour} {material}, made for {occasion}. {fit_sentence}",
    "This {colour} {noun} from {brand} is cut from {material} for a {style} look. Ideal for {occasion} in {season_phrase}.",
    "{brand}'s {style} {noun}: {material}, {colour}, and ready for {occasion}. {fit_sentence}",
    "Easy to pair and built to last, this {material} {noun} in {colour} suits {occasion} and {style} outfits in {season_phrase}.",
    "Our {colour} {material} {noun} brings a {style} touch to {occasion}. {fit_sentence}",
)
_FIT_SENTENCES = {
    "apparel": ("Available in sizes {sizes}.", "True to size; sizes {sizes}.", "A comfortable fit in sizes {sizes}."),
    "waist": ("Waist sizes {sizes}.", "A tailored fit, waist {sizes}.", "Comfortable all day; waist sizes {sizes}."),
    "shoe": ("Cushioned footbed; sizes {sizes}.", "Sizes {sizes}.", "Comfortable from the first wear; {sizes}."),
    "one": ("One size, with room for the essentials.", "Roomy inside, with a zip pocket.", "One size; adjustable strap."),
}
_GENDER_WORDS = {"Men": "men's", "Women": "women's", "Unisex": "unisex"}


def _season_choices(spec: CategorySpec, material: str) -> tuple[str, ...]:
    allowed = MATERIAL_SEASONS.get(material)
    if allowed is None:
        return spec.seasons
    both = tuple(s for s in spec.seasons if s in allowed)
    return both or spec.seasons


def _occasion_choices(spec: CategorySpec, style: str) -> tuple[str, ...]:
    both = tuple(o for o in spec.occasions if o in STYLE_OCCASIONS[style])
    return both or spec.occasions


def _noun_for(category: str, material: str, style: str, gender: str, season: str, rng: np.random.Generator) -> str:
    """A product noun that agrees with the other attributes (jeans are denim, blouses are women's)."""
    spec = SPECS[category]
    if category == "Trouser" and material == "denim":
        return "jeans"
    if category == "Trouser" and material == "cotton twill" and rng.random() < 0.5:
        return "chinos"
    if category == "Trouser" and style == "sporty":
        return "joggers"
    if category == "Shirt" and gender == "Women" and rng.random() < 0.5:
        return "blouse"
    if category == "Coat" and material == "down":
        return "puffer jacket"
    if category == "Coat" and material == "waterproof nylon":
        return "rain jacket"
    if category == "Pullover" and material == "fleece":
        return "fleece sweatshirt"
    if category == "Sneaker" and style != "sporty" and rng.random() < 0.7:
        return str(rng.choice(("sneakers", "trainers")))
    if category == "Dress" and material in ("cotton", "linen") and rng.random() < 0.3:
        return "sundress" if season in ("Spring", "Summer") else "dress"
    return str(rng.choice(spec.nouns))


def _price(spec: CategorySpec, material: str, rng: np.random.Generator) -> float:
    low, high = spec.price
    base = rng.uniform(low, low + 0.6 * (high - low))
    factor = _PREMIUM.get(material, _BUDGET.get(material, 1.0))
    value = min(max(base * factor, low), high)
    # Shop-style prices ending in .99, kept inside the range.
    return float(min(max(np.floor(value) + 0.99, low), high))


def _season_phrase(season: str) -> str:
    return "every season" if season == "All-season" else season.lower()


def make_product(label: int, rng: np.random.Generator, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """Draw one consistent product of category ``label``.

    ``given`` fixes attributes (a merchant's own colour, gender, price ...); the others are drawn
    under the same rules, narrowed by the fixed ones, and the title, description and keywords are
    written from the final values, so a given colour also appears in the title. With no ``given``
    the random stream is exactly that of the catalog ``prepare`` writes.

    Raises:
        InvalidInputError: a given value breaks the category's rules (a men's dress, an unknown colour).
    """
    category = CATEGORIES[label]
    spec = SPECS[category]
    given = _check_given(spec, category, given or {})

    def pick(name: str, options: Any, p: Any = None) -> str:
        drawn = str(rng.choice(options, p=p))
        return str(given[name]) if name in given else drawn

    genders, weights = zip(*spec.genders.items())
    gender = pick("gender", genders, np.asarray(weights) / sum(weights))
    material = pick("material", spec.materials)
    style = pick("style", spec.styles)
    occasion = pick("occasion", _occasion_choices(spec, style))
    season = pick("season", _season_choices(spec, material))
    colour = pick("colour", spec.colours)
    brand = pick("brand", spec.brands)
    noun = _noun_for(category, material, style, gender, season, rng)
    sizes = "One size" if spec.sizing == "one" else _SIZES[(spec.sizing, gender)]
    price = _price(spec, material, rng)
    price = float(given["price"]) if "price" in given else price
    title = _no_repeat(f"{brand} {_GENDER_WORDS[gender].capitalize()} {colour.capitalize()} {material.title()} {noun.title()}")
    fit = str(rng.choice(_FIT_SENTENCES[spec.sizing])).format(sizes=sizes)
    template = str(rng.choice(_DESCRIPTION_TEMPLATES))
    description = template.format(
        style=style, noun=noun, colour=colour, material=material, occasion=occasion, brand=brand,
        fit_sentence=fit, season_phrase=_season_phrase(season),
    )
    description = _no_repeat(description[0].upper() + description[1:])
    phrases = (
        category.lower(), noun, *CATEGORY_SYNONYMS[category][:3], _GENDER_WORDS[gender], gender.lower(),
        colour, material, style, occasion, season.lower(), brand.lower(),
    )
    keywords = " ".join(dict.fromkeys(phrases))  # whole phrases, each once
    product = dict(
        category=category, gender=gender, colour=colour, material=material, style=style,
        occasion=occasion, season=season, brand=brand, price=price, sizes=sizes,
        title=title, description=description, keywords=keywords,
    )
    product.update({k: str(given[k]) for k in ("sizes", "title", "description", "keywords") if k in given})
    return product


def _no_repeat(text: str) -> str:
    """One of a word written twice in a row, where a material ends as the noun begins ("Fleece
    Fleece Sweatshirt", "cotton knit knit sweater")."""
    return re.sub(r"\b(\w+) \1\b", r"\1", text, flags=re.IGNORECASE)


GIVEN_FIELDS: tuple[str, ...] = (
    "gender", "colour", "material", "style", "occasion", "season", "brand", "price", "sizes", "title", "description", "keywords",
)


def _check_given(spec: CategorySpec, category: str, given: dict[str, Any]) -> dict[str, Any]:
    """Keep the non-empty known fields of ``given``, normalised, or say which value breaks which rule."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key not in GIVEN_FIELDS or value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
            continue
        out[key] = value.strip() if isinstance(value, str) else value
    if "gender" in out:
        out["gender"] = str(out["gender"]).capitalize()
        if out["gender"] not in spec.genders:
            allowed = ", ".join(spec.genders)
            raise InvalidInputError(f"a {category} cannot be {out['gender']!r} in this catalog; allowed: {allowed}")
    if "colour" in out:
        out["colour"] = str(out["colour"]).lower()
        if out["colour"] not in COLOURS:
            raise InvalidInputError(f"unknown colour {out['colour']!r}; use one of {', '.join(COLOURS)}")
    if "season" in out:
        out["season"] = str(out["season"]).capitalize() if str(out["season"]).lower() != "all-season" else "All-season"
        if out["season"] not in spec.seasons:
            raise InvalidInputError(f"a {category} cannot be sold for {out['season']!r}; allowed: {', '.join(spec.seasons)}")
    if "style" in out:
        out["style"] = str(out["style"]).lower()
        if out["style"] not in STYLE_OCCASIONS:
            raise InvalidInputError(f"unknown style {out['style']!r}; use one of {', '.join(STYLE_OCCASIONS)}")
    if "price" in out:
        try:
            price = float(out["price"])
        except (TypeError, ValueError):
            raise InvalidInputError(f"price must be a number, got {out['price']!r}") from None
        if not np.isfinite(price) or price <= 0:
            raise InvalidInputError(f"price must be a positive number, got {out['price']!r}")
        out["price"] = round(price, 2)
    return out


def build_catalog(labels: np.ndarray, split: np.ndarray, seed: int) -> pd.DataFrame:
    """One product row per image, deterministic from ``seed``.

    Args:
        labels: class index (0-9) of each image.
        split: "catalog" or "query" for each image.
        seed: the same seed always gives the same table.
    """
    rng = np.random.default_rng(seed + 7)
    rows = []
    for i, (label, part) in enumerate(zip(labels, split)):
        row = make_product(int(label), rng)
        rows.append({"product_id": f"FM-{i:06d}", "image_index": i, "split": str(part), "label": int(label), **row})
    return pd.DataFrame(rows, columns=list(COLUMNS))
