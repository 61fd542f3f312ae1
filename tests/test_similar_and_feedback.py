""""More like this" and liked/disliked refinement through the public API, on the toy build."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal import InvalidInputError, SearchEngine


@pytest.fixture(scope="module")
def engine(toy_build) -> SearchEngine:
    config, _, _ = toy_build
    return SearchEngine.load(config.artifacts_dir, config.data_dir)


def test_more_like_this_leaves_the_product_out_and_keeps_the_gender_filter(engine) -> None:
    product = engine.catalog.loc[engine.catalog["gender"] == "Women", "product_id"].iloc[0]
    similar = engine.search_similar(product, k=8, gender="men")
    assert len(similar) == 8
    assert product not in similar.rows["product_id"].tolist()
    assert set(similar.rows["gender"]) <= {"Men", "Unisex"} and "Women" not in set(similar.rows["gender"])
    assert similar.query == product


def test_more_like_this_ranks_like_an_upload_of_the_same_image(engine, monkeypatch) -> None:
    # Without hedging the two lists must agree item for item (hedging fills slot five of each list).
    monkeypatch.setattr(engine, "config", engine.config.replace(image_hedge_min=None))
    product = engine.catalog["product_id"].iloc[3]
    similar = engine.search_similar(product, k=5)
    upload = engine.search_image(engine.images[3], k=6)
    assert upload.rows["product_id"].iloc[0] == product, "a catalog item's own image returns it first"
    assert similar.rows["product_id"].tolist() == [p for p in upload.rows["product_id"] if p != product][:5]


def test_an_unknown_product_is_refused(engine) -> None:
    with pytest.raises(InvalidInputError, match="no product"):
        engine.search_similar("FM-999999")
    with pytest.raises(InvalidInputError, match="no product"):
        engine.search_image(engine.images[0], liked=["nope"])


@pytest.mark.parametrize("search", ["image", "text", "similar"])
def test_a_disliked_item_never_comes_back(engine, search) -> None:
    def run(**marks):
        if search == "image":
            return engine.search_image(engine.images[5], k=10, **marks)
        if search == "text":
            return engine.search_text("comfortable everyday clothes", k=10, **marks)
        return engine.search_similar(engine.catalog["product_id"].iloc[5], k=10, **marks)

    first = run()
    disliked = first.rows["product_id"].iloc[:3].tolist()
    again = run(disliked=disliked)
    assert not set(disliked) & set(again.rows["product_id"])
    assert len(again) == 10


def test_a_liked_items_neighbours_rise(engine) -> None:
    query = engine.images[0]
    before = engine.search_image(query, k=len(engine.catalog))
    # Like a product far down the list: its nearest neighbours should move up.
    liked = before.rows["product_id"].iloc[len(before) // 2]
    liked_row = int(before.rows.loc[before.rows["product_id"] == liked, "row"].iloc[0])
    sims = engine.item_vectors @ engine.item_vectors[liked_row]
    neighbours = [engine.catalog["product_id"][i] for i in np.argsort(-sims)[1:6]]
    after = engine.search_image(query, k=len(engine.catalog), liked=[liked])
    rank_before = before.rows.set_index("product_id")["rank"]
    rank_after = after.rows.set_index("product_id")["rank"]
    assert rank_after[liked] < rank_before[liked]
    assert np.mean([rank_after[p] for p in neighbours]) < np.mean([rank_before[p] for p in neighbours])
