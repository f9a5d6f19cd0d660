"""Which input resolution keeps the accuracy? K-fold cross-validation over every labelled photo.

    python -m bench.resolution_cv --data ../shared/data/rooms [--resolutions 224 168 154 140] [--folds 4]

The validation split holds 20 photos, where one mistake is 5 points: too few to tell two
resolutions apart. Here every photo (train + validation) is held out exactly once: the photos
are dealt into ``--folds`` stratified folds, and for each fold and resolution
``python -m training --resolution PX --no-export-onnx`` fine-tunes on the other folds (same
seed, epochs and base as ``make train``) and is scored on the held-out one. The table gives the
pooled out-of-fold accuracy with a 95% Wilson interval, macro F1 and ECE per fold, and the
training time. Writes the ``resolution-cv`` section of BENCHMARKS.md (takes about
folds × resolutions × 1.5 min on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import write_section
from cleanmessy import settings
from cleanmessy.labels import LABELS
from training.metrics import wilson_interval as wilson


def photos(data: Path) -> dict[str, list[Path]]:
    """Every labelled photo of an image folder (``<split>/<label>/*`` or ``<label>/*``), by label, sorted."""
    return {label: sorted(p for p in data.glob(f"**/{label}/*") if p.is_file()) for label in LABELS}


def write_fold(by_label: dict[str, list[Path]], fold: int, folds: int, target: Path) -> None:
    """Link fold ``fold`` of each label into ``target/validation`` and the rest into ``target/train``."""
    for label, files in by_label.items():
        for index, path in enumerate(files):
            split = "validation" if index % folds == fold else "train"
            folder = target / split / label
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{index:04d}-{path.name}").symlink_to(path.resolve())


def train_and_score(data: Path, resolution: int, epochs: float, seed: int, output: Path) -> tuple[dict, float]:
    """Fine-tune at ``resolution`` on ``data/train``, evaluate on ``data/validation``: ``(metrics, seconds)``."""
    command = [sys.executable, "-m", "training", "--data", str(data), "--output", str(output),
               "--epochs", str(epochs), "--seed", str(seed), "--resolution", str(resolution), "--no-export-onnx"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=settings.child_environment(HF_HUB_OFFLINE="1"))
    if result.returncode:
        raise SystemExit(f"training failed at {resolution} px:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return json.loads((output / "eval" / "metrics.json").read_text()), time.perf_counter() - started


def render(results: dict[int, list[tuple[dict, float]]], folds: int, total: int, epochs: float) -> str:
    lines = [
        f"{total} labelled photos (train + validation) dealt into {folds} stratified folds; each fold is held out "
        f"once while the model fine-tunes on the rest ({epochs:g} epochs, seed 0, packaged base, no ONNX export). "
        "Accuracy is pooled over every held-out photo.",
        "",
        "| resolution | tokens | out-of-fold accuracy | 95% interval | per-fold accuracy | macro F1 (mean) | ECE (mean) "
        "| train s / fold |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for resolution, runs in results.items():
        correct = sum(metrics["correct"] for metrics, _ in runs)
        count = sum(metrics["num_examples"] for metrics, _ in runs)
        low, high = wilson(correct, count)
        per_fold = ", ".join(f"{metrics['accuracy']:.0%}" for metrics, _ in runs)
        lines.append(
            f"| {resolution} px | {(resolution // 14) ** 2 + 1} | {correct}/{count} = {correct / count:.1%} "
            f"| {low:.1%}–{high:.1%} | {per_fold} | {statistics.mean(m['macro_f1'] for m, _ in runs):.3f} "
            f"| {statistics.mean(m['expected_calibration_error'] for m, _ in runs):.3f} "
            f"| {statistics.mean(s for _, s in runs):.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.resolution_cv", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/rooms"))
    parser.add_argument("--resolutions", type=int, nargs="+", default=[224, 168, 154, 140])
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--epochs", type=float, default=5.0)
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing BENCHMARKS.md")
    args = parser.parse_args(argv)
    by_label = photos(args.data)
    total = sum(len(files) for files in by_label.values())
    if not total:
        raise SystemExit(f"no clean/ or messy/ photos under {args.data}")
    results: dict[int, list[tuple[dict, float]]] = {resolution: [] for resolution in args.resolutions}
    with tempfile.TemporaryDirectory(prefix="resolution-cv-") as work:
        for fold in range(args.folds):
            fold_data = Path(work) / f"fold{fold}"
            write_fold(by_label, fold, args.folds, fold_data)
            for resolution in args.resolutions:
                metrics, seconds = train_and_score(fold_data, resolution, args.epochs, 0,
                                                   Path(work) / f"model-{fold}-{resolution}")
                results[resolution].append((metrics, seconds))
                print(f"fold {fold + 1}/{args.folds} at {resolution} px: {metrics['correct']}/"
                      f"{metrics['num_examples']} in {seconds:.0f} s", flush=True)
    body = render(results, args.folds, total, args.epochs)
    command = "python -m bench.resolution_cv " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.no_write:
        print(body)
    else:
        write_section("resolution-cv", "Input resolution: cross-validated accuracy", command.strip(), body)
        print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
