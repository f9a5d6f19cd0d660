"""The explanation heatmap's two methods side by side: cost next to one prediction, and faithfulness.

    python -m bench.explain_cost --model models/clean-or-messy --data ../shared/data/rooms

Methods (``cleanmessy/explain.py``): ``occlusion`` on the served int8 ONNX model, in a few window
configurations (``cells`` × ``cells`` grid, ``window`` × ``window`` windows, blurred), and
``gradient`` (gradient × (activation − mean) through the PyTorch model).

Timing: on already decoded photos, the median of alternating rounds of one prediction (PyTorch,
and the served backend) and ``explain()`` with each method, for a validation photo and a 12 MP
photo. The first "Why?" also pays for importing what the method needs: the gradient method imports
torch and transformers and loads the PyTorch weights, measured once in a fresh process.

Faithfulness, on the messy validation photos, judged by the PyTorch (fp32) model:

- deletion: cut the model's input into an 8 × 8 grid, rank the cells by the heatmap (pooled over
  the region of the photo the model sees), and remove them in that order, 4 at a time, by blurring
  (as the occlusion method does) or by filling with the mean colour (as nothing here does). The score
  is the area under P(messy) over the 17 steps (0 to 1): lower means the map found the cells that
  carry the verdict sooner. A random order is the baseline;
- agreement: the Spearman rank correlation of the two methods' pooled 8 × 8 maps.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image

from bench.report import write_section
from cleanmessy import Predictor, load_image, occlusion, settings
from cleanmessy.backends import EagerBackend
from cleanmessy.explain import explain, view_box
from cleanmessy.labels import LABEL2ID

GRID = 8
STEP = 4
CONFIGS = ((6, 1), (7, 2), (8, 1))
"""Occlusion (cells, window) configurations compared; the shipped default is marked in the table."""

COLD_EXPLAIN = """
import sys, time
started = time.perf_counter()
from cleanmessy import Predictor, load_image
from cleanmessy.explain import explain
predictor = Predictor.load(sys.argv[1])
image = load_image(sys.argv[2])
predictor.predict(image)
ready, cpu = time.perf_counter(), time.process_time()
explain(predictor, image, sys.argv[3])
print(ready - started, time.perf_counter() - ready, time.process_time() - cpu, 'torch' in sys.modules)
"""


def alternating(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median CPU milliseconds per call (this process, every thread), taking turns.

    CPU time, not wall time: on a machine shared with other work, wall time measures the
    neighbours; with one inference thread, CPU time is the work a call costs.
    """
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.process_time()
            call()
            times[name].append(time.process_time() - started)
    return {name: float(np.median(values) * 1e3) for name, values in times.items()}


@contextlib.contextmanager
def occlusion_grid(cells: int, window: int) -> Iterator[None]:
    """Within the block, the occlusion method uses ``cells`` × ``cells`` cells and ``window`` × ``window`` windows."""
    shipped = (occlusion.CELLS, occlusion.WINDOW)
    occlusion.CELLS, occlusion.WINDOW = cells, window
    try:
        yield
    finally:
        occlusion.CELLS, occlusion.WINDOW = shipped


def pooled(predictor: Predictor, image: Image.Image, heatmap: np.ndarray) -> np.ndarray:
    """The heatmap over the region the model sees, averaged into the GRID × GRID cells of its input."""
    left, top, right, bottom = (round(v) for v in view_box(predictor.preprocess.image_processor, image.size))
    seen = np.ascontiguousarray(heatmap[top:bottom, left:right])
    return np.asarray(Image.fromarray(seen, mode="F").resize((GRID, GRID), Image.Resampling.BOX))


def deletion_score(judge: EagerBackend, pixels: np.ndarray, order: np.ndarray, fill: str) -> float:
    """Area under P(messy) while the GRID² cells are removed in ``order``, STEP at a time (0 to 1; lower is better)."""
    baseline = occlusion.blurred(pixels) if fill == "blur" else np.zeros_like(pixels)
    rows, cols = occlusion._edges(pixels.shape[2], GRID), occlusion._edges(pixels.shape[3], GRID)
    steps = [pixels.copy()]
    current = pixels.copy()
    for start in range(0, GRID * GRID, STEP):
        for cell in order[start:start + STEP]:
            r, c = divmod(int(cell), GRID)
            box = (slice(None), slice(rows[r], rows[r + 1]), slice(cols[c], cols[c + 1]))
            current[(0, *box)] = baseline[(0, *box)]
        steps.append(current.copy())
    curve = judge.probabilities(np.concatenate(steps))[:, LABEL2ID["messy"]]
    return float(np.trapezoid(curve, dx=1.0 / (len(curve) - 1)))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ranks = [np.argsort(np.argsort(values.ravel())) for values in (a, b)]
    return float(np.corrcoef(*ranks)[0, 1])


