"""Your own catalog: a folder of colour photos and a sheet with odd cells, made by each test, through
``prepare_folder`` (the table, the images, the split, the report), the CLI's two spellings, wrong
catalog files and sheets that write nothing, and the shared real catalog where it is present."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from multimodal.catalog.folder import prepare_folder, read_folder, read_sheet, split_queries
from multimodal.catalog.prepared import load_prepared
from multimodal.catalog.roles import Roles
from multimodal.catalog.schema import CatalogSchema, load_catalog_file
from multimodal.cli import main

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "catalogs" / "fashion-products"
KINDS = {"Tshirts": (200, 30, 30), "Jeans": (30, 60, 200), "Caps": (30, 160, 60), "Watches": (40, 40, 40)}
GENDERS = ("Men", "Women", "Unisex", "Boys")
LIGHT = (245, 245, 240)
BEIGE = (236, 222, 190)  # product 102's own background: what its padding must be
PER_KIND = 8
SIZE = 32


def _photo(kind: str, i: int, size: tuple[int, int], background: tuple[int, int, int] = LIGHT) -> Image.Image:
    """A coloured shape per kind on a light background, at its own size and aspect."""
    image = Image.new("RGB", size, background)
    w, h = size
    box = {"Tshirts": (w // 4, h // 5, 3 * w // 4, 4 * h // 5), "Jeans": (w // 3, h // 8, 2 * w // 3, 7 * h // 8),
           "Caps": (w // 5, h // 3, 4 * w // 5, 2 * h // 3), "Watches": (2 * w // 5, 2 * h // 5, 3 * w // 5, 3 * h // 5)}[kind]
    ImageDraw.Draw(image).rectangle(box, fill=tuple(min(255, c + 8 * (i % 4)) for c in KINDS[kind]))
    return image


def _write_photos(images: Path) -> list[str]:
    """Photos of every size, aspect and mode; returns the sheet lines of their products."""
    lines = []
    for k, kind in enumerate(KINDS):
        for i in range(PER_KIND):
            pid, size = f"{k}{i:02d}", (40 + 11 * i, 90 - 7 * i)  # 40x90 (tall) to 117x41 (wide)
            name = f"{pid}.jpg"
            photo = _photo(kind, i, size, BEIGE if pid == "102" else LIGHT)
            if pid == "000":  # a PNG with transparency around the item
                name, photo = f"{pid}.png", photo.convert("RGBA")
                alpha = np.where(np.asarray(photo)[..., :3].sum(axis=2) > 700, 0, 255).astype(np.uint8)
                photo.putalpha(Image.fromarray(alpha))
                photo.save(images / name)
            elif pid == "301":  # a grayscale photo
                photo.convert("L").save(images / name, quality=92)
            else:
                photo.save(images / name, quality=92)
            colour = ["Red", "Navy Blue", "Green", "Black"][k]
            title = f"Café {kind} {i}" if pid == "001" else f"Shop {kind} {colour} {i}"
            lines.append(f"{pid};{GENDERS[i % 4]};{kind};{colour};{'Sports' if i % 2 else 'Casual'};{10 + i}.99;{name};{title}")
    return lines


def make_shop(root: Path) -> Path:
    """A folder of photos and a semicolon sheet in cp1252 with odd cells; returns its catalog file."""
    images = root / "photos"
    images.mkdir(parents=True)
    lines = ["id;gender;articleType;baseColour;usage;price;image;productDisplayName", *_write_photos(images)]
    Image.new("RGB", (50, 70), (250, 250, 250)).save(images / "880.jpg")
    lines.append("880;Men;Belts;Brown;Formal;25;880.jpg;A lone belt")            # a category of one product
    lines.append("999;Men;;Red;Casual;5;999.jpg;no category")                    # an empty category
    lines.append("001;Men;Tshirts;Red;Casual;5;001.jpg;duplicate id")            # a duplicate id
    lines.append(";Women;Caps;Green;Casual;5;x.jpg;no id")                       # an empty id
    lines.append("555;Women;Caps;Green;Casual;5;555.jpg;no image")               # a row without an image
    lines.append("556;Men;Caps;Green;Casual;5;556.jpg;too;many;fields")          # a malformed line
    (images / "777.jpg").write_bytes(b"\xff\xd8\xff not a jpeg at all")          # a corrupt image with its row
    lines.append("777;Women;Caps;Green;Casual;5;777.jpg;corrupt photo")
    Image.new("RGB", (10, 10)).save(images / "orphan.jpg")                       # an image without a row
    (images / "notes.txt").write_text("not a photo, not reported")
    (root / "sheet.csv").write_bytes("\n".join(lines).encode("cp1252"))
    catalog = root / "shop.toml"
    catalog.write_text('[catalog]\nname = "test shop"\nsheet = "sheet.csv"\nimages = "photos"\nimage_column = "image"\n'
                       'id = "id"\ncategory = "articleType"\ngender = "gender"\ncolour = "baseColour"\nimage_size = 32\n')
    return catalog


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    return make_shop(tmp_path / "shop")


@pytest.fixture()
def prepared(shop: Path, tmp_path: Path):
    report = prepare_folder(load_catalog_file(shop), tmp_path / "data", progress=False)
    return report, load_prepared(tmp_path / "data")


def test_a_cp1252_sheet_with_semicolons_is_read_as_strings_with_its_malformed_line_set_aside(shop: Path) -> None:
    sheet = read_sheet(shop.parent / "sheet.csv")
    assert sheet.encoding == "cp1252" and sheet.delimiter == ";"
    assert list(sheet.frame.columns) == ["id", "gender", "articleType", "baseColour", "usage", "price", "image", "productDisplayName"]
    assert "Café Tshirts 1" in set(sheet.frame["productDisplayName"])
    assert sheet.bad_lines == ["556;Men;Caps;Green;Casual;5;556.jpg;too;many;fields"]
    assert sheet.frame.map(lambda v: isinstance(v, str)).all().all()
    assert sheet.frame.loc[sheet.frame["id"] == "999", "articleType"].item() == ""


@pytest.mark.parametrize("delimiter", [",", "\t", "|"])
def test_other_delimiters_and_quoted_cells_are_read(tmp_path: Path, delimiter: str) -> None:
    rows = [["id", "category", "title"], ["1", "Caps", "a cap; blue, small | soft"], ["2", "Jeans", ""]]
    text = "\n".join(delimiter.join(f'"{c}"' if i == 2 else c for i, c in enumerate(row)) for row in rows)
    (tmp_path / "sheet.csv").write_text(text, encoding="utf-8")
    frame = read_sheet(tmp_path / "sheet.csv").frame
    assert frame.to_dict("list") == {"id": ["1", "2"], "category": ["Caps", "Jeans"], "title": ["a cap; blue, small | soft", ""]}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"])
def test_a_sheet_is_read_in_any_common_encoding(tmp_path: Path, encoding: str) -> None:
    text = "id\tcategory\ttitle\n1\tCaps\tCafé crème cap\n2\tJeans\tJeans façon 1980\n"
    (tmp_path / "sheet.csv").write_bytes(text.encode(encoding))
    frame = read_sheet(tmp_path / "sheet.csv").frame
    assert list(frame.columns) == ["id", "category", "title"] and frame["title"].tolist() == ["Café crème cap", "Jeans façon 1980"]


def test_lines_pandas_would_drop_silently_are_reported_as_malformed(tmp_path: Path) -> None:
    (tmp_path / "sheet.csv").write_text('id,category,title\n1,Caps,5" long cap\n\n2,Caps,"a"b\n3,Jeans,"two\nlines"\n')
    sheet = read_sheet(tmp_path / "sheet.csv")
    assert sheet.frame["title"].tolist() == ['5" long cap', "two\nlines"]
    assert sheet.bad_lines == ["line 4: ',' expected after '\"'"]


def test_a_parquet_sheet_is_read_as_strings(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    pd.DataFrame({"id": [1, 2], "category": ["Caps", None], "year": [2010.0, None]}).to_parquet(tmp_path / "s.parquet")
    frame = read_sheet(tmp_path / "s.parquet").frame
    assert frame.to_dict("list") == {"id": ["1", "2"], "category": ["Caps", ""], "year": ["2010.0", ""]}


def test_prepare_reports_every_skipped_row_and_file_with_its_reason(prepared) -> None:
    report, _ = prepared
    skipped = report.skipped
    assert skipped["malformed line"][0].startswith("556;")
    assert skipped["empty id"] == ["sheet row 36"] and skipped["empty category"] == ["999"]
    assert skipped["duplicate id"] == ["001"] and skipped["no image file"] == ["555"]
    assert len(skipped["unreadable image"]) == 1 and skipped["unreadable image"][0].startswith("777 (")
    assert skipped["image with no row"] == ["orphan.jpg"]
    assert report.small_categories == ["Belts"]
    assert report.counts() == {
        "sheet_rows": 39, "products": 33, "catalog": 33 - report.queries, "queries": report.queries, "categories": 5,
        "small_categories": 1, "malformed line": 1, "empty id": 1, "duplicate id": 1, "empty category": 1,
        "no image file": 1, "image outside the folder": 0, "unreadable image": 1, "image with no row": 1}
    assert any("skipped 1 (duplicate id): 001" == line for line in report.lines())


def test_the_prepared_table_keeps_the_sheets_columns_beside_its_own(prepared) -> None:
    _, data = prepared
    table = data.catalog
    assert list(table.columns) == ["product_id", "image_index", "split", "label", "category", "id", "gender", "articleType",
                                   "baseColour", "usage", "price", "image", "productDisplayName"]
    assert table["product_id"].tolist()[:3] == ["000", "001", "002"] and table["product_id"].is_unique
    assert table["image_index"].tolist() == list(range(len(table)))
    categories = data.manifest["categories"]
    assert categories == ["Belts", "Caps", "Jeans", "Tshirts", "Watches"]
    assert (table["category"] == table["articleType"]).all()
    assert (table["label"] == table["category"].map(categories.index)).all()
    assert table.loc[table["product_id"] == "001", "productDisplayName"].item() == "Café Tshirts 1"


def test_the_manifest_holds_the_schema_the_report_and_the_checksums(prepared, shop: Path) -> None:
    _, data = prepared
    manifest = data.manifest
    assert manifest["source"] == "folder" and manifest["image_size"] == SIZE and manifest["rows"] == 33
    schema = CatalogSchema.from_dict(manifest["schema"])
    assert schema.sheet == shop.parent / "sheet.csv" and schema.numeric == ("price",) and "usage" in schema.categorical
    assert manifest["report"]["counts"]["duplicate id"] == 1 and manifest["report"]["skipped"]["duplicate id"]["first"] == ["001"]
    assert manifest["gender_filters"]["boys"] == ["Boys", "Unisex"] and manifest["gender_filters"]["unisex"] == ["Unisex"]
    assert {"catalog_sha256", "images_sha256", "training_sha256"} <= set(manifest)
    roles = Roles.of(manifest)
    assert roles.is_folder and roles.gender == "gender" and roles.colour == "baseColour" and roles.price == "price"
    assert roles.image_size == SIZE and len(roles.categories) == 5


def test_images_are_colour_squares_padded_with_their_own_background(prepared) -> None:
    _, data = prepared
    images, table = data.images, data.catalog
    assert images.shape == (33, SIZE, SIZE, 3) and images.dtype == np.uint8
    assert isinstance(images, np.memmap), "verified images are mapped, not read"

    def image(pid: str) -> np.ndarray:
        return images[int(table.loc[table["product_id"] == pid, "image_index"].item())].astype(int)

    beige = image("102")  # 62x76: padded left and right with its beige background
    assert np.abs(beige[SIZE // 2, 0] - BEIGE).max() <= 6 and np.abs(beige[0, SIZE // 2] - BEIGE).max() <= 6
    assert image("000")[0, 0].min() >= 250, "transparency is composited over white"
    gray = image("301")
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    red = image("003")[SIZE // 2, SIZE // 2]
    assert red[0] > 150 and red[1] < 90 and red[2] < 90, "colour is kept"


def test_each_category_holds_out_its_share_as_queries_the_same_way_every_time(prepared, shop: Path, tmp_path: Path) -> None:
    _, data = prepared
    counts = data.catalog.groupby(["category", "split"]).size().unstack(fill_value=0)
    assert counts.loc["Belts"].to_dict() == {"catalog": 1, "query": 0}
    for kind in KINDS:
        n = int(counts.loc[kind].sum())
        assert counts.loc[kind, "query"] == max(1, round(0.2 * n)) and counts.loc[kind, "catalog"] >= 1
    again = read_folder(load_catalog_file(shop), progress=False).table
    assert again["split"].tolist() == data.catalog["split"].tolist()
    labels = np.repeat(np.arange(6), 10)
    assert (split_queries(labels, 0.2, 1) != split_queries(labels, 0.2, 2)).any()
    assert (split_queries(np.array([0, 0, 1]), 0.9, 0) == "catalog").sum() == 2, "never all of a category"


def test_an_image_pattern_finds_photos_by_id(shop: Path, tmp_path: Path) -> None:
    shop.write_text(shop.read_text().replace('image_column = "image"', 'image_pattern = "{id}.jpg"'))
    report = read_folder(load_catalog_file(shop), progress=False).report
    assert report.skipped["no image file"] == ["000", "555"], "000 is a PNG; the pattern says .jpg"
    assert report.skipped["image with no row"] == ["000.png", "orphan.jpg"]


def test_an_image_path_leaving_the_folder_is_refused(shop: Path) -> None:
    sheet = shop.parent / "sheet.csv"
    sheet.write_bytes(sheet.read_bytes().replace(b";003.jpg;", b";../sheet.csv;"))
    report = read_folder(load_catalog_file(shop), progress=False).report
    assert report.skipped["image outside the folder"] == ["003"]


def test_photos_turned_by_exif_and_large_transparent_photos_are_read_upright_in_colour(tmp_path: Path) -> None:
    from multimodal.catalog.images import square_colour

    wide = Image.new("RGB", (80, 40), (250, 250, 250))
    ImageDraw.Draw(wide).rectangle((0, 15, 79, 25), fill=(220, 20, 20))  # a horizontal red bar
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees: a vertical bar in a tall photo
    wide.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    upright = square_colour(tmp_path / "turned.jpg", 32).astype(int)
    assert upright[2, 16, 0] > 150 and upright[2, 16, 1] < 100, "the bar runs top to bottom"
    assert upright[16, 1].min() > 200, "padding left and right"
    big = Image.new("RGBA", (2400, 1600), (0, 0, 0, 0))
    ImageDraw.Draw(big).ellipse((600, 300, 1800, 1300), fill=(20, 40, 220, 255))
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    square = square_colour(buffer.getvalue(), 32).astype(int)
    assert square[0, 0].min() >= 250 and square[16, 16, 2] > 150 and square[16, 16, 0] < 80


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace('id = "id"', 'id = "sku"'), "`id` names the column 'sku', which the sheet does not have; its columns: id, gender"),
    (lambda t: t.replace('sheet = "sheet.csv"', 'sheet = "missing.csv"'), "`sheet`: no file at"),
    (lambda t: t.replace('images = "photos"', 'images = "nowhere"'), "`images`: no folder at"),
    (lambda t: t.replace('category = "articleType"\n', ""), "name `category`"),
    (lambda t: t.replace('colour = "baseColour"', 'colour = "articleType"'), "given two roles: `category` and `colour`"),
    (lambda t: t + 'numeric = ["gender"]\n', "given two roles: `gender` and `numeric`"),
    (lambda t: t + 'price_column = "price"\n', "unknown key(s) price_column"),
    (lambda t: t.replace("image_size = 32", 'image_size = "big"'), "`image_size` must be a whole number"),
    (lambda t: t + '[catalog.gender_map]\nmen = ["Man", "Unisex"]\n', "`gender_map.men` keeps 'Man', not a value of the column"),
    (lambda t: t + "[[broken", "cannot read the catalog file"),
])
def test_a_wrong_catalog_file_is_refused_with_one_line_and_writes_nothing(shop: Path, tmp_path: Path, edit, message, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "keep.txt").write_text("untouched")
    shop.write_text(edit(shop.read_text()))
    assert main(["prepare", "--catalog", str(shop), "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert [p.name for p in data.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(("sheet", "message"), [
    (b"id;gender;articleType;split;image\n1;Men;Caps;x;1.jpg\n", "clash with the prepared table's own"),
    (b"id,gender,articleType,image\n1,Men,Caps,\"1.jpg\n2,Men,Caps,2.jpg\n", "a quote (\") opened on line 2 is never closed"),
    (b"", "cannot read the sheet"),
    (b"id;gender;articleType;image\n1;Men;Caps;nothing-1.jpg\n2;Men;Caps;nothing-2.jpg\n", "no product has both"),
])
def test_a_wrong_sheet_is_refused_and_writes_nothing(shop: Path, tmp_path: Path, sheet: bytes, message: str, capsys) -> None:
    (shop.parent / "sheet.csv").write_bytes(sheet)
    shop.write_text(shop.read_text().replace('colour = "baseColour"\n', ""))
    assert main(["prepare", "--catalog", str(shop), "--data-dir", str(tmp_path / "data")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_the_catalog_file_spelling_prints_the_schema_the_report_and_the_split(shop: Path, tmp_path: Path, capsys) -> None:
    assert main(["prepare", "--catalog", str(shop), "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert 'category = "articleType"' in out and "usage -> categorical" in out and "price -> numeric" in out
    assert "skipped 1 (unreadable image): 777 (" in out and "skipped 1 (image with no row): orphan.jpg" in out
    held = (load_prepared(tmp_path / "data").catalog["split"] == "query").sum()
    assert f"wrote 33 products ({33 - held} catalog, {held} held out as queries) to {tmp_path / 'data'}/" in out


def test_the_flags_spelling_classifies_the_other_columns_and_prepares(shop: Path, tmp_path: Path, capsys) -> None:
    code = main(["prepare", "--images", str(shop.parent / "photos"), "--sheet", str(shop.parent / "sheet.csv"),
                 "--id-column", "id", "--category-column", "articleType", "--gender-column", "gender",
                 "--image-column", "image", "--image-size", "24", "--data-dir", str(tmp_path / "data")])
    out = capsys.readouterr().out
    assert code == 0 and "baseColour -> categorical" in out and "productDisplayName -> text" in out
    assert "skipped 1 (duplicate id): 001" in out and "held out as queries" in out
    data = load_prepared(tmp_path / "data")
    assert data.images.shape == (33, 24, 24, 3) and data.manifest["schema"]["name"] == "shop"


@pytest.mark.parametrize(("argv", "message"), [
    (["--images", "photos"], "needs both --images and --sheet"),
    (["--images", "photos", "--sheet", "sheet.csv", "--category-column", "articleType"], "--id-column"),
    (["--catalog", "shop.toml", "--image-size", "48"], "put --image-size in the file"),
])
def test_incomplete_flags_exit_2_with_what_to_add(shop: Path, tmp_path: Path, argv, message, capsys, monkeypatch) -> None:
    monkeypatch.chdir(shop.parent)
    assert main(["prepare", *argv, "--data-dir", str(tmp_path / "data")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "data").exists()


@pytest.mark.skipif(not (SHARED / "styles.csv").is_file(), reason=f"the shared catalog is not at {SHARED}")
def test_the_shared_catalog_file_prepares_a_subset_of_the_real_catalog(tmp_path: Path) -> None:
    schema = load_catalog_file(REPO / "catalogs" / "fashion-products.toml")
    assert schema.sheet == SHARED / "styles.csv" and schema.images == SHARED / "images"
    subset = tmp_path / "styles.csv"
    subset.write_text("".join(schema.sheet.read_text(encoding="utf-8").splitlines(keepends=True)[:301]), encoding="utf-8")
    report = prepare_folder(CatalogSchema.from_dict({**schema.to_dict(), "sheet": str(subset)}), tmp_path / "data", progress=False)
    data = load_prepared(tmp_path / "data")
    assert report.products == 300 and data.images.shape == (300, 64, 64, 3)
    assert report.counts()["image with no row"] == len(os.listdir(SHARED / "images")) - 300
    assert {"gender", "masterCategory", "articleType", "baseColour", "year", "productDisplayName"} <= set(data.catalog.columns)
    assert np.median(data.images[:, 0, 0].astype(int)) > 220, "shop photos on light backgrounds, padded with it"
    assert (data.catalog.groupby("category")["split"].apply(lambda s: (s == "query").sum()) >= 1).sum() >= 10
