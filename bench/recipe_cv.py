"""Which fine-tuning recipe is stable, accurate and calibrated? Repeated k-fold cross-validation over every photo.

    python -m bench.recipe_cv run --data ../shared/data/rooms --not-rooms ../shared/data/not-rooms
    python -m bench.recipe_cv report            # BENCHMARKS.md sections, reliability plot, temperature

``run`` fine-tunes one model per (recipe, seed, fold) in this process, in priority order, and
appends one JSON line per finished run to ``artifacts/recipe_cv/runs.jsonl``; runs already
there are skipped, so it resumes after an interruption. Each run also saves
``artifacts/recipe_cv/<recipe>-s<seed>-f<fold>.npz`` (format: :func:`save_arrays`) with the
logits and L2-normalised CLS embeddings of every room photo (held-out and training), every
non-room photo and the composed wide photos, so "not a room" rates and calibration can be
computed per fold later without retraining.

Folds are those of ``bench.resolution_cv`` (the photos of each label dealt round-robin into
``--folds`` folds); the seed changes the head, augmentation and batch order, not the folds.
Per-epoch evaluation on the held-out fold is recorded, to show whether a run ever drops to chance.
Wide photos are composed from each held-out photo, label preserved: ``mirror``, the photo beside
its mirror image (2:1); ``pair``, the photo beside the next held-out photo of the same label (2:1).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.resolution_cv import photos, wilson, write_fold
from cleanmessy.images import load_image
from cleanmessy.labels import LABELS
from training.finetune import Hyperparameters

ARTIFACTS = Path("artifacts/recipe_cv")
RESOLUTION = 154

RECIPES: dict[str, Hyperparameters] = {
    # what main trained before issue 11: one learning rate, a random head, a 176 px resize and 154 px centre crop
    "before": Hyperparameters(resolution=RESOLUTION, layer_decay=1.0, linear_probe=False, whole_frame=False),
    # the new default: linear probe, then fine-tune with layer-wise decay, on the whole photo with aspect jitter
    "after": Hyperparameters(resolution=RESOLUTION),
}


def run_name(recipe: str, seed: int, fold: int) -> str:
    return f"{recipe}-s{seed}-f{fold}"


def queue(recipes: list[str], seeds: int, folds: int) -> list[tuple[str, int, int]]:
    """Runs in priority order: seed by seed, each recipe's folds together, so a cut-off bench still compares."""
    return [(recipe, seed, fold) for seed in range(seeds) for recipe in recipes for fold in range(folds)]


