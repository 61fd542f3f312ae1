"""The evaluation of a catalog brought as a folder of photos and a sheet: held-out products as
queries through the ranking the engine serves, beside the naive baselines, for the category and
for every other attribute of the sheet; finding a product again from a re-shot photo."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np

from multimodal.catalog.images import preprocess_batch, preprocess_colour
from multimodal.catalog.prepared import load_prepared
from multimodal.config import Config
from multimodal.metrics import mean_reciprocal_rank, precision_at_k, relevance_by_label, top_k_of_scores
from multimodal.search.engine import SearchEngine
from multimodal.search.image_ranking import correlation_vectors

TOP_KS = (1, 5, 10)


def _rank_metrics(ranked: np.ndarray, gallery: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    rel = relevance_by_label(ranked, gallery, queries)
    return {"p_at_1": precision_at_k(rel, 1), "p_at_10": precision_at_k(rel, 10), "mrr": mean_reciprocal_rank(rel),
            "hit_at_5": float(rel[:, :5].any(axis=1).mean()) if len(rel) else float("nan")}


def _per_category(ranked: np.ndarray, gallery: np.ndarray, queries: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    rel = relevance_by_label(ranked, gallery, queries)
    out = {}
    for label in np.unique(queries):
        rows = queries == label
        out[names[int(label)]] = {"queries": int(rows.sum()), "p_at_1": precision_at_k(rel[rows], 1),
                                  "p_at_10": precision_at_k(rel[rows], 10)}
    return out


def _codes(values: np.ndarray) -> np.ndarray:
    """Attribute values as integer codes (empty cells never count as a match)."""
    _, codes = np.unique(values.astype(str), return_inverse=True)
    codes = codes.astype(np.int64)
    codes[np.asarray([str(v).strip() in ("", "nan") for v in values])] = -1
    return codes


def _attribute_metrics(ranked: dict[str, np.ndarray], catalog: Any, queries: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    """For each attribute column: the first result shares the query's value (P@1), one of the first 5 does."""
    out: dict[str, Any] = {}
    for column in columns:
        both = np.concatenate([catalog[column].to_numpy(), queries[column].to_numpy()])
        codes = _codes(both)
        gallery, asked = codes[: len(catalog)], codes[len(catalog):]
        keep = asked >= 0
        out[column] = {name: {"p_at_1": float(np.mean(gallery[rows[keep, 0]] == asked[keep])),
                              "same_in_5": float(np.mean((gallery[rows[keep, :5]] == asked[keep, None]).any(axis=1)))}
                       for name, rows in ranked.items()}
    return out