def cold_explain(model: str, photo: Path, method: str, threads: int) -> tuple[float, float, float, bool]:
    """In a fresh process: seconds to load + first prediction; wall and CPU seconds of the first explanation; torch?"""
    env = settings.child_environment(TORCH_THREADS=str(threads), ORT_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", COLD_EXPLAIN, model, str(photo), method], check=True,
                         capture_output=True, text=True, env=env).stdout.split()
    return float(out[0]), float(out[1]), float(out[2]), out[3] == "True"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.explain_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models/clean-or-messy", help="model dir or Hub id (default: %(default)s)")
    parser.add_argument("--data", default="../shared/data/rooms", help="image folder with validation/<label>/")
    parser.add_argument("--rounds", type=int, default=10, help="timing rounds (default: %(default)s)")
    parser.add_argument("--photos", type=int, default=10, help="messy photos for faithfulness (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="inference threads, torch and onnxruntime (default: %(default)s)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    predictor = Predictor.load(args.model, preload_model=True, threads=args.threads)
    judge = EagerBackend(predictor.model)
    eager = Predictor(predictor.model, predictor.preprocess.image_processor, source=args.model, backend=judge)
    messy = sorted((Path(args.data) / "validation" / "messy").iterdir())
    photo = load_image(messy[0])
    shipped = (occlusion.CELLS, occlusion.WINDOW)
    label = {config: f"occlusion {config[0]}×{config[0]}, window {config[1]} ({(config[0] - config[1] + 1) ** 2 + 1} "
             f"forwards{', shipped' if config == shipped else ''})" for config in CONFIGS}

    lines = ["| photo | prediction, PyTorch (ms) | prediction, " + predictor.backend.name + " (ms) | "
             + " | ".join(f"{label[c]} (ms)" for c in CONFIGS) + " | gradient (ms) |",
             "|---|---|---|" + "---|" * len(CONFIGS) + "---|"]
    for name, image in ((f"validation photo {photo.width}×{photo.height}", photo),
                        ("12 MP photo 4000×3000", photo.resize((4000, 3000)))):
        calls: dict[str, Callable[[], object]] = {
            "eager": lambda image=image: eager.predict(image), "served": lambda image=image: predictor.predict(image)}
        for config in CONFIGS:
            def call(image=image, config=config):
                with occlusion_grid(*config):
                    explain(predictor, image, "occlusion")
            calls[config] = call
        calls["gradient"] = lambda image=image: explain(predictor, image, "gradient")
        result = alternating(calls, args.rounds)
        lines.append(f"| {name} | {result['eager']:.0f} | {result['served']:.0f} | "
                     + " | ".join(f"{result[c]:.0f}" for c in CONFIGS) + f" | {result['gradient']:.0f} |")
        print(lines[-1], flush=True)

    cold = {method: cold_explain(args.model, messy[0], method, args.threads) for method in ("occlusion", "gradient")}
    cold_lines = ["| method | fresh process: load + first prediction (s) | then the first explanation (s) | "
                  "its CPU time (s) | imports torch |", "|---|---|---|---|---|"]
    cold_lines += [f"| {method} | {load:.2f} | {first:.2f} | {cpu:.2f} | {'yes' if torch_loaded else 'no'} |"
                   for method, (load, first, cpu, torch_loaded) in cold.items()]
    print("\n".join(cold_lines), flush=True)

    rng = np.random.default_rng(0)
    scores: dict[str, dict[str, list[float]]] = {}
    agreement: dict[tuple[int, int], list[float]] = {config: [] for config in CONFIGS}
    for path in messy[: args.photos]:
        image = load_image(path)
        pixels = predictor.preprocess([image])
        maps = {"gradient": pooled(predictor, image, explain(predictor, image, "gradient").heatmap)}
        for config in CONFIGS:
            with occlusion_grid(*config):
                maps[label[config]] = pooled(predictor, image, explain(predictor, image, "occlusion").heatmap)
            agreement[config].append(spearman(maps[label[config]], maps["gradient"]))
        orders = {name: np.argsort(-heat.ravel(), kind="stable") for name, heat in maps.items()}
        orders["random order (baseline)"] = rng.permutation(GRID * GRID)
        for name, order in orders.items():
            for fill in ("blur", "mean colour"):
                scores.setdefault(name, {}).setdefault(fill, []).append(deletion_score(judge, pixels, order, fill))
        print(path.name, {name: round(values["blur"][-1], 3) for name, values in scores.items()}, flush=True)

    faith = ["| heatmap | deletion score, blurred cells (lower is better) | deletion score, mean-colour cells | "
             "Spearman with the gradient map |", "|---|---|---|---|"]
    for name, values in scores.items():
        config = next((c for c in CONFIGS if label[c] == name), None)
        rho = f"{np.median(agreement[config]):.2f}" if config else "—"
        faith.append(f"| {name} | {np.mean(values['blur']):.3f} | {np.mean(values['mean colour']):.3f} | {rho} |")
    body = (
        f"Cost in CPU milliseconds per call ({args.threads} inference thread; median of {args.rounds} alternating "
        "rounds on decoded photos; CPU time because this machine is shared, so wall time would measure the "
        "neighbours):\n\n" + "\n".join(lines)
        + "\n\nThe first explanation in a fresh process (what a cold serverless bot pays on its first \"Why?\"; wall "
        f"seconds, 1-minute load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):\n\n"
        + "\n".join(cold_lines)
        + f"\n\nFaithfulness on {min(args.photos, len(messy))} messy validation photos, judged by the PyTorch model "
        "(mean deletion score: the area under P(messy) as the 64 cells of an 8 × 8 grid over the model's input are "
        "removed, 4 at a time, in the heatmap's order; lower is better):\n\n" + "\n".join(faith)
        + f"\n\nModel `{args.model}`, served by `{predictor.backend.name}`."
    )
    print(body)
    write_section("explain", "Explanation heatmap: cost and faithfulness",
                  f"python -m bench.explain_cost --model {args.model} --data {args.data}", body)


if __name__ == "__main__":
    main()
