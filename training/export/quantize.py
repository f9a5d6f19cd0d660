"""int8 quantization of the fp32 graph with onnxruntime: dynamic (no data) or static (calibrated)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cleanmessy.backends import ONNX_GATE_OUTPUT, ONNX_INPUT, ONNX_OUTPUT
from training.export.errors import ExportError

QUANTIZATION_MODES = ("dynamic", "static")
DEFAULT_QUANTIZATION = "dynamic"


class _Calibration:
    """onnxruntime ``CalibrationDataReader`` over preprocessed images, one at a time."""

    def __init__(self, pixel_values: np.ndarray) -> None:
        self._rows = iter(pixel_values)

    def get_next(self) -> dict | None:
        row = next(self._rows, None)
        return None if row is None else {ONNX_INPUT: row[None]}


def gate_only_nodes(path: Path) -> list[str]:
    """Names of the nodes that only the ``not_a_room`` output needs (kept fp32 when quantizing)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producer = {output: node for node in graph.node for output in node.output}

    def ancestors(name: str) -> set[str]:
        seen, stack = set(), [name]
        while stack:
            node = producer.get(stack.pop())
            if node is not None and node.name not in seen:
                seen.add(node.name)
                stack.extend(node.input)
        return seen

    if ONNX_GATE_OUTPUT not in {output.name for output in graph.output}:
        return []
    return sorted(ancestors(ONNX_GATE_OUTPUT) - ancestors(ONNX_OUTPUT))


def quantize(
    fp32_path: Path,
    int8_path: Path,
    mode: str = DEFAULT_QUANTIZATION,
    calibration: np.ndarray | None = None,
) -> str:
    """Quantize ``fp32_path`` to int8 at ``int8_path``; return a short description of the scheme.

    ``dynamic``: int8 weights (per output channel), activations quantized on the fly; needs no data.
    ``static``: int8 weights and activations (QDQ), ranges calibrated on ``calibration`` pixels.
    The "not a room" gate's few nodes stay fp32 (see :func:`gate_only_nodes`).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    keep_fp32 = gate_only_nodes(fp32_path)
    if mode == "dynamic":
        quantize_dynamic(
            fp32_path, int8_path, weight_type=QuantType.QInt8, per_channel=True,
            op_types_to_quantize=["MatMul", "Gemm"], nodes_to_exclude=keep_fp32,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        return "dynamic, per-channel int8 MatMul weights"
    if mode == "static":
        if calibration is None or not len(calibration):
            raise ExportError("static quantization needs calibration images: pass training images (--data DIR)")
        quantize_static(
            fp32_path, int8_path, _Calibration(calibration), quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["MatMul", "Gemm"], per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep_fp32,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        return f"static QDQ, int8 MatMul weights and activations calibrated on {len(calibration)} images"
    raise ExportError(f"unknown quantization {mode!r}: expected one of {', '.join(QUANTIZATION_MODES)}")
