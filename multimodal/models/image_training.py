"""Training the image encoder: P x K batches of catalog images and their re-shot views, a batch-hard
triplet loss plus NT-Xent between views plus the category head, measured each epoch in inference mode."""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

from multimodal.config import CATEGORIES, Config  # noqa: E402
from multimodal.errors import InvalidInputError  # noqa: E402
from multimodal.metrics import retrieval_summary  # noqa: E402
from multimodal.models.image_encoder import ImageEncoder, build_classifier_head, build_embedding_model, embed  # noqa: E402

log = logging.getLogger(__name__)


def pairwise_distances(embeddings: Any) -> Any:
    """Euclidean distances between all rows; a small epsilon keeps sqrt's gradient finite at 0."""
    dot = ops.matmul(embeddings, ops.transpose(embeddings))
    sq = ops.diagonal(dot)
    d2 = ops.maximum(ops.expand_dims(sq, 1) - 2.0 * dot + ops.expand_dims(sq, 0), 0.0)
    return ops.sqrt(d2 + 1e-12)


def batch_hard_triplet_loss(labels: Any, embeddings: Any, margin: float = 0.2) -> Any:
    """Mean over anchors of max(0, d(a, hardest positive) - d(a, hardest negative) + margin).

    Each anchor's triplet is mined online from the batch (Hermans et al., 2017); anchors
    with no positive or no negative in the batch are left out of the mean.
    """
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    dist = pairwise_distances(embeddings)
    n = ops.shape(dist)[0]
    same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
    not_self = ops.logical_not(ops.cast(ops.eye(n), "bool"))
    positive = ops.logical_and(same, not_self)
    negative = ops.logical_not(same)
    hardest_pos = ops.max(ops.where(positive, dist, 0.0), axis=1)
    hardest_neg = ops.min(ops.where(negative, dist, ops.max(dist) + 1.0), axis=1)
    per_anchor = ops.relu(hardest_pos - hardest_neg + margin)
    valid = ops.cast(ops.logical_and(ops.any(positive, axis=1), ops.any(negative, axis=1)), per_anchor.dtype)
    return ops.sum(per_anchor * valid) / ops.maximum(ops.sum(valid), 1.0)


def nt_xent_loss(embeddings: Any, temperature: float = 0.1) -> Any:
    """Instance-level contrastive loss (SimCLR's NT-Xent) over a batch of two views.

    Rows ``i`` and ``i + B/2`` are two views of the same image: each is the other's only
    positive, every other row a negative, whatever its category. This is what keeps items of
    one category apart in the embedding, so "similar" can mean "looks like this item".
    """
    n = ops.shape(embeddings)[0]
    half = n // 2
    logits = ops.matmul(embeddings, ops.transpose(embeddings)) / temperature
    logits = logits - 1e9 * ops.eye(n, dtype=logits.dtype)  # a row is not its own positive
    targets = ops.concatenate([ops.arange(half, n), ops.arange(0, half)])
    return ops.mean(keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True))


class RetrievalLoss(keras.losses.Loss):
    """Both levels of similarity: batch-hard triplet on categories + weighted NT-Xent on instances.

    The batch holds two views of each image (first half, second half), so the instance term
    needs no labels; the triplet term sees every view with its category label.
    """

    def __init__(self, margin: float = 0.2, instance_weight: float = 1.0, temperature: float = 0.1,
                 name: str = "retrieval", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.margin, self.instance_weight, self.temperature = margin, instance_weight, temperature

    def call(self, y_true: Any, y_pred: Any) -> Any:
        loss = batch_hard_triplet_loss(y_true, y_pred, self.margin)
        if self.instance_weight:
            loss = loss + self.instance_weight * nt_xent_loss(y_pred, self.temperature)
        return loss

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "margin": self.margin, "instance_weight": self.instance_weight,
                "temperature": self.temperature}


class TripletLoss(keras.losses.Loss):
    """Keras wrapper so ``fit`` can apply the batch-hard loss to the embedding output."""

    def __init__(self, margin: float = 0.2, name: str = "triplet", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.margin = margin

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return batch_hard_triplet_loss(y_true, y_pred, self.margin)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "margin": self.margin}


