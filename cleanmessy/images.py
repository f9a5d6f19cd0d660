"""Untrusted image intake: bytes, paths, file objects or PIL images -> a checked RGB image.

Everything that serves or evaluates the model goes through :func:`load_image`, so
training, the Space and the bot decode and convert images identically.

>>> from cleanmessy.images import load_image
>>> image = load_image("room.jpg")          # doctest: +SKIP
>>> image.mode
'RGB'
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO, Union

from PIL import Image, ImageOps, UnidentifiedImageError

from cleanmessy import settings
from cleanmessy.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
)

ImageSource = Union[bytes, bytearray, memoryview, str, os.PathLike, BinaryIO, Image.Image]

DEFAULT_MIN_SIDE = 32
"""Smallest width or height that still shows a room."""

# The byte and pixel limits default to ``settings.max_image_bytes()`` / ``settings.max_image_pixels()``
# (``MAX_IMAGE_BYTES``, ``MAX_IMAGE_PIXELS``), read when an image is read, not at import.

_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"avif")


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.0f} MP" if pixels >= 1e6 else f"{pixels / 1e6:.1f} MP"


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def check_size(size: tuple[int, int], *, max_pixels: int, min_side: int) -> None:
    """Raise if ``size`` (width, height) is over ``max_pixels`` or has a side under ``min_side``."""
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image too large: {_megapixels(width * height)}, limit {_megapixels(max_pixels)}"
        )
    if min(width, height) < min_side:
        raise ImageTooSmallError(
            f"image too small: {width}×{height} px, need at least {min_side}×{min_side}"
        )


def read_bytes(source: ImageSource, max_bytes: int | None = None) -> bytes:
    """Read an encoded image from bytes, a path or a file object, enforcing ``max_bytes`` (default: the setting)."""
    max_bytes = max_bytes or settings.max_image_bytes()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise NotAnImageError(f"no such image file: {path.name}")
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageTooLargeError(f"file too large: {_megabytes(size)}, limit {_megabytes(max_bytes)}")
        data = path.read_bytes()
    elif hasattr(source, "read"):
        data = source.read(max_bytes + 1)
    else:
        raise NotAnImageError(f"cannot read an image from a {type(source).__name__}")
    if not data:
        raise EmptyImageError("the file is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"file too large: over {_megabytes(max_bytes)}")
    return data


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode (P, LA, RGBA, CMYK, I;16, I, F, 1, L...) to RGB on a white background."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Scale high bit depth to 8 bits by the actual range instead of clipping.
        import numpy as np

        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / (high - low) * 255.0 if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.astype("uint8"), "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def decode(
    data: bytes,
    *,
    max_pixels: int | None = None,
    min_side: int = DEFAULT_MIN_SIDE,
    size_hint: int | None = None,
) -> Image.Image:
    """Decode encoded bytes into an upright RGB image (first frame of animations).

    With ``size_hint``, a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (Pillow's ``draft``,
    done in the DCT, so it is faster and smooths like a box filter) as long as both sides stay
    at least ``size_hint`` pixels. The model resizes to about that size anyway.
    """
    max_pixels = max_pixels or settings.max_image_pixels()
    # We enforce our own pixel limit before decoding; Pillow's global guard stays on as a backstop.
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, max_pixels)
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        raise NotAnImageError("HEIC/AVIF photos are not supported: please send a JPEG or PNG")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(f"image too large: limit {_megapixels(max_pixels)}") from error
    except (UnidentifiedImageError, ValueError) as error:
        raise NotAnImageError("this file is not an image (JPEG, PNG, WebP, GIF, BMP or TIFF expected)") from error
    except (OSError, SyntaxError, EOFError) as error:  # e.g. a JPEG cut off inside its header
        raise CorruptImageError("the image is damaged or truncated: please send it again") from error
    check_size(image.size, max_pixels=max_pixels, min_side=min_side)
    try:
        if size_hint and image.format == "JPEG":
            image.draft("RGB", (size_hint, size_hint))
        image.seek(0)
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # a copy otherwise, even when upright
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise CorruptImageError("the image is damaged or truncated: please send it again") from error
    return to_rgb(image)


def load_image(
    source: ImageSource,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    min_side: int = DEFAULT_MIN_SIDE,
    size_hint: int | None = None,
) -> Image.Image:
    """Turn untrusted input into an RGB ``PIL.Image``, or raise an ``ImageError`` with a user-facing message.

    ``source`` may be encoded bytes, a path, a binary file object or an already
    decoded ``PIL.Image`` (whose pixel count and mode are still checked).
    ``size_hint`` lets a large JPEG decode at reduced scale (see :func:`decode`).
    """
    if isinstance(source, Image.Image):
        check_size(source.size, max_pixels=max_pixels or settings.max_image_pixels(), min_side=min_side)
        return to_rgb(source)
    return decode(read_bytes(source, max_bytes), max_pixels=max_pixels, min_side=min_side, size_hint=size_hint)
