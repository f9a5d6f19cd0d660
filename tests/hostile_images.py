"""A hostile image corpus, generated at test time: bombs, truncations, lookalikes and unsupported formats.

Each case is ``(name, bytes, outcome)``: the ``ImageError`` subclass :func:`cleanmessy.images.load_image`
must raise, or ``None`` when the file is a valid (if odd) image that must decode. Files are built
byte by byte (never by decoding a bomb), so building the corpus costs little memory.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Callable, Iterator

from PIL import Image

from cleanmessy.errors import CorruptImageError, ImageError, ImageTooLargeError, NotAnImageError

Outcome = "type[ImageError] | None"
Case = tuple[str, bytes, Outcome]
ANY = (ImageError, None)
"""Outcome of a file that may decode or be refused, as long as nothing else happens."""


# ---- PNG -----------------------------------------------------------------------------------------

def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zeros_deflated(size: int, level: int = 9) -> bytes:
    """``size`` zero bytes, deflated without ever holding them all in memory."""
    compressor = zlib.compressobj(level)
    block = bytes(min(size, 1 << 20))
    parts, left = [], size
    while left:
        step = min(left, len(block))
        parts.append(compressor.compress(block[:step]))
        left -= step
    return b"".join(parts) + compressor.flush()


def png(width: int, height: int, *, depth: int = 8, colour: int = 0, extra: bytes = b"", idat: bytes | None = None) -> bytes:
    """A PNG of all-zero rows (filter byte 0), ``extra`` chunks before the pixels."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    row = 1 + (width * channels * depth + 7) // 8
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    pixels = zeros_deflated(row * height) if idat is None else idat
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + extra + png_chunk(b"IDAT", pixels) + png_chunk(b"IEND", b"")


def ztxt(size: int, keyword: bytes = b"Comment") -> bytes:
    """A zTXt chunk that inflates to ``size`` bytes."""
    return png_chunk(b"zTXt", keyword + b"\x00\x00" + zeros_deflated(size))


# ---- containers that embed a bigger image ----------------------------------------------------------

def ico(embedded: bytes, claimed: int = 0) -> bytes:
    """An ICO whose one entry claims ``claimed`` px (0 = 256) but holds ``embedded`` (a PNG)."""
    entry = struct.pack("<BBBBHHII", claimed, claimed, 0, 0, 1, 32, len(embedded), 22)
    return struct.pack("<HHH", 0, 1, 1) + entry + embedded


def icns(embedded: bytes, kind: bytes = b"ic10") -> bytes:
    """An ICNS whose ``kind`` entry (PNG-backed) holds ``embedded``."""
    body = kind + struct.pack(">I", 8 + len(embedded)) + embedded
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


# ---- GIF -------------------------------------------------------------------------------------------

def gif(screen: tuple[int, int], frame: tuple[int, int, int, int], frames: int = 1) -> bytes:
    """A GIF with a ``screen`` (w, h) logical screen and ``frames`` frames at ``(x, y, w, h)``, 2-colour."""
    x, y, w, h = frame
    out = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    for _ in range(frames):
        out += b"\x2c" + struct.pack("<HHHHB", x, y, w, h, 0)
        out += b"\x02\x02\x44\x01\x00"  # LZW min code 2, one tiny sub-block (clear, 1 pixel, end)
    return out + b"\x3b"


# ---- TIFF ------------------------------------------------------------------------------------------

def tiff(tags: dict[int, tuple[int, list[int]]], data: bytes = b"") -> bytes:
    """A little-endian TIFF with one IFD of ``{tag: (type, values)}`` (types 3 SHORT, 4 LONG) and ``data`` after it."""
    count = len(tags)
    ifd_offset = 8
    data_offset = ifd_offset + 2 + 12 * count + 4
    entries = b""
    overflow = b""
    for tag in sorted(tags):
        kind, values = tags[tag]
        fmt = "<H" if kind == 3 else "<I"
        packed = b"".join(struct.pack(fmt, value) for value in values)
        if len(packed) <= 4:
            entries += struct.pack("<HHI", tag, kind, len(values)) + packed.ljust(4, b"\x00")
        else:
            entries += struct.pack("<HHII", tag, kind, len(values), data_offset + len(data) + len(overflow))
            overflow += packed
    return b"II*\x00" + struct.pack("<I", ifd_offset) + struct.pack("<H", count) + entries + b"\x00" * 4 + data + overflow