def pk_batches(labels: np.ndarray, p: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """One epoch of class-balanced batches: each row holds K indices of each of P classes.

    Every item appears about once per epoch; classes with fewer than K items are sampled
    with replacement. Returns an (n_batches, P*K) index array.
    """
    classes = np.unique(labels)
    if p > len(classes):
        raise InvalidInputError(f"P={p} classes per batch but the data has only {len(classes)}")
    if k < 2:
        raise InvalidInputError("K must be at least 2 so every anchor has a positive")
    n_batches = max(1, int(math.ceil(len(labels) / (p * k))))
    queues = {c: _shuffled_cycle(np.flatnonzero(labels == c), rng) for c in classes}
    batches = np.empty((n_batches, p * k), dtype=np.int64)
    for b in range(n_batches):
        chosen = rng.choice(classes, size=p, replace=False)
        batches[b] = np.concatenate([[next(queues[c]) for _ in range(k)] for c in chosen])
    return batches


def _shuffled_cycle(members: np.ndarray, rng: np.random.Generator):
    while True:
        yield from rng.permutation(members)


def augment(batch: np.ndarray, rng: np.random.Generator, max_shift: int = 2) -> np.ndarray:
    """Random horizontal flips, small shifts and brightness changes: (B, 28, 28) or (B, S, S, 3) -> same shape.

    Fashion-MNIST items are roughly left-right symmetric in meaning (a boot facing left is
    still a boot); brightness varies because uploads come in any colour. Grayscale silhouettes
    shift over black, colour photos over their own (light) border.
    """
    out = batch.copy()
    flip = rng.random(len(out)) < 0.5
    out[flip] = out[flip, :, ::-1]
    if max_shift:
        height, width = out.shape[1:3]
        pad = ((0, 0), (max_shift, max_shift), (max_shift, max_shift)) + ((0, 0),) * (out.ndim - 3)
        padded = np.pad(out, pad, mode="edge" if out.ndim == 4 else "constant")
        dy = rng.integers(0, 2 * max_shift + 1, len(out))
        dx = rng.integers(0, 2 * max_shift + 1, len(out))
        for i in range(len(out)):
            out[i] = padded[i, dy[i] : dy[i] + height, dx[i] : dx[i] + width]
    scale = rng.uniform(0.7, 1.2, size=(len(out),) + (1,) * (out.ndim - 1)).astype(np.float32)
    return np.clip(out * scale, 0.0, 1.0)


def reshoot(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each preprocessed (28, 28) image as it comes back from a shopper's photo: (B, 28, 28) -> same.

    The item is enlarged (bicubic), darkened and given a gamma as a tinted product on a
    plain background would be, placed off-centre with sensor noise and sometimes blurred,
    then sent through the upload preprocessing (crop, pad, Lanczos resize). What differs
    from the catalog image afterwards is exactly what an upload of that product differs
    by: resampling, sub-pixel crop offsets, contrast. Mirrored half of the time.
    """
    from PIL import Image, ImageFilter

    from multimodal.catalog.images import preprocess

    if batch.ndim == 4:
        return reshoot_colour(batch, rng)
    out = np.empty_like(batch, dtype=np.float32)
    for i, image in enumerate(batch):
        size = int(rng.integers(48, 144))
        pil = Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC)
        if rng.random() < 0.3:
            pil = pil.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2)) * size / 28))
        item = (np.asarray(pil, np.float32) / 255.0) ** float(rng.uniform(0.8, 1.25)) * float(rng.uniform(0.35, 1.0))
        margins = rng.integers(0, size // 3 + 1, size=4)
        canvas = np.pad(item, ((margins[0], margins[1]), (margins[2], margins[3])))
        canvas = np.clip(canvas + rng.normal(0.0, 0.01, canvas.shape).astype(np.float32), 0.0, 1.0)
        out[i] = preprocess(canvas)
        if rng.random() < 0.5:
            out[i] = out[i, :, ::-1]
    return out


def reshoot_colour(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each (S, S, 3) product photo as a shopper might shoot it again: rescaled and off-centre on
    another light background, darker or brighter, a little blurred, JPEG-compressed. The
    evaluation's re-shot photos are drawn by other code with other ranges (``evaluation``)."""
    import io

    from PIL import Image, ImageFilter

    out = np.empty_like(batch, dtype=np.float32)
    size = batch.shape[1]
    for i, image in enumerate(batch):
        border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
        background = np.median(border, axis=0)
        item = np.abs(image - background).max(axis=-1) > 0.08
        new_bg = rng.uniform(0.82, 1.0, 3).astype(np.float32)
        canvas = np.where(item[..., None], image, new_bg)
        scale = float(rng.uniform(0.7, 1.0))
        inner = max(8, int(round(size * scale)))
        pil = Image.fromarray((canvas * 255).astype(np.uint8)).resize((inner, inner), Image.Resampling.BICUBIC)
        if rng.random() < 0.3:
            pil = pil.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.0))))
        frame = np.empty((size, size, 3), np.float32)
        frame[:] = new_bg
        top, left = (int(rng.integers(0, size - inner + 1)) for _ in range(2))
        frame[top : top + inner, left : left + inner] = np.asarray(pil, np.float32) / 255.0
        frame = np.clip(frame ** float(rng.uniform(0.8, 1.25)) * float(rng.uniform(0.6, 1.05)), 0.0, 1.0)
        buffer = io.BytesIO()
        Image.fromarray((frame * 255).astype(np.uint8)).save(buffer, format="JPEG", quality=int(rng.integers(40, 90)))
        out[i] = np.asarray(Image.open(buffer), np.float32) / 255.0
        if rng.random() < 0.5:
            out[i] = out[i, :, ::-1]
    return out


