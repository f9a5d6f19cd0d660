"""Photo augmentation for rooms: framing, mirror and lighting changes; never upside down.

Rooms are photographed level and from a distance, so we vary the crop (how much of
the room is in frame), mirror left/right, and jitter brightness, contrast and
colour like different lamps and phone cameras would. Randomness comes from
``random``, which the Trainer seeds, so a fixed seed gives the same run.
"""

from __future__ import annotations

import math
import random

from PIL import Image, ImageEnhance


def random_resized_crop(
    image: Image.Image, scale: tuple[float, float] = (0.6, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3)
) -> Image.Image:
    """Crop a random window covering ``scale`` of the area with an aspect ratio in ``ratio``."""
    width, height = image.size
    area = width * height
    for _ in range(10):
        target_area = area * random.uniform(*scale)
        aspect = math.exp(random.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            left, top = random.randint(0, width - w), random.randint(0, height - h)
            return image.crop((left, top, left + w, top + h))
    return image


def augment(image: Image.Image) -> Image.Image:
    """One random training view of a room photo."""
    image = random_resized_crop(image)
    if random.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhancer(image).enhance(random.uniform(0.8, 1.2))
    return image
