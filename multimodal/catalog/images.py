"""Turn any image (catalog array, shopper's photo, raw bytes) into the model's 28x28 input.

Fashion-MNIST items are light on a black background, cropped to the item and scaled so its
longer side fills the frame. A shopper's photo is the opposite (dark item, white background,
anywhere in a large frame), so we invert it when its border is light, crop to the item, pad
to a square and resize. Catalog images pass through the same function, so training,
indexing and search all see the same kind of input.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from multimodal.errors import InvalidInputError

IMAGE_SIZE = 28
MAX_PIXELS = 40_000_000  # ~ a 6,300 x 6,300 photo; larger is refused before decoding
MAX_SIDE = 12_000  # longest side accepted (a 39,000,000 x 1 PNG is 38 KB but absurd)
MAX_ASPECT = 20.0  # longer side / shorter side; no product photo is a strip
WORK_SIDE = 1_024  # images are shrunk to this longest side before any float work: memory stays bounded
MAX_BYTES = 50 * 1024 * 1024
_FOREGROUND = 0.05  # intensity above the background level that counts as the item

ImageInput = Union[Image.Image, np.ndarray, bytes, bytearray, str, os.PathLike]


def check_size(width: int, height: int, what: str = "image") -> None:
    """Refuse sizes that are empty, absurd or too large, from the header alone (before any allocation).

    Raises:
        InvalidInputError: the size breaks one of ``MAX_SIDE``, ``MAX_ASPECT``, ``MAX_PIXELS``.
    """
    if width < 1 or height < 1:
        raise InvalidInputError(f"{what} has an empty size {width}x{height}")
    if max(width, height) > MAX_SIDE:
        raise InvalidInputError(f"{what} is {width:,}x{height:,} pixels; at most {MAX_SIDE:,} on a side are accepted")
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise InvalidInputError(
            f"{what} is {width:,}x{height:,} pixels, a strip {max(width, height) / min(width, height):,.0f} times longer "
            f"than wide; at most {MAX_ASPECT:.0f}:1 is accepted"
        )
    if width * height > MAX_PIXELS:
        raise InvalidInputError(f"{what} declares {width}x{height} pixels, more than the {MAX_PIXELS:,} allowed")


def load_image(image: ImageInput) -> Image.Image | np.ndarray:
    """Decode bytes or a path into a PIL image, refusing what is not a sane image.

    Raises:
        InvalidInputError: empty or non-image data, truncated files, absurd sizes, bad arrays.
    """
    if isinstance(image, Image.Image):
        check_size(*image.size)
        return image
    if isinstance(image, np.ndarray):
        return _check_array(image)
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise InvalidInputError(f"no image file at {path}")
        if path.stat().st_size > MAX_BYTES:
            raise InvalidInputError(f"{path.name} is larger than {MAX_BYTES // (1024 * 1024)} MB")
        image = path.read_bytes()
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if not data:
            raise InvalidInputError("the uploaded file is empty")
        if len(data) > MAX_BYTES:
            raise InvalidInputError(f"the uploaded file is larger than {MAX_BYTES // (1024 * 1024)} MB")
        return _decode(data)
    raise InvalidInputError(f"cannot use a {type(image).__name__} as an image; give a PIL image, array, bytes or path")


def _decode(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            check_size(*img.size)
            if img.format == "JPEG":  # let the decoder scale by 1/2..1/8: a big JPEG never exists at full size
                img.draft(img.mode, (WORK_SIDE, WORK_SIDE))
            img.load()  # decode now, so truncation is caught here and not later
    except InvalidInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInputError(f"image is too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise InvalidInputError("the file is not an image PIL can read (PNG, JPEG, WebP, BMP, GIF...)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInputError(f"the image file is damaged or truncated ({exc})") from exc
    return img


def _check_array(array: np.ndarray) -> np.ndarray:
    if array.size == 0:
        raise InvalidInputError("the image array is empty")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise InvalidInputError(f"image array has shape {array.shape}; expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)")
    check_size(array.shape[1], array.shape[0], "image array")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise InvalidInputError(f"image array has dtype {array.dtype}; expected numbers")
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        raise InvalidInputError("the image array contains NaN or infinite values")
    return array


def to_grayscale(image: Image.Image | np.ndarray) -> np.ndarray:
    """Float32 luminance in [0, 1], whatever the mode or dtype; transparency becomes white."""
    if isinstance(image, np.ndarray):
        return _array_to_gray(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _array_to_gray(np.asarray(image))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def _array_to_gray(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 3:
        if array.shape[2] == 4:  # composite over white, like a PNG with transparency
            alpha = _scale(array[..., 3])
            rgb = _scale(array[..., :3])
            array = rgb * alpha[..., None] + (1.0 - alpha[..., None])
            return (array @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)
        if array.shape[2] == 3:
            return (_scale(array) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)
        array = array[..., 0]
    return _scale(array)


def _scale(array: np.ndarray) -> np.ndarray:
    """Map an integer or float array onto [0, 1] by its dtype's range."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if np.issubdtype(array.dtype, np.integer):
        top = 65535.0 if array.max(initial=0) > 255 else 255.0
        return np.clip(array.astype(np.float32) / top, 0.0, 1.0)
    array = array.astype(np.float32)
    if array.max(initial=0.0) > 1.0:  # floats on a 0-255 scale
        array = array / 255.0
    return np.clip(array, 0.0, 1.0)


