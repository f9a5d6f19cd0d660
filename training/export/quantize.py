"""int8 quantization of the fp32 graph with onnxruntime: dynamic (no data) or static (calibrated)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cleanmessy.backends import ONNX_INPUT
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


def quantize(
    fp32_path: Path,
    int8_path: Path,
    mode: str = DEFAULT_QUANTIZATION,
    calibration: np.ndarray | None = None,
) -> str:
    """Quantize ``fp32_path`` to int8 at ``int8_path``; return a short description of the scheme.

    ``dynamic``: int8 weights (per output channel), activations quantized on the fly; needs no data.
    ``static``: int8 weights and activations (QDQ), ranges calibrated on ``calibration`` pixels.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    if mode == "dynamic":
        quantize_dynamic(
            fp32_path, int8_path, weight_type=QuantType.QInt8, per_channel=True,
            op_types_to_quantize=["MatMul", "Gemm"],
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
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        return f"static QDQ, int8 MatMul weights and activations calibrated on {len(calibration)} images"
    raise ExportError(f"unknown quantization {mode!r}: expected one of {', '.join(QUANTIZATION_MODES)}")
