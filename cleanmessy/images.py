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
import logging
import os
import struct
from pathlib import Path
from typing import BinaryIO, Union

from PIL import Image, ImageFile, ImageMode, ImageOps, UnidentifiedImageError

from cleanmessy import settings
from cleanmessy.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
)

logger = logging.getLogger(__name__)

ImageSource = Union[bytes, bytearray, memoryview, str, os.PathLike, BinaryIO, Image.Image]

DEFAULT_MIN_SIDE = 32
"""Smallest width or height that still shows a room."""

# The byte and pixel limits default to ``settings.max_image_bytes()`` / ``settings.max_image_pixels()``
# (``MAX_IMAGE_BYTES``, ``MAX_IMAGE_PIXELS``), read when an image is read, not at import.

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
"""The only Pillow plugins that ever see untrusted bytes; ICO, ICNS, EPS, PSD and the rest are refused unparsed."""
_ACCEPTED_TEXT = "JPEG, PNG, WebP, GIF, BMP or TIFF"

DECODE_BYTES_PER_PIXEL = 6
"""Decoding may need at most this many bytes per allowed pixel (240 MB at 40 MP): Pillow's buffer plus the codec's own."""

MAX_JPEG_SCAN_PIXELS = 2_000_000_000
"""Scans × pixels a JPEG may ask for. Each scan is a pass over the whole image (about 2.3 ns a pixel here), so
250 tiny scans over 25 MP took 14 s; real progressive files have about 10 scans (a 34 MP one may have 58)."""

MAX_STRUCTURE_PARTS = 20_000
"""PNG chunks, JPEG header segments, TIFF strips/tiles or GIF extension blocks a file may have. Pillow walks them in Python, 5-10 µs each:
1.5 M empty PNG chunks took 17 s, 4 M JPEG APP markers 19 s, 1 M TIFF strips 21 s. libpng writes 8 kB IDAT chunks
(2,560 for a 20 MB file); a 40 MP TIFF of one row per strip has 5,500 strips."""

MAX_GIF_COMMENT_BLOCKS = 1_000
"""Pillow joins a GIF's comment blocks by repeated concatenation, quadratic in their number: 3 M one-byte comments
ran for over 5 minutes. 1,000 blocks hold up to 255 kB of comment."""

MAX_BMP_RLE_BYTES = 1024 * 1024
"""Pillow decodes run-length-encoded BMPs in Python, about 2.3 µs a run: an 18 MB file of 9 M one-pixel runs took 21 s."""