def tiff_image(width: int, height: int, *, compression: int = 8, tile: tuple[int, int] | None = None,
               rows_per_strip: int | None = None, payload: bytes | None = None, bits: int = 8) -> bytes:
    """A grey TIFF whose pixel data is ``payload`` (default: deflated zeros for one strip or tile)."""
    data = payload if payload is not None else zlib.compress(bytes(4096))
    header_size = 8 + 2 + 12 * 12 + 4
    tags: dict[int, tuple[int, list[int]]] = {
        256: (4, [width]), 257: (4, [height]), 258: (3, [bits]), 259: (3, [compression]),
        262: (3, [1]), 277: (3, [1]),
    }
    if tile:
        tags.update({322: (4, [tile[0]]), 323: (4, [tile[1]]), 324: (4, [header_size]), 325: (4, [len(data)])})
    else:
        tags.update({273: (4, [header_size]), 278: (4, [rows_per_strip or height]), 279: (4, [len(data)])})
    tags.update({284: (3, [1]), 339: (3, [1])})
    while len(tags) < 12:  # pad to a fixed IFD size so the data offset above holds
        tags[65000 + len(tags)] = (3, [0])
    return tiff(tags, data)


# ---- JPEG / BMP / WebP headers -----------------------------------------------------------------------

def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF0 header is rewritten to claim ``width`` × ``height``."""
    data = bytearray(encoded(Image.new("RGB", (64, 64), (90, 120, 150)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def jpeg_with_scans(side: int, copies: int) -> bytes:
    """A flat progressive JPEG whose last scan is repeated ``copies`` times: each repeat is another pass over every pixel."""
    data = encoded(Image.new("RGB", (side, side), (120, 130, 140)), "JPEG", progressive=True)
    last_scan = data[data.rindex(b"\xff\xda"):-2]
    return data[:-2] + last_scan * copies + b"\xff\xd9"


def jpeg_with_thumbnail_markers() -> bytes:
    """A baseline JPEG with an APP1 segment full of scan markers (as an EXIF thumbnail has): still one scan."""
    data = encoded(Image.new("RGB", (96, 80), (10, 20, 30)), "JPEG")
    payload = b"Exif\x00\x00" + b"\xff\xda" * 600
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def bmp_claiming(width: int, height: int, bits: int = 24) -> bytes:
    """A BMP header for ``width`` × ``height`` with (almost) no pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + 16, 0, 0, 14 + len(info)) + info + bytes(16)


def bmp_rle8(width: int, height: int, runs: int) -> bytes:
    """An 8-bit run-length-encoded BMP of ``runs`` one-pixel runs: Pillow decodes these in Python, run by run."""
    pixels = b"\x01\x00" * runs + b"\x00\x01"
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    offset = 14 + len(info) + 1024
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + bytes(1024) + pixels


def webp_claiming(width: int, height: int) -> bytes:
    """A VP8L WebP header for ``width`` × ``height`` with no image stream worth the name."""
    bits = (width - 1) | ((height - 1) << 14)
    payload = b"\x2f" + struct.pack("<I", bits) + bytes(8)
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


# ---- the corpus ----------------------------------------------------------------------------------------

def _small(fmt: str, **options) -> bytes:
    return encoded(Image.new("RGB", (96, 80), (200, 180, 160)), fmt, **options)


