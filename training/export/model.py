"""The whole export of a saved model: graph, int8, parity check, then the files, atomically."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from cleanmessy.gate import load_gate
from cleanmessy.model_files import CONFIG_FILE, ONNX_DIR, ONNX_FILES, check_model_dir
from cleanmessy.preprocess import Preprocessor
from training.export.errors import ExportError
from training.export.graph import OPSET, export_fp32
from training.export.parity import MIN_AGREEMENT, PARITY_BATCH, Parity, check_parity, compare
from training.export.quantize import DEFAULT_QUANTIZATION, quantize

logger = logging.getLogger(__name__)

FP32_FILE = Path(ONNX_FILES["onnx-fp32"]).name
INT8_FILE = Path(ONNX_FILES["onnx-int8"]).name
CALIBRATION_IMAGES = 64
GATE_PARITY_PICTURES = 16


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_model` wrote and how the exports compare with the PyTorch model."""

    model_dir: str
    fp32_path: str
    int8_path: str
    quantization: str
    opset: int
    input_size: tuple[int, int]
    fp32_megabytes: float
    int8_megabytes: float
    seconds: float
    parity: Parity
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready form, for ``eval/export.json`` and the model card."""
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        return data

    def summary(self) -> str:
        """One line: files, sizes and the parity numbers."""
        p = self.parity
        text = (
            f"{FP32_FILE} {self.fp32_megabytes:.0f} MB, {INT8_FILE} {self.int8_megabytes:.0f} MB "
            f"({self.quantization}); "
            f"int8 agrees with PyTorch on {p.int8_agreement:.0%} of {p.images} "
            f"{'validation' if p.labelled else 'generated'} images, max probability difference "
            f"{p.int8_max_prob_diff:.3f} (fp32 {p.fp32_max_prob_diff:.1e})"
        )
        if p.labelled:
            text += f"; accuracy int8 {p.int8_accuracy:.1%}, PyTorch {p.eager_accuracy:.1%}"
        if p.gate_int8_agreement is not None:
            text += (f"; not_a_room: int8 flags the same pictures as PyTorch on {p.gate_int8_agreement:.0%}, max "
                     f"difference {p.gate_int8_max_diff:.3f} (fp32 {p.gate_fp32_max_diff:.1e})")
        return text

    def card_note(self) -> str:
        """A sentence or two for the model card."""
        p = self.parity
        if not p.labelled:
            return (f"The int8 model was checked on {p.images} generated inputs only (max probability "
                    f"difference {p.int8_max_prob_diff:.3f}).")
        return (
            f"The int8 model ({self.quantization} quantization, {self.int8_megabytes:.0f} MB) gives the same label "
            f"as the PyTorch model on {p.int8_agreement:.0%} of the {p.images} validation images, with a validation "
            f"accuracy of {p.int8_accuracy:.1%} (PyTorch: {p.eager_accuracy:.1%}) and a largest probability "
            f"difference of {p.int8_max_prob_diff:.3f}."
        )


def _input_size(preprocess: Preprocessor) -> tuple[int, int]:
    """The fixed (height, width) the image processor produces, or raise if it depends on the photo."""
    shapes = {preprocess([Image.new("RGB", size)]).shape[2:] for size in ((300, 300), (400, 300), (300, 400))}
    if len(shapes) != 1:
        raise ExportError(f"the image processor makes inputs of varying size {sorted(shapes)}: "
                          "export needs a fixed size (a centre crop or a fixed height and width)")
    return tuple(shapes.pop())


def _generated_pixels(input_size: tuple[int, int], count: int = 8) -> np.ndarray:
    """Seeded normalised-looking pixels, for a numerical check when no validation images are given."""
    return np.random.default_rng(0).standard_normal((count, 3, *input_size)).astype(np.float32)


def _gate_pictures(preprocess: Preprocessor) -> np.ndarray:
    """Pixels of a few generated non-room pictures, so the gate's parity check sees flagged inputs too."""
    from training.negatives import generated

    return preprocess([image for _, image in generated(GATE_PARITY_PICTURES, seed=1)])


