"""Export a saved clean/messy model to ONNX, fp32 and int8, and check the int8 model against PyTorch.

    python -m training.export --model models/clean-or-messy --data ../shared/data/rooms

writes ``onnx/model.onnx`` (fp32) and ``onnx/model_quantized.onnx`` (int8) into the model
directory: the layout and names transformers.js expects, so one Hub repo serves PyTorch,
onnxruntime and browsers. The graph takes ``pixel_values`` (N, 3, H, W) and returns
``logits`` (N, 2), with a dynamic batch axis; when the model directory has a "not a room"
gate (``not_a_room.json``, see :mod:`cleanmessy.gate`) it also returns ``not_a_room`` (N,),
the gate's probability, computed in the same pass (its few nodes stay fp32 in the int8 model). ``python -m training`` calls :func:`export_model`
after training (``--no-export-onnx`` skips it).

The parity check runs both ONNX models and the PyTorch model on the validation images: int8
must agree with PyTorch on at least 95% of them and be no less accurate; fp32 must match
PyTorch to 1e-3 in probability. Otherwise :class:`ParityError` is raised and no ONNX file is
left in the model directory (a stale export would otherwise be served by ``backend="auto"``).

Jobs, one module each: :mod:`~training.export.graph` (the fp32 graph), :mod:`~training.export.quantize`
(int8), :mod:`~training.export.parity` (the check), :mod:`~training.export.data` (parity and
calibration images), :mod:`~training.export.model` (the whole export of a model directory) and
:mod:`~training.export.cli`.
"""

from __future__ import annotations

import torch  # noqa: F401  (tests reach torch.onnx through this package to break the exporter)

from training.export.cli import build_parser, main
from training.export.data import load_parity_set, load_splits
from training.export.errors import ExportError, ParityError
from training.export.graph import OPSET, LogitsOnly, export_fp32, fixed_position_embeddings
from training.export.model import FP32_FILE, INT8_FILE, ExportReport, export_model
from training.export.parity import MIN_AGREEMENT, Parity, check_parity, compare
from training.export.quantize import DEFAULT_QUANTIZATION, QUANTIZATION_MODES, gate_only_nodes, quantize

__all__ = [
    "DEFAULT_QUANTIZATION", "FP32_FILE", "INT8_FILE", "MIN_AGREEMENT", "OPSET", "QUANTIZATION_MODES",
    "ExportError", "ExportReport", "LogitsOnly", "Parity", "ParityError",
    "build_parser", "check_parity", "compare", "export_fp32", "export_model", "fixed_position_embeddings", "gate_only_nodes",
    "load_parity_set", "load_splits", "main", "quantize",
]
