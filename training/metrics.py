"""Classification metrics computed from probabilities: accuracy, F1, per-class P/R, calibration."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts with true labels on rows and predictions on columns."""
    matrix = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def reliability_bins(confidences: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict]:
    """Per confidence bin: count, mean confidence and accuracy (empty bins are kept with count 0)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Confidence of the argmax class is at least 1/num_classes; bins below that stay empty.
    index = np.clip(np.digitize(confidences, edges[1:-1], right=True), 0, bins - 1)
    result = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        result.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": count,
                "confidence": float(confidences[mask].mean()) if count else None,
                "accuracy": float(correct[mask].mean()) if count else None,
            }
        )
    return result


def expected_calibration_error(bins: list[dict], total: int) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over the bins."""
    return float(
        sum(b["count"] / total * abs(b["confidence"] - b["accuracy"]) for b in bins if b["count"])
    )


def classification_metrics(
    labels: Sequence[int], probabilities: np.ndarray, label_names: Sequence[str], bins: int = 10
) -> dict:
    """All evaluation numbers for one split, JSON-ready.

    >>> m = classification_metrics([0, 1], np.array([[0.9, 0.1], [0.2, 0.8]]), ["clean", "messy"])
    >>> m["accuracy"], m["confusion_matrix"]
    (1.0, [[1, 0], [0, 1]])
    """
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predictions = probabilities.argmax(axis=1)
    confidences = probabilities.max(axis=1)
    matrix = confusion_matrix(labels, predictions, len(label_names))
    per_class = {}
    for i, name in enumerate(label_names):
        true_positive = matrix[i, i]
        predicted, actual = matrix[:, i].sum(), matrix[i, :].sum()
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(actual),
        }
    correct = predictions == labels
    reliability = reliability_bins(confidences, correct, bins)
    return {
        "num_examples": int(len(labels)),
        "correct": int(correct.sum()),
        "accuracy": float(correct.mean()) if len(labels) else 0.0,
        "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "per_class": per_class,
        "expected_calibration_error": expected_calibration_error(reliability, len(labels)),
        "confusion_matrix": matrix.tolist(),
        "labels": list(label_names),
        "reliability": reliability,
    }


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion ``correct / total``.

    >>> [round(x, 3) for x in wilson_interval(181, 192)]
    [0.9, 0.968]
    """
    import math

    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return centre - half, centre + half
