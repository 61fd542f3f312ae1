from __future__ import annotations

import numpy as np
import pytest

from multimodal.errors import ArtifactError
from multimodal.metrics import unit_rows
from multimodal.models.text_encoder import TextMapper, train_mapper


@pytest.fixture(scope="module")
def sentence_encoder():
    from multimodal.models.text_encoder import SentenceEncoder

    return SentenceEncoder()


def test_sentence_model_loads_offline_and_gives_unit_vectors(sentence_encoder) -> None:
    vectors = sentence_encoder.encode(["black leather ankle boots", "red summer dress"])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_sentence_model_knows_shoppers_synonyms(sentence_encoder) -> None:
    a, b, c = sentence_encoder.encode(["trainers", "sneakers", "evening gown"])
    assert a @ b > a @ c


def test_query_cache_returns_the_same_vector(sentence_encoder) -> None:
    first = sentence_encoder.encode_query("navy chinos")
    first[:] = 0  # callers get a copy, the cache stays intact
    np.testing.assert_allclose(sentence_encoder.encode_query("navy chinos"), sentence_encoder.encode(["navy chinos"])[0], atol=1e-6)


@pytest.mark.slow  # trains a model or measures memory in fresh processes
def test_mapper_learns_targets_and_round_trips(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = unit_rows(rng.normal(size=(300, 384)))
    targets = unit_rows(x[:, :64] + 0.05 * rng.normal(size=(300, 64)))
    mapper = train_mapper(x, targets, groups=np.arange(300) // 3, epochs=40, seed=1)
    out = mapper.map(x)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    assert np.mean(np.sum(out * targets, axis=1)) > 0.5, "mapped vectors should point at their targets"
    assert {"loss", "val_loss"} <= set(mapper.history)
    mapper.save(tmp_path)
    loaded = TextMapper.load(tmp_path)
    np.testing.assert_allclose(loaded.map(x[:10]), mapper.map(x[:10]), atol=1e-6)


def test_missing_mapper_says_what_to_run(tmp_path) -> None:
    with pytest.raises(ArtifactError, match="train-text"):
        TextMapper.load(tmp_path)


@pytest.mark.slow  # trains a model or measures memory in fresh processes
def test_contrastive_mapper_puts_each_text_nearest_its_own_category() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 75)
    centres = unit_rows(rng.normal(size=(4, 64)))
    targets = unit_rows(centres[labels] + 0.3 * rng.normal(size=(300, 64)))
    x = unit_rows(np.concatenate([np.eye(4)[labels] * 3, rng.normal(size=(300, 380))], axis=1))
    mapper = train_mapper(x, targets, groups=np.arange(300), epochs=30, seed=1, objective="contrastive",
                          labels=labels, temperature=0.1)
    out = mapper.map(x)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    nearest_centre = np.argmax(out @ centres.T, axis=1)
    assert np.mean(nearest_centre == labels) > 0.9


def test_an_unknown_objective_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown text objective"):
        train_mapper(np.zeros((4, 8), np.float32), np.zeros((4, 4), np.float32), np.arange(4), objective="cosine")
