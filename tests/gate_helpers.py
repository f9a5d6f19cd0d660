"""A tiny trained model with a "not a room" gate and ONNX exports carrying it, built once per session.

A random tiny backbone has no idea what a room looks like (a real one, pretrained on millions of
photos, does), so its embedding cannot separate rooms from other pictures and no gate could. Here
the tiny Dinov2 first learns three classes for a few steps (clean room, messy room, generated
non-room picture); its classifier then keeps only the clean and messy rows, leaving a normal
two-label model whose embedding, like a pretrained one, tells rooms from other things.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from tests.helpers import save_tiny_model
from tests.onnx_helpers import room_set

GATE_ROOMS = 12  # clean and as many messy generated rooms the gate learns from
GATE_GENERATED = 150


def unseen_rooms(count: int = 10):
    """Generated rooms of other seeds and sizes than the gate learnt from."""
    return room_set(count // 2, seed=900, size=(120, 90))[0]


def unseen_not_rooms(count: int = 20):
    """Generated non-room pictures from a seed the gate never saw."""
    from training.negatives import generated

    return [image for _, image in generated(count, seed=4242)]


def save_room_aware_tiny_model(directory: Path, steps: int = 80) -> Path:
    """The tiny Dinov2, trained on clean / messy / not-a-room, saved as a clean/messy classifier."""
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from training.negatives import generated

    save_tiny_model(directory)
    model = AutoModelForImageClassification.from_pretrained(directory)
    processor = AutoImageProcessor.from_pretrained(directory)
    rooms, labels = room_set(16, seed=500)
    others = [image for _, image in generated(32, seed=7)]
    pixels = torch.from_numpy(np.asarray(processor(images=rooms + others, return_tensors="np")["pixel_values"]))
    targets = torch.tensor(labels + [2] * len(others))
    two_labels = model.classifier
    torch.manual_seed(0)
    model.classifier = torch.nn.Linear(two_labels.in_features, 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(pixel_values=pixels).logits, targets).backward()
        optimizer.step()
    with torch.no_grad():
        two_labels.weight.copy_(model.classifier.weight[:2])
        two_labels.bias.copy_(model.classifier.bias[:2])
    model.classifier = two_labels
    model.eval()
    model.save_pretrained(directory)
    return directory


@functools.lru_cache(maxsize=1)
def gated_tiny_model() -> Path:
    """The tiny trained Dinov2 with ``not_a_room.json``, ``not_a_room_threshold`` and fp32/int8 ONNX files.

    Shared by several test modules: copy it before changing anything in it.
    """
    from cleanmessy.model_files import load_model_and_processor
    from training.export import export_model
    from training.gate import build_gate

    directory = Path(tempfile.mkdtemp(prefix="cleanmessy-gated-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    save_room_aware_tiny_model(directory)
    model, processor = load_model_and_processor(str(directory))
    rooms = room_set(GATE_ROOMS, seed=300)[0]
    gate, _ = build_gate(model, processor, rooms, generated_count=GATE_GENERATED, measure_groups=False)
    gate.save(directory)
    images, labels = room_set(10)
    export_model(directory, images, labels)
    return directory
