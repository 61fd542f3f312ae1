"""The command line's catalog part: the flags of your own catalog (a TOML file, or a folder and a
sheet named by flags) and what `prepare` prints about it (the schema used, what was skipped and why)."""

from __future__ import annotations

import argparse
from pathlib import Path

from multimodal.errors import MultimodalError


def _catalog_flags(parser: argparse.ArgumentParser) -> None:
    """Your own catalog: a TOML catalog file, or a folder and a sheet named by flags."""
    group = parser.add_argument_group("your own catalog (a folder of photos and a sheet)")
    group.add_argument("--catalog", type=Path, help="a catalog file (TOML), e.g. catalogs/fashion-products.toml")
    group.add_argument("--images", type=Path, help="the folder of product photos")
    group.add_argument("--sheet", type=Path, help="the product sheet (CSV in any common encoding and delimiter, or Parquet)")
    group.add_argument("--id-column", help="the sheet's product id column")
    group.add_argument("--category-column", help="the column image search learns and evaluates (e.g. articleType)")
    group.add_argument("--gender-column", help="a gender-like column for the gender filter")
    group.add_argument("--colour-column", help="the colour column")
    group.add_argument("--image-column", help="a column holding each product's image file name")
    group.add_argument("--image-pattern", default="{id}.jpg", help="the image file name from the id (default {id}.jpg)")
    group.add_argument("--image-size", type=_int_at_least(16), default=64, help="stored and trained image side, px")


def _sheet_schema(args: argparse.Namespace) -> dict | None:
    from multimodal.catalog.sheet import read_schema

    if args.catalog is not None:
        return read_schema(args.catalog)
    if args.images is None and args.sheet is None:
        return None
    if args.images is None or args.sheet is None:
        raise MultimodalError("a folder catalog needs both --images and --sheet (or a --catalog file)")
    roles = {"id": args.id_column, "category": args.category_column, "gender": args.gender_column,
             "colour": args.colour_column, "image_column": args.image_column}
    return {"name": args.sheet.resolve().parent.name or "catalog", "sheet": str(args.sheet.resolve()),
            "images": str(args.images.resolve()), "image_pattern": args.image_pattern, "image_size": args.image_size,
            "seed": args.seed, "query_fraction": args.query_fraction, **{k: v for k, v in roles.items() if v}}


def _prepare_sheet(schema: dict, data_dir: Path) -> int:
    from tqdm import tqdm

    from multimodal.build import summary_table
    from multimodal.catalog.prepared import load_prepared
    from multimodal.catalog.roles import Roles
    from multimodal.catalog.sheet import prepare_sheet

    print(f"prepare: the folder catalog {schema.get('name')!r} -> {data_dir}/", flush=True)
    manifest = prepare_sheet(schema, data_dir, progress=lambda it: tqdm(it, desc="photos", unit="img"))
    used = manifest["schema"]
    print("schema: " + ", ".join(f"{k}={used[k]}" for k in ("id", "category", "gender", "colour", "title") if used.get(k)))
    print("  categorical: " + ", ".join(used["categorical"]) + "; numeric: " + (", ".join(used["numeric"]) or "-")
          + "; text: " + (", ".join(used["text"]) or "-") + "  (name them in a catalog file to change this)")
    for reason, seen in manifest["skipped"].items():
        print(f"skipped {seen['count']:,} ({reason}): {', '.join(map(str, seen['first']))}{' ...' if seen['count'] > 5 else ''}")
    catalog = load_prepared(data_dir).catalog
    print(summary_table(catalog, Roles.of(manifest)).to_string(max_rows=12))
    held = int((catalog["split"] == "query").sum())
    print(f"wrote {manifest['rows']:,} products ({manifest['rows'] - held:,} catalog, {held:,} held out as queries) "
          f"in {manifest['seconds']:.1f} s; next: python -m multimodal build")
    return 0


def _int_at_least(minimum: int):
    """An argparse type: a whole number >= ``minimum``, with a message that says which rule failed."""
    rule = "a positive whole number" if minimum == 1 else "a whole number, not negative"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {rule}, got {value}")
        return value

    return parse
