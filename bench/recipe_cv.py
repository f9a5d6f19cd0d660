"""Which fine-tuning recipe is stable, accurate and calibrated? Repeated k-fold cross-validation over every photo.

    python -m bench.recipe_cv run --data ../shared/data/rooms --not-rooms ../shared/data/not-rooms
    python -m bench.recipe_cv report            # BENCHMARKS.md sections, reliability plot, temperature

``run`` fine-tunes one model per (recipe, seed, fold) in this process, in priority order, and
appends one JSON line per finished run to ``artifacts/recipe_cv/runs.jsonl``; runs already
there are skipped, so it resumes after an interruption (delete the ``.lock`` file of a run that was
interrupted). A second ``run --reverse`` process can share the queue. Each run also saves
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
import os
import statistics
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.resolution_cv import photos, write_fold
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
    """Photos of other shapes made from held-out square photos, labels kept. Composed, 2:1: each beside its
    mirror (``mirror``), and beside a same-label one (``pair``). Cut: its middle band, full width and half the
    height (``strip``, 2:1), or full height and half the width (``tall``, 1:2), as a wide or portrait photo of
    the room would frame it (for the gate; the band may miss the mess, so not for accuracy)."""
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
            w, h = left.size
            for kind, box in (("strip", (0, h // 4, w, h // 4 + h // 2)), ("tall", (w // 4, 0, w // 4 + w // 2, h))):
                images.append(left.crop(box))
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


def not_room_files(folder: Path) -> list[Path]:
    """The non-room photos of ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})


def probe_photos() -> list[Path]:
    """Photos that ship inside installed packages (Gradio's examples, Matplotlib's sample photo): a source of
    non-room pictures that neither the gate nor the shared folder contains, scored but never trained on."""
    from importlib.util import find_spec

    def package(name: str) -> Path:
        spec = find_spec(name)
        return Path(spec.submodule_search_locations[0]) if spec else Path("/nonexistent")

    found = sorted((package("gradio") / "media_assets" / "images").glob("*.jp*g"))
    return found + sorted((package("matplotlib") / "mpl-data" / "sample_data").glob("*.jpg"))


def gate_arrays(model, preprocess, rooms: list[Image.Image], others: list[Image.Image]) -> dict[str, np.ndarray]:
    """The rest of what ``python -m training`` builds the gate from, embedded by this fold's model.

    ``gate_room_views_cls`` (``VIEWS_PER_ROOM`` views per room photo, in ``rooms_path`` order),
    ``gate_generated_cls`` / ``gate_generated_kind`` (the generated non-room pictures),
    ``gate_notroom_views_cls`` (``VIEWS_PER_NOT_ROOM`` views per non-room photo, in order) and
    ``probe_path`` / ``probe_cls`` (:func:`probe_photos`).
    """
    from bench.not_a_room_cv import gate_views

    views, kinds = gate_views(rooms, others)
    probes = probe_photos()
    sets = {
        "gate_room_views_cls": views["room_views"],
        "gate_generated_cls": views["generated"],
        "gate_notroom_views_cls": views["not_room_views"],
        "probe_cls": [load_image(path) for path in probes],
    }
    arrays = {key: logits_and_embeddings(model, preprocess, images)[1] for key, images in sets.items() if images}
    return {**arrays, "gate_generated_kind": np.array(kinds), "probe_path": np.array([path.name for path in probes])}


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


def fold_rooms(data: Path, fold: int, folds: int) -> tuple[list[tuple[Path, int]], np.ndarray]:
    """Every room photo with its label, and which of them fold ``fold`` holds out (the order of ``photos``)."""
    by_label = photos(data)
    rooms = [(path, LABELS.index(label)) for label, files in by_label.items() for path in files]
    held = np.array([files.index(path) % folds == fold for label, files in by_label.items() for path in files])
    return rooms, held


