"""The precise layer of query understanding: hand-written words for every catalog attribute.

Each entry maps a phrase a shopper types to the catalog values it means. A phrase may mean
several values (a family: "wool" is wool, merino wool and wool blend; a group: "shoes" are
sneakers, sandals and ankle boots). Values come from ``multimodal.catalog.synthetic``; a test checks
that every value named here exists there and that every catalog value has a word.
"""

from __future__ import annotations

from multimodal.catalog.synthetic import CATEGORY_SYNONYMS, COLOURS, SPECS, STYLE_OCCASIONS

# A currency word or sign: a number next to one is a price, never a size.
CURRENCY = r"(?:[$£€]|(?:usd|dollars?|bucks|eur|euros?|gbp|pounds?|quid)\b)"

# The fields a constraint can name, in the catalog's column names.
FIELDS: tuple[str, ...] = ("category", "colour", "material", "style", "occasion", "season", "brand")

GENDER_WORDS: dict[str, str] = {
    **dict.fromkeys(("men", "man", "mens", "men's", "male", "males", "his", "him", "he", "guy", "guys",
                     "gent", "gents", "gentleman", "gentlemen", "boyfriend", "husband", "dad", "father", "menswear",
                     # who a gift is for: "for my son", "for the boys" (not "blokes": typos of "blouses" would tie)
                     "boy", "boys", "son", "sons", "brother", "brothers", "uncle", "nephew", "grandpa", "grandfather",
                     "granddad", "grandad", "daddy", "papa", "lad", "lads", "boyfriends", "husbands",
                     "dads", "fathers"), "Men"),
    **dict.fromkeys(("women", "woman", "womens", "women's", "womans", "female", "females", "her", "hers", "she",
                     "lady", "ladies", "girl", "girls", "girlfriend", "wife", "mum", "mom", "mother", "womenswear",
                     "daughter", "daughters", "sister", "sisters", "aunt", "auntie", "niece", "grandma", "grandmother",
                     "granny", "mummy", "mommy", "mama", "mums", "moms", "mothers", "wives", "girlfriends", "gal", "gals"), "Women"),
    **dict.fromkeys(("unisex", "gender-neutral", "genderless", "everyone", "anyone"), "Unisex"),
}

COLOUR_WORDS: dict[str, str] = {
    **{c: c for c in COLOURS},
    "gray": "grey", "charcoal": "grey", "silver": "grey",
    "navy blue": "navy", "navy-blue": "navy", "dark blue": "navy", "dark-blue": "navy",
    "light blue": "blue", "light-blue": "blue", "denim blue": "blue", "sky blue": "blue", "sky-blue": "blue", "cobalt": "blue",
    "scarlet": "red", "crimson": "red",
    "emerald": "green", "forest green": "green", "forest-green": "green", "khaki": "olive",
    "tan": "beige", "camel": "beige", "sand": "beige", "nude": "beige",
    "chocolate": "brown", "cognac": "brown",
    "rose": "pink", "blush": "pink", "fuchsia": "pink",
    "maroon": "burgundy", "wine": "burgundy", "oxblood": "burgundy",
    "ivory": "cream", "off-white": "cream", "off white": "cream", "ecru": "cream",
    "mustard": "yellow",
    "jet-black": "black", "jet black": "black", "ebony": "black",
}

# Colour families a shopper names as one ("something in neutrals", "earth tones"): any of them.
_NEUTRALS = ("black", "white", "grey", "beige", "cream")
_EARTH_TONES = ("brown", "beige", "olive")
_BRIGHTS = ("red", "yellow", "pink", "green", "blue")
_DARKS = ("black", "navy", "burgundy", "brown")
COLOUR_FAMILIES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("neutral", "neutrals", "neutral colours", "neutral colors", "neutral tones", "neutral colour",
                     "neutral color"), _NEUTRALS),
    **dict.fromkeys(("earth tones", "earth tone", "earth-tone", "earthy", "earthy tones", "earth colours", "earth colors"), _EARTH_TONES),
    **dict.fromkeys(("bright colours", "bright colors", "bright colour", "bright color", "brights", "colourful", "colorful"), _BRIGHTS),
    **dict.fromkeys(("dark colours", "dark colors", "dark colour", "dark color", "dark tones"), _DARKS),
}

