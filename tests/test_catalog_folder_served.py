"""Your own catalog built and served: the small folder catalog of ``test_catalog_folder`` trained,
indexed and evaluated once per module, then searched, extended with add-items, and used through
the CLI, the REST API and the dashboard, each in the sheet's own column names."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from multimodal.catalog.folder import prepare_folder
from multimodal.catalog.schema import load_catalog_file
from multimodal.cli import main
from multimodal.errors import InvalidInputError
from multimodal.evaluation.folder_eval import reshoot_photo
from multimodal.io import file_sha256
from tests.conftest import shared_build
from tests.test_benchmarks import run_here
from tests.test_catalog_folder import KINDS, _photo, make_shop

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "streamlit_app.py")


def _shop_config(root: Path):
    from multimodal import Config

    return Config(data_dir=root / "data", artifacts_dir=root / "artifacts", image_epochs=2, text_epochs=3,
                  eval_upload_items=8, eval_product_photos=40, eval_latency_repeats=2,
                  image_max_seconds=120)


def build_shop():
    """The shop prepared and built once for all workers (``shared_build``)."""
    from multimodal.build import build

    def make(root: Path) -> dict:
        prepare_folder(load_catalog_file(make_shop(root / "shop")), root / "data", progress=False)
        return build(_shop_config(root), report=lambda _: None)

    root, result = shared_build("folder-build", _shop_config(Path("/")), make, REPO / "tests" / "test_catalog_folder.py")
    return _shop_config(root), result


@pytest.fixture(scope="session")
def folder_build():
    """``build_shop()``, read-only: tests that write use ``shop_copy``."""
    return build_shop()


@pytest.fixture()
def shop_copy(folder_build, tmp_path):
    config, _ = folder_build
    shutil.copytree(config.data_dir, tmp_path / "data")
    shutil.copytree(config.artifacts_dir, tmp_path / "artifacts")
    return config.replace(data_dir=tmp_path / "data", artifacts_dir=tmp_path / "artifacts")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _new_photo(seed: int) -> bytes:
    """A product unlike the shop's: a magenta disc on white, at its own aspect."""
    image = Image.new("RGB", (70 + seed, 50), (250, 250, 250))
    ImageDraw.Draw(image).ellipse((20, 8, 52 + seed // 2, 42), fill=(200, 20 + 9 * seed, 180))
    return _png(image)


def _fingerprints(config) -> dict[str, str]:
    folders = (config.data_dir, config.artifacts_dir)
    return {str(p): file_sha256(p) for folder in folders for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def test_a_folder_catalog_builds_searches_filters_and_evaluates(folder_build, tmp_path: Path, capsys) -> None:
    from multimodal import SearchEngine

    config, result = folder_build
    folder = result["metrics"]["folder"]
    assert folder["category"]["shipped_ranking"]["p_at_1"] >= folder["category"]["raw_pixels"]["p_at_1"] - 0.25
    assert {"baseColour", "usage"} <= set(folder["attributes"]) and folder["find_this_product"]["items"] > 0
    assert result["metrics"]["folder_text"]["queries"] > 0

    engine = SearchEngine.load(config.artifacts_dir, config.data_dir)
    assert engine.roles.is_folder and set(engine.gender_filters) == {"all", "men", "women", "unisex", "boys"}
    photo = _png(_photo("Jeans", 3, (90, 70)))
    found = engine.search_image(photo, k=5, gender="boys")
    assert set(found.rows["gender"]) <= {"Boys", "Unisex"} and found.predicted_category in {*KINDS, "Belts"}
    text = engine.search_text("navy blue jeans for women", k=5)
    assert {"articleType: Jeans", "baseColour: Navy Blue"} <= set(text.chips) and text.parsed["gender"] == "women"
    exact = text.rows[text.rows["exact_match"]]
    assert set(exact["articleType"]) <= {"Jeans"} and set(exact["gender"]) <= {"Women", "Unisex"}
    assert "productDisplayName" in text.rows.columns, "result rows keep the sheet's own column names"
    assert engine.roles.facets == ("articleType", "baseColour", "usage")
    narrowed = engine.search_text("jeans", k=5, facets={"usage": ["sports"]})
    assert len(narrowed) > 0 and set(narrowed.rows["usage"]) == {"Sports"}
    caps = engine.search_image(photo, k=5, facets={"articleType": ["Caps", "Watches"]})
    assert len(caps) > 0 and set(caps.rows["articleType"]) <= {"Caps", "Watches"}
    assert found.rows["match"].between(0.0, 1.0).all() and "same_product" in found.rows.columns

    # a shopper's new photo of a catalog product (darker, another background, moved, JPEG) finds it
    rng = np.random.default_rng(5)
    shots = [(i, reshoot_photo(engine.images[i], rng)) for i in rng.choice(len(engine.catalog), 10, replace=False)]
    near = [engine.catalog["product_id"].iloc[i] in engine.search_image(shot, k=5).product_ids for i, shot in shots]
    assert sum(near) >= 5, near  # 7 of 10 when written

    # the CLI prints the sheet's own columns (it once asked for Fashion-MNIST's and raised a KeyError)
    capsys.readouterr()
    (tmp_path / "jeans.png").write_bytes(photo)
    for query in (["--text", "navy blue jeans for women"], ["--image", str(tmp_path / "jeans.png")]):
        assert main(["search", *query, "--k", "3", "--artifacts-dir", str(config.artifacts_dir),
                     "--data-dir", str(config.data_dir)]) == 0
        printed = capsys.readouterr().out
        assert "articleType" in printed and "productDisplayName" in printed and "material" not in printed
    assert main(["search", "--text", "jeans", "--facet", "usage=Sports", "--facet", "baseColour=Navy Blue,Red", "--artifacts-dir",
                 str(config.artifacts_dir), "--data-dir", str(config.data_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "product_id"]) + 1
    shown = engine.catalog.set_index("product_id").loc[[line.split()[1] for line in lines[start:]]]
    assert len(shown) and set(shown["usage"]) == {"Sports"} and set(shown["baseColour"]) <= {"Navy Blue", "Red"}

    # the latency benchmark times this catalog's own shopper queries (it once asked for Fashion-MNIST words)
    out = tmp_path / "latency.json"
    done = run_here("latency.py", "--smoke", "--artifacts-dir", str(config.artifacts_dir), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(out.read_text())["text_query_ms"]["median"] > 0


def test_added_photos_take_the_sheets_columns_and_are_found_at_once_without_retraining(shop_copy) -> None:
    from multimodal import SearchEngine
    from multimodal.build import add_items, build

    before = SearchEngine.load(shop_copy.artifacts_dir, shop_copy.data_dir)
    assert "magenta" not in " ".join(before.search_text("magenta caps", k=1).chips).lower(), "a value no product has yet"
    given = {"id": "SHOP-1", "gender": "women", "articleType": "caps", "baseColour": "Magenta",
             "productDisplayName": "Magenta Festival Cap", "price": "12.50"}
    added = add_items(shop_copy, [_new_photo(0), _new_photo(6)], names=["cap.png", "disc.png"], metadata=[given, {}])
    first, second = added.rows.iloc[0], added.rows.iloc[1]
    assert (first["product_id"], first["id"], first["gender"], first["articleType"], first["category"]) == (
        "SHOP-1", "SHOP-1", "Women", "Caps", "Caps"), "given values in the catalog's own spelling"
    assert (first["image"], first["price"], first["usage"]) == ("cap.png", "12.50", ""), "the rest is empty, as a sheet allows"
    assert second["product_id"].startswith("NEW-") and second["articleType"] == second["predicted_category"]
    assert {"articleType", "productDisplayName", "baseColour"} <= set(added.shown) and "colour" not in added.shown

    engine = SearchEngine.load(shop_copy.artifacts_dir, shop_copy.data_dir)
    assert len(engine.catalog) == len(before.catalog) + 2 and len(engine.index) == len(before.index) + 2
    assert "SHOP-1" in engine.search_image(_new_photo(0), k=2).rows["product_id"].tolist()
    assert "SHOP-1" not in engine.search_image(_new_photo(0), k=10, gender="men").rows["product_id"].tolist()
    assert engine.search_text("magenta festival cap", k=3).rows["product_id"].iloc[0] == "SHOP-1"
    assert before.refresh(), "an engine loaded before the items came switches to them"
    understood = before.search_text("magenta caps", k=3)
    assert "magenta" in " ".join(understood.chips).lower() and understood.rows["product_id"].iloc[0] == "SHOP-1"

    again = add_items(shop_copy, [_new_photo(0)], metadata=[given])
    assert len(again) == 0 and again.skipped == [("image 1", "SHOP-1")] and again.generation is None
    log: list[str] = []
    build(shop_copy, report=log.append)
    assert "[train-image] up to date" in log and "[index] up to date" in log and "[train-text] up to date" in log, log


@pytest.mark.parametrize(("metadata", "message"), [
    ({"material": "wool"}, "no column 'material'"),
    ({"articleType": "Hats"}, "unknown category 'Hats'"),
    ({"gender": "Aliens"}, "unknown gender value 'Aliens'"),
    ({"price": "cheap"}, "price must be a number"),
    ({"id": "100"}, "'100' is already in the catalog"),
], ids=["column", "category", "gender", "number", "taken-id"])
def test_bad_values_for_a_folder_catalog_are_refused_before_anything_is_written(shop_copy, metadata, message) -> None:
    from multimodal.build import add_items

    before = _fingerprints(shop_copy)
    with pytest.raises(InvalidInputError, match=message):
        add_items(shop_copy, [_new_photo(1)], names=["new.png"], metadata=[metadata])
    assert _fingerprints(shop_copy) == before


def test_the_api_searches_and_adds_to_a_folder_catalog_in_its_own_columns(shop_copy) -> None:
    from fastapi.testclient import TestClient

    from multimodal.api.server import ApiSettings, create_app

    with TestClient(create_app(ApiSettings(artifacts_dir=shop_copy.artifacts_dir, data_dir=shop_copy.data_dir))) as client:
        found = client.post("/search/text", json={"query": "navy blue jeans for women", "k": 3})
        assert found.status_code == 200, found.text
        assert found.json()["results"][0]["articleType"] == "Jeans"
        facets = client.get("/facets").json()
        assert set(facets) == {"articleType", "baseColour", "usage"} and facets["articleType"]["Belts"] == 1
        narrowed = client.post("/search/text", json={"query": "jeans", "k": 5, "facets": {"usage": ["Sports"]}}).json()
        assert {r["usage"] for r in narrowed["results"]} == {"Sports"}
        image = client.post("/search/image", files={"file": ("cap.png", _new_photo(4), "image/png")},
                            data={"k": "4", "facets": json.dumps({"articleType": "Caps"})})
        assert image.status_code == 200 and {r["articleType"] for r in image.json()["results"]} == {"Caps"}
        wrong = client.post("/search/text", json={"query": "jeans", "facets": {"material": ["wool"]}})
        assert wrong.status_code == 400 and "no facet 'material'" in wrong.json()["detail"]
        items = client.get("/health").json()["items"]
        meta = json.dumps([{"id": "API-1", "articleType": "Caps", "gender": "Unisex", "productDisplayName": "Api Cap"}])
        response = client.post("/items", files=[("files", ("cap.png", _new_photo(2), "image/png"))], data={"metadata": meta})
        assert response.status_code == 201, response.text
        row = response.json()["added"][0]
        assert (row["product_id"], row["articleType"], row["gender"], row["productDisplayName"]) == ("API-1", "Caps", "Unisex", "Api Cap")
        assert client.get("/health").json()["items"] == items + 1
        again = client.post("/items", files=[("files", ("cap.png", _new_photo(2), "image/png"))], data={"metadata": meta}).json()
        assert again["added"] == [] and again["skipped"] == [{"file": "cap.png", "product_id": "API-1"}], "says it is there already"
        bad = client.post("/items", files=[("files", ("x.png", _new_photo(3), "image/png"))],
                          data={"metadata": json.dumps([{"articleType": "Hats"}])})
        assert bad.status_code == 400 and "unknown category" in bad.json()["detail"]


def test_the_dashboard_names_the_catalog_and_searches_it_by_text_and_photo(folder_build, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    config, _ = folder_build
    monkeypatch.setenv("MULTIMODAL_ARTIFACTS", str(config.artifacts_dir))
    monkeypatch.setenv("MULTIMODAL_DATA", str(config.data_dir))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert any("test shop" in c.value and "your own catalog" in c.value for c in at.sidebar.caption)
    assert any(c.value.startswith("Boys shows Boys + Unisex") for c in at.sidebar.caption), "the catalog's own gender rule"
    at.text_input(key="query").input("navy blue jeans for women").run()
    assert not at.exception, at.exception
    assert any("articleType: Jeans" in m.value for m in at.markdown)
    assert any(c.value.startswith("Jeans · ") for c in at.caption), "cards state the catalog's own category"
    from multimodal import SearchEngine
    from multimodal.app.ui import EXAMPLE_QUERIES, _catalog_examples

    examples = _catalog_examples(None, str(config.artifacts_dir), SearchEngine.load(config.artifacts_dir, config.data_dir))
    assert len(examples) >= 5 and not set(examples) & set(EXAMPLE_QUERIES), "examples in the shop's own words"
    assert any(q.startswith("navy blue jeans for ") for q in examples) and any(" not " in q for q in examples)
    at.multiselect(key="facet-usage").select("Sports").run()
    assert not at.exception, at.exception
    cards = [c.value for c in at.caption if c.value.count(" · ") >= 2 and c.value.split(" · ")[0] in KINDS]
    assert cards and any("narrowed by usage: Sports" in c.value for c in at.caption)
    assert at.session_state["facet_choice"] == {"usage": ["Sports"]}
    at.switch_page("pages/image_search.py").run()
    at.file_uploader(key="upload").set_value(("jeans.png", _png(_photo("Jeans", 2, (60, 90))), "image/png")).run()
    assert not at.exception, at.exception
    assert any(m.label == "Predicted category" for m in at.metric)
    at.switch_page("pages/evaluation.py").run()
    assert not at.exception, at.exception
