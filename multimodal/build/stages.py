"""Stage functions shared by the CLI, the build and the tests: each reads and writes files."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from multimodal.catalog.fashion_mnist import load_fashion_mnist, make_subset
from multimodal.catalog.images import preprocess_batch
from multimodal.catalog.prepared import PreparedData, load_prepared, save_prepared
from multimodal.catalog.roles import Roles
from multimodal.catalog.synthetic import build_catalog
from multimodal.config import Config
from multimodal.io import write_json_atomic
from multimodal.metrics import (
    mean_reciprocal_rank,
    precision_at_k,
    relevance_by_label,
    retrieval_summary,
    top_k_of_scores,
)

log = logging.getLogger(__name__)


def prepare(config: Config) -> dict[str, Any]:
    """Load Fashion-MNIST, draw the subset and split, build the catalog, write ``config.data_dir``.

    Every argument is checked (by ``Config`` and the subset) before a file is touched.
    Returns the manifest written.
    """
    started = time.monotonic()
    data = load_fashion_mnist(config)
    subset = make_subset(data, config)
    catalog = build_catalog(subset.labels, subset.split, config.seed)
    catalog.insert(2, "source_split", subset.source_split)
    catalog.insert(3, "source_index", subset.source_index)
    manifest = {
        "profile": config.profile,
        "seed": config.seed,
        "per_class": config.per_class if config.profile == "default" else None,
        "query_fraction": config.query_fraction if config.profile == "default" else None,
        "source": data.source,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    manifest = save_prepared(config.data_dir, catalog, subset.images, manifest)
    manifest["seconds"] = round(time.monotonic() - started, 2)
    return manifest


# A folder of colour photos starts from these settings where the user kept Fashion-MNIST's default
# (chosen on a dev split of the shared product catalog: docs/decisions.md).
FOLDER_DEFAULTS: dict[str, Any] = {
    "image_backbone": "cnn", "image_input_size": 48, "image_extra_training_data": False, "image_epochs": 40, "batch_classes": 16,
    "batch_per_class": 4, "learning_rate": 2e-3, "image_max_seconds": 900.0, "image_backbone_layer": None,
    "w_image_pixels": 0.1,  # the product's colour histogram beside the embedding (colour in the first 5: docs/decisions.md)
    "instance_weight": 0.0,  # one view per image: twice the products seen in the time budget (docs/decisions.md)
    "image_same_product": 0.7,  # the very product found by its print instead (docs/decisions.md)
}


def prepared_roles(config: Config) -> Roles | None:
    """The roles of the folder catalog prepared in ``config.data_dir``, or None (Fashion-MNIST, or nothing yet)."""
    from multimodal.catalog.prepared import MANIFEST_FILE
    from multimodal.io import read_json

    path = config.data_dir / MANIFEST_FILE
    if not path.is_file():
        return None
    roles = Roles.of(read_json(path))
    return roles if roles.is_folder else None


def catalog_defaults(config: Config, roles: Roles) -> Config:
    """``config`` with a folder catalog's own defaults wherever it holds Fashion-MNIST's."""
    base = Config()
    wanted = dict(FOLDER_DEFAULTS)
    changes = {k: v for k, v in wanted.items() if getattr(config, k) == getattr(base, k)}
    return config.replace(**changes) if changes else config


def summary_table(catalog: pd.DataFrame, roles: Roles | None = None) -> pd.DataFrame:
    """Rows per category (in the catalog's order) and gender, with the split sizes."""
    roles = roles or Roles()
    order = list(roles.categories) or sorted(catalog["category"].unique())
    gender = catalog[roles.gender] if roles.gender in catalog else pd.Series("", index=catalog.index, name="gender")
    table = pd.crosstab(catalog["category"], gender).reindex(order, fill_value=0)
    for split in ("catalog", "query"):
        table[split] = catalog[catalog["split"] == split].groupby("category").size().reindex(order, fill_value=0)
    table["total"] = catalog.groupby("category").size().reindex(order, fill_value=0)
    return table


def image_training_set(prepared: PreparedData, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """Preprocessed training images and labels: the catalog split, plus (optionally) the
    Fashion-MNIST training images outside the subset. Held-out queries never enter."""
    rows, images = prepared.part("catalog")
    x = preprocess_batch(images)
    y = rows["label"].to_numpy(np.int64)
    if Roles.of(prepared.manifest).is_folder:
        return x, y
    if config.image_extra_training_data and config.profile == "default":
        data = load_fashion_mnist(config)
        used = prepared.catalog.loc[prepared.catalog["source_split"] == "train", "source_index"].to_numpy()
        unused = np.setdiff1d(np.arange(len(data.train_labels)), used)
        x = np.concatenate([x, preprocess_batch(data.train_images[unused])])
        y = np.concatenate([y, data.train_labels[unused].astype(np.int64)])
    return x, y


def train_image(config: Config, verbose: int = 1, retrain: bool = True, report: Any = None) -> dict[str, Any]:
    """Train the image encoder (or, with ``retrain=False``, install the shipped weights trained for
    this very catalog and settings), save it to ``config.artifacts_dir`` and measure it on the
    held-out queries.

    The measurement embeds catalog and queries in inference mode, exactly as the index will,
    and computes the raw-pixel baseline in the same run.
    """
    from multimodal.build.shipped import install, shipped_weights
    from multimodal.models.image_encoder import ImageEncoder
    from multimodal.models.image_training import train_image_encoder

    prepared = load_prepared(config.data_dir)
    shipped = None if retrain else shipped_weights(config)
    if shipped is not None:
        (report or log.info)(f"[train-image] using the shipped weights in {shipped} (checksums verified; "
                             "`build --retrain` trains from scratch)")
        install(shipped, config.artifacts_dir)
        encoder = ImageEncoder.load(config.artifacts_dir)
        n_train = int(encoder.history.get("train_images", [0])[0]) if encoder.history.get("train_images") else None
    else:
        x, y = image_training_set(prepared, config)
        n_train = int(len(x))
        log.info("training the image encoder on %d images", len(x))
        encoder = train_image_encoder(x, y, config, verbose=verbose, max_seconds=config.image_max_seconds,
                                      categories=Roles.of(prepared.manifest).categories)
        encoder.history["train_images"] = [float(n_train)]
        encoder.save(config.artifacts_dir)

    cat_rows, cat_images = prepared.part("catalog")
    q_rows, q_images = prepared.part("query")
    cat_x, q_x = preprocess_batch(cat_images), preprocess_batch(q_images)
    cat_y, q_y = cat_rows["label"].to_numpy(), q_rows["label"].to_numpy()
    q_emb, q_probs = encoder.encode(q_x)
    cat_emb = encoder.embed(cat_x)
    learned = retrieval_summary(q_emb, q_y, cat_emb, cat_y)
    pixels = retrieval_summary(q_x.reshape(len(q_x), -1), q_y, cat_x.reshape(len(cat_x), -1), cat_y, metric="l2")
    accuracy = float(np.mean(np.argmax(q_probs, axis=1) == q_y)) if len(q_y) else float("nan")
    ranked = _image_search_ranking(q_emb, q_probs, cat_emb, cat_y, config, q_x, cat_x)
    rel = relevance_by_label(ranked, cat_y, q_y)
    searched = {"p_at_1": precision_at_k(rel, 1), "p_at_10": precision_at_k(rel, 10), "mrr": mean_reciprocal_rank(rel)}
    summary = {
        "source": "shipped" if shipped is not None else "trained",
        "train_images": n_train,
        "epochs": len(encoder.history.get("loss", [])),
        "train_seconds": round(encoder.train_seconds, 1),
        "queries": int(len(q_y)),
        "catalog": int(len(cat_y)),
        "learned": learned,
        "image_search": searched,
        "raw_pixels": pixels,
        "classifier_accuracy": accuracy,
    }
    write_json_atomic(config.artifacts_dir / "image_training.json", summary)
    return summary


def _image_search_ranking(q_emb: np.ndarray, q_probs: np.ndarray, cat_emb: np.ndarray, cat_y: np.ndarray,
                          config: Config, q_x: np.ndarray, cat_x: np.ndarray, k: int = 10, chunk: int = 2048) -> np.ndarray:
    """Top-k catalog rows as image search ranks them: exact nearest candidates (the index is not
    built yet), then the engine's own ``rank_candidates``; in chunks of queries so that the full
    profile (10,000 x 60,000) stays within memory."""
    from multimodal.search.image_ranking import pixel_features, rank_candidates

    n_candidates = min(len(cat_emb), max(k, config.image_candidates))
    item_pixels = pixel_features(cat_x) if config.w_image_pixels else None
    out = []
    for start in range(0, len(q_emb), chunk):
        sims = q_emb[start : start + chunk] @ cat_emb.T
        rows = top_k_of_scores(sims, n_candidates)
        candidates = np.take_along_axis(sims, rows, axis=1)
        query_pixels = pixel_features(q_x[start : start + chunk]) if item_pixels is not None else None
        ranking = rank_candidates(candidates, rows, q_probs[start : start + chunk], cat_y, config, k,
                                  query_pixels=query_pixels, item_pixels=item_pixels)
        out.append(ranking.rows)
    return np.concatenate(out) if out else np.zeros((0, k), np.int64)


def product_text(row: dict[str, Any], roles: Roles) -> str:
    """What the sentence model reads of a product, for any catalog."""
    from multimodal.models.catalog_texts import folder_item_text
    from multimodal.models.text_data import item_text

    return folder_item_text(row, roles) if roles.is_folder else item_text(row)


def catalog_embeddings(prepared: PreparedData, config: Config, encoder: Any = None) -> tuple[pd.DataFrame, np.ndarray, Any]:
    """Rows of the catalog split and their image embeddings, computed as the index computes them."""
    from multimodal.models.image_encoder import ImageEncoder

    encoder = encoder or ImageEncoder.load(config.artifacts_dir)
    rows, images = prepared.part("catalog")
    return rows, encoder.embed(preprocess_batch(images)), encoder


def build_index(config: Config, verbose: bool = True) -> dict[str, Any]:
    """Embed the catalog split and write the vector store (``config.store``) with its manifest."""
    from multimodal.models.image_encoder import EMBEDDING_FILE
    from multimodal.store import build_store
    from multimodal.store.faiss_index import model_fingerprint

    prepared = load_prepared(config.data_dir)
    rows, vectors, _ = catalog_embeddings(prepared, config)
    index = build_store(
        config, vectors, rows["product_id"].tolist(), Roles.of(prepared.manifest).filter_frame(rows),
        model_fingerprint=model_fingerprint(config.artifacts_dir / EMBEDDING_FILE),
        catalog_sha256=prepared.manifest["catalog_sha256"],
    )
    index.save(config.artifacts_dir)
    write_json_atomic(config.artifacts_dir / "config.json", config.to_dict())
    return index.manifest


def train_text(config: Config, verbose: int = 1, retrain: bool = True, report: Any = None) -> dict[str, Any]:
    """Train the mapping network (sentence vectors -> image embeddings) and embed every product's
    text, or with ``retrain=False`` install the shipped mapper and vectors made for these very inputs.

    Targets are the image embeddings of the catalog split; several texts per product.
    """
    from multimodal.build.shipped import TEXT_FILES, TEXT_SUMMARY, install, shipped_text
    from multimodal.io import save_npy_atomic
    from multimodal.models.text_data import TEXT_VECTORS_FILE
    from multimodal.models.text_encoder import shared_sentence_encoder

    prepared = load_prepared(config.data_dir)
    shipped = None if retrain else shipped_text(config)
    if shipped is not None:  # made for this very catalog text, image model and settings: vectors included
        (report or log.info)(f"[train-text] using the shipped mapper and product-text vectors in {shipped} "
                             "(checksums verified; `build --retrain` trains and embeds)")
        install(shipped, config.artifacts_dir, TEXT_FILES)
        summary: dict[str, Any] = {"source": "shipped", "products": int((prepared.catalog["split"] == "catalog").sum())}
    else:
        roles = Roles.of(prepared.manifest)
        sentence = shared_sentence_encoder(config.sentence_model)
        rows, summary = _train_mapper(config, prepared, roles, sentence, verbose)
        item_vectors = sentence.encode([product_text(r, roles) for r in rows.to_dict("records")], progress=bool(verbose), exact=True)
        save_npy_atomic(config.artifacts_dir / TEXT_VECTORS_FILE, item_vectors)
    write_json_atomic(config.artifacts_dir / TEXT_SUMMARY, summary)
    return summary


def _train_mapper(config: Config, prepared: PreparedData, roles: Roles, sentence: Any, verbose: int
                  ) -> tuple[pd.DataFrame, dict[str, Any]]:
    from multimodal.models.catalog_texts import folder_training_texts
    from multimodal.models.text_data import training_texts
    from multimodal.models.text_encoder import train_mapper

    rows, image_vectors, _ = catalog_embeddings(prepared, config)
    texts, groups = [], []
    rng = np.random.default_rng(config.seed + 17)
    for i, row in rows.iterrows():
        variants = folder_training_texts(row, roles, rng) if roles.is_folder else training_texts(row, rng)
        texts.extend(variants)
        groups.extend([i] * len(variants))
    groups_arr = np.asarray(groups)
    unique, position = np.unique(np.asarray(texts, dtype=object), return_inverse=True)  # ~20% repeat
    log.info("encoding %d distinct training texts (%d in all)", len(unique), len(texts))
    vectors = sentence.encode(unique.tolist(), progress=bool(verbose), exact=True)[position]
    labels = rows["label"].to_numpy()[groups_arr]
    mapper = train_mapper(vectors, image_vectors[groups_arr], groups_arr, epochs=config.text_epochs, seed=config.seed,
                          verbose=verbose, objective=config.text_objective, labels=labels,
                          temperature=config.text_temperature, item_weight=config.text_item_weight)
    mapper.save(config.artifacts_dir)
    history = mapper.history
    return rows, {
        "source": "trained", "texts": len(texts), "products": int(len(rows)), "epochs": len(history.get("loss", [])),
        "train_mse": history["loss"][-1] if history.get("loss") else None,
        "val_mse": min(history["val_loss"]) if history.get("val_loss") else None,
    }


# ---------------------------------------------------------------- one-command build


# ---------------------------------------------------------------- adding items without retraining
