"""Command line: ``python -m multimodal <command>``; each flag maps onto a ``Config`` field."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import PROFILES, Config
from .errors import MultimodalError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


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
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    return Config.from_env(
        profile=args.profile, seed=args.seed, per_class=args.per_class, query_fraction=args.query_fraction,
        data_dir=args.data_dir, artifacts_dir=args.artifacts_dir,
        **({"fashion_mnist_dir": args.fashion_mnist_dir} if args.fashion_mnist_dir else {}),
    )


def cmd_prepare(args: argparse.Namespace) -> int:
    from .catalog import load_prepared
    from .pipeline import prepare, summary_table

    config = config_from_args(args)
    print(f"prepare: profile={config.profile} seed={config.seed} -> {config.data_dir}/", flush=True)
    manifest = prepare(config)
    catalog = load_prepared(config.data_dir).catalog
    print(f"source: {manifest['source']}")
    print(summary_table(catalog).to_string())
    print(f"wrote {manifest['rows']:,} products in {manifest['seconds']:.1f} s")
    return 0


COMMANDS = {"prepare": cmd_prepare}


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
