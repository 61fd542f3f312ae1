"""The command line's catalog part: the flags of your own catalog (a TOML file, or a folder and a
sheet named by flags) and what `prepare` prints about it (the schema used, what was skipped and why)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from multimodal.errors import InvalidInputError

if TYPE_CHECKING:
    from multimodal.catalog.schema import CatalogSchema


FOLDER_FLAGS = ("images", "sheet", "name", "id_column", "category_column", "gender_column", "colour_column", "title_column",
                "image_column", "image_pattern", "image_size")


def _catalog_flags(parser: argparse.ArgumentParser) -> None:
    """Your own catalog: a TOML catalog file, or a folder and a sheet named by flags."""
    group = parser.add_argument_group("your own catalog (a folder of photos and a sheet)")
    group.add_argument("--catalog", type=Path, help="a catalog file (TOML), e.g. catalogs/fashion-products.toml")
    group.add_argument("--images", type=Path, help="the folder of product photos")
    group.add_argument("--sheet", type=Path, help="the product sheet (CSV in any common encoding and delimiter, or Parquet)")
    group.add_argument("--name", help="the catalog's name (default: the sheet's folder)")
    group.add_argument("--id-column", help="the sheet's product id column")
    group.add_argument("--category-column", help="the column image search learns and evaluates (e.g. articleType)")
    group.add_argument("--gender-column", help="a gender-like column for the gender filter")
    group.add_argument("--colour-column", help="the colour column")
    group.add_argument("--title-column", help="the product title column")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--image-column", help="a column holding each product's image file (name or path in --images)")
    where.add_argument("--image-pattern", help="the image file name from the id (default {id}.jpg)")
    group.add_argument("--image-size", type=_int_at_least(16), default=None, help="stored and trained image side, px (default 64)")


def _folder_schema(args: argparse.Namespace) -> CatalogSchema | None:
    """The folder catalog the flags describe (a catalog file, or the folder flags), or None (Fashion-MNIST)."""
    from multimodal.catalog.schema import CatalogSchema, load_catalog_file

    given = [f"--{f.replace('_', '-')}" for f in FOLDER_FLAGS if getattr(args, f, None) is not None]
    if args.catalog is not None:
        if given:
            raise InvalidInputError(f"--catalog describes the whole catalog; put {', '.join(given)} in the file instead")
        return load_catalog_file(args.catalog)
    if not given:
        return None
    if args.images is None or args.sheet is None:
        raise InvalidInputError("a folder catalog needs both --images and --sheet (or a --catalog file)")
    for flag in ("id_column", "category_column"):
        if getattr(args, flag) is None:
            raise InvalidInputError(f"name the sheet's {flag.split('_')[0]} column with --{flag.replace('_', '-')} "
                                    f"(its columns are listed by `head -1 {args.sheet}`)")
    optional = {k: getattr(args, k) for k in FOLDER_FLAGS[2:] if getattr(args, k) is not None}
    return CatalogSchema(sheet=args.sheet, images=args.images, seed=args.seed, query_fraction=args.query_fraction,
                         **{"name": args.sheet.resolve().parent.name, **optional})


def _print_schema(schema: CatalogSchema, inferred: Mapping[str, str]) -> None:
    what = ", ".join(f"{c} -> {k}" for c, k in inferred.items())
    print(f"the schema used{f' (classified from their content: {what})' if what else ''}; "
          "save it as a .toml file and pass --catalog to change it:")
    print("    " + schema.to_toml().replace("\n", "\n    ").rstrip())
    if schema.gender_column is None:
        print("no gender column: the catalog has no gender filter")


def _prepare_folder(schema: CatalogSchema, data_dir: Path) -> int:
    from multimodal.build import summary_table
    from multimodal.catalog.folder import prepare_folder
    from multimodal.catalog.prepared import load_prepared
    from multimodal.catalog.roles import Roles

    print(f"prepare: the folder catalog {schema.name!r} -> {data_dir}/", flush=True)
    report = prepare_folder(schema, data_dir, on_schema=_print_schema)
    print("\n".join(report.lines()))
    prepared = load_prepared(data_dir)
    print(summary_table(prepared.catalog, Roles.of(prepared.manifest)).to_string(max_rows=12))
    print(f"wrote {report.products:,} products ({report.catalog:,} catalog, {report.queries:,} held out as queries) "
          f"to {data_dir}/ in {report.seconds:.1f} s; next: python -m multimodal build --data-dir {data_dir}")
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