_WOOLS = ("wool", "merino wool", "wool blend")
_LEATHERS = ("leather", "waterproof leather")
_COTTONS = ("cotton", "organic cotton", "cotton twill", "stretch cotton", "oxford cotton", "cotton knit")
_KNITS = ("knit", "chunky knit", "cotton knit")
MATERIAL_WORDS: dict[str, tuple[str, ...]] = {
    "cotton": _COTTONS, "organic cotton": ("organic cotton",), "organic": ("organic cotton",),
    "cotton twill": ("cotton twill",), "twill": ("cotton twill",), "stretch cotton": ("stretch cotton",), "stretch": ("stretch cotton",),
    "oxford cotton": ("oxford cotton",), "oxford": ("oxford cotton",), "cotton knit": ("cotton knit",),
    "jersey": ("jersey",), "bamboo": ("bamboo",), "mesh": ("mesh",), "denim": ("denim",),
    "linen": ("linen", "linen blend"), "linen blend": ("linen blend",),
    "wool": _WOOLS, "woollen": _WOOLS, "woolen": _WOOLS, "wool blend": ("wool blend",),
    "merino": ("merino wool",), "merino wool": ("merino wool",), "cashmere": ("cashmere",),
    "fleece": ("fleece",), "corduroy": ("corduroy",), "chunky knit": ("chunky knit",), "chunky": ("chunky knit",),
    "knitted": _KNITS, "silk": ("silk",), "chiffon": ("chiffon",), "satin": ("satin",), "viscose": ("viscose",),
    "rayon": ("viscose",), "velvet": ("velvet",), "down-filled": ("down",), "down filled": ("down",),
    "goose down": ("down",), "leather": _LEATHERS, "genuine leather": _LEATHERS,
    "faux leather": ("faux leather",), "vegan leather": ("faux leather",), "pleather": ("faux leather",),
    "suede": ("suede",), "waterproof": ("waterproof nylon", "waterproof leather"),
    "water-resistant": ("waterproof nylon", "waterproof leather"), "water resistant": ("waterproof nylon", "waterproof leather"),
    # What keeps rain out is waterproof ("boots for rain" had stated nothing).
    **dict.fromkeys(("rainproof", "for rain", "for the rain", "in the rain", "for rainy days", "rainy day", "rainy days"),
                    ("waterproof nylon", "waterproof leather")),
    "waterproof leather": ("waterproof leather",), "waterproof nylon": ("waterproof nylon",),
    "nylon": ("nylon", "waterproof nylon"), "tweed": ("tweed",), "shearling": ("shearling",),
    "rubber": ("rubber",), "cork": ("cork",), "synthetic": ("synthetic",), "straw": ("straw",),
    "flannel": ("flannel",), "chambray": ("chambray",), "seersucker": ("seersucker",), "canvas": ("canvas",),
}
# Words that are materials only next to a garment word ("down jacket", "knit sneakers", "jean jacket");
# alone they mean something else ("slow down", "a knit" is a jumper, "black jeans" are trousers).
MATERIAL_BEFORE_GARMENT: dict[str, tuple[str, ...]] = {"down": ("down",), "knit": _KNITS, "jean": ("denim",), "jeans": ("denim",)}