def preprocess(image: ImageInput) -> np.ndarray:
    """The model's input: a (28, 28) float32 array in [0, 1], light item on black.

    Steps: decode, grayscale, invert if the border is light (a photo on white), subtract
    the background level, crop to the item, pad to a centred square, resize to 28x28.
    """
    gray = to_grayscale(_shrink(load_image(image)))
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 0.5:
        gray = 1.0 - gray
        border = 1.0 - border
    background = float(np.median(border))
    gray = np.clip((gray - background) / max(1.0 - background, 1e-6), 0.0, 1.0)
    # Contrast: Fashion-MNIST items peak at full intensity; a dark or tinted photo peaks lower.
    # Scaling the brightest pixel to 1 makes both cross the foreground threshold at the same
    # edges, so the crop (and everything after it) matches the catalog image.
    peak = float(gray.max())
    if peak > _FOREGROUND:
        gray = gray / peak
    mask = gray > _FOREGROUND
    if not mask.any():  # a blank image: nothing to crop, keep it whole
        mask[:] = True
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    side = max(crop.shape)
    square = np.zeros((side, side), dtype=np.float32)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    if side == IMAGE_SIZE:
        return square
    pil = Image.fromarray(square, mode="F")
    resample = Image.Resampling.LANCZOS if side > IMAGE_SIZE else Image.Resampling.BILINEAR
    resized = np.asarray(pil.resize((IMAGE_SIZE, IMAGE_SIZE), resample=resample), dtype=np.float32)
    return np.clip(resized, 0.0, 1.0)


