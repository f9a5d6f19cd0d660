"""The parity check: PyTorch, fp32 ONNX and int8 ONNX on the same pixels, and the rules they must meet."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from cleanmessy.backends import EagerBackend, OnnxBackend
from training.export.errors import ParityError

MIN_AGREEMENT = 0.95
FP32_TOLERANCE = 1e-3
PARITY_BATCH = 16


@dataclass(frozen=True)
class Parity:
    """How the ONNX models compare with PyTorch on the parity images."""

    images: int
    labelled: bool
    fp32_max_prob_diff: float
    int8_max_prob_diff: float
    int8_agreement: float
    eager_accuracy: float | None = None
    int8_accuracy: float | None = None
    fp32_accuracy: float | None = None


def _in_batches(backend, pixel_values: np.ndarray) -> np.ndarray:
    return np.concatenate([backend.probabilities(pixel_values[i:i + PARITY_BATCH])
                           for i in range(0, len(pixel_values), PARITY_BATCH)])


def compare(
    model: torch.nn.Module,
    fp32_path: Path,
    int8_path: Path,
    pixel_values: np.ndarray,
    labels: Sequence[int] | None = None,
    threads: int | None = None,
) -> Parity:
    """Run PyTorch, fp32 ONNX and int8 ONNX on the same pixels and measure how they differ."""
    threads = threads or os.cpu_count() or 1
    eager = _in_batches(EagerBackend(model), pixel_values)
    fp32 = _in_batches(OnnxBackend(fp32_path, threads=threads), pixel_values)
    int8 = _in_batches(OnnxBackend(int8_path, threads=threads), pixel_values)
    agreement = float(np.mean(eager.argmax(1) == int8.argmax(1)))
    accuracy = {}
    if labels is not None:
        truth = np.asarray(labels)
        accuracy = {name: float(np.mean(probs.argmax(1) == truth))
                    for name, probs in (("eager", eager), ("int8", int8), ("fp32", fp32))}
    return Parity(
        images=len(pixel_values),
        labelled=labels is not None,
        fp32_max_prob_diff=float(np.abs(fp32 - eager).max()),
        int8_max_prob_diff=float(np.abs(int8 - eager).max()),
        int8_agreement=agreement,
        eager_accuracy=accuracy.get("eager"),
        int8_accuracy=accuracy.get("int8"),
        fp32_accuracy=accuracy.get("fp32"),
    )


def check_parity(parity: Parity, min_agreement: float = MIN_AGREEMENT) -> None:
    """Raise :class:`ParityError` unless fp32 matches PyTorch and int8 agrees enough and loses no accuracy."""
    problems = []
    if not parity.fp32_max_prob_diff <= FP32_TOLERANCE:
        problems.append(f"the fp32 export differs from PyTorch by {parity.fp32_max_prob_diff:.2e} in probability "
                        f"(limit {FP32_TOLERANCE:.0e}): the export itself is wrong")
    if parity.labelled:
        if parity.int8_agreement < min_agreement:
            problems.append(f"int8 gives the PyTorch label on only {parity.int8_agreement:.1%} of {parity.images} "
                            f"validation images (need {min_agreement:.0%})")
        if parity.int8_accuracy < parity.eager_accuracy:
            problems.append(f"int8 accuracy {parity.int8_accuracy:.1%} is below PyTorch's {parity.eager_accuracy:.1%}")
    if problems:
        raise ParityError(
            "ONNX export failed the parity check: " + "; ".join(problems)
            + f" (max int8 probability difference {parity.int8_max_prob_diff:.3f}). "
            "Try --quantization static, or serve the fp32 model with PREDICTOR_BACKEND=eager."
        )
