"""Hostile images: a generated corpus of bombs, lookalikes and truncations, and property-based fuzzing of the intake.

Whatever the bytes, ``load_image`` returns an RGB image or raises an ``ImageError`` (a
``CleanMessyError``), and a refusal never costs more than ``REFUSAL_PEAK_MB`` of memory:
each corpus file runs in its own process, whose peak resident memory (``ru_maxrss``) is read
around the call by ``tests/intake_probe.py``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cleanmessy import errors
from cleanmessy.errors import CleanMessyError, CorruptImageError, ImageError, NotAnImageError
from cleanmessy.images import ACCEPTED_FORMATS, load_image
from tests.helpers import make_room_image
from tests.hostile_images import ANY, corpus, ico, icns, png, ztxt

ROOT = Path(__file__).resolve().parent.parent
REFUSAL_PEAK_MB = 300  # the acceptance bound for one refused file
ACCEPTED_PEAK_MB = 400  # a 36 MP image that decodes: Pillow's buffer plus the RGB copy
CALL_SECONDS = 20

CASES = list(corpus())


def probe(path: Path) -> dict:
    """``load_image(path)`` in a fresh interpreter: outcome, message, peak memory growth and seconds."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.intake_probe", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def allowed(outcome) -> tuple[set[str], bool]:
    """Error class names ``outcome`` allows, and whether decoding is allowed."""
    options = outcome if isinstance(outcome, tuple) else (outcome,)
    names = set()
    for option in options:
        if option is not None:
            names |= {cls.__name__ for cls in vars(errors).values()
                      if isinstance(cls, type) and issubclass(cls, option)}
    return names, None in options


@pytest.mark.parametrize(("name", "data", "outcome"), CASES, ids=[case[0] for case in CASES])
def test_hostile_file_is_refused_for_the_right_reason_within_bounds(name, data, outcome, tmp_path):
    path = tmp_path / name
    path.write_bytes(data)
    report = probe(path)
    errors_ok, decode_ok = allowed(outcome)
    decoded = report["outcome"].startswith("ok ")
    assert (decoded and decode_ok) or report["outcome"] in errors_ok, report
    assert report["peak_mb"] <= (ACCEPTED_PEAK_MB if decoded else REFUSAL_PEAK_MB), report
    assert report["seconds"] < CALL_SECONDS, report


def test_the_reported_bombs_get_the_right_reason():
    """The review's two wrong reasons: an ICNS bomb is unsupported (not "damaged"), a zTXt bomb is too large (not "not an image")."""
    big = png(12000, 12000, depth=1)
    with pytest.raises(NotAnImageError, match="ICNS images are not supported"):
        load_image(icns(big))
    with pytest.raises(NotAnImageError, match="ICO images are not supported"):
        load_image(ico(big))
    with pytest.raises(errors.ImageTooLargeError, match="metadata too large"):
        load_image(png(64, 64, extra=ztxt(2 << 20)))


def test_accepted_formats_are_the_documented_ones():
    assert set(ACCEPTED_FORMATS) == {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"}
    readme = (ROOT / "README.md").read_text()
    assert "JPEG, PNG, WebP, GIF, BMP and TIFF" in readme


# ---- property-based: random and mutated bytes -----------------------------------------------------------

def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    options = {"save_all": True, "append_images": [make_room_image(size=(48, 40), seed=1)]} if fmt in ("GIF", "WEBP") else {}
    make_room_image(messy=True, size=(48, 40)).save(buffer, format=fmt, **options)
    return buffer.getvalue()


SEEDS = {fmt: _encoded(fmt) for fmt in ACCEPTED_FORMATS}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def assert_image_or_clean_error(data: bytes) -> None:
    try:
        image = load_image(data)
    except CleanMessyError:
        return
    assert image.mode == "RGB" and min(image.size) >= 1


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_give_an_image_or_a_clean_error(data):
    assert_image_or_clean_error(data)


@st.composite
def mutated_images(draw) -> bytes:
    """A real encoded image with bytes flipped, overwritten, cut, duplicated or spliced."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "header"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "header" and len(data) > 32:  # the fields that hold sizes and counts live early on
            field = draw(st.integers(6, 30))
            data[field:field + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\x00\x01"]))
    return bytes(data)


@FUZZ
@given(mutated_images())
def test_mutated_real_images_give_an_image_or_a_clean_error(data):
    assert_image_or_clean_error(data)


def test_fuzzing_in_a_bounded_process():
    """Memory bound under fuzzing: 300 mutated images in one process must not grow its peak past the refusal bound."""
    script = (
        "import resource, random, sys\n"
        "from tests.test_images_hostile import SEEDS\n"
        "from cleanmessy.errors import CleanMessyError\n"
        "from cleanmessy.images import load_image\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "rng = random.Random(12)\n"
        "for i in range(300):\n"
        "    data = bytearray(SEEDS[sorted(SEEDS)[i % len(SEEDS)]])\n"
        "    for _ in range(rng.randint(1, 6)):\n"
        "        at = rng.randrange(len(data))\n"
        "        data[at:at + 4] = rng.choice([b'\\xff\\xff\\xff\\xff', b'\\x00\\x00\\x00\\x00', bytes([rng.randrange(256)])])\n"
        "    try:\n"
        "        load_image(bytes(data))\n"
        "    except CleanMessyError:\n"
        "        pass\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert float(result.stdout.strip().splitlines()[-1]) <= REFUSAL_PEAK_MB


def test_a_decoder_failure_of_any_kind_is_a_clean_error(monkeypatch):
    """Whatever a Pillow plugin raises while decoding (struct.error, IndexError, ...) the caller sees an ImageError."""
    data = SEEDS["PNG"]
    for failure in (IndexError("x"), KeyError("x"), ZeroDivisionError(), TypeError("x"), OverflowError("x")):
        def broken_load(self, failure=failure):
            raise failure
        monkeypatch.setattr(Image.Image, "load", broken_load)
        monkeypatch.setattr("PIL.ImageFile.ImageFile.load", broken_load)
        with pytest.raises(CorruptImageError):
            load_image(data)
    assert issubclass(ImageError, CleanMessyError)