def run_one(recipe: str, seed: int, fold: int, folds: int, data: Path, not_rooms: Path | None, base: str) -> dict:
    """Fine-tune one fold's model, save its arrays, and return its JSON line."""
    from training.data import load_training_data
    from training.finetune import finetune

    params = replace(RECIPES[recipe], seed=seed)
    with tempfile.TemporaryDirectory(prefix="recipe-cv-") as work:
        write_fold(photos(data), fold, folds, Path(work) / "data")
        splits = load_training_data(str(Path(work) / "data"))
        started = time.perf_counter()
        model, processor, history = finetune(splits, base, Path(work) / "model", params)
        seconds = time.perf_counter() - started
    return {**score_model(model, processor, run_name(recipe, seed, fold), fold, folds, data, not_rooms),
            "recipe": recipe, "seed": seed, "params": asdict(params), "train_seconds": round(seconds, 1),
            "epochs": epoch_log(history)}


def score_model(model, processor, name: str, fold: int, folds: int, data: Path, not_rooms: Path | None) -> dict:
    """Save ``name``.npz for a model trained without fold ``fold``; return its held-out and wide-photo scores."""
    from cleanmessy.preprocess import Preprocessor

    rooms, held = fold_rooms(data, fold, folds)
    preprocess = Preprocessor(processor)
    room_logits, room_cls = logits_and_embeddings(model, preprocess, [load_image(p) for p, _ in rooms])
    labels = np.array([label for _, label in rooms])
    wide, wide_labels, wide_kinds = wide_photos([room for room, is_held in zip(rooms, held) if is_held])
    wide_logits, wide_cls = logits_and_embeddings(model, preprocess, wide)
    others = not_room_files(not_rooms) if not_rooms else []
    other_logits, other_cls = logits_and_embeddings(model, preprocess, [load_image(p) for p in others]) \
        if others else (np.zeros((0, 2)), np.zeros((0, model.config.hidden_size)))
    save_arrays(ARTIFACTS / f"{name}.npz",
                rooms_path=np.array([str(p.relative_to(data)) for p, _ in rooms]), rooms_label=labels,
                rooms_heldout=held, rooms_logits=room_logits, rooms_cls=room_cls,
                notrooms_path=np.array([p.name for p in others]), notrooms_logits=other_logits,
                notrooms_cls=other_cls, wide_label=np.array(wide_labels), wide_kind=np.array(wide_kinds),
                wide_logits=wide_logits, wide_cls=wide_cls,
                **gate_arrays(model, preprocess, [load_image(p) for p, _ in rooms], [load_image(p) for p in others]))
    wide_labels, wide_kinds = np.array(wide_labels), np.array(wide_kinds)
    return {
        "run": name, "fold": fold,
        "correct": int((room_logits.argmax(1)[held] == labels[held]).sum()), "count": int(held.sum()),
        "ece": ece(softmax(room_logits[held]), labels[held]),
        "wide": {kind: float((wide_logits[wide_kinds == kind].argmax(1) == wide_labels[wide_kinds == kind]).mean())
                 for kind in ("mirror", "pair")},
    }


