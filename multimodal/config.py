"""One configuration object for every stage; CLI flags map onto its fields."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multimodal.errors import InvalidInputError

CATEGORIES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
GENDERS: tuple[str, ...] = ("Men", "Women", "Unisex")
PROFILES: tuple[str, ...] = ("default", "full")
STORES: tuple[str, ...] = ("faiss", "milvus")


@dataclass
class Config:
    """Every knob of the pipeline, with defaults that give a good default build.

    The ``full`` profile ignores ``per_class``/``query_fraction``: its catalog is
    all 60,000 Fashion-MNIST training images and its queries the 10,000 test images.
    """

    profile: str = "default"
    seed: int = 42
    per_class: int = 500
    query_fraction: float = 0.2
    data_dir: Path = Path("data")
    artifacts_dir: Path = Path("artifacts")
    fashion_mnist_dir: Path | None = None

    # Image encoder: "mobilenetv2" (Fashion-MNIST's) or "cnn" (a plain CNN, a folder of colour photos').
    image_backbone: str = "mobilenetv2"
    image_input_size: int = 48
    image_alpha: float = 0.35
    image_weights: str | None = None
    image_backbone_layer: str | None = "block_13_expand_relu"
    embedding_dim: int = 64
    triplet_margin: float = 0.2
    classifier_weight: float = 1.0
    # Instance level: NT-Xent between each image and a re-shot view of it (0 = category level only).
    instance_weight: float = 1.0
    instance_temperature: float = 0.1
    image_epochs: int = 24
    batch_classes: int = 10
    batch_per_class: int = 6
    learning_rate: float = 3e-3
    bn_momentum: float = 0.9
    early_stopping_patience: int = 5
    validation_fraction: float = 0.02
    # Also train on the Fashion-MNIST training images left out of the catalog subset.
    # Held-out queries are never used for training, so evaluation stays honest.
    image_extra_training_data: bool = True
    image_max_seconds: float | None = None
    # Embed each image and its mirror image and average (index, queries and evaluation alike).
    image_flip_tta: bool = True

    # Image search: score = cos(query, item) + w_image_category * P(item's category | query),
    # over the index's nearest image_candidates items (0 = plain nearest-neighbour order).
    w_image_category: float = 0.3
    image_candidates: int = 200
    # Hedge: other categories with P >= image_hedge_min get a slot among the first image_hedge_depth
    # results (> 1 turns it off); candidates at least image_exact_similarity alike come first.
    # Similarity shown and ranked = (cos + w_image_pixels * pixel correlation) / (1 + w_image_pixels).
    w_image_pixels: float = 0.0
    image_hedge_min: float | None = 0.1
    image_hedge_depth: int = 5
    image_exact_similarity: float = 0.999
    # The very product in the photo (folder catalogs): the catalog item whose product print
    # (``product_prints``) correlates at least image_same_product with the query's comes first when
    # it leads the next by image_same_product_margin and the classifier gives its category at least
    # image_same_product_probability; otherwise, above the threshold, it gets a slot in the first
    # image_hedge_depth. None = off (Fashion-MNIST). Chosen on dev data: docs/decisions.md.
    image_same_product: float | None = None
    image_same_product_margin: float = 0.02
    image_same_product_probability: float = 0.1
    # Relevance feedback (Rocchio): query + feedback_liked * mean(liked) - feedback_disliked * mean(disliked).
    feedback_liked: float = 0.75
    feedback_disliked: float = 0.25

    # Text side (sentence model + mapping network) and the fusion of text-search signals.
    sentence_model: str | None = None  # None: the packaged all-MiniLM-L6-v2
    text_epochs: int = 60
    index_type: str = "flat"
    # Where the vectors live: "faiss" (embedded, files in artifacts_dir) or "milvus" (store_uri: a
    # Milvus Lite folder, default artifacts_dir/milvus.db, or a server such as http://host:19530).
    store: str = "faiss"
    store_uri: str | None = None
    store_collection: str = "fashion_items"
    text_candidates: int = 1000
    # Inside the items that meet every stated constraint (hard filters), three signals are fused:
    # the query mapped into image space (w_image), the sentence model's query-product similarity
    # (w_text) and BM25 over title, description and keywords (w_bm25). text_fusion "rrf" sums
    # w / (60 + rank) per signal, "weighted" sums w * min-max-scaled score; chosen on a dev query set.
    text_fusion: str = "weighted"
    w_image: float = 0.25
    w_text: float = 1.0
    w_bm25: float = 0.5
    # Words in an attribute position below the learned layer's threshold ("vermilion dress") rank
    # items by how like the item's value they are (soft, never a filter); docs/decisions.md.
    w_attribute: float = 2.0
    # Learned layer of query understanding: least cosine similarity between a query word and an
    # attribute word that counts (chosen on dev words: at most 0.5% of ordinary words match; see `evaluate`).
    semantic_threshold: float = 0.78
    # Dictionary layer, read before the learned one: WordNet (Debian's wordnet-base) and the XKCD
    # colour survey name what an unlisted colour, garment or fabric word means ("cerulean" -> blue).
    text_dictionary: bool = True
    # Text mapper objective: "mse" (land on the item's image embedding) or "contrastive"
    # (in-batch softmax over items, temperature text_temperature), with varied training texts.
    # text_item_weight: the contrastive target's share on the text's own item (the rest on its category).
    # Why MSE: docs/decisions.md.
    text_objective: str = "mse"
    text_temperature: float = 0.05
    text_item_weight: float = 0.5

    # Evaluation sizes: re-shot upload photos, timed queries, the shopper-language set (queries per
    # group, and per group with unseen words) and the ordinary words per false-parse sample.
    eval_upload_items: int = 300
    eval_product_photos: int = 500
    eval_latency_repeats: int = 50
    eval_intents_per_group: int = 60
    eval_intents_per_unseen_group: int = 100
    eval_ordinary_words: int = 3000


    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.artifacts_dir = Path(self.artifacts_dir)
        if self.fashion_mnist_dir is not None:
            self.fashion_mnist_dir = Path(self.fashion_mnist_dir)
        self.validate()

    def validate(self) -> None:
        """Refuse settings that would fail later, before anything is written: every field of every
        stage is checked, and the error names each field that is wrong and why."""
        problems = [f"{name} ({STAGE_OF[name]}): {why}" for name, why in check_fields(self)]
        if problems:
            raise InvalidInputError("invalid settings: " + "; ".join(problems))

    def stage(self, name: str) -> dict[str, Any]:
        """The settings one stage reads (``catalog``, ``image``, ``image_search``, ``text``, ``store``,
        ``evaluation``): what a stage's fingerprint and its documentation are made of."""
        if name not in STAGES:
            raise InvalidInputError(f"unknown stage {name!r}; choose one of {', '.join(STAGES)}")
        return {field: getattr(self, field) for field in STAGES[name]}

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


