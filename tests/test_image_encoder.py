from __future__ import annotations

import numpy as np
import pytest

from multimodal.config import Config
from multimodal.errors import InvalidInputError
from multimodal.models import image_encoder as ie
from multimodal.models import image_training as it
from tests.conftest import synthetic_fashion


def _loss(labels, embeddings, margin=0.2) -> float:
    return float(it.batch_hard_triplet_loss(np.array(labels), np.array(embeddings, dtype=np.float32), margin))


def test_triplet_loss_matches_a_hand_computed_value() -> None:
    # Anchor 0 (class 0): hardest positive at distance 1, hardest negative at distance 0.5.
    emb = [[0.0, 0.0], [1.0, 0.0], [0.0, 0.5], [0.0, 3.0]]
    labels = [0, 0, 1, 1]
    d = lambda a, b: float(np.linalg.norm(np.subtract(emb[a], emb[b])))  # noqa: E731
    expected = np.mean([
        max(0.0, d(0, 1) - min(d(0, 2), d(0, 3)) + 0.2),
        max(0.0, d(1, 0) - min(d(1, 2), d(1, 3)) + 0.2),
        max(0.0, d(2, 3) - min(d(2, 0), d(2, 1)) + 0.2),
        max(0.0, d(3, 2) - min(d(3, 0), d(3, 1)) + 0.2),
    ])
    assert _loss(labels, emb) == pytest.approx(expected, abs=1e-5)


def test_triplet_loss_is_zero_when_the_margin_is_met() -> None:
    emb = [[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [5.1, 0.0]]
    assert _loss([0, 0, 1, 1], emb, margin=0.5) == pytest.approx(0.0, abs=1e-6)


def test_triplet_loss_ignores_anchors_without_a_positive() -> None:
    emb = [[0.0, 0.0], [0.1, 0.0], [5.0, 0.0]]  # the lone class-1 item has no positive
    assert _loss([0, 0, 1], emb, margin=0.5) == pytest.approx(0.0, abs=1e-6)


def test_pk_batches_hold_k_items_of_p_distinct_classes() -> None:
    labels = np.repeat(np.arange(10), 40)
    batches = it.pk_batches(labels, p=5, k=4, rng=np.random.default_rng(0))
    assert batches.shape == (20, 20)
    for batch in batches:
        counts = np.bincount(labels[batch], minlength=10)
        assert sorted(counts[counts > 0].tolist()) == [4] * 5


def test_pk_batches_cover_the_epoch_and_refuse_impossible_shapes() -> None:
    labels = np.repeat(np.arange(4), 8)
    batches = it.pk_batches(labels, p=4, k=2, rng=np.random.default_rng(1))
    assert set(batches.ravel().tolist()) == set(range(32))
    with pytest.raises(InvalidInputError):
        it.pk_batches(labels, p=5, k=2, rng=np.random.default_rng(0))
    with pytest.raises(InvalidInputError):
        it.pk_batches(labels, p=2, k=1, rng=np.random.default_rng(0))


def test_augment_keeps_shape_and_range_and_changes_images() -> None:
    batch = np.random.default_rng(0).random((16, 28, 28)).astype(np.float32)
    out = it.augment(batch, np.random.default_rng(1))
    assert out.shape == batch.shape and out.min() >= 0.0 and out.max() <= 1.0
    assert not np.allclose(out, batch)


def test_nt_xent_matches_a_hand_computed_value() -> None:
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.6, 0.8]], np.float32)  # views: 0<->2, 1<->3
    t = 0.5
    sims = emb @ emb.T / t
    expected = []
    for i, positive in enumerate([2, 3, 0, 1]):
        others = [j for j in range(4) if j != i]
        expected.append(-sims[i, positive] + np.log(np.sum(np.exp(sims[i, others]))))
    assert float(it.nt_xent_loss(emb, t)) == pytest.approx(float(np.mean(expected)), abs=1e-5)


def test_nt_xent_is_lower_when_views_of_one_image_agree() -> None:
    agree = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], np.float32)
    swapped = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], np.float32)
    assert float(it.nt_xent_loss(agree, 0.1)) < float(it.nt_xent_loss(swapped, 0.1))


