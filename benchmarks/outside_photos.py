"""Product photos from outside a catalog: is a product of a fitting category found first?

    python benchmarks/outside_photos.py --photos DIR --sheet photos.csv [--artifacts-dir A] [--data-dir D] [--smoke]

The sheet names each photo (``file``), the catalog category it shows (``category``) and, optionally,
other categories that fit it too (``fitting``, separated by ``|``: a sneaker is Casual Shoes or
Sports Shoes). Photos that are copies of a catalog shot (product print correlation >= 0.98: many
public repositories carry a catalog's photos at other sizes; the best embedding cosine is reported
beside it) are set aside and named, never scored. Reports, per category and overall, how often the first result
of the served ranking has a fitting category, beside raw pixels (correlation after the same
preprocessing) and the classifier's own reading. Writes benchmarks/results/outside_photos.json
(``--out``); ``--smoke`` makes six photos from the catalog's held-out products and writes nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

COPY_PRINT = 0.98


def read_sheet(path: Path) -> list[dict[str, object]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"file", "category"} <= set(rows[0]):
        raise SystemExit(f"error: {path} needs the columns file and category")
    return [{"file": r["file"], "category": r["category"],
             "fitting": {r["category"], *(c.strip() for c in (r.get("fitting") or "").split("|") if c.strip())}}
            for r in rows]


def smoke_photos(engine, folder: Path) -> Path:
    """Six of the catalog's held-out products re-shot as photos, and their sheet."""
    from multimodal.catalog.images import render_product_photo
    from multimodal.catalog.prepared import load_prepared
    from multimodal.evaluation.folder_eval import reshoot_photo

    prepared = load_prepared(engine.config.data_dir)
    rows, images = prepared.part("query")
    rng = np.random.default_rng(0)
    lines = ["file,category"]
    for i in range(min(6, len(rows))):
        shot = reshoot_photo(images[i], rng) if engine.roles.is_folder else render_product_photo(images[i], rng, 200)
        (folder / f"p{i}.jpg").write_bytes(shot)
        lines.append(f"p{i}.jpg,{rows['category'].iloc[i]}")
    (folder / "photos.csv").write_text("\n".join(lines) + "\n")
    return folder / "photos.csv"


def measure(engine, photos: Path, sheet: list[dict[str, object]]) -> dict[str, object]:
    from multimodal.catalog.images import preprocess, preprocess_batch, preprocess_colour
    from multimodal.search.image_ranking import correlation_vectors

    colour = engine.roles.is_folder
    inputs = np.stack([preprocess_colour(photos / str(r["file"]), engine.roles.image_size) if colour
                       else preprocess(photos / str(r["file"])) for r in sheet])
    vectors, probabilities = engine.image_encoder.encode(inputs)
    cosine = (vectors @ engine.item_vectors.T).max(axis=1)
    prints = np.zeros(len(sheet))
    if colour:
        from multimodal.search.same_product import product_prints

        prints = (product_prints(inputs) @ engine.product_prints.T).max(axis=1)
    copies = prints >= COPY_PRINT
    started = time.monotonic()
    served = engine.rank_image(vectors, probabilities, 10, inputs=inputs).rows[:, 0]
    seconds = time.monotonic() - started
    pixels = np.argmax(correlation_vectors(inputs) @ correlation_vectors(preprocess_batch(engine.images)).T, axis=1)
    categories = engine.catalog["category"].to_numpy()
    names = engine.categories

    def fits(found: np.ndarray, i: int) -> bool:
        return str(found[i]) in sheet[i]["fitting"]  # type: ignore[operator]

    readings = {"served_ranking": categories[served], "raw_pixels": categories[pixels],
                "classifier": np.array([names[int(c)] for c in np.argmax(probabilities, axis=1)])}
    kept = [i for i in range(len(sheet)) if not copies[i]]
    per_category: dict[str, dict[str, object]] = {}
    for i in kept:
        entry = per_category.setdefault(str(sheet[i]["category"]), {"photos": 0, **{k: 0 for k in readings}})
        entry["photos"] += 1  # type: ignore[operator]
        for name, found in readings.items():
            entry[name] += int(fits(found, i))  # type: ignore[operator]
    overall = {name: float(np.mean([fits(found, i) for i in kept])) if kept else float("nan") for name, found in readings.items()}
    return {
        "photos": len(sheet), "scored": len(kept),
        "set_aside_as_catalog_copies": [{"file": sheet[i]["file"], "print": round(float(prints[i]), 3),
                                         "cosine": round(float(cosine[i]), 3)} for i in np.flatnonzero(copies)],
        "closest_prints": sorted((round(float(p), 3) for p in prints), reverse=True)[:5],
        "first_result_fits": overall, "per_category": dict(sorted(per_category.items())),
        "firsts": [{"file": sheet[i]["file"], "category": sheet[i]["category"], "served": str(readings["served_ranking"][i]),
                    "raw_pixels": str(readings["raw_pixels"][i]), "classifier": str(readings["classifier"][i])} for i in kept],
        "ranking_ms_per_photo": round(1000 * seconds / max(len(sheet), 1), 2),
    }