STYLE_WORDS: dict[str, tuple[str, ...]] = {
    "casual": ("casual",), "everyday casual": ("casual",),
    "sporty": ("sporty",), "sport": ("sporty",), "sports": ("sporty",),
    "streetwear": ("streetwear",), "street": ("streetwear",), "street style": ("streetwear",),
    "minimalist": ("minimalist",), "minimal": ("minimalist",), "minimalistic": ("minimalist",),
    "formal": ("formal",), "black tie": ("formal",), "black-tie": ("formal",),
    "business": ("business",), "smart casual": ("smart casual",), "smart-casual": ("smart casual",),
    "elegant": ("elegant",), "partywear": ("party",), "party style": ("party",),
    "bohemian": ("bohemian",), "boho": ("bohemian",), "beachy": ("beach",), "beach style": ("beach",), "beachwear": ("beach",),
    "outdoor": ("outdoor",), "outdoors": ("outdoor",), "classic": ("classic",),
    "retro": ("retro",), "vintage": ("retro",), "rugged": ("rugged",),
    "lounge": ("lounge",), "loungewear": ("lounge",), "lounging": ("lounge",),
}
OCCASION_WORDS: dict[str, tuple[str, ...]] = {
    "everyday": ("everyday",), "every day": ("everyday",), "daily": ("everyday",),
    "weekend": ("weekend",), "weekends": ("weekend",), "gym": ("gym",), "yoga": ("gym",), "pilates": ("gym",),
    "running": ("running",), "run": ("running",),
    "travel": ("travel",), "travelling": ("travel",), "traveling": ("travel",), "trip": ("travel",),
    "night out": ("night out",), "nights out": ("night out",), "going out": ("night out",),
    "home": ("home",), "at home": ("home",), "office": ("office",), "work": ("office",),
    "meeting": ("meeting",), "meetings": ("meeting",), "dinner": ("dinner",), "wedding": ("wedding",), "weddings": ("wedding",),
    "evening event": ("evening event",), "evening": ("evening event",), "evening events": ("evening event",),
    "festival": ("festival",), "festivals": ("festival",), "vacation": ("vacation",), "holiday": ("vacation",), "holidays": ("vacation",),
    "beach": ("beach",), "pool": ("pool",), "hiking": ("hiking",), "hike": ("hiking",), "hikes": ("hiking",),
    "around the house": ("home",), "job interview": ("meeting",), "job interviews": ("meeting",),
    **dict.fromkeys(("date night", "first date", "on a date", "for a date", "dinner date"), ("dinner", "night out")),
}
# "party" and "beach" are both a style and an occasion: "for a party" is the occasion, "party dress" the style.
STYLE_OR_OCCASION: dict[str, str] = {"party": "party", "beach": "beach"}
SEASON_WORDS: dict[str, tuple[str, ...]] = {
    "spring": ("Spring",), "summer": ("Summer",), "summery": ("Summer",), "autumn": ("Autumn",), "fall": ("Autumn",),
    "autumnal": ("Autumn",), "winter": ("Winter",), "wintry": ("Winter",), "wintery": ("Winter",),
    "all-season": ("All-season",), "all season": ("All-season",), "all seasons": ("All-season",),
    "year-round": ("All-season",), "year round": ("All-season",), "all year": ("All-season",),
    "hot weather": ("Summer",), "warm weather": ("Summer",), "cold weather": ("Winter",), "the cold": ("Winter",),
}
BRAND_NAMES: tuple[str, ...] = tuple(sorted({b for spec in SPECS.values() for b in spec.brands}))
BRAND_WORDS: dict[str, tuple[str, ...]] = {b.lower().replace("&", "and"): (b,) for b in BRAND_NAMES}
BRAND_WORDS.update({"harbour and pine": ("Harbor & Pine",), "cobble and company": ("Cobble & Co",)})
# Well-known brands this catalog does not sell: named so the page can say so rather than quietly
# search without them. Only names that are no ordinary English word ("coach", "gap", "vans" stay out).
OTHER_BRANDS: frozenset[str] = frozenset({
    "nike", "adidas", "reebok", "asics", "puma", "fila", "saucony", "hoka", "skechers", "new balance", "under armour",
    "lululemon", "patagonia", "the north face", "north face", "canada goose", "moncler", "barbour", "timberland",
    "birkenstock", "birkenstocks", "ugg", "uggs", "dr martens", "doc martens", "clarks", "ecco", "gucci", "prada",
    "versace", "burberry", "balenciaga", "chanel", "dior", "fendi", "armani", "valentino", "givenchy", "saint laurent",
    "ysl", "louis vuitton", "michael kors", "jimmy choo", "ralph lauren", "tommy hilfiger", "calvin klein", "hugo boss",
    "lacoste", "zara", "uniqlo", "h and m", "primark", "asos", "shein", "hollister", "abercrombie", "superdry",
    "levi's", "levis", "carhartt", "stussy", "yeezy",
})
_BRAND_SPELLING = {"h and m": "H&M", "ysl": "YSL", "ugg": "UGG", "uggs": "UGGs", "asos": "ASOS"}


def brand_name(phrase: str) -> str:
    """How a brand of ``OTHER_BRANDS`` is written ("the north face" -> "The North Face", "h and m" -> "H&M")."""
    return _BRAND_SPELLING.get(phrase) or " ".join(w[:1].upper() + w[1:] for w in phrase.split())

CATEGORY_WORDS: dict[str, tuple[str, ...]] = {}
for _category, _words in CATEGORY_SYNONYMS.items():
    for _word in (*_words, _category.lower()):
        CATEGORY_WORDS[_word] = (_category,)
for _word, _category in {
    "tees": "T-shirt/top", "t-shirts": "T-shirt/top", "tank": "T-shirt/top", "camisole": "T-shirt/top", "t shirt": "T-shirt/top",
    "pant": "Trouser", "jean": "Trouser", "joggers": "Trouser", "leggings": "Trouser", "slack": "Trouser", "chino": "Trouser",
    "jumpers": "Pullover", "sweaters": "Pullover", "hoodie": "Pullover", "hoodies": "Pullover", "cardigan": "Pullover",
    "pullovers": "Pullover",
    "dresses": "Dress", "frock": "Dress", "gowns": "Dress",
    "coats": "Coat", "jackets": "Coat", "parkas": "Coat", "anorak": "Coat", "overcoats": "Coat", "puffer": "Coat", "raincoat": "Coat",
    "puffer jacket": "Coat", "rain jacket": "Coat",
    "flip-flop": "Sandal", "flip flops": "Sandal", "slide": "Sandal", "slippers": "Sandal", "espadrilles": "Sandal",
    "shirts": "Shirt", "blouses": "Shirt", "button-downs": "Shirt",
    "trainer": "Sneaker", "runners": "Sneaker", "plimsolls": "Sneaker", "tennis shoes": "Sneaker", "sport shoes": "Sneaker",
    "bags": "Bag", "handbags": "Bag", "purses": "Bag", "totes": "Bag", "backpacks": "Bag", "satchel": "Bag", "clutches": "Bag",
    "shoulder bag": "Bag", "crossbody": "Bag", "tote bag": "Bag",
    "boot": "Ankle boot", "bootie": "Ankle boot", "chelsea boot": "Ankle boot", "ankle-boots": "Ankle boot",
}.items():
    CATEGORY_WORDS[_word] = (_category,)
