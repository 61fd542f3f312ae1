"""Your own catalog: a folder of colour photos and a sheet with odd cells, made by the test, through
prepare (with its report), build, image and text search, the gender filter, the evaluation and the
CLI; bad catalog files and sheets each give their clear error and write nothing."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from multimodal.catalog.prepared import load_prepared
from multimodal.catalog.roles import Roles
from multimodal.catalog.sheet import prepare_sheet, read_schema, read_sheet
from multimodal.cli import main
from multimodal.errors import InvalidInputError

KINDS = {"Tshirts": (200, 30, 30), "Jeans": (30, 60, 200), "Caps": (30, 160, 60), "Watches": (40, 40, 40)}
GENDERS = ("Men", "Women", "Unisex", "Boys")


def _photo(kind: str, i: int, size: tuple[int, int]) -> Image.Image:
    """A coloured shape per kind on a light background, at its own size and aspect."""
    colour = KINDS[kind]
    image = Image.new("RGB", size, (245, 245, 240))
    w, h = size
    box = {"Tshirts": (w // 4, h // 5, 3 * w // 4, 4 * h // 5), "Jeans": (w // 3, h // 8, 2 * w // 3, 7 * h // 8),
           "Caps": (w // 5, h // 3, 4 * w // 5, 2 * h // 3), "Watches": (2 * w // 5, 2 * h // 5, 3 * w // 5, 3 * h // 5)}[kind]
    shade = tuple(min(255, c + 8 * (i % 4)) for c in colour)
    from PIL import ImageDraw

    ImageDraw.Draw(image).rectangle(box, fill=shade)
    return image


def make_catalog(root: Path, n_per_kind: int = 10) -> Path:
    """A folder of photos and a semicolon sheet in cp1252 with odd cells; returns the catalog file."""
    images = root / "photos"
    images.mkdir(parents=True)
    lines = ["id;gender;articleType;baseColour;usage;productDisplayName"]
    for k, kind in enumerate(KINDS):
        for i in range(n_per_kind):
            pid = f"{k}{i:02d}"
            size = (60 + 7 * i, 80 - 3 * i)
            photo = _photo(kind, i, size)
            if i == 0 and k == 0:
                photo.convert("RGBA").save(images / f"{pid}.png")  # another format, with alpha
                lines.append(f"{pid};{GENDERS[i % 4]};{kind};Red;Casual;Café {kind} {i}")
                continue
            photo.save(images / f"{pid}.jpg", quality=90)
            colour = ["Red", "Navy Blue", "Green", "Black"][k]
            lines.append(f"{pid};{GENDERS[i % 4]};{kind};{colour};{'Sports' if i % 2 else 'Casual'};Shop {kind} {colour} {i}")
    lines.append("999;Men;;Red;Casual;no category")          # an empty category
    lines.append("001;Men;Tshirts;Red;Casual;duplicate id")   # a duplicate id
    lines.append("555;Women;Caps;Green;Casual;no image")      # a row without an image
    (images / "777.jpg").write_bytes(b"not a jpeg at all")    # a corrupt image with its row
    lines.append("777;Women;Caps;Green;Casual;corrupt photo")
    Image.new("RGB", (10, 10)).save(images / "orphan.jpg")    # an image without a row
    (root / "sheet.csv").write_bytes("\n".join(lines).encode("cp1252"))
    catalog = root / "shop.toml"
    catalog.write_text('[catalog]\nname = "test shop"\nsheet = "sheet.csv"\nimages = "photos"\nimage_pattern = "{id}.jpg"\n'
                       'id = "id"\ncategory = "articleType"\ngender = "gender"\ncolour = "baseColour"\nimage_size = 32\n')
    return catalog


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    return make_catalog(tmp_path)


def test_a_sheet_in_another_encoding_and_delimiter_is_read(shop: Path) -> None:
    frame, bad = read_sheet(shop.parent / "sheet.csv")
    assert list(frame.columns)[:3] == ["id", "gender", "articleType"] and bad == []
    assert "Café Tshirts 0" in set(frame["productDisplayName"])


def test_prepare_skips_what_it_cannot_use_and_says_why(shop: Path, tmp_path: Path) -> None:
    manifest = prepare_sheet(read_schema(shop), tmp_path / "data")
    skipped = manifest["skipped"]
    assert skipped["empty category"]["first"] == ["999"]
    assert skipped["duplicate id"]["first"] == ["001"]
    assert skipped["no image file"]["first"] == ["000", "555"]  # "000" is a PNG, the pattern says .jpg
    assert skipped["unreadable image"]["count"] == 1 and skipped["unreadable image"]["first"][0].startswith("777")
    assert "orphan.jpg" in skipped["image with no row"]["first"] or skipped["image with no row"]["count"] >= 1
    prepared = load_prepared(tmp_path / "data")
    assert prepared.images.shape[1:] == (32, 32, 3) and prepared.images.dtype == np.uint8
    assert np.all(prepared.images[:, 0, 0] > 200), "padded with the photo's own light background"
    assert prepared.catalog.groupby("category")["split"].apply(lambda s: (s == "query").sum()).min() >= 1
    assert {"articleType", "baseColour", "productDisplayName"} <= set(prepared.catalog.columns)
    roles = Roles.of(prepared.manifest)
    assert roles.is_folder and roles.gender == "gender" and roles.colour == "baseColour" and len(roles.categories) == 4


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace('id = "id"', 'id = "sku"'), "no column 'sku'"),
    (lambda t: t.replace('sheet = "sheet.csv"', 'sheet = "missing.csv"'), "no sheet"),
    (lambda t: t.replace('images = "photos"', 'images = "nowhere"'), "no image folder"),
    (lambda t: t.replace('category = "articleType"\n', ""), "name the category column"),
    (lambda t: t + "[[broken", "cannot read the catalog file"),
])
def test_a_wrong_catalog_file_is_refused_and_writes_nothing(shop: Path, tmp_path: Path, edit, message, capsys) -> None:
    shop.write_text(edit(shop.read_text()))
    assert main(["prepare", "--catalog", str(shop), "--data-dir", str(tmp_path / "data")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_the_flags_spelling_prepares_and_reports(shop: Path, tmp_path: Path, capsys) -> None:
    code = main(["prepare", "--images", str(shop.parent / "photos"), "--sheet", str(shop.parent / "sheet.csv"),
                 "--id-column", "id", "--category-column", "articleType", "--gender-column", "gender",
                 "--image-size", "32", "--data-dir", str(tmp_path / "data")])
    out = capsys.readouterr().out
    assert code == 0 and "categorical: articleType" in out and "skipped 1 (duplicate id): 001" in out
    assert "held out as queries" in out


@pytest.mark.slow
def test_a_folder_catalog_builds_searches_filters_and_evaluates(shop: Path, tmp_path: Path) -> None:
    from multimodal import Config, SearchEngine
    from multimodal.build import add_items, build

    prepare_sheet(read_schema(shop), tmp_path / "data")
    config = Config(data_dir=tmp_path / "data", artifacts_dir=tmp_path / "artifacts", image_epochs=2, text_epochs=3,
                    eval_upload_items=8, eval_latency_repeats=2, image_max_seconds=120)
    result = build(config, report=lambda _: None)
    folder = result["metrics"]["folder"]
    assert folder["category"]["shipped_ranking"]["p_at_1"] >= folder["category"]["raw_pixels"]["p_at_1"] - 0.25
    assert {"baseColour", "usage"} <= set(folder["attributes"]) and folder["find_this_product"]["items"] > 0
    assert result["metrics"]["folder_text"]["queries"] > 0

    engine = SearchEngine.load(config.artifacts_dir, config.data_dir)
    assert engine.roles.is_folder and set(engine.gender_filters) == {"all", "men", "women", "unisex", "boys"}
    photo = io.BytesIO()
    _photo("Jeans", 3, (90, 70)).save(photo, format="PNG")
    found = engine.search_image(photo.getvalue(), k=5, gender="boys")
    assert set(found.rows["gender"]) <= {"Boys", "Unisex"} and found.predicted_category in KINDS
    text = engine.search_text("navy blue jeans for women", k=5)
    assert {"articleType: Jeans", "baseColour: Navy Blue"} <= set(text.chips) and text.parsed["gender"] == "women"
    exact = text.rows[text.rows["exact_match"]]
    assert set(exact["articleType"]) <= {"Jeans"} and set(exact["gender"]) <= {"Women", "Unisex"}
    assert "productDisplayName" in text.rows.columns, "result rows keep the sheet's own column names"
    with pytest.raises(InvalidInputError, match="Fashion-MNIST catalog only"):
        add_items(config, [photo.getvalue()])
