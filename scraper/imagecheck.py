"""Decode downloaded bytes through the core's image intake, resize, and encode the kept JPEG.

The core's :func:`cleanmessy.images.load_image` decodes with pixel and byte limits,
applies ``exif_transpose`` and converts to RGB, so the dataset is built exactly as the
model will later see user photos. Its typed errors map to the scraper's rejection reasons.
"""

from __future__ import annotations

import io

from PIL import Image

from cleanmessy.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
)
from cleanmessy.images import load_image
from scraper.download import Rejected

_REASONS: tuple[tuple[type[ImageError], str], ...] = (
    (EmptyImageError, "empty"),
    (ImageTooSmallError, "too_small"),
    (ImageTooLargeError, "too_large"),
    (CorruptImageError, "corrupt"),
    (NotAnImageError, "undecodable"),
)


def decode_checked(data: bytes, *, min_side: int, max_pixels: int, max_bytes: int) -> Image.Image:
    """Decode untrusted bytes to an upright RGB image, or raise :class:`Rejected`."""
    try:
        return load_image(data, max_bytes=max_bytes, max_pixels=max_pixels, min_side=min_side)
    except ImageError as error:
        reason = next((code for kind, code in _REASONS if isinstance(error, kind)), "undecodable")
        raise Rejected(reason, str(error)) from None
    except Exception as error:  # noqa: BLE001 - hostile files can trip any decoder path
        raise Rejected("undecodable", f"{type(error).__name__}: {error}") from None


def fit_within(image: Image.Image, longest_side: int | None) -> Image.Image:
    """Downscale so the longer side is at most ``longest_side`` (never upscale; ``None`` keeps it)."""
    if longest_side is None or max(image.size) <= longest_side:
        return image
    scale = longest_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """Encode an RGB image as a baseline JPEG without metadata (EXIF was applied, then dropped)."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, optimize=True)
    return buffer.getvalue()
