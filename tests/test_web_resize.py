"""web/resize.js against Pillow: the page shrinks photos with exactly the Python predictor's arithmetic.

Runs the module under Node (installed with npm by ``make setup``); raw RGB bytes go in and out.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import ROOT_DIR, make_room_image

NODE = shutil.which("node")
RESIZE_JS = ROOT_DIR / "web" / "resize.js"
RUNNER = """
import { readFileSync, writeFileSync } from "node:fs";
const resizeModule = await import(process.argv[2]);
const [input, width, height, a, b, c, output, op] = process.argv.slice(3);
const image = { data: new Uint8Array(readFileSync(input)), width: +width, height: +height };
const result = op === "reduce" ? resizeModule.reduce(image, +a, +b) : resizeModule.resize(image, +a, +b, +c);
writeFileSync(output, result.data);
"""

pytestmark = pytest.mark.skipif(NODE is None, reason="node not installed (make setup installs nodejs + npm)")


def run_js(tmp_path: Path, image: Image.Image, a: int, b: int, c: int, op: str) -> np.ndarray:
    runner = tmp_path / "run.mjs"
    runner.write_text(RUNNER)
    (tmp_path / "in.raw").write_bytes(image.tobytes())
    subprocess.run([NODE, str(runner), RESIZE_JS.as_uri(), str(tmp_path / "in.raw"), str(image.width),
                    str(image.height), str(a), str(b), str(c), str(tmp_path / "out.raw"), op], check=True)
    return np.frombuffer((tmp_path / "out.raw").read_bytes(), np.uint8)


def noisy_room(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    array = np.asarray(make_room_image(messy=True, size=size, seed=seed)).astype(int)
    return Image.fromarray(np.clip(array + rng.integers(-30, 30, array.shape), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("source, target, resample", [
    ((299, 299), (176, 176), Image.Resampling.BICUBIC),      # a validation photo, shortest edge 176
    ((1600, 1200), (234, 176), Image.Resampling.BICUBIC),    # box reduce (reducing_gap=3), then bicubic
    ((4000, 3000), (154, 154), Image.Resampling.BICUBIC),    # a phone photo squashed whole to 154 px
    ((96, 80), (43, 36), Image.Resampling.BICUBIC),
    ((333, 517), (36, 55), Image.Resampling.BILINEAR),
    ((1000, 700), (154, 154), Image.Resampling.LANCZOS),
    ((300, 200), (900, 600), Image.Resampling.BICUBIC),      # enlarging
])
def test_resize_is_pillow_exact(tmp_path, source, target, resample):
    image = noisy_room(source, seed=sum(source))
    js = run_js(tmp_path, image, *target, int(resample), "resize")
    python = np.asarray(image.resize(target, resample, reducing_gap=3.0)).astype(int)
    difference = np.abs(js.reshape(python.shape).astype(int) - python)
    if resample == Image.Resampling.BICUBIC:  # the packaged base's filter: bit for bit
        assert difference.max() == 0
    else:  # float rounding of the filter weights can move a value by one level, rarely
        assert difference.max() <= 1 and (difference > 0).mean() < 0.001


@pytest.mark.parametrize("source, factor", [((1603, 1201), (8, 8)), ((101, 77), (3, 5)), ((99, 99), (7, 7))])
def test_reduce_is_pillow_exact(tmp_path, source, factor):
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (source[1], source[0], 3), dtype=np.uint8))
    js = run_js(tmp_path, image, *factor, 0, "reduce")
    python = np.asarray(image.reduce(factor))
    assert np.array_equal(js.reshape(python.shape), python)
