"""What does the "not a room" gate cost a served call? The int8 full call with and without it.

    python -m bench.gate_cost --model models/clean-or-messy --data ../shared/data/rooms

The model's ``onnx/model_quantized.onnx`` (with the ``not_a_room`` output) is compared with the same
graph cut down to ``logits`` alone (``onnx.utils.extract_model``) in a copy of the model directory
without ``not_a_room.json``: everything else (weights, quantization, preprocessing) is identical.
Both are timed as full predictor calls (encoded photo -> verdict, batch 1, one thread per
``--threads``) in alternating rounds over the validation photos, so background load hits both alike.
Writes the ``gate-cost`` section of BENCHMARKS.md with the load average during the run.

``--head-only`` times just the operators the gate adds (slice the CLS out of the classifier's input,
L2-normalise, dot with 384 weights, add, sigmoid), exported from the same torch code as the real
graph and run alone in onnxruntime at batch 1: what the gate adds to any call, without needing a
trained, exported model, and without the noise of timing a 15 ms call on a loaded machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from bench.report import write_section
from bench.timing import interleaved, ms

INT8 = "onnx/model_quantized.onnx"


def gateless_copy(model: Path, target: Path) -> Path:
    """``model`` without its gate: no ``not_a_room.json``, int8 graph cut to ``pixel_values -> logits``."""
    from onnx.utils import extract_model

    shutil.copytree(model, target, ignore=shutil.ignore_patterns("onnx", "*.safetensors", "eval", "not_a_room.json"))
    for weights in model.glob("*.safetensors"):
        (target / weights.name).symlink_to(weights.resolve())
    (target / "onnx").mkdir()
    extract_model(str(model / INT8), str(target / INT8), ["pixel_values"], ["logits"])
    return target


def head_only(threads: int, dims: int = 384, calls: int = 2000) -> str:
    """Time the gate's operators alone in onnxruntime (batch 1, the Dinov2 classifier input of ``2 × dims``)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from cleanmessy.gate import NotARoomGate
    from training.export.graph import LogitsAndGate, LogitsOnly

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.classifier = torch.nn.Identity()

        def forward(self, pixel_values):  # the "model": its classifier receives the input as is
            return type("Out", (), {"logits": self.classifier(pixel_values)[:, :2]})()

    gate = NotARoomGate(weights=np.random.default_rng(0).standard_normal(dims).tolist(), bias=0.1, threshold=0.5)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    sessions = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, graph, outputs in (("with", LogitsAndGate(Head(), gate), ["logits", "not_a_room"]),
                                     ("without", LogitsOnly(Head()), ["logits"])):
            path = Path(tmp) / f"{name}.onnx"
            torch.onnx.export(graph, (torch.zeros(1, 2 * dims),), str(path), dynamo=False,
                              input_names=["pixel_values"], output_names=outputs)
            sessions[name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((1, 2 * dims)).astype(np.float32)
    times = interleaved({name: (lambda s=session: s.run(None, {"pixel_values": x})) for name, session in sessions.items()},
                        rounds=20, per_round=calls // 20)
    added = [w - wo for w, wo in zip(sorted(times["with"]), sorted(times["without"]))]
    return (f"The gate's operators alone (onnxruntime, batch 1, {threads} threads, {len(times['with'])} calls each): "
            f"p50 {ms(times['with']) * 1e3:.0f} µs for a graph with the `not_a_room` output vs "
            f"{ms(times['without']) * 1e3:.0f} µs for the same graph with `logits` only, so the gate adds about {np.median(added) * 1e6:.0f} µs "
            f"(target ≤ 1 ms). Load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gate_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/clean-or-messy"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data/rooms"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--head-only", action="store_true",
                        help="time only the operators the gate adds (no trained model needed)")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing BENCHMARKS.md")
    args = parser.parse_args(argv)

    from cleanmessy.predictor import Predictor

    command = "python -m bench.gate_cost " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.head_only:
        body = head_only(args.threads)
        if not args.no_write:
            write_section("gate-cost-head", '"Not a room": what the gate\'s operators cost', command.strip(), body)
        print(body)
        return 0
    if not (args.model / "not_a_room.json").is_file() or not (args.model / INT8).is_file():
        raise SystemExit(f"{args.model} needs not_a_room.json and {INT8}: build it with `python -m training`")
    photos = sorted(p for p in (args.data / "validation").glob("*/*") if p.is_file())
    encoded = [p.read_bytes() for p in photos]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="gate-cost-") as tmp:
        plain = Predictor.load(gateless_copy(args.model, Path(tmp) / "model"), backend="onnx-int8",
                               threads=args.threads)
        gated = Predictor.load(args.model, backend="onnx-int8", threads=args.threads)
        assert gated.backend.has_gate and not plain.backend.has_gate
        cursor = {"with gate": 0, "without gate": 0}

        def call(name: str, predictor: Predictor):
            def once():
                index = cursor[name] = (cursor[name] + 1) % len(encoded)
                return predictor.predict_batch([encoded[index]])
            return once

        times = interleaved({"without gate": call("without gate", plain), "with gate": call("with gate", gated)},
                            rounds=args.rounds, per_round=len(encoded) // 2 or 1)
    load_after = os.getloadavg()
    without, with_gate = ms(times["without gate"]), ms(times["with gate"])
    body = "\n".join([
        f"int8 full call (encoded validation photo -> verdict, batch 1, {args.threads} threads), "
        f"{len(times['with gate'])} calls each, alternating rounds. Same weights and quantization; the only "
        "difference is the `not_a_room` output (slice, L2 norm, a 384-number dot product, sigmoid) and the flag.",
        "",
        "| graph | p50 | p95 |",
        "|---|---:|---:|",
        f"| logits only | {without:.1f} ms | {ms(times['without gate'], 95):.1f} ms |",
        f"| logits + not_a_room (served) | {with_gate:.1f} ms | {ms(times['with gate'], 95):.1f} ms |",
        "",
        f"Gate cost at p50: {with_gate - without:+.2f} ms (target ≤ 1 ms). Load average (1 min) "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after, on {os.cpu_count()} cores: absolute times "
        "above are inflated by that load; the difference is what the gate adds.",
    ])
    if args.no_write:
        print(body)
    else:
        write_section("gate-cost", '"Not a room": what the gate adds to a served call', command.strip(), body)
        print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
