"""Build the "not a room" gate for a fine-tuned model: embed rooms and non-rooms, fit a head, pick the threshold.

    python -m training ... --not-rooms ../shared/data/not-rooms     # builds it after fine-tuning

The gate is a logistic head on the fine-tuned model's L2-normalised CLS embedding
(:class:`cleanmessy.gate.NotARoomGate`), trained with the room photos (and grey, blurred,
small, wide and tall views of them) against non-room pictures: generated ones (always, see
:mod:`training.negatives`) plus crops and views of real photos when a folder is given.

The threshold comes from cross-validation on the rooms: the rooms are split into folds, a head
is fitted without each fold, and the threshold sits ``margin`` standard deviations above the mean
of the held-out rooms' gate logits, and never flags more than 2% of them. The margin is not "2% of
these rooms": the fine-tuned backbone has seen these very rooms, and rooms it never saw score
higher. ``bench.recipe_cv`` measures that on rooms held out from the backbone too, and
:data:`ROOM_MARGIN_SD` is the margin that flags at most 2% of them there. The same is done for the
non-rooms by group (each kind of generated picture, each source of real photos, held out in turn)
to measure how the gate does on kinds of picture it never saw; both rates go into
``not_a_room.json`` and the card.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from cleanmessy.gate import NotARoomGate, l2_normalised, sigmoid
from cleanmessy.preprocess import Preprocessor
from training import negatives

logger = logging.getLogger(__name__)

MAX_ROOM_RATE = 0.02
"""The threshold never flags more than this share of the cross-validated rooms."""
ROOM_MARGIN_SD = 2.5
"""Threshold: mean + this many sd of the held-out rooms' gate logits (chosen with ``bench.recipe_cv``, see above)."""
ROOM_FOLDS = 5
GENERATED_COUNT = 300
VIEWS_PER_NOT_ROOM = 4
VIEWS_PER_ROOM = 2
PENALTY = 1e-4
EMBED_BATCH = 32
MAX_STREAMED_ROOMS = 1000


@dataclass
class Examples:
    """CLS embeddings (L2-normalised) with labels (1 = not a room), groups (held out together) and photo ids."""

    features: np.ndarray
    labels: np.ndarray
    groups: list[str]
    photos: np.ndarray
    originals: np.ndarray  # True for an untouched photo (what the rates are measured on), False for a view

    def subset(self, keep: np.ndarray) -> "Examples":
        return Examples(self.features[keep], self.labels[keep], [g for g, k in zip(self.groups, keep) if k],
                        self.photos[keep], self.originals[keep])


def classifier_inputs(model: torch.nn.Module, preprocess: Preprocessor, images: Sequence[Image.Image]) -> np.ndarray:
    """What ``model.classifier`` receives for each image (Dinov2: ``[CLS, mean patch]``; ViT: ``CLS``), (N, D)."""
    captured: list[torch.Tensor] = []
    hook = model.classifier.register_forward_pre_hook(lambda _module, args: captured.append(args[0].detach()))
    try:
        with torch.inference_mode():
            for start in range(0, len(images), EMBED_BATCH):
                pixels = torch.from_numpy(preprocess(images[start:start + EMBED_BATCH]))
                model(pixel_values=pixels)
    finally:
        hook.remove()
    return torch.cat(captured).float().numpy() if captured else np.zeros((0, 0), np.float32)


def cls_features(model: torch.nn.Module, preprocess: Preprocessor, images: Sequence[Image.Image]) -> np.ndarray:
    """The L2-normalised CLS embedding of each image, (N, hidden_size)."""
    return l2_normalised(classifier_inputs(model, preprocess, images)[:, : model.config.hidden_size])