def _shrink(image: Image.Image | np.ndarray, colour: bool = False) -> Image.Image | np.ndarray:
    """Bring the longest side down to ``WORK_SIDE`` before any float copy, so the work per image is
    bounded whatever its size (the model sees 28x28; a 1,024-px item is plenty to crop). ``colour``
    keeps a transparent image's colours (flattened over white) where grayscale would do for 28x28."""
    width, height = (image.size if isinstance(image, Image.Image) else (image.shape[1], image.shape[0]))
    longest = max(width, height)
    if longest <= WORK_SIDE:
        return image
    if isinstance(image, np.ndarray):  # every step-th pixel: a view, no copy
        step = int(np.ceil(longest / WORK_SIDE))
        return image[::step, ::step]
    size = (max(1, round(width * WORK_SIDE / longest)), max(1, round(height * WORK_SIDE / longest)))
    if image.mode in ("1", "P", "PA"):  # palette indices cannot be averaged; nearest needs no full-size copy
        return image.resize(size, Image.Resampling.NEAREST)
    if image.mode in ("RGBA", "LA"):
        image = _flatten_in_strips(image, max(1, longest // WORK_SIDE), mode="RGB" if colour else "L")
    try:
        # ``reduce`` averages blocks in place of a copy (``resize`` would first copy an RGBA image
        # to premultiply it: +144 MB for 6,000 x 6,000), then one small resize to the exact size.
        factor = longest // WORK_SIDE
        if factor >= 2:
            image = image.reduce(factor)
        return image.resize(size, Image.Resampling.BOX) if max(image.size) > WORK_SIDE else image
    except (ValueError, OSError):  # a mode neither handles: convert (the rare path)
        return image.convert("RGBA").resize(size, Image.Resampling.BOX)


def _flatten_in_strips(image: Image.Image, factor: int, rows: int = 64, mode: str = "L") -> Image.Image:
    """Composite a transparent image over white (as ``mode``: grayscale or RGB), reduced by ``factor``,
    strip by strip: Pillow premultiplies a whole RGBA image before reducing it (a second full-size copy)."""
    width, height = image.size
    step = factor * rows
    parts = []
    for top in range(0, height, step):
        strip = image.crop((0, top, width, min(height, top + step))).convert("RGBA")
        flat = Image.alpha_composite(Image.new("RGBA", strip.size, (255, 255, 255, 255)), strip).convert(mode)
        parts.append(flat.reduce(factor) if factor > 1 else flat)
    out = Image.new(mode, (parts[0].width, sum(p.height for p in parts)))
    offset = 0
    for part in parts:
        out.paste(part, (0, offset))
        offset += part.height
    return out


def preprocess_batch(images: np.ndarray) -> np.ndarray:
    """Preprocess a stack of catalog images: (N, 28, 28) uint8 -> (N, 28, 28) float32, as an upload
    is; colour catalogs store their images ready, (N, S, S, 3) uint8 -> the same in [0, 1]."""
    if np.ndim(images) == 4:
        return np.asarray(images, dtype=np.float32) / 255.0
    return np.stack([preprocess(img) for img in images]) if len(images) else np.zeros((0, 28, 28), np.float32)


def square_colour(image: ImageInput, size: int) -> np.ndarray:
    """Any image as a (size, size, 3) uint8 colour square: transparency over white, the aspect
    kept and padded with the background colour (the median of its border), then resized. How a
    folder catalog stores its photos, and so how an upload to such a catalog is read. A photo's
    EXIF orientation is applied first; 16-bit and float images are scaled by their range."""
    loaded = load_image(image)
    if isinstance(loaded, Image.Image):
        loaded = _upright(loaded)
        if loaded.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            loaded = np.asarray(loaded)
    loaded = _shrink(loaded, colour=True)
    if isinstance(loaded, Image.Image):
        if loaded.mode in ("RGBA", "LA", "PA") or (loaded.mode == "P" and "transparency" in loaded.info):
            rgba = loaded.convert("RGBA")
            loaded = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        rgb = np.asarray(loaded.convert("RGB"), dtype=np.float32)
    else:
        array = _scale(_check_array(loaded)) * 255.0
        rgb = np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array[..., :3]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    background = np.median(border, axis=0)
    height, width = rgb.shape[:2]
    side = max(height, width)
    canvas = np.empty((side, side, 3), np.float32)
    canvas[:] = background
    top, left = (side - height) // 2, (side - width) // 2
    canvas[top : top + height, left : left + width] = rgb
    square = Image.fromarray(np.clip(canvas + 0.5, 0, 255).astype(np.uint8))
    if side != size:
        square = square.resize((size, size), Image.Resampling.LANCZOS if side > size else Image.Resampling.BICUBIC)
    return np.asarray(square, dtype=np.uint8)


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says (a phone's portrait shot); unchanged without one,
    or when the EXIF block is unreadable (the pixels still are)."""
    try:
        if image.getexif().get(0x0112, 1) in (1, None):
            return image
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not lose a readable photo
        return image


def preprocess_colour(image: ImageInput, size: int) -> np.ndarray:
    """The model's input for a colour catalog: (size, size, 3) float32 in [0, 1]."""
    return square_colour(image, size).astype(np.float32) / 255.0


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A preprocessed image as uint8, e.g. to show what the model sees."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def render_product_photo(item: np.ndarray, rng: np.random.Generator, size: int | None = None) -> bytes:
    """Re-shoot a 28x28 catalog item as a shopper's photo: dark, tinted, off-centre, on white, JPEG.

    Used by the evaluation and the tests to check that uploads work as well as catalog images.
    """
    size = size or int(rng.integers(300, 640))
    item_px = int(size * rng.uniform(0.45, 0.7))
    item_img = Image.fromarray(item).resize((item_px, item_px), Image.Resampling.BICUBIC)
    alpha = np.asarray(item_img, dtype=np.float32) / 255.0
    tint = rng.uniform(0.0, 0.6, size=3)  # a coloured, fairly dark product
    canvas = np.ones((size, size, 3), dtype=np.float32)
    top = int(rng.integers(0, size - item_px))
    left = int(rng.integers(0, size - item_px))
    region = canvas[top : top + item_px, left : left + item_px]
    canvas[top : top + item_px, left : left + item_px] = region * (1 - alpha[..., None]) + tint * alpha[..., None]
    canvas += rng.normal(0.0, 0.01, canvas.shape)
    photo = Image.fromarray((np.clip(canvas, 0, 1) * 255).astype(np.uint8), mode="RGB")
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=int(rng.integers(60, 90)))
    return buffer.getvalue()
