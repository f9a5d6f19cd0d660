"""Small builders shared by tests: generated images and a tiny random model."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cleanmessy.labels import ID2LABEL, LABEL2ID

ROOT_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_room_image(messy: bool = False, size: tuple[int, int] = (96, 80), seed: int = 0) -> Image.Image:
    """A synthetic "room": calm flat walls when clean, many random clutter shapes when messy."""
    rng = np.random.default_rng(seed + (1000 if messy else 0))
    width, height = size
    image = Image.new("RGB", size, tuple(int(c) for c in rng.integers(170, 230, 3)))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, int(height * 0.65), width, height], fill=(120, 90, 60))
    for _ in range(40 if messy else 2):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(3, width // 4)), int(rng.integers(3, height // 4))
        draw.rectangle([x, y, x + w, y + h], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    return image


def make_distinct_room_image(messy: bool = False, seed: int = 0) -> Image.Image:
    """:func:`make_room_image` plus a large "window" placed by ``seed``: no two are perceptual near-duplicates
    (the plain clean rooms can be, since their layout is the same); messy ones also get dark heaps."""
    image = make_room_image(messy=messy, seed=seed)
    rng = np.random.default_rng(seed + 7)
    width, height = image.size
    x, y = int(rng.integers(0, width * 2 // 3)), int(rng.integers(0, height // 3))
    size = int(rng.integers(width // 5, width // 3)), int(rng.integers(height // 5, height // 3))
    draw = ImageDraw.Draw(image)
    draw.rectangle([x, y, x + size[0], y + size[1]], fill=tuple(int(c) for c in rng.integers(150, 256, 3)))
    for _ in range(30 if messy else 0):  # dark heaps: a signal a tiny model learns in a few steps
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(4, width // 3)), int(rng.integers(4, height // 3))
        draw.rectangle([x, y, x + w, y + h], fill=tuple(int(c) for c in rng.integers(0, 90, 3)))
    return image


def write_image_folder(root: Path, per_class: int = 4, splits: tuple[str, ...] = ("train", "validation"),
                       make=make_room_image) -> Path:
    """Write ``root/<split>/<label>/*.png`` with images from ``make(messy=, seed=)`` and return ``root``."""
    for split_index, split in enumerate(splits):
        for label in ID2LABEL.values():
            folder = root / split / label if split else root / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                seed = split_index * 100 + i
                make(messy=label == "messy", seed=seed).save(folder / f"{label}-{i}.png")
    return root


def tiny_config():
    """A 2-layer, 32-wide Dinov2 classifier config with the project's labels."""
    from transformers import Dinov2Config

    return Dinov2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        patch_size=8,
        image_size=32,
        num_labels=2,
        id2label=dict(ID2LABEL),
        label2id=dict(LABEL2ID),
    )


def tiny_image_processor():
    """The packaged base's processor shape (resize, centre crop, ImageNet stats) at 32 px."""
    from transformers import BitImageProcessorPil

    return BitImageProcessorPil(
        do_resize=True,
        size={"shortest_edge": 36},
        do_center_crop=True,
        crop_size={"height": 32, "width": 32},
        do_normalize=True,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
        do_convert_rgb=True,
    )


def save_tiny_model(directory: Path, seed: int = 0) -> Path:
    """Save a random tiny model plus its image processor into ``directory``."""
    import torch
    from transformers import Dinov2ForImageClassification

    torch.manual_seed(seed)
    model = Dinov2ForImageClassification(tiny_config())
    model.save_pretrained(directory)
    tiny_image_processor().save_pretrained(directory)
    return directory


def save_tiny_vit(directory: Path, seed: int = 0) -> Path:
    """Save a random tiny google/vit-style classifier (position table sized by ``image_size``, fixed 32 px resize)."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    torch.manual_seed(seed)
    config = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       patch_size=8, image_size=32, num_labels=2, id2label=dict(ID2LABEL), label2id=dict(LABEL2ID))
    ViTForImageClassification(config).save_pretrained(directory)
    ViTImageProcessorPil(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3
                         ).save_pretrained(directory)
    return directory


def fit_full_batch(model, pixels, labels, steps: int, lr: float = 1e-3) -> None:
    """Train ``model`` in place: ``steps`` AdamW steps of cross-entropy on the whole batch, then eval mode."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(pixel_values=pixels).logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
