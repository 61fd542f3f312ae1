"""Finding the very product in a shopper's photo of a colour catalog by its product print."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal.config import Config
from multimodal.search.image_ranking import ImageRanking
from multimodal.search.same_product import carried_prints, place_same_product, product_prints

SIZE = 32


def _product(rng: np.random.Generator) -> np.ndarray:
    """A product photo on white: a few coloured blocks in the middle."""
    photo = np.ones((SIZE, SIZE, 3), np.float32)
    for _ in range(4):
        top, left = rng.integers(6, 18, size=2)
        height, width = rng.integers(4, 10, size=2)
        photo[top : top + height, left : left + width] = rng.uniform(0.0, 0.8, 3)
    return photo


def _reshoot(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same product darker, on a coloured background, moved."""
    product = np.abs(photo - 1.0).max(axis=-1) > 0.05
    background = rng.uniform(0.6, 0.9, 3).astype(np.float32)
    scene = np.where(product[..., None], photo, background)
    shift = rng.integers(-4, 5, size=2)
    scene = np.roll(scene, tuple(int(s) for s in shift), axis=(0, 1))
    return (scene * rng.uniform(0.6, 0.9)).astype(np.float32)


def test_a_product_print_stays_close_under_another_background_framing_and_brightness() -> None:
    rng = np.random.default_rng(0)
    catalog = np.stack([_product(rng) for _ in range(30)])
    shots = np.stack([_reshoot(p, rng) for p in catalog])
    corr = product_prints(shots) @ product_prints(catalog).T
    assert (np.argmax(corr, axis=1) == np.arange(30)).mean() >= 0.9
    assert np.allclose(np.linalg.norm(product_prints(catalog), axis=1), 1.0, atol=1e-4)


def test_a_plain_photo_with_no_product_to_cut_out_still_gets_a_print() -> None:
    prints = product_prints(np.ones((2, SIZE, SIZE, 3), np.float32))
    assert prints.shape[0] == 2 and np.isfinite(prints).all()


def _ranking(rows: list[int]) -> ImageRanking:
    n = len(rows)
    return ImageRanking(rows=np.array([rows]), scores=np.linspace(1.0, 0.5, n)[None], similarity=np.linspace(0.9, 0.5, n)[None],
                        category_probability=np.full((1, n), 0.5))


def _place(config: Config, probabilities: np.ndarray, allowed: np.ndarray | None = None, lookalike: bool = False) -> ImageRanking:
    item_prints = np.eye(8, dtype=np.float32)
    query = np.zeros((1, 8), np.float32)
    query[0, 7] = 0.9  # item 7 is the product in the photo
    if lookalike:
        item_prints[6] = item_prints[7]
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    return place_same_product(_ranking([0, 1, 2, 3, 4, 5]), query, item_prints, allowed, probabilities, labels,
                              lambda q, row: 0.3, config)


def test_the_very_product_comes_first_when_its_print_leads_and_its_category_is_likely() -> None:
    placed = _place(Config(image_same_product=0.7), np.array([[0.6, 0.4]]))
    assert placed.rows[0].tolist() == [7, 0, 1, 2, 3, 4]
    assert placed.same_product[0].tolist() == [True] + [False] * 5
    assert placed.similarity[0, 0] == pytest.approx(0.3)


def test_the_very_product_takes_a_slot_in_the_first_five_when_the_classifier_doubts_its_category() -> None:
    placed = _place(Config(image_same_product=0.7, image_hedge_depth=5), np.array([[0.97, 0.03]]))
    assert placed.rows[0].tolist() == [0, 1, 2, 3, 7, 4]
    assert not placed.same_product.any()


def test_nothing_moves_when_a_look_alike_prints_as_close_or_the_print_is_weak_or_the_setting_is_off() -> None:
    probabilities = np.array([[0.6, 0.4]])
    assert _place(Config(image_same_product=0.7), probabilities, lookalike=True).rows[0].tolist() == [0, 1, 2, 3, 4, 5]
    assert _place(Config(image_same_product=0.95), probabilities).rows[0].tolist() == [0, 1, 2, 3, 4, 5]
    assert _place(Config(image_same_product=None), probabilities).rows[0].tolist() == [0, 1, 2, 3, 4, 5]


def test_the_very_product_is_never_placed_where_the_filters_leave_it_out() -> None:
    allowed = np.ones(8, bool)
    allowed[7] = False
    placed = _place(Config(image_same_product=0.5), np.array([[0.6, 0.4]]), allowed=allowed)
    assert 7 not in placed.rows[0]


def test_a_refreshed_catalog_keeps_the_prints_of_unchanged_photos_and_computes_the_rest() -> None:
    rng = np.random.default_rng(1)
    old = np.stack([_product(rng) for _ in range(4)])
    new = np.concatenate([old[[2, 0]], np.stack([_product(rng)]), old[3:4] * 0.5])  # 2 kept, 1 added, 1 changed photo
    old_prints = product_prints(old)
    carried = carried_prints(["a", "b", "c", "d"], old, old_prints, ["c", "a", "e", "d"], new)
    assert np.allclose(carried, product_prints(new), atol=1e-5)
    assert np.array_equal(carried[0], old_prints[2]) and np.array_equal(carried[1], old_prints[0])
