"""What the explanation heatmap costs, next to one prediction, and how well it agrees with occlusion.

    python -m bench.explain_cost --model models/clean-or-messy --data ../shared/data/rooms

Timing: on already decoded photos (decode is the same for both), the median of alternating
rounds of ``predictor.predict(image)`` (the PyTorch model, and the served backend if it differs)
and ``explain(predictor, image)`` (forward + backward through the last block + overlay at the
photo's size), for a validation photo and a 12 MP photo.

Faithfulness: for messy validation photos, the Spearman rank correlation between the heatmap
pooled to an 8×8 grid and occlusion sensitivity on the same grid (the drop of the messy − clean
logit when that cell of the model's input is replaced by the mean colour; 64 extra forward passes
per photo, which is why the Space does not do it). Results go to the ``explain`` section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from bench.report import write_section
from cleanmessy import Predictor, load_image
from cleanmessy.backends import EagerBackend
from cleanmessy.explain import explain, view_box

GRID = 8


def alternating(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median milliseconds per call, taking turns so background load hits every call alike."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return {name: float(np.median(values) * 1e3) for name, values in times.items()}


def occlusion_agreement(predictor: Predictor, image) -> float:
    """Spearman correlation of the pooled heatmap with 8×8 occlusion sensitivity on the model's input."""
    pixels = torch.from_numpy(predictor.preprocess([image]))
    _, _, height, width = pixels.shape
    cell_h, cell_w = height // GRID, width // GRID
    occluded = []
    for row in range(GRID):
        for col in range(GRID):
            copy = pixels.clone()
            copy[:, :, row * cell_h:(row + 1) * cell_h, col * cell_w:(col + 1) * cell_w] = 0.0
            occluded.append(copy)
    with torch.inference_mode():
        logits = predictor.model(pixel_values=torch.cat([pixels, *occluded])).logits
    margins = (logits[:, 1] - logits[:, 0]).numpy()
    sensitivity = margins[0] - margins[1:]
    left, top, right, bottom = (round(v) for v in view_box(predictor.preprocess.image_processor, image.size))
    seen = explain(predictor, image).heatmap[top:bottom, left:right]
    pooled = np.asarray(Image.fromarray(seen, mode="F").resize((GRID, GRID), Image.Resampling.BOX))
    ranks = [np.argsort(np.argsort(values.ravel())) for values in (pooled, sensitivity)]
    return float(np.corrcoef(*ranks)[0, 1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.explain_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models/clean-or-messy", help="model dir or Hub id (default: %(default)s)")
    parser.add_argument("--data", default="../shared/data/rooms", help="image folder with validation/<label>/")
    parser.add_argument("--rounds", type=int, default=20, help="timing rounds (default: %(default)s)")
    parser.add_argument("--photos", type=int, default=10, help="messy photos for the agreement (default: %(default)s)")
    args = parser.parse_args(argv)

    predictor = Predictor.load(args.model)
    eager = Predictor(predictor.model, predictor.preprocess.image_processor, source=args.model,
                      backend=EagerBackend(predictor.model))
    messy = sorted((Path(args.data) / "validation" / "messy").iterdir())
    photo = load_image(messy[0])
    large = photo.resize((4000, 3000))
    lines = ["| photo | one prediction, PyTorch (ms) | "
             + (f"one prediction, {predictor.backend.name} (ms) | " if predictor.backend.name != "eager" else "")
             + "explain (ms) | explain ÷ PyTorch prediction |", "|---|---|" + ("---|" if predictor.backend.name != "eager" else "") + "---|---|"]
    for name, image in ((f"validation photo {photo.width}×{photo.height}", photo), ("12 MP photo 4000×3000", large)):
        calls = {"eager": lambda image=image: eager.predict(image)}
        if predictor.backend.name != "eager":
            calls["served"] = lambda image=image: predictor.predict(image)
        calls["explain"] = lambda image=image: explain(predictor, image)
        result = alternating(calls, args.rounds)
        served = f"{result['served']:.0f} | " if "served" in result else ""
        lines.append(f"| {name} | {result['eager']:.0f} | {served}{result['explain']:.0f} | "
                     f"{result['explain'] / result['eager']:.2f}× |")
        print(lines[-1], flush=True)

    agreements = [occlusion_agreement(predictor, load_image(path)) for path in messy[: args.photos]]
    body = "\n".join(lines) + (
        f"\n\nAgreement with 8×8 occlusion sensitivity (Spearman, {len(agreements)} messy validation photos): "
        f"median {np.median(agreements):.2f}, range {min(agreements):.2f} to {max(agreements):.2f}.\n\n"
        f"Model `{args.model}`, {torch.get_num_threads()} torch threads, median of {args.rounds} alternating rounds. "
        "Method: gradient × (activation − mean patch) on the last block's input tokens for the messy − clean "
        "logit (`cleanmessy/explain.py`): one forward pass with gradient recording plus a backward pass through "
        "the last block."
    )
    print(body)
    write_section("explain", "Explanation heatmap: cost and faithfulness",
                  f"python -m bench.explain_cost --model {args.model} --data {args.data}", body)


if __name__ == "__main__":
    main()
