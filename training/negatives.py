"""Pictures that are not rooms, for training the "not a room" gate: generated ones and views of real ones.

The gate must flag photos from sources nobody here has seen, so it learns from variety rather
than from a few dozen real pictures: :func:`generated` draws, from a seed and nothing else,
the kinds of picture people send by mistake or to test the app: text pages and receipts,
screenshots, charts, logos and clip-art, noise and gradients, patterns, retina- and
microscope-like images, simple landscapes. :func:`views` turns real non-room photos (the
``--not-rooms`` folder) into many: crops, tiles, mirrors, grey and colour shifts, blur.

:func:`room_views` does the opposite for rooms (grey, blurred, small, dim, wide and tall views), so that
"grey", "blurry", "low resolution" or "another shape" cannot become the gate's idea of "not a room".
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from cleanmessy.images import load_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
WORDS = ("the of and to in is that for it as with was on be by this are from or have an they which one you were "
         "all we can her has there been if more when will would who so no total invoice date amount item price "
         "qty order chapter section figure table results method data model page summary report note").split()


def _colour(rng: random.Random, dark: bool | None = None) -> tuple[int, int, int]:
    low, high = {None: (0, 255), True: (0, 90), False: (160, 255)}[dark]
    return tuple(rng.randint(low, high) for _ in range(3))


def _size(rng: random.Random) -> tuple[int, int]:
    side = rng.randint(160, 480)
    aspect = rng.choice((1.0, 4 / 3, 3 / 4, 16 / 9, 9 / 16, 3 / 2))
    return int(side * math.sqrt(aspect)), int(side / math.sqrt(aspect))


def _font(rng: random.Random, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(8, size))


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def text_page(rng: random.Random) -> Image.Image:
    """A page, receipt or slide of text: light or dark background, lines of words, maybe a heading."""
    width, height = _size(rng)
    dark = rng.random() < 0.25
    image = Image.new("RGB", (width, height), _colour(rng, dark=dark))
    draw = ImageDraw.Draw(image)
    size = rng.randint(9, 28)
    font, y = _font(rng, size), rng.randint(4, 30)
    if rng.random() < 0.5:
        draw.text((rng.randint(4, 30), y), _words(rng, 3).title(), fill=_colour(rng, dark=not dark), font=_font(rng, size * 2))
        y += size * 3
    ink = _colour(rng, dark=not dark)
    while y < height - size:
        left = rng.randint(4, 30)
        draw.text((left, y), _words(rng, rng.randint(2, 14)), fill=ink, font=font)
        y += int(size * rng.uniform(1.2, 2.0))
    return image


def screenshot(rng: random.Random) -> Image.Image:
    """An app or web page: a bar, panels, buttons and text."""
    width, height = _size(rng)
    image = Image.new("RGB", (width, height), _colour(rng, dark=rng.random() < 0.3))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, rng.randint(20, 50)), fill=_colour(rng))
    for _ in range(rng.randint(3, 9)):
        x0, y0 = rng.randint(0, width - 20), rng.randint(40, max(41, height - 20))
        x1, y1 = min(width, x0 + rng.randint(30, width // 2)), min(height, y0 + rng.randint(15, height // 3))
        draw.rounded_rectangle((x0, y0, x1, y1), radius=rng.randint(0, 10), fill=_colour(rng), outline=_colour(rng))
        draw.text((x0 + 4, y0 + 2), _words(rng, rng.randint(1, 4)), fill=_colour(rng), font=_font(rng, rng.randint(9, 16)))
    return image


def chart(rng: random.Random) -> Image.Image:
    """A bar or line chart with axes on a plain background."""
    width, height = _size(rng)
    image = Image.new("RGB", (width, height), _colour(rng, dark=False))
    draw = ImageDraw.Draw(image)
    left, bottom = int(width * 0.12), int(height * 0.88)
    draw.line((left, 10, left, bottom, width - 10, bottom), fill=(0, 0, 0), width=2)
    count = rng.randint(3, 12)
    step = (width - left - 20) / count
    values = [rng.uniform(0.1, 1.0) for _ in range(count)]
    if rng.random() < 0.5:
        for i, value in enumerate(values):
            x = left + 5 + i * step
            draw.rectangle((x, bottom - value * (bottom - 20), x + step * 0.7, bottom), fill=_colour(rng))
    else:
        points = [(left + 5 + i * step, bottom - v * (bottom - 20)) for i, v in enumerate(values)]
        draw.line(points, fill=_colour(rng, dark=True), width=rng.randint(1, 4))
    return image


def shapes(rng: random.Random) -> Image.Image:
    """Clip-art or a logo: a few flat shapes, maybe a word, on a plain background."""
    width, height = _size(rng)
    image = Image.new("RGB", (width, height), _colour(rng))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(1, 6)):
        box = sorted(rng.sample(range(width), 2)), sorted(rng.sample(range(height), 2))
        xy = (box[0][0], box[1][0], box[0][1], box[1][1])
        kind = rng.choice(("ellipse", "rectangle", "polygon"))
        if kind == "polygon":
            draw.polygon([(rng.randint(0, width), rng.randint(0, height)) for _ in range(rng.randint(3, 7))],
                         fill=_colour(rng))
        else:
            getattr(draw, kind)(xy, fill=_colour(rng), outline=_colour(rng), width=rng.randint(0, 6))
    if rng.random() < 0.5:
        draw.text((rng.randint(0, width // 2), rng.randint(0, height // 2)), rng.choice(WORDS).upper(),
                  fill=_colour(rng), font=_font(rng, rng.randint(20, 60)))
    return image


def noise(rng: random.Random) -> Image.Image:
    """Noise at some scale: pixel, blotchy or coloured."""
    width, height = _size(rng)
    generator = np.random.default_rng(rng.randint(0, 2**31))
    scale = rng.choice((1, 4, 16, 48))
    small = generator.integers(0, 256, (max(1, height // scale), max(1, width // scale), 3), dtype=np.uint8)
    if rng.random() < 0.3:
        small = np.repeat(small[:, :, :1], 3, axis=2)
    return Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)


def gradient(rng: random.Random) -> Image.Image:
    """A linear or radial colour gradient, maybe with a few soft blobs."""
    width, height = _size(rng)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    if rng.random() < 0.5:
        angle = rng.uniform(0, math.pi)
        t = (x * math.cos(angle) + y * math.sin(angle))
    else:
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        t = np.hypot(x - cx, y - cy)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    start, end = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    pixels = start + t[..., None] * (end - start)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def pattern(rng: random.Random) -> Image.Image:
    """Stripes, checks or dots: fabric, tiles seen up close, test charts."""
    width, height = _size(rng)
    y, x = np.mgrid[0:height, 0:width]
    period = rng.randint(6, 60)
    kind = rng.choice(("stripes", "checks", "dots"))
    if kind == "stripes":
        mask = ((x + y * rng.choice((0, 1))) // period) % 2 == 0
    elif kind == "checks":
        mask = ((x // period) + (y // period)) % 2 == 0
    else:
        mask = ((x % period - period / 2) ** 2 + (y % period - period / 2) ** 2) < (period / 3) ** 2
    a, b = np.array(_colour(rng), np.uint8), np.array(_colour(rng), np.uint8)
    return Image.fromarray(np.where(mask[..., None], a, b).astype(np.uint8))


def fundus(rng: random.Random) -> Image.Image:
    """A retina-scan look: an orange-red disc on black with branching dark vessels and a bright spot."""
    side = rng.randint(200, 420)
    image = Image.new("RGB", (side, side), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    margin = rng.randint(0, side // 10)
    draw.ellipse((margin, margin, side - margin, side - margin),
                 fill=(rng.randint(170, 240), rng.randint(60, 120), rng.randint(10, 50)))
    cx, cy = rng.randint(side // 3, 2 * side // 3), rng.randint(side // 3, 2 * side // 3)
    for _ in range(rng.randint(6, 14)):
        x, y, angle = cx, cy, rng.uniform(0, 2 * math.pi)
        for _ in range(rng.randint(5, 15)):
            angle += rng.uniform(-0.5, 0.5)
            nx, ny = x + 15 * math.cos(angle), y + 15 * math.sin(angle)
            draw.line((x, y, nx, ny), fill=(rng.randint(90, 150), 20, 20), width=rng.randint(1, 4))
            x, y = nx, ny
    r = side // 12
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(250, 220, 150))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2)))


def microscopy(rng: random.Random) -> Image.Image:
    """Fluorescent cells: bright soft blobs on a dark background."""
    width, height = _size(rng)
    image = Image.new("RGB", (width, height), _colour(rng, dark=True) if rng.random() < 0.3 else (0, 0, 0))
    draw = ImageDraw.Draw(image)
    hue = rng.choice(((80, 255, 80), (80, 120, 255), (255, 80, 80), (230, 230, 230)))
    for _ in range(rng.randint(5, 60)):
        x, y, r = rng.randint(0, width), rng.randint(0, height), rng.randint(3, 25)
        shade = rng.uniform(0.4, 1.0)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c * shade) for c in hue))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(1, 3)))


def landscape(rng: random.Random) -> Image.Image:
    """Sky over ground, maybe hills, a sun and a horizon: the outdoors, drawn simply."""
    width, height = _size(rng)
    horizon = int(height * rng.uniform(0.3, 0.75))
    sky_top, sky_low = np.array(_colour(rng, dark=False), np.float32), np.array(_colour(rng, dark=False), np.float32)
    if rng.random() < 0.7:
        sky_top, sky_low = np.array((rng.randint(40, 120), rng.randint(120, 190), 255), np.float32), np.array((200, 225, 255), np.float32)
    t = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
    sky = np.broadcast_to(sky_top + t * (sky_low - sky_top), (horizon, width, 3))
    ground_colour = rng.choice(((60, 130, 50), (150, 120, 80), (40, 80, 150), (220, 210, 170), (90, 90, 90)))
    ground = np.broadcast_to(np.array(ground_colour, np.float32), (height - horizon, width, 3))
    image = Image.fromarray(np.concatenate([sky, ground]).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(0, 3)):
        peak = rng.randint(0, width)
        draw.polygon([(peak - rng.randint(60, 200), horizon), (peak, horizon - rng.randint(20, horizon)),
                      (peak + rng.randint(60, 200), horizon)], fill=_colour(rng, dark=True))
    if rng.random() < 0.5:
        x, y, r = rng.randint(0, width), rng.randint(0, horizon), rng.randint(8, 30)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 240, 180))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5)))


GENERATORS: dict[str, Callable[[random.Random], Image.Image]] = {
    "text": text_page,
    "screenshot": screenshot,
    "chart": chart,
    "shapes": shapes,
    "noise": noise,
    "gradient": gradient,
    "pattern": pattern,
    "fundus": fundus,
    "microscopy": microscopy,
    "landscape": landscape,
}
"""Every kind of generated non-room picture, by name."""


def generated(count: int, seed: int = 0) -> list[tuple[str, Image.Image]]:
    """``count`` generated non-room pictures as ``(kind, RGB image)``, the kinds taken in turn; same seed, same pictures."""
    rng = random.Random(seed)
    kinds = list(GENERATORS)
    return [(kinds[i % len(kinds)], GENERATORS[kinds[i % len(kinds)]](rng).convert("RGB")) for i in range(count)]


def _crop(image: Image.Image, rng: random.Random, scale: tuple[float, float]) -> Image.Image:
    width, height = image.size
    fraction = math.sqrt(rng.uniform(*scale))
    w, h = max(8, int(width * fraction * rng.uniform(0.8, 1.0))), max(8, int(height * fraction * rng.uniform(0.8, 1.0)))
    left, top = rng.randint(0, width - w), rng.randint(0, height - h)
    return image.crop((left, top, left + w, top + h))


def _photo_changes(image: Image.Image, rng: random.Random) -> Image.Image:
    """Mirror, grey, blur, shrink or dim a photo, each at random."""
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    if rng.random() < 0.25:
        image = ImageOps.grayscale(image).convert("RGB")
    if rng.random() < 0.2:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5)))
    if rng.random() < 0.2:
        small = max(32, int(min(image.size) * rng.uniform(0.15, 0.4)))
        image = ImageOps.contain(image, (small, small)).resize(image.size, Image.Resampling.BILINEAR)
    if rng.random() < 0.3:
        image = Image.eval(image, lambda value, f=rng.uniform(0.5, 1.3): min(255, int(value * f)))
    return image


def views(images: Iterable[Image.Image], per_image: int, seed: int = 0) -> list[Image.Image]:
    """``per_image`` random views of each non-room picture: crops and tiles (15–100% of the area) with photo changes."""
    rng = random.Random(seed)
    return [_photo_changes(_crop(image, rng, (0.15, 1.0)), rng) for image in images for _ in range(per_image)]


def _aspect_crop(image: Image.Image, rng: random.Random, widest: float = 2.0) -> Image.Image:
    """A crop of 70–100% of the largest box of a random aspect ratio (``1/widest`` to ``widest``, log-uniform).

    Resized whole to the model's square input, such a crop looks like a wide or tall photo of the
    same scene does: squeezed along its long side.
    """
    width, height = image.size
    aspect = math.exp(rng.uniform(-math.log(widest), math.log(widest)))
    w, h = (width, width / aspect) if width / aspect <= height else (height * aspect, height)
    scale = rng.uniform(0.7, 1.0)
    w, h = max(8, int(w * scale)), max(8, int(h * scale))
    left, top = rng.randint(0, width - w), rng.randint(0, height - h)
    return image.crop((left, top, left + w, top + h))


def room_views(images: Iterable[Image.Image], per_image: int, seed: int = 0) -> list[Image.Image]:
    """``per_image`` random views of each room photo, with the same photo changes: the first a wide crop
    (60–100% of the area), every second one a wide or tall crop (aspect ratio 1:2 to 2:1), so that
    photos of other shapes than the training photos' do not look "not a room" once squeezed square."""
    rng = random.Random(seed + 1)
    return [_photo_changes(_aspect_crop(image, rng) if view % 2 else _crop(image, rng, (0.6, 1.0)), rng)
            for image in images for view in range(per_image)]


def load_folder(folder: str | Path) -> list[tuple[str, Image.Image]]:
    """``(file name, RGB image)`` for every picture directly in ``folder``, sorted by name."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return [(path.name, load_image(path)) for path in files]