def truncations(name: str, data: bytes) -> Iterator[Case]:
    """``data`` cut at several points: each is refused as damaged, never "not an image"."""
    yield f"{name}-cut8", data[:8], ImageError  # a RIFF header alone is not yet a WebP
    for cut in (16, 24, 40, len(data) // 2):
        yield f"{name}-cut{cut}", data[:cut], CorruptImageError
    yield f"{name}-cut-tail", data[:-8], ANY  # the pixels may all be there


def corpus() -> Iterator[Case]:
    """Every hostile case, cheapest first. The bomb builders run lazily, one case at a time."""
    big_png = lambda: png(12000, 12000, depth=1)  # noqa: E731  (144 MP: 18 MB of zeros, deflated)
    builders: list[tuple[str, Callable[[], bytes], Outcome]] = [
        # Containers hiding a bigger image: refused as unsupported before anything is decoded.
        ("ico-hiding-144mp-png", lambda: ico(big_png()), NotAnImageError),
        ("ico-small", lambda: ico(png(32, 32)), NotAnImageError),
        ("cur-hiding-png", lambda: b"\x00\x00\x02\x00" + ico(big_png())[4:], NotAnImageError),
        ("icns-hiding-144mp-png", lambda: icns(big_png()), NotAnImageError),
        ("icns-truncated", lambda: icns(big_png())[:4000], NotAnImageError),
        # PNG: header bombs, text-chunk bombs, pixel bombs under the limit.
        ("png-claims-10gp", lambda: png(100_000, 100_000, idat=zlib.compress(b"\x00" * 64)), ImageTooLargeError),
        ("png-claims-60mp", lambda: png(10000, 6000, idat=zlib.compress(b"\x00" * 64)), ImageTooLargeError),
        ("png-ztxt-2mb", lambda: png(64, 64, extra=ztxt(2 << 20)), ImageTooLargeError),
        ("png-ztxt-many", lambda: png(64, 64, extra=ztxt(1000 << 10) * 70), ImageTooLargeError),
        ("png-itxt-compressed", lambda: png(64, 64, extra=png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + zeros_deflated(4 << 20))), ImageTooLargeError),
        ("png-iccp-bomb", lambda: png(64, 64, extra=png_chunk(b"iCCP", b"icc\x00\x00" + zeros_deflated(8 << 20))), ImageTooLargeError),
        ("png-36mp-zeros", lambda: png(6000, 6000), None),
        ("png-rgba-39mp-truncated", lambda: png(6300, 6300, colour=6, idat=zeros_deflated(6300 * (1 + 6300 * 4))[:60000]),
         CorruptImageError),  # the costliest refusal: the whole RGBA buffer exists when the data runs out
        ("png-rgba16-small", lambda: png(300, 200, depth=16, colour=6), None),
        ("png-idat-garbage", lambda: png(2000, 2000, idat=b"\x78\x9c" + bytes(range(256)) * 4), CorruptImageError),
        # GIF: frames that claim more than the screen, many frames.
        ("gif-frame-60000sq", lambda: gif((64, 64), (0, 0, 60000, 60000)), ImageTooLargeError),
        ("gif-frame-offset", lambda: gif((64, 64), (65000, 65000, 10, 10)), ImageTooLargeError),
        ("gif-frame-9000sq", lambda: gif((64, 64), (0, 0, 9000, 9000)), ImageTooLargeError),
        ("gif-2000-frames", lambda: gif((64, 64), (0, 0, 1, 1), frames=2000), None),
        ("gif-5k-comments", lambda: (lambda g: g[:19] + b"\x21\xfe\x01a\x00" * 5_000 + g[19:])(gif((64, 64), (0, 0, 1, 1))),
         ImageTooLargeError),  # Pillow joins comments quadratically: 3 M of them ran for minutes
        ("gif-30k-extension-blocks", lambda: (lambda g: g[:19] + b"\x21\xff\x0bXMP DataXMP" + b"\x01a" * 30_000 + b"\x00"
                                              + g[19:])(gif((64, 64), (0, 0, 1, 1))), ImageTooLargeError),
        ("gif-screen-65535sq", lambda: gif((65535, 65535), (0, 0, 64, 64)), ImageTooLargeError),
        # TIFF: header bombs, tile and strip bombs.
        ("tiff-claims-10gp", lambda: tiff_image(100_000, 100_000), ImageTooLargeError),
        ("tiff-tile-65520sq", lambda: tiff_image(64, 64, tile=(65520, 65520)), ImageTooLargeError),
        ("tiff-tile-16000sq", lambda: tiff_image(64, 64, tile=(16000, 16000)), ImageTooLargeError),
        ("tiff-strip-rows-huge", lambda: tiff_image(64, 64, rows_per_strip=0xFFFFFFFF), None),
        ("tiff-6000sq-deflate-truncated", lambda: tiff_image(6000, 6000), CorruptImageError),
        ("tiff-raw-short", lambda: tiff_image(6000, 6000, compression=1, payload=bytes(1000)), CorruptImageError),
        ("tiff-30k-strips", lambda: tiff({256: (4, [32]), 257: (4, [30_000]), 258: (3, [8]), 259: (3, [1]), 262: (3, [1]),
                                          278: (4, [1]), 273: (4, [8] * 30_000), 279: (4, [32] * 30_000)}),
         ImageTooLargeError),  # Pillow builds and walks one tile per strip in Python: 1 M took 21 s
        ("tiff-bad-compression", lambda: tiff_image(64, 64, compression=60000), ImageError),
        ("tiff-bits-64", lambda: tiff_image(64, 64, bits=64), ImageError),
        # Headers of the other accepted formats claiming too much.
        ("jpeg-claims-65000sq", lambda: jpeg_claiming(65000, 65000), ImageTooLargeError),
        ("jpeg-claims-9000x5000", lambda: jpeg_claiming(9000, 5000), ImageTooLargeError),
        ("jpeg-claims-6000sq", lambda: jpeg_claiming(6000, 6000), ANY),
        ("jpeg-600-scans-4mp", lambda: jpeg_with_scans(2000, 600), ImageTooLargeError),
        ("jpeg-30k-comment-segments", lambda: _small("JPEG")[:2] + b"\xff\xfe\x00\x02" * 30_000 + _small("JPEG")[2:],
         ImageTooLargeError),  # Pillow reads header segments in Python: millions take minutes
        ("png-30k-empty-chunks", lambda: png(64, 64, extra=png_chunk(b"zzZz", b"") * 30_000), ImageTooLargeError),
        ("png-30k-idat-chunks", lambda: png(64, 64)[:33] + png_chunk(b"IDAT", b"") * 30_000 + png(64, 64)[33:],
         ImageTooLargeError),
        ("jpeg-thumbnail-markers", jpeg_with_thumbnail_markers, None),
        ("bmp-claims-10gp", lambda: bmp_claiming(100_000, 100_000), ImageTooLargeError),
        ("bmp-claims-negative", lambda: bmp_claiming(-64, 64), ImageError),
        ("bmp-claims-6000sq", lambda: bmp_claiming(6000, 6000), CorruptImageError),
        ("bmp-rle-9m-runs", lambda: bmp_rle8(6000, 6000, 9_000_000), ImageTooLargeError),
        ("bmp-rle-small", lambda: bmp_rle8(64, 64, 64 * 64), ANY),
        ("webp-claims-16383sq", lambda: webp_claiming(16383, 16383), ImageError),
        # Not images, or images we do not take.
        ("svg", lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9e9" height="9e9"/>', NotAnImageError),
        ("pdf", lambda: b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF", NotAnImageError),
        ("eps", lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n", NotAnImageError),
        ("heic", lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), NotAnImageError),
        ("avif", lambda: b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + bytes(64), NotAnImageError),
        ("psd", lambda: b"8BPS\x00\x01" + bytes(6) + struct.pack(">HIIHH", 3, 30000, 30000, 8, 3) + bytes(64), NotAnImageError),
        ("tga", lambda: encoded(Image.new("RGB", (64, 64)), "TGA"), NotAnImageError),
        ("ppm", lambda: b"P6\n30000 30000\n255\n" + bytes(64), NotAnImageError),
        ("pcx", lambda: encoded(Image.new("RGB", (64, 64)), "PCX"), NotAnImageError),
        ("qoi", lambda: b"qoif" + struct.pack(">II", 30000, 30000) + b"\x04\x00" + bytes(64), NotAnImageError),
        ("jpeg2000", lambda: b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(64), NotAnImageError),
        ("zip", lambda: b"PK\x03\x04" + bytes(64), NotAnImageError),
        ("html", lambda: b"<!doctype html><img src=x onerror=alert(1)>", NotAnImageError),
        ("nul-bytes", lambda: bytes(4096), NotAnImageError),
        # Polyglots: a valid image with something else attached is still that image.
        ("jpeg-with-zip-appended", lambda: _small("JPEG") + b"PK\x03\x04" + bytes(200), None),
        ("gif-with-script-appended", lambda: _small("GIF") + b"*/=alert(1)//", None),
        ("png-with-html-appended", lambda: _small("PNG") + b"<html><script>x()</script></html>", None),
        ("html-with-png-appended", lambda: b"<html>" + _small("PNG"), NotAnImageError),
        ("webp-animated", lambda: encoded(Image.new("RGB", (64, 64)), "WEBP", save_all=True,
                                          append_images=[Image.new("RGB", (64, 64), (9, 9, 9))]), None),
    ]
    for name, build, outcome in builders:
        yield name, build(), outcome
    for fmt in ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"):
        yield from truncations(f"{fmt.lower()}", _small(fmt))
    yield from truncations("jpeg-progressive", _small("JPEG", progressive=True, quality=90))