def _remove_stale(onnx_dir: Path) -> None:
    for name in (FP32_FILE, INT8_FILE):
        (onnx_dir / name).unlink(missing_ok=True)
    if onnx_dir.is_dir() and not any(onnx_dir.iterdir()):
        onnx_dir.rmdir()


def export_model(
    model_dir: str | Path,
    parity_images: Sequence[Image.Image] | None = None,
    parity_labels: Sequence[int] | None = None,
    *,
    quantization: str = DEFAULT_QUANTIZATION,
    calibration_images: Sequence[Image.Image] | None = None,
    min_agreement: float = MIN_AGREEMENT,
) -> ExportReport:
    """Export ``model_dir`` to ``onnx/model.onnx`` and ``onnx/model_quantized.onnx`` and check parity.

    ``parity_images`` (RGB, e.g. the validation split) with ``parity_labels`` (0 = clean,
    1 = messy) turn on the agreement and accuracy checks; without them only the fp32 graph is
    checked numerically, on generated inputs. Files appear only after the check passes.

    >>> report = export_model("models/clean-or-messy", images, labels)     # doctest: +SKIP
    >>> report.parity.int8_agreement
    1.0
    """
    from cleanmessy.model_files import load_model_and_processor

    started = time.perf_counter()
    model_dir = Path(model_dir)
    check_model_dir(model_dir, need=(CONFIG_FILE,), advice="train one first with `python -m training`")
    if parity_labels is not None and (parity_images is None or len(parity_labels) != len(parity_images)):
        raise ExportError("parity_labels must come with parity_images, one label per image")
    model, processor = load_model_and_processor(str(model_dir))
    model.eval()
    gate = load_gate(str(model_dir))
    preprocess = Preprocessor(processor)
    input_size = _input_size(preprocess)
    if parity_images:
        pixels = np.concatenate([preprocess(parity_images[i:i + PARITY_BATCH])
                                 for i in range(0, len(parity_images), PARITY_BATCH)])
    else:
        pixels, parity_labels = _generated_pixels(input_size), None
    calibration = None
    if quantization == "static":
        source = list(calibration_images or parity_images or [])[:CALIBRATION_IMAGES]
        calibration = preprocess(source) if source else None

    onnx_dir = model_dir / ONNX_DIR
    with tempfile.TemporaryDirectory(prefix=".onnx-export-", dir=model_dir) as tmp:
        fp32_tmp, int8_tmp = Path(tmp) / FP32_FILE, Path(tmp) / INT8_FILE
        try:
            export_fp32(model, fp32_tmp, input_size, gate=gate)
            scheme = quantize(fp32_tmp, int8_tmp, quantization, calibration)
            parity = compare(model, fp32_tmp, int8_tmp, pixels, parity_labels, gate=gate,
                             gate_pixels=_gate_pictures(preprocess) if gate is not None else None)
            check_parity(parity, min_agreement)
        except ExportError:
            _remove_stale(onnx_dir)
            raise
        except Exception as error:  # the exporters raise many types; one clear message is what users need
            _remove_stale(onnx_dir)
            raise ExportError(f"ONNX export of {model_dir} failed: {type(error).__name__}: {error}") from error
        onnx_dir.mkdir(exist_ok=True)
        os.replace(fp32_tmp, onnx_dir / FP32_FILE)
        os.replace(int8_tmp, onnx_dir / INT8_FILE)
    notes = [] if parity.labelled else ["no validation images given: int8 accuracy was not checked"]
    return ExportReport(
        model_dir=str(model_dir),
        fp32_path=str(onnx_dir / FP32_FILE),
        int8_path=str(onnx_dir / INT8_FILE),
        quantization=scheme,
        opset=OPSET,
        input_size=input_size,
        fp32_megabytes=round((onnx_dir / FP32_FILE).stat().st_size / 1e6, 1),
        int8_megabytes=round((onnx_dir / INT8_FILE).stat().st_size / 1e6, 1),
        seconds=round(time.perf_counter() - started, 1),
        parity=parity,
        notes=notes,
    )
