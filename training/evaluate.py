"""Evaluate a saved model on a validation split and write ``eval/`` artefacts.

    python -m training.evaluate --model models/clean-or-messy --data ../shared/data/rooms

Writes ``<model>/eval/metrics.json``, ``confusion_matrix.png`` and ``reliability.png``
(and ``training_curve.png`` when the training log is there). Images go through the
serving intake (:func:`cleanmessy.images.load_image`) and the serving predictor.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from datasets import Dataset
from tqdm.auto import tqdm

from cleanmessy.errors import CleanMessyError
from cleanmessy.images import load_image
from cleanmessy.predictor import Predictor
from training import plots
from training.data import encoded, load_training_data
from training.metrics import classification_metrics

LOG_HISTORY = "log_history.json"


def predict_split(predictor: Predictor, split: Dataset, batch_size: int = 32) -> np.ndarray:
    """Class probabilities for every example of an undecoded split, with a progress bar."""
    rows = []
    for start in tqdm(range(0, len(split), batch_size), desc="evaluating", unit="batch"):
        batch = split[start : start + batch_size]
        rows.append(predictor.probabilities([load_image(encoded(image)) for image in batch["image"]]))
    return np.concatenate(rows)


def write_eval(
    eval_dir: Path, labels: list[int], probabilities: np.ndarray, label_names: list[str],
    log_history: list[dict] | None = None,
) -> dict:
    """Compute metrics and write metrics.json plus the plots into ``eval_dir``; return the metrics."""
    eval_dir.mkdir(parents=True, exist_ok=True)
    metrics = classification_metrics(labels, probabilities, label_names)
    (eval_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plots.plot_confusion_matrix(metrics, eval_dir / "confusion_matrix.png")
    plots.plot_reliability(metrics, eval_dir / "reliability.png")
    if log_history is None and (eval_dir / LOG_HISTORY).is_file():
        log_history = json.loads((eval_dir / LOG_HISTORY).read_text())
    if log_history:
        (eval_dir / LOG_HISTORY).write_text(json.dumps(log_history, indent=1) + "\n")
        plots.plot_training_curve(log_history, eval_dir / "training_curve.png")
    return metrics


def evaluate_model(model_dir: Path, validation: Dataset, log_history: list[dict] | None = None) -> dict:
    """Evaluate the PyTorch model saved in ``model_dir`` on ``validation``; write and return the metrics.

    Always the eager backend: these are the model's own numbers (the ONNX export checks its parity with them).
    """
    predictor = Predictor.load(model_dir, backend="eager")
    probabilities = predict_split(predictor, validation)
    return write_eval(model_dir / "eval", list(validation["label"]), probabilities, predictor.labels, log_history)


def summary(metrics: dict) -> str:
    """One line: accuracy, counts, macro F1 and ECE."""
    return (
        f"validation accuracy {metrics['accuracy']:.1%} ({metrics['correct']}/{metrics['num_examples']}), "
        f"macro F1 {metrics['macro_f1']:.3f}, ECE {metrics['expected_calibration_error']:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="saved model directory")
    parser.add_argument("--data", required=True, help="image-folder directory or Hub dataset id")
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out split when there is no validation split")
    args = parser.parse_args(argv)
    try:
        splits = load_training_data(args.data, seed=args.seed)
        metrics = evaluate_model(args.model, splits["validation"])
    except CleanMessyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary(metrics))
    print(f"evaluation written to {args.model / 'eval'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
