"""Text search through the public API (``SearchEngine.search_text``) on the toy build: each intent."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest


@pytest.fixture(scope="module")
def engine(toy_build):
    from multimodal.search.engine import SearchEngine

    config, _, _ = toy_build
    return SearchEngine.load(config.artifacts_dir, config.data_dir)


def _exact(results):
    """The results that meet every stated constraint; they come before any partial match."""
    flags = results.rows["exact_match"].tolist()
    assert flags == sorted(flags, reverse=True)
    return dataclasses.replace(results, rows=results.rows[results.rows["exact_match"]])


def test_negation_rules_a_colour_out(engine) -> None:
    results = _exact(engine.search_text("dress not black", k=10))
    assert len(results) > 0
    assert set(results.rows["category"]) == {"Dress"}
    assert "black" not in set(results.rows["colour"])
    assert all("Dress" in m and "not black" in m for m in results.rows["matches"])


def test_a_kind_of_the_garment_asked_for_is_ruled_out_by_name_not_by_category(engine) -> None:
    results = _exact(engine.search_text("sandals but not slides", k=200))
    sandals = engine.catalog[engine.catalog["category"] == "Sandal"]
    assert sandals["title"].str.contains("Slides").any()  # something to rule out
    assert set(results.rows["category"]) == {"Sandal"}
    assert len(results) == int((~sandals["title"].str.contains("Slides")).sum()) > 0
    assert not results.rows["title"].str.contains("Slides").any()
    assert all("not slides" in m for m in results.rows["matches"])


def test_a_category_group_returns_every_member(engine) -> None:
    results = _exact(engine.search_text("shoes", k=200))
    assert set(results.rows["category"]) == {"Sneaker", "Sandal", "Ankle boot"}
    assert len(results) == int(engine.catalog["category"].isin(["Sneaker", "Sandal", "Ankle boot"]).sum())


@pytest.mark.parametrize(("query", "ascending"), [("cheapest sandals", True), ("most expensive coat", False)])
def test_price_order_sorts_the_matching_items_by_price(engine, query, ascending) -> None:
    results = engine.search_text(query, k=5)
    category = "Sandal" if ascending else "Coat"
    prices = engine.catalog.loc[engine.catalog["category"] == category, "price"].sort_values(ascending=ascending)
    assert set(results.rows["category"]) == {category}
    np.testing.assert_allclose(results.rows["price"].to_numpy(), prices.to_numpy()[:5])
    assert results.chips[-1] == ("sort: price low to high" if ascending else "sort: price high to low")


def test_when_nothing_meets_every_constraint_the_least_important_is_relaxed_and_said(engine) -> None:
    # The catalog sells sandals in spring and summer only.
    results = engine.search_text("winter sandals", k=10)
    assert results.relaxed_groups == ["season"]
    assert results.relaxed == "No winter sandals; showing sandals for other seasons."
    assert len(results) > 0 and set(results.rows["category"]) == {"Sandal"}


def test_chips_name_every_understood_constraint(engine) -> None:
    results = engine.search_text("cheapest leather boots not black for him", k=5)
    kinds = {}
    for chip in results.chip_items:
        kinds.setdefault(chip["kind"], chip["label"])
    assert kinds["include"].startswith("category: Ankle boot")
    assert kinds["gender"] == "gender: Men"
    assert kinds["exclude"] == "not colour: black"
    assert kinds["sort"] == "sort: price low to high"
    assert "material: leather / waterproof leather" in results.chips


def test_each_garment_keeps_the_colour_said_of_it(engine) -> None:
    catalog = engine.catalog
    dress = catalog.loc[catalog["category"] == "Dress", "colour"].value_counts().index[0]
    bag = next(c for c in catalog.loc[catalog["category"] == "Bag", "colour"].value_counts().index if c != dress)
    results = _exact(engine.search_text(f"{dress} dress and a {bag} bag", k=30))
    assert set(results.rows["category"]) == {"Dress", "Bag"}  # both, taking turns
    assert (results.rows.loc[results.rows["category"] == "Dress", "colour"] == dress).all()
    assert (results.rows.loc[results.rows["category"] == "Bag", "colour"] == bag).all()
    assert f"colour: {dress} · dress" in results.chips


def test_the_gender_filter_stays_exact_and_is_never_relaxed(engine) -> None:
    for gender, allowed in (("men", {"Men", "Unisex"}), ("women", {"Women", "Unisex"}), ("unisex", {"Unisex"})):
        results = engine.search_text("dress for a man", k=50, gender=gender)
        assert set(results.rows["gender"]) <= allowed
        assert "gender" not in results.relaxed_groups or gender == "all"


def test_partial_matches_fill_the_page_after_the_exact_ones(engine) -> None:
    results = engine.search_text("navy shearling coats for women", k=30)
    exact = _exact(results)
    assert len(results) == 30 and 0 < len(exact) < 30
    assert (exact.rows["category"] == "Coat").all()
    assert set(results.rows["gender"]) <= {"Women", "Unisex"} or results.relaxed_groups
    partial = results.rows[~results.rows["exact_match"]]
    relaxed = {"colour": "navy", "material": "shearling", "category": "coats", "gender": "for women"}
    named = {relaxed[g] for g in results.relaxed_groups}
    assert all(set(m) == named for m in exact.rows["misses"])  # what was relaxed for all, named on each card
    assert all(set(m) - named for m in partial["misses"])  # and what else each partial match lacks
    for _, row in partial.iterrows():
        assert ("navy" in row["misses"]) == (row["colour"] != "navy")
        assert ("shearling" in row["misses"]) == (row["material"] != "shearling")


def test_each_signal_is_reported_per_result(engine) -> None:
    results = engine.search_text("black leather boots", k=5)
    for column in ("score", "image_score", "text_score", "bm25_score", "matches"):
        assert column in results.rows.columns
    assert (results.rows["bm25_score"] > 0).all()


def test_a_size_filters_to_the_items_that_come_in_it(engine) -> None:
    from multimodal.search.query.sizes import item_sizes

    results = _exact(engine.search_text("boots in size 38", k=50))
    assert len(results) > 0 and set(results.rows["category"]) == {"Ankle boot"}
    assert all("EU38" in item_sizes(s) for s in results.rows["sizes"])  # EU 36-41 and 36-46, never 40-46
    assert all("size 38" in m for m in results.rows["matches"])
    assert "size: 38" in results.chips


def test_a_size_no_item_comes_in_is_relaxed_and_said(engine) -> None:
    results = engine.search_text("dress for women size xxl", k=5)  # women's dresses run XS-XL
    assert results.relaxed_groups == ["size"]
    assert results.relaxed == "No dress for women in size XXL; showing dress for women in other sizes."
    assert set(results.rows["category"]) == {"Dress"}


def test_the_cli_prints_what_it_understood_and_what_each_result_lacks(toy_build, capsys) -> None:
    from multimodal.cli import main

    config, _, _ = toy_build
    code = main(["search", "--text", "winter sandals not red", "--k", "4",
                 "--artifacts-dir", str(config.artifacts_dir), "--data-dir", str(config.data_dir)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("understood: category: Sandal, season: Winter, not colour: red")
    assert "No winter sandals" in out  # the toy catalog's sandals are never for winter, as in the real one
    header, *rows = out.splitlines()[2:]
    assert header.split()[-1] == "lacks" and len(rows) == 4 and all(r.endswith("winter") for r in rows)


def test_facets_narrow_text_image_and_similar_searches_and_are_never_relaxed(engine) -> None:
    facets = {"colour": ["black", "brown"], "material": ["leather"]}
    text = engine.search_text("ankle boots for women", k=10, facets=facets)
    assert len(text) > 0 and set(text.rows["colour"]) <= {"black", "brown"} and set(text.rows["material"]) == {"leather"}
    assert text.n_matching <= int(engine.facet_rows(facets).sum())
    image = engine.search_image(engine.images[0], k=10, gender="women", facets=facets)
    assert len(image) > 0 and set(image.rows["material"]) == {"leather"} and set(image.rows["gender"]) <= {"Women", "Unisex"}
    similar = engine.search_similar(str(engine.catalog["product_id"].iloc[0]), k=5, facets={"category": ["Bag"]})
    assert set(similar.rows["category"]) == {"Bag"}
    nothing = engine.search_text("red dress", k=5, facets={"category": ["Sandal"]})
    assert set(nothing.rows["category"]) <= {"Sandal"}, "the query's dress is relaxed, the facet is not"
