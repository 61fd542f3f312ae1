"""The image ranking's rules on hand-made candidates: hedging, exact matches, pixel blending, feedback."""

from __future__ import annotations

import numpy as np
import pytest

from multimodal.config import Config
from multimodal.search.image_ranking import (
    category_aware_ranking,
    image_match,
    pixel_features,
    refine_vector,
    visual_similarity,
)


def test_a_sure_classifier_keeps_the_list_in_one_category() -> None:
    sims = np.array([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4]])
    rows = np.arange(6)[None]
    labels = np.array([1, 0, 0, 0, 0, 1])
    ranking = category_aware_ranking(sims, rows, np.array([[0.96, 0.04]]), labels, weight=0.5, k=5, hedge_min=0.15)
    assert ranking.rows[0, :4].tolist() == [1, 2, 3, 4]
    assert set(labels[ranking.rows[0, :4]]) == {0}


def test_an_unsure_classifier_gets_the_other_category_into_the_first_five() -> None:
    sims = np.array([[0.50, 0.90, 0.89, 0.88, 0.87, 0.86, 0.85]])
    rows = np.arange(7)[None]
    labels = np.array([1, 0, 0, 0, 0, 0, 0])
    probs = np.array([[0.7, 0.3]])
    plain = category_aware_ranking(sims, rows, probs, labels, weight=0.5, k=6)
    assert 0 not in plain.rows[0, :5].tolist(), "without hedging category 1 is pushed out of the top five"
    hedged = category_aware_ranking(sims, rows, probs, labels, weight=0.5, k=6, hedge_min=0.2, hedge_depth=5)
    assert hedged.rows[0, :5].tolist() == [1, 2, 3, 4, 0], "the best item of the unsure category takes slot five"
    assert hedged.rows[0, 0] == plain.rows[0, 0], "the first result never moves"
    np.testing.assert_allclose(hedged.scores[0, 4], 0.50 + 0.5 * 0.3)


def test_hedging_ignores_categories_below_the_threshold() -> None:
    sims = np.array([[0.50, 0.90, 0.89, 0.88, 0.87, 0.86]])
    labels = np.array([1, 0, 0, 0, 0, 0])
    ranking = category_aware_ranking(sims, np.arange(6)[None], np.array([[0.9, 0.1]]), labels, weight=0.5, k=5,
                                     hedge_min=0.2)
    assert 0 not in ranking.rows[0].tolist()


def test_an_exact_match_comes_first_whatever_the_classifier_says() -> None:
    sims = np.array([[1.0, 0.95, 0.9]])
    labels = np.array([0, 1, 1])
    probs = np.array([[0.05, 0.95]])
    ranking = category_aware_ranking(sims, np.arange(3)[None], probs, labels, weight=0.5, k=3, exact_similarity=0.999)
    assert ranking.rows[0, 0] == 0
    assert ranking.scores[0, 0] == pytest.approx(1.0 + 0.5 * 0.05)  # the score shown is the formula's, no jump bonus
    without = category_aware_ranking(sims, np.arange(3)[None], probs, labels, weight=0.5, k=3)
    assert without.rows[0, 0] == 1


def test_visual_similarity_blends_cosine_and_pixel_correlation() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((3, 28, 28)).astype(np.float32)
    items = pixel_features(images)
    query = pixel_features(images[1:2])
    blended = visual_similarity(np.array([[0.5, 0.5, 0.5]]), np.array([[0, 1, 2]]), query, items, weight=1.0)
    corr = items @ query[0]
    np.testing.assert_allclose(blended[0], (0.5 + corr) / 2, atol=1e-5)
    assert np.argmax(blended[0]) == 1
    same = visual_similarity(np.array([[1.0]]), np.array([[1]]), query, items, weight=2.0)
    np.testing.assert_allclose(same, [[1.0]], atol=1e-5)


def test_rocchio_moves_the_query_towards_liked_and_away_from_disliked() -> None:
    config = Config(feedback_liked=0.75, feedback_disliked=0.25)
    query = np.array([1.0, 0.0, 0.0])
    liked = np.array([[0.0, 1.0, 0.0]])
    disliked = np.array([[0.0, 0.0, 1.0]])
    refined = refine_vector(query, liked, disliked, config)[0]
    expected = np.array([1.0, 0.75, -0.25]) / np.linalg.norm([1.0, 0.75, -0.25])
    np.testing.assert_allclose(refined, expected, atol=1e-6)
    np.testing.assert_allclose(refine_vector(query, np.zeros((0, 3)), np.zeros((0, 3)), config)[0], query)


def test_a_short_list_gives_hedges_at_most_half_of_the_slots_after_the_first() -> None:
    sims = np.array([[0.90, 0.89, 0.88, 0.60, 0.59]])
    labels = np.array([0, 0, 0, 1, 2])
    probs = np.array([[0.5, 0.3, 0.2]])
    three = category_aware_ranking(sims, np.arange(5)[None], probs, labels, weight=0.3, k=3, hedge_min=0.1)
    assert three.rows[0].tolist() == [0, 1, 3], "one hedge (the likelier category) in a list of three"
    five = category_aware_ranking(sims, np.arange(5)[None], probs, labels, weight=0.3, k=5, hedge_min=0.1)
    assert sorted(labels[five.rows[0]].tolist()) == [0, 0, 0, 1, 2]


def test_the_score_shown_for_an_image_is_1_for_the_query_itself_and_keeps_the_ranking_order() -> None:
    config = Config()
    probabilities = np.array([0.6, 0.3, 0.1])
    own, other, third = 1.0 + config.w_image_category * 0.6, 0.8 + config.w_image_category * 0.3, 0.1
    shown = image_match(np.array([own, other, third]), probabilities, config)
    assert shown[0] == pytest.approx(1.0)
    assert np.all(np.diff(shown) < 0) and np.all((shown >= 0) & (shown <= 1))
    batch = image_match(np.array([[own, third], [0.5, 0.4]]), np.array([probabilities, [0.5, 0.5, 0.0]]), config)
    assert batch.shape == (2, 2) and batch[0, 0] == pytest.approx(1.0)