def reshoot_photo(image: np.ndarray, rng: np.random.Generator) -> bytes:
    """A catalog photo as a shopper might photograph the product again, drawn independently of the
    training views: darker or brighter, tinted, off-centre, rescaled, on another background colour,
    slightly rotated, JPEG-compressed, at another resolution. Returns the JPEG bytes."""
    from PIL import Image

    rgb = np.asarray(image, np.float32) / 255.0
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    item = np.abs(rgb - np.median(border, axis=0)).max(axis=-1) > 0.1
    background = rng.uniform(0.7, 0.97, 3).astype(np.float32)
    scene = np.where(item[..., None], rgb * rng.uniform(0.9, 1.1, 3).astype(np.float32), background)
    size = int(rng.integers(96, 200))
    pil = Image.fromarray((np.clip(scene, 0, 1) * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC)
    pil = pil.rotate(float(rng.uniform(-8, 8)), resample=Image.Resampling.BICUBIC,
                     fillcolor=tuple(int(c * 255) for c in background))
    canvas = Image.new("RGB", (int(size * rng.uniform(1.0, 1.35)), int(size * rng.uniform(1.0, 1.35))),
                       tuple(int(c * 255) for c in background))
    canvas.paste(pil, (int(rng.integers(0, canvas.width - size + 1)), int(rng.integers(0, canvas.height - size + 1))))
    shot = np.asarray(canvas, np.float32) / 255.0 * float(rng.uniform(0.55, 1.0))
    buffer = io.BytesIO()
    Image.fromarray((np.clip(shot, 0, 1) * 255).astype(np.uint8)).save(buffer, format="JPEG", quality=int(rng.integers(35, 80)))
    return buffer.getvalue()


def find_this_product(engine: SearchEngine, n: int, seed: int, k: int = 10, gallery: np.ndarray | None = None) -> dict[str, Any]:
    """Re-shot photos of ``n`` catalog products: how often the product itself comes first / in the top 10.
    ``gallery``: the catalog's ``correlation_vectors`` when the caller has them already."""
    rng = np.random.default_rng(seed + 101)
    targets = rng.choice(len(engine.catalog), size=min(n, len(engine.catalog)), replace=False)
    photos = np.stack([preprocess_colour(reshoot_photo(engine.images[i], rng), engine.roles.image_size) for i in targets])
    vectors, probs = engine.image_encoder.encode(photos)
    served = engine.rank_image(vectors, probs, k, inputs=photos).rows
    nearest = top_k_of_scores(vectors @ engine.item_vectors.T, k)
    gallery = correlation_vectors(preprocess_batch(engine.images)) if gallery is None else gallery
    pixels = top_k_of_scores(correlation_vectors(photos) @ gallery.T, k)

    def recall(ranked: np.ndarray) -> dict[str, float]:
        hit = ranked == targets[:, None]
        return {"r_at_1": float(hit[:, 0].mean()), "r_at_10": float(hit.any(axis=1).mean())}

    return {"items": int(len(targets)), "shipped_ranking": recall(served), "embedding_only": recall(nearest),
            "pixel_correlation": recall(pixels)}


def run_folder_evaluation(config: Config, engine: SearchEngine, k: int = 10) -> dict[str, Any]:
    """Every image figure of a folder catalog; ``metrics.json`` holds them under the same keys as
    Fashion-MNIST's where the figure is the same."""
    prepared = load_prepared(engine.config.data_dir)
    queries = prepared.catalog[prepared.catalog["split"] == "query"].reset_index(drop=True)
    q_x = preprocess_batch(prepared.images[(prepared.catalog["split"] == "query").to_numpy()])
    q_y = queries["label"].to_numpy()
    cat_y = engine._labels
    started = time.monotonic()
    q_emb, q_probs = engine.image_encoder.encode(q_x)
    served = engine.rank_image(q_emb, q_probs, k, inputs=q_x).rows
    nearest = top_k_of_scores(q_emb @ engine.item_vectors.T, k)
    gallery = correlation_vectors(preprocess_batch(engine.images))  # the naive baseline's catalog, for both figures
    pixels = top_k_of_scores(correlation_vectors(q_x) @ gallery.T, k)
    ranked = {"shipped_ranking": served, "embedding_only": nearest, "raw_pixels": pixels}
    attributes = tuple(c for c in engine.roles.attributes if c in queries.columns and c != engine.roles.category_column)
    self_first = top_k_of_scores(engine.item_vectors @ engine.item_vectors.T, 1)[:, 0] == np.arange(len(engine.catalog))
    return {
        "catalog": engine.roles.name,
        "category_column": engine.roles.category_column,
        "queries": int(len(q_y)), "catalog_items": int(len(cat_y)),
        "category": {name: _rank_metrics(rows, cat_y, q_y) for name, rows in ranked.items()},
        "per_category": _per_category(served, cat_y, q_y, engine.categories),
        "attributes": _attribute_metrics(ranked, engine.catalog, queries, attributes),
        "classifier_accuracy": float(np.mean(np.argmax(q_probs, axis=1) == q_y)) if len(q_y) else float("nan"),
        "find_this_product": find_this_product(engine, config.eval_upload_items, config.seed, k, gallery),
        "own_image_first": float(self_first.mean()),
        "seconds": round(time.monotonic() - started, 1),
    }