# ---------------------------------------------------------------- settings by stage, and their rules

STAGES: dict[str, tuple[str, ...]] = {
    "catalog": ("profile", "seed", "per_class", "query_fraction", "data_dir", "artifacts_dir", "fashion_mnist_dir"),
    "image": (
        "image_backbone", "image_input_size", "image_alpha", "image_weights", "image_backbone_layer", "embedding_dim", "triplet_margin",
        "classifier_weight", "instance_weight", "instance_temperature", "image_epochs", "batch_classes",
        "batch_per_class", "learning_rate", "bn_momentum", "early_stopping_patience", "validation_fraction",
        "image_extra_training_data", "image_max_seconds", "image_flip_tta",
    ),
    "image_search": (
        "w_image_category", "image_candidates", "w_image_pixels", "image_hedge_min", "image_hedge_depth",
        "image_exact_similarity", "image_same_product", "image_same_product_margin", "image_same_product_probability",
        "feedback_liked", "feedback_disliked",
    ),
    "text": (
        "sentence_model", "text_epochs", "text_candidates", "text_fusion", "w_image", "w_text", "w_bm25", "w_attribute",
        "semantic_threshold", "text_dictionary", "text_objective", "text_temperature", "text_item_weight",
    ),
    "store": ("index_type", "store", "store_uri", "store_collection"),
    "evaluation": (
        "eval_upload_items", "eval_product_photos", "eval_latency_repeats", "eval_intents_per_group",
        "eval_intents_per_unseen_group", "eval_ordinary_words",
    ),
}
STAGE_OF: dict[str, str] = {field: stage for stage, fields in STAGES.items() for field in fields}

