"""The parity and calibration images, from an image folder or a Hub dataset."""

from __future__ import annotations

from PIL import Image


def load_parity_set(split) -> tuple[list[Image.Image], list[int]]:
    """Decode a ``datasets`` split (undecoded ``image`` column, ``label`` 0/1) into (images, labels)."""
    from cleanmessy.images import load_image
    from training.data import encoded

    images = [load_image(encoded(value)) for value in split["image"]]
    return images, [int(label) for label in split["label"]]


def load_splits(data: str) -> tuple[tuple[list[Image.Image], list[int]], list[Image.Image]]:
    """(validation images and labels, training images) from an image folder or Hub dataset id."""
    from training.data import load_training_data

    splits = load_training_data(data)
    return load_parity_set(splits["validation"]), load_parity_set(splits["train"])[0]
