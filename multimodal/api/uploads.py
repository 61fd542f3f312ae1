"""Uploads and form fields: caps checked before work, each image decoded once.

The image is opened here to check its size from the header, then decoded by the same
``Image`` object and handed to the engine as a PIL image, so the bytes are parsed once per
request (the engine would otherwise open them a second time).
"""

from __future__ import annotations

import io
import json
from typing import Any

from fastapi import UploadFile
from PIL import Image, UnidentifiedImageError

from multimodal.api.settings import ApiSettings
from multimodal.catalog.images import WORK_SIDE, check_size
from multimodal.errors import InvalidInputError


class UploadTooLarge(InvalidInputError):
    """An upload over the byte or pixel cap (413)."""


def _name(filename: str | None) -> str:
    return filename or "the upload"


def check_bytes(data: bytes, filename: str | None, settings: ApiSettings) -> bytes:
    """Refuse an empty upload or one over the byte cap (``data`` holds at most the cap plus one byte)."""
    if len(data) > settings.max_upload_bytes:
        raise UploadTooLarge(f"{_name(filename)} is larger than {settings.max_upload_bytes // (1024 * 1024)} MB")
    if not data:
        raise InvalidInputError(f"{_name(filename)} is empty")
    return data


async def read_upload(upload: UploadFile, settings: ApiSettings) -> bytes:
    """The upload's bytes, never more than the cap plus one (enough to tell it is too large)."""
    return check_bytes(await upload.read(settings.max_upload_bytes + 1), upload.filename, settings)


def read_upload_sync(upload: UploadFile, settings: ApiSettings) -> bytes:
    """``read_upload`` for routes that run in a worker thread."""
    return check_bytes(upload.file.read(settings.max_upload_bytes + 1), upload.filename, settings)


def decode_image(data: bytes, filename: str | None, settings: ApiSettings) -> Image.Image:
    """Decode an upload once, refusing oversized images from the header, before any pixel is decoded.

    Raises:
        UploadTooLarge: more pixels than ``settings.max_image_pixels``.
        InvalidInputError: not an image, an absurd shape, or a damaged file.
    """
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
        width, height = image.size
    except Image.DecompressionBombError:
        raise UploadTooLarge(f"{_name(filename)} declares more pixels than can be decoded safely") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise InvalidInputError(f"{_name(filename)} is not an image this service can read (PNG, JPEG, WebP ...)") from None
    if width * height > settings.max_image_pixels:
        raise UploadTooLarge(f"the image is {width}x{height} pixels; at most {settings.max_image_pixels:,} pixels are accepted")
    check_size(width, height)
    if image.format == "JPEG":  # as the engine does: let the decoder scale a large JPEG down while reading it
        image.draft(image.mode, (WORK_SIDE, WORK_SIDE))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInputError(f"{_name(filename)} is damaged or truncated ({exc})") from None
    return image


def metadata_list(text: str | None, n: int) -> list[dict[str, Any]] | None:
    """The ``metadata`` form field: a JSON list of one object per file, or None when left out."""
    rows = _json_field(text, "metadata")
    if rows is None:
        return None
    if not isinstance(rows, list) or len(rows) != n or not all(isinstance(r, dict) for r in rows):
        raise InvalidInputError(f"metadata must be a JSON list of {n} objects, one per file")
    return rows


def facets_field(text: str | None) -> dict[str, list[str]] | None:
    """The ``facets`` form or query field: a JSON object of column -> value or values, or None."""
    facets = _json_field(text, "facets")
    if facets is None:
        return None
    if not isinstance(facets, dict) or not all(isinstance(v, (str, list)) for v in facets.values()):
        raise InvalidInputError('facets must be a JSON object of column -> values, e.g. {"baseColour": ["Navy Blue"]}')
    return {str(k): [v] if isinstance(v, str) else [str(x) for x in v] for k, v in facets.items()}


def _json_field(text: str | None, what: str) -> Any:
    """A form or query field holding JSON; None when it is left out or blank."""
    if text is None or not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{what} is not valid JSON: {exc}") from None