_POSITIVE_INTS = {"per_class", "image_input_size", "embedding_dim", "image_epochs", "batch_classes", "batch_per_class",
                  "early_stopping_patience", "image_candidates", "image_hedge_depth", "text_epochs", "text_candidates"}
_COUNTS = {"seed", "eval_upload_items", "eval_product_photos", "eval_latency_repeats", "eval_intents_per_group",
           "eval_intents_per_unseen_group", "eval_ordinary_words"}
_WEIGHTS = {"classifier_weight", "instance_weight", "w_image_category", "w_image_pixels", "feedback_liked",
            "feedback_disliked", "w_image", "w_text", "w_bm25", "w_attribute", "triplet_margin"}
_POSITIVE = {"image_alpha", "instance_temperature", "learning_rate", "text_temperature"}
_FRACTIONS = {"query_fraction": (0.0, 1.0, False), "validation_fraction": (0.0, 1.0, True), "bn_momentum": (0.0, 1.0, False),
              "image_exact_similarity": (0.0, 1.0, True), "semantic_threshold": (-1.0, 1.0, True),
              "text_item_weight": (0.0, 1.0, True), "image_hedge_min": (0.0, 1.0, True),
              "image_same_product": (-1.0, 1.0, True), "image_same_product_margin": (0.0, 2.0, True),
              "image_same_product_probability": (0.0, 1.0, True)}
_CHOICES = {"profile": PROFILES, "store": STORES, "index_type": ("flat", "hnsw", "ivf"),
            "text_fusion": ("weighted", "rrf"), "image_backbone": ("mobilenetv2", "cnn"),
            "text_objective": ("mse", "contrastive"), "image_weights": (None, "imagenet")}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def check_fields(config: Config) -> list[tuple[str, str]]:
    """Every (field, reason) pair a configuration breaks; empty when it is valid."""
    wrong: list[tuple[str, str]] = []
    for name in _POSITIVE_INTS | _COUNTS:
        value, low = getattr(config, name), 1 if name in _POSITIVE_INTS else 0
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            wrong.append((name, f"must be a whole number >= {low}, got {value!r}"))
    for name in _WEIGHTS | _POSITIVE:
        value = getattr(config, name)
        if not _is_number(value) or value < 0 or (name in _POSITIVE and value == 0):
            wrong.append((name, f"must be a number {'> 0' if name in _POSITIVE else '>= 0'}, got {value!r}"))
    for name, (low, high, closed) in _FRACTIONS.items():
        value = getattr(config, name)
        if value is None and name in ("image_hedge_min", "image_same_product"):
            continue
        inside = _is_number(value) and (low <= value <= high if closed else low < value < high)
        if not inside:
            wrong.append((name, f"must be between {low} and {high}{' inclusive' if closed else ''}, got {value!r}"))
    for name, choices in _CHOICES.items():
        if getattr(config, name) not in choices:
            wrong.append((name, f"must be one of {', '.join(str(c) for c in choices)}, got {getattr(config, name)!r}"))
    if config.image_max_seconds is not None and (not _is_number(config.image_max_seconds) or config.image_max_seconds <= 0):
        wrong.append(("image_max_seconds", f"must be a number of seconds > 0 or None, got {config.image_max_seconds!r}"))
    if not isinstance(config.store_collection, str) or not config.store_collection.replace("_", "").isalnum():
        wrong.append(("store_collection", f"must be letters, digits and underscores, got {config.store_collection!r}"))
    return wrong