def test_reshoot_views_stay_close_to_the_item_and_differ_from_other_items() -> None:
    from multimodal.catalog.images import preprocess_batch

    rng = np.random.default_rng(4)
    images = np.zeros((12, 28, 28), np.uint8)
    for image in images:  # distinct items: a few bars of different places and shades each
        for _ in range(4):
            top, left = rng.integers(0, 20, size=2)
            image[top : top + rng.integers(4, 9), left : left + rng.integers(3, 9)] = rng.integers(120, 256)
    items = preprocess_batch(images)
    shots = it.reshoot(items, np.random.default_rng(0))
    assert shots.shape == items.shape and shots.min() >= 0.0 and shots.max() <= 1.0
    assert not np.allclose(shots, items)
    flat = lambda x: (x - x.mean()) / (np.linalg.norm(x - x.mean()) + 1e-9)  # noqa: E731
    corr = np.array([[float(np.sum(flat(a) * flat(b))) for b in items] for a in shots])
    mirrored = np.array([[float(np.sum(flat(a) * flat(b[:, ::-1]))) for b in items] for a in shots])
    best = np.maximum(corr, mirrored)  # a reshoot is mirrored half of the time
    assert np.mean(np.argmax(best, axis=1) == np.arange(len(items))) >= 0.75  # chance: 1/12


def test_input_smaller_than_mobilenet_allows_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="at least 32"):
        ie.build_embedding_model(Config(image_input_size=28))


def test_imagenet_weights_that_cannot_be_had_give_a_clear_error(monkeypatch) -> None:
    import keras

    from multimodal.errors import ArtifactError

    def offline(*args, **kwargs):
        raise OSError("no route to host")

    monkeypatch.setattr(keras.applications, "MobileNetV2", offline)
    with pytest.raises(ArtifactError, match="ImageNet weights"):
        ie.build_embedding_model(Config(image_weights="imagenet"))


@pytest.fixture(scope="module")
def toy_encoder(toy_build):
    """The toy build's encoder, trained one epoch on tiny synthetic data (``train_image_encoder``, as
    every build trains it): enough to test the mechanics, not the quality. Loaded, not trained again."""
    from multimodal import generations

    config, _, _ = toy_build
    images, _ = synthetic_fashion(12, seed=5)
    return ie.ImageEncoder.load(generations.current(config.artifacts_dir).path), images


def test_toy_training_gives_unit_norm_distinct_embeddings_in_inference_mode(toy_encoder) -> None:
    encoder, images = toy_encoder
    emb = encoder.embed(images.astype(np.float32) / 255.0)
    assert emb.shape == (len(images), 64)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    assert np.std(emb, axis=0).max() > 1e-3, "all embeddings are equal in inference mode"
    assert {"loss", "val_p_at_1", "val_accuracy"} <= set(encoder.history)
    probs = encoder.predict_proba(emb)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def test_save_and_load_give_identical_embeddings(toy_encoder, tmp_path) -> None:
    encoder, images = toy_encoder
    x = images[:20].astype(np.float32) / 255.0
    encoder.save(tmp_path)
    loaded = ie.ImageEncoder.load(tmp_path)
    np.testing.assert_allclose(loaded.embed(x), encoder.embed(x), atol=1e-6)
    np.testing.assert_allclose(loaded.predict_proba(loaded.embed(x)), encoder.predict_proba(encoder.embed(x)), atol=1e-6)
    assert loaded.config.image_alpha == 0.35
    assert not list(tmp_path.glob(".*tmp*")), "temporary files were left behind"


def test_flip_averaging_is_the_same_for_a_batch_and_a_single_query(toy_encoder) -> None:
    encoder, images = toy_encoder
    x = images[:6].astype(np.float32) / 255.0
    assert encoder.flip_averaging
    vectors, probs = encoder.encode(x)
    for i in range(len(x)):
        one_vector, one_probs = encoder.embed_one(x[i])
        np.testing.assert_allclose(one_vector, vectors[i], atol=1e-5)
        np.testing.assert_allclose(one_probs, probs[i], atol=1e-5)
    mirrored, _ = encoder.encode(np.ascontiguousarray(x[:, :, ::-1]))
    np.testing.assert_allclose(mirrored, vectors, atol=1e-5)  # an image and its mirror are one product
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_loading_from_an_empty_folder_says_what_to_run(tmp_path) -> None:
    from multimodal.errors import ArtifactError

    with pytest.raises(ArtifactError, match="train-image"):
        ie.ImageEncoder.load(tmp_path)
