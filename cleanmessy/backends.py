"""Inference backends: each maps preprocessed pixels (N, 3, H, W) to class probabilities (N, 2).

``EagerBackend`` runs the transformers model in PyTorch; ``OnnxBackend`` runs an exported
``onnx/model.onnx`` (fp32) or ``onnx/model_quantized.onnx`` (int8) in onnxruntime. Both take
the same float32 array from :class:`cleanmessy.preprocess.Preprocessor`. Nothing here imports
torch until an ``EagerBackend`` runs, so ONNX serving starts without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from cleanmessy.errors import ModelLoadError
from cleanmessy.model_files import ONNX_FILES, model_file

ONNX_INPUT = "pixel_values"
ONNX_OUTPUT = "logits"


class Backend(Protocol):
    """What the predictor needs from an inference engine."""

    name: str

    def probabilities(self, pixel_values: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (N, num_labels), rows summing to 1."""


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, stable for large logits."""
    shifted = logits.astype(np.float32) - logits.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


class EagerBackend:
    """Plain PyTorch forward pass through the transformers model."""

    name = "eager"

    def __init__(self, model) -> None:
        self.model = model.eval()

    def probabilities(self, pixel_values: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            logits = self.model(pixel_values=torch.from_numpy(pixel_values)).logits
        return torch.softmax(logits.float(), dim=-1).numpy()


class OnnxBackend:
    """onnxruntime on the CPU, for an exported ``pixel_values -> logits`` model (fp32 or int8).

    ``threads`` is onnxruntime's intra-op thread count (one request uses that many cores);
    inter-op parallelism stays at 1 because a ViT graph is a single chain of operators.
    """

    def __init__(self, path: str | Path, *, threads: int, name: str | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: the exported graph triggers harmless shape-inference notes
        self.path = Path(path)
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.name = name or f"onnx:{self.path.name}"
        shape = self.session.get_inputs()[0].shape
        self.input_size = tuple(shape[2:]) if all(isinstance(side, int) for side in shape[2:]) else None

    def probabilities(self, pixel_values: np.ndarray) -> np.ndarray:
        if self.input_size and tuple(pixel_values.shape[2:]) != self.input_size:
            raise ValueError(
                f"{self.path.name} expects {self.input_size[0]}×{self.input_size[1]} pixels, "
                f"got {pixel_values.shape[2]}×{pixel_values.shape[3]}: the image processor and the export disagree"
            )
        (logits,) = self.session.run([ONNX_OUTPUT], {ONNX_INPUT: pixel_values})
        return softmax(logits)


# ---------------------------------------------------------------- choosing a backend

BACKEND_CHOICES = ("auto", "eager", "onnx", "onnx-fp32", "onnx-int8")
"""``auto``: int8 ONNX if the model has it, else eager. ``onnx``: int8 if present, else fp32."""

_CANDIDATES = {
    "auto": ("onnx-int8",),
    "onnx": ("onnx-int8", "onnx-fp32"),
    "onnx-int8": ("onnx-int8",),
    "onnx-fp32": ("onnx-fp32",),
}


def select_onnx_backend(
    source: str,
    choice: str = "auto",
    *,
    threads: int,
    token: str | None = None,
) -> OnnxBackend | None:
    """The ONNX backend ``choice`` asks for (see :data:`BACKEND_CHOICES`), or ``None`` for the eager PyTorch model.

    Raises ``ModelLoadError`` for an unknown choice, or when an ``onnx*`` choice finds no ONNX file.
    """
    choice = (choice or "auto").strip().lower()
    if choice not in BACKEND_CHOICES:
        raise ModelLoadError(f"unknown backend {choice!r}: expected one of {', '.join(BACKEND_CHOICES)}")
    if choice == "eager":
        return None
    for kind in _CANDIDATES[choice]:
        path = model_file(source, ONNX_FILES[kind], token)
        if path is None:
            continue
        try:
            return OnnxBackend(path, threads=threads, name=kind)
        except ImportError:
            if choice != "auto":
                raise ModelLoadError("the onnx backends need onnxruntime: pip install onnxruntime") from None
            return None
    if choice == "auto":
        return None
    wanted = " or ".join(ONNX_FILES[kind] for kind in _CANDIDATES[choice])
    raise ModelLoadError(
        f"{source} has no {wanted}: export it with `python -m training.export --model DIR`, "
        "or use the eager backend"
    )
