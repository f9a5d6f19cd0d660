"""Serving speed knobs, tried on real models: int8 scheme, input resolution, onnxruntime options, decode.

    python -m bench.knobs --model models/clean-or-messy --data ../shared/data/rooms \\
        [--also models/clean-or-messy-168 ...]

Writes the ``serving-knobs`` section of BENCHMARKS.md. Every ONNX variant is scored on the
validation split (accuracy) and on train + validation ("agreement": how often it gives the same
label as the main model's fp32 graph, which equals eager PyTorch to ~1e-6). Two timings per
variant, one forward pass at batch 1:

- wall p50 with all threads, in alternating rounds (fair between variants, but it moves with
  whatever else the machine runs);
- CPU ms with one thread (``time.process_time``): the work itself, which stays steady on a busy
  machine. On an idle machine, wall time with 2 threads is a bit over half of it.

``--also DIR`` adds models fine-tuned at another resolution (their own ``preprocessor_config``),
exported and quantized the same way. ``bench/serving.py`` measures whole predictor calls.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from bench.report import write_section
from bench.timing import interleaved, ms

LOWER_RESOLUTIONS = (196, 168, 140)
SHIPPED = "int8 dynamic, per-channel (shipped)"


@dataclass
class Variant:
    """One ONNX graph, the pixels it reads, and how it scored."""

    name: str
    path: Path
    resolution: int
    processor: object
    scores: dict = field(default_factory=dict)


def session(path: Path, threads: int, level: str = "all", spinning: bool = True):
    """An onnxruntime CPU session with ``threads`` intra-op threads and the given optimisation level."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.graph_optimization_level = {
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def probabilities(sess, pixels: np.ndarray, batch: int = 16) -> np.ndarray:
    from cleanmessy.backends import softmax

    return np.concatenate([softmax(sess.run(["logits"], {"pixel_values": pixels[i:i + batch]})[0])
                           for i in range(0, len(pixels), batch)])