CATEGORY_WORDS.pop("knit", None)  # a material next to a garment word, else a weak category word (below)
CATEGORY_WORDS.pop("top", None)  # "high top sneakers": a weak category word

_SHOES = ("Sneaker", "Sandal", "Ankle boot")
_CLOTHES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Shirt")
CATEGORY_GROUPS: dict[str, tuple[str, ...]] = {
    "shoes": _SHOES, "shoe": _SHOES, "footwear": _SHOES,
    # Heeled shoes: of the catalog's shoes, sandals and ankle boots come with heels, sneakers never.
    **dict.fromkeys(("heels", "high heels", "high-heels", "stilettos", "pumps", "court shoes"), ("Sandal", "Ankle boot")),
    # Lace-up shoes the catalog does not carry as such: its laced kinds are sneakers and ankle boots
    # ("oxfords" had read as the cloth oxford cotton).
    **dict.fromkeys(("oxfords", "oxford shoes", "brogues", "lace-ups", "lace-up shoes", "lace ups"), ("Sneaker", "Ankle boot")),
    "tops": ("T-shirt/top", "Shirt", "Pullover"), "bottoms": ("Trouser",),
    "knitwear": ("Pullover",), "knits": ("Pullover",), "outerwear": ("Coat",),
    "accessories": ("Bag",), "accessory": ("Bag",),
    "clothes": _CLOTHES, "clothing": _CLOTHES, "apparel": _CLOTHES, "garments": _CLOTHES, "garment": _CLOTHES, "outfit": _CLOTHES,
}
CATEGORY_WORDS.update(CATEGORY_GROUPS)
# Category words that count only when no other category word is in the query ("high top sneakers").
WEAK_CATEGORY_WORDS: dict[str, tuple[str, ...]] = {"top": ("T-shirt/top",), "knit": ("Pullover",)}
# Phrases that contain an attribute word but state none: consumed before any lookup.
BLOCKED_PHRASES: tuple[str, ...] = (
    "high top", "high-top", "high tops", "high-tops", "low top", "low-top", "low tops", "low-tops",
    "top quality", "top rated", "top-rated", "on top", "top brand", "top brands", "tip top",
    "run out", "in the running", "work out",  # working out is not the office
    "dress like", "dress as", "dress code", "dress up", "dressing up",  # the verb, and a rule: no dress asked for
)

PRICE_ASCENDING = "price_asc"
PRICE_DESCENDING = "price_desc"
SORT_WORDS: dict[str, str] = {
    **dict.fromkeys(("cheapest", "cheap", "cheaper", "budget", "affordable", "inexpensive", "lowest price", "low price",
                     "least expensive", "low cost", "low-cost", "bargain", "bargains", "price low to high", "economical"),
                    PRICE_ASCENDING),
    **dict.fromkeys(("most expensive", "expensive", "priciest", "pricey", "premium", "luxury", "luxurious", "high-end",
                     "high end", "designer", "price high to low", "upscale", "top of the range", "highest price"),
                    PRICE_DESCENDING),
}
NEGATORS: tuple[str, ...] = (
    "not", "no", "without", "except", "excluding", "exclude", "but not", "anything but", "other than", "non", "never",
    "isn't", "aren't", "don't want", "do not want", "nothing", "avoid", "minus", "w/o", "sans",
)

# Everything the precise layer knows, per field: phrase -> values.
LEXICON: dict[str, dict[str, tuple[str, ...]]] = {
    "category": CATEGORY_WORDS,
    "colour": {**{w: (c,) for w, c in COLOUR_WORDS.items()}, **COLOUR_FAMILIES},
    "material": MATERIAL_WORDS,
    "style": STYLE_WORDS,
    "occasion": OCCASION_WORDS,
    "season": SEASON_WORDS,
    "brand": BRAND_WORDS,
}
ALL_STYLES: tuple[str, ...] = tuple(STYLE_OCCASIONS)