def score_saved(args: argparse.Namespace) -> int:
    """Score a model that ``python -m training`` already trained on the other folds (its eval/ keeps the epochs)."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    torch.set_num_threads(args.threads)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = run_name(args.recipe, args.seed, args.fold)
    model = AutoModelForImageClassification.from_pretrained(args.model)
    processor = AutoImageProcessor.from_pretrained(args.model)
    history = json.loads((args.model / "eval" / "log_history.json").read_text())
    result = {**score_model(model, processor, name, args.fold, args.folds, args.data, args.not_rooms),
              "recipe": args.recipe, "seed": args.seed, "params": asdict(replace(RECIPES[args.recipe], seed=args.seed)),
              "train_seconds": None, "epochs": epoch_log(history), "scored_from": args.model.name}
    with (ARTIFACTS / "runs.jsonl").open("a") as handle:
        handle.write(json.dumps(result) + "\n")
    print(f"{name}: {result['correct']}/{result['count']}, epochs {[e['accuracy'] for e in result['epochs']]}")
    return 0


def claim(lock: Path) -> bool:
    """Create ``lock`` unless another ``run`` process already did: two processes never train the same run."""
    try:
        lock.open("x").close()
        return True
    except FileExistsError:
        return False


def run(args: argparse.Namespace) -> int:
    from training.packaged_base import resolve_base

    torch.set_num_threads(args.threads)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "runs.jsonl"
    base, _ = resolve_base(None)
    runs = queue(args.recipes, args.seeds, args.folds)
    for recipe, seed, fold in reversed(runs) if args.reverse else runs:
        name = run_name(recipe, seed, fold)
        if name in done_runs(log) or not claim(ARTIFACTS / f"{name}.lock"):
            continue
        result = run_one(recipe, seed, fold, args.folds, args.data, args.not_rooms, base)
        with log.open("a") as handle:
            handle.write(json.dumps(result) + "\n")
        print(f"{result['run']}: {result['correct']}/{result['count']}, ECE {result['ece']:.3f}, "
              f"epochs {[e['accuracy'] for e in result['epochs']]}, {result['train_seconds']:.0f} s", flush=True)
    return 0


def load_runs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def out_of_fold(runs: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(logits, labels, fold)`` of one seed's held-out photos, pooled over the folds in ``runs``."""
    logits, labels, folds = [], [], []
    for run in sorted(runs, key=lambda r: r["fold"]):
        arrays = np.load(ARTIFACTS / f"{run['run']}.npz")
        held = arrays["rooms_heldout"]
        logits.append(arrays["rooms_logits"][held])
        labels.append(arrays["rooms_label"][held])
        folds.append(np.full(int(held.sum()), run["fold"]))
    return np.concatenate(logits), np.concatenate(labels), np.concatenate(folds)


def cross_fitted_probabilities(logits: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each fold's photos calibrated with a temperature fitted on the other folds' out-of-fold logits (honest ECE)."""
    from training.calibration import fit_temperature

    probabilities = np.zeros_like(logits, dtype=np.float64)
    if len(np.unique(folds)) == 1:
        return softmax(logits, fit_temperature(logits, labels))  # one fold: nothing to cross-fit with (optimistic)
    for fold in np.unique(folds):
        rest = folds != fold
        probabilities[~rest] = softmax(logits[~rest], fit_temperature(logits[rest], labels[rest]))
    return probabilities


def spread(values: list[float], percent: bool = True) -> str:
    """``mean ± sd (min–max)`` of ``values``."""
    f = (lambda v: f"{v:.1%}") if percent else (lambda v: f"{v:.3f}")
    if len(values) == 1:
        return f(values[0])
    return f"{f(statistics.mean(values))} ± {f(statistics.stdev(values))} ({f(min(values))}–{f(max(values))})"


def summarise(recipe: str, runs: list[dict], folds: int) -> dict:
    """One recipe's numbers over its complete seeds: accuracy, ECE before and after temperature, stability, wide photos."""
    from training.calibration import fit_temperature

    seeds = sorted({r["seed"] for r in runs if sum(x["seed"] == r["seed"] for x in runs) == folds})
    pooled = [out_of_fold([r for r in runs if r["seed"] == seed]) for seed in seeds]
    if not pooled:  # no seed has all its folds yet: use what there is, and say so
        first = min(r["seed"] for r in runs)
        pooled = [out_of_fold([r for r in runs if r["seed"] == first])]
    after_first = [e["accuracy"] for r in runs for e in r["epochs"] if e["epoch"] > 1]
    summary = {
        "recipe": recipe, "seeds": seeds, "runs": len(runs), "params": runs[0]["params"],
        "fold_accuracy": [r["correct"] / r["count"] for r in runs],
        "worst_epoch_after_first": min(after_first) if after_first else None,
        "runs_at_chance_after_first": sum(any(e["epoch"] > 1 and e["accuracy"] <= 0.55 for e in r["epochs"])
                                          for r in runs),
        "max_grad_norm": max((e["max_grad_norm"] or 0) for r in runs for e in r["epochs"]),
        "wide": {kind: [r["wide"][kind] for r in runs] for kind in ("mirror", "pair")},
        # the median: a run that shared the CPU with other jobs took many times longer
        "train_seconds": statistics.median(seconds) if (seconds := [r["train_seconds"] for r in runs
                                                                     if r["train_seconds"]]) else None,
    }
    if pooled:  # seeds: the complete ones, or one partial seed
        logits = np.concatenate([p[0] for p in pooled])
        labels = np.concatenate([p[1] for p in pooled])
        summary["photos_held_out"] = len(pooled[0][1])
        summary["seed_accuracy"] = [float((p[0].argmax(1) == p[1]).mean()) for p in pooled]
        summary["seed_ece_raw"] = [ece(softmax(p[0]), p[1]) for p in pooled]
        summary["seed_ece_calibrated"] = [ece(cross_fitted_probabilities(*p), p[1]) for p in pooled]
        summary["temperature"] = fit_temperature(logits, labels)
        summary["correct"], summary["count"] = int((logits.argmax(1) == labels).sum()), len(labels)
        summary["oof_logits"], summary["oof_labels"] = logits, labels
    return summary


def reliability_plot(summaries: list[dict], path: Path) -> None:
    """Reliability diagrams of the pooled out-of-fold scores, raw and with the fitted temperature, per recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training.metrics import reliability_bins

    complete = summaries
    figure, axes = plt.subplots(1, len(complete), figsize=(5 * len(complete), 4.5), squeeze=False)
    for axis, summary in zip(axes[0], complete):
        labels = summary["oof_labels"]
        for name, temperature, colour in (("raw", 1.0, "C0"), (f"T = {summary['temperature']:.2f}",
                                                                summary["temperature"], "C1")):
            probabilities = softmax(summary["oof_logits"], temperature)
            bins = [b for b in reliability_bins(probabilities.max(1), probabilities.argmax(1) == labels) if b["count"]]
            axis.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", color=colour,
                      label=f"{name}: ECE {ece(probabilities, labels):.3f}")
        axis.plot([0.5, 1], [0.5, 1], "--", color="grey", label="perfect calibration")
        axis.set(xlim=(0.5, 1), ylim=(0.0, 1.02), xlabel="confidence", ylabel="accuracy",
                 title=f"{summary['recipe']}: {len(labels)} out-of-fold predictions")
        axis.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def render_report(summaries: list[dict], runs: list[dict], folds: int, photos_total: int, plot: str) -> str:
    lines = [
        f"Every one of the {photos_total} photos is held out once per seed ({folds} stratified folds, the folds of "
        "`bench.resolution_cv`); the seed changes the head, the augmentation and the batch order. Accuracy and ECE "
        "are per seed, over all held-out photos pooled (mean ± sd across seeds, min–max). Calibrated ECE: each "
        "fold's scores divided by a temperature fitted on the other folds' out-of-fold logits. \"worst epoch\": "
        "the lowest held-out accuracy any run had after its first epoch. Wide photos: each held-out photo beside "
        "its mirror image, or beside another held-out photo of its label (2:1, label kept).",
        "",
        "| recipe | runs (seeds × folds) | out-of-fold accuracy | per-fold accuracy | ECE raw | ECE calibrated "
        "| temperature | worst epoch after the first | runs at chance after epoch 1 | max grad norm "
        "| wide: mirror | wide: pair | train s / run (median) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        seeds = len(s["seeds"])
        scope = (f"{seeds} seed{'s' if seeds != 1 else ''} × {folds} folds" if seeds else
                 f"partial: {s['runs']} of {folds} folds of seed 0, {s['photos_held_out']} photos held out")
        lines.append(
            f"| {s['recipe']} | {scope} | {spread(s['seed_accuracy'])} | {spread(s['fold_accuracy'])} "
            f"| {spread(s['seed_ece_raw'], False)} | {spread(s['seed_ece_calibrated'], False)} "
            f"| {s['temperature']:.2f} | {s['worst_epoch_after_first']:.0%} | {s['runs_at_chance_after_first']} "
            f"| {s['max_grad_norm']:.0f} | {spread(s['wide']['mirror'])} | {spread(s['wide']['pair'])} "
            f"| {'n/a (scored a saved model)' if s['train_seconds'] is None else round(s['train_seconds'])} |"
        )
    finished = ", ".join(f"{s['recipe']} {s['runs']}" for s in summaries)
    lines += ["", f"Planned: 5 seeds × {folds} folds per recipe. Finished: {finished} (runs recorded in "
              "`artifacts/recipe_cv/runs.jsonl`; `run` resumes where it stopped). Training time: the median "
              f"fine-tuning seconds of a run, {torch.get_num_threads()} threads on {os.cpu_count()} cores (a run that "
              "shared the CPU with other jobs took many times longer)."]
    if not any(s["recipe"] == "before" for s in summaries):
        lines.append("The old recipe (one learning rate, random head, centre crop) has no run here; its 4-fold "
                     "numbers on the same folds (seed 0) are the 154 px row of \"Input resolution\" below.")
    lines += ["", f"![reliability of the out-of-fold scores]({plot})", "", epoch_table(runs)]
    return "\n".join(lines)


def epoch_table(runs: list[dict]) -> str:
    """Held-out accuracy after every epoch of every run, and the largest gradient norm it logged (before clipping)."""
    lines = ["Held-out accuracy after each epoch (a drop to about 50% is chance):", "",
             "| run | accuracy by epoch | largest gradient norm |", "|---|---|---:|"]
    for run in sorted(runs, key=lambda r: (r["recipe"], r["seed"], r["fold"])):
        epochs = " → ".join(f"{e['accuracy']:.0%}" for e in run["epochs"])
        norm = max((e["max_grad_norm"] or 0) for e in run["epochs"]) if run["epochs"] else 0
        lines.append(f"| {run['run']} | {epochs} | {norm:.0f} |")
    return "\n".join(lines)


MARGINS = (2.0, 2.5, 3.0)
"""Gate threshold margins compared (``training.gate.ROOM_MARGIN_SD`` is the shipped one)."""
RATE_KEYS = ("rooms", "not_rooms_category", "not_rooms_source", "composed_rooms", "cut_rooms", "probes")


def gate_rates(runs: list[dict], not_rooms: Path) -> dict[str, dict[str, dict[str, float]]]:
    """``bench.not_a_room_cv.run_rates`` at each of :data:`MARGINS`, for every run whose ``.npz`` has the gate
    arrays: ``{run: {margin: rates}}``, cached in ``gate_rates.json``."""
    from bench.not_a_room_cv import not_room_groups, run_rates

    cache_path = ARTIFACTS / "gate_rates.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    groups = not_room_groups(not_rooms)
    for run in runs:
        if run["run"] not in cache:
            rates = run_rates(np.load(ARTIFACTS / f"{run['run']}.npz"), groups, MARGINS)
            if rates is not None:
                cache[run["run"]] = rates
                cache_path.write_text(json.dumps(cache, indent=1) + "\n")
                print(f"{run['run']}: gate rates measured", flush=True)
    return {name: cache[name] for name in (run["run"] for run in runs) if name in cache}


def gate_table(runs: list[dict], rates: dict[str, dict[str, dict[str, float]]], margin: float) -> str:
    """Mean ± sd (min–max) over runs of each "not a room" rate at ``margin``, per recipe."""
    lines = ["| recipe | runs | held-out rooms flagged | non-rooms flagged, category unseen | non-rooms flagged, "
             "source unseen | rooms composed 2:1 flagged | rooms cut 2:1 or 1:2 flagged "
             "| photos from installed packages flagged |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for recipe in RECIPES:
        measured = [rates[r["run"]][str(margin)] for r in runs if r["recipe"] == recipe and r["run"] in rates]
        if measured:
            cells = [spread([m[key] for m in measured]) for key in RATE_KEYS]
            lines.append(f"| {recipe} | {len(measured)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def margin_table(runs: list[dict], rates: dict[str, dict[str, dict[str, float]]], chosen: float) -> str:
    """The chosen recipe's mean rates at each threshold margin: what the margin trades."""
    measured = [rates[r["run"]] for r in runs if r["recipe"] == "after" and r["run"] in rates]
    lines = ["| threshold margin (sd) | held-out rooms flagged | non-rooms flagged, category unseen "
             "| non-rooms flagged, source unseen | rooms cut 2:1 or 1:2 flagged |", "|---:|---:|---:|---:|---:|"]
    for margin in MARGINS:
        mean = {key: statistics.mean(m[str(margin)][key] for m in measured) for key in RATE_KEYS}
        mark = " **(shipped)**" if margin == chosen else ""
        lines.append(f"| {margin:g}{mark} | {mean['rooms']:.1%} | {mean['not_rooms_category']:.1%} "
                     f"| {mean['not_rooms_source']:.1%} | {mean['cut_rooms']:.1%} |")
    return "\n".join(lines)


def band_table(summary: dict, threshold: float) -> str:
    """How the "hard to say" threshold splits the calibrated out-of-fold predictions, and accuracy per confidence bin."""
    probabilities = softmax(summary["oof_logits"], summary["temperature"])
    confidence, correct = probabilities.max(1), probabilities.argmax(1) == summary["oof_labels"]

    def share(mask: np.ndarray) -> str:
        return f"{correct[mask].mean():.0%} ({int(correct[mask].sum())}/{int(mask.sum())})" if mask.any() else "–"

    lines = ["| threshold | share answered \"hard to say\" | accuracy inside the band | accuracy of the rest |",
             "|---:|---:|---:|---:|"]
    for t in sorted({0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, threshold}):
        band = confidence < t
        rest = f"{correct[~band].mean():.1%}" if (~band).any() else "–"
        mark = " **(default)**" if t == threshold else ""
        lines.append(f"| {t:.2f}{mark} | {band.mean():.1%} | {share(band)} | {rest} |")
    edges = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)
    lines += ["", "| calibrated confidence | " + " | ".join(f"{lo:.1f}–{min(hi, 1):.1f}" for lo, hi in zip(edges, edges[1:]))
              + " |", "|---|" + "---:|" * (len(edges) - 1),
              "| right | " + " | ".join(share((confidence >= lo) & (confidence < hi)) for lo, hi in zip(edges, edges[1:]))
              + " |"]
    return "\n".join(lines)


def report(args: argparse.Namespace) -> int:
    """Summarise runs.jsonl into BENCHMARKS.md, the reliability plot and training/recipe_cv.json."""
    from bench.report import write_section
    from cleanmessy.settings import DEFAULT_UNSURE_THRESHOLD
    from training.calibration import RECIPE_FILE
    from training.gate import ROOM_MARGIN_SD

    runs = load_runs(ARTIFACTS / "runs.jsonl")
    if not runs:
        raise SystemExit(f"no runs in {ARTIFACTS / 'runs.jsonl'}: run `python -m bench.recipe_cv run` first")
    summaries = [summarise(recipe, [r for r in runs if r["recipe"] == recipe], args.folds)
                 for recipe in RECIPES if any(r["recipe"] == recipe for r in runs)]
    plot = Path("docs/reliability_oof.png")
    reliability_plot(summaries, plot)
    photos_total = len(np.load(ARTIFACTS / f"{runs[0]['run']}.npz")["rooms_label"])
    body = render_report(summaries, runs, args.folds, photos_total, plot.as_posix())
    chosen = next((s for s in summaries if s["recipe"] == "after"), None)
    rates = gate_rates(runs, args.not_rooms)
    gate_runs = [rates[r["run"]][str(ROOM_MARGIN_SD)] for r in runs if r["recipe"] == "after" and r["run"] in rates]
    if chosen:
        body += ("\n\n**\"Hard to say\" band**, on the calibrated out-of-fold scores of the chosen recipe (every seed "
                 "pooled). Calibrated, a confidence is the chance of being right, so `UNSURE_THRESHOLD` defaults to "
                 f"{DEFAULT_UNSURE_THRESHOLD}: below it the model expects to be wrong more than 1 time in 4. The second "
                 "table checks that per confidence bin.\n\n" + band_table(chosen, DEFAULT_UNSURE_THRESHOLD))
        RECIPE_FILE.write_text(json.dumps({
            "temperature": round(chosen["temperature"], 4),
            "runs": (f"{len(chosen['seeds'])} seed{'s' if len(chosen['seeds']) != 1 else ''} × {args.folds} folds"
                     if chosen["seeds"] else f"{chosen['runs']} of {args.folds} folds (1 seed)"),
            # per-seed mean over the held-out photos: pooling seeds would count each photo several times
            "photos": chosen["photos_held_out"], "count": chosen["photos_held_out"],
            "correct": round(statistics.mean(chosen["seed_accuracy"]) * chosen["photos_held_out"]),
            "ece_calibrated": round(statistics.mean(chosen["seed_ece_calibrated"]), 4),
            # the gate built on each run's model: mean share flagged of held-out rooms and of unseen non-rooms
            "not_a_room": {"runs": len(gate_runs), "margin_sd": ROOM_MARGIN_SD,
                           **{key: round(statistics.mean(r[key] for r in gate_runs), 4)
                              for key in ("rooms", "not_rooms_category", "not_rooms_source")}} if gate_runs else None,
        }, indent=2, ensure_ascii=False) + "\n")
    if rates:
        body += ("\n\n**\"Not a room\" per run.** For each run, the gate `python -m training` would build on that "
                 "run's fine-tuned model, without the held-out fold's rooms (threshold from the training rooms: mean + "
                 f"{ROOM_MARGIN_SD:g} sd of their 5-fold held-out gate logits). Non-room rates: each category, or "
                 "each source repository, of the "
                 f"{len(not_room_files(args.not_rooms))} real non-room photos held out in turn (the 300 generated "
                 "pictures always in). \"Installed packages\": the photos that ship with Gradio and Matplotlib "
                 f"({len(probe_photos())}: cheetahs, a lion, a tower, a toy, a portrait), never trained on. Mean ± sd "
                 "over runs (min–max); `bench.not_a_room_cv.run_rates`. "
                 f"{len(runs) - len(rates)} runs saved before runs kept the gate's inputs are left out.\n\n"
                 + gate_table(runs, rates, ROOM_MARGIN_SD)
                 + "\n\nThe threshold margin trades rooms against non-rooms (chosen recipe, mean over runs):\n\n"
                 + margin_table(runs, rates, ROOM_MARGIN_SD))
    command = "python -m bench.recipe_cv report"
    if args.no_write:
        print(body)
    else:
        write_section("recipe-cv", "Training recipe: repeated cross-validation (stability, accuracy, calibration)",
                      command, body)
        print(body)
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
    runner.add_argument("--reverse", action="store_true",
                        help="take the queue from its end (for a second process beside a first one)")
    scorer = commands.add_parser("score", help="score a model python -m training trained on one fold's training part")
    scorer.add_argument("--model", type=Path, required=True)
    scorer.add_argument("--recipe", choices=list(RECIPES), required=True, help="the recipe it was trained with")
    scorer.add_argument("--seed", type=int, default=0)
    scorer.add_argument("--fold", type=int, required=True)
    scorer.add_argument("--folds", type=int, default=4)
    scorer.add_argument("--data", type=Path, default=Path("../shared/data/rooms"))
    scorer.add_argument("--not-rooms", type=Path, default=None)
    scorer.add_argument("--threads", type=int, default=2)
    reporter = commands.add_parser("report", help="write BENCHMARKS.md, docs/reliability_oof.png, recipe_cv.json")
    reporter.add_argument("--folds", type=int, default=4)
    reporter.add_argument("--not-rooms", type=Path, default=Path("../shared/data/not-rooms"),
                          help="the non-room folder the runs embedded (its provenance.csv groups the photos)")
    reporter.add_argument("--no-write", action="store_true", help="print instead of writing BENCHMARKS.md")
    args = parser.parse_args(argv)
    return {"run": run, "score": score_saved, "report": report}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