def cpu_ms(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median CPU milliseconds per call (single-threaded calls), alternating between ``calls``."""
    for call in calls.values():
        call()
    spent: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            for _ in range(3):
                started = time.process_time()
                call()
                spent[name].append(time.process_time() - started)
    return {name: float(np.median(values) * 1e3) for name, values in spent.items()}


def _dynamic(fp32: Path, out: Path, **options) -> Path:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT, **options.pop("extra", {})}
    settings = {"weight_type": QuantType.QInt8, "per_channel": True, "op_types_to_quantize": ["MatMul", "Gemm"]}
    quantize_dynamic(fp32, out, extra_options=extra, **{**settings, **options})
    return out


def export_dynamo(model, path: Path, resolution: int) -> None:
    """The same graph through ``torch.onnx.export(dynamo=True)`` (needs ``onnxscript``), in one file."""
    import onnx
    import torch

    from cleanmessy.backends import ONNX_INPUT, ONNX_OUTPUT
    from training.export import LogitsOnly, fixed_position_embeddings

    with fixed_position_embeddings(model, (resolution, resolution)):
        program = torch.onnx.export(
            LogitsOnly(model), (torch.zeros(1, 3, resolution, resolution),), dynamo=True,
            input_names=[ONNX_INPUT], output_names=[ONNX_OUTPUT], opset_version=18,
            dynamic_shapes=({0: torch.export.Dim("batch_size", min=1, max=1024)},),
        )
    onnx.save(program.model_proto, str(path))


def build_variants(model_dir: Path, work: Path, calibration: list[Image.Image]) -> list[Variant]:
    """The main model at its own resolution with every int8 scheme, then at lower resolutions as it is."""
    from onnxruntime.quantization import QuantType

    from cleanmessy.model_files import load_model_and_processor
    from cleanmessy.preprocess import Preprocessor
    from training.export import export_fp32, quantize
    from training.resolution import processor_at

    model, processor = load_model_and_processor(str(model_dir))
    native = int(processor.crop_size["height"])

    def path(name: str) -> Path:
        return work / f"{name}.onnx"

    print("exporting and quantizing", flush=True)
    export_fp32(model, path("fp32"), (native, native))
    export_fp32(model, path("fp32-resize"), (native, native), bake_positions=False)
    quantize(path("fp32"), path("int8"), "dynamic")
    quantize(path("fp32"), path("static"), "static", Preprocessor(processor)(calibration))
    built = [
        ("fp32", path("fp32")),
        ("fp32, position embeddings resized per call (before)", path("fp32-resize")),
        (SHIPPED, path("int8")),
        ("int8 dynamic, position embeddings resized per call (before)",
         _dynamic(path("fp32-resize"), path("int8-resize"))),
        ("int8 dynamic, per-tensor weights", _dynamic(path("fp32"), path("per-tensor"), per_channel=False)),
        ("int8 dynamic, uint8 weights", _dynamic(path("fp32"), path("uint8"), weight_type=QuantType.QUInt8)),
        ("int8 dynamic, attention MatMuls too", _dynamic(path("fp32"), path("attention"),
                                                         extra={"MatMulConstBOnly": False})),
        ("int8 dynamic, patch-embedding Conv too", _dynamic(path("fp32"), path("conv"),
                                                            op_types_to_quantize=["MatMul", "Gemm", "Conv"])),
        (f"int8 static QDQ, calibrated on {len(calibration)} training images", path("static")),
    ]
    if importlib.util.find_spec("onnxscript"):  # the dynamo exporter needs it; the project does not
        export_dynamo(model, path("dynamo-fp32"), native)
        built += [("fp32, dynamo exporter", path("dynamo-fp32")),
                  ("int8 dynamic, per-channel, dynamo exporter", _dynamic(path("dynamo-fp32"), path("dynamo-int8")))]
    variants = [Variant(name, file, native, processor) for name, file in built]
    for resolution in (r for r in LOWER_RESOLUTIONS if r < native):
        smaller = processor_at(processor, resolution)
        export_fp32(model, path(f"fp32-{resolution}"), (resolution, resolution))
        quantize(path(f"fp32-{resolution}"), path(f"int8-{resolution}"), "dynamic")
        variants.append(Variant(f"int8 dynamic at {resolution} px, not retrained", path(f"int8-{resolution}"),
                                resolution, smaller))
    return variants


def build_retrained(model_dirs: list[Path], work: Path) -> list[Variant]:
    """Models fine-tuned at their own resolution, exported and quantized like the shipped one."""
    from cleanmessy.model_files import load_model_and_processor
    from training.export import export_fp32, quantize

    variants = []
    for index, model_dir in enumerate(model_dirs):
        model, processor = load_model_and_processor(str(model_dir))
        resolution = int(processor.crop_size["height"])
        fp32, int8 = work / f"also-{index}-fp32.onnx", work / f"also-{index}-int8.onnx"
        export_fp32(model, fp32, (resolution, resolution))
        quantize(fp32, int8, "dynamic")
        variants.append(Variant(f"int8 dynamic, fine-tuned at {resolution} px ({model_dir.name})", int8,
                                resolution, processor))
    return variants


def score(variants: list[Variant], images, labels, is_validation, threads: int, rounds: int) -> None:
    """Accuracy, agreement with the first variant (fp32), wall and CPU time for every variant."""
    from cleanmessy.preprocess import Preprocessor

    truth, validation = np.asarray(labels), np.asarray(is_validation)
    reference = None
    wall, cpu = {}, {}
    for v in variants:
        pixels = Preprocessor(v.processor)(images)
        probs = probabilities(session(v.path, threads), pixels)
        reference = probs if reference is None else reference
        v.scores = {
            "tokens": (v.resolution // 14) ** 2 + 1,
            "val_accuracy": float(np.mean(probs[validation].argmax(1) == truth[validation])),
            "agreement": float(np.mean(probs.argmax(1) == reference.argmax(1))),
            "max_diff": float(np.abs(probs - reference).max()),
            "megabytes": v.path.stat().st_size / 1e6,
        }
        one = pixels[:1].copy()
        many, single = session(v.path, threads), session(v.path, 1)
        wall[v.name] = lambda s=many, x=one: s.run(["logits"], {"pixel_values": x})
        cpu[v.name] = lambda s=single, x=one: s.run(["logits"], {"pixel_values": x})
    times = interleaved(wall, rounds=rounds, per_round=3)
    spent = cpu_ms(cpu, rounds)
    for v in variants:
        v.scores.update(p50=ms(times[v.name]), cpu=spent[v.name])


def runtime_options(path: Path, pixels: np.ndarray, threads: int, rounds: int) -> tuple[dict, dict]:
    """onnxruntime knobs on the shipped model: optimisation level, threads, IO binding (wall and CPU)."""
    import onnxruntime as ort

    x = pixels[:1].copy()
    wall, cpu = {}, {}
    for level in ("disabled", "basic", "extended", "all"):
        many, single = session(path, threads, level), session(path, 1, level)
        wall[f"graph optimisation {level}"] = lambda s=many: s.run(["logits"], {"pixel_values": x})
        cpu[f"graph optimisation {level}"] = lambda s=single: s.run(["logits"], {"pixel_values": x})

    def bound(s):
        binding = s.io_binding()
        binding.bind_ortvalue_input("pixel_values", ort.OrtValue.ortvalue_from_numpy(x))
        binding.bind_output("logits", "cpu")
        return lambda: s.run_with_iobinding(binding)

    wall["graph optimisation all + IO binding"] = bound(session(path, threads))
    cpu["graph optimisation all + IO binding"] = bound(session(path, 1))
    if threads > 1:
        one_thread = session(path, 1)
        wall["graph optimisation all, 1 thread"] = lambda: one_thread.run(["logits"], {"pixel_values": x})
        calm = session(path, threads, spinning=False)
        wall["graph optimisation all, no spin-waiting"] = lambda: calm.run(["logits"], {"pixel_values": x})
    return interleaved(wall, rounds=rounds, per_round=3), cpu_ms(cpu, rounds)


def jpeg(image: Image.Image, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    image.resize(size, Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def decode_costs(processor, png: bytes, photo: Image.Image, rounds: int) -> tuple[list[str], list[str], dict]:
    """CPU ms to decode + preprocess a dataset PNG, a Telegram-size JPEG and a phone JPEG, before and after."""
    from cleanmessy.images import load_image
    from cleanmessy.preprocess import Preprocessor

    inputs = {"299×299 PNG (dataset)": png, "1280×960 JPEG (Telegram photo)": jpeg(photo, (1280, 960)),
              "4032×3024 JPEG (phone camera)": jpeg(photo, (4032, 3024))}
    fast, exact = Preprocessor(processor), Preprocessor(processor, reducing_gap=None)
    hint = fast.size_hint
    steps = {
        "before: full decode + transformers processor":
            lambda d: processor(images=[load_image(d)], return_tensors="np"),
        "full decode + our preprocess": lambda d: exact([load_image(d)]),
        "+ reduce (reducing_gap 3)": lambda d: fast([load_image(d)]),
        "after: + JPEG draft": lambda d: fast([load_image(d, size_hint=hint)]),
    }
    calls = {(name, step): (lambda f=f, d=data: f(d)) for name, data in inputs.items() for step, f in steps.items()}
    return list(inputs), list(steps), cpu_ms(calls, rounds)


def draft_agreement(int8_path: Path, processor, images, labels, is_validation, threads: int) -> dict:
    """Does JPEG draft + reduce change answers? The shipped model on 2000×1500 JPEGs, full vs fast decode."""
    from cleanmessy.images import load_image
    from cleanmessy.preprocess import Preprocessor

    fast, exact = Preprocessor(processor), Preprocessor(processor, reducing_gap=None)
    sess = session(int8_path, threads)
    full, quick = [], []
    for image in images:
        data = jpeg(image, (2000, 1500))
        full.append(exact([load_image(data)])[0])
        quick.append(fast([load_image(data, size_hint=fast.size_hint)])[0])
    p_full, p_quick = probabilities(sess, np.stack(full)), probabilities(sess, np.stack(quick))
    truth, validation = np.asarray(labels), np.asarray(is_validation)
    return {
        "agreement": float(np.mean(p_full.argmax(1) == p_quick.argmax(1))),
        "max_diff": float(np.abs(p_full - p_quick).max()),
        "val_full": float(np.mean(p_full[validation].argmax(1) == truth[validation])),
        "val_quick": float(np.mean(p_quick[validation].argmax(1) == truth[validation])),
        "images": len(images),
    }


def render(variants, options, decode, draft, threads: int, images: int, validation: int, load: str) -> str:
    lines = [
        f"One forward pass (`pixel_values` → `logits`), batch 1, onnxruntime CPU. Wall p50: {threads} threads, "
        "alternating rounds. CPU ms: 1 thread, `process_time` (steady under background load). Accuracy on the "
        f"{validation} validation images; agreement = same label as the first row (fp32 ≡ eager PyTorch) on all "
        f"{images} train + validation images. Load average during the run: {load}.",
        "",
        "### int8 scheme and input resolution",
        "",
        "| variant | tokens | wall p50 ms | CPU ms | val accuracy | agreement | max prob diff | MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in variants:
        s = v.scores
        lines.append(f"| {v.name} | {s['tokens']} | {s['p50']:.1f} | {s['cpu']:.1f} | {s['val_accuracy']:.1%} | "
                     f"{s['agreement']:.1%} | {s['max_diff']:.3f} | {s['megabytes']:.0f} |")
    wall, cpu = options
    lines += ["", "### onnxruntime options (shipped int8 model)", "", "| setting | wall p50 ms | CPU ms |",
              "|---|---:|---:|"]
    lines += [f"| {name} | {ms(t):.1f} | {cpu[name]:.1f} |" if name in cpu else f"| {name} | {ms(t):.1f} | — |"
              for name, t in wall.items()]
    names, steps, spent = decode
    lines += ["", "### Decode + preprocess, CPU ms (no model)", "", "| input | " + " | ".join(steps) + " |",
              "|---|" + "---:|" * len(steps)]
    lines += [f"| {name} | " + " | ".join(f"{spent[(name, step)]:.1f}" for step in steps) + " |" for name in names]
    lines += [
        "",
        f"JPEG draft + reduce on the {draft['images']} train + validation images re-encoded as 2000×1500 JPEGs "
        f"(shipped int8 model): same label as full decode on {draft['agreement']:.1%}, max probability difference "
        f"{draft['max_diff']:.3f}; validation accuracy {draft['val_quick']:.1%} with it, {draft['val_full']:.1%} "
        "without.",
    ]
    return "\n".join(lines)


def load_folder(data: Path) -> tuple[list[Image.Image], list[int], list[bool]]:
    """Every train and validation image of an image folder, with labels and a validation flag."""
    from cleanmessy.images import load_image

    files = [(p, split == "validation", label) for split in ("train", "validation") for label in (0, 1)
             for p in sorted((data / split / ("clean", "messy")[label]).glob("*"))]
    return [load_image(p) for p, _, _ in files], [label for *_, label in files], [v for _, v, _ in files]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.knobs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/clean-or-messy"))
    parser.add_argument("--also", type=Path, action="append", default=[],
                        help="another model dir, fine-tuned at another resolution (repeatable)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/rooms"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=8, help="alternating timing rounds (3 calls each)")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing BENCHMARKS.md")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    from cleanmessy.model_files import load_model_and_processor
    from cleanmessy.preprocess import Preprocessor

    images, labels, is_validation = load_folder(args.data)
    if not images:
        print(f"error: no images under {args.data}/{{train,validation}}/{{clean,messy}}", file=sys.stderr)
        return 2
    train = [image for image, v in zip(images, is_validation) if not v]
    calibration = [train[i] for i in np.random.default_rng(0).permutation(len(train))[:64]]
    _, processor = load_model_and_processor(str(args.model))

    with tempfile.TemporaryDirectory(prefix="knobs-") as tmp:
        variants = build_variants(args.model, Path(tmp), calibration) + build_retrained(args.also, Path(tmp))
        print("scoring", flush=True)
        score(variants, images, labels, is_validation, args.threads, args.rounds)
        shipped = next(v for v in variants if v.name == SHIPPED)
        options = runtime_options(shipped.path, Preprocessor(processor)(images[:1]), args.threads, args.rounds)
        decode = decode_costs(processor, next(Path(args.data, "validation").glob("*/*")).read_bytes(),
                              images[-1], max(2, args.rounds // 2))
        draft = draft_agreement(shipped.path, processor, images, labels, is_validation, args.threads)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    body = render(variants, options, decode, draft, args.threads, len(images), sum(is_validation), load)
    print(body)
    if not args.no_write:
        command = "python -m bench.knobs " + " ".join(sys.argv[1:] if argv is None else argv)
        write_section("serving-knobs", "Serving speed knobs: what we tried", command.strip(), body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