_DAMAGED = "the image is damaged or truncated: please send it again"
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

        low, high = image.getextrema()
        array = np.array(image, dtype=np.float32)  # a writable float32 copy, scaled in place: 4 bytes a pixel
        array -= low
        array *= 255.0 / (high - low) if high > low else 0.0
        np.rint(array, out=array)
        return Image.fromarray(array.astype(np.uint8), "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _damaged(error: Exception) -> CorruptImageError:
    """The user-facing error for a decoder failure; the unusual kinds are logged, since they may be our bug."""
    expected = isinstance(error, (OSError, SyntaxError, ValueError, EOFError, struct.error))
    logger.log(logging.DEBUG if expected else logging.WARNING, "image refused as damaged: %s: %s",
               type(error).__name__, error)
    return CorruptImageError(_DAMAGED)


def _matches(accept, prefix: bytes) -> bool:
    try:
        result = accept(prefix)
    except Exception:  # noqa: BLE001  (a signature check that cannot read the prefix did not match it)
        return False
    return bool(result) and not isinstance(result, str)  # a string is Pillow's "maybe" warning


def _unidentified(data: bytes) -> ImageError:
    """Why Pillow could not open ``data``: an accepted format's signature means damage, another format's is unsupported."""
    prefix = data[:16].ljust(16, b"\x00")  # some signature checks unpack a fixed width
    Image.init()  # registers every plugin's signature check; only the checks run, nothing is decoded
    for name, (_, accept) in Image.OPEN.items():
        if accept is not None and _matches(accept, prefix):
            if name in ACCEPTED_FORMATS:
                return CorruptImageError(_DAMAGED)
            return NotAnImageError(f"{name} images are not supported: please send a {_ACCEPTED_TEXT}")
    return NotAnImageError(f"this file is not an image ({_ACCEPTED_TEXT} expected)")


def _open(data: bytes, max_pixels: int) -> ImageFile.ImageFile:
    """Identify ``data`` among the accepted formats only: no other Pillow plugin ever parses it."""
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        raise NotAnImageError(f"HEIC/AVIF photos are not supported: please send a {_ACCEPTED_TEXT}")
    try:
        _check_structure(data)
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except ImageError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(f"image too large: limit {_megapixels(max_pixels)}") from error
    except UnidentifiedImageError as error:
        raise _unidentified(data) from error
    except MemoryError as error:
        raise ImageTooLargeError(f"image too large: limit {_megapixels(max_pixels)}") from error
    except ValueError as error:
        if "MAX_TEXT" in str(error):  # PngImagePlugin's caps on inflated text and ICC chunks
            raise ImageTooLargeError("image metadata too large: its text or colour profile inflates past 1 MB") from error
        raise CorruptImageError(_DAMAGED) from error
    except Exception as error:  # noqa: BLE001  (any parser failure on untrusted bytes is damage, never a crash)
        raise _damaged(error) from error


def _pixel_bytes(mode: str) -> int:
    """Bytes Pillow stores per pixel in ``mode``: multi-band modes take 4, single bands their item size."""
    try:
        descriptor = ImageMode.getmode(mode)
    except KeyError:
        return 4
    if len(descriptor.bands) > 1:
        return 4
    return 1 if descriptor.typestr[-2:] in ("b1", "u1") else int(descriptor.typestr[-1])


def _tag(image: Image.Image, tag: int, default: int = 0) -> int:
    """A TIFF tag's (first) value as an int; ``default`` when it is missing or not a number."""
    value = getattr(image, "tag_v2", {}).get(tag, default)
    try:
        return int(value[0] if isinstance(value, tuple) else value)
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return default


def _jpeg_header(data: bytes) -> tuple[int, int | None]:
    """``(segments, position of the first scan or None)``: a JPEG's header segments, skipped by their lengths.

    Stops counting past :data:`MAX_STRUCTURE_PARTS`, so the walk itself stays cheap.
    """
    position, segments = 2, 0
    while position + 4 <= len(data) and segments <= MAX_STRUCTURE_PARTS:
        if data[position] != 0xFF:
            break
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xDA:
            return segments, position
        segments += 1
        position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
    return segments, None


def _png_chunks(data: bytes) -> int:
    """How many chunks a PNG holds, walked by their lengths; stops counting past :data:`MAX_STRUCTURE_PARTS`."""
    position, chunks = 8, 0
    while position + 8 <= len(data) and chunks <= MAX_STRUCTURE_PARTS:
        position += 12 + int.from_bytes(data[position:position + 4], "big")
        chunks += 1
    return chunks


def _tiff_parts(data: bytes) -> int:
    """The most strips or tiles the first IFD of a (Big)TIFF declares, read from the entries' counts alone."""
    endian = {b"II": "<", b"MM": ">"}.get(data[:2])
    if endian is None or len(data) < 16:
        return 0
    big = struct.unpack(endian + "H", data[2:4])[0] == 43
    count_format, entry_size = (endian + "Q", 20) if big else (endian + "I", 12)
    ifd = struct.unpack(count_format, data[8:16] if big else data[4:8])[0]
    size = 8 if big else 2
    if ifd + size > len(data):
        return 0
    entries = struct.unpack(endian + ("Q" if big else "H"), data[ifd:ifd + size])[0]
    entries = min(entries, (len(data) - ifd - size) // entry_size)
    parts = 0
    for start in range(ifd + size, ifd + size + entries * entry_size, entry_size):
        tag = struct.unpack(endian + "H", data[start:start + 2])[0]
        if tag in (273, 279, 324, 325):  # StripOffsets, StripByteCounts, TileOffsets, TileByteCounts
            parts = max(parts, struct.unpack(count_format, data[start + 4:start + 4 + (8 if big else 4)])[0])
    return parts


def _gif_blocks(data: bytes) -> tuple[int, int]:
    """``(sub-blocks, comment sub-blocks)`` of the extensions before a GIF's first image, where Pillow reads them."""
    if len(data) < 13:
        return 0, 0
    flags = data[10]
    position = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # after the global colour table
    blocks = comments = 0
    while position + 1 < len(data) and data[position] == 0x21 and blocks <= MAX_STRUCTURE_PARTS:
        comment = data[position + 1] == 0xFE
        position += 2
        while position < len(data) and blocks <= MAX_STRUCTURE_PARTS:
            length = data[position]
            position += 1 + length
            if not length:
                break
            blocks += 1
            comments += comment
    return blocks, comments


def _check_structure(data: bytes) -> None:
    """Refuse a file of more pieces than any real one has, before Pillow walks them one by one in Python."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        count, kind = _png_chunks(data), "PNG chunks"
    elif data.startswith(b"\xff\xd8"):
        count, kind = _jpeg_header(data)[0], "JPEG header segments"
    elif data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        count, kind = _tiff_parts(data), "TIFF strips or tiles"
    elif data.startswith(b"GIF8"):
        count, comments = _gif_blocks(data)
        kind = "GIF extension blocks"
        if comments > MAX_GIF_COMMENT_BLOCKS:
            raise ImageTooLargeError(f"image too complex to decode: over {MAX_GIF_COMMENT_BLOCKS} GIF comment blocks")
    else:
        return
    if count > MAX_STRUCTURE_PARTS:
        raise ImageTooLargeError(f"image too complex to decode: over {MAX_STRUCTURE_PARTS} {kind}")


def jpeg_scans(data: bytes) -> int:
    """How many scans (SOS markers) a JPEG holds, counted from its first scan, so an EXIF thumbnail does not count.

    After the first scan, entropy-coded data cannot contain the marker (0xFF is always stuffed),
    so counting it there is exact enough.
    """
    _, first_scan = _jpeg_header(data)
    if first_scan is None:
        return data.count(b"\xff\xda")
    return 1 + data.count(b"\xff\xda", first_scan + 2)


def _decode_bytes(image: ImageFile.ImageFile, scans: int) -> int:
    """Upper bound on the memory Pillow and its codec allocate to decode ``image``'s first frame."""
    width, height = image.size
    pixels = width * height
    total = pixels * _pixel_bytes(image.mode)
    if image.format in ("JPEG", "MPO") and (scans > 1 or "progressive" in image.info or "progression" in image.info):
        # With more than one scan (progressive, or sequential with one scan per component), libjpeg
        # keeps every DCT coefficient (2 bytes) of every component until the last scan.
        layers = getattr(image, "layer", None) or [("", 1, 1, 0)] * len(image.getbands())
        h_max = max(layer[1] for layer in layers) or 1
        v_max = max(layer[2] for layer in layers) or 1
        total += sum(pixels * layer[1] * layer[2] // (h_max * v_max) for layer in layers) * 2
    elif image.format == "TIFF":
        samples = _tag(image, 277, 1)
        bits = _tag(image, 258, 8)
        tile = _tag(image, 322) * _tag(image, 323)  # libtiff holds one whole tile, whatever the image size
        total += tile * samples * max(1, bits // 8)
        if _tag(image, 259, 1) in (6, 7) or _tag(image, 262) == 6:  # JPEG / YCbCr: read through an RGBA raster
            total += pixels * 4
    elif image.format == "WEBP":
        total += pixels * 4  # libwebp decodes into its own RGBA buffer first
    return total


def _check_decodable(image: ImageFile.ImageFile, data: bytes, max_pixels: int) -> None:
    """Refuse, from the headers alone, what would cost too much memory or time to decode."""
    scans = jpeg_scans(data) if image.format in ("JPEG", "MPO") else 1
    budget = max_pixels * DECODE_BYTES_PER_PIXEL
    needed = _decode_bytes(image, scans)
    if needed > budget:
        raise ImageTooLargeError(
            f"image too large to decode: needs {_megabytes(needed)}, limit {_megabytes(budget)}"
        )
    if image.format == "BMP" and any(tile[0] == "bmp_rle" for tile in image.tile) and len(data) > MAX_BMP_RLE_BYTES:
        raise ImageTooLargeError(
            f"run-length-encoded BMP too large to decode: {_megabytes(len(data))}, limit {_megabytes(MAX_BMP_RLE_BYTES)}"
        )
    if scans * image.size[0] * image.size[1] > MAX_JPEG_SCAN_PIXELS:
        raise ImageTooLargeError(f"image too large to decode: {scans} scans of {_megapixels(image.size[0] * image.size[1])}")


def decode(
    data: bytes,
    *,
    max_pixels: int | None = None,
    min_side: int = DEFAULT_MIN_SIDE,
    size_hint: int | None = None,
) -> Image.Image:
    """Decode encoded bytes into an upright RGB image (first frame of animations).

    Only :data:`ACCEPTED_FORMATS` are parsed. The pixel limit, and the memory the first
    frame's decoder will need, are checked from the headers before any pixel is allocated.
    Every failure is an ``ImageError`` whose message a user can act on.

    With ``size_hint``, a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (Pillow's ``draft``,
    done in the DCT, so it is faster and smooths like a box filter) as long as both sides stay
    at least ``size_hint`` pixels. The model resizes to about that size anyway.
    """
    max_pixels = max_pixels or settings.max_image_pixels()
    # We enforce our own pixel limit from the header; Pillow's global guard stays on, above it, as a backstop.
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, max_pixels)
    image = _open(data, max_pixels)
    check_size(image.size, max_pixels=max_pixels, min_side=min_side)
    try:
        _check_decodable(image, data, max_pixels)
        if size_hint and image.format == "JPEG":
            image.draft("RGB", (size_hint, size_hint))
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # a copy otherwise, even when upright
        return to_rgb(image)
    except ImageError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(f"image too large: limit {_megapixels(max_pixels)}") from error
    except MemoryError as error:
        raise ImageTooLargeError("image too large to decode") from error
    except Exception as error:  # noqa: BLE001  (any decoder failure on untrusted bytes is damage, never a crash)
        raise _damaged(error) from error


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
