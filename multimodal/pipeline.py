"""Stage functions shared by the CLI, the build and the tests: each reads and writes files."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from .catalog import PreparedData, build_catalog, load_prepared, save_prepared
from .config import CATEGORIES, Config
from .data import load_fashion_mnist, make_subset
from .io import write_json_atomic
from .metrics import retrieval_summary
from .preprocess import preprocess_batch

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


def summary_table(catalog: pd.DataFrame) -> pd.DataFrame:
    """Rows per category (in Fashion-MNIST order) and gender, with the split sizes."""
    table = pd.crosstab(catalog["category"], catalog["gender"]).reindex(list(CATEGORIES), fill_value=0)
    for split in ("catalog", "query"):
        table[split] = catalog[catalog["split"] == split].groupby("category").size().reindex(list(CATEGORIES), fill_value=0)
    table["total"] = catalog.groupby("category").size().reindex(list(CATEGORIES), fill_value=0)
    return table


def image_training_set(prepared: PreparedData, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """Preprocessed training images and labels: the catalog split, plus (optionally) the
    Fashion-MNIST training images outside the subset. Held-out queries never enter."""
    rows, images = prepared.part("catalog")
    x = preprocess_batch(images)
    y = rows["label"].to_numpy(np.int64)
    if config.image_extra_training_data and config.profile == "default":
        data = load_fashion_mnist(config)
        used = prepared.catalog.loc[prepared.catalog["source_split"] == "train", "source_index"].to_numpy()
        unused = np.setdiff1d(np.arange(len(data.train_labels)), used)
        x = np.concatenate([x, preprocess_batch(data.train_images[unused])])
        y = np.concatenate([y, data.train_labels[unused].astype(np.int64)])
    return x, y


def train_image(config: Config, verbose: int = 1) -> dict[str, Any]:
    """Train the image encoder, save it to ``config.artifacts_dir`` and measure it on the held-out queries.

    The measurement embeds catalog and queries in inference mode, exactly as the index will,
    and computes the raw-pixel baseline in the same run.
    """
    from .image_encoder import train_image_encoder

    prepared = load_prepared(config.data_dir)
    x, y = image_training_set(prepared, config)
    log.info("training the image encoder on %d images", len(x))
    encoder = train_image_encoder(x, y, config, verbose=verbose, max_seconds=config.image_max_seconds)
    encoder.save(config.artifacts_dir)

    cat_rows, cat_images = prepared.part("catalog")
    q_rows, q_images = prepared.part("query")
    cat_x, q_x = preprocess_batch(cat_images), preprocess_batch(q_images)
    cat_y, q_y = cat_rows["label"].to_numpy(), q_rows["label"].to_numpy()
    q_emb = encoder.embed(q_x)
    learned = retrieval_summary(q_emb, q_y, encoder.embed(cat_x), cat_y)
    pixels = retrieval_summary(q_x.reshape(len(q_x), -1), q_y, cat_x.reshape(len(cat_x), -1), cat_y, metric="l2")
    accuracy = float(np.mean(np.argmax(encoder.predict_proba(q_emb), axis=1) == q_y)) if len(q_y) else float("nan")
    summary = {
        "train_images": int(len(x)),
        "epochs": len(encoder.history.get("loss", [])),
        "train_seconds": round(encoder.train_seconds, 1),
        "queries": int(len(q_y)),
        "catalog": int(len(cat_y)),
        "learned": learned,
        "raw_pixels": pixels,
        "classifier_accuracy": accuracy,
    }
    write_json_atomic(config.artifacts_dir / "image_training.json", summary)
    return summary


def catalog_embeddings(prepared: PreparedData, config: Config, encoder: Any = None) -> tuple[pd.DataFrame, np.ndarray, Any]:
    """Rows of the catalog split and their image embeddings, computed as the index computes them."""
    from .image_encoder import ImageEncoder

    encoder = encoder or ImageEncoder.load(config.artifacts_dir)
    rows, images = prepared.part("catalog")
    return rows, encoder.embed(preprocess_batch(images)), encoder


def build_index(config: Config, verbose: bool = True) -> dict[str, Any]:
    """Embed the catalog split and write the FAISS index with its manifest."""
    from .image_encoder import EMBEDDING_FILE
    from .index import VectorIndex, model_fingerprint

    prepared = load_prepared(config.data_dir)
    rows, vectors, _ = catalog_embeddings(prepared, config)
    index = VectorIndex.build(
        vectors, rows["product_id"].tolist(), kind=config.index_type,
        model_fingerprint=model_fingerprint(config.artifacts_dir / EMBEDDING_FILE),
        catalog_sha256=prepared.manifest["catalog_sha256"],
    )
    index.save(config.artifacts_dir)
    write_json_atomic(config.artifacts_dir / "config.json", config.to_dict())
    return index.manifest


def train_text(config: Config, verbose: int = 1) -> dict[str, Any]:
    """Train the mapping network (sentence vectors -> image embeddings) and embed every product's text.

    Targets are the image embeddings of the catalog split; several texts per product.
    """
    from .search import TEXT_VECTORS_FILE, item_text
    from .text_data import training_texts
    from .text_encoder import SentenceEncoder, train_mapper

    prepared = load_prepared(config.data_dir)
    rows, image_vectors, _ = catalog_embeddings(prepared, config)
    sentence = SentenceEncoder(config.sentence_model)
    texts, groups = [], []
    for i, row in rows.iterrows():
        variants = training_texts(row)
        texts.extend(variants)
        groups.extend([i] * len(variants))
    groups_arr = np.asarray(groups)
    log.info("encoding %d training texts", len(texts))
    vectors = sentence.encode(texts, progress=bool(verbose))
    mapper = train_mapper(vectors, image_vectors[groups_arr], groups_arr, epochs=config.text_epochs, seed=config.seed, verbose=verbose)
    mapper.save(config.artifacts_dir)
    item_vectors = sentence.encode([item_text(r) for _, r in rows.iterrows()], progress=bool(verbose))
    from .io import save_npy_atomic

    save_npy_atomic(config.artifacts_dir / TEXT_VECTORS_FILE, item_vectors)
    history = mapper.history
    return {
        "texts": len(texts), "products": int(len(rows)), "epochs": len(history.get("loss", [])),
        "train_mse": history["loss"][-1] if history.get("loss") else None,
        "val_mse": min(history["val_loss"]) if history.get("val_loss") else None,
    }


# ---------------------------------------------------------------- one-command build

_IMAGE_FIELDS = (
    "seed", "image_input_size", "image_alpha", "image_weights", "image_backbone_layer", "embedding_dim",
    "triplet_margin", "classifier_weight", "image_epochs", "batch_classes", "batch_per_class", "learning_rate",
    "bn_momentum", "early_stopping_patience", "validation_fraction", "image_extra_training_data", "image_max_seconds",
)
_TEXT_FIELDS = ("seed", "sentence_model", "text_epochs")
STATE_FILE = "build_state.json"


def _fingerprint(*parts: Any) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def stage_inputs(config: Config) -> dict[str, str]:
    """A fingerprint of what each stage reads; a stage re-runs only when its fingerprint changes."""
    from .catalog import MANIFEST_FILE
    from .image_encoder import EMBEDDING_FILE
    from .index import model_fingerprint
    from .io import read_json

    data_manifest = config.data_dir / MANIFEST_FILE
    data = read_json(data_manifest) if data_manifest.is_file() else {}
    data_key = (data.get("catalog_sha256"), data.get("images_sha256"))
    model_path = config.artifacts_dir / EMBEDDING_FILE
    model_key = model_fingerprint(model_path) if model_path.is_file() else None
    cfg = config.to_dict()
    return {
        "train-image": _fingerprint(data_key, {k: cfg[k] for k in _IMAGE_FIELDS}),
        "index": _fingerprint(data_key, model_key, cfg["index_type"]),
        "train-text": _fingerprint(data_key, model_key, {k: cfg[k] for k in _TEXT_FIELDS}),
    }


def _prepared_matches(config: Config) -> bool:
    from .catalog import MANIFEST_FILE
    from .io import read_json

    path = config.data_dir / MANIFEST_FILE
    if not path.is_file():
        return False
    manifest = read_json(path)
    wanted = {"profile": config.profile, "seed": config.seed}
    if config.profile == "default":
        wanted.update(per_class=config.per_class, query_fraction=config.query_fraction)
    return all(manifest.get(k) == v for k, v in wanted.items())


def build(config: Config, force: bool = False, report: Any = print) -> dict[str, Any]:
    """prepare -> train-image -> index -> train-text -> evaluate, skipping stages whose inputs did not change."""
    from .io import read_json

    config.artifacts_dir.mkdir(parents=True, exist_ok=True)
    state_path = config.artifacts_dir / STATE_FILE
    state = read_json(state_path) if state_path.is_file() else {}
    timings: dict[str, float] = {}
    started = time.monotonic()

    def run(stage: str, fn: Any) -> Any:
        t0 = time.monotonic()
        report(f"[{stage}] running")
        result = fn()
        timings[stage] = round(time.monotonic() - t0, 1)
        report(f"[{stage}] done in {timings[stage]:.1f} s")
        return result

    ran_any = False
    if force or not _prepared_matches(config):
        run("prepare", lambda: prepare(config))
        ran_any = True
    else:
        report("[prepare] up to date")
    for stage, fn in (("train-image", lambda: train_image(config)), ("index", lambda: build_index(config)),
                      ("train-text", lambda: train_text(config))):
        key = stage_inputs(config)[stage]
        if not force and state.get(stage) == key:
            report(f"[{stage}] up to date")
            continue
        run(stage, fn)
        ran_any = True
        state[stage] = stage_inputs(config)[stage]  # after the stage: the model file may be new
        write_json_atomic(state_path, state)
    # The engine loads its settings (fusion weights included) from here: keep it current even
    # when every model stage was up to date.
    write_json_atomic(config.artifacts_dir / "config.json", config.to_dict())
    from .evaluate import METRICS_FILE, run_evaluation

    metrics_path = config.artifacts_dir / METRICS_FILE
    eval_key = _fingerprint(config.to_dict(), {k: v for k, v in state.items() if k != "evaluate"})
    if ran_any or force or not metrics_path.is_file() or state.get("evaluate") != eval_key:
        metrics = run("evaluate", lambda: run_evaluation(config))
        state["evaluate"] = eval_key
        write_json_atomic(state_path, state)
    else:
        report("[evaluate] up to date")
        metrics = read_json(metrics_path)
    timings["total"] = round(time.monotonic() - started, 1)
    return {"timings": timings, "metrics": metrics}
