"""MobileNetV2 image encoder: 64-d unit embeddings trained with triplet loss and a category head.

Two details matter more than any hyper-parameter here:
- BatchNorm moving averages. MobileNetV2 ships with momentum 0.999, which after a few
  hundred CPU steps still holds mostly its initial values, so the network scores well in
  training mode and collapses in inference mode. We lower the momentum and select epochs
  with a retrieval metric computed in inference mode, exactly as the index embeds items.
- Class-balanced P x K batches, so every anchor has positives and negatives to mine.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from multimodal.config import CATEGORIES, Config  # noqa: E402
from multimodal.errors import ArtifactError, InvalidInputError  # noqa: E402
from multimodal.io import load_keras, read_json, write_json_atomic, write_with  # noqa: E402
from multimodal.metrics import unit_rows  # noqa: E402

log = logging.getLogger(__name__)

EMBEDDING_FILE = "image_embedding.keras"
CLASSIFIER_FILE = "image_classifier_head.keras"
HISTORY_FILE = "image_history.json"
CONFIG_FILE = "image_config.json"


# ---------------------------------------------------------------- model

def build_embedding_model(config: Config, input_shape: tuple[int, ...] = (28, 28, 1)) -> keras.Model:
    """An image in [0, 1] -> 64-d unit vector.

    ``input_shape`` is what the catalog stores: (28, 28, 1) for Fashion-MNIST, (S, S, 3) for a
    folder of colour photos. Resizing, channel replication and the backbone's input scaling live
    inside the model, so every caller feeds the same preprocessed array.
    """
    size = int(config.image_input_size)
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    if tuple(input_shape[:2]) != (size, size):
        x = layers.Resizing(size, size, interpolation="bilinear", name="resize")(x)
    if config.image_backbone == "cnn":
        x = _plain_cnn(x, config)
    else:
        if size < 32:
            raise InvalidInputError(f"MobileNetV2 needs an input of at least 32 pixels, got {size}")
        if input_shape[-1] == 1:
            x = layers.Concatenate(name="to_rgb")([x, x, x])
        x = layers.Rescaling(2.0, offset=-1.0, name="to_mobilenet_range")(x)
        x = _backbone(config)(x)
    x = layers.Dense(256, name="head_dense")(x)
    x = layers.BatchNormalization(momentum=config.bn_momentum, name="head_bn")(x)
    x = layers.ReLU(name="head_relu")(x)
    x = layers.Dropout(0.3, name="head_dropout")(x)
    x = layers.Dense(config.embedding_dim, name="embedding_dense")(x)
    outputs = layers.UnitNormalization(name="l2_normalise")(x)
    return keras.Model(inputs, outputs, name="image_embedding")


def _plain_cnn(x: Any, config: Config) -> Any:
    """Five conv-BN-ReLU layers (16-32-64-128-128 channels, max-pooled between) and global average
    pooling: on 2 CPU cores it learns colour product photos from scratch faster than MobileNetV2
    does (docs/decisions.md)."""
    x = layers.Rescaling(2.0, offset=-1.0, name="to_signed")(x)
    for stage, width in enumerate((16, 32, 64, 128, 128)):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"cnn{stage}_conv")(x)
        x = layers.BatchNormalization(momentum=config.bn_momentum, name=f"cnn{stage}_bn")(x)
        x = layers.ReLU(name=f"cnn{stage}_relu")(x)
        if stage < 4:
            x = layers.MaxPooling2D(2, name=f"cnn{stage}_pool")(x)
    return layers.GlobalAveragePooling2D(name="cnn_pool")(x)


def _backbone(config: Config) -> keras.Model:
    size = int(config.image_input_size)
    weights = config.image_weights or None
    if weights not in (None, "imagenet") and not Path(str(weights)).is_file():
        raise InvalidInputError(f"image weights must be None, 'imagenet' or a weights file; got {weights!r}")
    try:
        backbone = keras.applications.MobileNetV2(
            input_shape=(size, size, 3), alpha=config.image_alpha, include_top=False,
            weights=weights, pooling="avg",
        )
    except ValueError as exc:
        raise InvalidInputError(f"MobileNetV2 cannot be built with these settings: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - download failures come in many types
        if weights == "imagenet":
            raise ArtifactError(
                "ImageNet weights for MobileNetV2 could not be loaded "
                f"({type(exc).__name__}: {exc}). Keras downloads them to ~/.keras/models on first use; "
                "without internet access, copy the file there by hand or train from scratch "
                "(the default: --image-weights none)."
            ) from exc
        raise
    for layer in backbone.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = config.bn_momentum
    cut = config.image_backbone_layer
    if cut:
        # At 28-32 px the last MobileNetV2 stages see a 1x1 map, where a 3x3 depthwise conv only
        # sees its centre; ending earlier keeps a spatial map, learns faster and runs faster.
        try:
            features = backbone.get_layer(cut).output
        except ValueError as exc:
            raise InvalidInputError(f"MobileNetV2 has no layer named {cut!r}") from exc
        pooled = layers.GlobalAveragePooling2D(name="backbone_pool")(features)
        backbone = keras.Model(backbone.input, pooled, name=f"mobilenetv2_to_{cut}")
    return backbone


def build_classifier_head(config: Config, n_categories: int = len(CATEGORIES)) -> keras.Model:
    """64-d embedding -> probabilities over the catalog's categories (Dense 128, ReLU, Dropout 0.3)."""
    inputs = keras.Input((config.embedding_dim,), name="embedding")
    # A unit vector's components are ~1/sqrt(d): scale them to ~1 so the head learns at a normal pace.
    x = layers.Rescaling(float(np.sqrt(config.embedding_dim)), name="cls_scale")(inputs)
    x = layers.Dense(128, activation="relu", name="cls_dense")(x)
    x = layers.Dropout(0.3, name="cls_dropout")(x)
    outputs = layers.Dense(n_categories, activation="softmax", name="cls_probs")(x)
    return keras.Model(inputs, outputs, name="image_classifier_head")


