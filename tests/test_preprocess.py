from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from multimodal.catalog.images import preprocess, render_product_photo, to_uint8
from multimodal.errors import InvalidInputError


def _item() -> np.ndarray:
    """A light 'boot' shape on black, centred and filling the frame like a Fashion-MNIST image."""
    img = np.zeros((28, 28), np.uint8)
    img[0:28, 3:11] = 200
    img[20:28, 3:25] = 230
    return img


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_catalog_image_passes_through_unchanged_but_for_its_contrast() -> None:
    out = preprocess(_item())
    assert out.shape == (28, 28) and out.dtype == np.float32
    np.testing.assert_allclose(out, _item() / 230.0, atol=1e-6)  # the brightest pixel becomes 1
    full = _item().astype(np.float32) * (255 / 230)
    np.testing.assert_allclose(preprocess(full.astype(np.uint8)), full.astype(np.uint8) / 255.0, atol=1e-6)


def test_a_darker_copy_of_an_item_preprocesses_like_the_item() -> None:
    dark = (_item() * 0.4).astype(np.uint8)
    np.testing.assert_allclose(preprocess(dark), preprocess(_item()), atol=0.01)


def test_a_dark_item_on_white_is_inverted_to_light_on_black() -> None:
    photo = 255 - _item()
    out = preprocess(_png(photo))
    assert out[0, 0] < 0.05 and out[22, 8] > 0.7


def test_an_off_centre_item_in_a_big_frame_is_cropped_padded_and_resized() -> None:
    canvas = np.full((400, 600), 255, np.uint8)
    item = np.asarray(Image.fromarray(255 - _item()).resize((120, 120), Image.Resampling.NEAREST))
    canvas[250:370, 40:160] = item
    out = preprocess(canvas)
    reference = preprocess(_item())
    assert np.corrcoef(out.ravel(), reference.ravel())[0, 1] > 0.9


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "I;16", "LA", "1", "CMYK"])
def test_every_common_image_mode_is_accepted(mode: str) -> None:
    base = Image.fromarray(255 - _item()).resize((90, 70))
    converted = base.convert(mode) if mode != "I;16" else Image.fromarray((np.asarray(base).astype(np.uint16) * 257))
    buffer = io.BytesIO()
    converted.save(buffer, format="PNG" if mode != "CMYK" else "JPEG")
    out = preprocess(buffer.getvalue())
    assert out.shape == (28, 28) and np.isfinite(out).all() and out.max() > 0.5


def test_transparent_background_counts_as_white() -> None:
    rgba = np.zeros((50, 50, 4), np.uint8)
    rgba[10:40, 20:30] = (30, 30, 30, 255)  # an opaque dark item, the rest transparent
    out = preprocess(_png(rgba, "RGBA"))
    assert out.max() > 0.6 and out[0, 0] < 0.05


def test_float_and_sixteen_bit_arrays_are_scaled_by_their_range() -> None:
    as_float = preprocess(_item().astype(np.float32) / 255.0)
    as_u16 = preprocess(_item().astype(np.uint16) * 257)
    np.testing.assert_allclose(as_float, as_u16, atol=1e-3)


def test_a_shoppers_photo_looks_like_the_catalog_item() -> None:
    rng = np.random.default_rng(0)
    photo = render_product_photo(_item(), rng)
    assert Image.open(io.BytesIO(photo)).size[0] >= 300
    out = preprocess(photo)
    assert np.corrcoef(out.ravel(), preprocess(_item()).ravel())[0, 1] > 0.85


def test_a_blank_image_does_not_crash() -> None:
    out = preprocess(np.full((40, 40), 255, np.uint8))
    assert out.shape == (28, 28) and np.isfinite(out).all()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.4 definitely not an image", "not an image"),
        (_png(_item())[:60], "damaged or truncated"),
        (np.full((5, 5), np.nan), "NaN"),
        (np.zeros((0, 10)), "empty"),
        (np.zeros((4, 4, 7)), "shape"),
        (12345, "cannot use"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(payload, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        preprocess(payload)


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, format="PNG")  # tiny file, 400 million pixels
    with pytest.raises(InvalidInputError, match="pixels|too large"):
        preprocess(buffer.getvalue())


def test_a_missing_path_is_refused(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="no image file"):
        preprocess(tmp_path / "nope.png")


def test_to_uint8_round_trips() -> None:
    """What add-items stores (uint8) is what the model saw, to half a grey level."""
    seen = preprocess(_png(255 - _item()))  # a photo: inverted, cropped, resized
    stored = to_uint8(seen)
    assert stored.dtype == np.uint8
    np.testing.assert_allclose(stored / 255.0, seen, atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(preprocess(stored), seen, atol=1 / 255 + 1e-6)


@pytest.mark.parametrize(("width", "height", "message"), [(39_000_000, 1, "on a side"), (20_000, 2_000, "on a side"),
                                                          (3_000, 100, "30 times longer"), (0, 5, "empty")])
def test_absurd_sides_and_strips_are_refused_before_decoding(width, height, message, monkeypatch) -> None:
    from multimodal.catalog import images as module

    with pytest.raises(InvalidInputError, match=message):
        module.check_size(width, height)
    if width:  # a real file of that size: refused before Pillow decodes a single row
        buffer = io.BytesIO()
        Image.new("1", (width, height)).save(buffer, format="PNG")
        monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded an absurd image"))
        with pytest.raises(InvalidInputError, match=message):
            preprocess(buffer.getvalue())


def test_an_accepted_huge_image_is_shrunk_before_float_work_and_gives_the_same_item() -> None:
    big = Image.fromarray(255 - _item()).resize((2_800, 2_800), Image.Resampling.NEAREST)
    small = Image.fromarray(255 - _item()).resize((280, 280), Image.Resampling.NEAREST)
    assert np.corrcoef(preprocess(big).ravel(), preprocess(small).ravel())[0, 1] > 0.98
    yy, xx = np.mgrid[0:3_000, 0:2_000]
    rgba = np.zeros((3_000, 2_000, 4), np.uint8)
    rgba[(yy - 1_000 > xx - 500) & (yy < 2_000) & (xx > 500)] = (20, 20, 20, 255)  # a dark triangle, the rest transparent
    out = preprocess(Image.fromarray(rgba, "RGBA"))  # flattened over white strip by strip
    reference = preprocess(Image.fromarray(np.ascontiguousarray(rgba[::10, ::10]), "RGBA"))  # small: no shrinking
    assert out.max() > 0.6 and out[27, 0] > 0.5 and out[0, 27] < 0.05
    assert np.corrcoef(out.ravel(), reference.ravel())[0, 1] > 0.95


@pytest.mark.slow  # trains a model or measures memory in fresh processes
def test_peak_memory_of_preprocessing_stays_under_200_mb(tmp_path) -> None:
    """The issue's two shapes and the largest accepted images, each in a fresh process."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(root / "benchmarks" / "preprocess_memory.py"), "--json"],
                         capture_output=True, text=True, check=True, cwd=root)
    rows = {f"{row['size']} {row['mode']} {row['format']}": row for row in json.loads(run.stdout)}
    assert rows["39,000,000 x 1 L PNG"]["outcome"].startswith("refused") and rows["20,000 x 2,000 L PNG"]["outcome"].startswith("refused")
    assert all(row["extra_mb"] < 200 for row in rows.values()), rows
    assert sum(row["outcome"].startswith("result") for row in rows.values()) == 3
