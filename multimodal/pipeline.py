"""Stage functions shared by the CLI, the build and the tests: each reads and writes files."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .catalog import PreparedData, build_catalog, load_prepared, save_prepared
from .config import CATEGORIES, Config
from .data import load_fashion_mnist, make_subset
from .errors import ArtifactError, InvalidInputError
from .io import write_json_atomic
from .metrics import (
    mean_reciprocal_rank, precision_at_k, relevance_by_label, retrieval_summary, top_k_of_scores,
)
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


def train_image(config: Config, verbose: int = 1, retrain: bool = True, report: Any = None) -> dict[str, Any]:
    """Train the image encoder (or, with ``retrain=False``, install the shipped weights trained for
    this very catalog and settings), save it to ``config.artifacts_dir`` and measure it on the
    held-out queries.

    The measurement embeds catalog and queries in inference mode, exactly as the index will,
    and computes the raw-pixel baseline in the same run.
    """
    from .image_encoder import ImageEncoder, train_image_encoder
    from .shipped import install, shipped_weights

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
        encoder = train_image_encoder(x, y, config, verbose=verbose, max_seconds=config.image_max_seconds)
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
    """Top-k catalog rows as image search ranks them (nearest candidates, then category-aware), in chunks
    of queries so that the full profile (10,000 x 60,000) stays within memory."""
    from .image_ranking import category_aware_ranking, pixel_features, visual_similarity

    n_candidates = min(len(cat_emb), max(k, config.image_candidates))
    item_pixels = pixel_features(cat_x) if config.w_image_pixels else None
    out = []
    for start in range(0, len(q_emb), chunk):
        sims = q_emb[start : start + chunk] @ cat_emb.T
        rows = top_k_of_scores(sims, n_candidates)
        candidates = np.take_along_axis(sims, rows, axis=1)
        if item_pixels is not None:
            candidates = visual_similarity(candidates, rows, pixel_features(q_x[start : start + chunk]), item_pixels,
                                           config.w_image_pixels)
        ranking = category_aware_ranking(candidates, rows, q_probs[start : start + chunk], cat_y, config.w_image_category, k,
                                         hedge_min=config.image_hedge_min, hedge_depth=config.image_hedge_depth,
                                         exact_similarity=config.image_exact_similarity)
        out.append(ranking.rows)
    return np.concatenate(out) if out else np.zeros((0, k), np.int64)


def catalog_embeddings(prepared: PreparedData, config: Config, encoder: Any = None) -> tuple[pd.DataFrame, np.ndarray, Any]:
    """Rows of the catalog split and their image embeddings, computed as the index computes them."""
    from .image_encoder import ImageEncoder

    encoder = encoder or ImageEncoder.load(config.artifacts_dir)
    rows, images = prepared.part("catalog")
    return rows, encoder.embed(preprocess_batch(images)), encoder


def build_index(config: Config, verbose: bool = True) -> dict[str, Any]:
    """Embed the catalog split and write the vector store (``config.store``) with its manifest."""
    from .image_encoder import EMBEDDING_FILE
    from .index import model_fingerprint
    from .store import build_store

    prepared = load_prepared(config.data_dir)
    rows, vectors, _ = catalog_embeddings(prepared, config)
    index = build_store(
        config, vectors, rows["product_id"].tolist(), rows,
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
    rng = np.random.default_rng(config.seed + 17)
    for i, row in rows.iterrows():
        variants = training_texts(row, rng)
        texts.extend(variants)
        groups.extend([i] * len(variants))
    groups_arr = np.asarray(groups)
    unique, position = np.unique(np.asarray(texts, dtype=object), return_inverse=True)  # ~20% repeat
    log.info("encoding %d distinct training texts (%d in all)", len(unique), len(texts))
    vectors = sentence.encode(unique.tolist(), progress=bool(verbose))[position]
    labels = rows["label"].to_numpy()[groups_arr]
    mapper = train_mapper(vectors, image_vectors[groups_arr], groups_arr, epochs=config.text_epochs, seed=config.seed,
                          verbose=verbose, objective=config.text_objective, labels=labels,
                          temperature=config.text_temperature, item_weight=config.text_item_weight)
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
    "triplet_margin", "classifier_weight", "instance_weight", "instance_temperature", "image_epochs", "batch_classes", "batch_per_class", "learning_rate",
    "bn_momentum", "early_stopping_patience", "validation_fraction", "image_extra_training_data", "image_max_seconds",
    "image_flip_tta",
)
_TEXT_FIELDS = ("seed", "sentence_model", "text_epochs", "text_objective", "text_temperature", "text_item_weight")
STATE_FILE = "build_state.json"


def _fingerprint(*parts: Any) -> str:
    import json

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _training_sha256_of(path: Path) -> str | None:
    """``training_sha256`` of a table whose manifest predates that key (None without a table)."""
    from .catalog import training_sha256

    try:
        return training_sha256(pd.read_csv(path, keep_default_na=False, dtype=str))
    except (OSError, ValueError, KeyError):
        return None


def stage_inputs(config: Config) -> dict[str, str]:
    """A fingerprint of what each stage reads; a stage re-runs only when its fingerprint changes."""
    from .catalog import CATALOG_FILE, MANIFEST_FILE
    from .image_encoder import EMBEDDING_FILE
    from .index import model_fingerprint
    from .io import read_json

    data_manifest = config.data_dir / MANIFEST_FILE
    data = read_json(data_manifest) if data_manifest.is_file() else {}
    data_key = (data.get("catalog_sha256"), data.get("images_sha256"))
    # Image training reads the images and, from the table, ids, split and labels: its key is those
    # alone, so new titles or prices do not retrain it, nor do items added later (``add_items``).
    training = data.get("training_sha256") or _training_sha256_of(config.data_dir / CATALOG_FILE)
    image_key = (training, data.get("prepared_images_sha256", data_key[1]))
    model_path = config.artifacts_dir / EMBEDDING_FILE
    model_key = model_fingerprint(model_path) if model_path.is_file() else None
    cfg = config.to_dict()
    return {
        "train-image": _fingerprint(image_key, {k: cfg[k] for k in _IMAGE_FIELDS}),
        # The default store keeps the old key, so FAISS builds made before stores existed stay up to date.
        "index": _fingerprint(data_key, model_key, cfg["index_type"],
                              *(() if cfg["store"] == "faiss" else (cfg["store"], cfg["store_uri"], cfg["store_collection"]))),
        "train-text": _fingerprint(data_key, model_key, {k: cfg[k] for k in _TEXT_FIELDS}),
    }


def _from_shipped(config: Config) -> bool:
    from .io import read_json

    path = config.artifacts_dir / "image_training.json"
    try:
        return path.is_file() and read_json(path).get("source") == "shipped"
    except (OSError, ValueError):
        return False


def _settings(values: dict[str, Any]) -> dict[str, Any]:
    """Settings without the folders: a build copied or moved elsewhere is the same build."""
    return {k: v for k, v in values.items() if k not in ("data_dir", "artifacts_dir", "fashion_mnist_dir")}


def _prepared_matches(config: Config) -> bool:
    from .catalog import MANIFEST_FILE
    from .io import read_json

    path = config.data_dir / MANIFEST_FILE
    if not path.is_file():
        return False
    from .catalog import CATALOG_FILE, IMAGES_FILE
    from .errors import ArtifactError
    from .io import file_sha256

    try:
        manifest = read_json(path)
        intact = all(
            (config.data_dir / name).is_file() and file_sha256(config.data_dir / name) == manifest.get(key)
            for name, key in ((CATALOG_FILE, "catalog_sha256"), (IMAGES_FILE, "images_sha256"))
        )
    except ArtifactError:
        return False  # a damaged or half-written prepare: run it again (it is deterministic)
    wanted = {"profile": config.profile, "seed": config.seed}
    if config.profile == "default":
        wanted.update(per_class=config.per_class, query_fraction=config.query_fraction)
    return intact and all(manifest.get(k) == v for k, v in wanted.items())


_STAGE_OUTPUTS = {
    "train-image": ("image_embedding.keras", "image_classifier_head.keras", "image_config.json"),
    "index": ("image.index", "index_ids.json", "index_manifest.json"),
    "train-text": ("text_mapper.keras", "item_text_vectors.npy"),
}


def sync_catalog(prepared_dir: Path, staged_data: Path) -> bool:
    """Make the stage's catalog the prepared one plus every item added to the previous catalog.

    Nothing happens when the stage already holds this prepared catalog (with its added items).
    When ``prepare`` wrote a new one (another seed or size), the added items move over to it,
    so no command drops them. Returns True if the stage's catalog changed.

    Raises:
        InvalidInputError: an added item's product id is taken in the new prepared catalog.
    """
    from .errors import ArtifactError

    base = load_prepared(prepared_dir)
    try:
        old = load_prepared(staged_data) if (staged_data / "manifest.json").is_file() else None
    except ArtifactError as exc:
        log.warning("the previous catalog cannot be read (%s); starting from the prepared one", exc)
        old = None
    if old is not None and old.manifest.get("prepared_catalog_sha256", old.manifest["catalog_sha256"]) == base.manifest["catalog_sha256"]:
        return False
    catalog, images, manifest = base.catalog, base.images, dict(base.manifest)
    if old is not None and "source_split" in old.catalog:
        added = old.catalog[old.catalog["source_split"] == "added"]
        if len(added):
            clash = set(added["product_id"]) & set(base.catalog["product_id"])
            if clash:
                raise InvalidInputError(f"added products {sorted(clash)[:5]} clash with ids of the new prepared catalog")
            moved = added.assign(image_index=np.arange(len(base.images), len(base.images) + len(added)))
            images = np.concatenate([base.images, old.images[added["image_index"].to_numpy()]])
            catalog = pd.concat([base.catalog, moved], ignore_index=True)
            manifest.update(prepared_catalog_sha256=base.manifest["catalog_sha256"],
                            prepared_images_sha256=base.manifest["images_sha256"], added_items=len(added))
    save_prepared(staged_data, catalog, images, manifest)
    return True


def run_in_generation(config: Config, stage: Any, note: str = "") -> Any:
    """Run one stage function (``train_image``, ``build_index``, ``train_text``, ``run_evaluation``)
    on a staged copy of the live generation and commit the result as the next generation."""
    from . import generations

    with generations.transaction(config.artifacts_dir, legacy_data_dir=config.data_dir) as txn:
        staged = config.replace(artifacts_dir=txn.path, data_dir=txn.data_dir)
        sync_catalog(config.data_dir, staged.data_dir)
        result = stage(staged)
        txn.commit(note or getattr(stage, "__name__", "stage"))
    return result


def build(config: Config, force: bool = False, report: Any = print, retrain: bool = False) -> dict[str, Any]:
    """prepare -> train-image -> index -> train-text -> evaluate, skipping stages whose inputs did not change.

    Every stage after ``prepare`` writes into one staged generation that is committed at the
    end (see ``multimodal.generations``): a build killed anywhere leaves the previous engine
    state served, whole, and the next build completes the work. A stage whose output files
    are missing or damaged runs again, so ``build`` is also the repair command. The image encoder
    comes from the shipped weights when they were trained for this catalog and these settings
    (see ``multimodal.shipped``); ``retrain=True`` always trains from scratch.
    """
    from . import generations
    from .evaluate import METRICS_FILE, run_evaluation
    from .io import read_json

    config.artifacts_dir.mkdir(parents=True, exist_ok=True)
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
    with generations.transaction(config.artifacts_dir, legacy_data_dir=config.data_dir) as txn:
        if txn.dropped:
            report(f"[repair] {txn.seeded_from}: rebuilding from damaged {', '.join(txn.dropped)}")
        staged = config.replace(artifacts_dir=txn.path, data_dir=txn.data_dir)
        if sync_catalog(config.data_dir, staged.data_dir):
            ran_any = True
        state_path = staged.artifacts_dir / STATE_FILE
        state = read_json(state_path) if state_path.is_file() else {}
        for stage, fn in (("train-image", lambda: train_image(staged, retrain=retrain, report=report)),
                          ("index", lambda: build_index(staged)),
                          ("train-text", lambda: train_text(staged))):
            key = stage_inputs(staged)[stage]
            present = all((staged.artifacts_dir / name).is_file() for name in _STAGE_OUTPUTS[stage])
            shipped_but_retrain = retrain and stage == "train-image" and _from_shipped(staged)
            if not force and state.get(stage) == key and present and not shipped_but_retrain:
                report(f"[{stage}] up to date")
                continue
            run(stage, fn)
            ran_any = True
            state[stage] = stage_inputs(staged)[stage]  # after the stage: the model file may be new
            write_json_atomic(state_path, state)
        # The engine loads its settings (fusion weights included) from here: keep it current even
        # when every model stage was up to date. Paths are the real folders, not the stage's.
        config_path = staged.artifacts_dir / "config.json"
        old_settings = _settings(read_json(config_path)) if config_path.is_file() else None
        write_json_atomic(config_path, config.to_dict())
        metrics_path = staged.artifacts_dir / METRICS_FILE
        eval_key = _fingerprint(_settings(config.to_dict()), {k: v for k, v in state.items() if k != "evaluate"})
        if ran_any or force or not metrics_path.is_file() or state.get("evaluate") != eval_key:
            metrics = run("evaluate", lambda: run_evaluation(staged))
            state["evaluate"] = eval_key
            write_json_atomic(state_path, state)
            ran_any = True
        else:
            report("[evaluate] up to date")
            metrics = read_json(metrics_path)
        if ran_any or txn.base is None or txn.dropped or old_settings != _settings(config.to_dict()):
            generation = txn.commit("build")
            report(f"[commit] {generation.name} is live")
        else:
            report(f"[commit] nothing changed; {txn.seeded_from} stays live")
    timings["total"] = round(time.monotonic() - started, 1)
    return {"timings": timings, "metrics": metrics}


# ---------------------------------------------------------------- adding items without retraining

def add_items(
    config: Config,
    images: Sequence[Any],
    names: Sequence[str] | None = None,
    metadata: Sequence[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Add products to a built catalog: embed their images with the trained encoder, append them to
    the catalog, the FAISS index and the product-text vectors. Nothing is retrained.

    ``metadata[i]`` may fix any catalog field of item i (``category``, ``gender``, ``colour``,
    ``price``, ``title`` ... and ``product_id``); missing fields are drawn under the catalog's
    rules, and a missing category is the classifier's prediction. Every image and value is checked
    before anything is written.

    Idempotent: an image already added (same pixels after preprocessing) or a product id
    already added with that image is skipped and listed in ``attrs["skipped"]``, so re-running
    an interrupted or finished run adds nothing twice. All files change in one committed
    generation (``multimodal.generations``): a run killed at any point adds nothing, and
    re-running it completes it.

    Returns the added rows (with ``predicted_category`` and ``confidence``); ``attrs["skipped"]``
    holds ``(name, product_id)`` of the items already in the catalog, ``attrs["generation"]`` the
    generation committed (None if nothing was added).

    Raises:
        InvalidInputError: an image cannot be used, a value breaks the catalog's rules, an id is taken.
        ArtifactError: there is no consistent build to add to.
    """
    from . import generations
    from .catalog import make_product
    from .io import read_json, save_npy_atomic
    from .preprocess import preprocess, to_uint8
    from .search import TEXT_VECTORS_FILE, SearchEngine, item_text

    if len(images) == 0:
        raise InvalidInputError("no images to add")
    names = list(names) if names is not None else [f"image {i + 1}" for i in range(len(images))]
    metadata = [dict(m or {}) for m in metadata] if metadata is not None else [{} for _ in images]
    if not len(names) == len(metadata) == len(images):
        raise InvalidInputError(f"{len(images)} images but {len(names)} names and {len(metadata)} metadata rows")
    pixels = []
    for name, image in zip(names, images):
        try:
            pixels.append(to_uint8(preprocess(image)))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{name}: {exc}") from None

    with generations.transaction(config.artifacts_dir, legacy_data_dir=config.data_dir) as txn:
        if txn.base is None and not (txn.path / "image.index").is_file():
            raise ArtifactError(f"nothing built in {config.artifacts_dir} to add to; run `python -m multimodal build` first")
        staged_data = txn.data_dir
        # checks that models, index and catalog of the live generation agree
        engine = SearchEngine.load(txn.path, staged_data, store_uri=config.store_uri)
        prepared = load_prepared(staged_data)
        already = _added_by_pixels(prepared)
        ids_before = set(prepared.catalog["product_id"])
        skipped, keep = [], []
        for j, (name, given) in enumerate(zip(names, metadata)):
            digest = _pixel_key(pixels[j])
            wanted_id = str(given.get("product_id", "") or "").strip()
            if digest in already:
                existing = already[digest]
                if wanted_id and wanted_id != existing and wanted_id in ids_before:
                    raise InvalidInputError(f"{name}: product id {wanted_id!r} is already in the catalog")
                skipped.append((name, existing))
                continue
            if wanted_id and wanted_id in ids_before:
                raise InvalidInputError(f"{name}: product id {wanted_id!r} is already in the catalog with another image")
            already[digest] = wanted_id or f"#{j}"  # the same image twice in one call is added once
            keep.append(j)
        if not keep:
            log.info("all %d item(s) are already in the catalog; nothing to add", len(skipped))
            added = pd.DataFrame(columns=[*prepared.catalog.columns, "file", "predicted_category", "confidence"])
            added.attrs.update(skipped=skipped, generation=None)
            return added

        new_images = np.stack([pixels[j] for j in keep])
        vectors, probs = engine.image_encoder.encode(preprocess_batch(new_images))
        taken = set(ids_before)
        serial = len(prepared.catalog)
        rng = np.random.default_rng([config.seed, len(prepared.catalog)])
        rows = []
        for n, j in enumerate(keep):
            name, given = names[j], dict(metadata[j])
            label = _category_label(given.pop("category", None), int(np.argmax(probs[n])), name)
            product_id = str(given.pop("product_id", "") or "").strip()
            if not product_id:
                while f"NEW-{serial:06d}" in taken:
                    serial += 1
                product_id = f"NEW-{serial:06d}"
            if product_id in taken:
                raise InvalidInputError(f"{name}: product id {product_id!r} is given twice")
            taken.add(product_id)
            try:
                product = make_product(label, rng, given)
            except InvalidInputError as exc:
                raise InvalidInputError(f"{name}: {exc}") from None
            rows.append({
                "product_id": product_id, "image_index": len(prepared.images) + n, "source_split": "added",
                "source_index": -1, "split": "catalog", "label": label, **product,
            })
        added = pd.DataFrame(rows, columns=list(prepared.catalog.columns))
        text_vectors = engine.sentence_encoder.encode([item_text(r) for r in rows])

        # Everything below writes into the staged generation; nothing is live until the commit.
        keys_before = stage_inputs(engine.config)
        manifest = dict(prepared.manifest)
        manifest.setdefault("prepared_catalog_sha256", manifest["catalog_sha256"])
        manifest.setdefault("prepared_images_sha256", manifest["images_sha256"])
        manifest["added_items"] = int(manifest.get("added_items", 0)) + len(added)
        manifest = save_prepared(
            staged_data, pd.concat([prepared.catalog, added], ignore_index=True),
            np.concatenate([prepared.images, new_images]), manifest,
        )
        engine.index.add(vectors, added["product_id"].tolist(), added)
        engine.index.manifest.update(catalog_sha256=manifest["catalog_sha256"])
        engine.index.save(txn.path)
        save_npy_atomic(txn.path / TEXT_VECTORS_FILE, np.concatenate([engine.text_vectors, text_vectors]))
        state_path = txn.path / STATE_FILE
        state = read_json(state_path) if state_path.is_file() else {}
        if state:
            keys_after = stage_inputs(engine.config)
            for stage in ("index", "train-text"):
                if state.get(stage) == keys_before[stage]:  # was current before: the addition keeps it current
                    state[stage] = keys_after[stage]
            write_json_atomic(state_path, state)
        generation = txn.commit(f"add-items: {len(added)} item(s)")

    added["file"] = [names[j] for j in keep]
    added["predicted_category"] = [CATEGORIES[int(i)] for i in np.argmax(probs, axis=1)]
    added["confidence"] = probs.max(axis=1).astype(float)
    added.attrs.update(skipped=skipped, generation=generation.name)
    return added


def _pixel_key(pixels: np.ndarray) -> str:
    """The identity of an added image: sha256 of its preprocessed 28x28 pixels."""
    return hashlib.sha256(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).hexdigest()


def _added_by_pixels(prepared: PreparedData) -> dict[str, str]:
    """Product id of every item added so far, by the hash of its image."""
    if "source_split" not in prepared.catalog:
        return {}
    added = prepared.catalog[prepared.catalog["source_split"] == "added"]
    return {_pixel_key(prepared.images[int(i)]): str(pid) for i, pid in zip(added["image_index"], added["product_id"])}


def _category_label(category: Any, predicted: int, name: str) -> int:
    if category is None or (isinstance(category, float) and np.isnan(category)) or str(category).strip() == "":
        return predicted
    wanted = str(category).strip().lower()
    for label, known in enumerate(CATEGORIES):
        if wanted == known.lower():
            return label
    raise InvalidInputError(f"{name}: unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
