from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from multimodal.catalog.prepared import load_prepared, save_prepared
from multimodal.catalog.synthetic import COLOURS, COLUMNS, MATERIAL_SEASONS, SPECS, STYLE_OCCASIONS, build_catalog
from multimodal.config import CATEGORIES, GENDERS
from multimodal.errors import ArtifactError

REQUIRED_COLOURS = {"black", "white", "grey", "navy", "blue", "red", "green", "beige", "brown", "pink"}


def _catalog(seed: int, per_class: int = 60) -> pd.DataFrame:
    labels = np.repeat(np.arange(10), per_class)
    split = np.where(np.arange(len(labels)) % 5 == 0, "query", "catalog")
    return build_catalog(labels, split, seed)


def test_catalog_has_the_schema_unique_ids_and_no_blanks() -> None:
    catalog = _catalog(0)
    assert list(catalog.columns) == list(COLUMNS)
    assert catalog["product_id"].is_unique
    assert not catalog.isna().any().any()
    assert (catalog.astype(str).apply(lambda col: col.str.strip().str.len()) > 0).all().all()


def test_catalog_values_come_from_the_allowed_lists() -> None:
    catalog = _catalog(1)
    assert set(catalog["category"]) == set(CATEGORIES)
    assert set(catalog["gender"]) <= set(GENDERS)
    assert set(catalog["colour"]) <= set(COLOURS)
    assert REQUIRED_COLOURS <= set(COLOURS)
    assert (catalog["category"] == np.array(CATEGORIES)[catalog["label"]]).all()


@pytest.mark.parametrize("seed", range(10))
def test_no_forbidden_combination_for_any_of_ten_seeds(seed: int) -> None:
    catalog = _catalog(seed)
    for row in catalog.itertuples():
        spec = SPECS[row.category]
        assert row.gender in spec.genders, row
        assert row.material in spec.materials and row.style in spec.styles, row
        assert row.colour in spec.colours and row.season in spec.seasons, row
        assert row.occasion in spec.occasions and row.brand in spec.brands, row
        allowed_seasons = MATERIAL_SEASONS.get(row.material)
        if allowed_seasons and set(allowed_seasons) & set(spec.seasons):
            assert row.season in allowed_seasons, row
        if set(STYLE_OCCASIONS[row.style]) & set(spec.occasions):
            assert row.occasion in STYLE_OCCASIONS[row.style], row
        low, high = spec.price
        assert low <= row.price <= high, row
    assert not ((catalog["category"] == "Sandal") & (catalog["season"] == "Winter")).any()
    assert not ((catalog["category"] == "Dress") & (catalog["gender"] == "Men")).any()
    assert not ((catalog["category"] == "Sneaker") & (catalog["style"] == "formal")).any()
    assert not ((catalog["category"].isin(["Coat", "Pullover"])) & (catalog["season"] == "Summer")).any()
    sundress = catalog["title"].str.contains("Sundress")
    assert catalog.loc[sundress, "season"].isin(["Spring", "Summer"]).all()


def test_dresses_are_never_for_men_and_bags_and_sneakers_are_often_unisex() -> None:
    catalog = _catalog(4, per_class=200)
    assert set(catalog.loc[catalog["category"] == "Dress", "gender"]) == {"Women"}
    for category in ("Bag", "Sneaker"):
        share = (catalog.loc[catalog["category"] == category, "gender"] == "Unisex").mean()
        assert share > 0.3, (category, share)


def test_texts_agree_with_the_attributes() -> None:
    catalog = _catalog(5)
    for row in catalog.itertuples():
        assert row.colour.lower() in row.title.lower() and row.brand in row.title
        for word in (row.colour, row.material, row.gender.lower()):
            assert word in row.keywords
        assert row.colour in row.description.lower()
    jeans = catalog[catalog["title"].str.contains("Jeans")]
    assert (jeans["material"] == "denim").all()


def test_descriptions_use_several_templates() -> None:
    openings = _catalog(6)["description"].str.split().str[:2].str.join(" ")
    assert openings.nunique() >= 20


def test_catalog_is_deterministic_from_the_seed() -> None:
    pd.testing.assert_frame_equal(_catalog(7), _catalog(7))
    assert not _catalog(7).equals(_catalog(8))


def test_prepared_data_round_trips_and_detects_tampering(tmp_path) -> None:
    catalog = _catalog(0, per_class=3)
    images = np.random.default_rng(0).integers(0, 255, (len(catalog), 28, 28), dtype=np.uint8)
    save_prepared(tmp_path, catalog, images, {"profile": "default"})
    loaded = load_prepared(tmp_path)
    pd.testing.assert_frame_equal(loaded.catalog, catalog, check_dtype=False)
    np.testing.assert_array_equal(loaded.images, images)
    rows, imgs = loaded.part("query")
    assert len(rows) == len(imgs) == (catalog["split"] == "query").sum()
    (tmp_path / "catalog.csv").write_text((tmp_path / "catalog.csv").read_text().replace("Women", "Men"))
    with pytest.raises(ArtifactError, match="does not match"):
        load_prepared(tmp_path)


def test_loading_from_an_empty_folder_says_how_to_prepare(tmp_path) -> None:
    with pytest.raises(ArtifactError, match="multimodal prepare"):
        load_prepared(tmp_path)


def test_no_title_or_description_writes_a_word_twice_in_a_row() -> None:
    catalog = pd.concat([_catalog(seed, per_class=100) for seed in range(3)])
    for column in ("title", "description"):
        repeated = catalog[column].map(lambda text: re.search(r"\b(\w+) \1\b", text, re.IGNORECASE) is not None)
        assert not repeated.any(), catalog.loc[repeated, column].head(3).tolist()  # was "Fleece Fleece Sweatshirt"


def test_new_titles_keep_the_image_encoder_but_rebuild_the_index(tmp_path) -> None:
    from multimodal.build import stage_inputs
    from multimodal.config import Config

    catalog = _catalog(0, per_class=3)
    images = np.random.default_rng(0).integers(0, 255, (len(catalog), 28, 28), dtype=np.uint8)
    config = Config(data_dir=tmp_path, artifacts_dir=tmp_path / "artifacts")
    save_prepared(tmp_path, catalog, images, {"profile": "default"})
    before = stage_inputs(config)
    save_prepared(tmp_path, catalog.assign(title=catalog["title"] + " (new)"), images, {"profile": "default"})
    after = stage_inputs(config)
    assert after["train-image"] == before["train-image"] and after["index"] != before["index"]
    save_prepared(tmp_path, catalog.assign(label=(catalog["label"] + 1) % 10), images, {"profile": "default"})
    assert stage_inputs(config)["train-image"] != before["train-image"]  # labels are what it learns
