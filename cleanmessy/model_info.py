"""What a served model says about itself: its id, its measured validation accuracy and its "not a room" check.

The accuracy comes from the evaluation that training writes, never from a typed-in
number: ``<model>/eval/metrics.json`` first, else the ``model-index`` in the model
card (``README.md``). For a Hub id both files are fetched through the Hub cache, so a
model loaded once offline still reports its numbers.

>>> from cleanmessy.model_info import read_model_info
>>> read_model_info("models/clean-or-messy").describe()     # doctest: +SKIP
'validation accuracy 95.0% on 40 images'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cleanmessy.gate import GATE_FILE
from cleanmessy.model_files import model_file
from cleanmessy.model_source import ServedModel

METRICS_FILE = "eval/metrics.json"
CARD_FILE = "README.md"


@dataclass(frozen=True)
class ModelInfo:
    """A model id and, when the model was evaluated, its validation accuracy and where it was read."""

    model_id: str
    accuracy: float | None = None
    num_examples: int | None = None
    source: str | None = None
    gate: dict | None = None  # not_a_room.json's "info" (how the gate was built and measured), if it has one

    def describe(self) -> str:
        """One line for people: "validation accuracy 95.0% on 40 images" or why there is none."""
        if self.accuracy is None:
            return "no measured accuracy found (the model has no eval/metrics.json or model-index)"
        count = f" on {self.num_examples} images" if self.num_examples else ""
        return f"validation accuracy {self.accuracy:.1%}{count}"

    def describe_gate(self) -> str:
        """One line about the "not a room" check: its cross-validated rates, or that there is none."""
        if self.gate is None:
            return "“Not a room” check: none (the model has no not_a_room.json), so every photo gets clean or messy"
        text = "“Not a room” check: on"
        recipe = self.gate.get("recipe_cv")
        if recipe:  # measured on rooms the backbone never saw: the honest rate for new photos
            return (text + f"; in cross-validation it wrongly flags {recipe['rooms']:.1%} of unseen rooms and catches "
                    f"{recipe['not_rooms_category']:.0%} of non-room photos of kinds it never saw")
        rooms = self.gate.get("held_out_rooms_flagged")
        groups = self.gate.get("held_out_not_rooms_flagged") or {}
        real = [rate for group, rate in groups.items() if not group.startswith("generated:")]
        if rooms is not None:
            text += f"; it wrongly flags {rooms:.1%} of held-out rooms"
        if real:
            text += f" and catches {sum(real) / len(real):.0%} of non-room photos from held-out sources"
        return text


def _fetch(model_id: str, filename: str, token: str | None) -> Path | None:
    """The local path of ``filename`` in a model dir or Hub repo, or ``None`` when it cannot be had."""
    try:
        return model_file(model_id, filename, token)
    except (OSError, ValueError):  # no network or offline, bad repo id, no access
        return None


def _from_metrics(path: Path) -> tuple[float, int | None] | None:
    try:
        metrics = json.loads(path.read_text())
        return float(metrics["accuracy"]), metrics.get("num_examples")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _from_card(path: Path) -> float | None:
    from huggingface_hub import ModelCard

    try:
        results = ModelCard.load(path).data.eval_results or []
    except (OSError, ValueError):
        return None
    for result in results:
        if result.metric_type == "accuracy" and result.metric_value is not None:
            return float(result.metric_value)
    return None


def _gate_info(model_id: str, token: str | None) -> dict | None:
    path = _fetch(model_id, GATE_FILE, token)
    try:
        info = json.loads(path.read_text()).get("info", {}) if path else None
    except (OSError, ValueError, AttributeError):
        return None
    return info if isinstance(info, dict) else ({} if path else None)


def read_model_info(model_id: str | Path | ServedModel, token: str | None = None) -> ModelInfo:
    """Read the measured accuracy and the "not a room" gate of ``model_id`` (a local directory, a Hub repo id,
    or the :class:`~cleanmessy.model_source.ServedModel` a predictor serves: then the id shows its revision);
    never raises."""
    if isinstance(model_id, ServedModel):
        name, model_id = model_id.describe(), model_id.path
    else:
        name = model_id = str(model_id)
    gate = _gate_info(model_id, token)
    metrics_path = _fetch(model_id, METRICS_FILE, token)
    if metrics_path and (found := _from_metrics(metrics_path)):
        accuracy, count = found
        return ModelInfo(name, accuracy, count, METRICS_FILE, gate)
    card_path = _fetch(model_id, CARD_FILE, token)
    if card_path and (accuracy := _from_card(card_path)) is not None:
        return ModelInfo(name, accuracy, None, "model card", gate)
    return ModelInfo(name, gate=gate)
