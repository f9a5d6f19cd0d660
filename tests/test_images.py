"""Image intake: every kind of bad input gets its own clear error; odd but valid images are converted."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
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
from tests.helpers import make_room_image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return make_room_image(messy=True, size=(120, 90))


@pytest.mark.parametrize(
    "convert",
    [
        lambda im: im.convert("P"),
        lambda im: im.convert("LA"),
        lambda im: im.convert("RGBA"),
        lambda im: im.convert("CMYK"),
        lambda im: im.convert("L"),
        lambda im: im.convert("1"),
        lambda im: Image.fromarray(np.asarray(im.convert("L"), dtype=np.uint16) * 257),
    ],
    ids=["P", "LA", "RGBA", "CMYK", "L", "1", "I;16"],
)
def test_any_mode_becomes_rgb(photo, convert):
    image = load_image(convert(photo))
    assert image.mode == "RGB" and image.size == photo.size


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_common_formats_decode_from_bytes(photo, fmt):
    image = load_image(encode(photo.convert("RGB"), fmt))
    assert image.mode == "RGB" and image.size == photo.size


def test_sixteen_bit_png_keeps_its_contrast(photo):
    gray = np.asarray(photo.convert("L"), dtype=np.uint16) * 257
    image = load_image(encode(Image.fromarray(gray), "PNG"))
    assert np.asarray(image).max() == 255 and np.asarray(image).min() == 0


@pytest.mark.parametrize(
    ("array", "fmt"),
    [
        (np.linspace(-5, 5, 64 * 48, dtype=np.float32).reshape(48, 64), "TIFF"),  # mode F
        (np.arange(64 * 48, dtype=np.int32).reshape(48, 64) * 1000, "TIFF"),  # mode I
        (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20, "PNG"),  # mode I;16
    ],
    ids=["float", "int32", "uint16"],
)
def test_high_bit_depth_files_are_scaled_to_the_full_range(array, fmt):
    image = np.asarray(load_image(encode(Image.fromarray(array), fmt)))
    assert image.shape == (48, 64, 3) and image.min() == 0 and image.max() == 255


def test_flat_high_bit_depth_image_is_black_not_an_error():
    image = load_image(encode(Image.fromarray(np.full((48, 64), 7, dtype=np.uint16)), "PNG"))
    assert np.asarray(image).max() == 0


def test_transparent_pixels_become_white():
    image = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    assert load_image(image).getpixel((0, 0)) == (255, 255, 255)


def test_animation_uses_first_frame():
    frames = [Image.new("RGB", (64, 64), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    assert load_image(buffer.getvalue()).getpixel((5, 5)) == (255, 0, 0)


def test_exif_orientation_is_applied(photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    data = encode(photo, "JPEG", exif=exif.tobytes())
    assert load_image(data).size == (photo.height, photo.width)


def test_path_and_file_object_sources(tmp_path, photo):
    path = tmp_path / "room.png"
    photo.save(path)
    assert load_image(path).size == photo.size
    assert load_image(str(path)).size == photo.size
    with path.open("rb") as handle:
        assert load_image(handle).size == photo.size


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", EmptyImageError, "empty"),
        (b"<html><body>not found</body></html>", NotAnImageError, "not an image"),
        (b"%PDF-1.4 fake", NotAnImageError, "not an image"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", NotAnImageError, "HEIC"),
    ],
    ids=["zero-bytes", "html", "pdf", "heic"],
)
def test_bad_bytes_are_rejected_clearly(data, error, message):
    with pytest.raises(error, match=message):
        load_image(data)


def test_truncated_image_is_corrupt(photo):
    data = encode(photo, "JPEG", quality=95)
    with pytest.raises(CorruptImageError, match="damaged or truncated"):
        load_image(data[: len(data) // 2])


def test_pixel_limit_names_the_size():
    data = encode(Image.new("RGB", (8000, 7500)), "PNG")
    with pytest.raises(ImageTooLargeError, match=r"image too large: 60 MP, limit 40 MP"):
        load_image(data)


def test_decompression_bomb_is_refused_before_decoding():
    # A PNG header claiming 100k x 100k pixels: must fail on the header, not by allocating 30 GB.
    data = encode(Image.new("L", (100, 100)), "PNG")
    header = data[12:16] + (100_000).to_bytes(4, "big") + (100_000).to_bytes(4, "big") + data[24:29]
    bomb = data[:12] + header + zlib.crc32(header).to_bytes(4, "big") + data[33:]
    with pytest.raises(ImageTooLargeError):
        load_image(bomb)


def test_byte_limit(photo, tmp_path):
    data = encode(photo, "PNG")
    with pytest.raises(ImageTooLargeError, match="file too large"):
        load_image(data, max_bytes=len(data) - 1)
    path = tmp_path / "big.png"
    path.write_bytes(data)
    with pytest.raises(ImageTooLargeError, match="file too large"):
        load_image(path, max_bytes=100)


def test_tiny_image_is_rejected():
    with pytest.raises(ImageTooSmallError, match=r"10×10 px"):
        load_image(Image.new("RGB", (10, 10)))


def test_missing_path_and_wrong_type():
    with pytest.raises(NotAnImageError, match="no such image file"):
        load_image("/nonexistent/room.jpg")
    with pytest.raises(NotAnImageError, match="cannot read an image from a int"):
        load_image(42)  # type: ignore[arg-type]


def test_every_image_error_is_a_value_error():
    assert issubclass(ImageError, ValueError)