def done_runs(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {json.loads(line)["run"] for line in path.read_text().splitlines() if line.strip()}


def wide_photos(held_out: list[tuple[Path, int]]) -> tuple[list[Image.Image], list[int], list[str]]:
    """2:1 photos composed from held-out square photos, labels kept: each beside its mirror, and beside a same-label one."""
    images, labels, kinds = [], [], []
    by_label: dict[int, list[Path]] = {}
    for path, label in held_out:
        by_label.setdefault(label, []).append(path)
    for label, paths in by_label.items():
        for index, path in enumerate(paths):
            left = load_image(path)
            partner = load_image(paths[(index + 1) % len(paths)]).resize(left.size)
            for kind, right in (("mirror", left.transpose(Image.Transpose.FLIP_LEFT_RIGHT)), ("pair", partner)):
                canvas = Image.new("RGB", (left.width * 2, left.height))
                canvas.paste(left, (0, 0))
                canvas.paste(right, (left.width, 0))
                images.append(canvas)
                labels.append(label)
                kinds.append(kind)
    return images, labels, kinds


@torch.no_grad()
def logits_and_embeddings(model, preprocess, images: list[Image.Image], batch: int = 32):
    """``(logits (N, 2), L2-normalised CLS embedding (N, hidden))`` in one forward pass per batch."""
    from training.finetune import head_inputs

    model.eval()
    hidden = model.config.hidden_size
    logits, embeddings = [], []
    for start in range(0, len(images), batch):
        features = head_inputs(model, torch.from_numpy(preprocess(images[start:start + batch])))
        logits.append(model.classifier(features))
        embeddings.append(torch.nn.functional.normalize(features[:, :hidden], dim=1))
    return torch.cat(logits).numpy(), torch.cat(embeddings).numpy()


def save_arrays(path: Path, **arrays) -> None:
    """One run's arrays (``np.load`` them; strings are unicode arrays).

    ``rooms_path`` (192,) paths relative to --data, ``rooms_label`` (192,) 0 clean / 1 messy,
    ``rooms_heldout`` (192,) True for this fold's held-out photos, ``rooms_logits`` (192, 2) raw logits
    (no temperature), ``rooms_cls`` (192, 384) L2-normalised CLS token of the fine-tuned model;
    ``notrooms_path`` / ``notrooms_logits`` / ``notrooms_cls`` the same for --not-rooms;
    ``wide_label`` / ``wide_kind`` / ``wide_logits`` / ``wide_cls`` for the composed wide photos.
    """
    np.savez_compressed(path, **arrays)


def ece(probabilities: np.ndarray, labels: np.ndarray) -> float:
    from training.metrics import expected_calibration_error, reliability_bins

    confidences, correct = probabilities.max(1), probabilities.argmax(1) == labels
    return expected_calibration_error(reliability_bins(confidences, correct), len(labels))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def epoch_log(history: list[dict]) -> list[dict]:
    """Per epoch: held-out accuracy and loss, and the largest training gradient norm logged in that epoch."""
    epochs = []
    for entry in history:
        if "eval_accuracy" in entry:
            epoch = entry["epoch"]
            norms = [e["grad_norm"] for e in history if "grad_norm" in e and epoch - 1 < e["epoch"] <= epoch]
            epochs.append({"epoch": round(epoch, 2), "accuracy": entry["eval_accuracy"], "loss": entry["eval_loss"],
                           "max_grad_norm": max(norms) if norms else None})
    return epochs


def run_one(recipe: str, seed: int, fold: int, folds: int, data: Path, not_rooms: Path | None, base: str) -> dict:
    """Fine-tune one fold's model, save its arrays, and return its JSON line."""
    from cleanmessy.preprocess import Preprocessor
    from training.data import load_training_data
    from training.finetune import finetune

    params = replace(RECIPES[recipe], seed=seed)
    by_label = photos(data)
    rooms = [(path, LABELS.index(label)) for label, files in by_label.items() for path in files]
    held = np.array([files.index(path) % folds == fold for label, files in by_label.items() for path in files])
    with tempfile.TemporaryDirectory(prefix="recipe-cv-") as work:
        write_fold(by_label, fold, folds, Path(work) / "data")
        splits = load_training_data(str(Path(work) / "data"))
        started = time.perf_counter()
        model, processor, history = finetune(splits, base, Path(work) / "model", params)
        seconds = time.perf_counter() - started
    preprocess = Preprocessor(processor)
    room_logits, room_cls = logits_and_embeddings(model, preprocess, [load_image(p) for p, _ in rooms])
    labels = np.array([label for _, label in rooms])
    held_out = [room for room, is_held in zip(rooms, held) if is_held]
    wide, wide_labels, wide_kinds = wide_photos(held_out)
    wide_logits, wide_cls = logits_and_embeddings(model, preprocess, wide)
    others = sorted(p for p in not_rooms.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}) \
        if not_rooms else []
    other_logits, other_cls = logits_and_embeddings(model, preprocess, [load_image(p) for p in others]) \
        if others else (np.zeros((0, 2)), np.zeros((0, model.config.hidden_size)))
    save_arrays(ARTIFACTS / f"{run_name(recipe, seed, fold)}.npz",
                rooms_path=np.array([str(p.relative_to(data)) for p, _ in rooms]), rooms_label=labels,
                rooms_heldout=held, rooms_logits=room_logits, rooms_cls=room_cls,
                notrooms_path=np.array([p.name for p in others]), notrooms_logits=other_logits,
                notrooms_cls=other_cls, wide_label=np.array(wide_labels), wide_kind=np.array(wide_kinds),
                wide_logits=wide_logits, wide_cls=wide_cls)
    predictions = room_logits.argmax(1)
    wide_labels, wide_kinds = np.array(wide_labels), np.array(wide_kinds)
    return {
        "run": run_name(recipe, seed, fold), "recipe": recipe, "seed": seed, "fold": fold,
        "params": asdict(params), "train_seconds": round(seconds, 1),
        "correct": int((predictions[held] == labels[held]).sum()), "count": int(held.sum()),
        "ece": ece(softmax(room_logits[held]), labels[held]),
        "wide": {kind: float((wide_logits[wide_kinds == kind].argmax(1) == wide_labels[wide_kinds == kind]).mean())
                 for kind in ("mirror", "pair")},
        "epochs": epoch_log(history),
    }


def run(args: argparse.Namespace) -> int:
    from training.packaged_base import resolve_base

    torch.set_num_threads(args.threads)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "runs.jsonl"
    base, _ = resolve_base(None)
    for recipe, seed, fold in queue(args.recipes, args.seeds, args.folds):
        if run_name(recipe, seed, fold) in done_runs(log):
            continue
        result = run_one(recipe, seed, fold, args.folds, args.data, args.not_rooms, base)
        with log.open("a") as handle:
            handle.write(json.dumps(result) + "\n")
        print(f"{result['run']}: {result['correct']}/{result['count']}, ECE {result['ece']:.3f}, "
              f"epochs {[e['accuracy'] for e in result['epochs']]}, {result['train_seconds']:.0f} s", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recipe_cv", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run", help="fine-tune every (recipe, seed, fold) not yet in runs.jsonl")
    runner.add_argument("--data", type=Path, default=Path("../shared/data/rooms"))
    runner.add_argument("--not-rooms", type=Path, default=None)
    runner.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    runner.add_argument("--seeds", type=int, default=5)
    runner.add_argument("--folds", type=int, default=4)
    runner.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
