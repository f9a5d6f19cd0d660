"""Start the Space in-process on 127.0.0.1 for tests, and build the awkward files users upload."""

from __future__ import annotations

import io
import struct
import zlib
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from tests.helpers import free_port, make_room_image


@contextmanager
def running_space(model_dir: Path, feedback_dir: Path, examples: list[str] | None = None, **overrides) -> Iterator:
    """Yield ``(url, service)`` for the real app built by ``space/app.py``, serving ``model_dir``."""
    from cleanmessy import Predictor
    from space.app import build_demo, launch
    from space.config import SpaceConfig
    from space.service import SpaceService

    config = replace(SpaceConfig(port=free_port()), **overrides)
    service = SpaceService(Predictor.load(model_dir, threads=1), max_batch=config.max_batch,
                           feedback_dir=feedback_dir)
    demo = build_demo(service, config, examples or [])
    _, url = launch(demo, config, block=False)
    try:
        yield url, service
    finally:
        demo.close()
        service.close()


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_16bit(size: tuple[int, int] = (64, 48)) -> bytes:
    """A 16-bit greyscale PNG written by hand (Pillow saves I;16 but the bytes here are unambiguous)."""
    width, height = size
    ramp = (np.arange(width * height, dtype=np.uint32) * 40 % 65536).astype(">u2").reshape(height, width)
    raw = b"".join(b"\x00" + row.tobytes() for row in ramp)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def upload_files(folder: Path) -> dict[str, Path]:
    """Files of every kind the Space must answer or refuse clearly, written into ``folder``."""
    room = make_room_image(messy=True, size=(96, 80), seed=5)
    frames = [make_room_image(messy=i % 2 == 1, size=(64, 64), seed=i) for i in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    jpeg = encoded(room, "JPEG", quality=90)
    files = {
        "room.jpg": jpeg,
        "room.webp": encoded(room, "WEBP"),
        "animated.gif": gif.getvalue(),
        "cmyk.jpg": encoded(room.convert("CMYK"), "JPEG"),
        "sixteen-bit.png": png_16bit(),
        "notes.jpg": b"these are my notes, not a photo\n" * 10,
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "header-cut.jpg": b"\xff\xd8\xff\xe0" + b"a JPEG cut off inside its header" * 20,
        "empty.jpg": b"",
        "photo.heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64),
        "huge.png": encoded(Image.new("1", (8000, 6000)), "PNG"),
        "tiny.png": encoded(room.resize((20, 16)), "PNG"),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths
