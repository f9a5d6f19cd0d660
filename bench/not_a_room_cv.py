"""Which "not a room" method generalises? Cross-validated over rooms the backbone never saw and non-room groups held out.

    python -m bench.not_a_room_cv --data ../shared/data/rooms --not-rooms ../shared/data/not-rooms

The 192 room photos are dealt into 4 stratified folds (the same folds as ``bench.resolution_cv``).
For each fold a model is fine-tuned on the other three (``python -m training``, the ``make train``
recipe, kept in ``--work`` and reused) and every picture is embedded with it. Then, for every
method and every fold:

- the gate is fitted on the fold model's training rooms and on the non-room pictures, except one
  *group* of real non-room photos held out at a time: by source repository, and separately by
  category (people, animals, outdoors, objects, graphics and documents, microscopy);
- the threshold is chosen the way ``python -m training`` chooses it, from the training rooms only
  (5-fold; mean + ``ROOM_MARGIN_SD`` standard deviations of the held-out rooms' scores);
- it is scored on the held-out fold's rooms (unseen by backbone and gate: the room rate that
  matters) and on the held-out group (unseen kinds of picture: the non-room rate that matters).

Methods: a logistic head on the L2-normalised CLS embedding (with and without the real non-room
photos, with and without generated pictures, with a stronger penalty), the same on ``[CLS, mean patch]``;
k-nearest-neighbour
cosine distance to the training rooms (Sun et al. 2022); Mahalanobis++ (class means and a shared,
shrunk covariance of L2-normalised features; Mueller et al. 2025). Writes the ``not-a-room`` section
of BENCHMARKS.md. The fold models take about 5 min each on 2 idle cores; the rest about 2 min.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from bench.report import write_section
from bench.resolution_cv import photos, train_and_score, write_fold
from training.gate import PENALTY, ROOM_FOLDS, ROOM_MARGIN_SD, fit_head, head_logit, room_folds, threshold_for

FOLDS = 4
RESOLUTION = 154
CATEGORY_RULES = (
    ("graphics/documents", r"drawing|comic|anime|cartoon|logo|clip-art|map|sudoku|handwritten|captcha|note card|shapes|spiral"),
    ("microscopy", r"microscopy"),
    ("animals", r"dog|kitten|hen |eagle|robin|giraffe|butterfly|corgi"),
    ("people", r"portrait|\bman\b|\bmen\b|couple|players|faces|footballer|adults|racer"),
    ("outdoors", r"park|lake|tree|meadow|street|bus|building|house|church|shop|sign|aerial|pagoda|outdoor"),
)


def category(shows: str) -> str:
    """Coarse category of a non-room photo from its provenance description."""
    for name, pattern in CATEGORY_RULES:
        if re.search(pattern, shows.lower()):
            return name
    return "objects"


def not_room_groups(folder: Path) -> dict[str, dict[str, str]]:
    """``{file: {"source": repo, "category": ...}}`` from ``provenance.csv`` (file-name prefix if absent)."""
    provenance = folder / "provenance.csv"
    rows = {row["file"]: row for row in csv.DictReader(provenance.open())} if provenance.is_file() else {}
    groups = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in (".csv", ".md"):
            continue
        row = rows.get(path.name, {})
        groups[path.name] = {"source": row.get("source_repo", path.name.split("__")[0]).split(" ")[0],
                             "category": category(row.get("shows", path.name))}
    return groups


# ---------------------------------------------------------------- embeddings per fold model


def gate_views(rooms: list, not_rooms: list, seed: int = 0) -> tuple[dict[str, list], list[str]]:
    """Besides the photos themselves, what ``python -m training`` builds a gate from: ``{"room_views",
    "generated", "not_room_views"}`` pictures (views in photo order) and the generated pictures' kinds."""
    from training import negatives
    from training.gate import GENERATED_COUNT, VIEWS_PER_NOT_ROOM, VIEWS_PER_ROOM

    generated = negatives.generated(GENERATED_COUNT, seed=seed)
    views = {"room_views": negatives.room_views(rooms, VIEWS_PER_ROOM, seed=seed),
             "generated": [image for _, image in generated],
             "not_room_views": negatives.views(not_rooms, VIEWS_PER_NOT_ROOM, seed=seed)}
    return views, [kind for kind, _ in generated]


def embed_fold(model_dir: Path, room_files: list[Path], not_room_dir: Path, cache: Path, seed: int = 0) -> dict:
    """Embeddings of every picture under one fold model (cached in ``cache``, an .npz)."""
    if cache.is_file():
        return dict(np.load(cache, allow_pickle=False))
    from cleanmessy.images import load_image
    from cleanmessy.model_files import load_model_and_processor
    from cleanmessy.preprocess import Preprocessor
    from training import negatives
    from training.gate import classifier_inputs

    model, processor = load_model_and_processor(str(model_dir))
    preprocess = Preprocessor(processor)
    rooms = [load_image(path) for path in room_files]
    not_rooms = negatives.load_folder(not_room_dir)
    views, kinds = gate_views(rooms, [image for _, image in not_rooms], seed)
    sets = {"rooms": rooms, "not_rooms": [image for _, image in not_rooms], **views}
    arrays = {name: classifier_inputs(model, preprocess, images) for name, images in sets.items()}
    arrays["generated_kinds"] = np.array(kinds)
    arrays["not_room_names"] = np.array([name for name, _ in not_rooms])
    arrays["hidden_size"] = np.array(model.config.hidden_size)
    np.savez(cache, **arrays)
    return arrays


# ---------------------------------------------------------------- methods


def normalised(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass
class Training:
    """What a method may learn from: training rooms (with clean/messy labels and photo ids) and non-rooms."""

    rooms: np.ndarray
    room_labels: np.ndarray
    room_photos: np.ndarray
    room_is_view: np.ndarray
    not_rooms: np.ndarray


Scorer = Callable[[np.ndarray], np.ndarray]
"""Higher score = more likely not a room."""


def logistic(penalty: float) -> Callable[[Training], Scorer]:
    def fit(data: Training) -> Scorer:
        x = np.concatenate([data.rooms, data.not_rooms])
        y = np.concatenate([np.zeros(len(data.rooms)), np.ones(len(data.not_rooms))])
        weights, bias = fit_head(x, y, penalty)
        return lambda features: head_logit(features, weights, bias)
    return fit


def knn(k: int) -> Callable[[Training], Scorer]:
    def fit(data: Training) -> Scorer:
        bank = data.rooms[~data.room_is_view]

        def score(features: np.ndarray) -> np.ndarray:
            similarity = np.sort(features @ bank.T, axis=1)[:, ::-1]
            return 1 - similarity[:, min(k, bank.shape[0]) - 1]
        return score
    return fit


def mahalanobis_pp(shrinkage: float = 0.1) -> Callable[[Training], Scorer]:
    def fit(data: Training) -> Scorer:
        x, labels = data.rooms[~data.room_is_view], data.room_labels[~data.room_is_view]
        means = np.stack([x[labels == c].mean(0) for c in np.unique(labels)])
        centred = np.concatenate([x[labels == c] - means[i] for i, c in enumerate(np.unique(labels))])
        covariance = centred.T @ centred / len(centred)
        covariance = (1 - shrinkage) * covariance + shrinkage * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
        precision = np.linalg.inv(covariance)

        def score(features: np.ndarray) -> np.ndarray:
            distances = [np.einsum("nd,de,ne->n", features - m, precision, features - m) for m in means]
            return np.min(distances, axis=0)
        return score
    return fit


def cv_room_scores(fit: Callable[[Training], Scorer], data: Training, seed: int = 0) -> np.ndarray:
    """The room scores ``python -m training`` chooses its threshold from: rooms held out by photo, 5 folds."""
    fold = room_folds(data.room_photos, ROOM_FOLDS, seed)
    scores = []
    for k in range(ROOM_FOLDS):
        inner = Training(data.rooms[fold != k], data.room_labels[fold != k], data.room_photos[fold != k],
                         data.room_is_view[fold != k], data.not_rooms)
        test = (fold == k) & ~data.room_is_view
        scores.append(fit(inner)(data.rooms[test]))
    return np.concatenate(scores)


# ---------------------------------------------------------------- the cross-validation


@dataclass
class Variant:
    name: str
    fit: Callable[[Training], Scorer]
    features: str = "cls"  # or "cls+mean"
    real: bool = True  # learn from the real non-room photos
    generated: bool = True  # learn from generated pictures


VARIANTS = (
    Variant("logistic head, CLS (chosen)", logistic(PENALTY)),
    Variant("logistic head, CLS, 10× stronger penalty", logistic(10 * PENALTY)),
    Variant("logistic head, CLS, generated pictures only", logistic(PENALTY), real=False),
    Variant("logistic head, CLS, real photos only", logistic(PENALTY), generated=False),
    Variant("logistic head, [CLS, mean patch]", logistic(PENALTY), features="cls+mean"),
    Variant("kNN distance, k=1, CLS", knn(1)),
    Variant("kNN distance, k=5, CLS", knn(5)),
    Variant("Mahalanobis++, CLS", mahalanobis_pp()),
)


def features_of(arrays: dict, name: str, kind: str) -> np.ndarray:
    hidden = int(arrays["hidden_size"])
    x = arrays[name]
    return normalised(x[:, :hidden] if kind == "cls" else x)


def fit_gate(variant: Variant, arrays: dict, train_rooms: np.ndarray, room_labels: np.ndarray,
             keep_real: np.ndarray) -> tuple[Scorer, np.ndarray]:
    """The gate ``variant`` learns from one fold model's embeddings, and the held-out room scores training would
    choose its threshold from (:func:`training.gate.threshold_for`).

    It learns from the rooms marked ``train_rooms`` (and their views), and from the generated pictures and
    the real non-room photos marked ``keep_real`` (and their views), as far as the variant uses them.
    """
    names = arrays["not_room_names"]
    views_per = len(arrays["not_room_views"]) // max(1, len(names))
    rooms = features_of(arrays, "rooms", variant.features)
    room_views = features_of(arrays, "room_views", variant.features)
    per_room = len(room_views) // len(rooms)
    negatives = [features_of(arrays, "generated", variant.features)] if variant.generated else []
    if variant.real:
        negatives += [features_of(arrays, "not_rooms", variant.features)[keep_real],
                      features_of(arrays, "not_room_views", variant.features)[np.repeat(keep_real, views_per)]]
    viewed = np.repeat(train_rooms, per_room)
    data = Training(np.concatenate([rooms[train_rooms], room_views[viewed]]),
                    np.concatenate([room_labels[train_rooms], np.repeat(room_labels, per_room)[viewed]]),
                    np.concatenate([np.flatnonzero(train_rooms), np.repeat(np.arange(len(rooms)), per_room)[viewed]]),
                    np.concatenate([np.zeros(train_rooms.sum(), bool), np.ones(viewed.sum(), bool)]),
                    np.concatenate(negatives) if negatives else np.zeros((0, rooms.shape[1])))
    return variant.fit(data), cv_room_scores(variant.fit, data)


def evaluate(variant: Variant, folds: list[tuple[int, dict]], room_fold: np.ndarray, room_labels: np.ndarray,
             groups: dict[str, dict[str, str]], grouping: str) -> dict:
    """Held-out room rate (pooled over folds) and held-out non-room rate (pooled over groups and folds)."""
    rooms_flagged = rooms_total = not_flagged = not_total = 0
    per_group: dict[str, list[int]] = {}
    generated_flagged = generated_total = 0
    for fold, arrays in folds:
        group_of = np.array([groups[str(n)][grouping] for n in arrays["not_room_names"]])
        train_rooms = room_fold != fold
        rooms = features_of(arrays, "rooms", variant.features)
        real = features_of(arrays, "not_rooms", variant.features)
        for group in sorted(set(group_of)):
            scorer, room_scores = fit_gate(variant, arrays, train_rooms, room_labels, group_of != group)
            threshold = threshold_for(room_scores)
            held_rooms = scorer(rooms[~train_rooms]) >= threshold
            rooms_flagged += int(held_rooms.sum())
            rooms_total += len(held_rooms)
            flagged = scorer(real[group_of == group]) >= threshold
            not_flagged += int(flagged.sum())
            not_total += len(flagged)
            per_group.setdefault(group, [0, 0])
            per_group[group][0] += int(flagged.sum())
            per_group[group][1] += len(flagged)
            if not variant.generated:
                flagged_generated = scorer(features_of(arrays, "generated", variant.features)) >= threshold
                generated_flagged += int(flagged_generated.sum())
                generated_total += len(flagged_generated)
    return {
        "rooms": rooms_flagged / rooms_total,
        "rooms_count": (rooms_flagged, rooms_total),
        "not_rooms": not_flagged / not_total,
        "not_rooms_count": (not_flagged, not_total),
        "per_group": {g: c[0] / c[1] for g, c in per_group.items()},
        "generated": generated_flagged / generated_total if generated_total else None,
    }


# ---------------------------------------------------------------- per run of bench.recipe_cv


def recipe_cv_arrays(saved) -> dict | None:
    """One ``bench.recipe_cv`` run's ``.npz`` in :func:`embed_fold`'s layout (``None`` if it has no gate arrays)."""
    if "gate_generated_cls" not in saved:
        return None
    return {"rooms": saved["rooms_cls"], "room_views": saved["gate_room_views_cls"],
            "generated": saved["gate_generated_cls"], "generated_kinds": saved["gate_generated_kind"],
            "not_rooms": saved["notrooms_cls"], "not_room_views": saved["gate_notroom_views_cls"],
            "not_room_names": saved["notrooms_path"], "hidden_size": np.array(saved["rooms_cls"].shape[1])}


def run_rates(saved, groups: dict[str, dict[str, str]], margins: Sequence[float] = (ROOM_MARGIN_SD,),
              variant: Variant = VARIANTS[0]) -> dict[str, dict[str, float]] | None:
    """The gate's rates for one ``bench.recipe_cv`` run, built the way ``python -m training`` builds it without that
    fold, for each threshold margin (``{str(margin): rates}``; ``None`` if the run saved no gate arrays).

    ``rooms``: held-out rooms flagged (the backbone never saw them either); ``not_rooms_category`` /
    ``not_rooms_source``: real non-room photos flagged by a gate that never saw their category / source;
    ``composed_rooms`` / ``cut_rooms``: held-out rooms made 2:1 by composing, or 2:1 and 1:2 by cutting, flagged
    (``bench.recipe_cv.wide_photos``); ``probes``: photos from installed packages (never trained on) flagged.
    """
    arrays = recipe_cv_arrays(saved)
    if arrays is None:
        return None
    held, labels = saved["rooms_heldout"], saved["rooms_label"]
    rooms, kinds = normalised(saved["rooms_cls"]), saved["wide_kind"]
    wide, probes = normalised(saved["wide_cls"]), normalised(saved["probe_cls"])
    everything = np.ones(len(arrays["not_room_names"]), bool)
    scorer, room_scores = fit_gate(variant, arrays, ~held, labels, everything)
    held_out_groups = {}  # grouping -> [(scores of the held-out group's photos, room scores for its threshold)]
    for grouping in ("category", "source"):
        group_of = np.array([groups[str(n)][grouping] for n in arrays["not_room_names"]])
        held_out_groups[grouping] = []
        for group in sorted(set(group_of)):
            group_scorer, group_room_scores = fit_gate(variant, arrays, ~held, labels, group_of != group)
            held_out_groups[grouping].append(
                (group_scorer(normalised(arrays["not_rooms"])[group_of == group]), group_room_scores))
    results = {}
    for margin in margins:
        threshold = threshold_for(room_scores, margin)
        flagged = lambda scores: float(np.mean(scores >= threshold))  # noqa: E731
        results[str(margin)] = {
            "rooms": flagged(scorer(rooms[held])),
            **{f"not_rooms_{grouping}": float(np.mean(np.concatenate(
                [scores >= threshold_for(group_rooms, margin) for scores, group_rooms in pairs])))
               for grouping, pairs in held_out_groups.items()},
            "composed_rooms": flagged(scorer(wide[np.isin(kinds, ["mirror", "pair"])])),
            "cut_rooms": flagged(scorer(wide[np.isin(kinds, ["strip", "tall"])])),
            "probes": flagged(scorer(probes)),
        }
    return results



def render(results: dict[str, dict[str, dict]], used: list[int], folds: int, rooms: int, not_rooms: int,
           recipe_cv_seed: int | None = None) -> str:
    evaluated = "every fold" if len(used) == folds else f"fold{'s' if len(used) > 1 else ''} " + ", ".join(
        str(fold + 1) for fold in used) + " only (the CPU time there was)"
    lines = [
        f"{rooms} room photos in {folds} folds, {evaluated}; each fold's model is fine-tuned without it (`make train` recipe, "
        f"{RESOLUTION} px{'' if recipe_cv_seed is None else f'; the models of `bench.recipe_cv` seed {recipe_cv_seed}'}), "
        f"so its rooms are unseen by backbone and gate. {not_rooms} real non-room photos held out "
        "one group at a time, by source repository and by category; the gate still learns from the others and from "
        "300 generated pictures (text pages, screenshots, charts, shapes, noise, gradients, patterns, retina- and "
        "microscope-like images, simple landscapes). Threshold: chosen from the training rooms only (5-fold, mean + "
        f"{ROOM_MARGIN_SD:g} sd of their held-out scores), as `python -m training` does. Room rates are pooled "
        "over every (fold, group) "
        "fit, non-room rates over every held-out photo.",
        "",
        "| method | unseen rooms flagged | unseen non-rooms flagged (by source) | (by category) | weakest category |",
        "|---|---:|---:|---:|---|",
    ]
    for name, by in results.items():
        source, cat = by["source"], by["category"]
        weakest = min(cat["per_group"].items(), key=lambda item: item[1])
        lines.append(f"| {name} | {source['rooms']:.1%} | {source['not_rooms']:.1%} | {cat['not_rooms']:.1%} "
                     f"| {weakest[0]} {weakest[1]:.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.not_a_room_cv", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/rooms"))
    parser.add_argument("--not-rooms", type=Path, default=Path("../shared/data/not-rooms"))
    parser.add_argument("--work", type=Path, default=Path("artifacts/not-a-room-cv"),
                        help="fold models and embeddings are kept here and reused")
    parser.add_argument("--folds", type=int, default=FOLDS)
    parser.add_argument("--only-folds", type=int, nargs="+", default=None,
                        help="evaluate these folds only (e.g. when CPU time allows fine-tuning just some)")
    parser.add_argument("--recipe-cv-seed", type=int, default=None, metavar="SEED",
                        help="take the fold models' embeddings from `bench.recipe_cv`'s runs of the shipped recipe "
                             "with this seed (artifacts/recipe_cv/after-sSEED-fK.npz) instead of fine-tuning here; "
                             "methods that need more than the CLS embedding are left out")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing BENCHMARKS.md")
    args = parser.parse_args(argv)
    by_label = photos(args.data)
    room_files = [path for label in by_label for path in by_label[label]]
    room_labels = np.array([i for i, label in enumerate(by_label) for _ in by_label[label]])
    room_fold = np.array([index % args.folds for label in by_label for index, _ in enumerate(by_label[label])])
    groups = not_room_groups(args.not_rooms)
    args.work.mkdir(parents=True, exist_ok=True)
    folds = []
    used = args.only_folds if args.only_folds is not None else list(range(args.folds))
    for fold in used:
        if args.recipe_cv_seed is not None:
            saved = Path("artifacts/recipe_cv") / f"after-s{args.recipe_cv_seed}-f{fold}.npz"
            arrays = recipe_cv_arrays(np.load(saved)) if saved.is_file() else None
            if arrays is None:
                raise SystemExit(f"{saved}: missing, or saved without the gate arrays (run `bench.recipe_cv run`)")
            folds.append((fold, arrays))
            continue
        model_dir = args.work / f"model-{fold}"
        if not (model_dir / "config.json").is_file():
            fold_data = args.work / f"data-{fold}"
            if not fold_data.exists():
                write_fold(by_label, fold, args.folds, fold_data)
            train_and_score(fold_data, RESOLUTION, 5.0, 0, model_dir)
        folds.append((fold, embed_fold(model_dir, room_files, args.not_rooms, args.work / f"embeddings-{fold}.npz")))
        print(f"fold {fold + 1}/{args.folds} embedded", flush=True)
    results = {}
    for variant in VARIANTS:
        if args.recipe_cv_seed is not None and variant.features != "cls":
            continue
        results[variant.name] = {grouping: evaluate(variant, folds, room_fold, room_labels, groups, grouping)
                                 for grouping in ("source", "category")}
        r = results[variant.name]
        print(f"{variant.name}: rooms {r['source']['rooms']:.1%}, non-rooms by source {r['source']['not_rooms']:.1%}, "
              f"by category {r['category']['not_rooms']:.1%} {r['category']['per_group']}", flush=True)
    body = render(results, used, args.folds, len(room_files), len(groups), args.recipe_cv_seed)
    command = "python -m bench.not_a_room_cv " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.no_write:
        print(body)
    else:
        write_section("not-a-room", '"Not a room": which method generalises', command.strip(), body)
        print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
