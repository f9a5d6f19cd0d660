"""Photo augmentation for rooms: framing, aspect, mirror and lighting changes; never upside down.

Rooms are photographed level and from a distance, so we vary the crop (how much of
the room is in frame), stretch or squash the frame (the model sees the whole photo
resized to a square, so a 2:1 panorama reaches it squashed 2× sideways; the training
photos are square, so without this jitter wide photos would look unfamiliar), mirror
left/right, and jitter brightness, contrast and colour like different lamps and phone
cameras would. Randomness comes from ``random``, which the Trainer seeds, so a fixed
seed gives the same run.
"""

from __future__ import annotations

import math
import random

from PIL import Image, ImageEnhance

ASPECT_JITTER = (1 / 2, 2.0)
"""Range of the width stretch factor (log-uniform): from a 1:2 portrait to a 2:1 panorama squashed square."""


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


def aspect_jitter(image: Image.Image, factors: tuple[float, float] = ASPECT_JITTER) -> Image.Image:
    """Stretch the width by a log-uniform factor in ``factors``: what a wide or tall photo looks like once squared."""
    factor = math.exp(random.uniform(math.log(factors[0]), math.log(factors[1])))
    width, height = image.size
    return image.resize((max(1, round(width * factor)), height), Image.Resampling.BILINEAR)


def augment(image: Image.Image, aspect: bool = True) -> Image.Image:
    """One random training view of a room photo (``aspect``: with :func:`aspect_jitter`)."""
    image = random_resized_crop(image)
    if aspect:
        image = aspect_jitter(image)
    if random.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhancer(image).enhance(random.uniform(0.8, 1.2))
    return image
