"""Serving speed knobs, tried on the real model: input resolution, int8 scheme, onnxruntime options, decode.

    python -m bench.knobs --model models/clean-or-messy --data ../shared/data/rooms

Writes the ``serving-knobs`` section of BENCHMARKS.md. Every variant is scored on the
validation split (accuracy) and on train + validation (how often it gives the same label as
the fp32 model at 224 px, which equals eager PyTorch to ~1e-6); timings are one
``pixel_values`` forward pass at batch 1, taken in alternating rounds so that background load
hits every variant alike. ``bench/serving.py`` then measures the whole predictor call with the
knobs that were kept.
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bench.report import write_section
from bench.timing import interleaved, ms

RESOLUTIONS = (224, 196, 168, 140)


@dataclass
class Variant:
    """One ONNX model at one input resolution."""

    name: str
    path: Path
    resolution: int


def processor_at(processor, resolution: int):
    """A copy of ``processor`` that crops ``resolution`` px, resizing in the same proportion as before."""
    scaled = copy.deepcopy(processor)
    ratio = processor.size["shortest_edge"] / processor.crop_size["height"]
    scaled.size = {"shortest_edge": round(resolution * ratio)}
    scaled.crop_size = {"height": resolution, "width": resolution}
    return scaled


def session(path: Path, threads: int, level: str = "all"):
    """An onnxruntime CPU session with ``threads`` intra-op threads and the given optimisation level."""
    import onnxruntime as ort

    options = ort.SessionOptions()
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


def build_variants(model_dir: Path, work: Path, calibration: list[Image.Image]) -> list[Variant]:
    """Export fp32 at every resolution, then int8 with the candidate schemes."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from cleanmessy.predictor import load_model_and_processor
    from cleanmessy.preprocess import Preprocessor
    from training.export import export_fp32, quantize

    model, processor = load_model_and_processor(str(model_dir))
    variants = []
    for resolution in RESOLUTIONS:
        fp32 = work / f"fp32-{resolution}.onnx"
        print(f"exporting {fp32.name}", flush=True)
        export_fp32(model, fp32, (resolution, resolution))
        dynamic = work / f"int8-dynamic-{resolution}.onnx"
        quantize(fp32, dynamic, "dynamic")
        variants += [Variant(f"fp32 {resolution}px", fp32, resolution),
                     Variant(f"int8 dynamic per-channel {resolution}px", dynamic, resolution)]
        if resolution in (224, 168):
            static = work / f"int8-static-{resolution}.onnx"
            pixels = Preprocessor(processor_at(processor, resolution))(calibration)
            quantize(fp32, static, "static", pixels)
            variants.append(Variant(f"int8 static QDQ {resolution}px", static, resolution))
        if resolution == 224:
            per_tensor = work / "int8-dynamic-per-tensor-224.onnx"
            import onnx

            quantize_dynamic(fp32, per_tensor, weight_type=QuantType.QInt8, per_channel=False,
                             op_types_to_quantize=["MatMul", "Gemm"],
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            variants.append(Variant("int8 dynamic per-tensor 224px", per_tensor, resolution))
    return variants


def score_variants(variants, processor, images, labels, is_validation, threads, rounds):
    """Accuracy, agreement with fp32@224 and forward latency (batch 1) of every variant."""
    from cleanmessy.preprocess import Preprocessor

    pixels = {r: Preprocessor(processor_at(processor, r))(images) for r in {v.resolution for v in variants}}
    sessions = {v.name: session(v.path, threads) for v in variants}
    reference = probabilities(sessions["fp32 224px"], pixels[224])
    truth, validation = np.asarray(labels), np.asarray(is_validation)
    rows = {}
    for v in variants:
        probs = probabilities(sessions[v.name], pixels[v.resolution])
        rows[v.name] = {
            "resolution": v.resolution,
            "tokens": (v.resolution // 14) ** 2 + 1,
            "val_accuracy": float(np.mean(probs[validation].argmax(1) == truth[validation])),
            "agreement": float(np.mean(probs.argmax(1) == reference.argmax(1))),
            "max_diff": float(np.abs(probs - reference).max()),
            "megabytes": v.path.stat().st_size / 1e6,
        }
    one = {r: p[:1].copy() for r, p in pixels.items()}
    calls = {v.name: (lambda s=sessions[v.name], x=one[v.resolution]: s.run(["logits"], {"pixel_values": x}))
             for v in variants}
    times = interleaved(calls, rounds=rounds, per_round=5)
    for name, row in rows.items():
        row["p50"], row["p95"] = ms(times[name]), ms(times[name], 95)
    return rows


def runtime_options(path: Path, pixels: np.ndarray, threads: int, rounds: int) -> dict[str, list[float]]:
    """onnxruntime knobs on one model: optimisation level, threads, IO binding."""
    import onnxruntime as ort

    x = pixels[:1].copy()
    calls = {}
    for level in ("disabled", "basic", "extended", "all"):
        s = session(path, threads, level)
        calls[f"optimisation {level}, {threads} threads"] = lambda s=s: s.run(["logits"], {"pixel_values": x})
    if threads > 1:
        s1 = session(path, 1)
        calls["optimisation all, 1 thread"] = lambda: s1.run(["logits"], {"pixel_values": x})
    s = session(path, threads)
    binding = s.io_binding()
    binding.bind_ortvalue_input("pixel_values", ort.OrtValue.ortvalue_from_numpy(x))
    binding.bind_output("logits", "cpu")
    calls[f"optimisation all, {threads} threads, IO binding"] = lambda: s.run_with_iobinding(binding)
    return interleaved(calls, rounds=rounds, per_round=5)


def jpeg(image: Image.Image, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    image.resize(size, Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def decode_costs(processor, png: bytes, photo: Image.Image, rounds: int) -> tuple[list[str], dict]:
    """Decode + preprocess time for a small PNG, a Telegram-size JPEG and a phone JPEG, slow and fast."""
    from cleanmessy.images import load_image
    from cleanmessy.preprocess import Preprocessor

    inputs = {"299×299 PNG (dataset)": png, "1280×960 JPEG (Telegram photo)": jpeg(photo, (1280, 960)),
              "4032×3024 JPEG (phone camera)": jpeg(photo, (4032, 3024))}
    fast, exact = Preprocessor(processor), Preprocessor(processor, reducing_gap=None)
    hint = fast.size_hint
    calls = {}
    for name, data in inputs.items():
        calls[(name, "before: full decode + transformers processor")] = (
            lambda d=data: processor(images=[load_image(d)], return_tensors="np"))
        calls[(name, "full decode + our preprocess")] = lambda d=data: exact([load_image(d)])
        calls[(name, "full decode + reduce (reducing_gap 3)")] = lambda d=data: fast([load_image(d)])
        calls[(name, "after: JPEG draft + reduce")] = lambda d=data: fast([load_image(d, size_hint=hint)])
    times = interleaved(calls, rounds=rounds, per_round=2, warmup=1)
    return list(inputs), times


def draft_agreement(int8_path: Path, processor, images, labels, is_validation, threads: int) -> dict:
    """Does JPEG draft + reduce change answers? Same int8 model on 2000×1500 JPEGs, full vs fast decode."""
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


def render(rows, options, decode, draft, threads: int, images: int, validation: int) -> str:
    lines = [
        f"Forward pass only (`pixel_values` → `logits`), batch 1, onnxruntime CPU, {threads} threads; "
        f"accuracy on the {validation} validation images; agreement = same label as fp32 at 224 px "
        f"(≡ eager PyTorch) on all {images} train + validation images.",
        "",
        "### Input resolution and int8 scheme",
        "",
        "| variant | tokens | p50 ms | p95 ms | val accuracy | agreement | max prob diff | MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['tokens']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['val_accuracy']:.1%} | "
                     f"{r['agreement']:.1%} | {r['max_diff']:.3f} | {r['megabytes']:.0f} |")
    lines += ["", "### onnxruntime options (int8 dynamic, 224 px)", "", "| setting | p50 ms | p95 ms |", "|---|---:|---:|"]
    lines += [f"| {name} | {ms(t):.1f} | {ms(t, 95):.1f} |" for name, t in options.items()]
    names, times = decode
    steps = list(dict.fromkeys(step for _, step in times))
    lines += ["", "### Decode + preprocess (no model)", "", "| input | " + " | ".join(steps) + " |",
              "|---|" + "---:|" * len(steps)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{ms(times[(name, step)]):.1f} ms" for step in steps) + " |")
    lines += [
        "",
        f"JPEG draft + reduce on {draft['images']} train + validation images re-encoded as 2000×1500 JPEGs (int8): "
        f"same label as full decode on {draft['agreement']:.1%}, max probability difference {draft['max_diff']:.3f}; "
        f"validation accuracy {draft['val_quick']:.1%} with it, {draft['val_full']:.1%} without.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.knobs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/clean-or-messy"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data/rooms"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=8, help="alternating timing rounds (5 calls each)")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing BENCHMARKS.md")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    from cleanmessy.images import load_image
    from cleanmessy.predictor import load_model_and_processor

    files = [(p, split == "validation", label) for split in ("train", "validation") for label in (0, 1)
             for p in sorted((args.data / split / ("clean", "messy")[label]).glob("*"))]
    if not files:
        print(f"error: no images under {args.data}/{{train,validation}}/{{clean,messy}}", file=sys.stderr)
        return 2
    images = [load_image(p) for p, _, _ in files]
    is_validation = [v for _, v, _ in files]
    labels = [label for _, _, label in files]
    train = [image for image, v in zip(images, is_validation) if not v]
    calibration = [train[i] for i in np.random.default_rng(0).permutation(len(train))[:64]]
    _, processor = load_model_and_processor(str(args.model))

    with tempfile.TemporaryDirectory(prefix="knobs-") as tmp:
        variants = build_variants(args.model, Path(tmp), calibration)
        print("scoring variants", flush=True)
        rows = score_variants(variants, processor, images, labels, is_validation, args.threads, args.rounds)
        from cleanmessy.preprocess import Preprocessor

        pixels = Preprocessor(processor)(images[:1])
        int8 = Path(tmp) / "int8-dynamic-224.onnx"
        print("onnxruntime options", flush=True)
        options = runtime_options(int8, pixels, args.threads, args.rounds)
        print("decode costs", flush=True)
        png = files[-1][0].read_bytes()
        decode = decode_costs(processor, png, images[-1], max(2, args.rounds // 2))
        draft = draft_agreement(int8, processor, images, labels, is_validation, args.threads)
    body = render(rows, options, decode, draft, args.threads, len(images), sum(is_validation))
    command = "python -m bench.knobs " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.no_write:
        print(body)
    else:
        write_section("serving-knobs", "Serving speed knobs (what we tried)", command.strip(), body)
        print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