# ---------------------------------------------------------------- loss and batches


# ---------------------------------------------------------------- training

def embed(model: keras.Model, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Embed preprocessed (N, 28, 28) or (N, S, S, 3) images in inference mode, exactly as the index does."""
    if len(images) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if len(x) <= 8:  # a single query: a direct call skips predict's per-call setup
        return np.asarray(model(x, training=False), dtype=np.float32)
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float32)


@functools.lru_cache(maxsize=8)  # as many as io.load_keras keeps models; it holds them, so their ids stay theirs
def _traced_single(model: keras.Model, head: keras.Model, flip: bool, shape: tuple[int, ...]) -> Any:
    """The traced one-image graph of these two models, traced once per process (about a second):
    the models a reloaded engine gets are the same objects (``io.load_keras``), and so is this."""

    @tf.function(input_signature=[tf.TensorSpec((1, *shape), tf.float32)])
    def single(x):
        if flip:
            x = tf.concat([x, tf.reverse(x, axis=[2])], axis=0)
        emb = model(x, training=False)
        probs = head(emb, training=False)
        emb = tf.math.l2_normalize(tf.reduce_sum(emb, axis=0, keepdims=True), axis=1)
        return emb, tf.reduce_mean(probs, axis=0, keepdims=True)

    return single


@dataclass
class ImageEncoder:
    """The trained embedding model and classifier head, with what is needed to reload them."""

    embedding_model: keras.Model
    classifier_head: keras.Model
    config: Config
    history: dict[str, list[float]] = field(default_factory=dict)
    train_seconds: float = 0.0
    categories: tuple[str, ...] = CATEGORIES

    def __post_init__(self) -> None:
        self._single = None
        self.categories = tuple(self.categories)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """What one preprocessed image is: (28, 28, 1) for Fashion-MNIST, (S, S, 3) for colour photos."""
        return tuple(int(d) for d in self.embedding_model.input_shape[1:])

    @property
    def flip_averaging(self) -> bool:
        return bool(getattr(self.config, "image_flip_tta", False))

    def encode(self, images: np.ndarray, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings and category probabilities of preprocessed (N, 28, 28) images, in inference mode.

        With ``image_flip_tta`` each image is also seen mirrored (a mirrored garment is the same
        product): the two embeddings are averaged and re-normalised, the probabilities averaged.
        Index, queries and evaluation all go through here, so they see the same vectors.
        """
        x = np.asarray(images, dtype=np.float32)
        vectors = embed(self.embedding_model, x, batch_size)
        probs = self.predict_proba(vectors)
        if self.flip_averaging and len(x):
            mirrored = embed(self.embedding_model, np.ascontiguousarray(x[:, :, ::-1]), batch_size)
            vectors = unit_rows(vectors + mirrored)
            probs = (probs + self.predict_proba(mirrored)) / 2.0
        return vectors, probs

    def embed(self, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
        return self.encode(images, batch_size)[0]

    def embed_one(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embedding and category probabilities of one preprocessed (28, 28) image, as ``encode`` gives them.

        A traced, fixed-shape graph: an eager Keras call of MobileNetV2 costs ~100 ms on CPU,
        the compiled one a few milliseconds, which is what an interactive query needs.
        """
        if self._single is None:
            self._single = _traced_single(self.embedding_model, self.classifier_head, self.flip_averaging, self.input_shape)
        emb, probs = self._single(tf.constant(np.asarray(image, np.float32).reshape(1, *self.input_shape)))
        return emb.numpy()[0], probs.numpy()[0]

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        if len(embeddings) == 0:
            return np.zeros((0, len(self.categories)), dtype=np.float32)
        return np.asarray(self.classifier_head(np.asarray(embeddings, np.float32), training=False))

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write both models, the history and the config, each atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_with(directory / EMBEDDING_FILE, self.embedding_model.save, suffix=".keras")
        write_with(directory / CLASSIFIER_FILE, self.classifier_head.save, suffix=".keras")
        write_json_atomic(directory / HISTORY_FILE, {"history": self.history, "train_seconds": self.train_seconds})
        saved = self.config.to_dict()
        if self.categories != CATEGORIES:  # Fashion-MNIST's file stays as it was (shipped weights)
            saved["categories"] = list(self.categories)
        write_json_atomic(directory / CONFIG_FILE, saved)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ImageEncoder:
        directory = Path(directory)
        missing = [n for n in (EMBEDDING_FILE, CLASSIFIER_FILE, CONFIG_FILE) if not (directory / n).is_file()]
        if missing:
            raise ArtifactError(
                f"image encoder artifacts missing in {directory}: {', '.join(missing)}. "
                "Run `python -m multimodal train-image` (or `build`) first."
            )
        saved = read_json(directory / CONFIG_FILE)
        config = Config.from_dict(saved)
        embedding_model = load_keras(directory / EMBEDDING_FILE)
        head = load_keras(directory / CLASSIFIER_FILE)
        history_path = directory / HISTORY_FILE
        history = read_json(history_path) if history_path.is_file() else {}
        return cls(embedding_model, head, config, history.get("history", {}), history.get("train_seconds", 0.0),
                   tuple(saved.get("categories", CATEGORIES)))
