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

    # Image encoder (issue: image encoder).
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
    # items by how like the item's value they are (soft, never a filter). Dev queries with unseen
    # words: 0.646 at 0.5, 0.682 at 1.0, 0.692-0.695 from 1.5 to 8.0 (all 1,020: 0.888 at 1.0, 0.891
    # at 2.0); a low point of the plateau is kept, so the other signals still order what it ties.
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
    # MSE chosen on dev queries with garment words no training text or evaluation uses (polo, gilet,
    # clogs, knapsack...): category P@10 of the mapped vector alone 0.747 / 0.737 against 0.678 / 0.678
    # (two query draws); the evaluation's own held-out words were not used for the choice.
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
        """Refuse settings that would fail later, with the reason, before anything is written."""
        if self.profile not in PROFILES:
            raise InvalidInputError(f"unknown profile {self.profile!r}; choose one of {', '.join(PROFILES)}")
        if self.per_class < 1:
            raise InvalidInputError(f"per-class count must be a positive integer, got {self.per_class}")
        if not 0.0 < self.query_fraction < 1.0:
            raise InvalidInputError(f"query fraction must be between 0 and 1, got {self.query_fraction}")
        if self.seed < 0:
            raise InvalidInputError(f"seed must be a non-negative integer, got {self.seed}")
        if self.store not in STORES:
            raise InvalidInputError(f"unknown store {self.store!r}; choose one of {', '.join(STORES)}")

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
