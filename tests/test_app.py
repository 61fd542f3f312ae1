"""Every page of the dashboard, driven by Streamlit's AppTest against the toy build."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


@pytest.fixture()
def app(toy_build, monkeypatch) -> AppTest:
    config, _, _ = toy_build
    monkeypatch.setenv("MULTIMODAL_ARTIFACTS", str(config.artifacts_dir))
    monkeypatch.setenv("MULTIMODAL_DATA", str(config.data_dir))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def _card_captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if c.value.count(" · ") == 3 and "$" in c.value]


def test_text_query_returns_product_cards_and_constraint_chips(app) -> None:
    app.text_input(key="query").input("black sneakers for men").run()
    assert not app.exception
    assert any("category: Sneaker" in m.value for m in app.markdown)
    assert len(_card_captions(app)) == app.slider(key="k").value


def test_gender_filter_changes_results_and_persists_across_pages(app) -> None:
    app.text_input(key="query").input("comfortable everyday clothes").run()
    everyone = _card_captions(app)
    app.radio(key="gender").set_value("Unisex").run()
    unisex = _card_captions(app)
    assert unisex and all(c.split(" · ")[1] == "Unisex" for c in unisex)
    assert unisex != everyone
    app.switch_page("pages/image_search.py").run()
    assert app.radio(key="gender").value == "Unisex"


def test_an_uploaded_image_returns_similar_products(app, toy_build) -> None:
    from multimodal.catalog import load_prepared

    config, _, _ = toy_build
    item = load_prepared(config.data_dir).images[0]
    buffer = io.BytesIO()
    Image.fromarray(255 - item).resize((300, 300)).convert("RGB").save(buffer, format="JPEG")
    app.switch_page("pages/image_search.py").run()
    app.file_uploader(key="upload").set_value(("boot.jpg", buffer.getvalue(), "image/jpeg")).run()
    assert not app.exception
    assert any(m.label == "Predicted category" for m in app.metric)
    assert len(_card_captions(app)) > 0


def test_a_bad_upload_gets_a_friendly_error_not_a_traceback(app) -> None:
    app.switch_page("pages/image_search.py").run()
    app.file_uploader(key="upload").set_value(("notes.png", b"this is not a picture", "image/png")).run()
    assert not app.exception
    assert any("can't be used" in e.value for e in app.error)


def test_picking_a_catalog_item_searches_with_it(app) -> None:
    app.switch_page("pages/image_search.py").run()
    box = app.selectbox(key="pick")
    box.set_value(box.options[0]).run()
    assert not app.exception and len(_card_captions(app)) > 0


def test_evaluation_page_renders_its_charts(app) -> None:
    app.switch_page("pages/evaluation.py").run()
    assert not app.exception
    assert len(app.get("plotly_chart")) >= 7
    assert any(m.label == "Image P@1" for m in app.metric)


def test_missing_artifacts_explain_how_to_build(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MULTIMODAL_ARTIFACTS", str(tmp_path / "nothing"))
    monkeypatch.setenv("MULTIMODAL_DATA", str(tmp_path / "no-data"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("not ready" in e.value for e in at.error)
    assert any("make run" in i.value for i in at.info)


def test_text_page_shows_negation_and_sort_chips_and_the_relaxation_message(app) -> None:
    app.text_input(key="query").input("cheapest winter sandals not red").run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    assert "not colour: red" in text and "sort: price low to high" in text
    assert any("No winter sandals" in i.value for i in app.info)
    assert any("matches:" in m.value for m in app.markdown)