def fit_head(features: np.ndarray, labels: np.ndarray, penalty: float = PENALTY) -> tuple[np.ndarray, float]:
    """Class-balanced L2-penalised logistic regression (L-BFGS): ``(weights, bias)``."""
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).double()
    y = torch.from_numpy(labels.astype(np.float64))
    positives = max(float(y.sum()), 1.0)
    negatives_count = max(float(len(y) - y.sum()), 1.0)
    sample_weight = torch.where(y > 0, len(y) / (2 * positives), len(y) / (2 * negatives_count))
    weights = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weights, bias], lr=1, max_iter=500, tolerance_grad=1e-9,
                                  line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        logits = x @ weights + bias
        value = (sample_weight * torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")).mean()
        value = value + penalty * weights.square().sum()
        value.backward()
        return value

    optimiser.step(loss)
    return weights.detach().float().numpy(), float(bias.detach())


def head_logit(features: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    """``features · weights + bias`` for already normalised features (the gate's logit; flagged at a threshold)."""
    return features @ weights + bias


def threshold_for(room_scores: np.ndarray, margin: float = ROOM_MARGIN_SD, max_rate: float = MAX_ROOM_RATE) -> float:
    """``margin`` standard deviations above the mean of held-out rooms' scores, and never so low that more than
    ``max_rate`` of those rooms are flagged (flagged: score >= threshold).

    A fitted normal tail rather than an empirical quantile alone: with 200 rooms, "the 2% highest" rests on 4
    photos. The quantile still bounds it when a few rooms sit far out (a small or odd set of rooms).

    >>> threshold_for(np.array([-3.0, -1.0]), margin=2.0)
    0.0
    >>> threshold_for(np.array([0.0] * 9 + [10.0]), margin=1.0) > 10  # 1 sd would flag 10% of these rooms
    True
    """
    scores = np.asarray(room_scores, dtype=np.float64)
    ordered = np.sort(scores)[::-1]
    allowed = int(np.floor(max_rate * len(ordered)))
    quantile = float(np.nextafter(ordered[allowed], np.inf)) if allowed < len(ordered) else -np.inf
    return max(float(scores.mean() + margin * scores.std()), quantile)


def room_folds(photos: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number per room example, keeping every view of a photo in its photo's fold."""
    unique = np.unique(photos)
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {photo: int(rank % folds) for rank, photo in zip(order, unique)}
    return np.array([fold_of[photo] for photo in photos])


def held_out_room_scores(examples: Examples, folds: int, seed: int, penalty: float) -> np.ndarray:
    """Gate logit of each original room photo from a head fitted without its fold (all non-rooms kept)."""
    rooms = examples.labels == 0
    fold = np.full(len(examples.labels), -1)
    fold[rooms] = room_folds(examples.photos[rooms], folds, seed)
    scores = np.full(len(examples.labels), np.nan)
    for k in range(folds):
        train = fold != k
        weights, bias = fit_head(examples.features[train], examples.labels[train], penalty)
        test = (fold == k) & examples.originals
        scores[test] = head_logit(examples.features[test], weights, bias)
    return scores[rooms & examples.originals]


def held_out_group_rates(examples: Examples, threshold_scores: np.ndarray, penalty: float) -> dict[str, float]:
    """Share of each non-room group's original pictures flagged by a head fitted without that group.

    Each group's threshold is the one :func:`threshold_for` takes from ``threshold_scores``
    (held-out room logits), so the rate is what a user would see for a kind of picture the gate never saw.
    """
    threshold = threshold_for(threshold_scores)
    rates = {}
    not_rooms = examples.labels == 1
    for group in sorted({g for g, label in zip(examples.groups, examples.labels) if label == 1}):
        in_group = np.array([g == group for g in examples.groups]) & not_rooms
        weights, bias = fit_head(examples.features[~in_group], examples.labels[~in_group], penalty)
        test = in_group & examples.originals
        rates[group] = float(np.mean(head_logit(examples.features[test], weights, bias) >= threshold))
    return rates


@dataclass
class GateReport:
    """How the gate was built and how it did on held-out rooms and held-out kinds of non-room picture."""

    rooms: int
    room_views: int
    generated: int
    real_not_rooms: int
    not_room_views: int
    threshold: float
    held_out_rooms_flagged: float
    held_out_not_rooms_flagged: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def real_not_rooms_flagged(self) -> float | None:
        """Mean held-out-source rate over the real non-room photos' sources, if any were given."""
        real = [rate for group, rate in self.held_out_not_rooms_flagged.items() if not group.startswith("generated:")]
        return float(np.mean(real)) if real else None

    def summary(self) -> str:
        text = (f"not-a-room gate: threshold {self.threshold:.3f}; flags {self.held_out_rooms_flagged:.1%} of "
                f"{self.rooms} held-out rooms")
        if self.real_not_rooms_flagged is not None:
            text += f", {self.real_not_rooms_flagged:.0%} of real non-room photos from held-out sources"
        generated = [r for g, r in self.held_out_not_rooms_flagged.items() if g.startswith("generated:")]
        if generated:
            text += f", {np.mean(generated):.0%} of generated pictures of held-out kinds"
        return text + f" ({self.seconds:.0f} s)"

    def card_note(self) -> str:
        """What the model card says about the gate: how it was trained and its cross-validated rates."""
        text = (f"It is a logistic head on the L2-normalised CLS embedding, trained on {self.rooms} room photos "
                f"(and {self.room_views} grey, blurred, small, wide or tall views of them) against {self.generated} "
                "generated non-room pictures (text pages, screenshots, charts, shapes, noise, gradients, patterns, "
                "retina- and microscope-like images, simple landscapes)")
        if self.real_not_rooms:
            text += f" and {self.real_not_rooms} real non-room photos with {self.not_room_views} crops and views of them"
        text += (f". The threshold, {self.threshold:.3f}, sits at least {ROOM_MARGIN_SD:g} standard deviations "
                 f"above the held-out rooms' mean (5-fold cross-validation) and flags "
                 f"{self.held_out_rooms_flagged:.1%} of them")
        if self.real_not_rooms_flagged is not None:
            text += (f"; with each source of real non-room photos held out in turn, it flags "
                     f"{self.real_not_rooms_flagged:.0%} of that source's photos")
        return text + "."


def recipe_rates() -> dict | None:
    """What ``bench.recipe_cv`` measured for gates built this way, on rooms the backbone never saw either
    (``training/recipe_cv.json``'s ``not_a_room``: runs, rooms, not_rooms_category, not_rooms_source), or ``None``."""
    from training.calibration import read_recipe

    return (read_recipe() or {}).get("not_a_room")


def recipe_note() -> str:
    """The card's sentence on :func:`recipe_rates` ('' if they were never measured)."""
    measured = recipe_rates()
    if not measured:
        return ""
    return (f" Measured where the backbone had not seen the rooms either (this recipe's cross-validation on the "
            f"project's photos, {measured['runs']} runs, `bench/recipe_cv.py`), gates built this way flag "
            f"{measured['rooms']:.1%} of held-out rooms, and {measured['not_rooms_category']:.0%} of non-room photos "
            f"of a category they never saw ({measured['not_rooms_source']:.0%} with each source held out).")


def collect(
    model: torch.nn.Module,
    preprocess: Preprocessor,
    rooms: Sequence[Image.Image],
    not_rooms: Sequence[tuple[str, Image.Image]] = (),
    *,
    seed: int = 0,
    generated_count: int = GENERATED_COUNT,
    views_per_not_room: int = VIEWS_PER_NOT_ROOM,
    views_per_room: int = VIEWS_PER_ROOM,
) -> Examples:
    """Embed rooms (and views), generated pictures, real non-rooms (and views) into one labelled set.

    Real non-rooms are grouped by source: the part of the file name before ``__`` (the
    ``not-rooms`` folder names its files ``<owner>__<repo>__<name>``), else the name itself.
    """
    images: list[Image.Image] = []
    labels: list[int] = []
    groups: list[str] = []
    photos: list[str] = []
    originals: list[bool] = []

    def add(batch: Sequence[Image.Image], label: int, group: str, photo: str, original: bool) -> None:
        images.extend(batch)
        labels.extend([label] * len(batch))
        groups.extend([group] * len(batch))
        photos.extend([photo] * len(batch))
        originals.extend([original] * len(batch))

    for index, room in enumerate(rooms):
        add([room], 0, "room", f"room:{index}", True)
        add(negatives.room_views([room], views_per_room, seed=seed + index), 0, "room", f"room:{index}", False)
    for index, (kind, picture) in enumerate(negatives.generated(generated_count, seed=seed)):
        add([picture], 1, f"generated:{kind}", f"generated:{index}", True)
    for index, (name, picture) in enumerate(not_rooms):
        source = name.split("__")[0] if "__" in name else name
        add([picture], 1, f"real:{source}", f"real:{name}", True)
        add(negatives.views([picture], views_per_not_room, seed=seed + index), 1, f"real:{source}", f"real:{name}", False)
    return Examples(cls_features(model, preprocess, images), np.array(labels), groups, np.array(photos),
                    np.array(originals))


def build_gate(
    model: torch.nn.Module,
    processor,
    rooms: Sequence[Image.Image],
    not_rooms: Sequence[tuple[str, Image.Image]] = (),
    *,
    seed: int = 0,
    penalty: float = PENALTY,
    margin: float = ROOM_MARGIN_SD,
    measure_groups: bool = True,
    **amounts,
) -> tuple[NotARoomGate, GateReport]:
    """Fit the gate for ``model`` and choose its threshold by cross-validation on ``rooms``.

    ``rooms`` are RGB room photos (every labelled photo, clean or messy); ``not_rooms`` are
    ``(file name, RGB image)`` of real non-room photos (may be empty: generated pictures are always used).
    """
    started = time.perf_counter()
    model.eval()
    examples = collect(model, Preprocessor(processor), rooms, not_rooms, seed=seed, **amounts)
    room_scores = held_out_room_scores(examples, ROOM_FOLDS, seed, penalty)
    threshold = threshold_for(room_scores, margin)
    group_rates = held_out_group_rates(examples, room_scores, penalty) if measure_groups else {}
    weights, bias = fit_head(examples.features, examples.labels, penalty)
    counts = {
        "rooms": int(np.sum((examples.labels == 0) & examples.originals)),
        "room_views": int(np.sum((examples.labels == 0) & ~examples.originals)),
        "generated": sum(g.startswith("generated:") for g in examples.groups),
        "real_not_rooms": int(sum(g.startswith("real:") and o for g, o in zip(examples.groups, examples.originals))),
        "not_room_views": int(sum(g.startswith("real:") and not o for g, o in zip(examples.groups, examples.originals))),
    }
    report = GateReport(**counts, threshold=float(sigmoid(threshold)),
                        held_out_rooms_flagged=float(np.mean(room_scores >= threshold)),
                        held_out_not_rooms_flagged=group_rates, seconds=time.perf_counter() - started)
    info = {
        "features": f"CLS embedding ({model.config.hidden_size} numbers), L2-normalised",
        "trained_on": counts,
        "penalty": penalty,
        "threshold_rule": f"mean + {margin:g} sd of held-out rooms' gate logits, and at most {MAX_ROOM_RATE:.0%} of them "
                          f"flagged, {ROOM_FOLDS}-fold cross-validation",
        "held_out_rooms_flagged": round(report.held_out_rooms_flagged, 4),
        "held_out_not_rooms_flagged": {group: round(rate, 4) for group, rate in group_rates.items()},
        "recipe_cv": recipe_rates(),
    }
    return NotARoomGate(weights=weights.tolist(), bias=bias, threshold=report.threshold, info=info), report


def room_photos(split, limit: int = MAX_STREAMED_ROOMS) -> list[Image.Image]:
    """Decoded photos of a split: all of a ``Dataset``, the first ``limit`` of a streamed one."""
    from itertools import islice

    from cleanmessy.images import load_image
    from training.data import encoded

    rows = split if hasattr(split, "__len__") else islice(split, limit)
    return [load_image(encoded(row["image"])) for row in rows]


def build_for_training(model, processor, splits, not_rooms_dir: str | None, output, seed: int = 0) -> GateReport:
    """``python -m training``'s step: build the gate from every labelled room photo and save it into ``output``."""
    from cleanmessy.errors import CleanMessyError

    rooms = [image for name in ("train", "validation") for image in room_photos(splits[name])]
    not_rooms = []
    if not_rooms_dir:
        try:
            not_rooms = negatives.load_folder(not_rooms_dir)
        except OSError as error:
            raise CleanMessyError(f"--not-rooms {not_rooms_dir}: {error}") from error
        if not not_rooms:
            raise CleanMessyError(f"--not-rooms {not_rooms_dir} holds no images")
    gate, report = build_gate(model, processor, rooms, not_rooms, seed=seed)
    gate.save(output)
    model.config.not_a_room_threshold = gate.threshold  # a later save_pretrained keeps it
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m training.gate --model DIR --data ROOMS [--not-rooms DIR]``: (re)build the gate of a saved model.

    Re-export afterwards (``python -m training.export``) so the ONNX files carry the new gate.
    """
    import argparse

    from cleanmessy.errors import exit_status
    from cleanmessy.model_files import load_model_and_processor
    from training.data import load_training_data

    parser = argparse.ArgumentParser(prog="python -m training.gate", description=main.__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="saved model directory")
    parser.add_argument("--data", required=True, help="the labelled room photos (image folder or Hub dataset id)")
    parser.add_argument("--not-rooms", metavar="DIR", default=None, help="folder of real non-room photos")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    def rebuild() -> int:
        model, processor = load_model_and_processor(args.model)
        splits = load_training_data(args.data, seed=args.seed)
        report = build_for_training(model, processor, splits, args.not_rooms, args.model, args.seed)
        print(f"==> {report.summary()}")
        return 0

    return exit_status(rebuild)


if __name__ == "__main__":
    raise SystemExit(main())
