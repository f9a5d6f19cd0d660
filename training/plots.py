"""Evaluation plots as PNG files: confusion matrix, reliability diagram, training curve."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_confusion_matrix(metrics: dict, path: Path) -> Path:
    """Heat-mapped confusion matrix with counts in the cells."""
    matrix, labels = metrics["confusion_matrix"], metrics["labels"]
    figure, axes = plt.subplots(figsize=(4, 3.6), dpi=120)
    axes.imshow(matrix, cmap="Blues")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center",
                      color="white" if count > peak / 2 else "black", fontsize=14)
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"accuracy {metrics['accuracy']:.1%} (n={metrics['num_examples']})")
    return _save(figure, path)


def plot_reliability(metrics: dict, path: Path) -> Path:
    """Reliability diagram: accuracy per confidence bin against the diagonal."""
    bins = [b for b in metrics["reliability"] if b["count"]]
    figure, axes = plt.subplots(figsize=(4, 3.6), dpi=120)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    axes.bar(centres, [b["accuracy"] for b in bins], width=0.09, alpha=0.7, label="accuracy")
    axes.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="C1",
              label="mean confidence")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("confidence")
    axes.set_ylabel("accuracy")
    axes.set_title(f"ECE {metrics['expected_calibration_error']:.3f}")
    axes.legend(loc="upper left", fontsize=7)
    return _save(figure, path)


def plot_training_curve(log_history: list[dict], path: Path) -> Path:
    """Training loss per logged step and validation loss/accuracy per epoch."""
    train = [(e["epoch"], e["loss"]) for e in log_history if "loss" in e]
    evals = [(e["epoch"], e["eval_loss"], e.get("eval_accuracy")) for e in log_history if "eval_loss" in e]
    figure, axes = plt.subplots(figsize=(5, 3.6), dpi=120)
    if train:
        axes.plot(*zip(*train), label="train loss")
    if evals:
        axes.plot([e[0] for e in evals], [e[1] for e in evals], "o-", label="validation loss")
        if all(e[2] is not None for e in evals):
            axes.plot([e[0] for e in evals], [e[2] for e in evals], "s-", label="validation accuracy")
    axes.set_xlabel("epoch")
    axes.set_title("training curve")
    axes.legend(fontsize=7)
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
