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
PyTorch to 1e-3 in probability. The gate's output is checked the same way: fp32 within 1e-3 of
PyTorch, and the int8 model must flag the same photos on at least 95% of the parity images plus
a few generated non-room pictures. Otherwise :class:`ParityError` is raised and no ONNX file is
left in the model directory (a stale export would otherwise be served by ``backend="auto"``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from cleanmessy.backends import ONNX_GATE_OUTPUT, ONNX_INPUT, ONNX_OUTPUT, EagerBackend, OnnxBackend, classifier_inputs
from cleanmessy.errors import CleanMessyError
from cleanmessy.gate import NotARoomGate, load_gate
from cleanmessy.preprocess import Preprocessor

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model_quantized.onnx"
OPSET = 17
MIN_AGREEMENT = 0.95
FP32_TOLERANCE = 1e-3
QUANTIZATION_MODES = ("dynamic", "static")
DEFAULT_QUANTIZATION = "dynamic"
PARITY_BATCH = 16
CALIBRATION_IMAGES = 64
GATE_PARITY_PICTURES = 16


class ExportError(CleanMessyError, RuntimeError):
    """The model could not be exported to ONNX or quantized."""


class ParityError(ExportError):
    """An exported model disagrees with the PyTorch model more than allowed."""


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


# ---------------------------------------------------------------- export and quantization


class _LogitsOnly(torch.nn.Module):
    """``pixel_values -> logits``: the transformers model without its output dataclass."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


class _LogitsAndGate(torch.nn.Module):
    """``pixel_values -> (logits, not_a_room)``: the gate reads the classifier's input in the same pass."""

    def __init__(self, model: torch.nn.Module, gate: NotARoomGate) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("gate_weights", torch.tensor(list(gate.weights), dtype=torch.float32))
        self.register_buffer("gate_bias", torch.tensor(float(gate.bias), dtype=torch.float32))

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with classifier_inputs(self.model) as captured:
            logits = self.model(pixel_values=pixel_values).logits
        cls = captured[0][:, : self.gate_weights.shape[0]]
        cls = cls / cls.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return logits, torch.sigmoid(cls @ self.gate_weights + self.gate_bias)


@contextlib.contextmanager
def fixed_position_embeddings(model: torch.nn.Module, input_size: tuple[int, int]) -> Iterator[None]:
    """Within the block, ``model`` adds precomputed position embeddings for ``input_size`` instead of
    interpolating them on every call.

    Dinov2 stores 37×37 positions (518 px) and resizes them bicubically to the input's patch grid
    in every forward pass; traced into ONNX that becomes a ``Resize`` node that onnxruntime runs
    on every request (about a quarter of the int8 model's time). The exported graph has a fixed
    input size, so the resized table is a constant: computed here once, with PyTorch's own code.
    """
    embeddings = getattr(model.base_model, "embeddings", None)
    interpolate = getattr(embeddings, "interpolate_pos_encoding", None)
    table = getattr(embeddings, "position_embeddings", None)
    if not callable(interpolate) or not isinstance(table, torch.Tensor):
        yield
        return
    patch = model.config.patch_size
    patch_height, patch_width = patch if isinstance(patch, (tuple, list)) else (patch, patch)
    tokens = (input_size[0] // patch_height) * (input_size[1] // patch_width) + 1
    with torch.no_grad():
        fixed = interpolate(torch.zeros(1, tokens, table.shape[-1], dtype=table.dtype), *input_size).detach().clone()
    embeddings.interpolate_pos_encoding = lambda _embeddings, _height, _width: fixed
    try:
        yield
    finally:
        del embeddings.interpolate_pos_encoding


def export_fp32(
    model: torch.nn.Module,
    path: Path,
    input_size: tuple[int, int],
    opset: int = OPSET,
    bake_positions: bool = True,
    gate: NotARoomGate | None = None,
) -> None:
    """Write ``model`` as an fp32 ONNX graph ``pixel_values (N,3,H,W) -> logits (N,2)`` with a dynamic batch,
    plus ``not_a_room (N,)`` when ``gate`` is given.

    Uses the TorchScript exporter (``dynamo=False``): with torch 2.13 it exports Dinov2 with no
    extra package and matches PyTorch to ~1e-6. (The dynamo exporter needs ``onnxscript``.)
    Position embeddings are baked in for ``input_size`` (see :func:`fixed_position_embeddings`);
    ``bake_positions=False`` keeps the per-call interpolation (only ``bench.knobs`` wants that).
    """
    dummy = torch.zeros(1, 3, *input_size)
    baked = fixed_position_embeddings(model, input_size) if bake_positions else contextlib.nullcontext()
    graph = _LogitsOnly(model.eval()) if gate is None else _LogitsAndGate(model.eval(), gate)
    outputs = [ONNX_OUTPUT] if gate is None else [ONNX_OUTPUT, ONNX_GATE_OUTPUT]
    with warnings.catch_warnings(), baked:
        warnings.simplefilter("ignore")  # TracerWarnings about Python bools and the legacy-exporter notice
        torch.onnx.export(
            graph,
            (dummy,),
            str(path),
            dynamo=False,
            input_names=[ONNX_INPUT],
            output_names=outputs,
            dynamic_axes={name: {0: "batch_size"} for name in (ONNX_INPUT, *outputs)},
            opset_version=opset,
            do_constant_folding=True,
        )


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

    names = {output.name for output in graph.output}
    if ONNX_GATE_OUTPUT not in names:
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


# ---------------------------------------------------------------- parity


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


# ---------------------------------------------------------------- the whole export


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
    if not (model_dir / "config.json").is_file():
        raise ExportError(f"{model_dir} is not a saved model directory (no config.json): train one first "
                          "with `python -m training`")
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


# ---------------------------------------------------------------- data and CLI


def load_parity_set(split) -> tuple[list[Image.Image], list[int]]:
    """Decode a ``datasets`` split (undecoded ``image`` column, ``label`` 0/1) into (images, labels)."""
    from cleanmessy.images import load_image
    from training.data import encoded

    images = [load_image(encoded(value)) for value in split["image"]]
    return images, [int(label) for label in split["label"]]


def _load_splits(data: str) -> tuple[tuple[list[Image.Image], list[int]], list[Image.Image]]:
    """(validation images and labels, training images) from an image folder or Hub dataset id."""
    from training.data import load_training_data

    splits = load_training_data(data)
    return load_parity_set(splits["validation"]), load_parity_set(splits["train"])[0]


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
            (images, labels), calibration = _load_splits(args.data)
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


if __name__ == "__main__":
    sys.exit(main())
