"""The catalog schema: read from a TOML file (paths relative to it) or built from flags, checked in
full before anything is read, completed from the sheet's content, and stored in the manifest."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest

from multimodal.catalog.schema import CatalogSchema, classify_column, default_gender_map, load_catalog_file
from multimodal.errors import InvalidInputError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "catalogs" / "fashion-products"


def _schema(**changes) -> CatalogSchema:
    return CatalogSchema(**{"sheet": "/shop/styles.csv", "images": "/shop/images", "id_column": "id",
                            "category_column": "articleType", **changes})


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "conf" / "shop.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def test_a_catalog_file_takes_its_paths_from_its_own_folder_and_its_name_from_its_stem(tmp_path: Path) -> None:
    path = _file(tmp_path, 'sheet = "../data/styles.csv"\nimages = "../data/images"\nid = "id"\ncategory = "articleType"\n')
    schema = load_catalog_file(path)
    assert schema.sheet == tmp_path / "data" / "styles.csv" and schema.images == tmp_path / "data" / "images"
    assert schema.name == "shop" and schema.image_pattern == "{id}.jpg" and schema.image_column is None
    assert (schema.image_size, schema.query_fraction, schema.seed) == (64, 0.2, 42)


def test_the_shared_catalog_file_points_at_the_shared_folder() -> None:
    schema = load_catalog_file(REPO / "catalogs" / "fashion-products.toml")
    assert schema.sheet == SHARED / "styles.csv" and schema.images == SHARED / "images"
    assert (schema.id_column, schema.category_column, schema.gender_column) == ("id", "articleType", "gender")
    assert schema.colour_column == "baseColour" and schema.title_column == "productDisplayName"
    assert schema.categorical == ("masterCategory", "subCategory", "articleType", "baseColour", "season", "usage")
    assert schema.numeric == ("year",) and schema.text == ("productDisplayName",)
    if SHARED.is_dir():
        schema.check_files()


def test_the_schema_survives_the_manifest_and_its_printed_catalog_file() -> None:
    schema = _schema(gender_column="gender", gender_map={"Men": ["Men", "Unisex"], "women": "Women"}, colour_column="colour",
                     numeric=("price",), text=("title",), ignore=("internal note",), image_size=48, seed=7)
    assert CatalogSchema.from_dict(schema.to_dict()) == schema
    assert CatalogSchema.from_dict(tomllib.loads(schema.to_toml())["catalog"]) == schema
    assert schema.to_dict()["gender_map"] == {"men": ["Men", "Unisex"], "women": ["Women"]}
    assert schema.to_dict()["categorical"] == ["articleType", "colour"], "the category and colour are categorical"


@pytest.mark.parametrize(("changes", "message"), [
    ({"numeric": ("id",)}, "the column 'id' is given two roles: `id` and `numeric`"),
    ({"text": ("articleType",)}, "given two roles: `category` and `text`"),
    ({"colour_column": "articleType"}, "given two roles: `category` and `colour`"),
    ({"gender_column": "gender", "categorical": ("gender",)}, "given two roles: `gender` and `categorical`"),
    ({"title_column": "name", "numeric": ("name",)}, "given two roles: `title` and `numeric`"),
    ({"image_column": "file", "image_pattern": "{id}.png"}, "either `image_column` or `image_pattern`"),
    ({"image_pattern": "{sku}.png"}, "exactly one field, {id}"),
    ({"image_pattern": "{id"}, "is not a pattern"),
    ({"image_size": 8}, "`image_size` must be a whole number between 16 and 512"),
    ({"image_size": True}, "`image_size` must be a whole number"),
    ({"query_fraction": 1.0}, "`query_fraction` must be between 0 and 1"),
    ({"seed": -1}, "`seed` must be a whole number"),
    ({"categorical": "usage"}, "`categorical` must be a list of column names"),
    ({"gender_map": {"men": ["Men"]}}, "`gender_map` needs a `gender` column"),
    ({"gender_column": "gender", "gender_map": {"all": ["Men"]}}, "always means no gender filter"),
    ({"id_column": ""}, "`id` must be a column name"),
])
def test_a_wrong_schema_is_refused_naming_the_field(changes, message) -> None:
    with pytest.raises(InvalidInputError) as info:
        _schema(**changes)
    assert message in str(info.value)


@pytest.mark.parametrize(("body", "message"), [
    ('images = "i"\nid = "id"\ncategory = "c"\n', "name `sheet`"),
    ('sheet = "s.csv"\nimages = "i"\nid = "id"\n', "name `category`"),
    ('sheet = "s.csv"\nimages = "i"\nid = "id"\ncategory = "c"\nprice = "p"\n', "unknown key(s) price; the keys are name, sheet"),
    ('sheet = 3\nimages = "i"\nid = "id"\ncategory = "c"\n', "`sheet` must be a path"),
    ('sheet = "s.csv"\nimages = "i"\nid = "id"\ncategory = "c"\nimage_size = "big"\n', "`image_size` must be a whole number"),
    ('sheet = "s.csv"\nimages = "i"\nid = "id"\ncategory = "c"\ngender = "g"\ngender_map = ["Men"]\n', "`gender_map` must be a table"),
    ("catalog = 3\n", "`catalog` must be a table"),
    ('sheet = "s.csv\n', "cannot read the catalog file"),
])
def test_a_wrong_catalog_file_is_refused_naming_the_file_and_the_key(tmp_path: Path, body: str, message: str) -> None:
    path = _file(tmp_path, body)
    with pytest.raises(InvalidInputError) as info:
        load_catalog_file(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_a_missing_catalog_file_sheet_or_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read the catalog file"):
        load_catalog_file(tmp_path / "none.toml")
    (tmp_path / "styles.csv").write_text("id,c\n")
    with pytest.raises(InvalidInputError, match="`sheet`: no file at"):
        _schema(sheet=tmp_path / "other.csv", images=tmp_path).check_files()
    with pytest.raises(InvalidInputError, match="`images`: no folder at"):
        _schema(sheet=tmp_path / "styles.csv", images=tmp_path / "photos").check_files()


def test_a_column_the_sheet_lacks_is_refused_with_the_sheets_columns() -> None:
    with pytest.raises(InvalidInputError) as info:
        _schema(gender_column="sex").check_columns(["id", "gender", "articleType"])
    assert str(info.value) == "`gender` names the column 'sex', which the sheet does not have; its columns: id, gender, articleType"


def test_reserved_names_are_refused_unless_they_play_that_very_part() -> None:
    with pytest.raises(InvalidInputError, match="'split', 'label' clash with the prepared table's own"):
        _schema().check_columns(["id", "articleType", "split", "label"])
    with pytest.raises(InvalidInputError, match="'category' clash"):
        _schema().check_columns(["id", "articleType", "category"])
    _schema(id_column="product_id", category_column="category").check_columns(["product_id", "category"])


def test_columns_are_classified_from_their_content() -> None:
    rows = 200
    assert classify_column(pd.Series(["2010", "2011", "", "2012.5"] * 50), rows) == "numeric"
    assert classify_column(pd.Series(["Men", "Women", "Unisex", ""] * 50), rows) == "categorical"
    assert classify_column(pd.Series([f"Colour {i % 60}" for i in range(rows)]), rows) == "categorical"
    assert classify_column(pd.Series([f"Puma men's running shoe number {i}" for i in range(rows)]), rows) == "text"
    assert classify_column(pd.Series([f"sku{i % 150}" for i in range(rows)]), rows) == "text", "mostly unique"
    long = "a very long description of a product that goes on and on " * 2
    assert classify_column(pd.Series([long, long + "!"] * 100), rows) == "text"
    assert classify_column(pd.Series([f"v{i % 300}" for i in range(20_000)]), 20_000) == "categorical", "<= 5% of rows"
    assert classify_column(pd.Series(["", ""]), 2) == "text"


def test_completing_a_schema_classifies_only_the_columns_it_does_not_name() -> None:
    frame = pd.DataFrame({"id": [str(i) for i in range(40)], "articleType": ["Caps", "Jeans"] * 20,
                          "gender": ["Men", "Women"] * 20, "year": ["2010", "2011"] * 20, "size": ["S", "M", "L", "XL"] * 10,
                          "title": [f"product {i}" for i in range(40)], "file": [f"{i}.jpg" for i in range(40)]})
    schema, inferred = _schema(gender_column="gender", image_column="file", numeric=("size",)).complete(frame)
    assert inferred == {"year": "numeric", "title": "text"}
    assert schema.categorical == ("articleType",) and schema.numeric == ("size", "year") and schema.text == ("title",)
    assert schema.complete(frame)[1] == {}, "a complete schema infers nothing"


def test_the_gender_filter_keeps_each_value_with_the_unisex_one() -> None:
    from multimodal.search.filters import gender_filters

    values = ["Men", "Women", "Unisex", "Boys", "Girls", "Men", ""]
    expected = {"men": ("Men", "Unisex"), "women": ("Women", "Unisex"), "boys": ("Boys", "Unisex"),
                "girls": ("Girls", "Unisex"), "unisex": ("Unisex",)}
    assert default_gender_map(values) == expected
    assert {k: frozenset(v) for k, v in expected.items()} | {"all": None} == gender_filters(values), "search agrees"
    assert default_gender_map(["Male", "Female"]) == {"male": ("Male",), "female": ("Female",)}
    custom = _schema(gender_column="gender", gender_map={"men": ["Men"], "kids": ["Boys", "Girls"]})
    assert custom.gender_filters(values) == {"men": ("Men",), "kids": ("Boys", "Girls")}