def table_rows(result: dict[str, object]) -> list[dict[str, object]]:
    """One row per category and one for all photos: photos scored, and how many got a fitting first result."""
    readings = ("served_ranking", "raw_pixels", "classifier")
    rows = [{"catalog": result["catalog"], "category": name, **entry} for name, entry in result["per_category"].items()]  # type: ignore[union-attr]
    total = {"catalog": result["catalog"], "category": "all", "photos": result["scored"]}
    total.update({name: f"{sum(int(r[name]) for r in rows)} ({result['first_result_fits'][name]:.3f})" for name in readings})  # type: ignore[index]
    return [*rows, total]


def write(out: Path, result: dict[str, object]) -> None:
    """``out`` holds one run per catalog: this catalog's replaces its last, the others' stay."""
    runs = json.loads(out.read_text()).get("catalogs", {}) if out.is_file() else {}
    runs[str(result["catalog"])] = result
    rows = [row for run in runs.values() for row in table_rows(run)]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"created_at": result["created_at"], "machine": {"cpus": os.cpu_count()}, "results": rows,
                               "catalogs": runs}, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, help="folder of the photos")
    parser.add_argument("--sheet", type=Path, help="CSV: file, category[, fitting]")
    parser.add_argument("--artifacts-dir", type=Path, default=Path("artifacts"))
    parser.add_argument("--data-dir", type=Path, default=None, help="default: the one the build used")
    parser.add_argument("--smoke", action="store_true", help="six photos made from held-out products, nothing written")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/outside_photos.json)")
    args = parser.parse_args()

    from multimodal import SearchEngine
    from multimodal.errors import MultimodalError

    try:
        engine = SearchEngine.load(args.artifacts_dir, args.data_dir, text=False)
        with tempfile.TemporaryDirectory() as scratch:
            if args.smoke:
                args.sheet, args.photos = smoke_photos(engine, Path(scratch)), Path(scratch)
            elif args.photos is None or args.sheet is None:
                parser.error("--photos and --sheet are needed (or --smoke)")
            result = measure(engine, args.photos, read_sheet(args.sheet))
    except MultimodalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result.update(catalog=engine.roles.name, generation=engine.generation, created_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  sheet=str(args.sheet.name) if not args.smoke else "smoke")
    out = args.out or (None if args.smoke else Path(__file__).resolve().parent / "results" / "outside_photos.json")
    if out is not None:
        write(out, result)
    fit = result["first_result_fits"]
    print(f"{result['scored']} of {result['photos']} photos scored ({len(result['set_aside_as_catalog_copies'])} set aside as "
          f"catalog copies); first result of a fitting category: served {fit['served_ranking']:.3f}, "
          f"raw pixels {fit['raw_pixels']:.3f}, classifier {fit['classifier']:.3f}")
    for name, entry in result["per_category"].items():
        print(f"  {name:16s} {entry['served_ranking']} of {entry['photos']} (raw pixels {entry['raw_pixels']}, "
              f"classifier {entry['classifier']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
