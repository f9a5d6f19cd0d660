"""Calibrated scores: one temperature, fitted on out-of-fold logits and folded into the classifier.

Temperature scaling divides the logits by ``T``; for a linear head that is the same as dividing
its weight and bias by ``T``. Folded that way, every consumer of the saved model (stock
``pipeline()``, the ONNX export, transformers.js in the browser and the core's ``Predictor``)
reports calibrated probabilities with no extra code::

    temperature = fit_temperature(out_of_fold_logits, labels)
    fold_temperature(model, temperature)

The logits must be out-of-fold: a model is over-confident on the photos it trained on, so a
temperature fitted there would be too small. ``python -m training`` either uses
:data:`RECIPE_TEMPERATURE`, fitted by ``python -m bench.recipe_cv report`` on the out-of-fold logits
of 20 cross-validation runs (5 seeds × 4 folds over all 192 photos) of this very recipe, or, with
``--calibration-folds K``, fits one on its own data by K-fold cross-validation (K more fine-tunes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

RECIPE_FILE = Path(__file__).resolve().parent / "recipe_cv.json"
"""Written by ``python -m bench.recipe_cv report``: the default recipe's temperature and cross-validated numbers."""

CONFIG_KEY = "calibration_temperature"
"""``config.json`` key recording the temperature already folded into the classifier (never apply it again)."""


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_probabilities = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probabilities[np.arange(len(labels)), np.asarray(labels)].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """The temperature in [``low``, ``high``] that minimises the NLL of ``labels`` (log-spaced grid, then refined).

    >>> logits = np.array([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [0.0, 4.0]])
    >>> round(fit_temperature(logits, np.array([0, 1, 0, 0])), 2)  # 3 of 4 right: 75% sure, 4 / ln 3
    3.64
    """
    grid = np.exp(np.linspace(np.log(low), np.log(high), 401))
    best = int(np.argmin([nll(logits, labels, t) for t in grid]))
    fine = np.exp(np.linspace(np.log(grid[max(best - 1, 0)]), np.log(grid[min(best + 1, len(grid) - 1)]), 201))
    return float(fine[int(np.argmin([nll(logits, labels, t) for t in fine]))])


def fold_temperature(model: torch.nn.Module, temperature: float) -> None:
    """Divide ``model.classifier``'s weight and bias by ``temperature`` in place and record it in the config."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    with torch.no_grad():
        model.classifier.weight.div_(temperature)
        if model.classifier.bias is not None:
            model.classifier.bias.div_(temperature)
    setattr(model.config, CONFIG_KEY, round(float(temperature), 6))


@dataclass(frozen=True)
class Calibration:
    """Where a model's temperature and cross-validated accuracy come from, for the card and the logs."""

    temperature: float
    source: str  # one line for people: which out-of-fold logits the temperature was fitted on
    cv_correct: int | None = None  # pooled out-of-fold accuracy behind ``source`` (None: not measured)
    cv_count: int | None = None
    cv_ece: float | None = None  # ECE of the calibrated out-of-fold scores
    cv_runs: str | None = None  # e.g. "5 seeds × 4 folds"


def read_recipe(path: Path = RECIPE_FILE) -> dict | None:
    """``training/recipe_cv.json`` as written by ``bench.recipe_cv report``, or ``None`` if it was never run."""
    return json.loads(path.read_text()) if path.is_file() else None


def recipe_calibration(path: Path = RECIPE_FILE) -> Calibration:
    """The default recipe's calibration, measured by ``bench.recipe_cv`` (temperature 1 if it was never run)."""
    recipe = read_recipe(path)
    if recipe is None:
        return Calibration(1.0, "none: bench.recipe_cv has not been run (temperature 1, scores uncalibrated)")
    return Calibration(
        temperature=recipe["temperature"],
        source=f"the out-of-fold logits of this recipe's cross-validation on the shared room photos "
               f"({recipe['runs']}, {recipe['photos']} photos held out; bench/recipe_cv.py)",
        cv_correct=recipe["correct"], cv_count=recipe["count"], cv_ece=recipe["ece_calibrated"],
        cv_runs=recipe["runs"],
    )


def kfold_calibration(split, base: str, scratch: Path, params, folds: int) -> Calibration:
    """Fit the temperature on ``split``'s own out-of-fold logits: ``folds`` extra fine-tunes of the recipe."""
    from datasets import DatasetDict

    from training.finetune import finetune, head_inputs
    from cleanmessy.images import load_image
    from cleanmessy.preprocess import Preprocessor
    from training.data import encoded

    labels = np.asarray(split["label"])
    order = np.argsort(labels, kind="stable")
    fold_of = np.empty(len(labels), int)
    fold_of[order] = np.arange(len(labels)) % folds  # stratified: each label dealt round-robin
    logits = np.zeros((len(labels), 2))
    for fold in range(folds):
        held = np.flatnonzero(fold_of == fold)
        parts = DatasetDict(train=split.select(np.flatnonzero(fold_of != fold)), validation=split.select(held))
        model, processor, _ = finetune(parts, base, scratch / f"fold{fold}", params)
        pixels = torch.from_numpy(Preprocessor(processor)([load_image(encoded(i)) for i in parts["validation"]["image"]]))
        with torch.no_grad():
            logits[held] = model.classifier(head_inputs(model, pixels)).numpy()
    temperature = fit_temperature(logits, labels)
    probabilities = np.exp(logits / temperature) / np.exp(logits / temperature).sum(1, keepdims=True)
    from training.metrics import expected_calibration_error, reliability_bins

    correct = probabilities.argmax(1) == labels
    ece = expected_calibration_error(reliability_bins(probabilities.max(1), correct), len(labels))
    return Calibration(temperature, f"out-of-fold logits of {folds}-fold cross-validation on the training split",
                       int(correct.sum()), len(labels), ece, f"1 seed × {folds} folds")
