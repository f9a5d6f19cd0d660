"""The parity check: PyTorch, fp32 ONNX and int8 ONNX on the same pixels, and the rules they must meet.

With a "not a room" gate the ``not_a_room`` outputs are checked too: fp32 within 1e-3 of PyTorch, and
int8 flagging the same pictures as PyTorch on at least 95% of the parity images plus a few
generated non-room pictures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from cleanmessy.backends import ONNX_GATE_OUTPUT, EagerBackend, OnnxBackend
from cleanmessy.gate import NotARoomGate
from training.export.errors import ExportError, ParityError

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
    gate_fp32_max_diff: float | None = None
    gate_int8_max_diff: float | None = None
    gate_int8_agreement: float | None = None


def _in_batches(backend, pixel_values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(probabilities, gate probabilities or ``None``) over ``pixel_values``, in parity-sized batches."""
    outputs = [backend.outputs(pixel_values[i:i + PARITY_BATCH]) for i in range(0, len(pixel_values), PARITY_BATCH)]
    gate = None if outputs[0].not_a_room is None else np.concatenate([o.not_a_room for o in outputs])
    return np.concatenate([o.probabilities for o in outputs]), gate


def compare(
    model: torch.nn.Module,
    fp32_path: Path,
    int8_path: Path,
    pixel_values: np.ndarray,
    labels: Sequence[int] | None = None,
    threads: int | None = None,
    gate: NotARoomGate | None = None,
    gate_pixels: np.ndarray | None = None,
) -> Parity:
    """Run PyTorch, fp32 ONNX and int8 ONNX on the same pixels and measure how they differ.

    With ``gate``, the ``not_a_room`` outputs are compared too, on ``pixel_values`` plus ``gate_pixels``.
    """
    threads = threads or os.cpu_count() or 1
    backends = (EagerBackend(model, gate), OnnxBackend(fp32_path, threads=threads),
                OnnxBackend(int8_path, threads=threads))
    (eager, eager_gate), (fp32, fp32_gate), (int8, int8_gate) = (_in_batches(b, pixel_values) for b in backends)
    gate_numbers = {}
    if gate is not None:
        if gate_pixels is not None and len(gate_pixels):
            extra = [_in_batches(b, gate_pixels)[1] for b in backends]
            eager_gate, fp32_gate, int8_gate = (np.concatenate(pair) for pair in
                                                zip((eager_gate, fp32_gate, int8_gate), extra))
        if fp32_gate is None or int8_gate is None:
            raise ExportError(f"the exported graph has no {ONNX_GATE_OUTPUT} output although the model has a gate")
        gate_numbers = {
            "gate_fp32_max_diff": float(np.abs(fp32_gate - eager_gate).max()),
            "gate_int8_max_diff": float(np.abs(int8_gate - eager_gate).max()),
            "gate_int8_agreement": float(np.mean(gate.flags(int8_gate) == gate.flags(eager_gate))),
        }
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
        **gate_numbers,
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
    if parity.gate_fp32_max_diff is not None and not parity.gate_fp32_max_diff <= FP32_TOLERANCE:
        problems.append(f"the fp32 {ONNX_GATE_OUTPUT} output differs from PyTorch by {parity.gate_fp32_max_diff:.2e}")
    if parity.gate_int8_agreement is not None and parity.gate_int8_agreement < min_agreement:
        problems.append(f"int8 flags the same pictures as PyTorch on only {parity.gate_int8_agreement:.1%} "
                        f"(need {min_agreement:.0%})")
    if problems:
        raise ParityError(
            "ONNX export failed the parity check: " + "; ".join(problems)
            + f" (max int8 probability difference {parity.int8_max_prob_diff:.3f}). "
            "Try --quantization static, or serve the fp32 model with PREDICTOR_BACKEND=eager."
        )
