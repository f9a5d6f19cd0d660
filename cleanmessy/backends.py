"""Inference backends: each maps preprocessed pixels (N, 3, H, W) to class probabilities (N, 2)
and, when the model has a "not a room" gate, the gate's probabilities (N,), from one forward pass
(:meth:`outputs`: the eager backend reads the classifier's input through a hook; an exported graph
has the gate as a second output, ``not_a_room``).

``EagerBackend`` runs the transformers model in PyTorch; ``OnnxBackend`` runs an exported
``onnx/model.onnx`` (fp32) or ``onnx/model_quantized.onnx`` (int8) in onnxruntime. Both take
the same float32 array from :class:`cleanmessy.preprocess.Preprocessor`. Nothing here imports
torch until an ``EagerBackend`` runs, so ONNX serving starts without it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, NamedTuple, Protocol

import numpy as np

from cleanmessy.errors import ModelLoadError, PyTorchMissingError
from cleanmessy.gate import NotARoomGate
from cleanmessy.model_files import ONNX_FILES, model_file

ONNX_INPUT = "pixel_values"
ONNX_OUTPUT = "logits"
ONNX_GATE_OUTPUT = "not_a_room"


class Outputs(NamedTuple):
    """One forward pass: class probabilities (N, 2) and ``P(not a room)`` (N,), ``None`` without a gate."""

    probabilities: np.ndarray
    not_a_room: np.ndarray | None


class Backend(Protocol):
    """What the predictor (and the occlusion heatmap) needs from an inference engine."""

    name: str

    def logits(self, pixel_values: np.ndarray) -> np.ndarray:
        """Class logits, shape (N, num_labels), float32."""

    def probabilities(self, pixel_values: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (N, num_labels), rows summing to 1."""

    def outputs(self, pixel_values: np.ndarray) -> Outputs:
        """Class probabilities and, if the model has a gate, its probabilities."""


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, stable for large logits."""
    shifted = logits.astype(np.float32) - logits.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


@contextlib.contextmanager
def classifier_inputs(model) -> Iterator[list]:
    """Within the block, every tensor ``model.classifier`` receives is appended to the yielded list.

    That input is the embedding the "not a room" gate reads (Dinov2: ``[CLS, mean patch]``; ViT: ``CLS``).
    """
    captured: list = []
    hook = model.classifier.register_forward_pre_hook(lambda _module, args: captured.append(args[0]))
    try:
        yield captured
    finally:
        hook.remove()


class EagerBackend:
    """Plain PyTorch forward pass through the transformers model; ``gate`` reads what its classifier receives."""

    name = "eager"

    def __init__(self, model, gate: NotARoomGate | None = None) -> None:
        self.model = model.eval()
        self.gate = gate

    def outputs(self, pixel_values: np.ndarray) -> Outputs:
        if self.gate is None:
            return Outputs(self.probabilities(pixel_values), None)
        try:
            import torch
        except ImportError:
            raise PyTorchMissingError("the eager backend") from None
        with classifier_inputs(self.model) as captured, torch.inference_mode():
            logits = self.model(pixel_values=torch.from_numpy(pixel_values)).logits.float().numpy()
        return Outputs(softmax(logits), self.gate.probability(captured[0].float().numpy()))

    def logits(self, pixel_values: np.ndarray) -> np.ndarray:
        try:
            import torch
        except ImportError:
            raise PyTorchMissingError("the eager backend") from None
        with torch.inference_mode():
            return self.model(pixel_values=torch.from_numpy(pixel_values)).logits.float().numpy()

    def probabilities(self, pixel_values: np.ndarray) -> np.ndarray:
        return softmax(self.logits(pixel_values))


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
        self.has_gate = ONNX_GATE_OUTPUT in {output.name for output in self.session.get_outputs()}

    def logits(self, pixel_values: np.ndarray) -> np.ndarray:
        """The graph's ``logits`` output, asked for by name (a graph may have other outputs)."""
        if self.input_size and tuple(pixel_values.shape[2:]) != self.input_size:
            raise ValueError(
                f"{self.path.name} expects {self.input_size[0]}×{self.input_size[1]} pixels, "
                f"got {pixel_values.shape[2]}×{pixel_values.shape[3]}: the image processor and the export disagree"
            )
        (logits,) = self.session.run([ONNX_OUTPUT], {ONNX_INPUT: pixel_values})
        return logits

    def probabilities(self, pixel_values: np.ndarray) -> np.ndarray:
        return softmax(self.logits(pixel_values))

    def outputs(self, pixel_values: np.ndarray) -> Outputs:
        if not self.has_gate:
            return Outputs(self.probabilities(pixel_values), None)
        if self.input_size and tuple(pixel_values.shape[2:]) != self.input_size:
            return Outputs(self.probabilities(pixel_values), None)  # raises the size error
        logits, not_a_room = self.session.run([ONNX_OUTPUT, ONNX_GATE_OUTPUT], {ONNX_INPUT: pixel_values})
        return Outputs(softmax(logits), not_a_room.astype(np.float32))


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
