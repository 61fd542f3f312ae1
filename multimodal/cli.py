"""Command line: ``python -m multimodal <command>``; each flag maps onto a ``Config`` field."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from multimodal.cli_catalog import _catalog_flags, _folder_schema, _int_at_least, _prepare_folder
from multimodal.config import PROFILES, STORES, Config
from multimodal.errors import MultimodalError

_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=PROFILES, default="default", help="default: 500 per class; full: all 70,000 images")
    parser.add_argument("--seed", type=_non_negative_int, default=Config.seed, help="seed for the subset, split, catalog and training")
    parser.add_argument("--per-class", type=_positive_int, default=Config.per_class, help="images per class (default profile)")
    parser.add_argument("--query-fraction", type=_fraction, default=Config.query_fraction, help="share held out as queries")
    parser.add_argument("--data-dir", type=Path, default=Config.data_dir)
    parser.add_argument("--artifacts-dir", type=Path, default=Config.artifacts_dir)
    parser.add_argument("--fashion-mnist-dir", type=Path, default=None, help="folder with the four IDX .gz files")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m multimodal", description="Multimodal fashion search: build, evaluate, search.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)
    prepare = sub.add_parser("prepare", help="write the catalog and its split to the data folder")
    _common(prepare)
    _catalog_flags(prepare)
    train = sub.add_parser("train-image", help="train the image encoder and classifier; save to artifacts/")
    _common(train)
    _image_flags(train)
    text = sub.add_parser("train-text", help="train the text mapping network and embed product texts")
    _common(text)
    index = sub.add_parser("index", help="embed the catalog and write the FAISS index")
    _common(index)
    index.add_argument("--index-type", choices=("flat", "hnsw", "ivf"), default="flat", help="exact (flat) or approximate")
    _store_flags(index)
    build = sub.add_parser("build", help="prepare, train-image, index, train-text and evaluate; skips what is up to date")
    _common(build)
    _image_flags(build)
    build.add_argument("--index-type", choices=("flat", "hnsw", "ivf"), default="flat")
    _store_flags(build)
    build.add_argument("--force", action="store_true", help="re-run every stage")
    build.add_argument("--retrain", action="store_true",
                       help="train the image encoder from scratch instead of using the shipped weights")
    ship = sub.add_parser("ship-weights", help="ship the served image encoder, text mapper and figures (multimodal/models/shipped/)")
    _common(ship)
    _image_flags(ship)
    evaluate = sub.add_parser("evaluate", help="measure search on the held-out queries; writes artifacts/metrics.json")
    _common(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print every figure as JSON")
    evaluate.add_argument("--text-only", action="store_true",
                          help="only the text figures (held-out queries, shopper-language set, query understanding); "
                               "updates the text part of metrics.json")
    add = sub.add_parser("add-items", help="add products to the built catalog and index without retraining")
    add.add_argument("images", nargs="+", type=Path, help="image files, or folders of them")
    add.add_argument("--metadata", type=Path,
                     help="CSV with a 'file' column and any catalog field (category, gender, colour, price, title ...)")
    add.add_argument("--artifacts-dir", type=Path, default=Config.artifacts_dir)
    add.add_argument("--data-dir", type=Path, default=Config.data_dir)
    _store_flags(add, kind=False)
    search = sub.add_parser("search", help="search the catalog by text or image")
    search.add_argument("--artifacts-dir", type=Path, default=Config.artifacts_dir)
    search.add_argument("--data-dir", type=Path, default=None)
    what = search.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="a shopper's query, e.g. 'black trainers for men'")
    what.add_argument("--image", type=Path, help="path of an image file")
    search.add_argument("--k", type=_positive_int, default=10)
    search.add_argument("--gender", default="all", help="all, men, women or unisex")
    search.add_argument("--facet", type=_facet, action="append", default=[], metavar="COLUMN=VALUE[,VALUE]",
                        help="narrow by a column's values, e.g. colour=black,brown (repeatable: every column must match)")
    _store_flags(search, default=None)
    api = sub.add_parser("api", help="serve the REST API (FastAPI + uvicorn); OpenAPI docs at /docs")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    api.add_argument("--port", type=_positive_int, default=8000)
    api.add_argument("--workers", type=_positive_int, default=1, help="uvicorn worker processes, each with its own engine")
    api.add_argument("--artifacts-dir", type=Path, default=Config.artifacts_dir)
    api.add_argument("--data-dir", type=Path, default=None)
    _store_flags(api, default=None)
    results = sub.add_parser("results", help="write docs/results.md from the served metrics.json and the benchmark JSON")
    results.add_argument("--artifacts-dir", type=Path, default=Config.artifacts_dir)
    results.add_argument("--catalog", action="append", default=[], metavar="NAME=ARTIFACTS_DIR",
                         help="another build to report beside the default one (repeatable)")
    results.add_argument("--benchmarks", type=Path, default=Path("benchmarks/results"), help="folder of benchmark JSON")
    results.add_argument("--out", type=Path, default=Path("docs/results.md"))
    milvus = sub.add_parser("milvus-server", help="run a Milvus Lite gRPC server (a local stand-in for a Milvus cluster)")
    milvus.add_argument("--data-dir", type=Path, default=Path("artifacts/milvus-server"), help="where it keeps its collections")
    milvus.add_argument("--host", default="127.0.0.1")
    milvus.add_argument("--port", type=_positive_int, default=19530)
    return parser




def _store_flags(parser: argparse.ArgumentParser, default: str | None = "faiss", kind: bool = True) -> None:
    if kind:
        parser.add_argument("--store", choices=STORES, default=default,
                            help="where vectors live: faiss (embedded, default) or milvus"
                            + ("" if default else " (default: what the build used)"))
    parser.add_argument("--store-uri", default=None,
                        help="Milvus: a Milvus Lite folder (default artifacts/milvus.db) or a server such as http://host:19530")


def _image_flags(parser: argparse.ArgumentParser) -> None:
    defaults = Config()
    parser.add_argument("--epochs", type=_positive_int, default=defaults.image_epochs)
    parser.add_argument("--input-size", type=_positive_int, default=defaults.image_input_size, help="MobileNetV2 input side (>= 32)")
    parser.add_argument("--alpha", type=float, default=defaults.image_alpha, help="MobileNetV2 width multiplier")
    parser.add_argument("--image-weights", default="none", help="'none' (train from scratch) or 'imagenet'")
    parser.add_argument("--margin", type=float, default=defaults.triplet_margin, help="triplet loss margin")
    parser.add_argument("--max-seconds", type=float, default=None, help="stop training after this many seconds")
    parser.add_argument(
        "--extra-training-data", action=argparse.BooleanOptionalAction, default=defaults.image_extra_training_data,
        help="also train on Fashion-MNIST images outside the catalog subset (never the held-out queries)",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    extra: dict = {}
    if getattr(args, "fashion_mnist_dir", None):
        extra["fashion_mnist_dir"] = args.fashion_mnist_dir
    if getattr(args, "index_type", None):
        extra["index_type"] = args.index_type
    if getattr(args, "store", None):
        extra["store"] = args.store
    if getattr(args, "store_uri", None):
        extra["store_uri"] = args.store_uri
    if hasattr(args, "epochs"):
        weights = None if str(args.image_weights).lower() in ("none", "") else args.image_weights
        extra.update(
            image_epochs=args.epochs, image_input_size=args.input_size, image_alpha=args.alpha,
            image_weights=weights, triplet_margin=args.margin, image_max_seconds=args.max_seconds,
            image_extra_training_data=args.extra_training_data,
        )
    return Config(
        profile=args.profile, seed=args.seed, per_class=args.per_class, query_fraction=args.query_fraction,
        data_dir=args.data_dir, artifacts_dir=args.artifacts_dir, **extra,
    )






def cmd_prepare(args: argparse.Namespace) -> int:
    from multimodal.build import prepare, summary_table
    from multimodal.catalog.prepared import load_prepared

    schema = _folder_schema(args)
    if schema is not None:
        return _prepare_folder(schema, args.data_dir)
    config = config_from_args(args)
    print(f"prepare: profile={config.profile} seed={config.seed} -> {config.data_dir}/", flush=True)
    manifest = prepare(config)
    catalog = load_prepared(config.data_dir).catalog
    print(f"source: {manifest['source']}")
    print(summary_table(catalog).to_string())
    print(f"wrote {manifest['rows']:,} products in {manifest['seconds']:.1f} s")
    return 0


def cmd_train_image(args: argparse.Namespace) -> int:
    from multimodal.build import run_in_generation, train_image

    config = config_from_args(args)
    print(f"train-image: MobileNetV2 alpha={config.image_alpha} input={config.image_input_size} "
          f"weights={config.image_weights or 'none'} epochs<={config.image_epochs}", flush=True)
    s = run_in_generation(config, train_image)
    learned, pixels = s["learned"], s["raw_pixels"]
    print(f"trained on {s['train_images']:,} images for {s['epochs']} epochs in {s['train_seconds']:.0f} s")
    print(f"held-out queries: {s['queries']:,} against a catalog of {s['catalog']:,}")
    print(f"  {'':12} {'P@1':>6} {'P@10':>6} {'hit@5':>6} {'MRR':>6}")
    for name, r in (("learned", learned), ("raw pixels", pixels)):
        print(f"  {name:12} {r['p_at_1']:6.3f} {r['p_at_10']:6.3f} {r['hit_at_5']:6.3f} {r['mrr']:6.3f}")
    print(f"classifier accuracy: {s['classifier_accuracy']:.3f}")
    searched = s["image_search"]
    print(f"image search as shipped (+ category-aware ranking): P@1 {searched['p_at_1']:.3f}, "
          f"P@10 {searched['p_at_10']:.3f}, MRR {searched['mrr']:.3f}")
    print(f"saved to {config.artifacts_dir}/")
    return 0


def cmd_train_text(args: argparse.Namespace) -> int:
    from multimodal.build import run_in_generation, train_text

    config = config_from_args(args)
    print("train-text: encoding product texts with the sentence model, then fitting the mapping network", flush=True)
    s = run_in_generation(config, train_text)
    print(f"trained on {s['texts']:,} texts of {s['products']:,} products for {s['epochs']} epochs; "
          f"validation MSE {s['val_mse']:.4f}")
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from multimodal.build import build_index, run_in_generation

    config = config_from_args(args)
    manifest = run_in_generation(config, build_index)
    print(f"indexed {manifest['items']:,} items ({manifest['dim']}-d, {manifest['index_type']}) in {config.artifacts_dir}/")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from multimodal.build import build

    config = config_from_args(args)
    result = build(config, force=args.force, retrain=args.retrain)
    from multimodal.evaluation.report import metrics_report

    print(metrics_report(result["metrics"]))
    print("stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in result["timings"].items()))
    return 0


def cmd_ship_weights(args: argparse.Namespace) -> int:
    from multimodal import generations
    from multimodal.build.shipped import ship_build

    config = config_from_args(args)
    live = generations.current(config.artifacts_dir)
    if live is not None:  # the files of the generation that is served
        config = config.replace(artifacts_dir=live.path, data_dir=live.data_dir)
    for line in ship_build(config):
        print(line)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from multimodal.build import run_in_generation
    from multimodal.evaluation.evaluate import run_evaluation, run_text_only
    from multimodal.evaluation.report import metrics_report, text_report

    config = config_from_args(args)
    if args.text_only:
        text = run_in_generation(config, run_text_only, note="evaluate --text-only")
        print(json.dumps(text, indent=2) if args.json else text_report(text))
        return 0
    metrics = run_in_generation(config, run_evaluation)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(metrics_report(metrics))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from multimodal.search.engine import SearchEngine

    engine = SearchEngine.load(args.artifacts_dir, args.data_dir, text=args.text is not None,
                               store=args.store, store_uri=args.store_uri)
    facets = {c: [v for column, values in args.facet if column == c for v in values] for c, _ in args.facet}
    if args.text is not None:
        result = engine.search_text(args.text, k=args.k, gender=args.gender, facets=facets)
        understood = [*result.chips, *(h["label"] for h in result.hint_items)]
        print("understood: " + (", ".join(understood) or "nothing explicit"))  # soft words too, as the app and API show them
        if result.relaxed:
            print(result.relaxed)
        columns = ["rank", "product_id", "category", "gender", "colour", "material", "price", "match", "image_score",
                   "text_score", "bm25_score", "title"]
        rows = result.rows
        if rows["misses"].map(len).any():  # what each close match (or every result, when relaxed) lacks
            rows = rows.assign(lacks=rows["misses"].map(", ".join))
            columns.append("lacks")
    else:
        result = engine.search_image(args.image, k=args.k, gender=args.gender, facets=facets)
        print(f"predicted category: {result.predicted_category} ({result.confidence:.0%})")
        columns = ["rank", "product_id", "category", "gender", "colour", "price", "match", "title"]
        rows = result.rows
    if rows.empty:
        print("no products match these filters")
    else:
        shown = _shown_columns(columns, engine.roles, rows.columns)
        print(rows[shown].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def _facet(text: str) -> tuple[str, list[str]]:
    """An argparse type: ``COLUMN=VALUE[,VALUE]`` as (column, values)."""
    column, _, values = text.partition("=")
    chosen = [v.strip() for v in values.split(",") if v.strip()]
    if not column.strip() or not chosen:
        raise argparse.ArgumentTypeError(f"expected COLUMN=VALUE[,VALUE], got {text!r}")
    return column.strip(), chosen


def _shown_columns(columns: list[str], roles: Any, present: Sequence[str]) -> list[str]:
    """Fashion-MNIST's column names read as the catalog's own (a folder catalog's sheet names its
    category, colour and title columns its own way); columns the catalog lacks are left out."""
    named = [roles.column(c) or c for c in columns]
    return [c for c in dict.fromkeys(named) if c in present]


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def _image_files(paths: Sequence[Path]) -> list[Path]:
    """The files given, with each folder replaced by the image files in it (sorted)."""
    from multimodal.errors import InvalidInputError

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InvalidInputError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {path}")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInputError(f"no such file or folder: {path}")
    return files


def _metadata_rows(path: Path | None, files: Sequence[Path]) -> list[dict]:
    """One dict per file from a CSV keyed by a 'file' column (a file name or a path); {} where absent."""
    import pandas as pd

    from multimodal.errors import InvalidInputError

    if path is None:
        return [{} for _ in files]
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the metadata CSV {path}: {exc}") from None
    if "file" not in table.columns:
        raise InvalidInputError(f"{path} needs a 'file' column naming each image")
    by_name = {}
    for record in table.to_dict("records"):
        key = Path(record.pop("file")).name
        by_name[key] = {k: v for k, v in record.items() if v != ""}
    unknown = set(by_name) - {f.name for f in files}
    if unknown:
        raise InvalidInputError(f"{path} describes files that were not given: {', '.join(sorted(unknown)[:5])}")
    return [by_name.get(f.name, {}) for f in files]


def cmd_add_items(args: argparse.Namespace) -> int:
    from multimodal.build import add_items

    files = _image_files(args.images)
    config = Config(data_dir=args.data_dir, artifacts_dir=args.artifacts_dir, store_uri=args.store_uri)
    print(f"add-items: {len(files)} image(s) -> {config.data_dir}/ and {config.artifacts_dir}/", flush=True)
    added = add_items(config, files, names=[str(f) for f in files], metadata=_metadata_rows(args.metadata, files))
    for name, product_id in added.skipped:
        print(f"skipped {name}: already in the catalog as {product_id}")
    if len(added):
        print(added.rows[list(added.shown)].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        print(f"added {len(added)} product(s) in {added.generation}; they are searchable now (nothing was retrained)")
    else:
        print("added nothing: every item is already in the catalog")
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    from multimodal.api.server import serve

    print(f"api: http://{args.host}:{args.port} (docs at /docs), artifacts {args.artifacts_dir}/", flush=True)
    serve(args.host, args.port, artifacts_dir=args.artifacts_dir, data_dir=args.data_dir, store=args.store,
          store_uri=args.store_uri, workers=args.workers)
    return 0


def cmd_milvus_server(args: argparse.Namespace) -> int:
    from milvus_lite.cmdline import main as milvus_lite_main

    print(f"milvus-server: http://{args.host}:{args.port}; build against it with "
          f"`python -m multimodal build --store milvus --store-uri http://{args.host}:{args.port}`", flush=True)
    return milvus_lite_main(["server", "--data-dir", str(args.data_dir), "--host", args.host, "--port", str(args.port)])


def cmd_results(args: argparse.Namespace) -> int:
    import os
    import platform

    from multimodal import generations
    from multimodal.evaluation.results_doc import write_results

    builds = {"Fashion-MNIST (the default catalog)": args.artifacts_dir}
    for item in args.catalog:
        name, _, folder = item.partition("=")
        if not folder:
            raise MultimodalError(f"--catalog takes NAME=ARTIFACTS_DIR, got {item!r}")
        builds[name] = Path(folder)
    found = {}
    for name, folder in builds.items():
        live = generations.current(folder) if folder.is_dir() else None
        metrics = (live.path if live is not None else folder) / "metrics.json"
        if metrics.is_file():
            found[name] = metrics
        else:
            print(f"note: no metrics.json in {folder}; run `python -m multimodal build` for {name}'s figures")
    machine = f"{os.cpu_count()} cores, {platform.machine()}, {platform.system()}"
    out = write_results(found, args.benchmarks, args.out, machine=lambda: machine)
    print(f"wrote {out} and its sources in {out.parent / 'results'}/")
    return 0


COMMANDS = {
    "prepare": cmd_prepare, "train-image": cmd_train_image, "train-text": cmd_train_text, "index": cmd_index,
    "build": cmd_build, "ship-weights": cmd_ship_weights, "evaluate": cmd_evaluate, "search": cmd_search, "add-items": cmd_add_items,
    "api": cmd_api, "milvus-server": cmd_milvus_server, "results": cmd_results,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except MultimodalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; files already written are complete, the one in progress was discarded", file=sys.stderr)
        return 130
