"""Test helpers for the ONNX export and backends: a tiny model trained to separate generated rooms.

A randomly initialised tiny model answers ~50/50 for every image, so int8 rounding could flip
labels at random. Thirty quick steps on generated clean/messy rooms give it clear margins,
which makes "int8 gives the same label as PyTorch" a meaningful, stable assertion.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests.helpers import make_room_image, save_tiny_model


def room_set(count: int = 8, seed: int = 0, size: tuple[int, int] = (96, 80)):
    """``count`` clean then ``count`` messy generated rooms, and their labels (0 clean, 1 messy)."""
    images = [make_room_image(messy=messy, size=size, seed=seed + i) for messy in (False, True) for i in range(count)]
    return images, [0] * count + [1] * count


def save_trained_tiny_model(directory: Path, steps: int = 30) -> Path:
    """Save the tiny Dinov2 classifier after ``steps`` of Adam on generated rooms."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    save_tiny_model(directory)
    model = AutoModelForImageClassification.from_pretrained(directory)
    processor = AutoImageProcessor.from_pretrained(directory)
    images, labels = room_set(16, seed=500)
    pixels = torch.from_numpy(np.asarray(processor(images=images, return_tensors="np")["pixel_values"]))
    targets = torch.tensor(labels)
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(pixel_values=pixels, labels=targets).loss.backward()
        optimizer.step()
    model.eval()
    model.save_pretrained(directory)
    return directory


def export_tiny_model(directory: Path) -> Path:
    """Save a trained tiny model with ``onnx/model.onnx`` and ``onnx/model_quantized.onnx`` into ``directory``.

    The ``exported_model_dir`` fixture (tests/conftest.py) builds it once per session.
    """
    from training.export import export_model

    save_trained_tiny_model(directory)
    images, labels = room_set(10)
    export_model(directory, images, labels)
    return directory