class _PKDataset(keras.utils.PyDataset):
    """P x K batches with augmentation; labels feed both the triplet loss and the classifier.

    With ``two_views`` every batch holds each image twice: a light augmentation (flip,
    shift, brightness) and a ``reshoot``, in the first and second half, for the instance loss.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, p: int, k: int, seed: int, max_shift: int,
                 two_views: bool = False) -> None:
        super().__init__()
        self.images, self.labels, self.p, self.k, self.max_shift = images, labels, p, k, max_shift
        self.two_views = two_views
        self.rng = np.random.default_rng(seed)
        self.batches = pk_batches(labels, p, k, self.rng)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        idx = self.batches[index]
        x = augment(self.images[idx], self.rng, self.max_shift)
        y = self.labels[idx]
        if self.two_views:
            x = np.concatenate([x, reshoot(self.images[idx], self.rng)])
            y = np.concatenate([y, y])
        return (x[..., None] if x.ndim == 3 else x), {"embedding": y, "category": y}

    def on_epoch_end(self) -> None:
        self.batches = pk_batches(self.labels, self.p, self.k, self.rng)


class _InferenceMonitor(keras.callbacks.Callback):
    """After each epoch: validation P@1 and accuracy in inference mode, plus a time budget."""

    def __init__(self, embedding_model, head, train_x, train_y, val_x, val_y, budget_s: float | None,
                 max_gallery: int = 5000) -> None:
        super().__init__()
        self.embedding_model, self.head = embedding_model, head
        keep = np.random.default_rng(0).permutation(len(train_x))[:max_gallery]  # bounded cost per epoch
        self.train_x, self.train_y, self.val_x, self.val_y = train_x[keep], train_y[keep], val_x, val_y
        self.budget_s, self.started = budget_s, time.monotonic()
        self._reshot: np.ndarray | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        gallery = embed(self.embedding_model, self.train_x)
        val = embed(self.embedding_model, self.val_x)
        logs["val_p_at_1"] = retrieval_summary(val, self.val_y, gallery, self.train_y)["p_at_1"]
        probs = np.asarray(self.head(val, training=False))
        logs["val_accuracy"] = float(np.mean(np.argmax(probs, axis=1) == self.val_y))
        if len(self.val_x) > 1:
            # Instance level: does a re-shot view of a validation image find that very image?
            if self._reshot is None:
                self._reshot = reshoot(self.val_x, np.random.default_rng(7))
            shot = embed(self.embedding_model, self._reshot)
            logs["val_instance_r1"] = float(np.mean(np.argmax(shot @ val.T, axis=1) == np.arange(len(val))))
        logs["elapsed_s"] = time.monotonic() - self.started
        if self.budget_s is not None and logs["elapsed_s"] > self.budget_s:
            log.info("time budget of %.0f s reached after epoch %d", self.budget_s, epoch + 1)
            self.model.stop_training = True


def train_image_encoder(
    images: np.ndarray,
    labels: np.ndarray,
    config: Config,
    verbose: int = 1,
    max_seconds: float | None = None,
    categories: tuple[str, ...] | None = None,
) -> ImageEncoder:
    """Train on preprocessed (N, 28, 28) or (N, S, S, 3) images; a stratified slice is held out for
    validation. ``categories`` names the labels (Fashion-MNIST's ten by default).

    Early stopping restores the epoch with the best inference-mode validation P@1.
    """
    keras.utils.set_random_seed(config.seed)
    # Grappler's graph rewrites take ~30 s on MobileNetV2 and buy nothing measurable on 2 CPU cores.
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    labels = np.asarray(labels, dtype=np.int64)
    train_idx, val_idx = _validation_split(labels, config.validation_fraction, config.seed)
    train_x, train_y = images[train_idx], labels[train_idx]
    val_x, val_y = images[val_idx], labels[val_idx]

    shape = tuple(images.shape[1:]) + ((1,) if images.ndim == 3 else ())
    categories = tuple(categories) if categories is not None else CATEGORIES
    embedding_model = build_embedding_model(config, shape)
    head = build_classifier_head(config, len(categories))
    inputs = keras.Input(shape, name="image")
    emb = embedding_model(inputs)
    model = keras.Model(inputs, {"embedding": emb, "category": head(emb)}, name="image_trainer")

    p = min(config.batch_classes, len(np.unique(train_y)))
    data = _PKDataset(train_x, train_y, p, config.batch_per_class, config.seed, max_shift=2,
                      two_views=config.instance_weight > 0)
    steps = len(data) * config.image_epochs
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(steps - len(data), 1), warmup_target=config.learning_rate,
        warmup_steps=len(data), alpha=0.01,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss={"embedding": RetrievalLoss(config.triplet_margin, config.instance_weight, config.instance_temperature),
              "category": keras.losses.SparseCategoricalCrossentropy()},
        loss_weights={"embedding": 1.0, "category": config.classifier_weight},
        jit_compile=False,  # XLA spends most of a minute compiling MobileNetV2 on CPU for no gain here
    )
    callbacks: list[keras.callbacks.Callback] = [
        _InferenceMonitor(embedding_model, head, train_x, train_y, val_x, val_y, max_seconds)
    ]
    if len(val_idx):
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_p_at_1", mode="max", patience=config.early_stopping_patience,
                restore_best_weights=True, verbose=0,
            )
        )
    started = time.monotonic()
    fit = model.fit(data, epochs=config.image_epochs, callbacks=callbacks, verbose=verbose)
    fitted = time.monotonic()
    recalibrate_batchnorm(embedding_model, train_x, seed=config.seed)
    seconds = time.monotonic() - started
    log.info("fit %.1f s, BatchNorm recalibration %.1f s", fitted - started, seconds - (fitted - started))
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    history["fit_seconds"] = [fitted - started]
    return ImageEncoder(embedding_model, head, config, history, seconds, categories)


def _batchnorm_layers(model: keras.Model) -> list[layers.BatchNormalization]:
    found = []
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(_batchnorm_layers(layer))
    return found


def recalibrate_batchnorm(model: keras.Model, images: np.ndarray, batches: int = 4, batch_size: int = 512, seed: int = 0) -> None:
    """Replace BatchNorm moving averages by the statistics of the training images ("precise BN").

    After a short training run the moving averages still lag far behind the weights, and a
    network that is fine in training mode embeds everything alike in inference mode. With
    momentum i/(i+1) for the i-th forward pass, each moving average becomes the exact mean
    of the per-batch statistics. Only BN statistics change; no weight is updated.
    """
    bn_layers = _batchnorm_layers(model)
    if not bn_layers or len(images) == 0:
        return
    momenta = [layer.momentum for layer in bn_layers]
    rng = np.random.default_rng(seed)
    n_batches = max(1, min(batches, int(np.ceil(len(images) / batch_size))))
    try:
        for i in range(n_batches):
            for layer in bn_layers:
                layer.momentum = i / (i + 1)
            pick = rng.choice(len(images), size=min(batch_size, len(images)), replace=False)
            batch = np.asarray(images[pick], np.float32)
            model(batch[..., None] if batch.ndim == 3 else batch, training=True)
    finally:
        for layer, momentum in zip(bn_layers, momenta):
            layer.momentum = momentum


def _validation_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if fraction <= 0:
        return np.arange(len(labels)), np.arange(0)
    rng = np.random.default_rng(seed + 3)
    val = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        n = int(round(len(members) * fraction))
        n = min(n, len(members) - 2)  # keep at least two per class for positives
        if n > 0:
            val.append(rng.choice(members, size=n, replace=False))
    val_idx = np.sort(np.concatenate(val)) if val else np.arange(0)
    return np.setdiff1d(np.arange(len(labels)), val_idx), val_idx
