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
    from multimodal.catalog.prepared import load_prepared

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


def _result_ids(at: AppTest, context: str) -> list[str]:
    prefix = f"{context}-more-"
    return [b.key[len(prefix):] for b in at.button if b.key and b.key.startswith(prefix)]


def test_more_like_this_on_a_text_result_shows_similar_products(app) -> None:
    app.text_input(key="query").input("black sneakers for men").run()
    first = _result_ids(app, "text")[0]
    app.button(key=f"text-more-{first}").click().run()
    assert not app.exception, app.exception
    assert any(h.value.startswith("More like:") for h in app.subheader)
    similar = _result_ids(app, "image")
    assert similar and first not in similar
    # and from an image result, again
    app.button(key=f"image-more-{similar[0]}").click().run()
    assert not app.exception
    assert similar[0] not in _result_ids(app, "image")


def test_disliking_a_result_hides_it_and_liking_refines_the_search(app) -> None:
    app.text_input(key="query").input("comfortable everyday clothes").run()
    before = _result_ids(app, "text")
    app.button(key=f"text-dislike-{before[0]}").click().run()
    after = _result_ids(app, "text")
    assert before[0] not in after and len(after) == len(before)
    assert any("1 disliked" in c.value for c in app.caption)
    app.switch_page("pages/image_search.py").run()
    box = app.selectbox(key="pick")
    box.set_value(box.options[0]).run()
    app.button(key="clear-marks").click().run()
    shown = _result_ids(app, "image")
    app.button(key=f"image-like-{shown[-1]}").click().run()
    assert not app.exception
    refined = _result_ids(app, "image")
    assert refined.index(shown[-1]) < len(shown) - 1, "a liked item moves up"
    app.button(key="clear-marks").click().run()
    assert _result_ids(app, "image") == shown


def test_text_page_shows_negation_and_sort_chips_and_the_relaxation_message(app) -> None:
    app.text_input(key="query").input("cheapest winter sandals not red").run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    assert "not colour: red" in text and "sort: price low to high" in text
    assert any("No winter sandals" in i.value for i in app.info)
    assert any("matches:" in m.value and "✗ winter" in m.value for m in app.markdown)


def test_an_unsure_word_shows_as_a_soft_chip_and_a_likeness_reason(app) -> None:
    app.text_input(key="query").input("sweaters with a zorblat style").run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    assert "category: Pullover" in text and "≈ zorblat: style, ranked by likeness" in text
    assert any("likeness" in c.value for c in app.caption if c.value.startswith("why:"))


def test_a_size_shows_as_a_chip_and_on_the_cards_it_matches(app) -> None:
    app.text_input(key="query").input("boots in size 38").run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    assert "size: 38" in text and "size 38" in text.split("size: 38", 1)[1]  # the chip, then a card's matches
