"""Occlusion sensitivity: how much the verdict moves toward "clean" when a region of the photo is hidden.

The model's input is cut into a ``cells × cells`` grid. Each window of ``window × window``
cells (sliding one cell at a time) is replaced by the same region of a heavily blurred copy
of the input, and the batch of occluded copies runs through the served backend: the int8
ONNX model by default, so no PyTorch is needed. A window's sensitivity is the drop of the
``logit(messy) - logit(clean)`` margin when its detail is hidden; a cell's relevance is the
mean sensitivity of the windows that cover it. Positive relevance means the region pushes
toward "messy".

Why blur, not a flat mean colour: mess is detail (objects, edges, clutter), and a blurred region
keeps the room's colours and light while removing its detail. A flat box adds hard edges of its
own, which a model that has learnt "edges mean clutter" reads as mess: on the toy models of
tests/test_explain.py trained to spot clutter, mean-colour windows gave the cluttered half a
mean share of the heat of 0.53–0.94 depending on the window, blurred windows 0.93–0.97.

Defaults (6 × 6 cells, one cell at a time: 36 occluded copies plus the photo, in batches) were
chosen with ``python -m bench.explain_cost`` (BENCHMARKS.md, "explain"): at the same cost (37 int8
forwards, about 0.9 s of one core), they removed the evidence for "messy" faster than 7 × 7 cells
with 2 × 2 windows, and nearly as fast as 8 × 8 cells, which cost almost twice as much.
"""

from __future__ import annotations

import numpy as np

from cleanmessy.labels import LABEL2ID

CELLS = 6
"""The input is cut into CELLS × CELLS cells."""

WINDOW = 1
"""Each occluded window is WINDOW × WINDOW cells; windows slide by one cell."""

BATCH = 16
"""Occluded copies per forward pass (bounds memory: 16 × 3 × 224 × 224 float32 is 9.6 MB)."""

BLUR_FRACTION = 1 / 8
"""The blur's box width, as a fraction of the input side (two box passes, close to a Gaussian)."""


def _edges(length: int, cells: int) -> list[int]:
    """Cell boundaries along one side: ``cells + 1`` integers from 0 to ``length``."""
    return [round(i * length / cells) for i in range(cells + 1)]


def _box_blur(pixels: np.ndarray, width: int) -> np.ndarray:
    """Mean over a ``width`` × ``width`` box around each pixel of (N, C, H, W), edges repeated."""
    pad = width // 2
    padded = np.pad(pixels, ((0, 0), (0, 0), (pad, width - 1 - pad), (pad, width - 1 - pad)), mode="edge")
    for axis in (2, 3):
        sums = np.cumsum(padded, axis=axis, dtype=np.float64)
        zero = np.zeros_like(np.take(sums, [0], axis=axis))
        sums = np.concatenate([zero, sums], axis=axis)
        length = padded.shape[axis] - width + 1
        padded = (np.take(sums, range(width, width + length), axis=axis)
                  - np.take(sums, range(length), axis=axis)) / width
    return padded.astype(np.float32)


def blurred(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` (N, C, H, W) with its detail removed: two box blurs of :data:`BLUR_FRACTION` of the side."""
    width = max(3, round(min(pixels.shape[2:]) * BLUR_FRACTION) | 1)
    return _box_blur(_box_blur(pixels, width), width)


def occluded_copies(pixels: np.ndarray, cells: int = CELLS, window: int = WINDOW) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Every window-blurred copy of ``pixels`` (1, 3, H, W), and each window's top-left cell (row, col)."""
    _, _, height, width = pixels.shape
    rows, cols = _edges(height, cells), _edges(width, cells)
    baseline = blurred(pixels)
    positions = [(r, c) for r in range(cells - window + 1) for c in range(cells - window + 1)]
    copies = np.repeat(pixels, len(positions), axis=0)
    for index, (r, c) in enumerate(positions):
        box = (slice(None), slice(rows[r], rows[r + window]), slice(cols[c], cols[c + window]))
        copies[(index, *box)] = baseline[(0, *box)]
    return copies, positions


def margins(logits: np.ndarray) -> np.ndarray:
    """The messy − clean logit margin of each row of ``logits``."""
    return logits[:, LABEL2ID["messy"]] - logits[:, LABEL2ID["clean"]]


def sensitivity(backend, pixels: np.ndarray, cells: int | None = None, window: int | None = None,
                batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    """``(relevance, logits)``: per-cell relevance (cells, cells), and the unoccluded input's logits row.

    ``backend`` is any :mod:`cleanmessy.backends` backend (it must offer ``logits``); ``cells`` and
    ``window`` default to :data:`CELLS` and :data:`WINDOW`.
    """
    cells, window = cells or CELLS, window or WINDOW
    copies, positions = occluded_copies(pixels, cells, window)
    inputs = np.concatenate([pixels, copies])
    logits = np.concatenate([backend.logits(inputs[start:start + batch]) for start in range(0, len(inputs), batch)])
    drops = margins(logits[:1])[0] - margins(logits[1:])
    total = np.zeros((cells, cells), np.float64)
    covered = np.zeros((cells, cells), np.float64)
    for drop, (r, c) in zip(drops, positions):
        total[r:r + window, c:c + window] += drop
        covered[r:r + window, c:c + window] += 1
    return (total / np.maximum(covered, 1)).astype(np.float32), logits[0]
