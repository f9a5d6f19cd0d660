"""``python -m training.export --model DIR [--data DATA]``: export, check, and say what was written."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Iterable

from cleanmessy.errors import CleanMessyError
from training.export.data import load_splits
from training.export.model import export_model
from training.export.parity import MIN_AGREEMENT
from training.export.quantize import DEFAULT_QUANTIZATION, QUANTIZATION_MODES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.export",
        description="Export a saved model to onnx/model.onnx (fp32) and onnx/model_quantized.onnx (int8).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", type=Path, required=True, help="saved model directory (config.json, weights, "
                                                                 "preprocessor_config.json)")
    parser.add_argument("--data", default=None, help="image folder or Hub dataset id: its validation split is the "
                                                     "parity set, its train split calibrates static quantization")
    parser.add_argument("--quantization", choices=QUANTIZATION_MODES, default=DEFAULT_QUANTIZATION,
                        help="int8 scheme")
    parser.add_argument("--min-agreement", type=float, default=MIN_AGREEMENT,
                        help="least share of validation images on which int8 must give the PyTorch label")
    return parser


def main(argv: Iterable[str] | None = None) -> int:
    """Entry point for ``python -m training.export``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(None if argv is None else list(argv))
    try:
        images = labels = calibration = None
        if args.data:
            (images, labels), calibration = load_splits(args.data)
        report = export_model(args.model, images, labels, quantization=args.quantization,
                              calibration_images=calibration, min_agreement=args.min_agreement)
    except CleanMessyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"==> {report.summary()}")
    for note in report.notes:
        print(f"note: {note}")
    print(f"==> wrote {report.fp32_path} and {report.int8_path} in {report.seconds:.0f} s")
    return 0
